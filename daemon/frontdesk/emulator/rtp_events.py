"""RFC 4733 telephone-events as Asterisk 22 takes them from one RTP stream.

What the emulator learned from the real PBX (issue: go-live keys lost on Asterisk 22.10.1;
the rule is `process_dtmf_rfc2833` in res_rtp_asterisk.c, without DTMF compensation): an
end packet counts once per sequence number, and only with a timestamp newer than the
last end it counted; a start or update packet older than that (or with a sequence number
just below the last one) is dropped. So SIPp's stock `dtmf_2833_<key>.pcap` files, each
with fixed sequence numbers and timestamps, lose `2` after `3` and any repeated key,
while a phone's stream, which only grows, loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

SEQ_WINDOW = 50  # a sequence number this far below the last one is "older"
UPDATES = 7  # a press as phones and SIPp send it: 7 updates 20 ms apart...
END_COPIES = 3  # ...then the end packet three times with one sequence number
END_DURATION = 2240


@dataclass(frozen=True)
class EventPacket:
    key: str
    seq: int
    timestamp: int
    end: bool


@dataclass
class Rfc4733Stream:
    """One call's inbound stream: which keys Asterisk reports, in order."""

    last_seq: int | None = None
    last_end: int | None = None

    def hear(self, packet: EventPacket) -> str | None:
        """The key this packet completes, if Asterisk reports one."""
        if packet.end:
            heard = None
            if packet.seq != self.last_seq and (
                self.last_end is None or packet.timestamp > self.last_end
            ):
                self.last_end = packet.timestamp
                heard = packet.key
            self.last_seq = packet.seq
            return heard
        older = (
            self.last_seq is not None
            and self.last_seq > packet.seq
            and self.last_seq - packet.seq < SEQ_WINDOW
        )
        if older or (self.last_end is not None and packet.timestamp <= self.last_end):
            return None  # dropped before its sequence number is remembered
        self.last_seq = packet.seq
        return None

    def hear_all(self, packets: list[EventPacket]) -> list[str]:
        return [key for key in map(self.hear, packets) if key is not None]


def press_packets(key: str, seq: int, timestamp: int) -> list[EventPacket]:
    """One press in the usual shape, starting at `seq`, all packets at `timestamp`."""
    updates = [EventPacket(key, seq + n, timestamp, False) for n in range(UPDATES)]
    return updates + [EventPacket(key, seq + UPDATES, timestamp, True)] * END_COPIES
