"""The report metrics over hand-built `calls` rows (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from frontdesk.reports.metrics import (
    SEED_TARGETS,
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


def test_transfer_rate_counts_calls_staff_answered_then_transferred_either_way() -> None:
    rows = [
        answered(transferred=True, phone_transfers=1),  # the phone's transfer button
        answered(transferred=True, staff_transfers=1),  # through frontdesk, to a colleague
        answered(transferred=True),  # the row's flag alone (older rows, no events)
        *(answered() for _ in range(7)),
        # Moved to another queue, then hung up there: staff answered it all the same.
        row(queue="billing", agent="2003", transferred=True, staff_transfers=1, moved=True,
            abandoned=True, outcome="abandoned"),
        # An IVR transfer (no one from staff) is not a staff transfer.
        row(outcome="transferred_external"),
    ]  # fmt: skip
    result = report(rows)
    transfers = result.metric("transfers")
    assert dict(transfers.counts) == {"transferred": 4, "answered_by_staff": 11}
    assert transfers.value == pytest.approx(4 / 11)
    assert transfers.target == Target(high=0.15)
    assert transfers.passed is False
    assert transfers.seed == SEED_TARGETS["transfers"]
    calm = report([answered(transferred=True), *(answered() for _ in range(9))])
    assert calm.metric("transfers").value == pytest.approx(0.1)
    assert calm.metric("transfers").passed is True


def test_misrouted_is_moved_to_another_queue_or_category_or_wrong_department() -> None:
    rows = [
        answered(transferred=True, staff_transfers=1, moved=True),
        answered(wrong_department=True),
        answered(transferred=True, staff_transfers=1, moved=True, wrong_department=True),
        answered(transferred=True, staff_transfers=1),  # to a colleague: not misrouted
        answered(transferred=True, phone_transfers=1),  # the phone's button: not misrouted
        *(answered() for _ in range(15)),
    ]
    misrouted = report(rows).metric("misrouted")
    assert dict(misrouted.counts) == {
        "misrouted": 3,
        "moved": 2,
        "wrong_department": 2,
        "answered_by_staff": 20,
    }
    assert misrouted.value == pytest.approx(0.15)
    assert misrouted.passed is False
    assert misrouted.display_target == "≤ 10.0 %"
    assert misrouted.seed is not None
    assert misrouted.seed.describe() == "25-40 % → 5-10 %"
    assert report(rows[3:]).metric("misrouted").value == 0
    assert report(rows[3:]).metric("misrouted").passed is True


def test_the_seed_targets_are_the_issues_and_judge_at_the_aims_far_end() -> None:
    assert {k: (s.before, s.aim, s.better) for k, s in SEED_TARGETS.items()} == {
        "misrouted": ((0.25, 0.40), (0.05, 0.10), "lower"),
        "transfers": ((0.35, 0.50), (0.08, 0.15), "lower"),
        "fcr": ((0.55, 0.65), (0.80, 0.88), "higher"),
    }
    targets = Targets()
    assert (targets.misrouted, targets.transfers, targets.fcr) == (
        Target(high=0.10),
        Target(high=0.15),
        Target(low=0.80),
    )
    assert SEED_TARGETS["fcr"].describe() == "55-65 % → 80-88 %"
    assert SEED_TARGETS["fcr"].as_json()["aim"] == [0.80, 0.88]


def test_aht_is_the_mean_talk_time_of_answered_calls_within_2_5_to_4_minutes() -> None:
    rows = [answered(talk_s=120), answered(talk_s=240), answered(talk_s=None), row(talk_s=999)]
    aht = report(rows).metric("aht")
    assert aht.value == 180
    assert aht.passed is True
    assert dict(aht.counts) == {"answered_with_talk_time": 2, "answered": 3}
    assert aht.display_target == "2.5 min to 4.0 min"
    assert report([answered(talk_s=60)]).metric("aht").passed is False
    assert report([answered(talk_s=300)]).metric("aht").passed is False


def test_fcr_is_resolved_by_the_first_agent_with_no_new_call_within_72_hours() -> None:
    day = START + timedelta(hours=10)
    rows = [
        # A new call from the same number 2 days later, about anything: not resolved.
        answered(day, caller="+13125550101", category="billing"),
        row(day + timedelta(days=2), caller="+13125550101", category="refill",
            outcome="abandoned"),
        # The next call 4 days later is a new matter: resolved.
        answered(day, caller="+13125550102", category="billing"),
        answered(day + timedelta(days=4), caller="+13125550102", category="billing"),
        # A repeat after the range still counts (the loader fetches 72 more hours).
        answered(END - timedelta(hours=2), caller="+13125550103"),
        row(END + timedelta(hours=20), caller="+13125550103"),
        # Transferred or misrouted: not resolved by the first agent.
        answered(day, caller="+13125550104", transferred=True, phone_transfers=1),
        answered(day, caller="+13125550105", wrong_department=True),
        # Withheld numbers cannot be followed: out of the ratio.
        answered(day, caller=None, category="billing"),
        # Not answered by staff: out of the ratio.
        row(day, caller="+13125550106", outcome="voicemail"),
    ]  # fmt: skip
    fcr = report(rows).metric("fcr")
    assert dict(fcr.counts) == {"resolved": 2, "answered_known_caller": 6, "answered_withheld": 1}
    assert fcr.value == pytest.approx(2 / 6)
    assert fcr.passed is False
    assert "72 hours" in fcr.definition
    just_after = answered(day + timedelta(hours=71), caller="+13125550107")
    just_past = answered(day + timedelta(hours=72, seconds=1), caller="+13125550108")
    pairs = [answered(day, caller="+13125550107"), just_after]
    pairs += [answered(day, caller="+13125550108"), just_past]
    assert report(pairs).metric("fcr").counts["resolved"] == 3  # all but the first of 107


def test_by_category_counts_where_the_menu_routed_the_call() -> None:
    day = START + timedelta(hours=10)
    rows = [
        # Routed to billing, moved to scheduling by staff: billing's misroute.
        answered(day, caller="+13125550101", category="billing", transferred=True,
                 staff_transfers=1, moved=True),
        answered(day, caller="+13125550102", category="billing"),
        answered(day, caller="+13125550103", category="scheduling"),
        answered(day, caller="+13125550104", category="scheduling"),
        answered(day, caller="+13125550105", category="scheduling", wrong_department=True),
        answered(day, caller="+13125550106"),  # no category
        row(day, category="refill", outcome="voicemail"),  # nobody answered: no row
    ]  # fmt: skip
    groups = {f.key: f for f in report(rows).by_category}
    assert list(groups) == ["scheduling", "billing", "(none)"]
    billing, scheduling = groups["billing"], groups["scheduling"]
    assert (billing.answered, billing.transferred, billing.misrouted) == (2, 1, 1)
    assert billing.value("misrouted") == pytest.approx(0.5)
    assert billing.display("fcr") == "50.0 %"
    assert billing.met("fcr") is False
    assert (scheduling.answered, scheduling.transferred, scheduling.misrouted) == (3, 0, 1)
    assert scheduling.value("transfers") == 0
    assert scheduling.met("transfers") is True
    assert scheduling.value("fcr") == pytest.approx(2 / 3)
    data = billing.as_json()
    assert data["counts"]["moved"] == 1
    assert data["misrouted"] == {"value": 0.5, "display": "50.0 %", "met": False}


def test_by_week_covers_every_local_week_of_the_range_oldest_first() -> None:
    start = datetime(2026, 11, 25, tzinfo=CHICAGO)  # a Wednesday
    end = datetime(2026, 12, 17, tzinfo=CHICAGO)  # to Wednesday 16 December, included
    first_week = start.astimezone(UTC) + timedelta(hours=10)
    rows = [
        answered(first_week, caller="+13125550101", transferred=True, staff_transfers=1),
        answered(first_week, caller="+13125550102"),
        # Sunday 29 November 23:30 in Chicago is Monday in UTC: still the first week.
        answered(datetime(2026, 11, 30, 5, 30, tzinfo=UTC), caller="+13125550103"),
        answered(datetime(2026, 12, 15, 16, tzinfo=UTC), caller="+13125550104",
                 wrong_department=True),
    ]  # fmt: skip
    weeks = report(rows, start=start, end=end).by_week
    assert [(w.key, w.label, w.answered) for w in weeks] == [
        ("2026-11-23", "2026-11-25 to 2026-11-29", 3),
        ("2026-11-30", "2026-11-30 to 2026-12-06", 0),
        ("2026-12-07", "2026-12-07 to 2026-12-13", 0),
        ("2026-12-14", "2026-12-14 to 2026-12-16", 1),
    ]
    assert weeks[0].value("transfers") == pytest.approx(1 / 3)
    assert weeks[1].value("fcr") is None
    assert weeks[1].display("misrouted") == "—"
    assert weeks[1].met("misrouted") is None
    assert weeks[3].value("misrouted") == 1


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
    seeds = {m["key"]: m["seed"] for m in data["metrics"] if m["seed"] is not None}
    assert seeds["transfers"]["display"] == "35-50 % → 8-15 %"
    assert set(seeds) == {"misrouted", "transfers", "fcr"}
    assert set(data["routing"]) == {"seed_targets", "by_category", "by_week"}
    assert data["routing"]["by_week"][0]["fcr"]["value"] == 1.0
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
