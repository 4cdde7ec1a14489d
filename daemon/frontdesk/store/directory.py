"""The patient directory in PostgreSQL: import the EHR's CSV export, look callers up.

`await import_directory(db, csv_path)` reads the CSV with the rules of
`frontdesk.routing.directory.Directory.from_csv` (same columns, same E.164 normalisation,
same rejected rows) and upserts it into `patients` in one transaction. Given
`vocabulary=Vocabulary.of(plan)` (the CLI always gives the plan's), a row whose
`preferred_language` is not one of the plan's languages, or whose `specialty` is not
one of its skills, is rejected with its reason; markup like `<b>en</b>` always is. It adds and
updates; it never deletes: a patient who is no longer in the file stays in the table
(the report counts them as `kept`), because a partial or truncated export must not wipe
the directory. Remove patients deliberately, in SQL.

`PatientLookup(pool).lookup(number)` answers like `Directory.lookup` (a number shared by
several patients gives `patient_id=None` and only the fields they agree on) and treats
any database trouble as an unknown caller: it never raises and never makes a caller wait
longer than `timeout`.

Logs carry counts and masked numbers only, never names or full numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import structlog

from frontdesk.routing.directory import Directory, Patient, RejectedRow, Vocabulary
from frontdesk.store.db import BoundedRead, Connection, Pool

log = structlog.get_logger("frontdesk.store")


@dataclass(frozen=True)
class ImportReport:
    """What one import did. `kept`: rows in `patients` that the file no longer lists
    (not deleted). `rows`: distinct (phone, patient_id) pairs in the file."""

    path: str
    rows: int
    inserted: int
    updated: int
    unchanged: int
    kept: int
    rejected: tuple[RejectedRow, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "kept": self.kept,
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
        }


class _RowsDirectory(Directory):
    """`Directory` with its parsed rows exposed, so the import reuses its parsing rules."""

    def rows(self) -> Iterator[tuple[str, Patient]]:
        for number, patients in self._by_number.items():
            for patient in patients:
                yield number, patient


_UPSERT = """
WITH incoming AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
        AS t (phone, patient_id, preferred_language, specialty)
), upserted AS (
    INSERT INTO patients AS p (phone, patient_id, preferred_language, specialty)
    SELECT phone, patient_id, preferred_language, specialty FROM incoming
    ON CONFLICT (phone, patient_id) DO UPDATE
        SET preferred_language = EXCLUDED.preferred_language,
            specialty = EXCLUDED.specialty,
            updated_at = now()
        WHERE (p.preferred_language, p.specialty)
              IS DISTINCT FROM (EXCLUDED.preferred_language, EXCLUDED.specialty)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated
FROM upserted
"""

_KEPT = """
SELECT count(*) FROM patients AS p
WHERE NOT EXISTS (
    SELECT 1 FROM unnest($1::text[], $2::text[]) AS t (phone, patient_id)
    WHERE t.phone = p.phone AND t.patient_id = p.patient_id
)
"""


async def import_directory(
    db: Connection | Pool,
    csv_path: Path | str,
    region: str = "US",
    *,
    vocabulary: Vocabulary | None = None,
) -> ImportReport:
    """Upsert the CSV directory into `patients` in one transaction; return the report.

    Raises `frontdesk.routing.directory.DirectoryError` when the file is unreadable or
    lacks the `phone`/`patient_id` columns (nothing is written). Patients no longer in
    the file are NOT deleted (see `ImportReport.kept`). A (phone, patient_id) listed twice
    is stored once, the last row winning.
    """
    path = Path(csv_path)
    directory = cast(_RowsDirectory, _RowsDirectory.from_csv(path, region, vocabulary))
    latest: dict[tuple[str, str], Patient] = {}
    for number, patient in directory.rows():
        assert patient.patient_id is not None  # from_csv rejects rows without one
        latest[number, patient.patient_id] = patient
    phones = [key[0] for key in latest]
    ids = [key[1] for key in latest]
    languages = [p.language for p in latest.values()]
    specialties = [p.specialty for p in latest.values()]
    if not hasattr(db, "acquire"):
        counts = await _write(db, phones, ids, languages, specialties)
    else:
        async with cast(Pool, db).acquire() as conn:
            counts = await _write(conn, phones, ids, languages, specialties)
    inserted, updated, kept = counts
    report = ImportReport(
        path=str(path),
        rows=len(latest),
        inserted=inserted,
        updated=updated,
        unchanged=len(latest) - inserted - updated,
        kept=kept,
        rejected=tuple(directory.rejected),
    )
    log.info(
        "store.directory_imported",
        rows=report.rows,
        inserted=report.inserted,
        updated=report.updated,
        unchanged=report.unchanged,
        kept=report.kept,
        rejected=len(report.rejected),
    )
    return report


async def _write(
    conn: Connection,
    phones: list[str],
    ids: list[str],
    languages: list[str | None],
    specialties: list[str | None],
) -> tuple[int, int, int]:
    async with conn.transaction():
        rows = await conn.fetch(_UPSERT, phones, ids, languages, specialties)
        kept = await conn.fetchval(_KEPT, phones, ids)
    return int(rows[0]["inserted"]), int(rows[0]["updated"]), int(kept)


class PatientLookup:
    """Caller lookup in `patients`, for the call path: at most `timeout` seconds, and
    any failure (timeout, unreachable or unmigrated database, any error) is an unknown
    caller (`None`). A failure is logged once per outage, with the number masked; the
    recovery is logged too."""

    def __init__(self, pool: Pool, timeout: float = 0.25) -> None:
        self._pool = pool
        self._read: BoundedRead[list[Mapping[str, Any]]] = BoundedRead("lookup", timeout)

    @property
    def available(self) -> bool:
        """False after a failed lookup, until one succeeds again."""
        return not self._read.down

    async def lookup(self, number: str | None) -> Patient | None:
        if number is None:
            return None
        rows = await self._read.run(self._fetch(number), number)
        if rows is None:
            return None
        found = Directory(
            (
                number,
                Patient(
                    str(r["patient_id"]),
                    cast(str | None, r["preferred_language"]),
                    cast(str | None, r["specialty"]),
                ),
            )
            for r in rows
        )
        return found.lookup(number)

    async def _fetch(self, number: str) -> list[Mapping[str, Any]]:
        async with self._pool.acquire() as conn:
            return await conn.fetch(
                "SELECT patient_id, preferred_language, specialty FROM patients WHERE phone = $1",
                number,
            )
