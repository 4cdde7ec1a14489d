"""Reading plan YAML: no implicit typing, nulls, duplicate keys, syntax errors, line map."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontdesk.plan.errors import PlanIssue
from frontdesk.plan.source import Source, parse_source, read_source
from tests.conftest import reference_text


def _data(text: str) -> object:
    source, issues = parse_source(text, "plan.yaml")
    assert issues == []
    assert source is not None
    return source.data


def _source(text: str) -> Source:
    source, issues = parse_source(text, "plan.yaml")
    assert issues == []
    assert source is not None
    return source


def _only_issue(text: str) -> PlanIssue:
    _, issues = parse_source(text, "plan.yaml")
    assert len(issues) == 1
    return issues[0]


# --- YAML 1.1 implicit typing does not apply ---------------------------------------------


@pytest.mark.parametrize(
    "plain",
    [
        "no",
        "yes",
        "on",
        "off",
        "true",
        "False",
        "0200",
        "1:30",
        "2026-12-24",
        "1.5",
        "0x1F",
        "9",
        ".inf",
    ],
)
def test_plain_scalars_stay_text(plain: str) -> None:
    assert _data(f"value: {plain}\n") == {"value": plain}


def test_keys_stay_text() -> None:
    assert _data("1: a\nno: b\n0200: c\n") == {"1": "a", "no": "b", "0200": "c"}


def test_list_items_stay_text() -> None:
    assert _data("closed: [2026-12-24, no, 0200]\n") == {"closed": ["2026-12-24", "no", "0200"]}


@pytest.mark.parametrize("empty", ["", "~", "null", "Null", "NULL"])
def test_empty_tilde_and_null_plain_scalars_are_none(empty: str) -> None:
    assert _data(f"value: {empty}\n") == {"value": None}


@pytest.mark.parametrize("quoted", ['"null"', "'null'", '"~"', "''", '""'])
def test_quoted_nulls_stay_text(quoted: str) -> None:
    assert _data(f"value: {quoted}\n") == {"value": quoted[1:-1]}


def test_quoted_implicit_values_stay_text() -> None:
    assert _data("a: 'no'\nb: \"0200\"\n") == {"a": "no", "b": "0200"}


def test_nested_structure_is_plain_dicts_and_lists() -> None:
    assert _data("a:\n  b: [1, {c: on}]\n  d:\n") == {"a": {"b": ["1", {"c": "on"}], "d": None}}


# --- duplicate keys ----------------------------------------------------------------------


def test_duplicate_key_names_both_lines() -> None:
    issue = _only_issue("a: 1\nb:\n  c: 2\n  c: 3\n")
    assert issue.line == 4
    assert issue.path == ("b", "c")
    assert issue.message == "duplicate key (first at line 3)"
    assert str(issue) == "plan.yaml:4: b.c: duplicate key (first at line 3)"


def test_duplicate_top_level_key_is_an_error_not_an_override() -> None:
    issue = _only_issue("queues:\n  a: 1\nschedules: {}\nqueues:\n  b: 2\n")
    assert (issue.line, issue.path) == (4, ("queues",))
    assert issue.message == "duplicate key (first at line 1)"


def test_keys_differing_only_in_quoting_are_duplicates() -> None:
    issue = _only_issue('numbers:\n  "1": a\n  1: b\n')
    assert issue.message == "duplicate key (first at line 2)"
    assert issue.line == 3


def test_every_duplicate_is_reported() -> None:
    _, issues = parse_source("a: 1\na: 2\nb: 1\nb: 2\n", "plan.yaml")
    assert [(i.line, i.path, i.message) for i in issues] == [
        (2, ("a",), "duplicate key (first at line 1)"),
        (4, ("b",), "duplicate key (first at line 3)"),
    ]


# --- invalid YAML --------------------------------------------------------------------------


def test_unclosed_flow_sequence_reports_its_line() -> None:
    issue = _only_issue("a: 1\nb: [1, 2\nc: 3\n")
    assert issue.line == 3
    assert issue.message.startswith("invalid YAML: ")
    assert str(issue).startswith("plan.yaml:3: invalid YAML: ")


def test_bad_indentation_reports_its_line() -> None:
    issue = _only_issue("a: 1\nb: 2\n  c: 3\n")
    assert issue.line == 3
    assert issue.message == "invalid YAML: mapping values are not allowed here"


def test_tab_indentation_reports_its_line() -> None:
    issue = _only_issue("a:\n  b: 1\n\tc: 2\n")
    assert issue.line == 3
    assert issue.message.startswith("invalid YAML: ")


def test_empty_plan_is_an_issue() -> None:
    issue = _only_issue("# nothing but a comment\n")
    assert issue.message == "the plan is empty"


def test_non_text_keys_are_refused() -> None:
    issue = _only_issue("a: 1\n? [x, y]\n: 2\n")
    assert issue.line == 2
    assert issue.message == "keys must be plain text"


def test_read_source_reports_missing_file(tmp_path: Path) -> None:
    source, issues = read_source(tmp_path / "absent.yaml", "absent.yaml")
    assert source is None
    assert [str(i) for i in issues] == ["absent.yaml: no such file"]


def test_read_source_uses_the_path_as_name_by_default(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("a: 1\na: 2\n", encoding="utf-8")
    _, issues = read_source(path)
    assert [str(i) for i in issues] == [f"{path}:2: a: duplicate key (first at line 1)"]


def test_read_source_reports_undecodable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    source, issues = read_source(path, "plan.yaml")
    assert source is None
    assert len(issues) == 1
    assert issues[0].message.startswith("cannot read the plan: ")


# --- the SourceMap ------------------------------------------------------------------------

MAPPED = """\
practice:
  name: Lakeside
  holidays:
    closed: [2026-12-24,
      2026-12-31]
