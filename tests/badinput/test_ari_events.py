"""Junk ARI events: `CallDispatcher.dispatch` and `CallSession.on_event` never raise.

A malformed event (wrong types, missing keys, unknown types, huge strings) is logged
and skipped; an unrelated healthy call's state is unchanged. Nothing here needs the
network: the AriClient points at a closed port and no await runs between the junk
event and the checks, so no request is ever attempted.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.calls.runtime import CallRuntime
from frontdesk.calls.session import CallSession
from frontdesk.plan import Plan, load_plan
from frontdesk.routing.clock import PracticeClock
from frontdesk.routing.ivr import CallFacts
from tests.conftest import REFERENCE_PLAN, local

NOW = local("2026-11-30 10:00")
HEALTHY = "healthy-1.0"
BAD = "bad-2.0"
PLAN = load_plan(REFERENCE_PLAN)
KINDS = [
    "StasisStart",
    "StasisEnd",
    "PlaybackFinished",
    "PlaybackStarted",
    "ChannelDtmfReceived",
    "ChannelHangupRequest",
    "ChannelDestroyed",
    "ApplicationReplaced",
    "ChannelVarset",
    "NoSuchEvent",
]
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
huge = st.sampled_from(["x" * 100_000, "1" * 10_000, "\x00" * 1000, "channel:" + "b" * 50_000])
channel_ids = st.sampled_from([BAD, "", "unknown-9.9"]) | st.text(max_size=10) | huge
junk_channel = json_values | st.fixed_dictionaries(
    {},
    optional={
        "id": channel_ids | json_values,
        "caller": json_values | st.fixed_dictionaries({"number": json_values | huge}),
        "dialplan": json_values | st.fixed_dictionaries({"exten": json_values | huge}),
        "state": json_values,
    },
)
junk_playback = json_values | st.fixed_dictionaries(
    {},
    optional={
        "id": json_values | st.sampled_from([f"{BAD}-p1", f"{BAD}-p0", "p" * 100_000]),
        "target_uri": json_values | channel_ids.map(lambda c: f"channel:{c}"),
    },
)
junk_events = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(KINDS) | json_values | huge,
        "channel": junk_channel,
        "playback": junk_playback,
        "digit": json_values | huge | st.sampled_from(["1", "#", "AB", "", "\x00"]),
        "args": json_values | huge,
        "application": json_values,
    },
)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def channel(channel_id: str, number: str = "+17735550123") -> dict[str, Any]:
    return {
        "id": channel_id,
        "caller": {"name": "PSTN Caller", "number": number},
        "dialplan": {"exten": "+13125550000", "app_name": "Stasis", "app_data": "frontdesk"},
        "state": "Ring",
    }


def state(session: CallSession) -> tuple[object, ...]:
    ivr = session.ivr
    return (
        session.ended,
        session.language,
        dict(session._playbacks),
        session.current_playback,
        ivr.phase,
        ivr.menu_path,
        ivr.attempts,
        ivr.category,
        ivr.decision,
        ivr._seq,
        ivr._playback,
        ivr._timer,
    )


def involves_healthy(event: object) -> bool:
    return HEALTHY in repr(event)


def pending(runtime: CallRuntime, channel_id: str) -> int:
    """Requests queued for the call and not yet sent (its lane in the executor)."""
    lane = runtime.executor._lanes.get(channel_id)
    return lane.queue.qsize() if lane is not None else 0


async def with_runtime(events: list[dict[str, Any]]) -> None:
    ari = AriClient(AriConfig(f"http://127.0.0.1:{closed_port()}/ari", "frontdesk", "x"))
    runtime = CallRuntime(PLAN, ari, now=lambda: NOW, acd=False)
    try:
        runtime.menu.adopt(channel(HEALTHY), answered=False)
        runtime.menu.adopt(channel(BAD, "+13125551002"), answered=False)
        healthy = runtime.sessions[HEALTHY]
        before = state(healthy), pending(runtime, HEALTHY)
        for event in events:
            runtime.dispatcher.dispatch(event)  # never raises
        assert runtime.sessions[HEALTHY] is healthy
        assert (state(healthy), pending(runtime, HEALTHY)) == before
    finally:
        await runtime.close()
        await ari.close()


@SETTINGS
@given(events=st.lists(junk_events, min_size=1, max_size=5))
def test_runtime_dispatch_skips_junk_and_spares_other_calls(events: list[dict[str, Any]]) -> None:
    events = [e for e in events if not involves_healthy(e)]
    asyncio.run(with_runtime(events))


def live_session(channel_id: str) -> CallSession:
    facts = CallFacts("+13125550000", "+17735550123")
    everyone = {s.extension for s in PLAN.staff}
    session = CallSession(PLAN, PracticeClock(PLAN), channel_id, facts, everyone)
    session.start(NOW)
    return session


@SETTINGS
@given(event=junk_events.filter(lambda e: isinstance(e.get("type"), str) or "type" not in e))
def test_session_on_event_never_raises(event: dict[str, Any]) -> None:
    """Event types as the ARI client passes them on (it drops events whose type is not text)."""
    bad, healthy = live_session(BAD), live_session(HEALTHY)
    before = state(healthy)
    commands = bad.on_event(event, NOW)
    assert isinstance(commands, list)
    assert len(commands) <= 4  # a key or a prompt's end: a stop, a play, a timer, a route...
    assert state(healthy) == before


@pytest.mark.parametrize("kind", [[], {}, ["StasisEnd"]], ids=["list", "dict", "list-of-kind"])
def test_session_on_event_with_an_unhashable_type(kind: object) -> None:
    live_session(BAD).on_event({"type": kind}, NOW)


@pytest.mark.parametrize("event", [[], "StasisStart", 7, None, 1.5], ids=repr)
async def test_runtime_dispatch_of_a_non_object(plan: Plan, event: Any) -> None:
    ari = AriClient(AriConfig(f"http://127.0.0.1:{closed_port()}/ari", "frontdesk", "x"))
    runtime = CallRuntime(plan, ari, now=lambda: NOW, acd=False)
    try:
        runtime.dispatcher.dispatch(event)
    finally:
        await runtime.close()
        await ari.close()


class _Frames:
    """A stand-in websocket: text frames as aiohttp delivers them."""

    def __init__(self, payloads: list[str]) -> None:
        self.payloads = payloads

    def __aiter__(self) -> _Frames:
        return self

    async def __anext__(self) -> Any:
        import aiohttp

        if not self.payloads:
            raise StopAsyncIteration
        return aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, self.payloads.pop(0), None)


async def test_truncated_huge_and_non_object_frames_are_dropped() -> None:
    from frontdesk.asterisk.ari import _frames

    good = '{"type": "StasisEnd", "channel": {"id": "c-1"}}'
    payloads = [
        good[:20],  # truncated JSON
        "",
        "\udcff\udcfe",  # what undecodable bytes look like once decoded with surrogates
        "[1, 2, 3]",
        '"StasisStart"',
        '{"type": 5}',
        '{"type": "X", "pad": "' + "a" * (1024 * 1024) + '"}',  # a 1 MiB frame
        '{"type": "Y", "pad": "' + "a" * (1024 * 1024),  # a truncated 1 MiB frame
        "{" * 100_000,  # invalid at the second character
        good,
    ]
    events = [e async for e in _frames(_Frames(payloads))]  # type: ignore[arg-type]
    assert [e["type"] for e in events] == ["X", "StasisEnd"]


async def test_a_deeply_nested_json_frame_is_dropped() -> None:
    from frontdesk.asterisk.ari import _frames

    payloads = ["[" * 100_000, '{"type": "StasisEnd"}']
    events = [e async for e in _frames(_Frames(payloads))]  # type: ignore[arg-type]
    assert [e["type"] for e in events] == ["StasisEnd"]
