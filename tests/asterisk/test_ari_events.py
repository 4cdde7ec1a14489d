"""asterisk/ari_events.py: the event types frontdesk asks Asterisk not to send are ones
no module reads, and each is a real ARI event type (a typo would filter nothing)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from frontdesk.asterisk.ari_events import IGNORED_EVENTS

PACKAGE = Path(__file__).resolve().parents[2] / "daemon" / "frontdesk"
EVENTS_MODEL = Path(__file__).resolve().parents[3] / "shared/asterisk/ari-api-docs/events.json"


def _read_types() -> set[str]:
    """Every quoted ARI event type name in the daemon's code (the emulator aside)."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "emulator" in path.parts or path.name == "ari_events.py":
            continue
        names.update(re.findall(r"[\"']([A-Z][A-Za-z]+)[\"']", path.read_text()))
    return names


def test_no_ignored_type_is_one_frontdesk_reads() -> None:
    assert not set(IGNORED_EVENTS) & _read_types()
    assert "StasisStart" in _read_types()  # the scan itself finds what is read


@pytest.mark.skipif(not EVENTS_MODEL.exists(), reason="no ../shared/asterisk/ari-api-docs")
def test_every_ignored_type_is_an_ari_event() -> None:
    models = json.loads(EVENTS_MODEL.read_text())["models"]
    assert set(IGNORED_EVENTS) <= set(models)
