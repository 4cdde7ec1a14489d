"""Golden tests for `frontdesk simulate`: exact JSON for reviewed cases (golden/simulate.json).

Each expected object was checked by hand against docs/routing.md. Regenerate only after a
deliberate change, and review the diff: FRONTDESK_UPDATE_GOLDEN=1 pytest tests/routing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from frontdesk.cli import main
from frontdesk.plan import Plan
from frontdesk.routing.ivr import CallFacts
from frontdesk.routing.simulate import default_did, parse_keys, simulate
from tests.conftest import REFERENCE_DIRECTORY, REFERENCE_PLAN, local

GOLDEN = Path(__file__).parent / "golden" / "simulate.json"
CASES: list[dict[str, Any]] = json.loads(GOLDEN.read_text(encoding="utf-8"))


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    full = [
        "simulate",
        "--plan",
        str(REFERENCE_PLAN),
        "--directory",
        str(REFERENCE_DIRECTORY),
        *args,
    ]
    assert main(full) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "simulate prints exactly one JSON object"
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_simulate_matches_golden(case: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(case["args"], capsys)
    if os.environ.get("FRONTDESK_UPDATE_GOLDEN"):
        case["expected"] = result
        GOLDEN.write_text(json.dumps(CASES, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert result == case["expected"]


def test_output_has_every_documented_key(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(["--keys", "2"], capsys)
    assert list(result) == [
        "did", "caller", "known_patient", "patient_id", "language", "category",
        "after_hours", "holiday", "urgent", "destination", "prompts",
    ]  # fmt: skip


def test_default_did_is_the_first_main_number(plan: Plan) -> None:
    assert default_did(plan) == "+13125550000"


def test_parse_keys() -> None:
    assert parse_keys("1,3") == ["1", "3"]
    assert parse_keys("-,-") == ["-", "-"]
    assert parse_keys("") == []
    with pytest.raises(ValueError, match="'12' is not a key"):
        parse_keys("12")


def test_simulate_is_deterministic(plan: Plan) -> None:
    facts = CallFacts("+13125550000", None)
    runs = {
        json.dumps(
            simulate(
                plan, at=local("2026-11-30 10:00"), facts=facts, keys=["3", "2"], logged_in={"2004"}
            ).as_json()
        )
        for _ in range(3)
    }
    assert len(runs) == 1
