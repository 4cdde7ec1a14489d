"""Weekly opening hours and durations: parsing and pure clock math.

Intervals are practice-local wall-clock times, start-inclusive and end-exclusive
(`08:00-17:00` is open at 08:00:00 and closed at 17:00:00); `24:00` may end a day.
Reversed intervals (`22:00-06:00`) are refused rather than read as overnight: a
practice that means overnight writes two intervals on two days.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from frontdesk.plan.errors import KeyPath, did_you_mean

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALWAYS = "24/7"
MINUTES_PER_DAY = 24 * 60

_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


class PlanValueError(ValueError):
    """A value error that knows which key below the validated field is wrong."""

    def __init__(self, message: str, subpath: KeyPath = ()) -> None:
        super().__init__(message)
        self.subpath = subpath


def parse_duration(value: Any) -> timedelta:
    """`90s`, `4m`, `1h`, `1m30s` -> timedelta; a bare number is refused (unit unclear)."""
    if isinstance(value, timedelta):
        return value
    text = str(value).strip()
    match = _DURATION.match(text)
    if not text or not match:
        hint = f"; add a unit, e.g. {text}s or {text}m" if text.isdigit() else ""
        raise PlanValueError(f"'{text}' is not a duration like 90s, 4m or 1h{hint}")
    parts = {k: int(v) for k, v in match.groupdict(default="0").items()}
    return timedelta(hours=parts["h"], minutes=parts["m"], seconds=parts["s"])


def _clock_minutes(text: str, *, end: bool) -> int:
    match = _CLOCK.match(text.strip())
    if not match:
        raise PlanValueError(f"'{text.strip()}' is not a time like 08:30")
    hours, minutes = int(match.group(1)), int(match.group(2))
    total = hours * 60 + minutes
    if minutes > 59 or total > MINUTES_PER_DAY or (total == MINUTES_PER_DAY and not end):
        raise PlanValueError(f"'{text.strip()}' is not a time of day")
    return total


@dataclass(frozen=True, order=True)
class Interval:
    """Minutes after local midnight, start-inclusive, end-exclusive."""

    start: int
    end: int

    def __str__(self) -> str:
        return (
            f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
        )


def parse_interval(text: str) -> Interval:
    """`08:00-17:00` -> Interval; empty and reversed intervals are refused."""
    start_text, sep, end_text = text.partition("-")
    if not sep:
        raise PlanValueError(f"'{text}' is not an interval like 08:00-17:00")
    interval = Interval(_clock_minutes(start_text, end=False), _clock_minutes(end_text, end=True))
    if interval.start == interval.end:
        raise PlanValueError(f"interval '{text.strip()}' is empty")
    if interval.start > interval.end:
        raise PlanValueError(
            f"interval '{text.strip()}' is reversed; an overnight shift is two intervals on two days"
        )
    return interval


def parse_days(spec: str) -> list[int]:
    """`mon-fri`, `sat,sun`, `mon` -> weekday numbers (Monday is 0)."""
    days: list[int] = []
    for part in (p.strip().lower() for p in spec.split(",")):
        first, sep, last = part.partition("-")
        for name in (first, last) if sep else (first,):
            if name not in DAYS:
                raise PlanValueError(f"unknown day '{name}'{did_you_mean(name, DAYS)}")
        lo, hi = DAYS.index(first), DAYS.index(last if sep else first)
        if hi < lo:
            raise PlanValueError(
                f"day range '{part}' runs backwards; write it as '{first}-sun' and 'mon-{last}'"
            )
        days.extend(range(lo, hi + 1))
    return days


def _intervals_of(value: Any) -> list[tuple[str, Interval]]:
    if value is None or (isinstance(value, str) and value.strip().lower() == "closed"):
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    out = []
    for item in items:
        if not isinstance(item, str):
            raise PlanValueError("intervals are text like 08:00-12:00")
        out.append((item.strip(), parse_interval(item)))
    return out


@dataclass(frozen=True)
class WeeklySchedule:
    """Opening intervals per weekday (Monday first), sorted and non-overlapping."""

    days: tuple[tuple[Interval, ...], ...]

    @classmethod
    def always(cls) -> WeeklySchedule:
        return cls(tuple((Interval(0, MINUTES_PER_DAY),) for _ in DAYS))

    @classmethod
    def parse(cls, value: Any) -> WeeklySchedule:
        """A mapping of day specs to intervals, or the text `24/7`."""
        if isinstance(value, WeeklySchedule):
            return value
        if isinstance(value, str) and value.strip() == ALWAYS:
            return cls.always()
        if not isinstance(value, Mapping):
            raise PlanValueError(f"a schedule is '{ALWAYS}' or a mapping like mon-fri: 08:00-17:00")
        per_day: list[list[tuple[str, str, Interval]]] = [[] for _ in DAYS]
        for spec, intervals in value.items():
            try:
                days = parse_days(str(spec))
                parsed = _intervals_of(intervals)
            except PlanValueError as exc:
                raise PlanValueError(str(exc), (spec,)) from None
            for day in days:
                per_day[day].extend((spec, text, iv) for text, iv in parsed)
        return cls(tuple(_sorted_disjoint(day, entries) for day, entries in enumerate(per_day)))

    @property
    def is_always_open(self) -> bool:
        return all(day == (Interval(0, MINUTES_PER_DAY),) for day in self.days)

    def is_open(self, local: datetime) -> bool:
        """Open at this practice-local wall-clock moment (holidays are the caller's business)."""
        second = local.hour * 3600 + local.minute * 60 + local.second
        return any(iv.start * 60 <= second < iv.end * 60 for iv in self.days[local.weekday()])

    def weekly_hours(self) -> float:
        return sum(iv.end - iv.start for day in self.days for iv in day) / 60

    def boundaries(self) -> Iterable[tuple[int, int]]:
        """(weekday, minute) of every opening and closing: where the state may change."""
        for weekday, day in enumerate(self.days):
            for iv in day:
                yield weekday, iv.start
                yield weekday, iv.end

    def describe(self) -> str:
        if self.is_always_open:
            return ALWAYS
        parts = []
        for weekday, day in enumerate(self.days):
            if day:
                parts.append(f"{DAYS[weekday]} " + ", ".join(str(iv) for iv in day))
        return "; ".join(parts) or "never open"


def _sorted_disjoint(
    weekday: int, entries: list[tuple[str, str, Interval]]
) -> tuple[Interval, ...]:
    entries.sort(key=lambda e: e[2])
    merged: list[Interval] = []
    for index, (spec, text, interval) in enumerate(entries):
        if index and interval.start < entries[index - 1][2].end:
            prev_spec, prev_text, _ = entries[index - 1]
            raise PlanValueError(
                f"{DAYS[weekday]}: {text} overlaps {prev_text} (from '{prev_spec}')", (spec,)
            )
        if merged and merged[-1].end == interval.start:
            merged[-1] = Interval(merged[-1].start, interval.end)
        else:
            merged.append(interval)
    return tuple(merged)
