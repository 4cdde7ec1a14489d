"""Dashboard sessions in PostgreSQL (store/sessions.py, migration 0009)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]
import pytest
from argon2 import PasswordHasher

from frontdesk.store import db, upgrade
from frontdesk.store.accounts import AccountError, AccountStore
from frontdesk.store.sessions import (
    CHANNEL,
    NewSession,
    SessionStore,
    end_session,
    end_user_sessions,
    expire_sessions,
    insert_session,
    open_sessions,
    purge_sessions,
    read_session,
    session_hash,
)

T0 = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"


def user() -> str:
    """A username of its own: notifications are database-wide, tables per schema."""
    return f"u{uuid.uuid4().hex[:10]}"


def new(username: str, at: datetime = T0, **changes: object) -> tuple[str, NewSession]:
    sid = secrets.token_urlsafe(32)
    fields: dict[str, object] = {
        "id_hash": session_hash(sid),
        "username": username,
        "csrf": secrets.token_urlsafe(32),
        "created": at,
        "expires": at + timedelta(hours=12),
        "idle": timedelta(minutes=15),
        "client": "10.0.0.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    }
    fields.update(changes)
    return sid, NewSession(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def migrated(conn: asyncpg.Connection) -> asyncpg.Connection:
    await upgrade(conn)
    return conn


async def add_account(conn: asyncpg.Connection, username: str, disabled: bool = False) -> None:
    await conn.execute(
        "INSERT INTO staff_accounts (username, display_name, role, extension, password_hash,"
        " disabled) VALUES ($1, $2, 'agent', '2001', 'x', $3)",
        username,
        username.title(),
        disabled,
    )


@pytest.fixture
async def listener(pg_dsn: str) -> AsyncIterator[asyncio.Queue[str]]:
    heard: asyncio.Queue[str] = asyncio.Queue()
    conn = await asyncpg.connect(pg_dsn)
    await conn.add_listener(CHANNEL, lambda _c, _p, _ch, payload: heard.put_nowait(payload))
    try:
        yield heard
    finally:
        await conn.close()


async def heard_of(heard: asyncio.Queue[str], username: str) -> None:
    while await asyncio.wait_for(heard.get(), 3) != username:
        pass


async def test_only_the_hash_is_kept_and_read_back_with_the_account(
    migrated: asyncpg.Connection,
) -> None:
    name = user()
    await add_account(migrated, name)
    sid, made = new(name)
    await insert_session(migrated, made)
    row = await migrated.fetchrow("SELECT * FROM staff_sessions")
    assert row["id_hash"] == session_hash(sid) != sid
    assert sid not in str(dict(row))
    stored = await read_session(migrated, session_hash(sid))
    assert stored is not None
    assert (stored.user.username, stored.user.role, stored.user.extension) == (
        name,
        "agent",
        "2001",
    )
    assert (stored.csrf, stored.created, stored.last_seen) == (made.csrf, T0, T0)
    assert stored.open
    assert await read_session(migrated, session_hash("someone else's cookie")) is None


async def test_last_seen_only_moves_forward(migrated: asyncpg.Connection) -> None:
    name = user()
    await add_account(migrated, name)
    sid, made = new(name)
    await insert_session(migrated, made)
    key = session_hash(sid)
    later = T0 + timedelta(minutes=3)
    stored = await read_session(migrated, key, later)
    assert stored is not None
    assert stored.last_seen == later
    stored = await read_session(migrated, key, T0 + timedelta(minutes=1))  # a late writer
    assert stored is not None
    assert stored.last_seen == later


async def test_a_disabled_account_s_session_is_not_open(migrated: asyncpg.Connection) -> None:
    name = user()
    await add_account(migrated, name, disabled=True)  # disabled by hand, in SQL
    sid, made = new(name)
    await insert_session(migrated, made)
    stored = await read_session(migrated, session_hash(sid))
    assert stored is not None
    assert stored.ended_reason is None
    assert not stored.open


async def test_the_table_refuses_a_raw_cookie_and_unknown_users(
    migrated: asyncpg.Connection,
) -> None:
    name = user()
    await add_account(migrated, name)
    _, made = new(name, id_hash=secrets.token_urlsafe(32))
    with pytest.raises(asyncpg.CheckViolationError):
        await insert_session(migrated, made)
    _, made = new("nobody")
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await insert_session(migrated, made)


async def test_client_texts_are_truncated_and_printable(migrated: asyncpg.Connection) -> None:
    name = user()
    await add_account(migrated, name)
    _sid, made = new(name, user_agent="A" * 5000 + "\x1b[31m", client="x" * 500)
    await insert_session(migrated, made)
    (info,) = await open_sessions(migrated)
    assert info.user_agent == "A" * 160
    assert info.client == "x" * 64
    _, made = new(name, user_agent="evil\x1b[2J\nagent")
    await insert_session(migrated, made)
    agents = {s.user_agent for s in await open_sessions(migrated)}
    assert "evil?[2J?agent" in agents


async def test_logout_ends_one_session_and_notifies(
    migrated: asyncpg.Connection, listener: asyncio.Queue[str]
) -> None:
    name = user()
    await add_account(migrated, name)
    sid, made = new(name)
    other, made_other = new(name)
    await insert_session(migrated, made)
    await insert_session(migrated, made_other)
    assert await end_session(migrated, session_hash(sid), "logout")
    await heard_of(listener, name)
    assert not await end_session(migrated, session_hash(sid), "logout")  # once
    stored = await read_session(migrated, session_hash(sid))
    assert stored is not None
    assert stored.ended_reason == "logout"
    assert not stored.open
    assert [s.id_hash for s in await open_sessions(migrated, name)] == [session_hash(other)]
    with pytest.raises(ValueError, match="one of"):
        await end_session(migrated, session_hash(other), "because")


async def test_a_user_s_sessions_end_together_or_one_by_prefix(
    migrated: asyncpg.Connection, listener: asyncio.Queue[str]
) -> None:
    name, bystander = user(), user()
    await add_account(migrated, name)
    await add_account(migrated, bystander)
    mine = [new(name, T0 + timedelta(minutes=i)) for i in range(3)]
    for _, made in mine:
        await insert_session(migrated, made)
    _, theirs = new(bystander)
    await insert_session(migrated, theirs)
    first = mine[0][1].id_hash
    assert await end_user_sessions(migrated, name, "revoked", first[:8]) == [first]
    await heard_of(listener, name)
    assert await end_user_sessions(migrated, name, "revoked", first[:8]) == []
    rest = sorted(made.id_hash for _, made in mine[1:])
    assert await end_user_sessions(migrated, name, "disabled") == rest
    assert await open_sessions(migrated, name) == []
    assert [s.username for s in await open_sessions(migrated)] == [bystander]
    with pytest.raises(ValueError, match="hex"):
        await end_user_sessions(migrated, name, "revoked", "zz'; --")


async def test_open_sessions_are_listed_oldest_first(migrated: asyncpg.Connection) -> None:
    a, b = user(), user()
    await add_account(migrated, a)
    await add_account(migrated, b)
    _, later = new(a, T0 + timedelta(minutes=5))
    _, earlier = new(b, T0)
    await insert_session(migrated, later)
    await insert_session(migrated, earlier)
    listed = await open_sessions(migrated)
    assert [s.username for s in listed] == [b, a]
    assert listed[0].id == earlier.id_hash[:12]
    assert (listed[0].client, listed[0].created, listed[0].last_seen) == ("10.0.0.7", T0, T0)


async def test_expired_sessions_are_ended_by_the_daemon_s_clock(
    migrated: asyncpg.Connection,
) -> None:
    name = user()
    await add_account(migrated, name)
    _, used = new(name)
    _, idle = new(name)
    _, old = new(name, T0 - timedelta(hours=11))
    for made in (used, idle, old):
        await insert_session(migrated, made)
    now = T0 + timedelta(hours=1, minutes=1)
    await read_session(migrated, used.id_hash, T0 + timedelta(hours=1))
    assert await expire_sessions(migrated, now) == [name, name]
    assert [s.id_hash for s in await open_sessions(migrated)] == [used.id_hash]
    assert (
        await migrated.fetchval(
            "SELECT count(*) FROM staff_sessions WHERE ended_reason = 'expired'"
        )
        == 2
    )


async def test_rows_ended_past_the_retention_are_purged(migrated: asyncpg.Connection) -> None:
    name = user()
    await add_account(migrated, name)
    made = [new(name)[1] for _ in range(5)]
    for one in made:
        await insert_session(migrated, one)
    await end_user_sessions(migrated, name, "revoked", made[0].id_hash)
    await end_user_sessions(migrated, name, "revoked", made[1].id_hash)
    await migrated.execute(
        "UPDATE staff_sessions SET ended_at = now() - interval '8 days' WHERE id_hash = $1",
        made[0].id_hash,
    )
    assert await purge_sessions(migrated, timedelta(days=7), batch=1) == 1
    left = {r["id_hash"] for r in await migrated.fetch("SELECT id_hash FROM staff_sessions")}
    assert left == {m.id_hash for m in made[1:]}  # open ones and the recently ended kept


async def test_disable_and_a_new_password_end_sessions_in_the_same_transaction(
    pg_dsn: str, schema: str, listener: asyncio.Queue[str]
) -> None:
    pool = await db.create_pool(f"{pg_dsn}?options=-csearch_path%3D{schema}", timeout=5)
    try:
        await upgrade(pool)
        accounts = AccountStore(pool, hasher=FAST)
        name = user()
        await accounts.add(name, "Someone", "agent", None, PASSWORD)
        async with pool.acquire() as conn:
            for _ in range(2):
                await insert_session(conn, new(name)[1])
        assert await accounts.set_password(name, "a completely new passphrase") == 2
        await heard_of(listener, name)
        async with pool.acquire() as conn:
            await insert_session(conn, new(name)[1])
        assert await accounts.disable(name) == 1
        with pytest.raises(AccountError, match="no account"):
            await accounts.disable("nobody")
        async with pool.acquire() as conn:
            reasons = await conn.fetch(
                "SELECT ended_reason, count(*) AS n FROM staff_sessions GROUP BY 1 ORDER BY 1"
            )
        assert [(r["ended_reason"], r["n"]) for r in reasons] == [("disabled", 1), ("password", 2)]
    finally:
        await pool.close()


async def test_the_store_listens_and_comes_back(pg_dsn: str, schema: str) -> None:
    dsn = f"{pg_dsn}?options=-csearch_path%3D{schema}"
    store = SessionStore(dsn)
    await store.start()
    heard: list[str] = []
    store.listen(heard.append, retry=0.1)
    try:
        for _ in range(100):
            if store.listening:
                break
            await asyncio.sleep(0.05)
        assert store.listening
        admin = await asyncpg.connect(pg_dsn)
        try:
            await admin.execute("SELECT pg_notify($1, 'ada')", CHANNEL)
            for _ in range(100):
                if "ada" in heard:
                    break
                await asyncio.sleep(0.02)
            assert "ada" in heard
            # The LISTEN connection is killed: it comes back, and asks to check everyone.
            await admin.execute("SELECT pg_terminate_backend($1)", store.listener_pid)
            heard.clear()
            for _ in range(200):
                if "" in heard:
                    break
                await asyncio.sleep(0.05)
            assert "" in heard
        finally:
            await admin.close()
    finally:
        await store.close()
    assert not store.listening
