"""When a queue's schedule closes next, from the plan's weekly intervals and the holidays."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from frontdesk.plan.model import Plan
from frontdesk.plan.schedule import WeeklySchedule
from frontdesk.routing.clock import PracticeClock

HORIZON = timedelta(days=14)


def next_closing(plan: Plan, clock: PracticeClock, schedule: str, now: datetime) -> datetime:
    """The first moment at or after `now` when `schedule` is closed (UTC).

    The open/closed state can only change at an interval boundary or at local midnight
    (a holiday closes a whole day), so those are the only candidates. A schedule that
    stays open for the whole `HORIZON` returns the horizon's end: a moment to look again.
    """
    if not clock.schedule_open(schedule, now):
        return now.astimezone(UTC)
    start = clock.local(now).date()
    weekly = plan.schedules[schedule]
    for offset in range(HORIZON.days + 1):
        for candidate in _boundaries(start + timedelta(days=offset), weekly, clock.zone):
            if candidate > now and not clock.schedule_open(schedule, candidate):
                return candidate.astimezone(UTC)
    return now + HORIZON


def _boundaries(day: date, weekly: WeeklySchedule, zone: ZoneInfo) -> Iterator[datetime]:
    midnight = datetime.combine(day, time(), tzinfo=zone)
    minutes = {0}
    for interval in weekly.days[day.weekday()]:
        minutes.update((interval.start, interval.end))
    for minute in sorted(minutes):
        yield midnight + timedelta(minutes=minute)
