"""`frontdesk diagram`: the plan's call flow as DOT (pure) and as SVG drawn by Graphviz."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from frontdesk import diagram
from frontdesk.cli import main
from frontdesk.plan import Plan, load_plan
from frontdesk.routing.clock import PracticeClock
from tests.conftest import REFERENCE_PLAN, local

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz (dot) is not installed")
MONDAY_10 = "2026-11-30 10:00"
MONDAY_20 = "2026-11-30 20:00"
SVG = "{http://www.w3.org/2000/svg}"


def _dot(plan: Plan, at: str = MONDAY_10) -> str:
    return diagram.plan_to_dot(plan, now=local(at), clock=PracticeClock(plan))


def _nodes(dot: str) -> dict[str, str]:
    """Node id -> the rest of its declaration (label and attributes)."""
    found = re.findall(r'^  "((?:[^"\\]|\\.)*)" \[(.*)\];$', dot, flags=re.MULTILINE)
    return dict(found)


def _edges(dot: str) -> list[tuple[str, str, str]]:
    pattern = r'^  "((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)"(.*);$'
    return re.findall(pattern, dot, flags=re.MULTILINE)


def _has_edge(dot: str, tail: str, head: str, text: str = "") -> bool:
    return any(t == tail and h == head and text in rest for t, h, rest in _edges(dot))


def _svg_texts(svg: str) -> str:
    root = ET.fromstring(svg)
    return "\n".join(t.text or "" for t in root.iter(f"{SVG}text"))


# -- DOT ----------------------------------------------------------------------------------
def test_reference_plan_has_every_number_option_queue_and_destination(plan: Plan) -> None:
    dot = _dot(plan)
    nodes = _nodes(dot)
    assert dot.startswith("digraph frontdesk {")
    assert "rankdir=LR" in dot
    for number in plan.numbers:
        assert diagram.did_id(number) in nodes
    assert _has_edge(dot, "did:+13125550000", "menu:main")
    assert _has_edge(dot, "did:+13125550010", "queue:nurse_triage", "refill")
    for name in plan.queues:
        assert f'label="queue {name}\\n' in nodes[diagram.queue_id(name)]
    options = {
        "1": "to schedule, change or cancel an appointment",
        "1.1": "if you are a new patient",
        "1.4": "for orthopedics",
        "2": "for billing or insurance",
        "3": "for a clinical question or to reach your care team",
        "3.1": "if you have chest pain or difficulty breathing",
        "3.2": "for any other clinical question",
        "4.4": "for workers' compensation or insurance forms",
    }
    for path, label in options.items():
        key = path.rsplit(".", 1)[-1]
        assert f'label="{key}: {label}' in nodes[f"option:{path}"]
    assert sum(1 for node in nodes if node.startswith("option:")) == 4 + 4 + 2 + 4
    assert _has_edge(dot, "menu:main", "option:1")
    assert _has_edge(dot, "option:1", "option:1.3")
    assert _has_edge(dot, "option:1.3", "queue:scheduling", "skill cardiology")
    # The urgent path: the leaf, the front of nurse triage in hours, the 24/7 line after.
    assert _has_edge(dot, "option:3.1", "urgent")
    assert _has_edge(dot, "urgent", "queue:nurse_triage", "priority front")
    assert _has_edge(dot, "urgent", "external:urgent_nurse_line", "after hours")
    assert "(24/7)" in nodes["external:urgent_nurse_line"]
    # Every after-hours destination, by name and never by dial string.
    for box, callback in (
        ("scheduling", "next business day"),
        ("intake", "same day"),
        ("billing", "next business day"),
        ("referrals", "next business day"),
    ):
        assert _has_edge(dot, f"queue:{box}", f"voicemail:{box}", "after hours")
        assert f"callback: {callback}" in nodes[f"voicemail:{box}"]
    assert _has_edge(dot, "queue:nurse_triage", "external:after_hours_nurse", "after hours")
    assert _has_edge(dot, "queue:front_desk", "external:answering_service", "after hours")
    assert "PJSIP" not in dot
    assert "+13125550100" not in dot


def test_fallbacks_language_key_and_language_line(plan: Plan) -> None:
    dot = _dot(plan)
    for menu in ("menu:main", "option:1", "option:3", "option:4"):
        assert _has_edge(dot, menu, "queue:front_desk", "0: operator")
        assert _has_edge(dot, menu, "queue:front_desk", "no input / invalid \u00d73")
    assert _has_edge(dot, "menu:main", "menu:main", "9: español")
    # Only referrals has no Spanish speaker: its Spanish callers go to the language line.
    fallbacks = [(t, h) for t, h, rest in _edges(dot) if h == "external:language_line"]
    assert fallbacks == [("queue:referrals", "external:language_line")]
    assert _has_edge(dot, "queue:referrals", "external:language_line", "style=dashed")


def test_queue_state_follows_the_clock(plan: Plan) -> None:
    morning, evening = _nodes(_dot(plan, MONDAY_10)), _nodes(_dot(plan, MONDAY_20))
    for name in plan.queues:
        assert "open now" in morning[f"queue:{name}"]
        assert "#2e7d32" in morning[f"queue:{name}"]
        assert "closed now" in evening[f"queue:{name}"]
        assert "#757575" in evening[f"queue:{name}"]
    # 17:30: the office is closed, nurse triage (until 18:00) is open.
    late = _nodes(_dot(plan, "2026-11-30 17:30"))
    assert "closed now" in late["queue:scheduling"]
    assert "open now" in late["queue:nurse_triage"]
    assert "mon-fri 07:30-18:00; sat 09:00-12:00" in late["queue:nurse_triage"]
    # Christmas Eve is a plan closure: closed all day.
    eve = _nodes(_dot(plan, "2026-12-24 10:00"))
    assert "closed now (holiday: closed)" in eve["queue:scheduling"]


def test_the_dot_is_stable(plan: Plan) -> None:
    assert _dot(plan) == _dot(load_plan(REFERENCE_PLAN))


def test_quote_escapes_everything_dot_or_graphviz_would_read() -> None:
    assert diagram.quote('say "hi"\\now\nnext') == '"say \\"hi\\"\\\\now\\nnext"'
    assert diagram.quote("a & b <c>\x00\t") == '"a &amp; b &lt;c&gt; "'


@pytest.fixture
def awkward_plan(edited_plan: Callable[..., Path]) -> Path:
    return edited_plan(
        (
            'label: {en: "for billing or insurance"',
            'label: {en: "for \\"billing\\" \\\\ insurance\\nline two <b>&amp;</b>"',
        )
    )


def test_awkward_labels_do_not_break_the_dot(awkward_plan: Path) -> None:
    plan = load_plan(awkward_plan)
    assert plan.menu.options["2"].label["en"] == 'for "billing" \\ insurance\nline two <b>&amp;</b>'
    dot = _dot(plan)
    nodes = _nodes(dot)
    assert set(nodes) == set(_nodes(_dot(load_plan(REFERENCE_PLAN))))
    assert nodes["option:2"].startswith(
        'label="2: for \\"billing\\" \\\\ insurance\\nline two &lt;b&gt;&amp;amp;&lt;/b&gt;"'
    )


@needs_dot
def test_awkward_labels_render_literally(awkward_plan: Path) -> None:
    svg = diagram.render_svg(_dot(load_plan(awkward_plan)))
    texts = _svg_texts(svg)
    assert 'for "billing" \\ insurance' in texts
    assert "line two <b>&amp;</b>" in texts


# -- rendering ----------------------------------------------------------------------------
@needs_dot
def test_render_svg_draws_every_queue(plan: Plan) -> None:
    svg = diagram.render_svg(_dot(plan))
    texts = _svg_texts(svg)
    for name in plan.queues:
        assert f"queue {name}" in texts
    assert "transfer: urgent_nurse_line" in texts
    assert "9: español" in texts


def test_render_svg_without_graphviz(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(diagram.DiagramError, match="apt-get install graphviz"):
        diagram.render_svg("digraph g {}")


def test_render_svg_reports_graphviz_errors() -> None:
    if not HAVE_DOT:
        pytest.skip("Graphviz (dot) is not installed")
    with pytest.raises(diagram.DiagramError, match="Graphviz failed"):
        diagram.render_svg("digraph {{{")


# -- the command --------------------------------------------------------------------------
@needs_dot
def test_cli_writes_svg(tmp_path: Path) -> None:
    out = tmp_path / "flow.svg"
    assert (
        main(["diagram", str(REFERENCE_PLAN), "--out", str(out), "--at", "2026-11-30T20:00"]) == 0
    )
    texts = _svg_texts(out.read_text(encoding="utf-8"))
    assert "queue billing" in texts
    assert "closed now" in texts
    assert "open now" not in texts


def test_cli_writes_dot_without_graphviz(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    out = tmp_path / "flow.dot"
    argv = ["diagram", str(REFERENCE_PLAN), "--out", str(out), "--format", "dot"]
    assert main([*argv, "--at", "2026-11-30T10:00"]) == 0
    assert '"queue:front_desk"' in out.read_text(encoding="utf-8")


def test_cli_without_graphviz_exits_2_with_the_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    out = tmp_path / "flow.svg"
    assert main(["diagram", str(REFERENCE_PLAN), "--out", str(out)]) == 2
    assert "apt-get install graphviz" in capsys.readouterr().err
    assert not out.exists()


def test_cli_bad_plan_and_bad_time_exit_2(
    edited_plan: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = edited_plan(("schedule: billing\n", "schedule: billling\n"))
    out = tmp_path / "flow.dot"
    assert main(["diagram", str(bad), "--out", str(out), "--format", "dot"]) == 2
    assert "did you mean 'billing'" in capsys.readouterr().err
    argv = ["diagram", str(REFERENCE_PLAN), "--out", str(out), "--at", "soon"]
    assert main(argv) == 2
    assert "--at" in capsys.readouterr().err
    assert not out.exists()
