"""Caller-ID normalisation to E.164 and masking for logs."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.phone import mask_number, normalize_number

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
FAST = settings(max_examples=200, deadline=None)


@pytest.mark.parametrize(
    "raw",
    [
        "(312) 555-1007",
        "3125551007",
        "13125551007",
        "+1 312 555 1007",
        "+13125551007",
        "1-312-555-1007",
        "312.555.1007",
        "  3125551007  ",
        "+1 (312) 555-1007",
    ],
)
def test_us_numbers_normalise_to_e164(raw: str) -> None:
    assert normalize_number(raw) == "+13125551007"


def test_extension_is_dropped() -> None:
    assert normalize_number("312-555-1007 ext 12") == "+13125551007"


@pytest.mark.parametrize(
    "raw",
    [
        "anonymous",
        "Anonymous",
        "",
        "   ",
        "Restricted",
        "unknown",
        "private",
        "WITHHELD",
        "123",
        "555-1007",
        "0000000000",
        "0123456789",
        "1235551007",
        "abcdefghij",
        "312555ABCD",
        "1312555100a",
        "31255510071",
        "+",
        "1" * 100,
        "3" * 100,
        "(312)" + "-" * 87 + "555-1007",
        "+1 312 555 1007" + ";" * 85,
        "+1 312 555 1007 " * 7,
    ],
)
def test_withheld_or_malformed_caller_id_is_none(raw: str) -> None:
    assert normalize_number(raw) is None


def test_none_is_none() -> None:
    assert normalize_number(None) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+442071838750", "+442071838750"),
        ("+44 20 7183 8750", "+442071838750"),
        ("+33 1 42 68 53 00", "+33142685300"),
        ("+49 30 123456", "+4930123456"),
        ("011 44 20 7183 8750", "+442071838750"),
    ],
)
def test_international_numbers_are_kept(raw: str, expected: str) -> None:
    assert normalize_number(raw) == expected


def test_other_region_default() -> None:
    assert normalize_number("020 7183 8750", region="GB") == "+442071838750"
    assert normalize_number("+1 312 555 1007", region="GB") == "+13125551007"


@FAST
@given(st.text(max_size=40))
def test_never_raises_and_yields_e164_or_none(raw: str) -> None:
    result = normalize_number(raw)
    assert result is None or E164.match(result), result


@FAST
@given(st.text(alphabet="0123456789 ()-.+", max_size=20))
def test_normalising_is_idempotent(raw: str) -> None:
    result = normalize_number(raw)
    if result is not None:
        assert normalize_number(result) == result


@FAST
@given(
    area=st.integers(200, 999),
    exchange=st.integers(200, 999),
    line=st.integers(0, 9999),
)
def test_written_forms_of_one_us_number_agree(area: int, exchange: int, line: int) -> None:
    e164 = f"+1{area}{exchange}{line:04d}"
    forms = [
        f"({area}) {exchange}-{line:04d}",
        f"{area}{exchange}{line:04d}",
        f"1{area}{exchange}{line:04d}",
        f"+1 {area} {exchange} {line:04d}",
    ]
    results = {normalize_number(form) for form in forms}
    assert len(results) == 1
    assert results <= {e164, None}


# --- mask_number ---------------------------------------------------------------------------


def test_mask_keeps_only_the_last_four_digits() -> None:
    assert mask_number("+13125551007") == "+*******1007"
    assert mask_number("+442071838750") == "+********8750"


@pytest.mark.parametrize("number", [None, ""])
def test_mask_of_no_number(number: str | None) -> None:
    assert mask_number(number) == "withheld"


@pytest.mark.parametrize("number", ["1234", "+1", "12"])
def test_mask_of_very_short_numbers_hides_everything(number: str) -> None:
    assert not any(c.isdigit() for c in mask_number(number))


@FAST
@given(st.from_regex(r"\+[1-9][0-9]{1,14}", fullmatch=True))
def test_mask_of_e164_never_shows_more_than_four_digits(number: str) -> None:
    masked = mask_number(number)
    digits = [c for c in masked if c.isdigit()]
    assert len(digits) <= 4
    assert number.endswith("".join(digits))
    if len(number) > 5:
        assert masked.endswith(number[-4:])
        assert masked.startswith("+")


@pytest.mark.parametrize("number", ["12345", "123456", "3125551007"])
def test_mask_of_raw_digits_never_shows_more_than_four_digits(number: str) -> None:
    masked = mask_number(number)
    assert sum(c.isdigit() for c in masked) <= 4
