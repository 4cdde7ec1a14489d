"""The optional `golive` section: declared test callers, E.164, errors with key and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from frontdesk.plan import Plan, PlanError, load_plan
from tests.conftest import reference_text


def test_plans_without_the_section_have_no_test_callers(plan: Plan) -> None:
    assert plan.golive.test_callers == ()


def test_test_callers_load_as_e164(write_plan: Callable[[str], Path]) -> None:
    text = reference_text() + '\ngolive:\n  test_callers: ["+13125559901", "+13125559902"]\n'
    plan = load_plan(write_plan(text))
    assert plan.golive.test_callers == ("+13125559901", "+13125559902")


@pytest.mark.parametrize("number", ["312-555-9901", "+1312", "(312) 555-9901", "nobody"])
def test_a_number_not_written_in_e164_is_refused_with_key_and_line(
    write_plan: Callable[[str], Path], number: str
) -> None:
    text = (
        reference_text() + f'\ngolive:\n  test_callers:\n    - "+13125559901"\n    - "{number}"\n'
    )
    path = write_plan(text)
    with pytest.raises(PlanError) as caught:
        load_plan(path, "plan.yaml")
    (issue,) = caught.value.issues
    assert issue.path == ("golive", "test_callers", 1)
    assert issue.line == len(text.splitlines())  # the line of the bad number
    assert f"'{number}' is not an E.164 number" in issue.message


def test_an_unknown_key_in_the_section_is_named(write_plan: Callable[[str], Path]) -> None:
    text = reference_text() + '\ngolive:\n  test_caller: ["+13125559901"]\n'
    with pytest.raises(PlanError) as caught:
        load_plan(write_plan(text), "plan.yaml")
    assert "golive.test_caller: unknown key 'test_caller'" in str(caught.value.issues[0])
    assert "did you mean 'test_callers'" in str(caught.value.issues[0])
