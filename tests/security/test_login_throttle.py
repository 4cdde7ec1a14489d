"""Issue 14, row 1: the login throttle holds under concurrency.

41 logins sent at once with one login-form token were all checked, because the throttle
was read before the (awaited) password check and the failure counted after it; the
correct password, sent last, logged in. Now each attempt is counted before its password
is checked: at most 5 checks per username per window, whatever the concurrency.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from frontdesk.plan import Plan
from frontdesk.staff import StaffUser
from frontdesk.store.accounts import AccountStore
from tests.web.test_auth import PASSWORD, World, staff_accounts, start_world, stop_world


class CountingAccounts:
    """The real account store, counting how many passwords it was asked to check."""

    def __init__(self, store: AccountStore) -> None:
        self.store = store
        self.checked = 0

    async def verify(self, username: str, password: str) -> StaffUser | None:
        self.checked += 1
        return await self.store.verify(username, password)

    async def get(self, username: str) -> StaffUser | None:
        return await self.store.get(username)


@pytest.fixture
async def counted(plan: Plan) -> AsyncIterator[tuple[World, CountingAccounts]]:
    async with staff_accounts() as store:
        accounts = CountingAccounts(store)
        world = await start_world(plan, accounts)  # type: ignore[arg-type]
        try:
            yield world, accounts
        finally:
            await stop_world(world)


async def test_concurrent_logins_check_at_most_five_passwords(
    counted: tuple[World, CountingAccounts],
) -> None:
    world, accounts = counted
    browser = world.browser()
    _, _, token = await browser.login_form()
    url = browser.url("/login")

    async def attempt(password: str) -> int:
        form = {"username": "alice", "password": password, "csrf": token}
        async with browser.http.post(url, data=form, allow_redirects=False) as r:
            await r.read()
            return r.status

    passwords = [f"wrong password {i}" for i in range(40)] + [PASSWORD]  # the right one last
    statuses = await asyncio.gather(*(attempt(p) for p in passwords))
    assert accounts.checked <= 5
    assert statuses.count(401) <= 5
    assert statuses[-1] == 429  # the correct password, sent last, is refused
    assert statuses.count(429) >= 36
    assert browser.session_id() is None


async def test_a_good_login_among_concurrent_ones_still_counts(
    counted: tuple[World, CountingAccounts],
) -> None:
    world, accounts = counted
    browser = world.browser()
    _, _, token = await browser.login_form()
    url = browser.url("/login")

    async def attempt(username: str) -> int:
        form = {"username": username, "password": PASSWORD, "csrf": token}
        async with browser.http.post(url, data=form, allow_redirects=False) as r:
            await r.read()
            return r.status

    # Five different users log in at once with the right password: all get in, and the
    # address's count does not keep their attempts as failures.
    statuses = await asyncio.gather(*(attempt(u) for u in ("alice", "bob", "nina", "sam", "ada")))
    assert statuses == [303] * 5
    assert accounts.checked == 5
    assert world.server.app is not None
