"""Who may take whom, and who goes first (docs/routing.md §4.1, §4.2). Pure functions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from frontdesk.acd.state import Agent, Caller

_NEVER = datetime.min.replace(tzinfo=UTC)


def requested_skills(caller: Caller) -> tuple[str, ...]:
    """The skills the caller asked for: menu skill and language skill (urgent: none)."""
    return tuple(s for s in (caller.skill, caller.language_skill) if s is not None)


def relaxed(caller: Caller, now: datetime, relax_after: timedelta) -> bool:
    """After `skill_relax_after` of waiting, the menu skill is no longer required."""
    return now >= caller.enqueued_at + relax_after


def required_skills(caller: Caller, now: datetime, relax_after: timedelta) -> tuple[str, ...]:
    """The language skill always; the menu skill only until the caller's wait relaxes it."""
    required = [caller.language_skill] if caller.language_skill else []
    if caller.skill and not relaxed(caller, now, relax_after):
        required.append(caller.skill)
    return tuple(required)


def holds(agent: Agent, skills: Iterable[str]) -> bool:
    """A level of 0 is not holding the skill."""
    return all(agent.staff.level(skill) > 0 for skill in skills)


def rank(agent: Agent, requested: tuple[str, ...]) -> tuple[int, datetime, str]:
    """Sort key: highest sum of levels first, then the longest idle, then the extension."""
    score = sum(agent.staff.level(skill) for skill in requested)
    idle_since = agent.idle_since or _NEVER
    return (-score, idle_since, agent.ext)


def best_agent(
    agents: Iterable[Agent],
    caller: Caller,
    now: datetime,
    relax_after: timedelta,
    *,
    top: int | None = None,
) -> Agent | None:
    """The best of `agents` (assumed available members of the queue) for this caller.

    `top`: the highest score (sum of requested levels) any of them can have, when they
    come longest idle first: the first agent with that score is the best, so stop there.
    """
    required = required_skills(caller, now, relax_after)
    requested = requested_skills(caller)
    best: Agent | None = None
    best_key: tuple[int, datetime, str] | None = None
    # `holds` and `rank` inlined: this loop meets every available agent of the queue
    # when a caller joins (600 agents: 0.5 ms with the calls, a fifth of it without).
    for agent in agents:
        levels = agent.staff.skills
        for skill in required:
            if levels.get(skill, 0) <= 0:
                break
        else:
            score = 0
            for skill in requested:
                score -= levels.get(skill, 0)
            if best_key is None or score <= best_key[0]:
                key = (score, agent.idle_since or _NEVER, agent.ext)
                if best_key is None or key < best_key:
                    best, best_key = agent, key
                    if top is not None and -score >= top:
                        break
    return best
