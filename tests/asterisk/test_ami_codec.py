"""The sans-IO AMI codec: framing, splits, limits, garbage, escaping, safe serialisation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.asterisk.ami_codec import (
    MAX_ACTION_LINE,
    AmiCodec,
    AmiMessage,
    AmiProtocolError,
    Banner,
    Event,
    Response,
    UnsafeValueError,
    sanitize_value,
    serialize_action,
    unescape_value,
)

TRANSCRIPTS = Path(__file__).resolve().parents[3] / "shared" / "asterisk" / "transcripts"
FAST = settings(max_examples=200, deadline=None)
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
LOGIN_OK = b"Response: Success\r\nActionID: lab-1\r\nMessage: Authentication accepted\r\n\r\n"
BOOTED = (
    b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 1\r\nLastReload: 1\r\n"
    b"Status: Fully Booted\r\n\r\n"
)
FOLLOWS = (
    b"Response: Follows\r\nPrivilege: Command\r\nActionID: c1\r\n"
    b"Name: PJSIP/2001\r\n\r\nsecond paragraph\r\n--END COMMAND--\r\n\r\n"
)
VARSET = (
    "Event: VarSet\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/trunk-00000010\r\n"
    'CallerIDName: José Müller, \\"VIP\\"\r\nVariable: LAB_TRICKY\r\n'
    'Value: He said \\"hi\\", then left; José Núñez, 50% off, a=b&c=d, €5 ñ\r\n\r\n'
).encode()


def feed_all(data: bytes, codec: AmiCodec | None = None) -> list[AmiMessage]:
    return (codec or AmiCodec()).feed(data)


# --- framing --------------------------------------------------------------------------------


def test_banner_response_and_event() -> None:
    banner, response, event = feed_all(BANNER + LOGIN_OK + BOOTED)
    assert banner == Banner("Asterisk Call Manager/11.0.0")
    assert banner.version == "11.0.0"
    assert isinstance(response, Response)
    assert (response.ok, response.action_id, response.message) == (
        True,
        "lab-1",
        "Authentication accepted",
    )
    assert isinstance(event, Event)
    assert event.name == "FullyBooted"
    assert event.as_dict()["Status"] == "Fully Booted"


def test_bare_lf_is_tolerated() -> None:
    data = (BANNER + LOGIN_OK + BOOTED).replace(b"\r\n", b"\n")
    assert feed_all(data) == feed_all(BANNER + LOGIN_OK + BOOTED)


def test_stray_empty_lines_between_blocks_are_ignored() -> None:
    assert len(feed_all(BANNER + b"\r\n\r\n" + LOGIN_OK + b"\r\n" + BOOTED)) == 3


def test_repeated_keys_become_lists_in_wire_order() -> None:
    raw = b"Response: Success\r\nActionID: 7\r\nOutput: one\r\nOutput: two\r\nMessage: m\r\n\r\n"
    (response,) = feed_all(raw, AmiCodec(expect_banner=False))
    assert isinstance(response, Response)
    assert response.as_dict() == {
        "Response": "Success",
        "ActionID": "7",
        "Output": ["one", "two"],
        "Message": "m",
    }
    assert response.get_all("output") == ["one", "two"]
    assert response.output == ("one", "two")
    assert response.get("OUTPUT") == "one"


def test_originate_response_is_an_event_with_the_action_id() -> None:
    raw = (
        b"Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: lab-5\r\nResponse: Failure\r\n"
        b"Channel: PJSIP/2009\r\nReason: 0\r\nUniqueid: <unknown>\r\n\r\n"
    )
    (event,) = feed_all(raw, AmiCodec(expect_banner=False))
    assert isinstance(event, Event)
    assert (event.name, event.action_id, event["Response"]) == (
        "OriginateResponse",
        "lab-5",
        "Failure",
    )


def test_event_list_markers() -> None:
    raw = (
        b"Response: Success\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
        b"Event: CoreShowChannelsComplete\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
    )
    response, complete = feed_all(raw, AmiCodec(expect_banner=False))
    assert isinstance(response, Response)
    assert response.starts_list
    assert response.action_id is None
    assert isinstance(complete, Event)
    assert complete.ends_list


def test_legacy_follows_body_keeps_raw_lines_until_end_command() -> None:
    response, event = feed_all(FOLLOWS + BOOTED, AmiCodec(expect_banner=False))
    assert isinstance(response, Response)
    assert (response.status, response.action_id, response.ok) == ("Follows", "c1", True)
    assert response.body == ("Name: PJSIP/2001", "", "second paragraph")
    assert response.output == response.body
    assert isinstance(event, Event)
    assert event.name == "FullyBooted"


def test_legacy_follows_output_glued_to_end_marker() -> None:
    raw = b"Response: Follows\r\nActionID: c2\r\nNo such command 'x'\n--END COMMAND--\r\n\r\n"
    (response,) = feed_all(raw, AmiCodec(expect_banner=False))
    assert isinstance(response, Response)
    assert response.body == ("No such command 'x'",)


def test_values_keep_colons_and_empty_values() -> None:
    raw = b"Event: CEL\r\nAccountCode: \r\nEventTime: 2026-11-27 00:18:55\r\nExtra:\r\nKey:tight\r\n\r\n"
    (event,) = feed_all(raw, AmiCodec(expect_banner=False))
    assert event.as_dict() == {  # type: ignore[union-attr]
        "Event": "CEL",
        "AccountCode": "",
        "EventTime": "2026-11-27 00:18:55",
        "Extra": "",
        "Key": "tight",
    }


def test_malformed_lines_and_unclassifiable_blocks_are_skipped() -> None:
    raw = b"Event: Cdr\r\nthis line has no colon\r\nSource: 1\r\n\r\nFoo: bar\r\n\r\n" + BOOTED
    cdr, booted = feed_all(raw, AmiCodec(expect_banner=False))
    assert cdr.as_dict() == {"Event": "Cdr", "Source": "1"}  # type: ignore[union-attr]
    assert booted.name == "FullyBooted"  # type: ignore[union-attr]


def test_something_else_than_ami_on_the_port_is_a_protocol_error() -> None:
    with pytest.raises(AmiProtocolError, match="banner"):
        feed_all(b"HTTP/1.1 400 Bad Request\r\n")


def test_invalid_utf8_becomes_replacement_characters() -> None:
    raw = b"Event: Cdr\r\nCallerID: \xc3(\xff ok\r\n\r\n"
    (event,) = feed_all(raw, AmiCodec(expect_banner=False))
    assert event["CallerID"] == "\ufffd(\ufffd ok"  # type: ignore[index]


def test_multibyte_character_split_between_feeds() -> None:
    codec = AmiCodec(expect_banner=False)
    cut = VARSET.index("é".encode()) + 1
    assert codec.feed(VARSET[:cut]) == []
    (event,) = codec.feed(VARSET[cut:])
    assert "José Müller" in event["CallerIDName"]  # type: ignore[index]


def test_eof_mid_message_is_reported_clean_eof_is_not() -> None:
    codec = AmiCodec()
    codec.feed(BANNER + LOGIN_OK)
    codec.receive_eof()
    partial = AmiCodec()
    partial.feed(BANNER + LOGIN_OK[:10])
    with pytest.raises(AmiProtocolError, match="middle"):
        partial.receive_eof()


# --- transcripts ------------------------------------------------------------------------------


def _transcript_records() -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    for path in sorted(TRANSCRIPTS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record["kind"] in ("ami_event", "ami_action_response"):
                records.append(record)
    return records


@pytest.mark.skipif(
    not TRANSCRIPTS.is_dir(), reason="../shared/asterisk/transcripts is not beside this checkout"
)
def test_every_recorded_block_parses_to_the_recorded_fields() -> None:
    records = _transcript_records()
    assert len(records) > 900
    for record in records:
        raw = str(record["raw"]).encode()
        (message,) = feed_all(raw, AmiCodec(expect_banner=False))
        if record["kind"] == "ami_event":
            assert isinstance(message, Event)
            assert message.as_dict() == record["event"]
        else:
            assert isinstance(message, Response)
            assert message.as_dict() == record["response"]


@pytest.mark.skipif(
    not TRANSCRIPTS.is_dir(), reason="../shared/asterisk/transcripts is not beside this checkout"
)
@FAST
@given(st.data())
def test_recorded_stream_split_anywhere_gives_the_same_messages(data: st.DataObject) -> None:
    stream = BANNER + b"".join(str(r["raw"]).encode() for r in _RECORDS[:120])
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=40)))
    codec = AmiCodec()
    out: list[AmiMessage] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out.extend(codec.feed(stream[start:end]))
    assert out == _WHOLE


_RECORDS = _transcript_records() if TRANSCRIPTS.is_dir() else []
_WHOLE = feed_all(BANNER + b"".join(str(r["raw"]).encode() for r in _RECORDS[:120]))


# --- property tests ---------------------------------------------------------------------------

KEYS = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    min_size=1,
    max_size=12,
)
VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=40,
)
FIELDS = st.lists(st.tuples(KEYS, VALUES), max_size=8)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["Event", "Response"]))
    name = draw(KEYS.filter(lambda k: k.lower() != "follows"))  # a Follows body has its own test
    head = f"{kind}: {name}\r\n"
    body = "".join(
        f"{k}: {v}\r\n" for k, v in draw(FIELDS) if k.lower() not in ("event", "response")
    )
    return (head + body + "\r\n").encode()


@FAST
@given(st.lists(st.one_of(messages(), st.just(FOLLOWS)), min_size=1, max_size=10), st.data())
def test_any_split_of_a_valid_stream_gives_the_same_messages(
    blocks: list[bytes], data: st.DataObject
) -> None:
    stream = BANNER + b"".join(blocks)
    whole = feed_all(stream)
    assert len(whole) == len(blocks) + 1
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    codec = AmiCodec()
    pieces: list[AmiMessage] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        pieces.extend(codec.feed(stream[start:end]))
    assert pieces == whole


@FAST
@given(st.lists(st.binary(max_size=300), max_size=20), st.booleans())
def test_garbage_raises_only_the_codec_error(chunks: list[bytes], with_banner: bool) -> None:
    codec = AmiCodec(max_line_length=200, max_block_bytes=1000, max_fields=20)
    try:
        if with_banner:
            codec.feed(BANNER)
        for chunk in chunks:
            codec.feed(chunk)
        codec.receive_eof()
    except AmiProtocolError:
        pass


@FAST
@given(st.text(max_size=200))
def test_escape_c_then_unescape_is_identity(text: str) -> None:
    assert unescape_value(_ast_escape_c(text)) == text


def _ast_escape_c(text: str) -> str:
    """Asterisk's ast_escape_c (main/utils.c), as used for VarSet values and caller names."""
    table = {"\a": "a", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t", "\v": "v"}
    table |= {"\\": "\\", "'": "'", '"': '"', "?": "?"}
    return "".join("\\" + table[c] if c in table else c for c in text)


# --- limits -----------------------------------------------------------------------------------


def test_line_limit_applies_even_before_the_newline_arrives() -> None:
    codec = AmiCodec(max_line_length=64)
    codec.feed(BANNER + b"Event: Cdr\r\n")
    with pytest.raises(AmiProtocolError, match="line longer than 64"):
        codec.feed(b"CallerID: " + b"9" * 100)


def test_block_size_limit() -> None:
    codec = AmiCodec(max_block_bytes=200)
    with pytest.raises(AmiProtocolError, match="larger than 200"):
        codec.feed(
            BANNER
            + b"Event: Cdr\r\n"
            + b"Key: "
            + b"x" * 50
            + b"\r\n" * 1
            + b"K: "
            + b"y" * 180
            + b"\r\n"
        )


def test_field_count_limit() -> None:
    codec = AmiCodec(max_fields=5)
    with pytest.raises(AmiProtocolError, match="more than 5 lines"):
        codec.feed(BANNER + b"Event: Cdr\r\n" + b"A: 1\r\n" * 5)


def test_follows_body_counts_against_the_limits() -> None:
    codec = AmiCodec(max_fields=5, expect_banner=False)
    with pytest.raises(AmiProtocolError):
        codec.feed(b"Response: Follows\r\n" + b"line\r\n" * 10)


def test_limit_error_keeps_earlier_messages_and_the_codec_stays_failed() -> None:
    codec = AmiCodec(max_line_length=64)
    with pytest.raises(AmiProtocolError) as caught:
        codec.feed(BANNER + LOGIN_OK + b"Event: " + b"x" * 100 + b"\r\n")
    assert [type(m) for m in caught.value.parsed] == [Banner, Response]
    assert codec.failed
    with pytest.raises(AmiProtocolError, match="already failed"):
        codec.feed(BOOTED)


# --- values -------------------------------------------------------------------------------------


def test_unescape_flow_j_values() -> None:
    (event,) = feed_all(VARSET, AmiCodec(expect_banner=False))
    assert isinstance(event, Event)
    assert unescape_value(event["CallerIDName"]) == 'José Müller, "VIP"'
    assert (
        unescape_value(event["Value"])
        == 'He said "hi", then left; José Núñez, 50% off, a=b&c=d, €5 ñ'
    )


def test_unescape_leaves_unknown_escapes_and_a_trailing_backslash() -> None:
    assert unescape_value(r"C:\x\y") == r"C:\x\y"
    assert unescape_value("end\\") == "end\\"
    assert unescape_value(r"a\\nb") == r"a\nb"
    assert unescape_value(r"a\nb") == "a\nb"


# --- serialisation ------------------------------------------------------------------------------


def test_serialize_action_lines_in_order_with_repeated_keys() -> None:
    data = serialize_action(
        "Originate",
        "fd-1",
        {"Channel": "PJSIP/2001", "Priority": 1, "Async": True, "Variable": ["A=1", "B=José"]},
    )
    assert (
        data
        == (
            "Action: Originate\r\nActionID: fd-1\r\nChannel: PJSIP/2001\r\nPriority: 1\r\n"
            "Async: true\r\nVariable: A=1\r\nVariable: B=José\r\n\r\n"
        ).encode()
    )
    assert serialize_action("Ping", "fd-2") == b"Action: Ping\r\nActionID: fd-2\r\n\r\n"


@pytest.mark.parametrize(
    "value",
    [
        '"Eve" <+13125550199>\r\nAction: Originate\r\nChannel: PJSIP/+19005550100@trunk',
        "line\nfeed",
        "carriage\rreturn",
        "nul\x00byte",
    ],
)
def test_crlf_or_nul_in_a_value_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(UnsafeValueError, match="CallerID") as caught:
        serialize_action("Originate", "fd-1", {"Channel": "PJSIP/2001", "CallerID": value})
    assert value not in str(caught.value)


@pytest.mark.parametrize("key", ["Bad Key", "Key:", "Key\r\nAction", "", "Ä"])
def test_invalid_keys_are_refused(key: str) -> None:
    with pytest.raises(UnsafeValueError):
        serialize_action("Ping", "fd-1", {key: "x"})


@pytest.mark.parametrize("name", ["", "Ping\r\nAction: Originate", "Two Words"])
def test_invalid_action_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeValueError):
        serialize_action(name, "fd-1")


