"""calls/queue_state.py: a queued call's state on its channel (FRONTDESK_STATE)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from frontdesk.acd.model import CallerJoined
from frontdesk.calls.queue_state import (
    decode_state,
    encode_state,
    queue_order,
    request_for,
    talking_with,
)
from frontdesk.routing.destination import Request
from tests.conftest import local

T = local("2026-11-30 10:00")

FULL = CallerJoined(
    call_id="c1",
    queue="scheduling",
    enqueued_at=T,
    priority="front",
    skill="cardiology",
    language_skill="spanish",
    category="appointments",
    callback_number="+13125551001",
    language="es",
)
BARE = CallerJoined(call_id="c2", queue="billing", enqueued_at=T)


@pytest.mark.parametrize("joined", [FULL, BARE], ids=["full", "bare"])
def test_round_trip(joined: CallerJoined) -> None:
    decoded = decode_state(joined.call_id, encode_state(joined))
    assert decoded == joined
    assert decoded is not None
    assert decoded.enqueued_at.utcoffset() == T.utcoffset()


def test_bare_caller_keeps_its_nones() -> None:
    decoded = decode_state("c2", encode_state(BARE))
    assert decoded is not None
    assert (decoded.skill, decoded.language_skill, decoded.callback_number) == (None, None, None)
    assert (decoded.priority, decoded.category, decoded.language) == ("normal", "unrouted", "en")


def test_the_call_id_comes_from_the_channel_not_the_text() -> None:
    decoded = decode_state("other", encode_state(FULL))
    assert decoded is not None
    assert decoded.call_id == "other"


def test_encoding_is_compact_and_versioned() -> None:
    text = encode_state(BARE)
    assert " " not in text
    data = json.loads(text)
    assert data["v"] == 1
    assert data["q"] == "billing"
    assert "a" not in data
    assert "x" not in data


def test_talking_with_a_conversation() -> None:
    text = encode_state(FULL, talking=("agent-leg-1", "2001"))
    assert talking_with(text) == ("agent-leg-1", "2001")
    assert decode_state("c1", text) == FULL  # the caller part reads as before


def test_talking_with_a_waiting_caller_is_none() -> None:
    assert talking_with(encode_state(FULL)) is None


@pytest.mark.parametrize(
    "text", ["", "not json", "[1, 2]", '{"a": 1, "x": "2001"}', '{"a": "leg"}']
)
def test_talking_with_junk_is_none(text: str) -> None:
    assert talking_with(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "null",
        "[]",
        "{}",
        '{"q": "billing"}',
        '{"q": "billing", "t": 5}',
        '{"q": "billing", "t": "yesterday"}',
    ],
)
def test_junk_decodes_to_none_with_a_warning(text: str) -> None:
    with capture_logs() as logs:
        assert decode_state("c9", text) is None
    assert [(e["event"], e["log_level"], e["call"]) for e in logs] == [
        ("acd.bad_state", "warning", "c9")
    ]


def test_unknown_priority_reads_as_normal() -> None:
    data = json.loads(encode_state(FULL)) | {"p": "vip"}
    decoded = decode_state("c1", json.dumps(data))
    assert decoded is not None
    assert decoded.priority == "normal"


def test_queue_order_front_first_then_earliest() -> None:
    later = T + timedelta(minutes=5)
    entries = [
        ("normal-early", "normal", T),
        ("front-late", "front", later),
        ("normal-late", "normal", later),
        ("front-early", "front", T),
    ]
    ordered = sorted(entries, key=lambda e: queue_order(e[1], e[2]))
    assert [e[0] for e in ordered] == ["front-early", "front-late", "normal-early", "normal-late"]


def test_queue_order_treats_anything_but_front_as_normal() -> None:
    assert queue_order("vip", T) == queue_order("normal", T)
    assert queue_order("front", T + timedelta(hours=1)) < queue_order("normal", T)


def test_request_for() -> None:
    assert request_for(FULL) == Request("appointments", "scheduling", "cardiology", True)
    assert request_for(BARE) == Request("unrouted", "billing", None, False)
