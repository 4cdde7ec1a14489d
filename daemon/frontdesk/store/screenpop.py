"""The screen-pop payload for the agent being rung: who is calling, and their last call.

`await ScreenPopSource(pool).build(number, language, category, linkedid=call_id)` gives

    {
      "patient": {"patient_id", "name", "language", "specialty", "shared"} | None,
      "language": <the call's language>,  "category": <the call's category>,
      "last_call": {"linkedid", "started_at" (ISO 8601), "outcome", "category"} | None,
      "degraded": False,
    }

`patient` follows `Directory.lookup`: one patient → their id, name (None when the
directory has none), preferred language and specialty; a number shared by several
patients → `patient_id` and `name` None, `shared` True, and only the language/specialty
they all agree on; an unknown or withheld number → None. `last_call` is the caller's
latest call in `calls` that started before now, other than the current one (`linkedid`).

Like `PatientLookup` it never raises and never takes longer than `timeout`: a timeout
or any database error gives `{"patient": None, "last_call": None, "degraded": True}`
(with the call's language and category). Logs carry masked numbers only, never names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import structlog

from frontdesk.store.db import BoundedRead, Pool

log = structlog.get_logger("frontdesk.store")

Rows = tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]

_PATIENTS = """
SELECT patient_id, name, preferred_language, specialty
FROM patients WHERE phone = $1 ORDER BY patient_id
"""
_LAST_CALL = """
SELECT linkedid, started_at, outcome, category
FROM calls
WHERE caller = $1 AND started_at < $2 AND linkedid IS DISTINCT FROM $3
ORDER BY started_at DESC
LIMIT 1
"""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _agreed(values: list[Any]) -> Any:
    distinct = set(values)
    return values[0] if len(distinct) == 1 else None


class ScreenPopSource:
    """Builds screen-pop payloads from `patients` and `calls` within `timeout` seconds."""

    def __init__(
        self, pool: Pool, timeout: float = 0.25, now: Callable[[], datetime] = _utc_now
    ) -> None:
        self._pool = pool
        self._timeout = timeout
        self._now = now
        self._read: BoundedRead[Rows] = BoundedRead("screenpop", timeout)

    @property
    def timeout(self) -> float:
        return self._timeout

    @property
    def available(self) -> bool:
        """False after a failed build, until one succeeds again."""
        return not self._read.down

    async def build(
        self, number: str | None, language: str, category: str, *, linkedid: str | None = None
    ) -> dict[str, Any]:
        """The payload for a call from `number` (None: withheld). Never raises."""
        if not number:
            return _payload(None, language, category, None)
        rows = await self._read.run(self._fetch(number, linkedid), number)
        if rows is None:
            payload = _payload(None, language, category, None)
            payload["degraded"] = True
            return payload
        patients, calls = rows
        return _payload(_patient(patients), language, category, _last_call(calls))

    async def _fetch(self, number: str, linkedid: str | None) -> Rows:
        async with self._pool.acquire() as conn:
            patients = await conn.fetch(_PATIENTS, number)
            calls = await conn.fetch(_LAST_CALL, number, self._now(), linkedid)
        return patients, calls


def _payload(
    patient: dict[str, Any] | None,
    language: str,
    category: str,
    last_call: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "patient": patient,
        "language": language,
        "category": category,
        "last_call": last_call,
        "degraded": False,
    }


def _patient(rows: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    if not rows:
        return None
    ids = {str(r["patient_id"]) for r in rows}
    shared = len(ids) > 1
    return {
        "patient_id": None if shared else ids.pop(),
        "name": None if shared else _agreed([r["name"] for r in rows]),
        "language": _agreed([r["preferred_language"] for r in rows]),
        "specialty": _agreed([r["specialty"] for r in rows]),
        "shared": shared,
    }


def _last_call(rows: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    if not rows:
        return None
    row = rows[0]
    started = cast(datetime, row["started_at"])
    return {
        "linkedid": str(row["linkedid"]),
        "started_at": started.isoformat(),
        "outcome": row["outcome"],
        "category": row["category"],
    }
