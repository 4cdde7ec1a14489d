"""The optional `practice.site` (docs/scale.md "Several sites"): which site a plan is;
FRONTDESK_SITE wins over it, and without either the site is `main`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from frontdesk.plan import Plan, PlanError, load_plan
from frontdesk.settings import Settings
from tests.conftest import reference_text


def _with_site(site: str) -> str:
    return reference_text().replace("practice:\n", f"practice:\n  site: {site}\n", 1)


def test_the_reference_plan_has_no_site(plan: Plan) -> None:
    assert plan.practice.site is None


def test_a_plan_names_its_site(write_plan: Callable[[str], Path]) -> None:
    assert load_plan(write_plan(_with_site("north"))).practice.site == "north"


def test_a_bad_site_name_is_refused_with_its_line(write_plan: Callable[[str], Path]) -> None:
    with pytest.raises(PlanError) as refused:
        load_plan(write_plan(_with_site('"North Side"')))
    assert "practice.site" in str(refused.value)


def test_frontdesk_site_is_checked() -> None:
    assert Settings.from_env({"FRONTDESK_SITE": "south-2"}).site == "south-2"
    assert Settings.from_env({}).site is None
    with pytest.raises(ValueError, match="FRONTDESK_SITE"):
        Settings.from_env({"FRONTDESK_SITE": "South"})
