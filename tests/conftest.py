"""Shared fixtures: the bundled reference plan and helpers to write broken variants."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import frontdesk
from frontdesk.plan import Plan, load_plan

EXAMPLES = Path(frontdesk.__file__).parent / "examples"
REFERENCE_PLAN = EXAMPLES / "lakeside.yaml"
REFERENCE_DIRECTORY = EXAMPLES / "directory.csv"
CHICAGO = ZoneInfo("America/Chicago")


def reference_text() -> str:
    return REFERENCE_PLAN.read_text(encoding="utf-8")


def local(text: str) -> datetime:
    """`2026-11-30 10:00` as an aware practice-local (America/Chicago) time."""
    return datetime.fromisoformat(text).replace(tzinfo=CHICAGO)


@pytest.fixture(scope="session")
def plan() -> Plan:
    return load_plan(REFERENCE_PLAN)


@pytest.fixture
def write_plan(tmp_path: Path) -> Callable[[str], Path]:
    """Write plan text to `plan.yaml` in a temporary folder and return its path."""

    def write(text: str, name: str = "plan.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def edited_plan(write_plan: Callable[[str], Path]) -> Callable[..., Path]:
    """The reference plan with text replacements applied; each `old` must occur."""

    def edit(*replacements: tuple[str, str]) -> Path:
        text = reference_text()
        for old, new in replacements:
            assert old in text, f"{old!r} is not in the reference plan"
            text = text.replace(old, new, 1)
        return write_plan(text)

    return edit
