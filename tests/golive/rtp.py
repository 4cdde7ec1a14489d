"""Reading RFC 4733 key presses back: a small pcap reader of its own (independent of the
writer in frontdesk.golive.dtmf_pcap) and a model of how Asterisk takes them."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from frontdesk.emulator.rtp_events import EventPacket, Rfc4733Stream

DIGITS = "0123456789*#ABCD"


@dataclass(frozen=True)
class Event:
    """One RTP packet carrying a telephone-event."""

    seq: int
    timestamp: int
    ssrc: int
    marker: bool
    payload_type: int
    code: int
    end: bool
    volume: int
    duration: int
    at_us: int = 0  # the pcap record's time (0 off the wire)
    udp_checksum: int | None = None  # None off the wire

    @property
    def key(self) -> str:
        return DIGITS[self.code]


def rtp_event(payload: bytes, *, at_us: int = 0, udp_checksum: int | None = None) -> Event:
    """An RTP packet (from its first byte) with a 4-byte RFC 4733 payload."""
    assert len(payload) == 16, f"not a telephone-event packet: {len(payload)} bytes"
    first, second, seq, timestamp, ssrc = struct.unpack_from("!BBHII", payload)
    assert first == 0x80, "RTP version 2, no padding, extension or CSRC"
    code, flags, duration = struct.unpack_from("!BBH", payload, 12)
    assert not flags & 0x40, "the reserved bit is zero"
    return Event(
        seq=seq,
        timestamp=timestamp,
        ssrc=ssrc,
        marker=bool(second & 0x80),
        payload_type=second & 0x7F,
        code=code,
        end=bool(flags & 0x80),
        volume=flags & 0x3F,
        duration=duration,
        at_us=at_us,
        udp_checksum=udp_checksum,
    )


def read_pcap(data: bytes) -> list[Event]:
    """A classic little-endian pcap of Ethernet/IPv4/UDP/RTP frames, checked on the way."""
    magic, major, minor, _zone, _sigfigs, _snaplen, link = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, link) == (0xA1B2C3D4, 2, 4, 1), "pcap 2.4, Ethernet"
    events: list[Event] = []
    offset = 24
    while offset < len(data):
        seconds, micros, captured, length = struct.unpack_from("<IIII", data, offset)
        offset += 16
        frame = data[offset : offset + captured]
        offset += captured
        assert captured == length == len(frame), "whole frames (SIPp refuses truncated ones)"
        assert frame[12:14] == b"\x08\x00", "IPv4"
        header_length = (frame[14] & 0x0F) * 4
        ip = frame[14 : 14 + header_length]
        assert ip[0] >> 4 == 4
        assert ip[9] == 17, "UDP"
        assert struct.unpack_from("!H", ip, 2)[0] == len(frame) - 14, "IP total length"
        assert _ones_complement_sum(ip) == 0xFFFF, "IPv4 header checksum"
        udp = frame[14 + header_length :]
        _sport, _dport, udp_length, checksum = struct.unpack_from("!HHHH", udp)
        assert udp_length == len(udp)
        at_us = seconds * 1_000_000 + micros
        events.append(rtp_event(udp[8:], at_us=at_us, udp_checksum=checksum))
    return events


def _ones_complement_sum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def asterisk_hears(events: Iterable[Event]) -> list[str]:
    """The keys Asterisk 22 reports for these packets of one stream, in order (the rule the
    emulator reproduces: frontdesk.emulator.rtp_events)."""
    stream = Rfc4733Stream()
    packets = [EventPacket(e.key, e.seq, e.timestamp, e.end) for e in events]
    return stream.hear_all(packets)
