"""`frontdesk prompts`: the prompt inventory and texts (pure), and rendering with espeak-ng + sox."""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import re
import shutil
import wave
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

import frontdesk
from frontdesk.plan import Plan
from frontdesk.plan.model import External
from frontdesk.prompts import inventory as prompts
from frontdesk.prompts.inventory import (
    EXTRA_PROMPTS,
    Decision,
    Inventory,
    Prompt,
    PromptsError,
    Tools,
    build_inventory,
    decide,
    render_prompt,
)
from frontdesk.routing.ivr import EMERGENCY_NOTICE, INVALID_OPTION
from frontdesk.routing.paths import build_matrix
from tests.conftest import REFERENCE_PLAN

HAVE_TOOLS = shutil.which("espeak-ng") is not None and shutil.which("sox") is not None
needs_tools = pytest.mark.skipif(not HAVE_TOOLS, reason="espeak-ng and sox are not installed")


def _text(inventory: Inventory, language: str, name: str) -> str:
    found = [p for p in inventory.prompts if p.language == language and p.name == name]
    assert len(found) == 1, (language, name)
    return found[0].text


def _prompt(inventory: Inventory, language: str, name: str) -> Prompt:
    return next(p for p in inventory.prompts if p.language == language and p.name == name)


def _with_practice(plan: Plan, **changes: object) -> Plan:
    return plan.model_copy(update={"practice": plan.practice.model_copy(update=changes)})


# -- inventory -----------------------------------------------------------------------------
def test_every_prompt_the_ivr_can_play_is_rendered_in_every_language(plan: Plan) -> None:
    matrix = build_matrix(plan, date(2026, 11, 30))
    played = {name for outcome in matrix.outcomes.values() for name in outcome.result.prompts}
    assert "voicemail-billing" in played  # the matrix does reach greetings and announcements
    assert "urgent-connect" in played
    inventory = build_inventory(plan)
    for language in plan.practice.languages:
        names = {p.name for p in inventory.prompts if p.language == language}
        assert played <= names, played - names
        assert set(EXTRA_PROMPTS) <= names


def test_inventory_of_the_reference_plan(plan: Plan) -> None:
    inventory = build_inventory(plan)
    assert inventory.warnings == ()
    assert inventory.names() == [
        "emergency-notice",
        "menu-1",
        "menu-1-1",
        "menu-1-2",
        "menu-1-3",
        "menu-1-4",
        "menu-2",
        "menu-3",
        "menu-3-1",
        "menu-3-2",
        "menu-4",
        "menu-4-1",
        "menu-4-2",
        "menu-4-3",
        "menu-4-4",
        "menu-operator",
        "language-es",
        "invalid-option",
        "voicemail-scheduling",
        "voicemail-intake",
        "voicemail-billing",
        "voicemail-referrals",
        "urgent-connect",
        "please-hold",
        "callback-offer",
        "callback-confirmed",
        "fallback-voicemail",
        "feature-unavailable",
        "callback-scheduling",
        "callback-new_patient",
        "callback-billing",
        "callback-clinical",
        "callback-refill",
        "callback-referral",
        "callback-test_results",
        "callback-forms",
        "callback-operator",
        "callback-unrouted",
    ]
    assert len(inventory.prompts) == 2 * len(inventory.names())
    paths = {str(p.path) for p in inventory.prompts}
    assert "en/frontdesk/menu-1-3.wav" in paths
    assert "es/frontdesk/voicemail-billing.wav" in paths


# -- every media the daemon can play is rendered --------------------------------------------
PACKAGE = Path(frontdesk.__file__).parent
SOUND = "sound:frontdesk/"


