"""Which prompts a plan needs (`frontdesk.prompts.inventory`): every prompt the IVR, the ACD
and the dialplan can play is in the inventory, in every practice language."""

from __future__ import annotations

import ast
import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest

import frontdesk
from frontdesk.plan import Plan
from frontdesk.plan.model import External
from frontdesk.prompts.inventory import (
    EXTRA_PROMPTS,
    PromptsError,
    build_inventory,
    queue_categories,
)
from frontdesk.routing.ivr import EMERGENCY_NOTICE, INVALID_OPTION
from frontdesk.routing.paths import build_matrix
from tests.conftest import REFERENCE_PLAN
from tests.prompts.helpers import prompt_of, run_prompts, text_of


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
    assert ("callback-{}", ("queued.joined.category",)) in templates  # the callback whisper


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
        "queued.joined.category": {d.request.category for d in decisions},
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

    monkeypatch.setattr(shutil, "which", lambda _name: None)  # no tools needed
    assert run_prompts(str(REFERENCE_PLAN), "--dry-run", "--json") == 0
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
    dialplan = (Path(__file__).parents[2] / "dialplan/extensions.conf").read_text()
    played = {
        sound
        for args in re.findall(r"Playback\(([^)]*)\)", dialplan)
        for sound in args.split(",")[0].split("&")
    }
    assert "frontdesk/emergency-notice" in played
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert run_prompts(str(REFERENCE_PLAN), "--dry-run", "--json") == 0
    rendered = {f"frontdesk/{f['name']}" for f in json.loads(capsys.readouterr().out)["files"]}
    missing = {s for s in played if s not in rendered and s not in CORE_SOUNDS}
    assert not missing, f"the dialplan plays sounds nobody renders: {sorted(missing)}"


def test_callback_whispers_name_the_category(plan: Plan) -> None:
    assert queue_categories(plan) == [
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
    assert text_of(inventory, "en", "callback-billing") == "Callback, billing."
    assert text_of(inventory, "en", "callback-test_results") == "Callback, test results."
    assert text_of(inventory, "en", "callback-operator") == "Callback, front desk."
    assert text_of(inventory, "es", "callback-billing") == "Devolución de llamada, facturación."
    assert prompt_of(inventory, "es", "callback-billing").kind == "whisper"


def test_a_category_unsafe_as_a_file_name_is_warned_about(plan: Plan) -> None:
    entry = plan.numbers["+13125550010"].model_copy(update={"category": "lab results"})
    odd = plan.model_copy(update={"numbers": {**plan.numbers, "+13125550010": entry}})
    inventory = build_inventory(odd)
    assert "lab results" in queue_categories(odd)
    assert not any(p.name == "callback-lab results" for p in inventory.prompts)
    assert any("category 'lab results'" in w for w in inventory.warnings)


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
