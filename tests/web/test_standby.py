"""The standby's dashboard port: a redirect to the active daemon, or a page naming it;
/healthz says standby (503) and /metrics has the role. Over HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from frontdesk.web.standby import (
    ActiveElsewhere,
    StandbyView,
    make_standby_app,
    redirect_to,
    standby_page,
)

SINCE = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
ACTIVE = ActiveElsewhere("pbx-a", 4242, "https://frontdesk-a.lakeside.lan/", SINCE)


def view(active: ActiveElsewhere | None = ACTIVE, ours: str | None = None) -> StandbyView:
    return StandbyView("pbx-b", ours, active, database=True)


def test_a_request_goes_to_the_same_path_on_the_active_dashboard() -> None:
    assert redirect_to(view(), "/reports?from=2026-12-01") == (
        "https://frontdesk-a.lakeside.lan/reports?from=2026-12-01"
    )
    assert redirect_to(view(), "/") == "https://frontdesk-a.lakeside.lan/"


def test_no_redirect_when_the_address_is_unknown_or_our_own() -> None:
    assert redirect_to(view(active=None), "/") is None
    unadvertised = ActiveElsewhere("pbx-a", 4242, None, SINCE)
    assert redirect_to(view(active=unadvertised), "/") is None
    # One address for both (a load balancer): redirecting would loop.
    assert redirect_to(view(ours="https://frontdesk-a.lakeside.lan"), "/") is None


def test_the_page_names_the_active_host_escaped() -> None:
    page = standby_page(view(active=ActiveElsewhere("<pbx-a>", 1, None, SINCE)))
    assert "&lt;pbx-a&gt;" in page
    assert "<pbx-a>" not in page
    assert "pbx-b" in page
    assert "http-equiv='refresh'" in page
    unknown = standby_page(StandbyView("pbx-b", None, None, database=False))
    assert "has not said where it runs" in unknown
    assert "database does not answer" in unknown


@pytest.fixture
async def standby() -> AsyncIterator[tuple[TestServer, list[StandbyView]]]:
    current = [view()]
    server = TestServer(make_standby_app(lambda: current[0]), host="127.0.0.1")
    await server.start_server()
    yield server, current
    await server.close()


async def test_the_dashboard_redirects_with_307(
    standby: tuple[TestServer, list[StandbyView]],
) -> None:
    server, _ = standby
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.make_url("/login?next=/agent"), allow_redirects=False) as response,
    ):
        assert response.status == 307  # (307: a POST stays a POST)
        assert response.headers["Location"] == "https://frontdesk-a.lakeside.lan/login?next=/agent"


async def test_unknown_active_shows_the_page(
    standby: tuple[TestServer, list[StandbyView]],
) -> None:
    server, current = standby
    current[0] = view(active=ActiveElsewhere("pbx-a", 4242, None, SINCE))
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.make_url("/"), allow_redirects=False) as response,
    ):
        assert response.status == 503
        assert response.headers["Retry-After"] == "5"
        assert "pbx-a" in await response.text()


async def test_healthz_and_metrics_say_standby(
    standby: tuple[TestServer, list[StandbyView]],
) -> None:
    server, _ = standby
    async with aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/healthz"), allow_redirects=False) as response:
            assert response.status == 503
            body = await response.json()
        async with http.get(server.make_url("/metrics"), allow_redirects=False) as response:
            assert response.status == 200
            text = await response.text()
    assert body == {
        "ready": False,
        "role": "standby",
        "database": "up",
        "active": {"host": "pbx-a", "url": "https://frontdesk-a.lakeside.lan/"},
    }
    got = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert got[("frontdesk_role", (("role", "standby"),))] == 1.0
    assert got[("frontdesk_role", (("role", "active"),))] == 0.0
    assert got[("frontdesk_up", (("dependency", "database"),))] == 1.0
