"""When a call may carry its routing time: go-live mode, a declared caller, a sane time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.golive.override import case_id, decide, mask_case, should_read
from frontdesk.settings import Settings

NOW = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # 10:30 in Chicago
CALLERS = ("+13125559901",)


def test_only_a_declared_test_caller_in_go_live_mode_is_read() -> None:
    assert should_read(True, CALLERS, "+13125559901")
    assert not should_read(False, CALLERS, "+13125559901")  # mode off
    assert not should_read(True, CALLERS, "+17735550123")  # a patient
    assert not should_read(True, CALLERS, None)  # withheld
    assert not should_read(True, (), "+13125559901")  # the plan declares nobody


def test_a_time_with_an_offset_is_honoured_as_a_clock_offset() -> None:
    verdict = decide("2026-12-07T22:00:00-06:00", NOW)
    assert verdict.honoured
    assert verdict.reason == "honoured"
    assert verdict.at == datetime(2026, 12, 8, 4, 0, tzinfo=UTC)
    assert NOW + verdict.offset == verdict.at


def test_z_is_an_offset_too() -> None:
    assert decide("2026-12-24T15:00:00Z", NOW).honoured


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "absent"),
        ("  ", "absent"),
        ("next tuesday", "unparsable"),
        ("2026-13-01T10:00:00-06:00", "unparsable"),
        ("2026-12-07T22:00:00" + "0" * 80, "unparsable"),
        ("2026-12-07T22:00:00", "naive"),
        ("2031-01-01T10:00:00-06:00", "out_of_range"),
        ("1999-01-01T10:00:00-06:00", "out_of_range"),
    ],
)
def test_anything_else_is_refused_with_a_reason(header: str | None, reason: str) -> None:
    verdict = decide(header, NOW)
    assert (verdict.honoured, verdict.reason, verdict.offset) == (False, reason, timedelta(0))


@pytest.mark.parametrize(
    ("value", "on"), [(None, False), ("off", False), ("on", True), ("YES", True), ("0", False)]
)
def test_go_live_mode_is_a_setting_off_by_default(value: str | None, on: bool) -> None:
    env = {"FRONTDESK_GOLIVE": value} if value is not None else {}
    assert Settings.from_env(env).golive is on


@pytest.mark.parametrize(
    "header", ["20261130T160000Z:17", " 20261130T160000Z:245 ", "a", "A.b_c-d:9"]
)
def test_a_short_case_id_is_kept(header: str) -> None:
    assert case_id(header) == header.strip()


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "17 closed",  # a blank inside
        "x" * 41,  # too long
        "1;DROP TABLE calls",
        "<script>",
        "café:1",  # only ASCII letters
        "a\r\nX-Injected: 1",
    ],
)
def test_anything_else_is_no_case_id(header: str | None) -> None:
    assert case_id(header) is None


def test_a_refused_case_id_is_masked_for_the_log() -> None:
    assert mask_case("1;DROP TABLE calls") == "1?D" + "*" * 12
    assert mask_case("<a>") == "?a?"
    assert mask_case("x" * 100) == "xxx" + "*" * 12
    assert "DROP" not in mask_case("1;DROP TABLE calls")
