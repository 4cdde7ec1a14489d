"""The patient directory: caller-ID number -> patient, read from the EHR's CSV export.

Rows with an unusable phone number are rejected (and reported), never guessed at.
A number shared by several patients (a family phone) is still a known patient, but
only what all of them agree on (language, specialty) is used, and no patient id.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from frontdesk.phone import normalize_number

COLUMNS = ("phone", "patient_id", "preferred_language", "specialty")


@dataclass(frozen=True)
class Patient:
    patient_id: str | None
    language: str | None = None
    specialty: str | None = None


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str


class DirectoryError(ValueError):
    """The directory file cannot be used at all (missing file or columns)."""


class Directory:
    def __init__(self, patients: Iterable[tuple[str, Patient]] = ()) -> None:
        self._by_number: dict[str, list[Patient]] = {}
        for number, patient in patients:
            self._by_number.setdefault(number, []).append(patient)
        self.rejected: list[RejectedRow] = []

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_number.values())

    def lookup(self, number: str | None) -> Patient | None:
        if number is None:
            return None
        found = self._by_number.get(number)
        if not found:
            return None
        if len({p.patient_id for p in found}) == 1:
            return found[0]  # one patient, perhaps listed twice
        return Patient(
            patient_id=None,
            language=_agreed(p.language for p in found),
            specialty=_agreed(p.specialty for p in found),
        )

    @classmethod
    def from_csv(cls, path: Path, region: str = "US") -> Directory:
        try:
            handle = path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise DirectoryError(f"{path}: cannot read the directory: {exc.strerror}") from None
        with handle:
            reader = csv.DictReader(handle)
            missing = [c for c in ("phone", "patient_id") if c not in (reader.fieldnames or ())]
            if missing:
                raise DirectoryError(f"{path}: missing column(s) {', '.join(missing)}")
            directory = cls()
            for row in reader:
                directory._add_row(reader.line_num, row, region)
        return directory

    def _add_row(self, line: int, row: dict[str, str | None], region: str) -> None:
        number = normalize_number(row.get("phone"), region)
        patient_id = (row.get("patient_id") or "").strip()
        if number is None:
            self.rejected.append(RejectedRow(line, "phone number missing or malformed"))
        elif not patient_id:
            self.rejected.append(RejectedRow(line, "patient_id missing"))
        else:
            patient = Patient(
                patient_id,
                (row.get("preferred_language") or "").strip().lower() or None,
                (row.get("specialty") or "").strip() or None,
            )
            self._by_number.setdefault(number, []).append(patient)


def _agreed(values: Iterable[str | None]) -> str | None:
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None
