"""Issue 14, row 11: hostile inputs to the CLI end in one line on stderr and exit 2.

Each case once crashed with a traceback or hung: `/dev/zero` or a FIFO as a plan, a
binary or over-long-field CSV (`directory import`, `simulate --directory`), `paths
--week-of 9999-12-20`, `diagram --out /dev/full`, and a million rejected rows printed
one by one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import pytest

from frontdesk.cli import main
from frontdesk.exits import EXIT_INVALID
from frontdesk.store.cli import SHOWN_REJECTS
from tests.store.conftest import pg_dsn, schema  # noqa: F401  (fixtures)

PLAN = str(resources.files("frontdesk") / "examples" / "lakeside.yaml")
HEADER = "phone,patient_id,preferred_language,specialty\n"


def frontdesk(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "frontdesk", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_line_exit_2(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == EXIT_INVALID, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    os.mkfifo(path)
    return path


@pytest.fixture
def binary_csv(tmp_path: Path) -> Path:
    path = tmp_path / "binary.csv"
    path.write_bytes(HEADER.encode() + bytes(range(256)) * 64)
    return path


@pytest.fixture
def long_field_csv(tmp_path: Path) -> Path:
    path = tmp_path / "long.csv"
    path.write_text(HEADER + "+16175550100,p1,en," + "x" * (129 * 1024) + "\n", encoding="utf-8")
    return path


# -- a plan that is not a regular file ---------------------------------------------------
@pytest.mark.parametrize("command", [["paths"], ["diagram", "--out", "/dev/null"]])
def test_dev_zero_as_a_plan_is_refused_without_reading_it(command: list[str]) -> None:
    line = one_line_exit_2(frontdesk(*command, "/dev/zero", timeout=20))
    assert "/dev/zero" in line


def test_a_fifo_as_a_plan_is_refused_not_waited_on(fifo: Path) -> None:
    line = one_line_exit_2(frontdesk("paths", str(fifo), timeout=20))
    assert "not a regular file" in line


def test_a_plan_larger_than_the_limit_is_read_only_up_to_it(tmp_path: Path) -> None:
    from frontdesk.plan.source import MAX_PLAN_BYTES, read_regular

    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (4 * MAX_PLAN_BYTES))
    assert len(read_regular(big, MAX_PLAN_BYTES)) == MAX_PLAN_BYTES + 1
    line = one_line_exit_2(frontdesk("paths", str(big)))
    assert "larger than" in line


# -- hostile CSV files -------------------------------------------------------------------
@pytest.mark.parametrize("which", ["binary_csv", "long_field_csv"])
def test_simulate_with_a_hostile_directory(which: str, request: pytest.FixtureRequest) -> None:
    csv_path: Path = request.getfixturevalue(which)
    line = one_line_exit_2(frontdesk("simulate", "--plan", PLAN, "--directory", str(csv_path)))
    assert str(csv_path) in line


def test_simulate_with_a_fifo_directory(tmp_path: Path) -> None:
    path = tmp_path / "directory.csv"
    os.mkfifo(path)
    line = one_line_exit_2(frontdesk("simulate", "--plan", PLAN, "--directory", str(path)))
    assert "not a regular file" in line


@pytest.fixture
def url(pg_dsn: str, schema: str) -> str:  # noqa: F811
    sep = "&" if "?" in pg_dsn else "?"
    return f"{pg_dsn}{sep}options={quote(f'-csearch_path={schema}', safe='')}"


@pytest.mark.parametrize("which", ["binary_csv", "long_field_csv"])
def test_directory_import_of_a_hostile_file(
    which: str, url: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path: Path = request.getfixturevalue(which)
    code, _, err = run_main(["directory", "import", str(csv_path), "--database-url", url], capsys)
    assert code == EXIT_INVALID
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"frontdesk directory import: {csv_path}")


def test_many_rejected_rows_are_summarised_and_written_with_rejects(
    tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    n = 5000
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text(
        HEADER + "+16175550100,p1,en,\n" + "not-a-number,p,en,\n" * n, encoding="utf-8"
    )
    rejects = tmp_path / "rejects.csv"
    args = ["directory", "import", str(csv_path), "--database-url", url]
    code, out, _ = run_main([*args, "--rejects", str(rejects)], capsys)
    assert code == 0
    assert f"and {n - SHOWN_REJECTS} more rejected rows" in out
    assert len(out.splitlines()) < SHOWN_REJECTS + 40  # the table, not 5,000 rows
    written = rejects.read_text(encoding="utf-8").splitlines()
    assert written[0] == "line,reason"
    assert len(written) == n + 1
    assert written[1] == "3,phone number missing or malformed"

    code, out, _ = run_main([*args, "--json"], capsys)
    report = json.loads(out)
    assert len(report["rejected"]) == SHOWN_REJECTS
    assert report["rejected_total"] == n
    assert len(out) < 10_000


# -- other arguments -----------------------------------------------------------------------
@pytest.mark.parametrize("week", ["9999-12-20", "9999-12-31", "0001-01-01"])
def test_paths_week_of_far_away(week: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(["paths", PLAN, "--week-of", week], capsys)
    assert code == EXIT_INVALID
    assert err.splitlines() == [
        f"frontdesk paths: --week-of: {week} is not between 1970-01-01 and 9000-12-31"
    ]


def test_diagram_out_to_a_full_disk(capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    code, _, err = run_main(["diagram", PLAN, "--format", "dot", "--out", "/dev/full"], capsys)
    assert code == EXIT_INVALID
    assert err.splitlines() == [
        "frontdesk diagram: cannot write /dev/full: No space left on device"
    ]
