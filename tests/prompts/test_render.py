"""Rendering one prompt with espeak-ng and sox (`frontdesk.prompts.render`); skipped where the
tools are not installed."""

from __future__ import annotations

import wave
from pathlib import Path

from frontdesk.plan import Plan
from frontdesk.prompts.inventory import build_inventory
from frontdesk.prompts.render import Tools, render_prompt
from tests.prompts.helpers import needs_tools, prompt_of


@needs_tools
def test_rendering_gives_8khz_mono_16bit_wav(plan: Plan, tmp_path: Path) -> None:
    inventory = build_inventory(plan)
    tools = Tools.find()
    for prompt in (prompt_of(inventory, "en", "menu-1"), prompt_of(inventory, "es", "language-es")):
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
