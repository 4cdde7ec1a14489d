"""Issue 14, row 10: Origin and Host.

`Origin: https://…` was accepted on plain http (only the host was compared), and any
`Host` was accepted, so a DNS-rebinding page could reach `/login` and `/metrics`. Now
an Origin must match the request's scheme, host and port exactly, and the Host header
must name an allowed host (FRONTDESK_ALLOWED_HOSTS; by default the bind address and
the loopback names), else 421 before any handler runs. `/healthz` and `/metrics` keep
answering monitoring on loopback under the default.
"""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from frontdesk.plan import Plan
from frontdesk.settings import Settings
from frontdesk.web.agents_api import make_app
from frontdesk.web.ops import Metrics, Probes, add_ops_routes
from tests.web.test_auth import PASSWORD, TOKEN, World, acd_of, close_runtime, no_pbx
from tests.web.test_auth import Clock as FakeClock
from tests.web.test_auth import accounts as accounts
from tests.web.test_auth import world as world


def port_of(world: World) -> int:
    assert world.server.port is not None
    return world.server.port


# -- Origin ---------------------------------------------------------------------------------
async def test_an_https_origin_is_refused_on_plain_http(world: World) -> None:
    browser = world.browser()
    _, _, token = await browser.login_form()
    form = {"username": "alice", "password": PASSWORD, "csrf": token}
    origin = f"https://127.0.0.1:{port_of(world)}"
    status, _, _ = await browser.request("POST", "/login", data=form, headers={"Origin": origin})
    assert status == 403
    assert browser.session_id() is None
    # The same origin over http, as a browser sends it, is fine.
    _, _, token = await browser.login_form()
    same = f"http://127.0.0.1:{port_of(world)}"
    status, _, _ = await browser.request(
        "POST", "/login", data=form | {"csrf": token}, headers={"Origin": same}
    )
    assert status == 303


@pytest.mark.parametrize(
    "origin",
    [
        "https://127.0.0.1:{port}",  # another scheme
        "http://127.0.0.1:1",  # another port
        "http://127.0.0.1",  # the default port, not this one
        "http://localhost:{port}",  # another host name
        "null",  # a sandboxed frame or file: page
        "http://127.0.0.1:{port}.evil.example",
    ],
)
async def test_a_change_with_another_origin_is_refused(world: World, origin: str) -> None:
    browser = world.browser()
    assert (await browser.login("alice")).status == 303
    csrf = await browser.csrf()
    headers = {"Origin": origin.format(port=port_of(world))}
    status, _, _ = await browser.request("POST", "/action", csrf=csrf, headers=headers)
    assert status == 403
    ok = {"Origin": f"http://127.0.0.1:{port_of(world)}"}
    assert (await browser.request("POST", "/action", csrf=csrf, headers=ok))[0] == 200


# -- Host -----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/login", "/metrics", "/healthz", "/whoami", "/api/acd"])
async def test_an_unknown_host_is_refused_before_routing(world: World, path: str) -> None:
    browser = world.browser()
    status, _, _ = await browser.request("GET", path, headers={"Host": "rebound.evil.example"})
    assert status == 421
    # With the API token too: the Host check comes first.
    headers = {"Host": "rebound.evil.example", "Authorization": f"Bearer {TOKEN}"}
    assert (await browser.request("GET", "/api/acd", headers=headers))[0] == 421


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "[::1]:{port}", "localhost."]
)
async def test_the_loopback_names_are_allowed_with_any_port(world: World, host: str) -> None:
    browser = world.browser()
    headers = {"Host": host.format(port=port_of(world))}
    status, _, _ = await browser.request("GET", "/login", headers=headers)
    assert status == 200


class Up:
    def probes(self) -> Probes:
        return Probes(
            ari=lambda: True,
            ami=lambda: True,
            database=lambda: None,
            queue_depths=lambda: {},
            longest_waits=lambda: {},
            spool_depth=lambda: 0,
            calls_in_app=lambda: 0,
        )


async def test_monitoring_on_loopback_keeps_working_under_the_default(plan: Plan) -> None:
    clock = FakeClock()
    runtime = no_pbx(plan, clock)
    settings = Settings.from_env({})  # the default allow-list, bound to 127.0.0.1
    probes = Up().probes()
    app = make_app(acd_of(runtime), None, now=clock, allowed_hosts=settings.hosts)
    add_ops_routes(app, probes, Metrics(probes))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/healthz", "/metrics"):
                for host in (None, f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
                    headers = {"Host": host} if host else {}
                    async with http.get(server.make_url(path), headers=headers) as r:
                        assert r.status == 200, (path, host)
                async with http.get(server.make_url(path), headers={"Host": "evil.test"}) as r:
                    assert r.status == 421
    finally:
        await server.close()
        await close_runtime(runtime)


def test_the_allow_list_setting() -> None:
    default = Settings.from_env({"FRONTDESK_HTTP_HOST": "10.1.2.3"}).hosts
    assert set(default) == {"10.1.2.3", "localhost", "127.0.0.1", "::1"}
    given = Settings.from_env({"FRONTDESK_ALLOWED_HOSTS": "frontdesk.lan, 10.1.2.3 ::1"})
    assert given.hosts == ("frontdesk.lan", "10.1.2.3", "::1")
    with pytest.raises(ValueError, match="FRONTDESK_ALLOWED_HOSTS"):
        Settings.from_env({"FRONTDESK_ALLOWED_HOSTS": " , "})
