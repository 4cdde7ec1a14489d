"""The report metrics over hand-built `calls` rows (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from frontdesk.reports.metrics import (
    CallRow,
    Report,
    Target,
    Targets,
    compute,
    format_value,
)

CHICAGO = ZoneInfo("America/Chicago")
START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
END = START + timedelta(days=7)
_ids = count()


def row(at: datetime = START + timedelta(hours=10), **fields: Any) -> CallRow:
    return CallRow(linkedid=f"call-{next(_ids)}", started_at=at, **fields)


def answered(at: datetime = START + timedelta(hours=10), **fields: Any) -> CallRow:
    fields.setdefault("queue", "front_desk")
    fields.setdefault("wait_s", 20)
    fields.setdefault("talk_s", 180)
    return row(at, outcome="answered", **fields)


def report(rows: list[CallRow], **kwargs: Any) -> Report:
    kwargs.setdefault("start", START)
    kwargs.setdefault("end", END)
    kwargs.setdefault("zone", CHICAGO)
    return compute(rows, **kwargs)


def test_an_empty_range_gives_none_not_division_errors() -> None:
    result = report([])
    assert result.total_calls == 0
    for metric in result.metrics:
        if metric.key == "after_hours_clinical_voicemail":
            assert (metric.value, metric.passed) == (0, True)
        else:
            assert metric.value is None, metric.key
            assert metric.passed is None, metric.key
            assert metric.display_value == "—"
    assert result.calls_per_hour == (0,) * 24
    assert dict(result.calls_per_category) == {}


def test_rows_outside_the_range_are_not_measured() -> None:
    result = report([answered(START - timedelta(seconds=1)), answered(END), answered()])
    assert result.total_calls == 1
    assert result.metric("aht").counts["answered"] == 1


def test_misrouted_and_transfer_rate_count_answered_calls_staff_transferred() -> None:
    rows = [answered(transferred=True), *(answered() for _ in range(9))]
    # An IVR transfer (not answered by staff) is neither misrouted nor a manual transfer.
    rows.append(row(transferred=True, outcome="transferred_external"))
    result = report(rows)
    for key, limit in (("misrouted", 0.10), ("transfers", 0.15)):
        metric = result.metric(key)
        assert metric.value == pytest.approx(0.1)
        assert dict(metric.counts) == {"transferred": 1, "answered": 10}
        assert metric.target == Target(high=limit)
        assert metric.passed is True
    failing = report([answered(transferred=True), answered()])
    assert failing.metric("misrouted").passed is False
    assert failing.metric("transfers").display_value == "50.0 %"


def test_aht_is_the_mean_talk_time_of_answered_calls_within_2_5_to_4_minutes() -> None:
    rows = [answered(talk_s=120), answered(talk_s=240), answered(talk_s=None), row(talk_s=999)]
    aht = report(rows).metric("aht")
    assert aht.value == 180
    assert aht.passed is True
    assert dict(aht.counts) == {"answered_with_talk_time": 2, "answered": 3}
    assert aht.display_target == "2.5 min to 4.0 min"
    assert report([answered(talk_s=60)]).metric("aht").passed is False
    assert report([answered(talk_s=300)]).metric("aht").passed is False


def test_fcr_counts_a_repeat_call_for_the_same_category_within_7_days() -> None:
    day = START + timedelta(hours=10)
    rows = [
        # Called back about the same thing 2 days later: not resolved (the repeat is too).
        answered(day, caller="+13125550101", category="billing"),
        row(
            day + timedelta(days=2), caller="+13125550101", category="billing", outcome="voicemail"
        ),
        # Another category, or after 7 days: resolved.
        answered(day, caller="+13125550102", category="billing"),
        answered(day + timedelta(hours=1), caller="+13125550102", category="refill"),
        answered(day, caller="+13125550103", category="scheduling"),
        # The repeat after the range still counts (the loader fetches 7 more days).
        answered(day + timedelta(days=6), caller="+13125550103", category="scheduling"),
        row(END + timedelta(days=1), caller="+13125550103", category="scheduling"),
        # Withheld numbers cannot be followed: out of the ratio.
        answered(day, caller=None, category="billing"),
    ]
    fcr = report(rows).metric("fcr")
    assert dict(fcr.counts) == {"resolved": 2, "answered_known_caller": 5, "answered_withheld": 1}
    assert fcr.value == pytest.approx(0.4)
    assert fcr.passed is False
    long_after = answered(day + timedelta(days=8), caller="+13125550104", category="billing")
    assert report([answered(day, caller="+13125550104", category="billing"), long_after]).metric(
        "fcr"
    ).value == pytest.approx(1.0)


def test_after_hours_clinical_calls_reaching_voicemail_must_be_zero() -> None:
    rows = [
        row(after_hours=True, category="clinical", voicemail=True),
        row(after_hours=True, category="refill", outcome="voicemail"),
        row(after_hours=True, category="billing", urgent=True, voicemail=True),
        row(after_hours=True, category="test_results", transferred=True),  # nurse line: fine
        row(after_hours=True, category="billing", voicemail=True),  # not clinical
        row(after_hours=False, category="clinical", voicemail=True),  # in hours
    ]
    metric = report(rows).metric("after_hours_clinical_voicemail")
    assert metric.value == 3
    assert dict(metric.counts) == {"calls": 3, "after_hours_clinical": 4}
    assert metric.passed is False
    assert metric.display_target == "≤ 0"


def test_abandonment_leaves_short_abandons_out_and_service_level_counts_long_ones() -> None:
    rows = [
        row(queue="front_desk", abandoned=True, wait_s=5),  # short
        row(queue="front_desk", outcome="abandoned", wait_s=10),  # at the threshold: counted
        row(queue="front_desk", abandoned=True, wait_s=None),  # unknown wait: counted
        row(outcome="abandoned"),  # hung up in the menu: never reached a queue
        answered(wait_s=30),
        answered(wait_s=60),
        answered(wait_s=61),
        answered(wait_s=None),
    ]
    result = report(rows)
    abandonment = result.metric("abandonment")
    assert dict(abandonment.counts) == {"abandoned": 2, "short_abandoned": 1, "queued": 7}
    assert abandonment.value == pytest.approx(2 / 7)
    assert abandonment.passed is None  # no target in the recipe
    sl = result.metric("service_level")
    assert dict(sl.counts) == {"answered_within": 2, "answered": 4, "abandoned": 2}
    assert sl.value == pytest.approx(2 / 6)
    asa = result.metric("asa")
    assert asa.value == pytest.approx((30 + 60 + 61) / 3)
    stricter = report(
        rows, short_abandon=timedelta(seconds=11), service_level_target=timedelta(seconds=30)
    )
    assert stricter.metric("abandonment").counts["short_abandoned"] == 2
    assert stricter.metric("service_level").counts["answered_within"] == 1
    assert "11 s" in stricter.metric("abandonment").definition


def test_only_short_abandons() -> None:
    result = report([row(queue="q", abandoned=True, wait_s=w) for w in (0, 3, 9)])
    assert result.metric("abandonment").value == 0
    assert dict(result.metric("abandonment").counts) == {
        "abandoned": 0,
        "short_abandoned": 3,
        "queued": 3,
    }
    assert result.metric("service_level").value is None
    assert result.metric("asa").value is None


def test_calls_per_hour_on_the_dst_days_in_chicago() -> None:
    spring = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # 00:00 CST; 02:00 does not exist
    rows = [
        row(spring + timedelta(minutes=90)),  # 01:30 CST
        row(spring + timedelta(minutes=150)),  # 08:30 UTC = 03:30 CDT
        row(spring + timedelta(hours=18)),  # 19:00 CDT
    ]
    per_hour = report(rows, start=spring, end=spring + timedelta(days=1)).calls_per_hour
    assert (per_hour[1], per_hour[2], per_hour[3], per_hour[19]) == (1, 0, 1, 1)
    autumn = datetime(2026, 11, 1, 5, 0, tzinfo=UTC)  # 00:00 CDT; 01:00-02:00 comes twice
    rows = [row(autumn + timedelta(minutes=90)), row(autumn + timedelta(minutes=150))]
    per_hour = report(rows, start=autumn, end=autumn + timedelta(days=1)).calls_per_hour
    assert (per_hour[1], per_hour[2]) == (2, 0)
    assert sum(per_hour) == 2


def test_calls_per_category_most_first_with_unknown_named() -> None:
    rows = [row(category="billing"), row(category="refill"), row(category="refill"), row()]
    assert list(report(rows).calls_per_category.items()) == [
        ("refill", 2),
        ("(none)", 1),
        ("billing", 1),
    ]


def test_custom_targets_and_json() -> None:
    targets = Targets(abandonment=Target(high=0.05), fcr=None)
    result = report([answered(caller="+13125550101")], targets=targets)
    assert result.metric("fcr").passed is None
    assert result.metric("abandonment").passed is True
    data = result.as_json()
    assert data["zone"] == "America/Chicago"
    assert [m["key"] for m in data["metrics"]] == [
        "misrouted",
        "aht",
        "fcr",
        "after_hours_clinical_voicemail",
        "transfers",
        "abandonment",
        "service_level",
        "asa",
    ]
    assert all(m["definition"] for m in data["metrics"])


def test_naive_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compute([], start=datetime(2026, 1, 1), end=END, zone=CHICAGO)


def test_format_value() -> None:
    assert format_value(0.8, "ratio") == "80.0 %"
    assert format_value(45, "seconds") == "45 s"
    assert format_value(150, "seconds") == "2.5 min"
    assert format_value(3, "count") == "3"


def test_local_day_bounds_across_dst_compare_as_instants() -> None:
    start = datetime(2026, 3, 8, tzinfo=CHICAGO)
    end = datetime(2026, 3, 9, tzinfo=CHICAGO)  # 23 hours later
    inside = row(datetime(2026, 3, 9, 4, 30, tzinfo=UTC))  # 23:30 CDT on the 8th
    outside = row(datetime(2026, 3, 9, 5, 30, tzinfo=UTC))  # 00:30 CDT on the 9th
    result = report([inside, outside], start=start, end=end)
    assert result.total_calls == 1
    assert result.calls_per_hour[23] == 1
