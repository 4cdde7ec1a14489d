"""Time formats and identifiers as Asterisk 22 writes them."""

from __future__ import annotations

import itertools
import os
import time
import uuid
from datetime import UTC, datetime, tzinfo


def now() -> float:
    return time.time()


def ari_time(t: float, zone: tzinfo = UTC) -> str:
    """`2026-11-27T00:31:17.913+0000`: the PBX's local time (`zone`: its /etc/localtime),
    milliseconds, its offset without a colon (`ast_json_timeval(tv, NULL)`)."""
    moment = datetime.fromtimestamp(t, zone)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.")
    return stamp + f"{moment.microsecond // 1000:03d}" + moment.strftime("%z")


def cdr_time(t: float | None, zone: tzinfo = UTC) -> str:
    """`2026-11-27 01:08:01` (CDR Start/Answer/EndTime): the PBX's local time, no zone;
    empty for "never"."""
    if t is None:
        return ""
    return datetime.fromtimestamp(t, zone).strftime("%Y-%m-%d %H:%M:%S")


def core_status_times(t: float, zone: tzinfo = UTC) -> tuple[str, str]:
    """`CoreStartupDate`/`CoreStartupTime` (and the reload's): `2026-12-05`, `05:31:38`,
    the PBX's local time (`action_corestatus`: `ast_localtime` with no zone)."""
    moment = datetime.fromtimestamp(t, zone)
    return moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M:%S")


def ami_timestamp(t: float) -> str:
    """The `Timestamp` of an AMI Ping reply: seconds with six decimals."""
    return f"{t:.6f}"


class Ids:
    """Unique ids, channel name suffixes and SIP call ids of one emulated Asterisk."""

    def __init__(self, system_name: str) -> None:
        self.system_name = system_name
        self._unique = itertools.count()
        self._pjsip = itertools.count()
        self._local = itertools.count(1)
        self._call = itertools.count(1)

    def unique_id(self) -> str:
        """`<systemname>-<epoch>.<n>`: n counts every channel ever made (Asterisk's way)."""
        return f"{self.system_name}-{int(now())}.{next(self._unique)}"

    def skip_unique(self, count: int) -> None:
        """Internal channels (MOH announcer, the other half of a Local pair) use ids too."""
        for _ in range(count):
            next(self._unique)

    def pjsip_suffix(self) -> str:
        return f"{next(self._pjsip):08x}"

    def local_suffix(self) -> str:
        return f"{next(self._local):08x}"

    def inbound_call_id(self) -> str:
        """A SIPp-style Call-ID as the PSTN trunk sends it: `<n>-<pid>@127.0.0.1`."""
        return f"{next(self._call)}-{os.getpid()}@127.0.0.1"

    @staticmethod
    def outbound_call_id() -> str:
        return str(uuid.uuid4())
