"""Staff accounts in the real PostgreSQL: add, verify, disable, passwords, rehash."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from argon2 import PasswordHasher

from frontdesk.staff import StaffUser
from frontdesk.store import db, upgrade
from frontdesk.store.accounts import AccountError, AccountStore

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # tests only
PASSWORD = "correct horse battery"


def in_schema(dsn: str, schema: str) -> str:
    return f"{dsn}?options=-csearch_path%3D{schema}"


@pytest.fixture
async def store(pg_dsn: str, schema: str, conn: Any) -> AsyncIterator[AccountStore]:
    await upgrade(conn)
    pool = await db.create_pool(in_schema(pg_dsn, schema), timeout=5)
    try:
        yield AccountStore(pool, hasher=FAST)
    finally:
        await pool.close()


async def test_add_then_verify(store: AccountStore, conn: Any) -> None:
    alice = await store.add("alice", "Alice Agent", "agent", "2001", PASSWORD)
    assert alice == StaffUser("alice", "Alice Agent", "agent", "2001")
    assert await store.verify("alice", PASSWORD) == alice
    assert await store.verify("alice", PASSWORD + "x") is None
    assert await store.verify("nobody", PASSWORD) is None
    assert await store.verify("Not A Name!", PASSWORD) is None
    stored = await conn.fetchval("SELECT password_hash FROM staff_accounts")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert await store.list() == [alice]


async def test_refusals(store: AccountStore) -> None:
    await store.add("alice", "Alice", "agent", "2001", PASSWORD)
    with pytest.raises(AccountError, match="taken"):
        await store.add("alice", "Other Alice", "agent", None, PASSWORD)
    with pytest.raises(AccountError, match="at least 12"):
        await store.add("bob", "Bob", "agent", None, "short")
    with pytest.raises(AccountError, match="username"):
        await store.add("Bob", "Bob", "agent", None, PASSWORD)
    with pytest.raises(AccountError, match="username"):
        await store.add("x" * 65, "Bob", "agent", None, PASSWORD)
    with pytest.raises(AccountError, match="role"):
        await store.add("bob", "Bob", "root", None, PASSWORD)
    with pytest.raises(AccountError, match="digits"):
        await store.add("bob", "Bob", "agent", "20a1", PASSWORD)
    with pytest.raises(AccountError, match="display name"):
        await store.add("bob", "  ", "agent", None, PASSWORD)
    with pytest.raises(AccountError, match="no account"):
        await store.set_password("bob", PASSWORD)
    with pytest.raises(AccountError, match="no account"):
        await store.disable("bob")
    assert [u.username for u in await store.list()] == ["alice"]


async def test_the_table_refuses_a_bad_role_even_without_the_store(conn: Any) -> None:
    await upgrade(conn)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO staff_accounts (username, display_name, role, password_hash)"
            " VALUES ('eve', 'Eve', 'root', 'x')"
        )


async def test_disabled_accounts_never_verify(store: AccountStore) -> None:
    await store.add("dave", "Dave", "supervisor", None, PASSWORD)
    await store.disable("dave")
    assert await store.verify("dave", PASSWORD) is None
    assert await store.get("dave") is None
    assert await store.list() == []
    [account] = await store.accounts()
    assert (account.user.username, account.disabled) == ("dave", True)


async def test_set_password(store: AccountStore) -> None:
    await store.add("alice", "Alice", "agent", "2001", PASSWORD)
    await store.set_password("alice", "a brand new passphrase")
    assert await store.verify("alice", PASSWORD) is None
    assert await store.verify("alice", "a brand new passphrase") is not None
    with pytest.raises(AccountError, match="at least 12"):
        await store.set_password("alice", "tiny")


async def test_upsert_demo_resets_the_login(store: AccountStore) -> None:
    await store.upsert_demo("demo.agent", "Demo Agent", "agent", "2001", PASSWORD)
    await store.disable("demo.agent")
    user = await store.upsert_demo("demo.agent", "Demo Agent", "supervisor", None, "another one!")
    assert user == StaffUser("demo.agent", "Demo Agent", "supervisor", None)
    assert await store.verify("demo.agent", "another one!") == user
    assert await store.verify("demo.agent", PASSWORD) is None


async def test_a_hash_with_old_parameters_is_replaced_at_login(
    store: AccountStore, conn: Any
) -> None:
    await store.add("alice", "Alice", "agent", "2001", PASSWORD)
    old = await conn.fetchval("SELECT password_hash FROM staff_accounts")
    stronger = AccountStore(
        store.pool, hasher=PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    )
    assert await stronger.verify("alice", PASSWORD) is not None
    new = await conn.fetchval("SELECT password_hash FROM staff_accounts")
    assert new != old
    assert "m=2048,t=2" in new
    assert await stronger.verify("alice", PASSWORD) is not None  # and still verifies


async def test_verification_is_as_slow_for_an_unknown_user(store: AccountStore) -> None:
    """Not a timing assertion on speed: both paths must run the same argon2 check."""
    slow = AccountStore(store.pool)  # the default parameters
    await slow.add("alice", "Alice", "agent", None, PASSWORD)
    await slow.verify("nobody", PASSWORD)  # makes the dummy hash once
    began = time.perf_counter()
    await slow.verify("alice", "wrong password")
    known = time.perf_counter() - began
    began = time.perf_counter()
    await slow.verify("nobody", "wrong password")
    unknown = time.perf_counter() - began
    print(f"verify: known user {known * 1000:.1f} ms, unknown user {unknown * 1000:.1f} ms")
    assert slow._dummy is not None
    assert slow._dummy.startswith("$argon2id$")


async def test_reads_are_bounded_by_the_timeout(pg_dsn: str, proxy: Any) -> None:
    from tests.store.conftest import via

    pool = await db.create_pool(via(pg_dsn, proxy.port), timeout=2)
    try:
        store = AccountStore(pool, timeout=0.5, hasher=FAST)
        proxy.stall()
        with pytest.raises(TimeoutError):
            await store.get("alice")
    finally:
        proxy.restore()
        await pool.close()
