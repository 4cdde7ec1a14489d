"""Logins that persist, on the call path: the ACD runtime publishes what each agent chose
(`AgentPresenceChanged`) and audits feature codes, the recorder turns it into revisioned
`AgentPresence` records, and `start_agents` puts staff back as stored at start."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from frontdesk.acd.model import (
    AgentLogin,
    AgentLogout,
    AgentPause,
    AgentUnpause,
    CallerJoined,
    OfferFailed,
)
from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.calls.commands import Command
from frontdesk.calls.events import AgentPresenceChanged, AgentStateChanged, HubEvent
from frontdesk.calls.recorder import CallRecorder
from frontdesk.calls.runtime import CallRuntime
from frontdesk.calls.stasis import Entered
from frontdesk.plan import Plan
from frontdesk.store.records import AgentPresence, AgentStateChange, AuditEntry, Record
from tests.conftest import local

T0 = local("2026-11-30 10:00")
CHLOE, ANA, BEN = "2003", "2001", "2002"
STAFF = ("2001", "2002", "2003", "2004", "2005", "2006")


@dataclass
class Desk:
    acd: AcdRuntime
    facts: list[HubEvent] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)

    def presence(self) -> list[tuple[str, bool, bool, str | None]]:
        return [
            (f.ext, f.logged_in, f.paused, f.pause_reason)
            for f in self.facts
            if isinstance(f, AgentPresenceChanged)
        ]

    def chosen(self, ext: str) -> tuple[bool, bool, str | None]:
        view = self.acd.engine.agent(ext)
        assert view is not None
        return view.logged_in, view.paused, view.pause_reason


@pytest.fixture
async def desk(plan: Plan) -> AsyncIterator[Desk]:
    ari = AriClient(AriConfig("http://127.0.0.1:9/ari", "frontdesk", "unused"))
    runtime = CallRuntime(plan, ari, now=lambda: T0 + timedelta(minutes=5))
    assert runtime.acd is not None
    desk = Desk(runtime.acd)

    def drop(lane: str, commands: Iterable[Command]) -> None:
        pass

    runtime.executor.submit = drop  # type: ignore[method-assign]
    runtime.hub.add_listener(desk.facts.append)
    desk.acd.agents.audit = desk.audit.append
    yield desk
    desk.acd.close()
    await runtime.close()
    await ari.close()


def test_each_change_of_choice_is_published_once(desk: Desk) -> None:
    desk.acd.feed(AgentLogin(CHLOE))
    desk.acd.feed(AgentLogin(CHLOE))  # no change
    desk.acd.feed(AgentPause(CHLOE, "lunch"))
    desk.acd.feed(AgentPause(CHLOE, "meeting"))
    desk.acd.feed(AgentUnpause(CHLOE))
    desk.acd.feed(AgentLogout(CHLOE))
    assert desk.presence() == [
        (CHLOE, True, False, None),
        (CHLOE, True, True, "lunch"),
        (CHLOE, True, True, "meeting"),
        (CHLOE, True, False, None),
        (CHLOE, False, False, None),
    ]
    shown = [(f.state, f.reason) for f in desk.facts if isinstance(f, AgentStateChanged)]
    assert shown == [
        ("idle", None),
        ("paused", "lunch"),
        ("paused", "meeting"),
        ("idle", None),
        ("logged_out", None),
    ]


async def test_a_missed_ring_pauses_and_that_is_published_too(desk: Desk) -> None:
    desk.acd.feed(AgentLogin(CHLOE))
    desk.acd.feed(OfferFailed("nobody", CHLOE, "no_answer"))  # stale: changes nothing
    desk.acd.feed(CallerJoined("c1", "billing", T0))  # Chloe's phone rings for c1...
    assert desk.acd.engine.snapshot().agent(CHLOE).state == "ringing"
    assert desk.presence() == [(CHLOE, True, False, None)]
    desk.acd.feed(OfferFailed("c1", CHLOE, "no_answer"))  # ...and nobody picks up
    assert desk.presence()[1:] == [(CHLOE, True, True, None)]


def test_start_agents_restores_the_stored_and_defaults_the_rest(desk: Desk) -> None:
    at = T0 - timedelta(hours=1)
    stored = {
        ANA: AgentPresence(ANA, 9, False, False, None, at),  # logged out: stays out
        BEN: AgentPresence(BEN, 8, True, True, "admin", at),
        CHLOE: AgentPresence(CHLOE, 7, True, False, None, at),
    }
    defaulted = desk.acd.agents.start_agents(stored, everyone=True)
    assert defaulted == ["2004", "2005", "2006"]  # never stored: FRONTDESK_AGENTS_START=all
    assert desk.chosen(ANA) == (False, False, None)
    assert desk.chosen(BEN) == (True, True, "admin")
    assert desk.chosen(CHLOE) == (True, False, None)
    assert all(desk.chosen(ext) == (True, False, None) for ext in defaulted)
    assert desk.acd.logged_in == {BEN, CHLOE, *defaulted}  # routing sees them
    assert [(e.actor, e.action, e.subject) for e in desk.audit] == [
        ("system", "agent_login", ext) for ext in defaulted
    ]


def test_start_agents_without_a_database_takes_the_setting(desk: Desk) -> None:
    assert desk.acd.agents.start_agents(None, everyone=False) == list(STAFF)
    assert desk.acd.logged_in == set()
    assert desk.presence() == []
    assert desk.audit == []


def test_feature_codes_are_audited_as_the_agent(desk: Desk) -> None:
    def dial(ext: str, feature: str) -> None:
        channel = {"id": f"f-{feature}", "caller": {"number": ext}}
        desk.acd.agents.feature_call(Entered(f"f-{feature}", channel, feature=feature))

    dial(CHLOE, "login")
    dial(CHLOE, "pause")  # *47: paused
    dial(CHLOE, "pause")  # *47 again: unpaused
    dial(CHLOE, "logout")
    dial("9999", "login")  # not staff: refused, not audited
    assert [(e.actor, e.action, e.subject) for e in desk.audit] == [
        ("agent:2003", "agent_login", CHLOE),
        ("agent:2003", "agent_pause", CHLOE),
        ("agent:2003", "agent_unpause", CHLOE),
        ("agent:2003", "agent_logout", CHLOE),
    ]
    assert desk.chosen(CHLOE) == (False, False, None)


class Sink:
    def __init__(self) -> None:
        self.records: list[Record] = []

    def put(self, record: Record) -> None:
        self.records.append(record)


def test_the_recorder_writes_presence_with_revisions_that_only_grow() -> None:
    sink = Sink()
    recorder = CallRecorder(sink, lambda: T0)
    wall = iter([1_000, 1_000, 500, 2_000])  # the wall clock stalls, then goes back
    recorder.revision_clock = lambda: next(wall)
    recorder.presence_stored([1_500])  # what the database had at start
    recorder.on_hub(AgentPresenceChanged(CHLOE, True, False))
    recorder.on_hub(AgentPresenceChanged(CHLOE, True, True, "lunch"))
    recorder.on_hub(AgentStateChanged(CHLOE, "paused", "lunch"))
    recorder.on_hub(AgentPresenceChanged(CHLOE, True, False))
    recorder.on_hub(AgentPresenceChanged(CHLOE, False, False))
    presence = [r for r in sink.records if isinstance(r, AgentPresence)]
    assert [(r.revision, r.logged_in, r.paused, r.pause_reason) for r in presence] == [
        (1_501, True, False, None),
        (1_502, True, True, "lunch"),
        (1_503, True, False, None),
        (2_000, False, False, None),
    ]
    assert all(r.agent == CHLOE and r.at == T0 for r in presence)
    (change,) = [r for r in sink.records if isinstance(r, AgentStateChange)]
    assert (change.agent, change.state, change.reason) == (CHLOE, "paused", "lunch")