@pytest.mark.parametrize("key", ["Action", "ActionID", "actionid"])
def test_action_and_action_id_cannot_be_passed_as_fields(key: str) -> None:
    with pytest.raises(UnsafeValueError):
        serialize_action("Ping", "fd-1", [(key, "x")])


def test_too_long_line_is_refused() -> None:
    serialize_action("UserEvent", "fd-1", {"Data": "x" * (MAX_ACTION_LINE - len("Data: \r\n"))})
    with pytest.raises(UnsafeValueError, match="longer"):
        serialize_action("UserEvent", "fd-1", {"Data": "x" * MAX_ACTION_LINE})


@FAST
@given(st.text(max_size=300))
def test_sanitized_text_always_serialises_to_exactly_one_action(text: str) -> None:
    clean = sanitize_value(text)
    assert not set(clean) & {"\r", "\n", "\0"}
    data = serialize_action("Originate", "fd-1", {"Channel": "PJSIP/2001", "CallerID": clean})
    assert data.endswith(b"\r\n\r\n")
    assert data.count(b"\r\n\r\n") == 1
    assert data.count(b"\n") == 5
    lines = data.decode().split("\r\n")[:-2]
    assert [line.split(":", 1)[0] for line in lines] == [
        "Action",
        "ActionID",
        "Channel",
        "CallerID",
    ]


@FAST
@given(st.text(max_size=100))
def test_any_value_is_either_refused_or_one_line(text: str) -> None:
    try:
        data = serialize_action("UserEvent", "fd-1", {"Data": text})
    except UnsafeValueError:
        assert set(text) & {"\r", "\n", "\0"}
        return
    assert data.count(b"\n") == 4
