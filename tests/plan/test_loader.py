"""Loading plans: the reference plan into frozen models; every error as file:line: key: message."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from frontdesk.plan import Plan, PlanError, PlanIssue, load_plan, read_plan
from frontdesk.plan.schedule import Interval
from tests.conftest import REFERENCE_PLAN, reference_text

EditPlan = Callable[..., Path]


def _line(path: Path, needle: str) -> int:
    """The 1-based line of the only line of `path` holding `needle` (not followed by a letter)."""
    pattern = re.compile(re.escape(needle) + r"(?!\w)")
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [n for n, text in enumerate(lines, 1) if pattern.search(text)]
    assert len(found) == 1, f"{needle!r} is on lines {found}"
    return found[0]


def _issues(path: Path) -> list[PlanIssue]:
    with pytest.raises(PlanError) as caught:
        load_plan(path, "plan.yaml")
    return caught.value.issues


def _only(path: Path) -> PlanIssue:
    issues = _issues(path)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


# --- the reference plan --------------------------------------------------------------------


def test_reference_plan_loads_into_typed_values(plan: Plan) -> None:
    assert plan.practice.name == "Lakeside Multi-Specialty Group"
    assert plan.practice.timezone == "America/Chicago"
    assert plan.practice.emergency_notice is True
    assert plan.practice.default_language == "en"
    assert plan.practice.holidays.country == "US"
    assert plan.practice.holidays.closed == (date(2026, 12, 24), date(2026, 12, 31))
    assert plan.queues["billing"].max_wait == timedelta(minutes=5)
    assert plan.queues["nurse_triage"].escalate_after == timedelta(minutes=8)
    assert plan.menu.timeout == timedelta(seconds=5)
    assert plan.menu.retries == 2
    assert plan.menu.operator_key == "0"


def test_reference_plan_applies_queue_defaults(plan: Plan) -> None:
    queue = plan.queues["scheduling"]
    assert queue.skill_relax_after == timedelta(seconds=60)
    assert queue.ring_timeout == timedelta(seconds=15)
    assert queue.wrap_up == timedelta(seconds=30)


def test_reference_plan_numbers_and_menus(plan: Plan) -> None:
    assert set(plan.numbers) == {"+13125550000", "+13125550010"}
    assert plan.numbers["+13125550000"].is_main
    refill = plan.numbers["+13125550010"]
    assert (refill.category, refill.queue, refill.skill) == ("refill", "nurse_triage", "pharmacy")
    assert list(plan.menu.options) == ["1", "2", "3", "4"]
    chest_pain = plan.menu.options["3"].menu
    assert chest_pain is not None
    assert chest_pain.options["1"].urgent is True
    assert plan.practice.languages["es"].key == "9"


def test_reference_plan_schedules_and_staff(plan: Plan) -> None:
    assert plan.schedules["billing"].days[4] == (Interval(9 * 60, 12 * 60),)
    assert plan.schedules["triage"].days[5] == (Interval(9 * 60, 12 * 60),)
    assert plan.schedules["office"].days[6] == ()
    assert [s.extension for s in plan.staff] == ["2001", "2002", "2003", "2004", "2005", "2006"]
    assert plan.staff[3].roles == ("charge_nurse",)
    assert plan.staff[0].level("spanish") == 5
    assert plan.staff[0].level("orthopedics") == 0


def test_read_plan_returns_the_source_map() -> None:
    loaded, lines = read_plan(REFERENCE_PLAN, "lakeside.yaml")
    assert loaded.practice.timezone == "America/Chicago"
    assert lines.file == "lakeside.yaml"
    text = reference_text().splitlines()
    assert text[lines.line(("queues", "billing", "schedule")) - 1].strip() == "schedule: billing"
    assert text[lines.line(("queues", "billing"), key=True) - 1].strip() == "billing:"


@pytest.mark.parametrize(
    ("target", "attribute", "value"),
    [
        ("plan", "menu", None),
        ("practice", "name", "Elsewhere"),
        ("queue", "max_wait", timedelta(0)),
        ("staff", "extension", "9999"),
        ("option", "queue", "billing"),
    ],
)
def test_models_are_frozen(plan: Plan, target: str, attribute: str, value: object) -> None:
    objects = {
        "plan": plan,
        "practice": plan.practice,
        "queue": plan.queues["billing"],
        "staff": plan.staff[0],
        "option": plan.menu.options["2"],
    }
    with pytest.raises(ValidationError, match="frozen"):
        setattr(objects[target], attribute, value)


def test_collections_in_the_model_are_tuples(plan: Plan) -> None:
    assert isinstance(plan.staff, tuple)
    assert isinstance(plan.staff[0].queues, tuple)
    assert isinstance(plan.practice.holidays.closed, tuple)


# --- reference errors: file:line: key.path: message -----------------------------------------


def test_unknown_schedule_names_file_line_path_and_suggestion(edited_plan: EditPlan) -> None:
    path = edited_plan(("schedule: billing", "schedule: billling"))
    line = _line(path, "schedule: billling")
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    expected = (
        f"plan.yaml:{line}: queues.billing.schedule: "
        "unknown schedule 'billling' (did you mean 'billing'?)"
    )
    assert expected in str(caught.value)
    assert str(caught.value) == f"{path}:{line}: queues.billing.schedule: " + (
        "unknown schedule 'billling' (did you mean 'billing'?)"
    )


def test_display_name_replaces_the_path(edited_plan: EditPlan) -> None:
    path = edited_plan(("schedule: billing", "schedule: billling"))
    with pytest.raises(PlanError) as caught:
        load_plan(path, "lakeside.yaml")
    assert str(caught.value).startswith("lakeside.yaml:44: queues.billing.schedule: ")


def test_unknown_queue_in_a_submenu(edited_plan: EditPlan) -> None:
    path = edited_plan(
        ("category: referral, queue: referrals", "category: referral, queue: referal")
    )
    issue = _only(path)
    assert issue.line == _line(path, "queue: referal")
    assert issue.path == ("menu", "options", "4", "menu", "options", "2", "queue")
    assert issue.message == "unknown queue 'referal' (did you mean 'referrals'?)"


def test_unknown_name_without_a_near_match_has_no_suggestion(edited_plan: EditPlan) -> None:
    path = edited_plan(("escalate_to: charge_nurse", "escalate_to: janitor"))
    issue = _only(path)
    assert (
        str(issue)
        == f"plan.yaml:{_line(path, 'janitor')}: queues.nurse_triage.escalate_to: unknown role 'janitor'"
    )


# --- unknown keys --------------------------------------------------------------------------


def test_unknown_key_suggests_the_model_field(edited_plan: EditPlan) -> None:
    path = edited_plan(("    escalate_to: charge_nurse", "    escalate_too: charge_nurse"))
    issue = _only(path)
    assert str(issue) == (
        f"plan.yaml:{_line(path, 'escalate_too')}: queues.nurse_triage.escalate_too: "
        "unknown key 'escalate_too' (did you mean 'escalate_to'?)"
    )


@pytest.mark.parametrize(
    ("old", "new", "dotted", "hint"),
    [
        ("      skill: spanish", "      skil: spanish", "practice.languages.es.skil", "skill"),
        (
            "Chloe Martin, extension",
            "Chloe Martin, extenson",
            "staff[2].extenson",
            "extension",
        ),
        (
            "voicemail: billing, callback:",
            "voicemail: billing, callbak:",
            "queues.billing.after_hours.callbak",
            "callback",
        ),
        (
            "{queue: nurse_triage, priority: front}",
            "{queue: nurse_triage, priorty: front}",
            "urgent.business_hours.priorty",
            "priority",
        ),
        (
            "{label: {en: \"for workers'",
            "{labl: {en: \"for workers'",
            "menu.options.4.menu.options.4.labl",
            "label",
        ),
        ("  timeout: 5s", "  timeot: 5s", "menu.timeot", "timeout"),
        ("external:", "extrnal:", "extrnal", "external"),
    ],
)
def test_unknown_keys_at_every_depth_get_a_suggestion(
    edited_plan: EditPlan, old: str, new: str, dotted: str, hint: str
) -> None:
    path = edited_plan((old, new))
    wrong = dotted.rsplit(".", 1)[-1]
    line = _line(path, new)
    expected = f"plan.yaml:{line}: {dotted}: unknown key '{wrong}' (did you mean '{hint}'?)"
    assert expected in [str(i) for i in _issues(path)]


def test_unknown_key_without_near_match(edited_plan: EditPlan) -> None:
    path = edited_plan(("  max_wait: 5m\n", "  max_wait: 5m\n    colour: blue\n"))
    issue = _only(path)
    assert issue.message == "unknown key 'colour'"
    assert issue.path == ("queues", "billing", "colour")
    assert issue.line == _line(path, "colour: blue")


# --- bad values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3", "'3' is not a duration like 90s, 4m or 1h; add a unit, e.g. 3s or 3m"),
        ("3x", "'3x' is not a duration like 90s, 4m or 1h"),
        ("1.5m", "'1.5m' is not a duration like 90s, 4m or 1h"),
    ],
)
def test_bad_duration(edited_plan: EditPlan, value: str, message: str) -> None:
    path = edited_plan(("max_wait: 5m", f"max_wait: {value}"))
    issue = _only(path)
    assert (
        str(issue)
        == f"plan.yaml:{_line(path, f'max_wait: {value}')}: queues.billing.max_wait: {message}"
    )


def test_bad_time_zone_with_suggestion(edited_plan: EditPlan) -> None:
    path = edited_plan(("timezone: America/Chicago", "timezone: America/Chicgo"))
    issue = _only(path)
    assert str(issue) == (
        f"plan.yaml:{_line(path, 'Chicgo')}: practice.timezone: "
        "unknown time zone 'America/Chicgo' (did you mean 'America/Chicago'?)"
    )


def test_bad_time_zone_case_gets_a_suggestion(edited_plan: EditPlan) -> None:
    path = edited_plan(("timezone: America/Chicago", "timezone: america/chicago"))
    assert _only(path).message == (
        "unknown time zone 'america/chicago' (did you mean 'America/Chicago'?)"
    )


@pytest.mark.parametrize(
    ("interval", "message"),
    [
        (
            "17:00-08:00",
            "interval '17:00-08:00' is reversed; an overnight shift is two intervals on two days",
        ),
        ("08:00-08:00", "interval '08:00-08:00' is empty"),
        ("8-17", "'8' is not a time like 08:30"),
        ("08:00-24:30", "'24:30' is not a time of day"),
        ("08:00", "'08:00' is not an interval like 08:00-17:00"),
    ],
)
def test_bad_interval(edited_plan: EditPlan, interval: str, message: str) -> None:
    path = edited_plan(('mon-fri: "08:00-17:00"', f'mon-fri: "{interval}"'))
    issue = _only(path)
    line = _line(path, f'"{interval}"')
    assert str(issue) == f"plan.yaml:{line}: schedules.office.mon-fri: {message}"


def test_overlap_is_reported_on_the_later_day_spec(edited_plan: EditPlan) -> None:
    path = edited_plan(('mon-fri: "08:00-17:00"', 'mon-fri: "08:00-17:00"\n    mon: "16:00-18:00"'))
    issue = _only(path)
    assert str(issue) == (
        f"plan.yaml:{_line(path, 'mon: ')}: schedules.office.mon: "
        "mon: 16:00-18:00 overlaps 08:00-17:00 (from 'mon-fri')"
    )


def test_unknown_day_with_suggestion(edited_plan: EditPlan) -> None:
    path = edited_plan(('    sat: "09:00-12:00"', '    satur: "09:00-12:00"'))
    issue = _only(path)
    assert issue.path == ("schedules", "triage", "satur")
    assert issue.message == "unknown day 'satur' (did you mean 'sat'?)"
    assert issue.line == _line(path, "satur")


# --- wrong types ---------------------------------------------------------------------------


def test_list_where_a_mapping_is_expected(edited_plan: EditPlan) -> None:
    path = edited_plan(('  office:\n    mon-fri: "08:00-17:00"', "  office: [mon, fri]"))
    issue = _only(path)
    assert str(issue) == (
        f"plan.yaml:{_line(path, 'office: [mon')}: schedules.office: "
        "a schedule is '24/7' or a mapping like mon-fri: 08:00-17:00"
    )


def test_list_where_an_after_hours_mapping_is_expected(edited_plan: EditPlan) -> None:
    path = edited_plan(
        ("after_hours: {voicemail: billing, callback: next business day}", "after_hours: [billing]")
    )
    issue = _only(path)
    assert issue.path == ("queues", "billing", "after_hours")
    assert issue.line == _line(path, "after_hours: [billing]")
    assert issue.message.startswith("expected a mapping (key: value lines)")


def test_retries_must_be_a_whole_number(edited_plan: EditPlan) -> None:
    path = edited_plan(("retries: 2 ", "retries: lots "))
    issue = _only(path)
    assert str(issue) == (
        f"plan.yaml:{_line(path, 'retries: lots')}: menu.retries: expected a whole number, got 'lots'"
    )


def test_retries_out_of_range(edited_plan: EditPlan) -> None:
    path = edited_plan(("retries: 2 ", "retries: 10 "))
    issue = _only(path)
    assert issue.path == ("menu", "retries")
    assert issue.line == _line(path, "retries: 10")


def test_boolean_refuses_other_words(edited_plan: EditPlan) -> None:
    path = edited_plan(("emergency_notice: true", "emergency_notice: maybe"))
    issue = _only(path)
    assert str(issue) == (
        f"plan.yaml:{_line(path, 'maybe')}: practice.emergency_notice: "
        "expected true or false, got 'maybe'"
    )


def test_boolean_no_is_false(edited_plan: EditPlan) -> None:
    loaded = load_plan(edited_plan(("emergency_notice: true", "emergency_notice: no")))
    assert loaded.practice.emergency_notice is False


def test_leading_zero_extension_stays_text(edited_plan: EditPlan) -> None:
    loaded = load_plan(edited_plan(('extension: "2006"', "extension: 0206")))
    assert loaded.staff[5].extension == "0206"


def test_bad_closed_date(edited_plan: EditPlan) -> None:
    path = edited_plan(("closed: [2026-12-24, 2026-12-31]", "closed: [2026-12-24, 2026-13-31]"))
    issue = _only(path)
    assert issue.path == ("practice", "holidays", "closed", 1)
    assert issue.message == "expected a date like 2026-12-24, got '2026-13-31'"
    assert str(issue).startswith(
        f"plan.yaml:{_line(path, '2026-13-31')}: practice.holidays.closed[1]: "
    )


def test_bad_option_key(edited_plan: EditPlan) -> None:
    path = edited_plan(
        ('    2:\n      label: {en: "for billing', '    22:\n      label: {en: "for billing')
    )
    issue = _only(path)
    assert issue.path == ("menu", "options", "22")
    assert issue.message == "'22' is not a phone key (0-9, * or #)"


def test_bad_dialled_number(edited_plan: EditPlan) -> None:
    path = edited_plan(('"+13125550000": main', '"+1312": main'))
    issue = _only(path)
    assert str(issue) == (
        f"plan.yaml:{_line(path, '+1312')}: numbers.+1312: "
        "'+1312' is not a phone number; write it in E.164 like +13125550000"
    )


# --- missing keys --------------------------------------------------------------------------


def test_missing_required_practice_name(edited_plan: EditPlan) -> None:
    path = edited_plan(("  name: Lakeside Multi-Specialty Group\n", ""))
    issue = _only(path)
    assert issue.path == ("practice", "name")
    assert issue.message == "missing required key 'name'"
    assert issue.line == _line(path, "timezone: America/Chicago") - 1  # the `practice:` line


def test_missing_required_queue_schedule(edited_plan: EditPlan) -> None:
    path = edited_plan(("  referrals:\n    schedule: office\n", "  referrals:\n"))
    issue = _only(path)
    assert issue.path == ("queues", "referrals", "schedule")
    assert issue.message == "missing required key 'schedule'"
    assert issue.line == _line(path, "  referrals:")


def test_missing_required_external_dial(edited_plan: EditPlan) -> None:
    path = edited_plan(
        ('answering_service: {dial: "PJSIP/+13125550100@trunk"}', "answering_service: {}")
    )
    issue = _only(path)
    assert str(issue) == (
        f"plan.yaml:{_line(path, 'answering_service: {}')}: external.answering_service.dial: "
        "missing required key 'dial'"
    )


def test_missing_top_level_section(write_plan: Callable[[str], Path]) -> None:
    text = reference_text()
    start = text.index("\nmenu:\n")
    end = text.index("\nstaff:")
    path = write_plan(text[:start] + text[end:])
    messages = [(i.path, i.message) for i in _issues(path)]
    assert (("menu",), "missing required key 'menu'") in messages


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(tmp_path / "absent.yaml", "absent.yaml")
    assert str(caught.value) == "absent.yaml: no such file"


def test_invalid_yaml_is_a_plan_error_with_a_line(write_plan: Callable[[str], Path]) -> None:
    path = write_plan(reference_text().replace("max_wait: 5m", "max_wait: [5m", 1))
    issues = _issues(path)
    assert len(issues) == 1
    assert issues[0].message.startswith("invalid YAML: ")
    assert issues[0].line >= _line(path, "max_wait: [5m")


# --- every error at once --------------------------------------------------------------------


def test_all_errors_are_reported_at_once_sorted_by_line(edited_plan: EditPlan) -> None:
    path = edited_plan(
        ("retries: 2 ", "retries: lots "),
        ("    escalate_to: charge_nurse", "    escalate_too: charge_nurse"),
        ("schedule: billing", "schedule: billling"),
        ("timezone: America/Chicago", "timezone: America/Chicgo"),
    )
    issues = _issues(path)
    assert [(i.line, i.path[-1]) for i in issues] == [
        (_line(path, "Chicgo"), "timezone"),
        (_line(path, "billling"), "schedule"),
        (_line(path, "escalate_too"), "escalate_too"),
        (_line(path, "retries: lots"), "retries"),
    ]


def test_plan_error_message_lists_one_issue_per_line(edited_plan: EditPlan) -> None:
    path = edited_plan(
        ("max_wait: 5m", "max_wait: 3"),
        ("timezone: America/Chicago", "timezone: Mars/Olympus"),
    )
    with pytest.raises(PlanError) as caught:
        load_plan(path, "plan.yaml")
    lines = str(caught.value).splitlines()
    assert lines == [
        f"plan.yaml:{_line(path, 'Mars')}: practice.timezone: unknown time zone 'Mars/Olympus'",
        f"plan.yaml:{_line(path, 'max_wait: 3')}: queues.billing.max_wait: "
        "'3' is not a duration like 90s, 4m or 1h; add a unit, e.g. 3s or 3m",
    ]


def test_type_error_and_reference_error_in_one_run(edited_plan: EditPlan) -> None:
    path = edited_plan(
        ("max_wait: 4m", "max_wait: soon"),
        ("category: referral, queue: referrals", "category: referral, queue: refferals"),
    )
    messages = [i.message for i in _issues(path)]
    assert messages == [
        "'soon' is not a duration like 90s, 4m or 1h",
        "unknown queue 'refferals' (did you mean 'referrals'?)",
    ]


# --- keys that clash or are not keys -------------------------------------------------------


def test_dialled_numbers_equal_after_normalisation_are_duplicates(edited_plan: EditPlan) -> None:
    path = edited_plan(
        (
            '  "+13125550010":',
            '  "(312) 555-0000": {category: billing, queue: billing}\n  "+13125550010":',
        )
    )
    issue = _only(path)
    assert str(issue) == (
        f"plan.yaml:{_line(path, '(312) 555-0000')}: numbers.(312) 555-0000: "
        "the same number as '+13125550000' (+13125550000)"
    )


def test_bad_option_key_is_reported_on_the_key_line(edited_plan: EditPlan) -> None:
    path = edited_plan(
        ('    2:\n      label: {en: "for billing', '    x:\n      label: {en: "for billing')
    )
    issue = _only(path)
    assert issue.path == ("menu", "options", "x")
    assert issue.message == "'x' is not a phone key (0-9, * or #)"
    assert issue.line == _line(path, "    x:")


# --- bugs ----------------------------------------------------------------------------------
def test_duplicate_key_and_other_errors_are_reported_together(edited_plan: EditPlan) -> None:
    path = edited_plan(
        ("timezone: America/Chicago", "timezone: America/Chicgo"),
        ('    fri: "09:00-12:00"', '    fri: "09:00-12:00"\n    fri: "09:00-13:00"'),
    )
    messages = [i.message for i in _issues(path)]
    assert len(messages) == 2
    assert messages[0].startswith("unknown time zone 'America/Chicgo'")
    assert messages[1].startswith("duplicate key (first at line")
