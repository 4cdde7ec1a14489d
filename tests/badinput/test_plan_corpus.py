"""Bad plans: a corpus of broken plan texts -> `PlanError` naming a line, or a plan.

Never any other exception, and never unbounded time: the dangerous inputs (alias bombs,
deep nesting, a 5 MB file) run in a child process with a deadline and a memory cap, so a
hang is a failed assertion rather than a stuck test run.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from frontdesk.plan import load_plan_text
from frontdesk.plan.errors import PlanError, PlanIssue
from tests.conftest import reference_text

DEADLINE = 3.0  # seconds for one plan, however bad


def edited(*replacements: tuple[str, str]) -> str:
    text = reference_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def laughs(levels: int, width: int = 9) -> str:
    """The "billion laughs": each level is `width` aliases of the one before."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


# Each case must be refused with a PlanError naming a line (or load): never anything else.
CORPUS: dict[str, str] = {
    "empty": "",
    "only-whitespace": "   \n\n  \n",
    "only-comment": "# nothing here\n",
    "null-document": "~\n",
    "scalar-document": "hello\n",
    "list-document": "- practice\n- menu\n",
    "tab-indentation": "practice:\n\tname: x\n",
    "unclosed-flow": "practice: {name: x\n",
    "unclosed-quote": 'practice:\n  name: "Lakeside\n',
    "bad-indentation": "practice:\n  name: x\n timezone: y\n",
    "duplicate-top-level-key": edited(("numbers:", "practice:\n  name: twice\nnumbers:")),
    "duplicate-nested-key": edited(
        ("  timezone: America/Chicago", "  timezone: UTC\n  timezone: UTC")
    ),
    "unknown-top-level-key": reference_text() + "\nfrobnicate: yes\n",
    "unknown-nested-key": edited(("  timezone:", "  timezonee: x\n  timezone:")),
    "practice-is-a-number": edited(("practice:\n  name:", "practice: 5\nold_practice:\n  name:")),
    "numbers-is-a-list": edited(('  "+13125550000": main', '  - "+13125550000"\n  - main')),
    "queues-is-text": edited(("queues:\n", "queues: billing\nold_queues:\n")),
    "max-wait-is-a-mapping": edited(("max_wait: 4m", "max_wait: {minutes: 4}")),
    "schedule-is-a-list": edited(('mon-fri: "08:00-17:00"', "mon-fri: [8, 17]")),
    "timezone-nonsense": edited(("America/Chicago", "Mars/Olympus_Mons")),
    "complex-key": "? [a, b]\n: c\n",
    "anchor-to-nowhere": "practice: *nowhere\n",
    "huge-scalar-5MB": "practice:\n  name: " + "a" * 5_000_000 + "\n",
    "many-keys-100kB": "".join(f"k{n}: v\n" for n in range(12_000)),
    "small-alias-bomb": laughs(5),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_broken_plan_is_refused_with_a_line(name: str) -> None:
    start = time.monotonic()
    issues: list[PlanIssue] = []
    try:
        load_plan_text(CORPUS[name], "bad.yaml")
    except PlanError as exc:
        issues = exc.issues
        assert issues, "a PlanError must carry its issues"
    assert time.monotonic() - start < DEADLINE
    assert all(issue.file == "bad.yaml" for issue in issues)
    assert not issues or any(issue.line >= 1 for issue in issues), issues


def test_the_reference_plan_still_loads() -> None:
    load_plan_text(reference_text())


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x02",
        "practice:\n  name: a\x00b\n",
        "practice:\n  name: \x07\x1b[31m\n",
        "".join(chr(c) for c in range(1, 32) if chr(c) not in "\t\n\r") + "\n",
        "\ufffe\n",
    ],
    ids=["nul", "nul-in-value", "escape-sequence", "control-characters", "noncharacter"],
)
def test_binary_plan_names_a_line(text: str) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan_text(text)
    assert any(issue.line >= 1 for issue in caught.value.issues), str(caught.value)


def _in_child(text_expr: str) -> subprocess.CompletedProcess[str]:
    """Load a plan built by `text_expr` in a child with a deadline and a 1 GiB memory cap.

    The child prints the outcome: `loaded`, `PlanError <line>` or `OTHER <exception>`.
    """
    code = f"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from frontdesk.plan import load_plan_text
from frontdesk.plan.errors import PlanError, PlanIssue
from tests.badinput.test_plan_corpus import laughs
text = {text_expr}
try:
    load_plan_text(text)
    print("loaded")
except PlanError as exc:
    print("PlanError", max(i.line for i in exc.issues))
except BaseException as exc:
    print("OTHER", type(exc).__name__)
"""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=DEADLINE + 1.5,  # includes the interpreter's start; the child is killed after
        check=False,
    )


def _refused_in_time(text_expr: str) -> None:
    try:
        done = _in_child(text_expr)
    except subprocess.TimeoutExpired:
        pytest.fail("loading the plan did not finish in bounded time")
    outcome = done.stdout.strip()
    assert outcome.startswith("PlanError"), outcome or done.stderr[-2000:]
    assert int(outcome.split()[1]) >= 1


def test_billion_laughs_is_refused_or_bounded() -> None:
    _refused_in_time("laughs(9)")


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(PlanError):
        load_plan_text("a: &a [*a]\n")


@pytest.mark.parametrize(
    "text",
    [
        "[" * 1000 + "]" * 1000,
        "{a: " * 1000 + "}" * 1000,
        "".join("  " * i + "a:\n" for i in range(1000)),
    ],
    ids=["flow-lists", "flow-maps", "block-maps"],
)
def test_deeply_nested_plan_is_refused(text: str) -> None:
    with pytest.raises(PlanError):
        load_plan_text(text)


def test_five_megabyte_plan_of_many_keys_is_bounded() -> None:
    _refused_in_time('"".join(f"k{n}: v\\n" for n in range(600_000))')


def test_moderately_nested_plan_is_refused() -> None:
    """Nesting well inside the recursion limit is an ordinary PlanError."""
    with pytest.raises(PlanError) as caught:
        load_plan_text("practice: " + "[" * 50 + "]" * 50)
    assert any(issue.line >= 1 for issue in caught.value.issues)