def played_in_source(source: str) -> tuple[set[str], set[tuple[str, tuple[str, ...]]]]:
    """`sound:frontdesk/<name>` literals, and f-strings as (template, placeholder sources).

    The bare prefix (`SOUND_PREFIX`, joined to the IVR's prompt names) is left out: the
    IVR's prompts are checked by walking every route of the plan."""
    literals: set[str] = set()
    templates: set[tuple[str, tuple[str, ...]]] = set()
    nodes = list(ast.walk(ast.parse(source)))
    inside_f_strings = {
        id(part) for node in nodes if isinstance(node, ast.JoinedStr) for part in node.values
    }
    for node in nodes:
        if id(node) in inside_f_strings:
            continue
        if isinstance(node, ast.JoinedStr):
            parts: list[str] = []
            holes: list[str] = []
            for value in node.values:
                if isinstance(value, ast.Constant):
                    parts.append(str(value.value))
                else:
                    assert isinstance(value, ast.FormattedValue)
                    holes.append(ast.unparse(value.value))
                    parts.append("{}")
            text = "".join(parts)
            if text.startswith(SOUND):
                templates.add((text.removeprefix(SOUND), tuple(holes)))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(SOUND)
            and node.value != SOUND
        ):
            literals.add(node.value.removeprefix(SOUND))
    return literals, templates


def _daemon_media() -> tuple[set[str], set[tuple[str, tuple[str, ...]]]]:
    literals: set[str] = set()
    templates: set[tuple[str, tuple[str, ...]]] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        found, patterns = played_in_source(path.read_text(encoding="utf-8"))
        literals |= found
        templates |= patterns
    return literals, templates


def test_the_scan_finds_literals_and_f_strings() -> None:
    source = (
        'PLAY = ["sound:frontdesk/new-thing", "sound:beep"]\n'
        'media = f"sound:frontdesk/x-{call.kind}-{n}"\n'
        'SOUND_PREFIX = "sound:frontdesk/"\n'
    )
    assert played_in_source(source) == (
        {"new-thing"},
        {("x-{}-{}", ("call.kind", "n"))},
    )
    literals, templates = _daemon_media()
    assert {"callback-offer", "callback-confirmed"} <= literals  # the ACD's
    assert ("callback-{}", ("queued.category",)) in templates  # the callback whisper


