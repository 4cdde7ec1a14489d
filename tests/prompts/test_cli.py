"""`frontdesk prompts` (`frontdesk.prompts.cli`): the dry run, the exit codes, and a real
run that keeps the practice's recordings."""

from __future__ import annotations

import json
import os
import shutil
import wave
from pathlib import Path

import pytest

from tests.conftest import REFERENCE_PLAN
from tests.prompts.helpers import needs_tools, run_prompts


def test_dry_run_lists_texts_without_the_tools(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert run_prompts(str(REFERENCE_PLAN), "--dry-run", "--json", "--out", str(tmp_path)) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dry_run"] is True
    files = {f["path"]: f for f in data["files"]}
    entry = files[str(tmp_path / "es" / "frontdesk" / "menu-2.wav")]
    assert entry["text"] == "Para facturación o seguros, oprima 2."
    assert entry["action"] == "create"
    assert not any(tmp_path.iterdir())  # nothing written


def test_missing_tools_exit_2_with_an_install_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "sox" else "/x")
    assert run_prompts(str(REFERENCE_PLAN), "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "sox not found" in err
    assert "apt-get install espeak-ng sox" in err


def test_out_is_required_unless_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_prompts(str(REFERENCE_PLAN)) == 2
    assert "--out" in capsys.readouterr().err


def test_an_invalid_plan_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "plan.yaml"
    bad.write_text("practice: {name: x}\n", encoding="utf-8")
    assert run_prompts(str(bad), "--dry-run") == 2
    assert "plan.yaml" in capsys.readouterr().err


@needs_tools
def test_the_command_renders_everything_and_keeps_recordings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = tmp_path / "plan.yaml"
    shutil.copyfile(REFERENCE_PLAN, plan_file)
    os.utime(plan_file, (1_000_000, 1_000_000))
    sounds = tmp_path / "sounds"
    assert run_prompts(str(plan_file), "--out", str(sounds), "--json") == 0
    first = json.loads(capsys.readouterr().out)
    assert {f["action"] for f in first["files"]} == {"create"}
    assert len(list(sounds.rglob("*.wav"))) == len(first["files"]) == 76

    recording = sounds / "es" / "frontdesk" / "menu-2.wav"
    recording.write_bytes(b"RIFF a recording by the practice")
    assert run_prompts(str(plan_file), "--out", str(sounds), "--json") == 0
    second = {
        f["name"] + "/" + f["language"]: f["action"]
        for f in json.loads(capsys.readouterr().out)["files"]
    }
    assert second.pop("menu-2/es") == "keep"
    assert set(second.values()) == {"unchanged"}
    assert recording.read_bytes() == b"RIFF a recording by the practice"

    assert run_prompts(str(plan_file), "--out", str(sounds), "--force") == 0
    capsys.readouterr()
    with wave.open(str(recording)) as wav:
        assert wav.getframerate() == 8000
