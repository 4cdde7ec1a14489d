"""The PBX's time zone: what the zone-less times of cdr_manager's `Cdr` events mean.

Asterisk writes a `Cdr`'s `StartTime`/`AnswerTime`/`EndTime` in its own local time with
no offset, and a PBX's zone need not be the practice's (a container runs in UTC). So:

- `FRONTDESK_PBX_TIMEZONE` (an IANA name) wins when set: read as that zone, daylight
  saving time included.
- Else the UTC offset is learned at each AMI connect (and again when a `Cdr` comes more
  than `STALE` after the last reading, so a change of daylight saving time is seen):
  1. ARI `GET /asterisk/ping`: its `timestamp` is the PBX's current local time *with*
     its offset (`ast_json_timeval(now, NULL)`): exact, and allowed to frontdesk's ARI
     user.
  2. AMI `CoreStatus`: `CoreStartupDate`/`CoreStartupTime` are the PBX-local wall time of
     Asterisk's start; the login's `FullyBooted` `Uptime` gives that start by our UTC
     clock; the difference, rounded to 15 minutes, is the offset *at the start* (wrong
     after a DST change since). Asterisk 22 has no current time in `CoreStatus`, and
     registers it with `system,reporting`: frontdesk's AMI user (`write = user`,
     asterisk-conf/manager.conf) is refused it. Used when the ping gives nothing.
  Unknown (neither answered, no setting): `zone` is None and the Cdr gives no times
  (store/cdr.py) rather than wrong ones.

Each learning is logged once (`ami.pbx_clock`: offset, source, from_setting, the PBX's
clock skew); with the setting, a learned offset that disagrees with it is a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo

import structlog

from frontdesk.asterisk.ami import AmiClient, ConnectionState
from frontdesk.asterisk.ami_codec import Event
from frontdesk.asterisk.ari import AriClient

log = structlog.get_logger("frontdesk.ami")

QUARTER: Final = timedelta(minutes=15)  # every UTC offset in use is a multiple of it
STALE: Final = timedelta(hours=1)
MAX_OFFSET: Final = timedelta(hours=14)  # Pacific/Kiritimati; -12 is the other end


@dataclass(frozen=True)
class Reading:
    """The PBX's UTC offset, as learned from `source` at `at` (our UTC clock)."""

    offset: timedelta
    source: str  # "ari_ping" | "core_status"
    at: datetime
    skew_s: float | None = None  # the PBX's clock minus ours (the ping only)


def round_offset(delta: timedelta) -> timedelta:
    """`delta` to the nearest 15 minutes (the clocks' skew and the transit vanish)."""
    quarters = round(delta / QUARTER)
    return quarters * QUARTER


def _plausible(offset: timedelta) -> bool:
    return -timedelta(hours=12) <= offset <= MAX_OFFSET


def ping_reading(body: object, received: datetime) -> Reading | None:
    """From ARI `GET /asterisk/ping` (`{"timestamp": "2026-12-05T11:01:38.123+0530"}`)."""
    text = body.get("timestamp") if isinstance(body, Mapping) else None
    if not isinstance(text, str) or len(text) > 40:
        return None
    try:
        pbx_now = datetime.fromisoformat(text)
    except ValueError:
        return None
    offset = pbx_now.utcoffset()
    if offset is None or not _plausible(offset):
        return None
    skew = (pbx_now - received).total_seconds()
    return Reading(offset, "ari_ping", received, round(skew, 3))


def core_status_reading(
    fields: Mapping[str, str], booted: tuple[int, float] | None, received: datetime
) -> Reading | None:
    """From AMI `CoreStatus` (PBX-local start) and the login's `FullyBooted` `Uptime`
    (`booted`: uptime seconds and when it came, Unix time)."""
    if booted is None:
        return None
    date, time_of_day = fields.get("CoreStartupDate", ""), fields.get("CoreStartupTime", "")
    try:
        local_start = datetime.fromisoformat(f"{date.strip()}T{time_of_day.strip()}")
    except ValueError:
        return None
    if local_start.tzinfo is not None:
        return None
    uptime, came = booted
    utc_start = datetime.fromtimestamp(came - uptime, UTC).replace(tzinfo=None)
    offset = round_offset(local_start - utc_start)
    return Reading(offset, "core_status", received) if _plausible(offset) else None


