"""Two daemons with the same app name and database: the second waits as standby (it never
touches Asterisk, its dashboard sends staff to the first, /healthz says standby) and takes
over when the first stops; one in the same data directory is refused (exit code 3); a
standby stops at once on SIGTERM."""

from __future__ import annotations

from typing import Any

import aiohttp

from faults.conftest import Database
from faults.harness import DaemonProcess, EmulatorProcess, caller_number, wait_for
from frontdesk.exits import EXIT_ALREADY_RUNNING


async def get(daemon: DaemonProcess, path: str) -> tuple[int, str, dict[str, str]]:
    """Status, body and headers of a GET to the daemon's dashboard port, not followed."""
    url = f"http://127.0.0.1:{daemon.http_port}{path}"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        return response.status, await response.text(), dict(response.headers)


def standing_by(daemon: DaemonProcess) -> bool:
    if not daemon.running:
        raise AssertionError(f"the standby exited:\n{daemon.text()[-3000:]}")
    return bool(daemon.events("instance.standby"))


async def test_second_daemon_waits_as_standby_and_takes_over_when_the_first_stops(
    pbx: EmulatorProcess, database: Database, daemon_for: Any, app: str
) -> None:
    first = daemon_for(pbx, database.dsn, name="first")
    first.env["FRONTDESK_PUBLIC_URL"] = f"http://127.0.0.1:{first.http_port}/"
    await first.ready()
    # The same host and data directory: the lock file refuses it (the spool is one daemon's).
    same_dir = daemon_for(pbx, database.dsn, name="same-dir")
    same_dir.start()
    assert await same_dir.exited(30) == EXIT_ALREADY_RUNNING
    assert f"app '{app}'" in same_dir.text()
    assert f"pid {first.pid} on" in same_dir.text()
    assert "needs its own FRONTDESK_DATA_DIR" in same_dir.text()
    # Another host sharing the database (here: another data directory): a standby.
    second = daemon_for(pbx, database.dsn, name="second", data_dir=first.data_dir / "b")
    second.start()
    await wait_for(lambda: standing_by(second), "the second daemon to stand by", 30)
    assert f"application_name 'frontdesk-instance:{app}'" in second.text()
    status, body, _ = await get(second, "/healthz")
    assert status == 503
    assert '"role": "standby"' in body
    status, body, _ = await get(first, "/healthz")
    assert status == 200
    assert '"role": "active"' in body
    _, metrics, _ = await get(second, "/metrics")
    assert 'frontdesk_role{role="standby"} 1.0' in metrics

    async def redirected() -> bool:  # once the standby has read the first's address
        status, _, _ = await get(second, "/reports?from=2026-12-01")
        return status == 307

    await wait_for(redirected, "the standby's dashboard to redirect to the active one")
    _, _, headers = await get(second, "/reports?from=2026-12-01")
    assert headers["Location"] == f"http://127.0.0.1:{first.http_port}/reports?from=2026-12-01"
    # Neither ever connected to Asterisk, so the first daemon's app was never replaced.
    for waiting in (same_dir, second):
        assert '"event": "ari.connected"' not in waiting.text()
    assert first.running
    assert not first.events("calls.app_replaced")
    await first.api("/api/acd")
    channel = await pbx.place_call(caller_number(1))
    await wait_for(lambda: pbx.queued(channel), "the first daemon to take a new call")
    # A clean stop of the first: the second takes over and serves the caller left waiting.
    first.send(15)  # SIGTERM
    assert await first.exited(15) == 0
    await wait_for(lambda: second.events("calls.resynced"), "the second to take over", 20)
    assert second.events("instance.active")
    status, body, _ = await get(second, "/healthz")
    assert '"role": "active"' in body
    snapshot = await second.api("/api/acd")
    assert channel in str(snapshot)
    # A standby stops at once on SIGTERM (it holds nothing to hand over).
    third = daemon_for(pbx, database.dsn, name="third", data_dir=first.data_dir / "c")
    third.start()
    await wait_for(lambda: standing_by(third), "a third daemon to stand by", 30)
    third.send(15)
    assert await third.exited(5) == 0
    assert second.running
    assert await pbx.violations() == []
