"""The patient directory: caller-ID number -> patient, read from the EHR's CSV export.

Rows with an unusable phone number are rejected (and reported), never guessed at, and
so are rows whose `preferred_language` or `specialty` is not a plain code (a language
tag like `en` or `pt-br`, a skill name like `primary_care`): markup such as `<b>en</b>`
is never stored nor shown. Given a `Vocabulary` (`Vocabulary.of(plan)`), the language
must also be one of the plan's languages and the specialty one of the plan's skills.
A number shared by several patients (a family phone) is still a known patient, but
only what all of them agree on (language, specialty) is used, and no patient id.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from frontdesk.phone import normalize_number

if TYPE_CHECKING:
    from frontdesk.plan import Plan

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


LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")
SPECIALTY_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Vocabulary:
    """The values a patient row may carry: the plan's languages and skills."""

    languages: frozenset[str]
    specialties: frozenset[str]

    @classmethod
    def of(cls, plan: Plan) -> Vocabulary:
        skills: set[str] = set()
        menus = [plan.menu]
        while menus:
            menu = menus.pop()
            for option in menu.options.values():
                if option.skill is not None:
                    skills.add(option.skill)
                if option.menu is not None:
                    menus.append(option.menu)
        skills |= {entry.skill for entry in plan.numbers.values() if entry.skill is not None}
        skills |= {skill for member in plan.staff for skill in member.skills}
        skills -= {lang.skill for lang in plan.practice.languages.values() if lang.skill}
        return cls(frozenset(plan.practice.languages), frozenset(skills))


def row_problem(
    language: str | None, specialty: str | None, vocabulary: Vocabulary | None = None
) -> str | None:
    """Why a row's language or specialty is refused (None when it is fine)."""
    if language is not None:
        if not LANGUAGE_CODE.fullmatch(language):
            return "preferred_language is not a language code"
        if vocabulary is not None and language not in vocabulary.languages:
            return (
                f"preferred_language {language!r} is not one of the plan's languages "
                f"({', '.join(sorted(vocabulary.languages))})"
            )
    if specialty is not None:
        if not SPECIALTY_CODE.fullmatch(specialty):
            return "specialty is not a skill name"
        if vocabulary is not None and specialty not in vocabulary.specialties:
            return f"specialty {specialty!r} is not one of the plan's skills"
    return None


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
    def from_csv(
        cls, path: Path, region: str = "US", vocabulary: Vocabulary | None = None
    ) -> Directory:
        handle = _open_regular(path)
        reader = csv.DictReader(handle)
        try:
            with handle:
                missing = [c for c in ("phone", "patient_id") if c not in (reader.fieldnames or ())]
                if missing:
                    raise DirectoryError(f"{path}: missing column(s) {', '.join(missing)}")
                directory = cls()
                for row in reader:
                    directory._add_row(reader.line_num, row, region, vocabulary)
        except UnicodeDecodeError:
            raise DirectoryError(
                f"{path}: cannot read the directory: not UTF-8 text (near line "
                f"{reader.line_num + 1}); export the CSV as UTF-8"
            ) from None
        except csv.Error as exc:
            raise DirectoryError(
                f"{path}: line {reader.line_num}: not a usable CSV ({exc})"
            ) from None
        except OSError as exc:
            raise DirectoryError(
                f"{path}: cannot read the directory: {exc.strerror or exc}"
            ) from None
        return directory

    def _add_row(
        self, line: int, row: dict[str, str | None], region: str, vocabulary: Vocabulary | None
    ) -> None:
        number = normalize_number(row.get("phone"), region)
        patient_id = (row.get("patient_id") or "").strip()
        language = (row.get("preferred_language") or "").strip().lower() or None
        specialty = (row.get("specialty") or "").strip() or None
        if number is None:
            self.rejected.append(RejectedRow(line, "phone number missing or malformed"))
        elif not patient_id:
            self.rejected.append(RejectedRow(line, "patient_id missing"))
        elif (problem := row_problem(language, specialty, vocabulary)) is not None:
            self.rejected.append(RejectedRow(line, problem))
        else:
            patient = Patient(patient_id, language, specialty)
            self._by_number.setdefault(number, []).append(patient)


def _open_regular(path: Path) -> io.TextIOWrapper:
    """`path` opened as UTF-8 text (a BOM skipped), if it is a regular file. A FIFO would
    block forever and a device like `/dev/zero` never ends: both are refused unread. It is
    opened non-blocking and checked with `fstat`, so nothing swapped in meanwhile hangs us.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise DirectoryError(f"{path}: cannot read the directory: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DirectoryError(f"{path}: cannot read the directory: not a regular file")
        os.set_blocking(fd, True)
        return open(fd, newline="", encoding="utf-8-sig", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def _agreed(values: Iterable[str | None]) -> str | None:
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None
