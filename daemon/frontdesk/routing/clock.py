"""The practice's clock: local time, public holidays and whether a schedule is open.

A holiday (the country's public holidays, both the actual date and the observed day
off, plus the plan's `closed` dates) closes every schedule for the whole local day.
External targets with `hours: 24/7` are not practice schedules and stay open.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import holidays as holiday_tables

from frontdesk.plan.model import Plan
from frontdesk.plan.schedule import ALWAYS

CLOSED = "closed"


class PracticeClock:
    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self.zone = ZoneInfo(plan.practice.timezone)
        settings = plan.practice.holidays
        self._closed = frozenset(settings.closed)
        self._public: holiday_tables.HolidayBase | None = None
        if settings.country:
            self._public = _country_table(settings.country, settings.subdivision)

    def local(self, moment: datetime) -> datetime:
        """Practice-local time; a naive datetime is taken as practice-local already."""
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self.zone)
        return moment.astimezone(self.zone)

    def holiday_on(self, day: date) -> str | None:
        """The public holiday's name, `closed` for a plan closure, or None."""
        if self._public is not None:
            name = self._public.get(day)
            if name:
                return str(name)
        return CLOSED if day in self._closed else None

    def holiday(self, moment: datetime) -> str | None:
        return self.holiday_on(self.local(moment).date())

    def schedule_open(self, name: str, moment: datetime) -> bool:
        local = self.local(moment)
        if self.holiday_on(local.date()) is not None:
            return False
        return self._plan.schedules[name].is_open(local)

    def external_open(self, name: str, moment: datetime) -> bool:
        """An external with no `hours` or `24/7` is always reachable."""
        hours = self._plan.external[name].hours
        return hours is None or hours == ALWAYS or self.schedule_open(hours, moment)


def _country_table(country: str, subdivision: str | None) -> holiday_tables.HolidayBase:
    try:
        return holiday_tables.country_holidays(country, subdiv=subdivision, language="en_US")
    except (NotImplementedError, ValueError):
        # Not every country has English names; its own names are still right.
        return holiday_tables.country_holidays(country, subdiv=subdivision)
