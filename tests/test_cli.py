"""The `frontdesk` command: check, simulate, paths and example, as a user runs them.

Most cases call `frontdesk.cli.main` in-process (fast); a few run the real console
script or `python -m frontdesk` in a subprocess, end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from frontdesk.cli import main
from tests.conftest import REFERENCE_DIRECTORY, REFERENCE_PLAN

EditPlan = Callable[..., Path]
WEEK = ["--week-of", "2026-11-30"]
CONSOLE_SCRIPT = Path(sys.executable).with_name("frontdesk")

SINGLE_BILLING = (
    "queues.billing: warning: only one staff member, Chloe Martin (2003): "
    "routing tied to one person breaks when staff change"
)
SINGLE_REFERRALS = (
    "queues.referrals: warning: only one staff member, Fay Chen (2006): "
    "routing tied to one person breaks when staff change"
)
SUMMARY = (
    "6 queues, 6 staff, languages: en, es; 50 routes x 6 regimes checked, 0 clinical routes at risk"
)
BILLLING_TYPO = ("schedule: billing", "schedule: billling")
BILLLING_ERROR = (
    "plan.yaml:44: queues.billing.schedule: unknown schedule 'billling' (did you mean 'billing'?)"
)
TRIAGE_VOICEMAIL = (
    "after_hours: {transfer: after_hours_nurse}",
    "after_hours: {voicemail: triage}",
)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_process(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "frontdesk", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def flat(text: str) -> str:
    """Whitespace-normalised output (tables and long lines may wrap)."""
    return " ".join(text.split())


def simulate(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    base = ["simulate", "--plan", str(REFERENCE_PLAN), "--directory", str(REFERENCE_DIRECTORY)]
    code, out, err = run([*base, *args], capsys)
    assert (code, err) == (0, "")
    assert out.endswith("\n")
    assert out.count("\n") == 1, "simulate prints exactly one JSON object on one line"
    result: dict[str, Any] = json.loads(out)
    return result


# -- check ----------------------------------------------------------------------------------
def test_check_reference_plan_through_the_console_script() -> None:
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), "check", str(REFERENCE_PLAN), *WEEK],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    out = flat(done.stdout)
    first = out.index(f"{REFERENCE_PLAN}:43: {SINGLE_BILLING}")
    second = out.index(f"{REFERENCE_PLAN}:47: {SINGLE_REFERRALS}")
    ok = out.index(f"{REFERENCE_PLAN}: OK — Lakeside Multi-Specialty Group (America/Chicago)")
    assert first < second < ok
    assert out.endswith(SUMMARY)
    assert out.count("warning:") == 2


def test_check_reference_plan_prints_warnings_then_summary(
    write_plan: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_plan(REFERENCE_PLAN.read_text(encoding="utf-8"))
    monkeypatch.chdir(path.parent)
    code, out, err = run(["check", "plan.yaml", *WEEK], capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:3] == [
        f"plan.yaml:43: {SINGLE_BILLING}",
        f"plan.yaml:47: {SINGLE_REFERRALS}",
        "plan.yaml: OK — Lakeside Multi-Specialty Group (America/Chicago)",
    ]
    assert lines[-1] == SUMMARY


def test_check_prints_each_issue_on_one_line(
    edited_plan: EditPlan, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(edited_plan(TRIAGE_VOICEMAIL).parent)
    code, out, _ = run(["check", "plan.yaml", *WEEK], capsys)
    assert code == 2
    assert out.splitlines()[0] == (
        "plan.yaml:56: queues.nurse_triage.after_hours: clinical calls can end in voicemail "
        "'triage' (menu 3 > 2 (for any other clinical question); menu 4 > 1 (for a prescription "
        "refill); menu 4 > 3 (for test results); and 4 more) when closed, holiday, unstaffed: "
        "clinical callers must reach a live person or a nurse line at every hour"
    )


def test_check_broken_plan_exits_2_naming_line_and_key(
    edited_plan: EditPlan, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(edited_plan(BILLLING_TYPO).parent)
    code, out, _ = run(["check", "plan.yaml"], capsys)
    assert code == 2
    assert out.splitlines() == [BILLLING_ERROR, "plan.yaml: refused, 1 error(s)"]


def test_check_broken_plan_end_to_end(edited_plan: EditPlan) -> None:
    path = edited_plan(BILLLING_TYPO)
    done = run_process("check", "plan.yaml", cwd=path.parent)
    assert done.returncode == 2
    assert done.stdout.splitlines()[0] == BILLLING_ERROR


def test_check_prints_every_load_error_at_once(
    edited_plan: EditPlan, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = edited_plan(
        ("timezone: America/Chicago", "timezone: America/Chicgo"),
        ('mon-fri: "08:00-17:00"', 'mon-fri: "17:00-08:00"'),
        BILLLING_TYPO,
    )
    monkeypatch.chdir(path.parent)
    code, out, _ = run(["check", "plan.yaml"], capsys)
    assert code == 2
    assert out.splitlines() == [
        "plan.yaml:8: practice.timezone: unknown time zone 'America/Chicgo' "
        "(did you mean 'America/Chicago'?)",
        "plan.yaml:26: schedules.office.mon-fri: interval '17:00-08:00' is reversed; "
        "an overnight shift is two intervals on two days",
        BILLLING_ERROR,
        "plan.yaml: refused, 3 error(s)",
    ]


def test_check_prints_every_safety_error_at_once(
    edited_plan: EditPlan, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = edited_plan(
        (
            '    2:\n      label: {en: "for billing',
            '    5: {label: {en: "for directions", es: "para direcciones"}, '
            "category: directions, queue: front_desk}\n"
            '    2:\n      label: {en: "for billing',
        ),
        ("queues: [referrals, scheduling, front_desk]", "queues: [scheduling, front_desk]"),
    )
    monkeypatch.chdir(path.parent)
    code, out, _ = run(["check", "plan.yaml", *WEEK], capsys)
    assert code == 2
    assert out.splitlines() == [
        "plan.yaml:47: queues.referrals: no staff member is in this queue",
        "plan.yaml:76: menu.options: 5 options; a menu has at most 4 (operator and language "
        "keys aside): callers forget longer lists",
        f"plan.yaml:43: {SINGLE_BILLING}",
        "plan.yaml: refused, 2 error(s)",
    ]


def test_check_missing_plan_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.yaml"
    code, out, _ = run(["check", str(missing)], capsys)
    assert code == 2
    assert out.splitlines()[0] == f"{missing}: no such file"


def test_check_json_reference_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", str(REFERENCE_PLAN), "--json", *WEEK], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True
    assert data["errors"] == []
    assert [(w["line"], w["key"]) for w in data["warnings"]] == [
        (43, "queues.billing"),
        (47, "queues.referrals"),
    ]
    assert data["warnings"][0]["file"] == str(REFERENCE_PLAN)
    assert data["warnings"][0]["message"].startswith("only one staff member, Chloe Martin (2003)")
    summary = data["summary"]
    assert summary["routes"] == 50
    assert summary["regimes"] == 6
    assert summary["at_risk"] == 0
    assert summary["queues"]["nurse_triage"] == ["2004", "2005"]
    assert summary["languages"] == ["en", "es"]


def test_check_json_load_error(edited_plan: EditPlan, capsys: pytest.CaptureFixture[str]) -> None:
    path = edited_plan(BILLLING_TYPO)
    code, out, _ = run(["check", str(path), "--json"], capsys)
    assert code == 2
    assert json.loads(out) == {
        "ok": False,
        "errors": [
            {
                "file": str(path),
                "line": 44,
                "key": "queues.billing.schedule",
                "message": "unknown schedule 'billling' (did you mean 'billing'?)",
            }
        ],
        "warnings": [],
    }


def test_check_json_unsafe_plan(edited_plan: EditPlan, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["check", str(edited_plan(TRIAGE_VOICEMAIL)), "--json", *WEEK], capsys)
    assert code == 2
    data = json.loads(out)
    assert data["ok"] is False
    assert [(e["line"], e["key"]) for e in data["errors"]] == [
        (56, "queues.nurse_triage.after_hours")
    ]
    assert data["errors"][0]["message"].startswith("clinical calls can end in voicemail 'triage'")
    assert len(data["warnings"]) == 2
    # 6 clinical menu routes (English and Spanish) and the refill line, in 3 regimes each
    assert data["summary"]["at_risk"] == 21


# -- simulate ---------------------------------------------------------------------------------
ROUTING_MD_EXAMPLE = {
    "did": "+13125550000",
    "caller": "+13125551002",
    "known_patient": True,
    "patient_id": "P-1002",
    "language": "es",
    "category": "scheduling",
    "after_hours": False,
    "holiday": None,
    "urgent": False,
    "destination": {
        "kind": "queue",
        "queue": "scheduling",
        "skills": ["cardiology", "spanish"],
        "priority": "normal",
    },
}


def test_simulate_routing_md_example_end_to_end() -> None:
    done = run_process(
        "simulate",
        "--plan",
        str(REFERENCE_PLAN),
        "--directory",
        str(REFERENCE_DIRECTORY),
        "--caller",
        "+13125551002",
        "--keys",
        "1",
        "--at",
        "2026-11-30T10:00",
    )
    assert (done.returncode, done.stderr) == (0, "")
    result = json.loads(done.stdout)
    assert list(result) == [*ROUTING_MD_EXAMPLE, "prompts"]
    assert {k: v for k, v in result.items() if k != "prompts"} == ROUTING_MD_EXAMPLE
    # A known Spanish cardiology patient skips submenu 1; the language key is not offered.
    assert result["prompts"] == [
        "emergency-notice",
        "menu-1",
        "menu-2",
        "menu-3",
        "menu-4",
        "menu-operator",
    ]


def test_simulate_normalises_the_caller_number(capsys: pytest.CaptureFixture[str]) -> None:
    result = simulate(
        ["--caller", "(312) 555-1007", "--keys", "2", "--at", "2026-11-30T10:00"], capsys
    )
    assert result["caller"] == "+13125551007"
    assert result["patient_id"] == "P-1007"
    assert result["language"] == "es"


@pytest.mark.parametrize(
    ("at", "billing_open"),
    [
        ("2026-11-30T09:00", True),  # naive: practice local time
        ("2026-11-30T15:00Z", True),  # 09:00 in Chicago
        ("2026-11-30T14:59Z", False),  # 08:59 in Chicago
        ("2026-11-30T09:00-05:00", False),  # 08:00 in Chicago
        ("2026-11-30T10:00+01:00", False),  # 03:00 in Chicago
    ],
)
def test_simulate_at_honours_the_offset(
    at: str, billing_open: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    result = simulate(["--keys", "2", "--at", at], capsys)
    if billing_open:
        assert result["destination"] == {
            "kind": "queue",
            "queue": "billing",
            "skills": [],
            "priority": "normal",
        }
    else:
        assert result["destination"] == {
            "kind": "voicemail",
            "box": "billing",
            "callback": "next business day",
        }
    assert result["after_hours"] is not billing_open


def test_simulate_timeouts_given_with_equals(capsys: pytest.CaptureFixture[str]) -> None:
    result = simulate(["--keys=-,-,-", "--at", "2026-11-30T10:00"], capsys)
    assert result["category"] == "unrouted"
    assert result["destination"]["queue"] == "front_desk"
    main_menu = ["menu-1", "menu-2", "menu-3", "menu-4", "menu-operator", "language-es"]
    assert result["prompts"] == ["emergency-notice", *main_menu * 3]


def test_simulate_nobody_logged_in_routes_like_after_hours(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = simulate(["--keys", "3,2", "--at", "2026-11-30T10:00", "--logged-in", ""], capsys)
    assert result["destination"] == {
        "kind": "transfer",
        "target": "after_hours_nurse",
        "announce": None,
    }
    assert result["after_hours"] is False  # the schedule is open; nobody is logged in


def test_simulate_urgent_with_nobody_logged_in(capsys: pytest.CaptureFixture[str]) -> None:
    result = simulate(["--keys", "3,1", "--at", "2026-11-30T10:00", "--logged-in", ""], capsys)
    assert result["urgent"] is True
    assert result["category"] == "clinical"
    assert result["destination"] == {
        "kind": "transfer",
        "target": "urgent_nurse_line",
        "announce": "urgent-connect",
    }
    assert result["prompts"][-1] == "urgent-connect"


def test_simulate_spanish_caller_without_a_spanish_nurse_logged_in(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Dana Whitfield (2004) has no spanish skill: the language fallback takes the call.
    result = simulate(
        ["--keys", "9,3,2", "--at", "2026-11-30T10:00", "--logged-in", "2004"], capsys
    )
    assert result["language"] == "es"
    assert result["destination"] == {
        "kind": "transfer",
        "target": "language_line",
        "announce": None,
    }


@pytest.mark.parametrize("did", ["+13125550010", "(312) 555-0010"])
def test_simulate_refill_line(did: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = simulate(["--did", did, "--at", "2026-11-30T10:00"], capsys)
    assert result["did"] == "+13125550010"
    assert result["category"] == "refill"
    assert result["destination"] == {
        "kind": "queue",
        "queue": "nurse_triage",
        "skills": ["pharmacy"],
        "priority": "normal",
    }
    assert result["prompts"] == ["emergency-notice"]


@pytest.mark.parametrize("caller", [None, "anonymous", ""])
def test_simulate_withheld_or_malformed_caller_is_null(
    caller: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--keys", "2", "--at", "2026-11-30T10:00"]
    result = simulate(args if caller is None else [*args, "--caller", caller], capsys)
    assert result["caller"] is None
    assert result["known_patient"] is False
    assert result["patient_id"] is None


@pytest.mark.parametrize(
    ("at", "holiday"),
    [("2026-12-24T10:00", "closed"), ("2026-12-25T10:00", "Christmas Day")],
)
def test_simulate_names_the_holiday(
    at: str, holiday: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = simulate(["--keys", "2", "--at", at], capsys)
    assert result["holiday"] == holiday
    assert result["after_hours"] is True
    assert result["destination"]["kind"] == "voicemail"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--keys", "1,x"],
            "frontdesk simulate: --keys: 'x' is not a key (0-9, *, # or - for a timeout)",
        ),
        (
            ["--keys", "12"],
            "frontdesk simulate: --keys: '12' is not a key (0-9, *, # or - for a timeout)",
        ),
        (
            ["--at", "2026-11-30T25:00"],
            "frontdesk simulate: --at: '2026-11-30T25:00' is not an ISO 8601 time like "
            "2026-11-30T10:15",
        ),
        (
            ["--at", "tomorrow"],
            "frontdesk simulate: --at: 'tomorrow' is not an ISO 8601 time like 2026-11-30T10:15",
        ),
        (
            ["--logged-in", "9999"],
            "frontdesk simulate: --logged-in: no staff member has extension 9999",
        ),
        (["--did", "abc"], "frontdesk simulate: --did: 'abc' is not a phone number"),
    ],
)
def test_simulate_bad_argument_exits_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["simulate", "--plan", str(REFERENCE_PLAN), *args], capsys)
    assert code == 2
    assert out == ""
    assert err.splitlines() == [message]


def test_simulate_missing_plan_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.yaml"
    code, out, err = run(["simulate", "--plan", str(missing), "--keys", "2"], capsys)
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"{missing}: no such file"]


def test_simulate_missing_plan_end_to_end(tmp_path: Path) -> None:
    done = run_process("simulate", "--plan", "nowhere.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == ["nowhere.yaml: no such file"]


# -- paths ------------------------------------------------------------------------------------------
def test_paths_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["paths", str(REFERENCE_PLAN), *WEEK], capsys)
    assert code == 0
    text = flat(out)
    assert "Regimes of Lakeside Multi-Specialty Group" in text
    assert "office+billing+triage" in text
    assert "Thu 2026-12-24 09:00" in text  # the holiday's sample time
    assert out.rstrip().splitlines()[-1] == "50 routes x 6 regimes; 0 clinical routes at risk"


def test_paths_json_parses(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["paths", str(REFERENCE_PLAN), "--json", *WEEK], capsys)
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["plan", "regimes", "routes", "at_risk"]
    assert [r["id"] for r in data["regimes"]] == [
        "closed",
        "triage",
        "office+triage",
        "office+billing+triage",
        "holiday",
        "unstaffed",
    ]
    assert len(data["routes"]) == 50
    assert data["at_risk"] == []


def test_paths_at_risk_is_empty_for_the_reference_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["paths", str(REFERENCE_PLAN), "--at-risk", *WEEK], capsys)
    assert code == 0
    assert out.strip() == "no clinical route ends anywhere but a live person or a nurse line"
    code, out, _ = run(["paths", str(REFERENCE_PLAN), "--at-risk", "--json", *WEEK], capsys)
    assert code == 0
    assert json.loads(out) == []


def test_paths_at_risk_exits_1_for_an_unsafe_plan(
    edited_plan: EditPlan, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(edited_plan(TRIAGE_VOICEMAIL))
    code, out, _ = run(["paths", path, "--at-risk", *WEEK], capsys)
    assert code == 1
    assert "Clinical routes at risk" in out
    assert "voicemail triage" in out
    code, out, _ = run(["paths", path, "--at-risk", "--json", *WEEK], capsys)
    assert code == 1
    risky = json.loads(out)
    assert len(risky) == 21
    assert {r["regime"] for r in risky} == {"closed", "holiday", "unstaffed"}
    assert {"route": "+13125550010/unknown/", "regime": "closed"}.items() <= next(
        r for r in risky if r["route"] == "+13125550010/unknown/"
    ).items()


def test_paths_at_risk_exit_codes_end_to_end(edited_plan: EditPlan) -> None:
    safe = run_process("paths", str(REFERENCE_PLAN), "--at-risk", *WEEK)
    unsafe = run_process("paths", str(edited_plan(TRIAGE_VOICEMAIL)), "--at-risk", *WEEK)
    assert (safe.returncode, unsafe.returncode) == (0, 1)


def test_paths_without_at_risk_exits_0_even_for_an_unsafe_plan(
    edited_plan: EditPlan, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["paths", str(edited_plan(TRIAGE_VOICEMAIL)), *WEEK], capsys)
    assert code == 0
    assert out.rstrip().splitlines()[-1] == "50 routes x 6 regimes; 21 clinical routes at risk"


# -- example --------------------------------------------------------------------------------------
def test_example_prints_the_path_of_the_bundled_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["example"], capsys)
    assert code == 0
    path = Path(out.strip())
    assert path.name == "lakeside.yaml"
    assert path.read_text(encoding="utf-8") == REFERENCE_PLAN.read_text(encoding="utf-8")


def test_example_out_copies_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "new" / "folder"
    code, out, _ = run(["example", "--out", str(target)], capsys)
    assert code == 0
    assert sorted(p.name for p in target.iterdir()) == ["directory.csv", "lakeside.yaml"]
    assert (target / "lakeside.yaml").read_bytes() == REFERENCE_PLAN.read_bytes()
    assert (target / "directory.csv").read_bytes() == REFERENCE_DIRECTORY.read_bytes()
    assert "wrote" in out


def test_example_out_does_not_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "lakeside.yaml").write_text("mine\n", encoding="utf-8")
    code, _, err = run(["example", "--out", str(tmp_path)], capsys)
    assert code == 2
    assert "exists; not overwriting it" in err
    assert (tmp_path / "lakeside.yaml").read_text(encoding="utf-8") == "mine\n"


def test_run_against_a_real_pbx_needs_its_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FRONTDESK_ARI_URL", "http://127.0.0.1:1/ari")
    monkeypatch.delenv("FRONTDESK_ARI_PASSWORD", raising=False)
    monkeypatch.delenv("FRONTDESK_AMI_SECRET", raising=False)
    assert main(["run"]) == 2
    assert "FRONTDESK_ARI_PASSWORD and FRONTDESK_AMI_SECRET must be set" in capsys.readouterr().err
