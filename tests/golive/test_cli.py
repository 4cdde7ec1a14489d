"""`frontdesk golive PLAN --out DIR` and `frontdesk golive verify DIR`: files, tables, exit
codes; verify against the test PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from frontdesk.cli import main
from frontdesk.golive.cases import Case, CaseSet
from frontdesk.store import db
from tests.conftest import reference_text
from tests.golive.conftest import with_test_callers

WEEK = "2026-12-01"
STARTED = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)


def _generate(plan: Path, out: Path, *extra: str) -> int:
    return main(["golive", str(plan), "--out", str(out), "--week-of", WEEK, *extra])


def test_generate_writes_the_run(
    write_plan: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert _generate(write_plan(with_test_callers()), out, "--regime", "closed") == 0
    printed = capsys.readouterr().out
    assert "50 cases" in printed
    assert "README.txt" in printed
    assert os.access(out / "run.sh", os.X_OK)
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"expected.json", "expected.csv", "test_patients.csv", "README.txt"} <= names
    assert len([n for n in names if n.endswith(".xml")]) == 50
    pcaps = sorted(n for n in names if n.endswith(".pcap"))
    assert "scenarios/001-13125550000-unknown-1-1/key-2-1.pcap" in pcaps
    assert all((out / n).read_bytes()[:4] == b"\xd4\xc3\xb2\xa1" for n in pcaps)  # pcap magic


def test_generate_json_summary(
    write_plan: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write_plan(with_test_callers(("+13125559901",)))
    assert _generate(plan, tmp_path / "run", "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["regimes"]["holiday"] == 47  # 3 known-patient routes need more callers
    assert len(summary["skipped_routes"]) == 3


def test_generate_refuses_bad_input(
    write_plan: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _generate(write_plan(reference_text()), tmp_path / "x") == 2
    assert "declares no test callers" in capsys.readouterr().err
    assert main(["golive", str(write_plan(with_test_callers()))]) == 2
    assert "--out" in capsys.readouterr().err
    assert _generate(write_plan(with_test_callers()), tmp_path / "x", "--key-gap", "0.1") == 2
    assert "--key-gap: a key takes 0.14 s to send" in capsys.readouterr().err
    bad = write_plan(reference_text() + '\ngolive:\n  test_callers: ["312-555"]\n')
    assert _generate(bad, tmp_path / "x") == 2
    err = capsys.readouterr().err
    assert "golive.test_callers[0]: '312-555' is not an E.164 number" in err
    assert "plan.yaml:" in err  # the file and line, like every plan error


def test_verify_refuses_bad_input(
    write_plan: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FRONTDESK_DATABASE_URL", raising=False)
    assert main(["golive", "verify"]) == 2
    assert main(["golive", "verify", str(tmp_path)]) == 2
    assert "expected.json" in capsys.readouterr().err
    out = tmp_path / "run"
    assert _generate(write_plan(with_test_callers()), out, "--regime", "closed") == 0
    capsys.readouterr()
    assert main(["golive", "verify", str(out)]) == 2
    assert "no database" in capsys.readouterr().err
    bad_since = ["golive", "verify", str(out), "--since", "yesterday", "--database-url", "x"]
    assert main(bad_since) == 2
    assert "--since: 'yesterday'" in capsys.readouterr().err
    unreachable = "postgresql://nobody@127.0.0.1:9/none"
    assert main(["golive", "verify", str(out), "--database-url", unreachable]) == 2
    assert "unreachable" in capsys.readouterr().err


async def _insert(
    dsn: str,
    cases: list[Case],
    *,
    wrong: int | None = None,
    run: str | None = None,
    reverse: bool = False,
) -> None:
    """The rows a run leaves: one per case, in order (`reverse`: the last case's call
    first); case `wrong` went to the wrong place. `run`: each row also has the case id
    its call sent, as the daemon records it (a `golive_case` call event)."""
    conn = await db.connect(dsn, timeout=5)
    try:
        for position, case in enumerate(reversed(cases) if reverse else cases, 1):
            e = case.expected
            destination = dict(e.destination)
            if case.number == wrong:
                destination = {"kind": "voicemail", "box": "billing", "callback": None}
            await conn.execute(
                "INSERT INTO calls (linkedid, dialled, caller, patient_id, language, category,"
                " destination, started_at, after_hours, holiday, urgent)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11)",
                f"pbx-{case.number}",
                case.did,
                case.caller,
                "GOLIVE-1" if e.known else None,
                e.language,
                e.category,
                json.dumps(destination),
                STARTED + timedelta(seconds=position),
                e.after_hours,
                e.holiday,
                e.urgent,
            )
            if run is not None:
                await conn.execute(
                    "INSERT INTO call_events (linkedid, event_key, at, kind, data)"
                    " VALUES ($1, $2, $3, 'golive_case', $4::jsonb)",
                    f"pbx-{case.number}",
                    f"case-{case.number}",
                    STARTED + timedelta(seconds=position),
                    json.dumps({"case": f"{run}:{case.number}"}),
                )
    finally:
        await conn.close()


async def test_verify_passes_and_fails_with_the_table(
    write_plan: Callable[[str], Path],
    tmp_path: Path,
    schema_dsn: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "run"
    assert _generate(write_plan(with_test_callers()), out, "--regime", "holiday") == 0
    cases = CaseSet.from_json(json.loads((out / "expected.json").read_text())).cases
    await _insert(schema_dsn, cases, wrong=cases[0].number)
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", schema_dsn)
    (out / "started_at.txt").write_text(STARTED.strftime("%Y-%m-%dT%H:%M:%SZ") + "\n")
    capsys.readouterr()
    verify = ["golive", "verify", str(out)]
    assert await asyncio.to_thread(main, verify) == 1
    table = capsys.readouterr().out
    assert "1 failed" in table
    assert "went to voicemail billing" in table
    assert await asyncio.to_thread(main, [*verify, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [v["case"] for v in report["verdicts"] if not v["passed"]] == [cases[0].number]
    # After the run: nothing from before --since is read.
    later = (STARTED + timedelta(hours=1)).isoformat()
    assert await asyncio.to_thread(main, [*verify, "--since", later, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert all(v["got"] == "-" for v in report["verdicts"])


async def test_verify_all_pass_exits_0(
    write_plan: Callable[[str], Path],
    tmp_path: Path,
    schema_dsn: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    assert _generate(write_plan(with_test_callers()), out, "--regime", "closed") == 0
    cases = CaseSet.from_json(json.loads((out / "expected.json").read_text())).cases
    await _insert(schema_dsn, cases)
    capsys.readouterr()
    argv = ["golive", "verify", str(out), "--database-url", schema_dsn]  # latest rows per pair
    assert await asyncio.to_thread(main, argv) == 0
    assert f"{len(cases)} cases: all passed" in capsys.readouterr().out


async def test_verify_finds_each_call_by_the_case_id_the_daemon_recorded(
    write_plan: Callable[[str], Path],
    tmp_path: Path,
    schema_dsn: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "run"
    assert _generate(write_plan(with_test_callers()), out, "--regime", "closed") == 0
    expected = json.loads((out / "expected.json").read_text())
    cases = CaseSet.from_json(expected).cases
    # Calls placed side by side: they started in any order (here: backwards).
    await _insert(schema_dsn, cases, run=expected["run"], reverse=True)
    (out / "started_at.txt").write_text(STARTED.isoformat() + "\n")
    capsys.readouterr()
    argv = ["golive", "verify", str(out), "--database-url", schema_dsn]
    assert await asyncio.to_thread(main, [*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["matched_by_case"], report["matched_by_order"]) == (len(cases), 0)
    assert [v["linkedid"] for v in report["verdicts"]] == [f"pbx-{c.number}" for c in cases]
    assert await asyncio.to_thread(main, argv) == 0
    assert f"calls found by their case id: {len(cases)}" in capsys.readouterr().out


async def test_verify_without_case_ids_needs_the_order(
    write_plan: Callable[[str], Path],
    tmp_path: Path,
    schema_dsn: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same backwards rows without recorded ids: order is all verify has, and fails."""
    out = tmp_path / "run"
    assert _generate(write_plan(with_test_callers()), out, "--regime", "closed") == 0
    cases = CaseSet.from_json(json.loads((out / "expected.json").read_text())).cases
    await _insert(schema_dsn, cases, reverse=True)
    capsys.readouterr()
    argv = ["golive", "verify", str(out), "--database-url", schema_dsn, "--json"]
    assert await asyncio.to_thread(main, argv) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["matched_by_case"] == 0
    assert report["failed"] > 0
