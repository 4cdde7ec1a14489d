"""The patient directory CSV: lookup by normalised caller ID, rejected rows, shared numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontdesk.routing.directory import Directory, DirectoryError, Patient, RejectedRow
from tests.conftest import REFERENCE_DIRECTORY

HEADER = "phone,patient_id,preferred_language,specialty\n"


def _write(tmp_path: Path, text: str, *, encoding: str = "utf-8") -> Path:
    path = tmp_path / "directory.csv"
    path.write_bytes(text.encode(encoding))
    return path


def _load(tmp_path: Path, text: str) -> Directory:
    return Directory.from_csv(_write(tmp_path, text))


# --- the reference directory ---------------------------------------------------------------


def test_reference_directory_loads_seven_patients() -> None:
    directory = Directory.from_csv(REFERENCE_DIRECTORY)
    assert len(directory) == 7
    assert directory.rejected == []


def test_formatted_number_row_is_found_in_e164() -> None:
    directory = Directory.from_csv(REFERENCE_DIRECTORY)
    assert directory.lookup("+13125551007") == Patient("P-1007", "es", "orthopedics")


def test_reference_rows() -> None:
    directory = Directory.from_csv(REFERENCE_DIRECTORY)
    assert directory.lookup("+13125551002") == Patient("P-1002", "es", "cardiology")
    assert directory.lookup("+13125551004") == Patient("P-1004", "es", None)
    assert directory.lookup("+13125551006") == Patient("P-1006", "fr", "primary_care")


def test_unknown_and_withheld_callers_are_not_found() -> None:
    directory = Directory.from_csv(REFERENCE_DIRECTORY)
    assert directory.lookup("+13125559999") is None
    assert directory.lookup(None) is None


def test_lookup_expects_normalised_numbers() -> None:
    directory = Directory.from_csv(REFERENCE_DIRECTORY)
    assert directory.lookup("(312) 555-1007") is None


# --- rejected rows -------------------------------------------------------------------------


def test_bad_phone_and_missing_patient_id_are_rejected_with_line_numbers(tmp_path: Path) -> None:
    directory = _load(
        tmp_path,
        HEADER
        + "+13125551001,P-1,en,cardiology\n"  # line 2
        + "not a phone,P-2,en,\n"  # line 3
        + "+13125551003,,en,\n"  # line 4
        + ",P-4,en,\n"  # line 5
        + "+13125551005,   ,en,\n"  # line 6
        + "0000000000,P-6,en,\n"  # line 7
        + "3125551007,P-7,es,\n",  # line 8
    )
    assert len(directory) == 2
    assert directory.rejected == [
        RejectedRow(3, "phone number missing or malformed"),
        RejectedRow(4, "patient_id missing"),
        RejectedRow(5, "phone number missing or malformed"),
        RejectedRow(6, "patient_id missing"),
        RejectedRow(7, "phone number missing or malformed"),
    ]
    assert directory.lookup("+13125551003") is None
    assert directory.lookup("+13125551007") == Patient("P-7", "es", None)


def test_short_row_has_missing_fields(tmp_path: Path) -> None:
    directory = _load(tmp_path, HEADER + "+13125551001\n+13125551002,P-2\n")
    assert directory.rejected == [RejectedRow(2, "patient_id missing")]
    assert directory.lookup("+13125551002") == Patient("P-2", None, None)


def test_line_numbers_count_blank_lines(tmp_path: Path) -> None:
    directory = _load(tmp_path, HEADER + "\n+13125551001,P-1,en,\n\nbad,P-2,en,\n")
    assert directory.rejected == [RejectedRow(5, "phone number missing or malformed")]


def test_fields_are_trimmed_and_language_lowercased(tmp_path: Path) -> None:
    directory = _load(tmp_path, HEADER + " (312) 555-1001 , P-1 , ES , cardiology \n")
    assert directory.lookup("+13125551001") == Patient("P-1", "es", "cardiology")


# --- shared numbers ------------------------------------------------------------------------


def test_shared_number_is_known_without_patient_id(tmp_path: Path) -> None:
    directory = _load(
        tmp_path,
        HEADER + "+13125551001,P-1,es,cardiology\n(312) 555-1001,P-2,es,orthopedics\n",
    )
    assert len(directory) == 2
    assert directory.lookup("+13125551001") == Patient(None, "es", None)


def test_shared_number_keeps_agreed_specialty_only(tmp_path: Path) -> None:
    directory = _load(
        tmp_path,
        HEADER + "+13125551001,P-1,es,cardiology\n3125551001,P-2,en,cardiology\n",
    )
    assert directory.lookup("+13125551001") == Patient(None, None, "cardiology")


def test_shared_number_with_one_blank_language_agrees_on_nothing(tmp_path: Path) -> None:
    directory = _load(
        tmp_path,
        HEADER + "+13125551001,P-1,es,\n+13125551001,P-2,,\n+13125551001,P-3,es,\n",
    )
    assert directory.lookup("+13125551001") == Patient(None, None, None)


def test_other_numbers_are_unaffected_by_a_shared_one(tmp_path: Path) -> None:
    directory = _load(
        tmp_path,
        HEADER + "+13125551001,P-1,es,\n+13125551001,P-2,en,\n+13125551002,P-3,en,cardiology\n",
    )
    assert directory.lookup("+13125551002") == Patient("P-3", "en", "cardiology")


def test_repeated_row_of_one_patient_is_still_that_patient(tmp_path: Path) -> None:
    directory = _load(
        tmp_path,
        HEADER + "+13125551001,P-1,es,cardiology\n(312) 555-1001,P-1,es,cardiology\n",
    )
    assert directory.lookup("+13125551001") == Patient("P-1", "es", "cardiology")


# --- unusable files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        ("phone,language\n", "patient_id"),
        ("patient_id,specialty\n", "phone"),
        ("number,id\n", "phone, patient_id"),
        ("", "phone, patient_id"),
    ],
)
def test_missing_columns_raise(tmp_path: Path, header: str, missing: str) -> None:
    path = _write(tmp_path, (header + "+13125551001,P-1\n") if header else "")
    with pytest.raises(DirectoryError) as caught:
        Directory.from_csv(path)
    assert str(caught.value) == f"{path}: missing column(s) {missing}"


def test_only_phone_and_patient_id_are_required(tmp_path: Path) -> None:
    directory = _load(tmp_path, "patient_id,phone\nP-1,3125551001\n")
    assert directory.lookup("+13125551001") == Patient("P-1", None, None)


def test_missing_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(DirectoryError) as caught:
        Directory.from_csv(path)
    assert str(caught.value).startswith(f"{path}: cannot read the directory: ")


# --- encodings and line ends ----------------------------------------------------------------


def test_bom_prefixed_csv_works(tmp_path: Path) -> None:
    path = _write(tmp_path, HEADER + "(312) 555-1007,P-1007,es,orthopedics\n", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    directory = Directory.from_csv(path)
    assert len(directory) == 1
    assert directory.lookup("+13125551007") == Patient("P-1007", "es", "orthopedics")


def test_crlf_line_ends_work(tmp_path: Path) -> None:
    directory = _load(tmp_path, HEADER.replace("\n", "\r\n") + "3125551001,P-1,en,\r\nx,P-2,,\r\n")
    assert directory.lookup("+13125551001") == Patient("P-1", "en", None)
    assert directory.rejected == [RejectedRow(3, "phone number missing or malformed")]


def test_quoted_fields(tmp_path: Path) -> None:
    directory = _load(tmp_path, HEADER + '"(312) 555-1001","P-1","en","primary_care"\n')
    assert directory.lookup("+13125551001") == Patient("P-1", "en", "primary_care")


def test_empty_directory(tmp_path: Path) -> None:
    directory = _load(tmp_path, HEADER)
    assert len(directory) == 0
    assert directory.rejected == []
    assert directory.lookup("+13125551001") is None
