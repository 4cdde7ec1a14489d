"""The routing plan as typed, frozen models (pydantic only at this boundary).

Field-level meaning (durations, intervals, keys, time zones) is parsed here; names
that refer to other parts of the plan are checked in `frontdesk.plan.references`.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date, timedelta
from functools import cache, cached_property
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from frontdesk.phone import normalize_number
from frontdesk.plan.errors import did_you_mean
from frontdesk.plan.schedule import PlanValueError, WeeklySchedule, parse_duration

DTMF_KEYS = "0123456789*#"
MAIN = "main"
FRONT_DESK = "front_desk"
DEFAULT_TIMEOUT = timedelta(seconds=5)
DEFAULT_RETRIES = 2
DEFAULT_OPERATOR_KEY = "0"
# Why an agent pauses: these always, plus the plan's own `pause_reasons`.
BUILTIN_PAUSE_REASONS = ("lunch", "meeting", "admin")
_PAUSE_REASON_MAX = 32


def _dtmf_key(value: Any) -> str:
    text = str(value).strip()
    if len(text) != 1 or text not in DTMF_KEYS:
        raise PlanValueError(f"'{text}' is not a phone key (0-9, * or #)")
    return text


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _time_zone(value: str) -> str:
    if value not in _time_zones():
        raise PlanValueError(f"unknown time zone '{value}'{did_you_mean(value, _time_zones())}")
    return value


def _did(value: Any) -> str:
    number = normalize_number(str(value))
    if number is None:
        raise PlanValueError(
            f"'{value}' is not a phone number; write it in E.164 like +13125550000"
        )
    return number


def _extension(value: Any) -> str:
    text = str(value).strip()
    if not text.isdigit():
        raise PlanValueError(f"extension '{text}' must be digits only")
    return text


def _test_caller(value: Any) -> str:
    number = normalize_number(str(value))
    if number is None or number != str(value).strip():
        raise PlanValueError(
            f"'{value}' is not an E.164 number; write it quoted, like \"+13125559901\""
        )
    return number


def _pause_reason(value: Any) -> str:
    text = str(value).strip()
    if not (
        0 < len(text) <= _PAUSE_REASON_MAX
        and text[0].isascii()
        and text[0].islower()
        and all(c.isascii() and (c.islower() or c.isdigit() or c == "_") for c in text)
    ):
        raise PlanValueError(
            f"pause reason '{text}' must be a lowercase word (a-z, 0-9, _; at most "
            f"{_PAUSE_REASON_MAX} characters, starting with a letter), like 'training'"
        )
    return text


def _distinct(values: tuple[str, ...]) -> tuple[str, ...]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise PlanValueError(f"listed twice: {', '.join(repeated)}")
    return values


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Schedule = Annotated[WeeklySchedule, BeforeValidator(WeeklySchedule.parse)]
DtmfKey = Annotated[str, BeforeValidator(_dtmf_key)]
TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
Did = Annotated[str, BeforeValidator(_did)]
Extension = Annotated[str, BeforeValidator(_extension)]
SkillLevel = Annotated[int, Field(ge=0, le=10)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Language(_Model):
    key: DtmfKey | None = None
    skill: str | None = None
    fallback: str | None = None


class Holidays(_Model):
    country: str | None = None
    subdivision: str | None = None
    closed: tuple[date, ...] = ()


def _site_name(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", value):
        raise PlanValueError(
            f"site {value!r}: 1-32 lower-case letters, digits, '-' or '_' (a letter or digit first)"
        )
    return value


class Practice(_Model):
    name: str
    timezone: TimeZoneName
    # Which site this plan is (docs/scale.md "Several sites"); FRONTDESK_SITE wins.
    # None: `main`, the default site.
    site: Annotated[str, AfterValidator(_site_name)] | None = None
    emergency_notice: bool = True
    phone_region: str = "US"
    holidays: Holidays = Holidays()
    languages: dict[str, Language] = Field(default_factory=lambda: {"en": Language()}, min_length=1)

    @property
    def default_language(self) -> str:
        return next(iter(self.languages))


class AfterHours(_Model):
    """Where a closed queue sends its callers: a voicemail box or an external transfer."""

    voicemail: str | None = None
    callback: str | None = None
    transfer: str | None = None

    @model_validator(mode="after")
    def _one_destination(self) -> AfterHours:
        if (self.voicemail is None) == (self.transfer is None):
            raise PlanValueError("give exactly one of 'voicemail' or 'transfer'")
        if self.callback is not None and self.voicemail is None:
            raise PlanValueError("'callback' is the promise spoken in a voicemail greeting")
        return self


class Queue(_Model):
    schedule: str
    max_wait: Duration | None = None
    escalate_after: Duration | None = None
    escalate_to: str | None = None
    after_hours: AfterHours | None = None
    skill_relax_after: Duration = timedelta(seconds=60)
    ring_timeout: Duration = timedelta(seconds=15)
    wrap_up: Duration = timedelta(seconds=30)


class External(_Model):
    """A number reached through the trunk; `hours` is `24/7` or a schedule name."""

    dial: str
    announce: str | None = None
    hours: str | None = None


class UrgentQueue(_Model):
    queue: str
    priority: Literal["front", "normal"] = "front"


class Urgent(_Model):
    business_hours: UrgentQueue | None = None
    after_hours: AfterHours | None = None


class Option(_Model):
    label: dict[str, str]
    category: str | None = None
    queue: str | None = None
    skill: str | None = None
    urgent: bool = False
    menu: Menu | None = None


class Menu(_Model):
    """A menu; a submenu inherits `timeout`, `retries` and `operator_key` it leaves out."""

    timeout: Duration | None = None
    retries: Annotated[int, Field(ge=0, le=9)] | None = None
    operator_key: DtmfKey | None = None
    skip_if_known: Literal["specialty"] | None = None
    options: dict[DtmfKey, Option] = Field(min_length=1)


class DidEntry(_Model):
    """`main` (the menus) or a direct entry that skips them."""

    menu: Literal["main"] | None = None
    category: str | None = None
    queue: str | None = None
    skill: str | None = None
    urgent: bool = False

    @model_validator(mode="before")
    @classmethod
    def _main_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip() != MAIN:
                raise PlanValueError(
                    f"an entry is '{MAIN}' or a mapping like {{category: refill, queue: nurse_triage}}"
                )
            return {"menu": MAIN}
        return value

    @property
    def is_main(self) -> bool:
        return self.menu == MAIN


class Staff(_Model):
    name: str
    extension: Extension
    queues: tuple[str, ...] = ()
    skills: dict[str, SkillLevel] = Field(default_factory=dict)
    roles: tuple[str, ...] = ()

    def level(self, skill: str) -> int:
        return self.skills.get(skill, 0)


class GoLive(_Model):
    """Go-live testing (docs/golive.md): only these callers may carry a routing time."""

    test_callers: tuple[Annotated[str, BeforeValidator(_test_caller)], ...] = ()


class Plan(_Model):
    practice: Practice
    numbers: dict[Did, DidEntry] = Field(default_factory=dict)
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    queues: dict[str, Queue]
    external: dict[str, External] = Field(default_factory=dict)
    urgent: Urgent | None = None
    menu: Menu
    staff: tuple[Staff, ...] = ()
    golive: GoLive = GoLive()
    # The practice's own pause reasons, besides BUILTIN_PAUSE_REASONS (docs: README).
    pause_reasons: Annotated[
        tuple[Annotated[str, BeforeValidator(_pause_reason)], ...], AfterValidator(_distinct)
    ] = ()

    @property
    def all_pause_reasons(self) -> tuple[str, ...]:
        """The reasons an agent may give for a pause: the built-in ones, then the plan's."""
        return tuple(dict.fromkeys((*BUILTIN_PAUSE_REASONS, *self.pause_reasons)))

    def menus_at(self, path: tuple[str, ...]) -> list[Menu]:
        """The menu reached by `path` and its parents, innermost first."""
        menus = [self.menu]
        for key in path:
            submenu = menus[-1].options[key].menu
            if submenu is None:
                raise KeyError(f"option {' > '.join(path)} has no menu")
            menus.append(submenu)
        return menus[::-1]

    def timeout_at(self, path: tuple[str, ...]) -> timedelta:
        found = (m.timeout for m in self.menus_at(path) if m.timeout is not None)
        return next(found, DEFAULT_TIMEOUT)

    def retries_at(self, path: tuple[str, ...]) -> int:
        found = (m.retries for m in self.menus_at(path) if m.retries is not None)
        return next(found, DEFAULT_RETRIES)

    def operator_key_at(self, path: tuple[str, ...]) -> str:
        found = (m.operator_key for m in self.menus_at(path) if m.operator_key is not None)
        return next(found, DEFAULT_OPERATOR_KEY)

    def members(self, queue: str) -> tuple[Staff, ...]:
        staff, by_queue = self._members_index
        if staff is not self.staff:  # `model_copy(update=...)` copies the cache as well
            del self.__dict__["_members_index"]
            staff, by_queue = self._members_index
        return by_queue.get(queue, ())

    @cached_property
    def _members_index(self) -> tuple[tuple[Staff, ...], dict[str, tuple[Staff, ...]]]:
        """Each queue's staff in plan order, once per staff list: routing asks every call."""
        found: dict[str, list[Staff]] = {}
        for member in self.staff:
            for queue in dict.fromkeys(member.queues):
                found.setdefault(queue, []).append(member)
        return self.staff, {queue: tuple(members) for queue, members in found.items()}


Option.model_rebuild()
