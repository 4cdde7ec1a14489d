"""`frontdesk check`'s safety rules: broken variants of the reference plan, one rule each.

Every refusal names the plan key to fix (and its line); the clinical-voicemail rule is
judged on the path matrix of the week of 2026-11-30, holidays and unstaffed hours
included. Load errors (unknown names, bad intervals, missing labels) come from
`frontdesk.plan` and are refused before any safety rule runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from frontdesk.plan import PlanError, PlanIssue, read_plan
from frontdesk.plan.errors import KeyPath
from frontdesk.routing.paths import PathMatrix
from frontdesk.routing.safety import check_plan
from tests.conftest import REFERENCE_PLAN

WEEK_OF = date(2026, 11, 30)
EditPlan = Callable[..., Path]

SINGLE_BILLING = "only one staff member, Chloe Martin (2003): routing tied to one person breaks when staff change"
SINGLE_REFERRALS = (
    "only one staff member, Fay Chen (2006): routing tied to one person breaks when staff change"
)
MUST_REACH_A_PERSON = "clinical callers must reach a live person or a nurse line at every hour"
TRIAGE_VOICEMAIL = (
    "after_hours: {transfer: after_hours_nurse}",
    "after_hours: {voicemail: triage}",
)
URGENT_SECTION = (
    "urgent:                           # chest pain, difficulty breathing\n"
    "  business_hours: {queue: nurse_triage, priority: front}\n"
    "  after_hours: {transfer: urgent_nurse_line}\n"
)


def checked(path: Path) -> tuple[list[PlanIssue], PathMatrix]:
    plan, lines = read_plan(path)
    return check_plan(plan, lines, week_of=WEEK_OF)


def issues_of(path: Path) -> list[PlanIssue]:
    return checked(path)[0]


def errors(issues: list[PlanIssue]) -> list[tuple[int, KeyPath, str]]:
    return [(i.line, i.path, i.message) for i in issues if i.severity == "error"]


def warnings(issues: list[PlanIssue]) -> list[tuple[int, KeyPath, str]]:
    return [(i.line, i.path, i.message) for i in issues if i.severity == "warning"]


def load_errors(path: Path) -> list[tuple[int, KeyPath, str]]:
    with pytest.raises(PlanError) as caught:
        read_plan(path)
    assert all(i.severity == "error" for i in caught.value.issues)
    return [(i.line, i.path, i.message) for i in caught.value.issues]


def at_risk_routes(matrix: PathMatrix) -> set[tuple[str, str]]:
    return {(o.route.id, o.regime.id) for o in matrix.at_risk()}


# -- the reference plan ---------------------------------------------------------------
def test_reference_plan_has_zero_errors() -> None:
    assert errors(issues_of(REFERENCE_PLAN)) == []


def test_reference_plan_passes_with_only_the_single_member_warnings() -> None:
    issues = issues_of(REFERENCE_PLAN)
    assert warnings(issues) == [
        (43, ("queues", "billing"), SINGLE_BILLING),
        (47, ("queues", "referrals"), SINGLE_REFERRALS),
    ]
    assert [i.severity for i in issues] == ["warning", "warning"]
    assert str(issues[0]) == f"{REFERENCE_PLAN}:43: queues.billing: warning: {SINGLE_BILLING}"


def test_reference_plan_has_no_clinical_route_at_risk() -> None:
    _, matrix = checked(REFERENCE_PLAN)
    assert matrix.at_risk() == []


# -- clinical paths never end in voicemail ------------------------------------------------
def test_clinical_queue_with_voicemail_after_hours_is_refused(edited_plan: EditPlan) -> None:
    issues = issues_of(edited_plan(TRIAGE_VOICEMAIL))
    assert errors(issues) == [
        (
            56,
            ("queues", "nurse_triage", "after_hours"),
            "clinical calls can end in voicemail 'triage' (menu 3 > 2 (for any other clinical "
            "question); menu 4 > 1 (for a prescription refill); menu 4 > 3 (for test results); "
            f"and 4 more) when closed, holiday, unstaffed: {MUST_REACH_A_PERSON}",
        )
    ]


def test_refusal_is_printed_as_file_line_key_message(edited_plan: EditPlan) -> None:
    path = edited_plan(TRIAGE_VOICEMAIL)
    (refusal,) = [i for i in issues_of(path) if i.severity == "error"]
    assert str(refusal).startswith(
        f"{path}:56: queues.nurse_triage.after_hours: clinical calls can end in voicemail 'triage'"
    )


def test_clinical_voicemail_covers_the_refill_number_and_every_clinical_leaf(
    edited_plan: EditPlan,
) -> None:
    _, matrix = checked(edited_plan(TRIAGE_VOICEMAIL))
    routes = {route for route, _ in at_risk_routes(matrix)}
    assert routes == {
        "+13125550010/unknown/",  # the refill line (DID entry)
        "+13125550000/unknown/3,2",
        "+13125550000/unknown/4,1",
        "+13125550000/unknown/4,3",
        "+13125550000/unknown/9,3,2",
        "+13125550000/unknown/9,4,1",
        "+13125550000/unknown/9,4,3",
    }
    regimes = {
        regime for route, regime in at_risk_routes(matrix) if route.endswith("0010/unknown/")
    }
    assert regimes == {"closed", "holiday", "unstaffed"}


def test_refill_number_alone_into_voicemail_is_refused(edited_plan: EditPlan) -> None:
    path = edited_plan(
        (
            "{category: refill, queue: nurse_triage, skill: pharmacy}",
            "{category: refill, queue: billing}",
        )
    )
    assert errors(issues_of(path)) == [
        (
            46,
            ("queues", "billing", "after_hours"),
            "clinical calls can end in voicemail 'billing' (number +13125550010: refill -> billing) "
            f"when closed, triage, office+triage, holiday, unstaffed: {MUST_REACH_A_PERSON}",
        )
    ]


def test_queue_with_escalate_after_makes_its_calls_clinical(edited_plan: EditPlan) -> None:
    # billing is not a clinical category, but a queue that escalates is a clinical path.
    path = edited_plan(
        (
            "    schedule: billing\n    max_wait: 5m\n",
            "    schedule: billing\n    max_wait: 5m\n"
            "    escalate_after: 10m\n    escalate_to: charge_nurse\n",
        )
    )
    assert errors(issues_of(path)) == [
        (
            48,
            ("queues", "billing", "after_hours"),
            "clinical calls can end in voicemail 'billing' (menu 2 (for billing or insurance); "
            "menu 4 > 4 (for workers' compensation or insurance forms); "
            "menu 2 (para facturación o seguros) [es by key 9]; and 1 more) "
            f"when closed, triage, office+triage, holiday, unstaffed: {MUST_REACH_A_PERSON}",
        )
    ]


FRONT_DESK_VOICEMAIL = (
    "after_hours: {transfer: answering_service}",
    "after_hours: {voicemail: front_desk, callback: next business day}",
)


def test_front_desk_voicemail_refuses_silence_in_the_clinical_submenu(
    edited_plan: EditPlan,
) -> None:
    issues, matrix = checked(edited_plan(FRONT_DESK_VOICEMAIL))
    assert errors(issues) == [
        (
            60,
            ("queues", "front_desk", "after_hours"),
            "clinical calls can end in voicemail 'front_desk' (menu 3: operator key; "
            "menu 3: no input; menu 3: invalid key 3; and 3 more) "
            f"when closed, triage, holiday, unstaffed: {MUST_REACH_A_PERSON}",
        )
    ]
    risky = at_risk_routes(matrix)
    assert ("+13125550000/unknown/3,-,-,-", "triage") in risky
    assert ("+13125550000/unknown/3,3,3,3", "holiday") in risky
    # Silence in the main menu has no category yet: not a clinical path.
    assert ("+13125550000/unknown/-,-,-", "closed") not in risky


def test_front_desk_voicemail_refuses_the_operator_key_in_the_clinical_submenu(
    edited_plan: EditPlan,
) -> None:
    _, matrix = checked(edited_plan(FRONT_DESK_VOICEMAIL))
    assert ("+13125550000/unknown/3,0", "closed") in at_risk_routes(matrix)


def test_clinical_transfer_to_an_external_closed_after_hours_is_refused(
    edited_plan: EditPlan,
) -> None:
    path = edited_plan(
        (
            'after_hours_nurse: {dial: "PJSIP/+13125550142@trunk"}',
            'after_hours_nurse: {dial: "PJSIP/+13125550142@trunk", hours: office}',
        )
    )
    assert any("after_hours_nurse" in message for _, _, message in errors(issues_of(path)))


# -- urgent ----------------------------------------------------------------------------------
def test_urgent_leaf_without_urgent_section_is_refused(edited_plan: EditPlan) -> None:
    issues = issues_of(edited_plan((URGENT_SECTION, "")))
    found = [(key, message) for _, key, message in errors(issues)]
    assert found == [
        (("urgent",), "urgent calls need a business_hours queue (used by menu 3 > 1)"),
        (
            ("urgent",),
            "urgent calls after hours go to nothing; they need a transfer to a target open 24/7 "
            "(used by menu 3 > 1)",
        ),
        (
            ("urgent", "after_hours"),
            "clinical calls can end in voicemail 'front_desk' (menu 3 > 1 (if you have chest pain "
            "or difficulty breathing); menu 3 > 1 (si tiene dolor de pecho o dificultad para "
            "respirar) [es by key 9]) when closed, triage, office+triage, office+billing+triage, "
            f"holiday, unstaffed: {MUST_REACH_A_PERSON}",
        ),
    ]


def test_urgent_without_business_hours_queue_is_refused(edited_plan: EditPlan) -> None:
    path = edited_plan(("  business_hours: {queue: nurse_triage, priority: front}\n", ""))
    assert errors(issues_of(path)) == [
        (68, ("urgent",), "urgent calls need a business_hours queue (used by menu 3 > 1)")
    ]


NOT_24_7 = (
    "'urgent_nurse_line' is not open 24/7: set hours: \"24/7\" on external.urgent_nurse_line "
    "or transfer urgent calls to a line that is"
)


def test_urgent_transfer_to_external_without_hours_is_refused(edited_plan: EditPlan) -> None:
    path = edited_plan((', hours: "24/7"', ""))
    assert errors(issues_of(path)) == [(70, ("urgent", "after_hours", "transfer"), NOT_24_7)]


def test_urgent_transfer_to_external_with_office_hours_is_refused(edited_plan: EditPlan) -> None:
    path = edited_plan(('hours: "24/7"', "hours: triage"))
    assert errors(issues_of(path)) == [
        (
            65,
            ("external", "urgent_nurse_line", "hours"),
            "clinical calls can be sent to 'urgent_nurse_line' while it is closed (menu 3 > 1 "
            "(if you have chest pain or difficulty breathing); menu 3 > 1 (si tiene dolor de pecho "
            f"o dificultad para respirar) [es by key 9]) when closed, holiday: {MUST_REACH_A_PERSON}",
        ),
        (70, ("urgent", "after_hours", "transfer"), NOT_24_7),
    ]


def test_urgent_voicemail_after_hours_is_refused(edited_plan: EditPlan) -> None:
    path = edited_plan(
        ("after_hours: {transfer: urgent_nurse_line}", "after_hours: {voicemail: triage}")
    )
    assert errors(issues_of(path)) == [
        (
            70,
            ("urgent", "after_hours"),
            "urgent calls after hours go to a voicemail box; they need a transfer to a target "
            "open 24/7 (used by menu 3 > 1)",
        ),
        (
            70,
            ("urgent", "after_hours"),
            "clinical calls can end in voicemail 'triage' (menu 3 > 1 (if you have chest pain or "
            "difficulty breathing); menu 3 > 1 (si tiene dolor de pecho o dificultad para "
            f"respirar) [es by key 9]) when closed, holiday, unstaffed: {MUST_REACH_A_PERSON}",
        ),
    ]


# -- menu limits --------------------------------------------------------------------------------
TOO_MANY = (
    "5 options; a menu has at most 4 (operator and language keys aside): "
    "callers forget longer lists"
)


def test_five_options_in_the_main_menu_are_refused(edited_plan: EditPlan) -> None:
    path = edited_plan(
        (
            '    2:\n      label: {en: "for billing',
            '    5: {label: {en: "for directions", es: "para direcciones"}, '
            "category: directions, queue: front_desk}\n"
            '    2:\n      label: {en: "for billing',
        )
    )
    assert errors(issues_of(path)) == [(76, ("menu", "options"), TOO_MANY)]


def test_five_options_in_a_submenu_are_refused(edited_plan: EditPlan) -> None:
    path = edited_plan(
        (
            "          4: {label: {en: \"for workers'",
            '          5: {label: {en: "for records", es: "para expedientes"}, '
            "category: records, queue: referrals}\n"
            "          4: {label: {en: \"for workers'",
        )
    )
    assert errors(issues_of(path)) == [(101, ("menu", "options", "4", "menu", "options"), TOO_MANY)]


def test_operator_and_language_keys_do_not_count_as_options() -> None:
    # The reference main menu: 4 options, plus operator key 0 and Spanish key 9.
    assert not [i for i in issues_of(REFERENCE_PLAN) if i.path[:1] == ("menu",)]


def test_a_third_menu_level_is_refused(edited_plan: EditPlan) -> None:
    path = edited_plan(
        (
            '2: {label: {en: "for any other clinical question", es: "para cualquier otra pregunta '
            'clínica"}, queue: nurse_triage, skill: clinical}',
            "2:\n"
            '            label: {en: "for any other clinical question", es: "para cualquier otra '
            'pregunta clínica"}\n'
            "            menu:\n"
            "              options:\n"
            '                1: {label: {en: "for adults", es: "para adultos"}, '
            "queue: nurse_triage, skill: clinical}",
        )
    )
    assert errors(issues_of(path)) == [
        (
            99,
            ("menu", "options", "3", "menu", "options", "2", "menu"),
            "menus go at most 2 levels deep",
        )
    ]


# -- staffing -------------------------------------------------------------------------------------
def test_queue_nobody_is_in_is_refused(edited_plan: EditPlan) -> None:
    path = edited_plan(
        ("queues: [referrals, scheduling, front_desk]", "queues: [scheduling, front_desk]")
    )
    issues = issues_of(path)
    assert errors(issues) == [(47, ("queues", "referrals"), "no staff member is in this queue")]
    assert warnings(issues) == [(43, ("queues", "billing"), SINGLE_BILLING)]


def test_single_member_queue_is_only_a_warning() -> None:
    issues = issues_of(REFERENCE_PLAN)
    single = [i for i in issues if i.message.startswith("only one staff member")]
    assert [(i.severity, i.path) for i in single] == [
        ("warning", ("queues", "billing")),
        ("warning", ("queues", "referrals")),
    ]


# -- every category has somewhere to go ---------------------------------------------------------
def test_queue_without_after_hours_is_refused(edited_plan: EditPlan) -> None:
    path = edited_plan(
        (
            "    max_wait: 4m\n    after_hours: {voicemail: referrals, callback: next business day}\n",
            "    max_wait: 4m\n",
        )
    )
    assert errors(issues_of(path)) == [
        (
            47,
            ("queues", "referrals"),
            "no after_hours: category 'referral' (menu 4 > 2) has nowhere to go when it is closed",
        )
    ]


def test_clinical_queue_without_after_hours_is_refused_twice(edited_plan: EditPlan) -> None:
    path = edited_plan(("    after_hours: {transfer: after_hours_nurse}\n", ""))
    found = [(line, key) for line, key, _ in errors(issues_of(path))]
    assert found == [
        (51, ("queues", "nurse_triage")),
        (51, ("queues", "nurse_triage", "after_hours")),
    ]
    assert errors(issues_of(path))[0][2] == (
        "no after_hours: category 'clinical' (menu 3 > 2) has nowhere to go when it is closed"
    )


def test_queue_whose_schedule_never_opens_is_refused(edited_plan: EditPlan) -> None:
    path = edited_plan(
        ('    mon-thu: "09:00-16:00"\n    fri: "09:00-12:00"\n', "    sun: closed\n")
    )
    assert errors(issues_of(path)) == [
        (
            43,
            ("queues", "billing", "schedule"),
            "schedule 'billing' is never open: category 'billing' has no business-hours destination",
        )
    ]


# -- warnings --------------------------------------------------------------------------------------
def test_language_skill_without_fallback_is_a_warning(edited_plan: EditPlan) -> None:
    path = edited_plan(
        (
            "      fallback: language_line     # when no logged-in agent of the queue has the skill\n",
            "",
        )
    )
    issues = issues_of(path)
    assert errors(issues) == []
    assert (
        15,
        ("practice", "languages", "es"),
        "no fallback: when no agent with 'spanish' is logged in, 'es' callers are queued for anyone",
    ) in warnings(issues)


def test_leaf_skill_no_queue_member_holds_is_a_warning(edited_plan: EditPlan) -> None:
    path = edited_plan(("queue: referrals}", "queue: referrals, skill: pharmacy}"))
    issues = issues_of(path)
    assert errors(issues) == []
    assert (
        103,
        ("menu", "options", "4", "menu", "options", "2", "skill"),
        "no member of queue 'referrals' has skill 'pharmacy': these callers wait 60s before "
        "anyone may answer",
    ) in warnings(issues)


# -- load errors (frontdesk.plan): refused before the safety rules ------------------------------
LOAD_ERRORS = [
    pytest.param(
        (
            '{en: "for billing or insurance", es: "para facturación o seguros"}',
            '{en: "for billing"}',
        ),
        (88, ("menu", "options", "2", "label"), "no label in language 'es'"),
        id="label-missing-a-language",
    ),
    pytest.param(
        ("schedule: billing", "schedule: billling"),
        (
            44,
            ("queues", "billing", "schedule"),
            "unknown schedule 'billling' (did you mean 'billing'?)",
        ),
        id="unknown-schedule",
    ),
    pytest.param(
        ("queue: billing\n", "queue: biling\n"),
        (90, ("menu", "options", "2", "queue"), "unknown queue 'biling' (did you mean 'billing'?)"),
        id="unknown-queue",
    ),
    pytest.param(
        ("{transfer: after_hours_nurse}", "{transfer: after_hours_nurze}"),
        (
            56,
            ("queues", "nurse_triage", "after_hours", "transfer"),
            "unknown external 'after_hours_nurze' (did you mean 'after_hours_nurse'?)",
        ),
        id="unknown-external",
    ),
    pytest.param(
        ("escalate_to: charge_nurse", "escalate_to: charge_nurze"),
        (
            55,
            ("queues", "nurse_triage", "escalate_to"),
            "unknown role 'charge_nurze' (did you mean 'charge_nurse'?)",
        ),
        id="unknown-role",
    ),
    pytest.param(
        ("skill: pharmacy}   # refill", "skill: pharmacie}   # refill"),
        (
            22,
            ("numbers", "+13125550010", "skill"),
            "unknown skill 'pharmacie' (did you mean 'pharmacy'?)",
        ),
        id="unknown-skill",
    ),
    pytest.param(
        ('mon-fri: "08:00-17:00"', 'mon-fri: "08:00-08:00"'),
        (26, ("schedules", "office", "mon-fri"), "interval '08:00-08:00' is empty"),
        id="empty-interval",
    ),
    pytest.param(
        ('mon-fri: "08:00-17:00"', 'mon-fri: "17:00-08:00"'),
        (
            26,
            ("schedules", "office", "mon-fri"),
            "interval '17:00-08:00' is reversed; an overnight shift is two intervals on two days",
        ),
        id="reversed-interval",
    ),
    pytest.param(
        ('    sat: "09:00-12:00"', '    sat: "09:00-12:00"\n    fri: "17:00-19:00"'),
        (
            33,
            ("schedules", "triage", "fri"),
            "fri: 17:00-19:00 overlaps 07:30-18:00 (from 'mon-fri')",
        ),
        id="overlapping-intervals",
    ),
    pytest.param(
        ("timezone: America/Chicago", "timezone: America/Chicgo"),
        (
            8,
            ("practice", "timezone"),
            "unknown time zone 'America/Chicgo' (did you mean 'America/Chicago'?)",
        ),
        id="unknown-time-zone",
    ),
]


@pytest.mark.parametrize(("replacement", "expected"), LOAD_ERRORS)
def test_load_error_names_line_key_and_problem(
    edited_plan: EditPlan, replacement: tuple[str, str], expected: tuple[int, KeyPath, str]
) -> None:
    assert load_errors(edited_plan(replacement)) == [expected]


def test_label_in_a_language_the_practice_does_not_offer_is_refused(
    edited_plan: EditPlan,
) -> None:
    path = edited_plan(('es: "para facturación o seguros"', 'fr: "pour la facturation"'))
    assert load_errors(path) == [
        (88, ("menu", "options", "2", "label"), "no label in language 'es'"),
        (88, ("menu", "options", "2", "label", "fr"), "'fr' is not a practice language"),
    ]


def test_every_load_error_is_reported_at_once(edited_plan: EditPlan) -> None:
    path = edited_plan(
        ("timezone: America/Chicago", "timezone: America/Chicgo"),
        ('mon-fri: "08:00-17:00"', 'mon-fri: "17:00-08:00"'),
        ("schedule: billing", "schedule: billling"),
    )
    assert [(line, key) for line, key, _ in load_errors(path)] == [
        (8, ("practice", "timezone")),
        (26, ("schedules", "office", "mon-fri")),
        (44, ("queues", "billing", "schedule")),
    ]
