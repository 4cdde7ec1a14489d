"""Key presses as RFC 4733 telephone-events in pcap files for SIPp's `play_pcap_audio`.

Pure (stdlib `struct` and `zlib` only) apart from `write_key_pcaps`.

Why not SIPp's own `dtmf_2833_<key>.pcap`: each stock file carries fixed RTP sequence
numbers and timestamps (key 2's below key 3's, key 0's sequence numbers above key 9's),
and SIPp replays them as they are (it rewrites only the UDP ports and checksum).
Asterisk drops an event whose timestamp or sequence number is older than the last one
it saw on the stream (`process_dtmf_rfc2833` in res_rtp_asterisk), so in one call `3`
then `2` loses the `2`, and a repeated key loses the second press. A phone's stream only
grows; so do these files.

One call's presses (`call_pcaps`) share one SSRC; each press continues the stream where
the previous one ended: the next sequence number, and a timestamp advanced by the pause
before the press at 8000 Hz (never less than one whole event). Each press has the shape
of the stock files: 7 packets 20 ms apart (marker bit on the first, durations 0 to 1920,
volume 10), then the end packet (E bit, duration 2240) sent 3 times with one sequence
number; payload type 101, as the scenarios' SDP offers. Frames are Ethernet/IPv4/UDP
with a zero UDP checksum (SIPp computes its own when it sends). Capture times follow
the RTP clock; SIPp only uses the gaps between them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PAYLOAD_TYPE = 101  # telephone-event, as the scenario's SDP offers it
CLOCK_RATE = 8000  # telephone-event/8000
PACKET_US = 20_000  # one update every 20 ms
DURATIONS = (0, 320, 640, 960, 1280, 1600, 1920)  # the updates before the end packet
END_DURATION = 2240
END_COPIES = 3  # RFC 4733 2.5.1.4: the end packet is sent three times
END_COPY_US = 50  # the copies go out back to back, as in SIPp's files
VOLUME = 10  # -10 dBm0
EVENT_SAMPLES = END_DURATION + CLOCK_RATE * PACKET_US // 1_000_000  # next event after this
EVENT_SECONDS = (len(DURATIONS) * PACKET_US) / 1_000_000  # a press takes this long to send
EVENT_CODES = {
    **{str(digit): digit for digit in range(10)},
    "*": 10,
    "#": 11,
    **{letter: 12 + n for n, letter in enumerate("ABCD")},
}
KEY_NAMES = {"*": "star", "#": "pound"}  # for file names, as SIPp names its own

_PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # LINKTYPE_ETHERNET
_CAPTURE_EPOCH_US = 1_767_225_600 * 1_000_000  # 2026-01-01T00:00:00Z; only the gaps matter
_SRC_MAC, _DST_MAC = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
_SRC_IP, _DST_IP = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])  # TEST-NET-1; SIPp ignores
_SRC_PORT = _DST_PORT = 6000  # SIPp replaces both with the call's media ports
_US_PER_SAMPLE = 1_000_000 // CLOCK_RATE


@dataclass(frozen=True)
class Stream:
    """Where one call's RTP stream stands before the next press."""

    ssrc: int
    seq: int  # the next packet's sequence number
    timestamp: int  # RTP time of the previous press (or of the answer, before the first)
    at_us: int  # capture time of that same moment
    pressed: bool = False  # whether an event is out (the next one must not overlap it)


def start(seed: str) -> Stream:
    """A call's stream: SSRC and first values derived from `seed` (a route id), far
    enough from wrapping that a call's sequence numbers and timestamps only grow."""
    crc = zlib.crc32(seed.encode("utf-8"))
    return Stream(
        ssrc=crc or 1, seq=1 + (crc >> 16) % 30_000, timestamp=(crc % 4096) * 160, at_us=0
    )


