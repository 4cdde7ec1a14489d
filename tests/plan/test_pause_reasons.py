"""The optional `pause_reasons` list: the practice's own reasons besides lunch, meeting and
admin; lowercase words, each once; errors with key and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from frontdesk.plan import Plan, PlanError, load_plan
from frontdesk.plan.model import BUILTIN_PAUSE_REASONS
from tests.conftest import reference_text


def test_the_reference_plan_has_the_built_in_reasons_only(plan: Plan) -> None:
    assert plan.pause_reasons == ()
    assert plan.all_pause_reasons == BUILTIN_PAUSE_REASONS == ("lunch", "meeting", "admin")


def test_the_plans_own_reasons_follow_the_built_in_ones(
    write_plan: Callable[[str], Path],
) -> None:
    text = reference_text() + "\npause_reasons: [training, huddle, lunch]\n"
    plan = load_plan(write_plan(text))
    assert plan.pause_reasons == ("training", "huddle", "lunch")
    assert plan.all_pause_reasons == ("lunch", "meeting", "admin", "training", "huddle")


@pytest.mark.parametrize(
    ("listed", "message"),
    [
        ('["Training"]', "pause reason 'Training' must be a lowercase word"),
        ('["two words"]', "pause reason 'two words' must be a lowercase word"),
        ('["1on1"]', "pause reason '1on1' must be a lowercase word"),
        ('["' + "x" * 33 + '"]', "at most 32 characters"),
        ('[""]', "must be a lowercase word"),
        ("[training, training]", "listed twice: training"),
        ("training", "expected a list"),
    ],
)
def test_a_bad_reason_is_refused_with_key_and_line(
    write_plan: Callable[[str], Path], listed: str, message: str
) -> None:
    text = reference_text() + f"\npause_reasons: {listed}\n"
    with pytest.raises(PlanError) as caught:
        load_plan(write_plan(text), "plan.yaml")
    (issue,) = caught.value.issues
    assert issue.path[0] == "pause_reasons"
    assert issue.line == len(text.splitlines())
    assert message in issue.message
