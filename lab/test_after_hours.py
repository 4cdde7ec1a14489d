"""Calls on a real Asterisk 22 after hours (the daemon restarted with its practice clock
on a Monday at 21:00): the urgent line, voicemail with a recording on disk, and the
after-hours transfer through the trunk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab.harness import AFTER_HOURS, BUSINESS_HOURS, Lab
from lab.sipp import Call, wait_until
from lab.test_business_hours import MAIN, REFILL, keys, trunk_invites


@pytest.fixture(scope="module")
def evening(lab: Lab) -> Iterator[Lab]:
    lab.restart_daemon(AFTER_HOURS)
    yield lab
    lab.restart_daemon(BUSINESS_HOURS)


def test_urgent_after_hours_goes_to_the_24_7_nurse_line(evening: Lab) -> None:
    caller = "+13125552051"
    evening.call(Call(caller, MAIN, keys("3", "1"), hold=20))
    wait_until(lambda: trunk_invites(evening, "+13125550199", caller), "the nurse line to ring", 40)
    row = evening.call_row(caller)
    assert row["urgent"] is True
    assert row["outcome"] == "transferred_external"


def test_after_hours_billing_takes_a_voicemail_recorded_on_disk(evening: Lab) -> None:
    caller = "+13125552052"
    before = set(_recordings(evening))
    evening.call(Call(caller, MAIN, keys("2"), hold=15, speak=17.0))
    row = evening.call_row(caller, timeout=60)
    assert (row["after_hours"], row["outcome"]) == (True, "voicemail")
    new = [p for p in _recordings(evening) if p not in before]
    assert new, "no recording on disk"
    assert max(p.stat().st_size for p in new) > 8000  # at least ~1 s of 8 kHz audio


def test_after_hours_refill_is_transferred_to_the_after_hours_nurse(evening: Lab) -> None:
    caller = "+13125552053"
    evening.call(Call(caller, REFILL, (), hold=15))
    wait_until(lambda: trunk_invites(evening, "+13125550142", caller), "the after-hours nurse")
    assert evening.call_row(caller)["outcome"] == "transferred_external"


def _recordings(lab: Lab) -> list:  # type: ignore[type-arg]
    return list((lab.pbx.spool / "recording" / "frontdesk" / "billing").glob("*"))