def test_every_media_the_daemon_can_play_is_rendered(
    plan: Plan, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`frontdesk prompts` renders every `sound:frontdesk/...` the daemon can ask for: the
    literals and f-strings in the daemon's source, the IVR's prompts on every route of the
    plan in every regime, and the IVR's prompt-name constants. A new media name fails here
    until the renderer makes it (or this test learns what a new f-string placeholder takes)."""
    matrix = build_matrix(plan, date(2026, 11, 30))
    decisions = [outcome.result.decision for outcome in matrix.outcomes.values()]
    values_of = {
        # ACD: the category of the queued call (each route's, as the IVR decides it).
        "queued.category": {d.request.category for d in decisions},
    }
    literals, templates = _daemon_media()
    wanted = set(literals)
    for template, holes in templates:
        unknown = [h for h in holes if h not in values_of]
        assert not unknown, f"which values can {unknown} take in sound:frontdesk/{template}?"
        combos: list[list[str]] = [[]]
        for hole in holes:
            combos = [[*c, v] for c in combos for v in sorted(values_of[hole])]
        wanted |= {template.format(*combo) for combo in combos}
    wanted |= {name for outcome in matrix.outcomes.values() for name in outcome.result.prompts}
    wanted |= {EMERGENCY_NOTICE, INVALID_OPTION, *EXTRA_PROMPTS}
    assert {"callback-operator", "callback-unrouted", "callback-billing"} <= wanted

    monkeypatch.setattr(prompts.shutil, "which", lambda _name: None)  # no tools needed
    assert _run(str(REFERENCE_PLAN), "--dry-run", "--json") == 0
    files = json.loads(capsys.readouterr().out)["files"]
    for language in plan.practice.languages:
        rendered = {f["name"] for f in files if f["language"] == language}
        assert wanted <= rendered, (language, sorted(wanted - rendered))


# Asterisk's own sounds the dialplan may play: in Debian's asterisk-core-sounds-en (what
# shared/asterisk/real/build.sh installs); a real Asterisk cannot play a missing file.
CORE_SOUNDS = {"beep"}


def test_every_sound_the_dialplan_plays_exists(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dialplan = (Path(__file__).parent.parent / "dialplan/extensions.conf").read_text()
    played = {
        sound
        for args in re.findall(r"Playback\(([^)]*)\)", dialplan)
        for sound in args.split(",")[0].split("&")
    }
    assert "frontdesk/emergency-notice" in played
    monkeypatch.setattr(prompts.shutil, "which", lambda _name: None)
    assert _run(str(REFERENCE_PLAN), "--dry-run", "--json") == 0
    rendered = {f"frontdesk/{f['name']}" for f in json.loads(capsys.readouterr().out)["files"]}
    missing = {s for s in played if s not in rendered and s not in CORE_SOUNDS}
    assert not missing, f"the dialplan plays sounds nobody renders: {sorted(missing)}"


def test_callback_whispers_name_the_category(plan: Plan) -> None:
    assert prompts.queue_categories(plan) == [
        "scheduling",
        "new_patient",
        "billing",
        "clinical",
        "refill",
        "referral",
        "test_results",
        "forms",
        "operator",
        "unrouted",
    ]
    inventory = build_inventory(plan)
    assert _text(inventory, "en", "callback-billing") == "Callback, billing."
    assert _text(inventory, "en", "callback-test_results") == "Callback, test results."
    assert _text(inventory, "en", "callback-operator") == "Callback, front desk."
    assert _text(inventory, "es", "callback-billing") == "Devolución de llamada, facturación."
    assert _prompt(inventory, "es", "callback-billing").kind == "whisper"


def test_a_category_unsafe_as_a_file_name_is_warned_about(plan: Plan) -> None:
    entry = plan.numbers["+13125550010"].model_copy(update={"category": "lab results"})
    odd = plan.model_copy(update={"numbers": {**plan.numbers, "+13125550010": entry}})
    inventory = build_inventory(odd)
    assert "lab results" in prompts.queue_categories(odd)
    assert not any(p.name == "callback-lab results" for p in inventory.prompts)
    assert any("category 'lab results'" in w for w in inventory.warnings)


def test_texts_in_english(plan: Plan) -> None:
    inventory = build_inventory(plan)
    assert _text(inventory, "en", "menu-1") == (
        "To schedule, change or cancel an appointment, press 1."
    )
    assert _text(inventory, "en", "menu-1-3") == "For cardiology, press 3."
    assert _text(inventory, "en", "menu-operator") == "To speak with the front desk, press 0."
    assert _text(inventory, "en", "emergency-notice") == (
        "If this is a medical emergency, hang up and dial 9 1 1."
    )
    assert _text(inventory, "en", "invalid-option") == "Sorry, that is not a valid option."
    assert "call you back on the next business day" in _text(inventory, "en", "voicemail-billing")
    assert "call you back the same day" in _text(inventory, "en", "voicemail-intake")
    assert "Lakeside Multi-Specialty Group" in _text(inventory, "en", "voicemail-intake")
    assert "stay on the line" in _text(inventory, "en", "urgent-connect")
    assert _prompt(inventory, "en", "menu-1").voice == "en-us"


def test_texts_in_spanish(plan: Plan) -> None:
    inventory = build_inventory(plan)
    assert _text(inventory, "es", "menu-1") == (
        "Para programar, cambiar o cancelar una cita, oprima 1."
    )
    assert _text(inventory, "es", "menu-1-3") == "Para cardiología, oprima 3."
    assert _text(inventory, "es", "menu-operator") == "Para hablar con la recepción, oprima 0."
    assert "emergencia médica" in _text(inventory, "es", "emergency-notice")
    assert "el próximo día hábil" in _text(inventory, "es", "voicemail-billing")
    assert "el mismo día" in _text(inventory, "es", "voicemail-intake")
    assert _prompt(inventory, "es", "menu-1").voice == "es-419"


def test_language_prompt_is_spoken_in_the_language_it_offers(plan: Plan) -> None:
    inventory = build_inventory(plan)
    for folder in ("en", "es"):
        prompt = _prompt(inventory, folder, "language-es")
        assert prompt.text == "Para español, oprima 9."
        assert prompt.voice == "es-419"


def test_a_language_without_phrases_falls_back_to_english_with_a_warning(plan: Plan) -> None:
    languages = {**plan.practice.languages, "fr": plan.practice.languages["es"].model_copy()}
    languages["fr"] = languages["fr"].model_copy(update={"key": "8", "skill": None})
    inventory = build_inventory(_with_practice(plan, languages=languages))
    assert any("'fr'" in w and "English" in w for w in inventory.warnings)
    menu = _prompt(inventory, "fr", "menu-2")
    assert (menu.text, menu.voice) == ("For billing or insurance, press 2.", "en-us")
    assert _text(inventory, "es", "language-fr") == "For English, press 8."


def test_untranslated_callback_window_is_spoken_as_written_with_a_warning(plan: Plan) -> None:
    queues = dict(plan.queues)
    after = queues["billing"].after_hours
    assert after is not None
    billing_after = after.model_copy(update={"callback": "within 3 days"})
    queues["billing"] = queues["billing"].model_copy(update={"after_hours": billing_after})
    inventory = build_inventory(plan.model_copy(update={"queues": queues}))
    assert "call you back within 3 days" in _text(inventory, "en", "voicemail-billing")
    assert "within 3 days" in _text(inventory, "es", "voicemail-billing")
    assert any("within 3 days" in w and "(es)" in w for w in inventory.warnings)


def test_emergency_number_follows_the_phone_region(plan: Plan) -> None:
    british = build_inventory(_with_practice(plan, phone_region="GB"))
    assert _text(british, "en", "emergency-notice").endswith("dial 9 9 9.")
    assert _prompt(british, "en", "menu-1").voice == "en-gb"
    german = build_inventory(_with_practice(plan, phone_region="DE"))
    assert _text(german, "en", "emergency-notice").endswith("dial 1 1 2.")
    assert any("112" in w for w in german.warnings)


def test_star_and_pound_keys_are_spoken_as_words(plan: Plan) -> None:
    menu = plan.menu.model_copy(update={"operator_key": "*"})
    inventory = build_inventory(plan.model_copy(update={"menu": menu}))
    assert _text(inventory, "en", "menu-operator") == "To speak with the front desk, press star."
    assert _text(inventory, "es", "menu-operator").endswith("oprima asterisco.")


def test_a_submenu_with_another_operator_key_is_warned_about(plan: Plan) -> None:
    options = dict(plan.menu.options)
    submenu = options["3"].menu
    assert submenu is not None
    options["3"] = options["3"].model_copy(
        update={"menu": submenu.model_copy(update={"operator_key": "#"})}
    )
    inventory = build_inventory(
        plan.model_copy(update={"menu": plan.menu.model_copy(update={"options": options})})
    )
    assert any("menu 3 uses operator key #" in w for w in inventory.warnings)


def test_names_unsafe_as_file_names_are_refused(plan: Plan) -> None:
    external = {**plan.external, "evil": External(dial="PJSIP/1@trunk", announce="../../etc/x")}
    with pytest.raises(PromptsError, match=r"\.\./\.\./etc/x"):
        build_inventory(plan.model_copy(update={"external": external}))


def test_an_announce_named_like_another_prompt_shares_its_file(plan: Plan) -> None:
    external = {**plan.external, "desk": External(dial="PJSIP/1@trunk", announce="please-hold")}
    inventory = build_inventory(plan.model_copy(update={"external": external}))
    assert inventory.names().count("please-hold") == 1
    assert any("please-hold" in w for w in inventory.warnings)


# -- which files are replaced --------------------------------------------------------------
PROMPT = Prompt("menu-1", "en", "To pay, press 1.", "en-us", "menu")


def _manifest_for(path: Path, text: str = PROMPT.text) -> dict[str, dict[str, str]]:
    return {
        str(PROMPT.path): {
            "sha256": prompts._sha256(path),
            "text": text,
            "voice": PROMPT.voice,
            "renderer": prompts.RENDERER,
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
            raise prompts.RenderError("espeak-ng failed (1): boom")
        calls.append(prompt.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f"{prompt.voice}:{prompt.text}".encode())

    return render


def test_render_all_creates_then_leaves_alone_then_keeps_recordings(
    plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(prompts, "render_prompt", _fake_render(calls))
    inventory = build_inventory(plan)
    tools = Tools("espeak-ng", "sox")
    first = prompts.render_all(inventory, tmp_path, 0.0, tools=tools)
    assert {r.decision.action for r in first} == {"create"}
    assert len(calls) == len(inventory.prompts)
    recording = tmp_path / "en" / "frontdesk" / "menu-operator.wav"
    recording.write_bytes(b"the practice manager's voice")
    second = prompts.render_all(inventory, tmp_path, 0.0, tools=tools)
    actions = {str(r.prompt.path): r.decision.action for r in second}
    assert actions.pop("en/frontdesk/menu-operator.wav") == "keep"
    assert set(actions.values()) == {"unchanged"}
    assert len(calls) == len(inventory.prompts)  # nothing rendered again
    assert recording.read_bytes() == b"the practice manager's voice"
    forced = prompts.render_all(inventory, tmp_path, 0.0, tools=tools, force=True)
    assert {r.decision.action for r in forced} == {"update"}


def test_a_failed_run_still_records_the_files_it_rendered(
    plan: Plan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(prompts, "render_prompt", _fake_render(calls, fail_after=3))
    inventory = build_inventory(plan)
    with pytest.raises(prompts.RenderError):
        prompts.render_all(inventory, tmp_path, 0.0, tools=Tools("espeak-ng", "sox"))
    assert len(prompts.read_manifest(tmp_path)) == 3
    monkeypatch.setattr(prompts, "render_prompt", _fake_render(calls))
    again = prompts.render_all(inventory, tmp_path, 0.0, tools=Tools("espeak-ng", "sox"))
    assert [r.decision.action for r in again[:4]] == ["unchanged"] * 3 + ["create"]


# -- the command -----------------------------------------------------------------------------
def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="frontdesk")
    prompts.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["prompts", *argv])


def _run(*argv: str) -> int:
    args = _args(*argv)
    code: int = args.handler(args, Console(file=io.StringIO(), width=120))
    return code


def test_dry_run_lists_texts_without_the_tools(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(prompts.shutil, "which", lambda _name: None)
    assert _run(str(REFERENCE_PLAN), "--dry-run", "--json", "--out", str(tmp_path)) == 0
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
    monkeypatch.setattr(prompts.shutil, "which", lambda name: None if name == "sox" else "/x")
    assert _run(str(REFERENCE_PLAN), "--out", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "sox not found" in err
    assert "apt-get install espeak-ng sox" in err


def test_out_is_required_unless_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(str(REFERENCE_PLAN)) == 2
    assert "--out" in capsys.readouterr().err


def test_an_invalid_plan_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "plan.yaml"
    bad.write_text("practice: {name: x}\n", encoding="utf-8")
    assert _run(str(bad), "--dry-run") == 2
    assert "plan.yaml" in capsys.readouterr().err


# -- real rendering ----------------------------------------------------------------------------
@needs_tools
def test_rendering_gives_8khz_mono_16bit_wav(plan: Plan, tmp_path: Path) -> None:
    inventory = build_inventory(plan)
    tools = Tools.find()
    for prompt in (_prompt(inventory, "en", "menu-1"), _prompt(inventory, "es", "language-es")):
        target = tmp_path / prompt.path
        render_prompt(prompt, target, tools)
        with wave.open(str(target)) as wav:
            assert wav.getframerate() == 8000
            assert wav.getnchannels() == 1
            assert wav.getsampwidth() == 2
            assert wav.getcomptype() == "NONE"
            assert wav.getnframes() > 8000  # more than a second of speech
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "en",
        "es",
        "frontdesk",
        "frontdesk",
        "language-es.wav",
        "menu-1.wav",
    ]  # no temporary files left behind


@needs_tools
def test_the_command_renders_everything_and_keeps_recordings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = tmp_path / "plan.yaml"
    shutil.copyfile(REFERENCE_PLAN, plan_file)
    os.utime(plan_file, (1_000_000, 1_000_000))
    sounds = tmp_path / "sounds"
    assert _run(str(plan_file), "--out", str(sounds), "--json") == 0
    first = json.loads(capsys.readouterr().out)
    assert {f["action"] for f in first["files"]} == {"create"}
    assert len(list(sounds.rglob("*.wav"))) == len(first["files"]) == 76

    recording = sounds / "es" / "frontdesk" / "menu-2.wav"
    recording.write_bytes(b"RIFF a recording by the practice")
    assert _run(str(plan_file), "--out", str(sounds), "--json") == 0
    second = {
        f["name"] + "/" + f["language"]: f["action"]
        for f in json.loads(capsys.readouterr().out)["files"]
    }
    assert second.pop("menu-2/es") == "keep"
    assert set(second.values()) == {"unchanged"}
    assert recording.read_bytes() == b"RIFF a recording by the practice"

    assert _run(str(plan_file), "--out", str(sounds), "--force") == 0
    capsys.readouterr()
    with wave.open(str(recording)) as wav:
        assert wav.getframerate() == 8000