def press(stream: Stream, key: str, after: float) -> tuple[bytes, Stream]:
    """One key pressed `after` seconds after the previous press (or the answer): a pcap
    file of its packets, and the stream after it."""
    code = EVENT_CODES.get(key)
    if code is None:
        raise ValueError(f"{key!r} is not a DTMF key (0-9, *, #, A-D)")
    if after < 0:
        raise ValueError("a press cannot come before the previous one")
    step = round(after * CLOCK_RATE)
    if stream.pressed:
        step = max(step, EVENT_SAMPLES)
    timestamp = stream.timestamp + step
    at_us = stream.at_us + step * _US_PER_SAMPLE
    records: list[tuple[int, bytes]] = []
    for n, duration in enumerate(DURATIONS):
        packet = _frame(stream, stream.seq + n, timestamp, code, n == 0, False, duration)
        records.append((at_us + n * PACKET_US, packet))
    end_seq = stream.seq + len(DURATIONS)
    end_at = at_us + len(DURATIONS) * PACKET_US
    for copy in range(END_COPIES):
        packet = _frame(stream, end_seq, timestamp, code, False, True, END_DURATION)
        records.append((end_at + copy * END_COPY_US, packet))
    after_press = Stream(stream.ssrc, end_seq + 1, timestamp, at_us, pressed=True)
    return pcap(records), after_press


def call_pcaps(presses: Sequence[tuple[float, str]], *, seed: str) -> list[bytes]:
    """One pcap per press of one call; `presses`: (seconds since the previous press, or
    since the answer for the first, key)."""
    stream = start(seed)
    files: list[bytes] = []
    for after, key in presses:
        data, stream = press(stream, key, after)
        files.append(data)
    return files


def file_name(index: int, key: str) -> str:
    """`key-<n>-<key>.pcap`: the n-th press of the call (from 1)."""
    return f"key-{index}-{KEY_NAMES.get(key, key)}.pcap"


def write_key_pcaps(
    keys: Sequence[str],
    directory: Path,
    *,
    gaps: Sequence[float] | None = None,
    seed: str = "",
) -> list[Path]:
    """Write one call's presses to `directory` (`file_name`); `gaps`: seconds before each
    press (default 1 s). Returns the files in press order."""
    pauses = list(gaps) if gaps is not None else [1.0] * len(keys)
    if len(pauses) != len(keys):
        raise ValueError("one gap per key")
    data = call_pcaps(list(zip(pauses, keys, strict=True)), seed=seed or ",".join(keys))
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (key, blob) in enumerate(zip(keys, data, strict=True), 1):
        path = directory / file_name(index, key)
        path.write_bytes(blob)
        paths.append(path)
    return paths


# -- the bytes ------------------------------------------------------------------------------------
def pcap(records: Sequence[tuple[int, bytes]]) -> bytes:
    """A classic pcap file (microseconds, little-endian) of Ethernet frames."""
    out = [_PCAP_HEADER]
    for at_us, frame in records:
        seconds, micros = divmod(_CAPTURE_EPOCH_US + at_us, 1_000_000)
        out.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def _frame(
    stream: Stream, seq: int, timestamp: int, code: int, marker: bool, end: bool, duration: int
) -> bytes:
    rtp = struct.pack(
        "!BBHII",
        0x80,
        (0x80 if marker else 0) | PAYLOAD_TYPE,
        seq & 0xFFFF,
        timestamp & 0xFFFFFFFF,
        stream.ssrc,
    ) + struct.pack("!BBH", code, (0x80 if end else 0) | VOLUME, duration)
    udp = struct.pack("!HHHH", _SRC_PORT, _DST_PORT, 8 + len(rtp), 0) + rtp  # no checksum
    ip = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0, _SRC_IP, _DST_IP
        )
    )
    ip[10:12] = struct.pack("!H", _ip_checksum(bytes(ip)))
    return _DST_MAC + _SRC_MAC + struct.pack("!H", 0x0800) + bytes(ip) + udp


def _ip_checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
