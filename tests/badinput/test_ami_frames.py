"""Malformed AMI byte streams: `AmiCodec.feed` raises only `AmiProtocolError`, never else.

The client (`frontdesk.asterisk.ami`) answers an `AmiProtocolError` by dropping the
connection and reconnecting with a fresh codec; a failed codec stays failed. Junk that
stays within the limits (lines without a colon, blocks with neither Response nor Event,
invalid UTF-8) is skipped or replaced and the stream stays in step.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.asterisk.ami_codec import (
    DEFAULT_MAX_LINE_LENGTH,
    AmiCodec,
    AmiProtocolError,
    Banner,
    Event,
    Response,
)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
VALID = (
    b"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n"
    b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
)
MIB = 1024 * 1024
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def feed_all(codec: AmiCodec, chunks: list[bytes]) -> list[object]:
    """Feed every chunk; only `AmiProtocolError` may escape (the test fails on any other)."""
    out: list[object] = []
    for chunk in chunks:
        out.extend(codec.feed(chunk))
    return out


def valid_after(codec: AmiCodec) -> list[object]:
    """What the client does next: a failed codec means a new connection, a new codec."""
    if codec.failed:
        codec = AmiCodec()
        return feed_all(codec, [BANNER, VALID])
    # An unfinished line, block or `Response: Follows` body ends first (as Asterisk's would).
    return feed_all(codec, [b"\r\n\r\n--END COMMAND--\r\n\r\n" + VALID])


def assert_recovers(codec: AmiCodec) -> None:
    messages = [m for m in valid_after(codec) if not isinstance(m, Banner)]
    response, event = messages[-2:]
    assert isinstance(response, Response)
    assert response.ok
    assert isinstance(event, Event)
    assert event.name == "FullyBooted"


@FAST
@given(chunks=st.lists(st.binary(max_size=512), max_size=20), banner=st.booleans())
def test_random_bytes_raise_only_the_protocol_error(chunks: list[bytes], banner: bool) -> None:
    codec = AmiCodec()
    try:
        feed_all(codec, [BANNER] * banner + chunks)
        codec.receive_eof()
    except AmiProtocolError:
        assert codec.failed
        with pytest.raises(AmiProtocolError):
            codec.feed(VALID)  # a failed codec stays failed: the client reconnects
    if banner or codec.failed:
        assert_recovers(codec)


_line = st.one_of(
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"")),  # incl. invalid UTF-8
    st.sampled_from([b"Event: Newchannel", b"Response: Success", b"Response: Follows", b":", b""]),
    st.text(max_size=40).map(lambda t: ("Key: " + t).encode("utf-8", "surrogatepass")),
)


@FAST
@given(lines=st.lists(_line, max_size=30), cuts=st.lists(st.integers(0, 4000), max_size=8))
def test_junk_lines_within_limits_are_skipped_and_the_stream_recovers(
    lines: list[bytes], cuts: list[int]
) -> None:
    stream = BANNER + b"\r\n".join(lines) + b"\r\n\r\n"
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    codec = AmiCodec()
    feed_all(codec, chunks)  # within the limits: nothing raises at all
    assert not codec.failed
    assert_recovers(codec)


@given(data=st.binary(min_size=1, max_size=64))
@FAST
def test_invalid_utf8_becomes_replacement_characters(data: bytes) -> None:
    codec = AmiCodec(expect_banner=False)
    raw = b"\xff\xfe" + data.replace(b"\n", b"").replace(b"\r", b"")
    (event,) = codec.feed(b"Event: UserEvent\r\nText: " + raw + b"\r\n\r\n")
    assert isinstance(event, Event)
    assert event.name == "UserEvent"
    assert "\ufffd" in (event.get("Text") or "")


@pytest.mark.parametrize("chunk", [64 * 1024, MIB])
def test_a_one_mebibyte_line_is_a_protocol_error(chunk: int) -> None:
    codec = AmiCodec()
    codec.feed(BANNER)
    fed = 0
    with pytest.raises(AmiProtocolError) as caught:  # noqa: PT012 - the raise is in the loop
        while fed < MIB:
            codec.feed(b"x" * chunk)
            fed += chunk
    assert str(DEFAULT_MAX_LINE_LENGTH) in caught.value.reason
    assert codec.failed
    assert_recovers(codec)


def test_a_one_mebibyte_block_of_short_lines_is_a_protocol_error() -> None:
    codec = AmiCodec()
    codec.feed(BANNER + b"Event: Flood\r\n")
    with pytest.raises(AmiProtocolError):
        codec.feed((b"Key: " + b"v" * 100 + b"\r\n") * 10_000)
    assert_recovers(codec)


def test_messages_before_the_error_are_handed_over() -> None:
    codec = AmiCodec()
    with pytest.raises(AmiProtocolError) as caught:
        codec.feed(BANNER + VALID + b"y" * (DEFAULT_MAX_LINE_LENGTH + 1))
    names = [type(m).__name__ for m in caught.value.parsed]
    assert names == ["Banner", "Response", "Event"]


@pytest.mark.parametrize("cut", [1, 10, 40, len(VALID) - 3])
def test_a_truncated_block_at_eof_is_a_protocol_error(cut: int) -> None:
    codec = AmiCodec()
    codec.feed(BANNER + VALID[:cut])
    with pytest.raises(AmiProtocolError):
        codec.receive_eof()
    assert_recovers(codec)


def test_a_stream_without_a_banner_is_refused() -> None:
    codec = AmiCodec()
    with pytest.raises(AmiProtocolError):
        codec.feed(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    assert_recovers(codec)
