"""The bundled example is the shared reference plan and directory, unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REFERENCE_DIRECTORY, REFERENCE_PLAN

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/reference is not beside this checkout")
@pytest.mark.parametrize("bundled", [REFERENCE_PLAN, REFERENCE_DIRECTORY], ids=lambda p: p.name)
def test_bundled_example_matches_the_shared_reference(bundled: Path) -> None:
    assert bundled.read_bytes() == (SHARED / bundled.name).read_bytes()
