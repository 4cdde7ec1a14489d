"""The dashboard's pages over HTTP (web/pages.py): who may see which page, the reports
for a date range from the real PostgreSQL, the CSV export and the call-flow picture."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web

from frontdesk.plan import Plan
from frontdesk.store.accounts import AccountStore
from frontdesk.web.pages import add_page_routes, report_range
from tests.web.test_auth import T0, World, start_world, stop_world
from tests.web.test_auth import accounts as accounts


@pytest.fixture
async def world(plan: Plan, accounts: AccountStore) -> AsyncIterator[World]:
    def pages(app: web.Application, world: World) -> None:
        add_page_routes(app, plan, accounts.pool, world.clock)

    made = await start_world(plan, accounts, pages)
    try:
        yield made
    finally:
        await stop_world(made)


async def add_call(accounts: AccountStore, linkedid: str, **fields: object) -> None:
    columns = ["linkedid", *fields]
    marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    async with accounts.pool.acquire() as conn:
        await conn.execute(
            f"INSERT INTO calls ({', '.join(columns)}) VALUES ({marks})",
            linkedid,
            *fields.values(),
        )


async def test_every_role_sees_the_board_and_the_call_flow(world: World) -> None:
    for name in ("alice", "nina", "sam", "ada"):
        browser = world.browser()
        await browser.login(name)
        for path in ("/", "/diagram"):
            status, page, headers = await browser.request("GET", path)
            assert status == 200, (name, path)
            assert "<script>" not in page  # scripts come from /static (the CSP says so)
            assert "script-src 'self'" in headers["Content-Security-Policy"]


async def test_the_agent_view_is_for_staff_with_a_phone(world: World) -> None:
    alice, sam = world.browser(), world.browser()
    await alice.login("alice")
    await sam.login("sam")
    status, page, _ = await alice.request("GET", "/agent")
    assert status == 200
    assert 'data-ext="2001"' in page
    assert "Save disposition" in page
    assert (await sam.request("GET", "/agent"))[0] == 403


async def test_reports_are_for_nurses_supervisors_and_admins(world: World) -> None:
    alice = world.browser()
    await alice.login("alice")
    assert (await alice.request("GET", "/reports"))[0] == 403
    assert (await alice.request("GET", "/reports.csv"))[0] == 403
    for name in ("nina", "sam", "ada"):
        browser = world.browser()
        await browser.login(name)
        assert (await browser.request("GET", "/reports"))[0] == 200


async def test_the_report_counts_the_range_against_the_targets(
    world: World, accounts: AccountStore
) -> None:
    answered = {"queue": "billing", "answered_at": T0, "wait_s": 20, "talk_s": 200}
    await add_call(
        accounts,
        "in-range",
        started_at=T0 - timedelta(hours=1),
        category="billing",
        outcome="answered",
        **answered,
    )
    await add_call(accounts, "long-ago", started_at=T0 - timedelta(days=30), category="refill")
    sam = world.browser()
    await sam.login("sam")
    day = T0.date().isoformat()
    status, page, _ = await sam.request("GET", f"/reports?from={day}&to={day}")
    assert status == 200
    assert "1 call from" in page
    assert "Average handle time" in page
    assert "3.3 min" in page  # 200 s of talk
    assert "Mean talk time of answered calls" in page  # each metric's definition
    assert "data:image/svg+xml;base64," in page  # the two charts
    assert "<td>refill</td>" not in page  # the call of 30 days ago is not counted
    assert "<td>billing</td>" in page
    status, page, _ = await sam.request("GET", f"/reports?from={day}&to={day}&sl=10")
    assert "within 10 s" in page  # the service level's threshold, in its definition
    status, csv, headers = await sam.request("GET", f"/reports.csv?from={day}&to={day}")
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    assert "aht" in csv or "Average handle time" in csv


async def test_the_report_shows_transfers_misrouting_and_fcr_by_category_and_week(
    world: World, accounts: AccountStore
) -> None:
    talk = {"queue": "billing", "outcome": "answered", "wait_s": 20, "talk_s": 200}
    at = T0 - timedelta(hours=2)
    await add_call(accounts, "moved", started_at=at, caller="+13125550101", category="billing",
                   transferred=True, **talk)  # fmt: skip
    await add_call(accounts, "wrong", started_at=at, caller="+13125550102", category="billing",
                   disposition="wrong_department", **talk)  # fmt: skip
    await add_call(accounts, "fine", started_at=at, caller="+13125550103", category="refill",
                   **talk)  # fmt: skip
    async with accounts.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO call_events (linkedid, event_key, at, kind, data) VALUES "
            """('moved', 'moved:1', $1, 'staff_transfer', '{"misrouted": true}')""",
            at,
        )
        await conn.execute(
            "INSERT INTO dispositions (linkedid, disposition_key, agent, at, code) "
            "VALUES ('wrong', 'wrong:1', '2003', $1, 'wrong_department')",
            at,
        )
    sam = world.browser()
    await sam.login("sam")
    day = T0.date().isoformat()
    status, page, _ = await sam.request("GET", f"/reports?from={day}&to={day}")
    assert status == 200
    assert "Seed: before → aim" in page
    assert "25-40 % → 5-10 %" in page  # beside the misrouted figure, and above its columns
    assert "35-50 % → 8-15 %" in page
    assert "55-65 % → 80-88 %" in page
    assert "dispositioned it “wrong department”" in page  # the definitions, on the page
    assert "within 72 hours" in page
    assert 'id="routing-by-category"' in page
    assert 'id="routing-by-week"' in page
    category = page.split('id="routing-by-category"')[1].split("</table>")[0]
    billing = category.split('data-key="billing"')[1].split("</tr>")[0]
    assert '<td class="num" data-figure="misrouted">100.0 % <span class="bad">✗</span>' in billing
    assert '<td class="num" data-figure="transfers">50.0 %' in billing
    refill = category.split('data-key="refill"')[1].split("</tr>")[0]
    assert '<td class="num" data-figure="fcr">100.0 % <span class="ok">✓</span>' in refill
    week = page.split('id="routing-by-week"')[1].split("</table>")[0]
    assert f"{day} to {day}" in week
    assert '<td class="num" data-figure="misrouted">66.7 %' in week


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=yesterday", "Dates look like"),
        ("from=2026-11-30&to=2026-11-01", "before the start"),
        ("from=2024-01-01&to=2026-11-30", "at most"),
        ("short=-5", "whole seconds"),
        ("sl=99999", "whole seconds"),
    ],
)
async def test_a_bad_range_is_explained(world: World, query: str, message: str) -> None:
    sam = world.browser()
    await sam.login("sam")
    status, page, _ = await sam.request("GET", f"/reports?{query}")
    assert status == 200
    assert message in page
    assert (await sam.request("GET", f"/reports.csv?{query}"))[0] == 400


def test_the_default_range_is_the_last_seven_days(plan: Plan) -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(plan.practice.timezone)
    first, last, start, end = report_range(None, None, zone, T0.date())
    assert (last - first).days == 6
    assert end - start == timedelta(days=7)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) is not installed")
async def test_the_call_flow_picture(world: World) -> None:
    ada = world.browser()
    await ada.login("ada")
    status, svg, headers = await ada.request("GET", "/diagram.svg")
    assert status == 200
    assert headers["Content-Type"].startswith("image/svg+xml")
    assert "<svg" in svg
    assert "nurse_triage" in svg
    status, page, _ = await ada.request("GET", "/diagram")
    assert 'src="/diagram.svg"' in page
    assert "open" in page or "closed" in page
