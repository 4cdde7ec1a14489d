"""`frontdesk users ...` against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import getpass
import io
import json
import os
import secrets
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped]
import pytest

from frontdesk.cli import main
from frontdesk.staff import StaffUser
from frontdesk.store import db
from frontdesk.store.accounts import AccountStore
from frontdesk.store.sessions import NewSession, insert_session, session_hash
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
    monkeypatch.delenv("FRONTDESK_SITE", raising=False)


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
            "site": "main",
            "sites": [],
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


# -- sessions and revoke ------------------------------------------------------------------
def open_session(url: str, username: str, agent: str = "Firefox/133.0") -> str:
    """A dashboard session as the daemon stores it; its id (hash) as listed."""

    async def make() -> str:
        conn = await asyncpg.connect(url)
        try:
            at = datetime.now(UTC)
            _, made = new_session(username, at, agent)
            await insert_session(conn, made)
            return made.id_hash
        finally:
            await conn.close()

    return asyncio.run(make())


def new_session(username: str, at: datetime, agent: str) -> tuple[str, NewSession]:
    sid = secrets.token_urlsafe(32)
    return sid, NewSession(
        session_hash(sid),
        username,
        secrets.token_urlsafe(32),
        at,
        at + timedelta(hours=12),
        timedelta(minutes=15),
        "192.0.2.10",
        agent,
    )


def fetch(url: str, query: str) -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        conn = await asyncpg.connect(url)
        try:
            return [dict(r) for r in await conn.fetch(query)]
        finally:
            await conn.close()

    return asyncio.run(read())


def test_sessions_are_listed_and_revoked(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", url)
    for name in ("alice", "bob"):
        args = ["users", "add", name, "--role", "agent", "--password-stdin"]
        assert run(args, capsys, monkeypatch, stdin=PASSWORD)[0] == 0
    code, out, _ = run(["users", "sessions"], capsys, monkeypatch)
    assert (code, out.strip()) == (0, "no open sessions")
    first = open_session(url, "alice", "Mozilla/5.0 [bold]Firefox[/bold]")
    second = open_session(url, "alice")
    bobs = open_session(url, "bob")
    code, out, _ = run(["users", "sessions", "alice", "--json"], capsys, monkeypatch)
    assert code == 0
    listed = json.loads(out)
    assert [s["session"] for s in listed] == [first[:12], second[:12]]
    assert listed[0]["username"] == "alice"
    assert listed[0]["client"] == "192.0.2.10"
    assert listed[0]["user_agent"] == "Mozilla/5.0 [bold]Firefox[/bold]"
    assert set(listed[0]) == {
        "username", "session", "created", "last_seen", "expires", "client", "user_agent"
    }  # fmt: skip
    code, out, _ = run(["users", "sessions"], capsys, monkeypatch)
    assert code == 0
    for column in ("user", "session", "created", "last seen", "client", "user agent"):
        assert column in out
    assert first[:12] in out
    assert bobs[:12] in out
    assert "[bold]Firefox[/bold]" in out  # shown as sent, not as markup

    code, out, err = run(["users", "revoke", "alice", "--session", first[:8]], capsys, monkeypatch)
    assert (code, out.strip(), err) == (0, f"revoked 1 session of alice: {first[:12]}", "")
    code, out, _ = run(["users", "sessions", "alice", "--json"], capsys, monkeypatch)
    assert [s["session"] for s in json.loads(out)] == [second[:12]]
    code, out, err = run(["users", "revoke", "alice", "--session", first[:8]], capsys, monkeypatch)
    assert code == 1  # it matched no open session: exit 1, nothing done
    assert "no open session of alice starts with" in err
    code, out, _ = run(["users", "revoke", "alice"], capsys, monkeypatch)
    assert (code, out.strip()) == (0, f"revoked 1 session of alice: {second[:12]}")
    code, out, _ = run(["users", "revoke", "alice"], capsys, monkeypatch)
    assert (code, out.strip()) == (0, "revoked 0 sessions of alice")  # nothing left: fine
    code, out, _ = run(["users", "sessions", "--json"], capsys, monkeypatch)
    assert [s["username"] for s in json.loads(out)] == ["bob"]
    ended = fetch(url, "SELECT ended_reason FROM staff_sessions WHERE username = 'alice'")
    assert [r["ended_reason"] for r in ended] == ["revoked", "revoked"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "revoke", "nobody"], "no account"),
        (["users", "revoke", "alice", "--session", "abc"], "at least 6 hex digits"),
        (["users", "revoke", "alice", "--session", "xyzxyzxyz"], "hex digits"),
        (["users", "revoke", "Bad Name"], "username"),
        (["users", "sessions", "nobody"], "no account"),
    ],
)
def test_sessions_and_revoke_refusals_are_exit_2(
    url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", url)
    assert run(["users", "add", "alice", "--role", "agent", "--password-stdin"],
               capsys, monkeypatch, stdin=PASSWORD)[0] == 0  # fmt: skip
    code, _, err = run(args, capsys, monkeypatch)
    assert code == 2
    assert message in err


def test_disable_and_passwd_end_sessions_and_every_change_is_audited(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", url)
    args = ["users", "add", "alice", "--role", "agent", "--extension", "2001", "--password-stdin"]
    assert run(args, capsys, monkeypatch, stdin=PASSWORD)[0] == 0
    open_session(url, "alice")
    open_session(url, "alice")
    new = "a brand new passphrase"
    code, out, _ = run(["users", "passwd", "alice", "--password-stdin"],
                       capsys, monkeypatch, stdin=new)  # fmt: skip
    assert (code, out.strip()) == (0, "password set for alice (2 sessions ended)")
    kept = open_session(url, "alice")
    assert run(["users", "revoke", "alice", "--session", kept[:12]], capsys, monkeypatch)[0] == 0
    open_session(url, "alice")
    code, out, _ = run(["users", "disable", "alice"], capsys, monkeypatch)
    assert (code, out.strip()) == (0, "disabled alice (1 session ended)")
    rows = fetch(url, "SELECT actor, action, subject, data FROM audit_log ORDER BY id")
    actor = f"cli:{getpass.getuser()}"
    assert [(r["actor"], r["action"], r["subject"]) for r in rows] == [
        (actor, "user_added", "alice"),
        (actor, "password_set", "alice"),
        (actor, "sessions_revoked", "alice"),
        (actor, "user_disabled", "alice"),
    ]
    data = [json.loads(str(r["data"])) for r in rows]
    assert data[0] == {"role": "agent", "extension": "2001", "site": "main", "sites": []}
    assert data[1] == {"sessions_ended": 2}
    assert data[2] == {"sessions": [kept[:12]], "session_prefix": kept[:12]}
    assert data[3] == {"sessions_ended": 1}
    assert new not in json.dumps(data)


def test_an_accounts_sites(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accounts are shared by the sites: a home site (--site, else FRONTDESK_SITE, else
    main) and the other sites it may see (--sites a,b or all); `users sites` changes them."""
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", url)
    monkeypatch.setenv("FRONTDESK_SITE", "north")
    add = ["users", "add", "sam", "--role", "supervisor", "--sites", "north,south",
           "--password-stdin"]  # fmt: skip
    code, _, err = run(add, capsys, monkeypatch, stdin=PASSWORD + "\n")
    assert (code, err) == (0, "")
    user = verify(url, "sam", PASSWORD)
    assert user is not None
    assert (user.site, user.sites) == ("north", ("south",))
    code, out, _ = run(
        ["users", "sites", "sam", "--site", "south", "--sites", "all"], capsys, monkeypatch
    )
    assert code == 0
    assert "home site south, also sees all" in out
    code, out, _ = run(["users", "list", "--json"], capsys, monkeypatch)
    assert (json.loads(out)[0]["site"], json.loads(out)[0]["sites"]) == ("south", ["*"])
    code, _, err = run(["users", "sites", "sam", "--sites", "North Side"], capsys, monkeypatch)
    assert code == 2
    assert "site 'North Side'" in err
    code, _, err = run(["users", "sites", "nobody", "--sites", "all"], capsys, monkeypatch)
    assert code == 2
