"""`frontdesk users ...` against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.cli import main
from frontdesk.staff import StaffUser
from frontdesk.store import db
from frontdesk.store.accounts import AccountStore
from tests.conftest import REFERENCE_PLAN
from tests.store.conftest import DEFAULT_DSN

PASSWORD = "correct horse battery"


@pytest.fixture
def url() -> Iterator[str]:
    """A DSN whose search_path is a fresh schema, as a user would pass it."""
    dsn = os.environ.get("FRONTDESK_TEST_PG_DSN", DEFAULT_DSN)
    schema = f"fd_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(dsn, timeout=3)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE SCHEMA "{schema}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if "FRONTDESK_TEST_PG_DSN" in os.environ:
            pytest.fail(f"PostgreSQL at FRONTDESK_TEST_PG_DSN is unreachable: {exc!r}")
        pytest.skip(f"no PostgreSQL at {DEFAULT_DSN} (set FRONTDESK_TEST_PG_DSN): {exc!r}")
    try:
        yield f"{dsn}?options={quote(f'-csearch_path={schema}', safe='')}"
    finally:
        asyncio.run(admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def run(
    args: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def verify(url: str, username: str, password: str) -> StaffUser | None:
    async def check() -> StaffUser | None:
        pool = await db.create_pool(url, timeout=5)
        try:
            return await AccountStore(pool).verify(username, password)
        finally:
            await pool.close()

    return asyncio.run(check())


@pytest.fixture(autouse=True)
def no_plan_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRONTDESK_PLAN", raising=False)


def test_add_list_passwd_disable(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", url)
    code, out, err = run(
        ["users", "add", "alice", "--role", "agent", "--name", "Alice Agent",
         "--extension", "2001", "--password-stdin"],
        capsys, monkeypatch, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "added alice (agent)" in out
    assert verify(url, "alice", PASSWORD) == StaffUser("alice", "Alice Agent", "agent", "2001")
    code, out, _ = run(["users", "list", "--json"], capsys, monkeypatch)
    assert code == 0
    assert json.loads(out) == [
        {
            "username": "alice",
            "display_name": "Alice Agent",
            "role": "agent",
            "extension": "2001",
            "disabled": False,
        }
    ]
    code, out, _ = run(["users", "list"], capsys, monkeypatch)
    assert code == 0
    assert "alice" in out
    assert "Alice Agent" in out
    assert "active" in out
    new = "a brand new passphrase"
    code, _, _ = run(
        ["users", "passwd", "alice", "--password-stdin"], capsys, monkeypatch, stdin=new + "\n"
    )
    assert code == 0
    assert verify(url, "alice", PASSWORD) is None
    assert verify(url, "alice", new) is not None
    code, out, _ = run(["users", "disable", "alice"], capsys, monkeypatch)
    assert (code, out.strip()) == (0, "disabled alice")
    assert verify(url, "alice", new) is None
    code, out, _ = run(["users", "list", "--json"], capsys, monkeypatch)
    assert json.loads(out)[0]["disabled"] is True


def test_prompted_passwords_must_match(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([PASSWORD, PASSWORD + "!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    code, _, err = run(
        ["users", "add", "sam", "--role", "supervisor", "--database-url", url], capsys, monkeypatch
    )
    assert code == 2
    assert "do not match" in err
    answers = iter([PASSWORD, PASSWORD])
    code, _, _ = run(
        ["users", "add", "sam", "--role", "supervisor", "--database-url", url], capsys, monkeypatch
    )
    assert code == 0
    assert verify(url, "sam", PASSWORD) == StaffUser("sam", "sam", "supervisor", None)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["users", "add", "Bad Name", "--role", "agent"], PASSWORD, "username"),
        (["users", "add", "bob", "--role", "agent"], "short", "at least 12"),
        (["users", "add", "bob", "--role", "agent", "--extension", "x1"], PASSWORD, "digits"),
        (["users", "passwd", "nobody"], PASSWORD, "no account"),
        (["users", "disable", "nobody"], "", "no account"),
    ],
)
def test_bad_input_is_exit_2(
    url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    stdin: str,
    message: str,
) -> None:
    code, out, err = run(
        [*args, "--database-url", url, *(["--password-stdin"] if stdin else [])],
        capsys,
        monkeypatch,
        stdin=stdin + "\n",
    )
    assert code == 2
    assert message in err
    assert PASSWORD not in out + err


def test_an_existing_username_is_refused(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["users", "add", "alice", "--role", "agent", "--database-url", url, "--password-stdin"]
    assert run(args, capsys, monkeypatch, stdin=PASSWORD)[0] == 0
    code, _, err = run(args, capsys, monkeypatch, stdin=PASSWORD)
    assert code == 2
    assert "taken" in err


def test_the_extension_is_checked_against_the_plan(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["users", "add", "alice", "--role", "agent", "--database-url", url, "--password-stdin"]
    code, _, err = run(
        [*base, "--extension", "9999", "--plan", str(REFERENCE_PLAN)],
        capsys,
        monkeypatch,
        stdin=PASSWORD,
    )
    assert code == 2
    assert "not a staff extension" in err
    monkeypatch.setenv("FRONTDESK_PLAN", str(REFERENCE_PLAN))
    code, _, _ = run([*base, "--extension", "2001"], capsys, monkeypatch, stdin=PASSWORD)
    assert code == 0
    monkeypatch.setenv("FRONTDESK_PLAN", str(Path("/nonexistent/plan.yaml")))
    code, _, err = run([*base, "--extension", "2002"], capsys, monkeypatch, stdin=PASSWORD)
    assert code == 2
    assert "cannot read the plan" in err


def test_no_or_unreachable_database_is_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FRONTDESK_DATABASE_URL", raising=False)
    code, _, err = run(["users", "list"], capsys, monkeypatch)
    assert code == 2
    assert "no database" in err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = f"postgresql://postgres:s3cret@127.0.0.1:{port}/test"
    code, _, err = run(["users", "list", "--database-url", dead], capsys, monkeypatch)
    assert code == 2
    assert "database" in err
    assert "s3cret" not in err
