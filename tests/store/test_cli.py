"""`frontdesk db upgrade` and `frontdesk directory import` against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.cli import main

from .conftest import via

EXAMPLE = str(resources.files("frontdesk") / "examples" / "directory.csv")
HEADER = "phone,patient_id,preferred_language,specialty\n"


@pytest.fixture
def url(pg_dsn: str, schema: str) -> str:
    """The test DSN with the test's schema as search_path, as a user would pass it."""
    sep = "&" if "?" in pg_dsn else "?"
    return f"{pg_dsn}{sep}options={quote(f'-csearch_path={schema}', safe='')}"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def count_patients(pg_dsn: str, schema: str) -> int:
    conn = await asyncpg.connect(pg_dsn, server_settings={"search_path": schema})
    try:
        return int(await conn.fetchval("SELECT count(*) FROM patients"))
    finally:
        await conn.close()


def test_db_upgrade_twice(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["db", "upgrade", "--database-url", url], capsys)
    assert code == 0
    assert "applied migration(s) 0001" in out
    code, out, _ = run(["db", "upgrade", "--database-url", url], capsys)
    assert (code, out.strip()) == (0, "up to date")


def test_db_upgrade_reads_the_environment(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", url)
    assert run(["db", "upgrade"], capsys)[0] == 0
    monkeypatch.delenv("FRONTDESK_DATABASE_URL")
    code, _, err = run(["db", "upgrade"], capsys)
    assert code == 2
    assert "FRONTDESK_DATABASE_URL" in err


def test_db_upgrade_unreachable(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["db", "upgrade", "--database-url", via(pg_dsn, closed_port())], capsys)
    assert code == 2
    assert out == ""
    assert "frontdesk db upgrade: the database is unreachable" in err


def test_directory_import_end_to_end(
    url: str, pg_dsn: str, schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["directory", "import", EXAMPLE, "--database-url", url], capsys)
    assert (code, err) == (0, "")
    assert re.search(r"inserted\s+│\s+6 │", out), out
    # P-1006 prefers French, which the bundled plan does not offer (issue 14 row 12)
    assert "preferred_language 'fr' is not one of the plan's languages (en, es)" in out
    assert asyncio.run(count_patients(pg_dsn, schema)) == 6

    code, out, _ = run(["directory", "import", EXAMPLE, "--database-url", url, "--json"], capsys)
    report = json.loads(out)
    assert code == 0
    assert (report["inserted"], report["unchanged"]) == (0, 6)
    assert [r["line"] for r in report["rejected"]] == [7]
    assert run(["db", "upgrade", "--database-url", url], capsys)[1].strip() == "up to date"


def test_directory_import_reports_rejected_rows(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dir.csv"
    path.write_text(
        HEADER + "+13125551001,P-1001,en,\n'); DROP TABLE patients;--,P-2,en,\n", encoding="utf-8"
    )
    code, out, _ = run(["directory", "import", str(path), "--database-url", url], capsys)
    assert code == 0  # one row imported: the rejected one is reported, not fatal
    assert "Rejected rows" in out
    assert "phone number missing or malformed" in out
    code, out, _ = run(["directory", "import", str(path), "--database-url", url, "--json"], capsys)
    assert json.loads(out)["rejected"] == [
        {"line": 3, "reason": "phone number missing or malformed"}
    ]
    assert code == 0


def test_directory_import_every_row_rejected(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dir.csv"
    path.write_text(HEADER + "nope,P-1,en,\n+13125551001,,en,\n", encoding="utf-8")
    code, out, _ = run(["directory", "import", str(path), "--database-url", url], capsys)
    assert code == 1
    assert "every row was rejected" in out


def test_directory_import_bad_files(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        ["directory", "import", str(tmp_path / "absent.csv"), "--database-url", url], capsys
    )
    assert (code, out) == (2, "")
    assert "frontdesk directory import:" in err
    assert "absent.csv" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("number,patient_id\n+13125551001,P-1\n", encoding="utf-8")
    code, _, err = run(["directory", "import", str(bad), "--database-url", url], capsys)
    assert code == 2
    assert "missing column(s) phone" in err


def test_directory_import_unreachable(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        ["directory", "import", EXAMPLE, "--database-url", via(pg_dsn, closed_port())], capsys
    )
    assert code == 2
    assert "the database is unreachable" in err
