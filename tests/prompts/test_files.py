"""The sounds folder (`frontdesk.prompts.files`): which files are (re)written, and the
manifest that tells frontdesk's files from recordings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from frontdesk.plan import Plan
from frontdesk.prompts import files
from frontdesk.prompts.files import Decision, decide
from frontdesk.prompts.inventory import Prompt, build_inventory
from frontdesk.prompts.render import RENDERER, RenderError, Tools

PROMPT = Prompt("menu-1", "en", "To pay, press 1.", "en-us", "menu")


def _manifest_for(path: Path, text: str = PROMPT.text) -> dict[str, dict[str, str]]:
    return {
        str(PROMPT.path): {
            "sha256": files.file_sha256(path),
            "text": text,
            "voice": PROMPT.voice,
            "renderer": RENDERER,
        }
    }


def _target(tmp_path: Path, content: bytes, mtime: float) -> Path:
    path = tmp_path / PROMPT.path
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    os.utime(path, (mtime, mtime))
    return path


def test_a_missing_file_is_created(tmp_path: Path) -> None:
    assert decide(PROMPT, tmp_path / PROMPT.path, 1000.0, {}, False).action == "create"


def test_a_file_newer_than_the_plan_that_frontdesk_did_not_write_is_kept(tmp_path: Path) -> None:
    path = _target(tmp_path, b"a recording", mtime=2000.0)
    decision = decide(PROMPT, path, 1000.0, {}, False)
    assert decision == Decision("keep", "newer than the plan (a recording?)")
    assert decide(PROMPT, path, 1000.0, {}, True).action == "update"


def test_an_older_file_frontdesk_did_not_write_is_kept_too(tmp_path: Path) -> None:
    path = _target(tmp_path, b"a recording", mtime=500.0)
    assert decide(PROMPT, path, 1000.0, {}, False).action == "keep"


def test_our_own_file_is_left_alone_until_its_text_changes(tmp_path: Path) -> None:
    path = _target(tmp_path, b"rendered", mtime=2000.0)
    assert decide(PROMPT, path, 1000.0, _manifest_for(path), False).action == "unchanged"
    stale = _manifest_for(path, text="To pay, press 2.")
    assert decide(PROMPT, path, 1000.0, stale, False).action == "update"


def test_our_file_replaced_by_a_recording_is_kept(tmp_path: Path) -> None:
    path = _target(tmp_path, b"rendered", mtime=2000.0)
    manifest = _manifest_for(path, text="old text")
    path.write_bytes(b"a recording made later")
    assert decide(PROMPT, path, 1000.0, manifest, False).action == "keep"


def _fake_render(calls: list[str], fail_after: int | None = None) -> object:
    def render(prompt: Prompt, target: Path, tools: Tools) -> None:
        if fail_after is not None and len(calls) >= fail_after:
            raise RenderError("espeak-ng failed (1): boom")
        calls.append(prompt.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f"{prompt.voice}:{prompt.text}".encode())

    return render


def test_render_all_creates_then_leaves_alone_then_keeps_recordings(
    plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(files, "render_prompt", _fake_render(calls))
    inventory = build_inventory(plan)
    tools = Tools("espeak-ng", "sox")
    first = files.render_all(inventory, tmp_path, 0.0, tools=tools)
    assert {r.decision.action for r in first} == {"create"}
    assert len(calls) == len(inventory.prompts)
    recording = tmp_path / "en" / "frontdesk" / "menu-operator.wav"
    recording.write_bytes(b"the practice manager's voice")
    second = files.render_all(inventory, tmp_path, 0.0, tools=tools)
    actions = {str(r.prompt.path): r.decision.action for r in second}
    assert actions.pop("en/frontdesk/menu-operator.wav") == "keep"
    assert set(actions.values()) == {"unchanged"}
    assert len(calls) == len(inventory.prompts)  # nothing rendered again
    assert recording.read_bytes() == b"the practice manager's voice"
    forced = files.render_all(inventory, tmp_path, 0.0, tools=tools, force=True)
    assert {r.decision.action for r in forced} == {"update"}


def test_a_failed_run_still_records_the_files_it_rendered(
    plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(files, "render_prompt", _fake_render(calls, fail_after=3))
    inventory = build_inventory(plan)
    with pytest.raises(RenderError):
        files.render_all(inventory, tmp_path, 0.0, tools=Tools("espeak-ng", "sox"))
    assert len(files.read_manifest(tmp_path)) == 3
    monkeypatch.setattr(files, "render_prompt", _fake_render(calls))
    again = files.render_all(inventory, tmp_path, 0.0, tools=Tools("espeak-ng", "sox"))
    assert [r.decision.action for r in again[:4]] == ["unchanged"] * 3 + ["create"]
