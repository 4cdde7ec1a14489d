"""Time paused per reason per agent, from the agent state rows: pure, no I/O.

Each `agent_state_changes` row says what the board showed for an agent from `at` on
(calls/recorder.py): a pause lasts from its `paused` row to that agent's next row,
whatever its state, clipped to the range and to now. The reason is the row's: lunch,
meeting, admin or one of the plan's own `pause_reasons`; `(none)` for a pause without
one (`*47`, a missed ring). Only time shown `paused` counts: an agent who pauses during
a call starts pausing when the call (and its wrap-up) ends. A pause still on when
frontdesk stopped runs until the restarted daemon's first row for the agent (the agent
was still paused meanwhile: logins and pauses survive a restart).

`store.load_agent_states(conn, start, end)` reads the rows of the range and, per agent,
the last row before it (a pause that began before the range).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

NO_REASON = "(none)"
DEFINITION = (
    "Time each agent was shown paused, per pause reason, from the pause to the agent's "
    "next state change ((none): paused without a reason, by *47 or after a missed ring)."
)

CsvRow = tuple[str, str, str, str, str, str, str, str]


@dataclass(frozen=True)
class StateRow:
    """One `agent_state_changes` row: the agent's shown state from `at` on."""

    agent: str
    at: datetime
    state: str
    reason: str | None = None


@dataclass(frozen=True)
class PauseTime:
    start: datetime
    end: datetime
    # agent -> reason -> seconds paused in [start, end); agents in extension order, each
    # agent's reasons longest first
    by_agent: Mapping[str, Mapping[str, float]]

    def total(self, agent: str) -> float:
        return sum(self.by_agent.get(agent, {}).values())

    def as_json(self) -> dict[str, Any]:
        return {
            "definition": DEFINITION,
            "agents": [
                {"agent": agent, "total_s": self.total(agent), "reasons": dict(reasons)}
                for agent, reasons in self.by_agent.items()
            ],
        }

    def csv_rows(self) -> list[CsvRow]:
        """Rows for `frontdesk report --csv` (export.COLUMNS), section `pause_time`:
        name `<agent>:<reason>`, value in seconds."""
        rows: list[CsvRow] = []
        for agent, reasons in self.by_agent.items():
            for reason, seconds in reasons.items():
                definition = "" if rows else DEFINITION
                name, value, shown = f"{agent}:{reason}", f"{seconds:g}", format_span(seconds)
                rows.append(("pause_time", name, value, shown, "", "", definition, ""))
        return rows


def format_span(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def pause_time(
    rows: Iterable[StateRow], *, start: datetime, end: datetime, now: datetime | None = None
) -> PauseTime:
    """Seconds paused per agent and reason within `[start, end)` (and before `now`): rows
    of one agent are taken in the order given among equal times (the store's order)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    until = min(end, now.astimezone(UTC)) if now is not None else end
    by_agent: dict[str, list[StateRow]] = defaultdict(list)
    for row in rows:
        by_agent[row.agent].append(row)
    totals: dict[str, dict[str, float]] = {}
    for agent in sorted(by_agent, key=_extension_order):
        changes = sorted(by_agent[agent], key=lambda r: r.at.astimezone(UTC))
        paused: dict[str, timedelta] = defaultdict(timedelta)
        for row, after in zip(changes, [*changes[1:], None], strict=True):
            if row.state != "paused":
                continue
            since = max(row.at.astimezone(UTC), start)
            to = min(after.at.astimezone(UTC), until) if after is not None else until
            if to > since:
                paused[row.reason or NO_REASON] += to - since
        if paused:
            ranked = sorted(paused.items(), key=lambda kv: (-kv[1], kv[0]))
            totals[agent] = {reason: span.total_seconds() for reason, span in ranked}
    return PauseTime(start, end, totals)


def _extension_order(agent: str) -> tuple[int, str]:
    return (int(agent), agent) if agent.isdigit() else (1 << 62, agent)
