"""Keys sent as RFC 4733 RTP reach the app only as Asterisk 22 takes them: an event older
than the last one on the stream (SIPp's stock pcaps: `3` then `2`, a repeated key) is
dropped; a stream that only grows loses nothing (frontdesk.emulator.rtp_events)."""

from __future__ import annotations

from frontdesk.emulator import Emulator
from frontdesk.emulator.rtp_events import EventPacket, Rfc4733Stream, press_packets
from tests.emulator.helpers import Ari, call_in_stasis

# What SIPp's stock dtmf_2833_<key>.pcap files carry (sequence number, timestamp): fixed,
# whatever the call; key 2's below key 3's.
STOCK = {"2": (9050, 176000), "3": (9150, 184000)}


def test_a_growing_stream_loses_nothing() -> None:
    stream = Rfc4733Stream()
    presses = press_packets("1", 100, 8000) + press_packets("1", 120, 24000)
    assert stream.hear_all(presses + press_packets("5", 140, 40000)) == ["1", "1", "5"]


def test_an_older_event_and_a_replayed_one_are_dropped() -> None:
    stream = Rfc4733Stream()
    three = press_packets("3", *STOCK["3"])
    assert stream.hear_all(three + press_packets("2", *STOCK["2"])) == ["3"]
    assert stream.hear_all(three) == []  # the same press again: a repeated key is lost
    assert stream.hear(EventPacket("4", 99999, 999999, True)) == "4"


async def test_the_app_hears_only_what_asterisk_would(emu: Emulator, ari: Ari) -> None:
    channel_id, events = await call_in_stasis(emu, ari)
    stock = [("3", *STOCK["3"]), ("2", *STOCK["2"])]
    assert emu.press_rtp(channel_id, stock) == ["3"]
    received = await events.until("ChannelDtmfReceived")
    assert received["digit"] == "3"
    await events.quiet(0.1)  # no second key
    rising = [("2", 9200, 200000), ("2", 9220, 216000)]
    url = f"{ari.base}/_emulator/channels/{channel_id}/rtp"
    body = {"presses": [{"key": k, "seq": s, "timestamp": t} for k, s, t in rising]}
    async with ari.session.post(url, json=body) as response:
        assert (await response.json())["heard"] == ["2", "2"]