def offset_text(offset: timedelta | None) -> str | None:
    """`+05:30`, `-06:00`, `+00:00`."""
    if offset is None:
        return None
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


class PbxClock:
    """The zone to read a `Cdr`'s times in: the setting, else the last offset learned."""

    def __init__(
        self, setting: ZoneInfo | None = None, *, utc: Callable[[], datetime] | None = None
    ) -> None:
        self.setting = setting
        self.utc = utc or (lambda: datetime.now(UTC))
        self.reading: Reading | None = None
        self.core_status_refused = False
        self._task: asyncio.Task[None] | None = None

    @property
    def zone(self) -> tzinfo | None:
        if self.setting is not None:
            return self.setting
        if self.reading is not None:
            return timezone(self.reading.offset)
        return None

    def stale(self) -> bool:
        return self.reading is None or self.utc() - self.reading.at >= STALE

    def learned(self, current: Reading | None, startup: Reading | None, *, quiet: bool) -> None:
        """Keep what was learned (the ping's, else CoreStatus's) and log it. `quiet` (a
        refresh between connects): log only a changed offset; nothing learned keeps the
        last reading."""
        reading = current or startup
        before = self.reading
        if reading is not None:
            self.reading = reading
        if quiet and (reading is None or (before is not None and before.offset == reading.offset)):
            return
        now = self.utc()
        ours = self.setting.utcoffset(now) if self.setting is not None else self.zone_offset()
        fields: dict[str, Any] = {
            "offset": offset_text(ours),
            "from_setting": self.setting is not None,
            "zone": str(self.setting) if self.setting is not None else None,
            "source": "setting" if self.setting is not None else (reading and reading.source),
            "learned": offset_text(reading.offset) if reading else None,
            "startup_offset": offset_text(startup.offset) if startup else None,
            "skew_s": reading.skew_s if reading else None,
        }
        if self.setting is not None and reading is not None and reading.offset != ours:
            log.warning("ami.pbx_clock_disagrees", **fields)
        elif ours is None:
            log.warning("ami.pbx_clock", **fields, note="unknown: Cdr times are not written")
        else:
            log.info("ami.pbx_clock", **fields)

    def zone_offset(self) -> timedelta | None:
        return self.reading.offset if self.reading is not None else None

    # -- I/O ------------------------------------------------------------------------------
    async def learn(self, ami: AmiClient, ari: AriClient | None, *, quiet: bool = False) -> None:
        """Ask the PBX (the ping, then CoreStatus); never raises."""
        received = self.utc()
        startup = None
        with contextlib.suppress(Exception):  # cut, timed out: not this time
            if not self.core_status_refused:
                response = await ami.action("CoreStatus")
                if response.ok:
                    fields = dict(response.fields)
                    startup = core_status_reading(fields, ami.fully_booted, received)
                # Refused (frontdesk's own user): once is enough; each refusal is a
                # `RequestNotAllowed` security event on the PBX.
                self.core_status_refused = response.message == "Permission denied"
        current = None
        if ari is not None:
            with contextlib.suppress(Exception):
                body = await ari.request("GET", "/asterisk/ping", idempotent=True)
                current = ping_reading(body, self.utc())
        self.learned(current, startup, quiet=quiet)

    @classmethod
    def watching(cls, ami: AmiClient, ari: AriClient | None, setting: ZoneInfo | None) -> PbxClock:
        clock = cls(setting)
        clock.watch(ami, ari)
        return clock

    def watch(self, ami: AmiClient, ari: AriClient | None) -> None:
        """Learn now if AMI is up, at each (re)connect, and on a Cdr after `STALE`."""

        def start(quiet: bool) -> None:
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(
                    self.learn(ami, ari, quiet=quiet), name="pbx-clock"
                )

        def on_state(state: ConnectionState) -> None:
            if state is ConnectionState.CONNECTED:
                start(quiet=False)

        def on_event(event: Event) -> None:
            if event.name == "Cdr" and self.stale():
                start(quiet=True)

        ami.add_state_listener(on_state)
        ami.add_listener(on_event)
        if ami.connected:
            start(quiet=False)
