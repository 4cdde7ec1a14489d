"""Matching call rows to cases (by the case id each call sent; else by caller, number
and order) and judging each one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from frontdesk.golive.cases import Case, build_cases, case_tag
from frontdesk.golive.verify import BY_CASE, BY_ORDER, CallRow, compare, match
from frontdesk.plan import Plan

T0 = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
RUN = "20261130T160000Z"


@pytest.fixture
def cases(golive_plan: Plan) -> list[Case]:
    return build_cases(golive_plan, date(2026, 12, 1), regimes=["closed", "office+triage"]).cases


def row_for(case: Case, n: int, **changes: object) -> CallRow:
    """The row a correct call of `case` leaves, started `n` seconds after T0."""
    e = case.expected
    values: dict[str, object] = {
        "linkedid": f"pbx-{n}",
        "caller": case.caller,
        "dialled": case.did,
        "started_at": T0 + timedelta(seconds=n),
        "category": e.category,
        "destination": e.destination,
        "language": e.language,
        "after_hours": e.after_hours,
        "holiday": e.holiday,
        "urgent": e.urgent,
        "patient_id": "GOLIVE-1" if e.known else None,
    }
    return CallRow(**(values | changes))  # type: ignore[arg-type]


def test_correct_rows_in_case_order_all_pass(cases: list[Case]) -> None:
    outcome = match(cases, [row_for(c, c.number) for c in cases], latest=False)
    assert outcome.passed
    assert [v.row.linkedid if v.row else None for v in outcome.verdicts] == [
        f"pbx-{c.number}" for c in cases
    ]
    assert outcome.surplus == []


def test_rows_pair_by_caller_and_number_in_order_whatever_the_query_order(
    cases: list[Case],
) -> None:
    rows = [row_for(c, c.number) for c in cases]
    outcome = match(cases, list(reversed(rows)), latest=False)
    assert outcome.passed


def test_a_call_routed_at_the_wrong_time_fails_with_the_reasons(cases: list[Case]) -> None:
    night = next(c for c in cases if c.id == "+13125550000/unknown/1,2@closed")
    day = next(c for c in cases if c.id == "+13125550000/unknown/1,2@office+triage")
    wrong = row_for(night, 1, destination=day.expected.destination, after_hours=False)
    assert compare(night.expected, wrong) == [
        "went to queue scheduling [primary_care], expected voicemail scheduling",
        "after hours: no, expected yes",
    ]
    outcome = match([night], [wrong], latest=False)
    assert not outcome.passed
    assert outcome.as_json()["failed"] == 1


def test_missing_rows_fail_the_last_cases_of_their_pair_and_surplus_is_reported(
    cases: list[Case],
) -> None:
    rows = [row_for(c, c.number) for c in cases]
    rows.pop(3)  # case 4's call never arrived
    extra = row_for(cases[-1], 10_000, linkedid="pbx-retry")  # one call too many
    outcome = match(cases, [*rows, extra], latest=False)
    pair = [
        v
        for v in outcome.verdicts
        if (v.case.caller, v.case.did) == (cases[3].caller, cases[3].did)
    ]
    assert pair[-1].row is None
    assert pair[-1].problems[0].startswith("no call row")
    assert outcome.surplus == [extra]
    assert not outcome.passed


def test_latest_takes_each_pairs_last_rows_so_an_earlier_run_is_ignored(
    cases: list[Case],
) -> None:
    earlier = [row_for(c, c.number, destination={"kind": "queue"}) for c in cases]
    now = [row_for(c, 1000 + c.number, linkedid=f"new-{c.number}") for c in cases]
    outcome = match(cases, [*earlier, *now], latest=True)
    assert outcome.passed
    assert all(v.row is not None and v.row.linkedid.startswith("new-") for v in outcome.verdicts)


def test_no_row_and_an_unrouted_row_are_failures(cases: list[Case]) -> None:
    case = cases[0]
    assert compare(case.expected, None)[0].startswith("no call row")
    unrouted = row_for(case, 1, destination=None, category=None)
    assert compare(case.expected, unrouted) == ["the call was never routed (hung up in the menu?)"]


def test_a_queue_case_the_acd_sent_to_after_hours_fails(cases: list[Case]) -> None:
    """Routed to the right queue, then sent on because the ACD judged the queue closed
    (at the real time, not the call's routed time: issue 16)."""
    queued = next(c for c in cases if c.expected.route == "queue")
    sent_on = row_for(queued, 1, sent_after_hours=True)
    assert compare(queued.expected, sent_on) == [
        "the ACD found its queue closed and sent it to after hours"
    ]
    voicemail = next(c for c in cases if c.expected.route == "voicemail")
    assert compare(voicemail.expected, row_for(voicemail, 2, sent_after_hours=True)) == []


def test_a_test_caller_found_in_the_directory_is_named(cases: list[Case]) -> None:
    case = next(c for c in cases if not c.expected.known)
    assert compare(case.expected, row_for(case, 1, patient_id="P-1")) == [
        "known patient: yes, expected no"
    ]


# -- by case id ---------------------------------------------------------------------------------
def tagged(case: Case, n: int, **changes: object) -> CallRow:
    return row_for(case, n, case_id=case_tag(RUN, case), **changes)


def _shuffled(cases: list[Case]) -> list[CallRow]:
    """Every case's call, the calls of each (caller, DID) pair started in reverse order
    (as calls placed side by side may start): order alone would pair them wrongly."""
    return [tagged(c, 10_000 - c.number) for c in cases]


def test_rows_are_matched_by_case_id_whatever_order_the_calls_started_in(
    cases: list[Case],
) -> None:
    rows = _shuffled(cases)
    outcome = match(cases, rows, latest=False, run=RUN)
    assert outcome.passed
    assert [v.row.linkedid if v.row else None for v in outcome.verdicts] == [
        f"pbx-{10_000 - c.number}" for c in cases
    ]
    assert {v.matched_by for v in outcome.verdicts} == {BY_CASE}
    assert outcome.as_json()["matched_by_case"] == len(cases)
    # The same rows without their ids, by order: the test above can fail.
    untagged = [CallRow(**(vars(r) | {"case_id": None})) for r in rows]
    assert not match(cases, untagged, latest=False, run=RUN).passed


def test_a_retried_case_takes_its_last_call_and_the_earlier_is_surplus(
    cases: list[Case],
) -> None:
    case = cases[0]
    first = tagged(case, 1, linkedid="first", destination={"kind": "queue"})
    retry = tagged(case, 2, linkedid="retry")
    outcome = match([case], [retry, first], latest=False, run=RUN)
    assert outcome.passed
    assert outcome.verdicts[0].row == retry
    assert outcome.surplus == [first]


def test_another_runs_case_ids_are_not_this_runs_calls(cases: list[Case]) -> None:
    case = cases[0]
    other = row_for(case, 1, linkedid="other", case_id=f"20260101T000000Z:{case.number}")
    mine = tagged(case, 2, linkedid="mine")
    outcome = match([case], [other, mine], latest=False, run=RUN)
    assert (outcome.verdicts[0].row, outcome.surplus) == (mine, [other])
    # Without --since every earlier run is in the rows: the other run's is left alone.
    outcome = match([case], [other, mine], latest=True, run=RUN)
    assert (outcome.verdicts[0].row, outcome.surplus) == (mine, [])
    alone = match([case], [other], latest=True, run=RUN)
    assert alone.verdicts[0].row is None
    assert alone.verdicts[0].problems[0].startswith("no call row")


def test_rows_without_a_case_id_fall_back_to_order_for_the_cases_left(
    cases: list[Case],
) -> None:
    pair = [c for c in cases if (c.caller, c.did) == (cases[0].caller, cases[0].did)][:3]
    rows = [
        tagged(pair[0], 5, linkedid="by-id"),  # started last, but says which case it is
        row_for(pair[1], 1, linkedid="plain-1"),  # no id (a header read that timed out)
        row_for(pair[2], 2, linkedid="plain-2"),
    ]
    outcome = match(pair, rows, latest=False, run=RUN)
    assert outcome.passed
    assert [(v.row.linkedid if v.row else None, v.matched_by) for v in outcome.verdicts] == [
        ("by-id", BY_CASE),
        ("plain-1", BY_ORDER),
        ("plain-2", BY_ORDER),
    ]


def test_a_run_without_an_id_is_matched_by_order_as_before(cases: list[Case]) -> None:
    rows = [tagged(c, c.number) for c in cases]  # ids of some run, but none given here
    outcome = match(cases, rows, latest=False)
    assert outcome.passed
    assert {v.matched_by for v in outcome.verdicts} == {BY_ORDER}