queues:

  billing:
    schedule: billing
staff:
  - {name: Ana, extension: "2001"}
  -
    name: Ben
"""


def test_value_lines_of_scalars() -> None:
    lines = _source(MAPPED).lines
    assert lines.line(("practice", "name")) == 2
    assert lines.line(("queues", "billing", "schedule")) == 9


def test_value_lines_of_list_items() -> None:
    lines = _source(MAPPED).lines
    assert lines.line(("practice", "holidays", "closed", 0)) == 4
    assert lines.line(("practice", "holidays", "closed", 1)) == 5
    assert lines.line(("staff", 0)) == 11
    assert lines.line(("staff", 1, "name")) == 13


def test_block_collection_value_line_is_its_key_line() -> None:
    lines = _source(MAPPED).lines
    assert lines.line(("queues", "billing")) == 8
    assert lines.line(("queues", "billing"), key=True) == 8
    assert lines.line(("queues",)) == 6
    assert lines.line(("staff",)) == 10
    assert lines.line(("practice", "holidays")) == 3


def test_flow_list_spanning_lines_starts_at_its_key() -> None:
    lines = _source(MAPPED).lines
    assert lines.line(("practice", "holidays", "closed")) == 4


def test_key_lines_of_scalar_entries() -> None:
    lines = _source(MAPPED).lines
    assert lines.line(("practice", "holidays"), key=True) == 3
    assert lines.line(("staff", 0, "extension"), key=True) == 11


def test_missing_path_falls_back_to_nearest_ancestor() -> None:
    lines = _source(MAPPED).lines
    assert lines.line(("queues", "billing", "max_wait")) == 8
    assert lines.line(("queues", "billing", "max_wait"), key=True) == 8
    assert lines.line(("staff", 1, "extension")) == 13
    assert lines.line(("nowhere", "at", "all")) == 1


def test_key_line_of_a_list_item_falls_back_to_its_value_line() -> None:
    lines = _source(MAPPED).lines
    assert lines.line(("staff", 1), key=True) == 13


def test_source_map_carries_the_file_name() -> None:
    source, _ = parse_source("a: 1\n", "clinic.yaml")
    assert source is not None
    assert source.lines.file == "clinic.yaml"


def test_reference_plan_value_lines_point_at_their_keys() -> None:
    text = reference_text()
    reference_text_lines = text.splitlines()
    source = _source(text)
    for path in [
        ("queues", "billing", "schedule"),
        ("practice", "timezone"),
        ("menu", "retries"),
        ("schedules", "triage", "sat"),
    ]:
        line = source.lines.line(path)
        assert reference_text_lines[line - 1].strip().startswith(f"{path[-1]}:")
