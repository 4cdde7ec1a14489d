"""Two daemons with the same app name: the second refuses to run (exit code 3) and says
where the first one is; the first keeps every call."""

from __future__ import annotations

from typing import Any

from faults.conftest import Database
from faults.harness import EmulatorProcess, caller_number, wait_for
from frontdesk.exits import EXIT_ALREADY_RUNNING


async def test_second_daemon_with_the_same_app_name_refuses_to_run(
    pbx: EmulatorProcess, database: Database, daemon_for: Any, app: str
) -> None:
    first = daemon_for(pbx, database.dsn, name="first")
    await first.ready()
    # The same host and data directory: the lock file catches it.
    same_host = daemon_for(pbx, database.dsn, name="same-host")
    same_host.start()
    assert await same_host.exited(30) == EXIT_ALREADY_RUNNING
    assert f"app '{app}'" in same_host.text()
    assert f"pid {first.pid} on" in same_host.text()
    # Another host sharing the database (here: another data directory): PostgreSQL's lock.
    other_host = daemon_for(pbx, database.dsn, name="other-host", data_dir=first.data_dir / "b")
    other_host.start()
    assert await other_host.exited(30) == EXIT_ALREADY_RUNNING
    assert f"app '{app}'" in other_host.text()
    assert f"application_name 'frontdesk-instance:{app}'" in other_host.text()
    # Neither ever connected to Asterisk, so the first daemon's app was never replaced.
    for refused in (same_host, other_host):
        assert '"event": "ari.connected"' not in refused.text()
    assert first.running
    assert not first.events("calls.app_replaced")
    await first.api("/api/acd")
    channel = await pbx.place_call(caller_number(1))
    await wait_for(lambda: pbx.queued(channel), "the first daemon to take a new call")
