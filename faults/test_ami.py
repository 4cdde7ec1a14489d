"""AMI dropped or half-open: the daemon is logged in again within 10 s, and AMI events
(phone registrations) reach it over the new connection."""

from __future__ import annotations

import time
from typing import Any

import pytest

from faults.conftest import Database
from faults.harness import EmulatorProcess, TcpProxy, wait_for

RECONNECT_BOUND_S = 10.0


@pytest.mark.parametrize("fault", ["dropped", "half-open"])
async def test_ami_dropped_or_half_open_reconnects_within_10_s(
    fault: str, pbx: EmulatorProcess, database: Database, daemon_for: Any
) -> None:
    proxy = TcpProxy(pbx.ami_port)
    await proxy.start()
    try:
        daemon = daemon_for(pbx, database.dsn, ami_port=proxy.port)
        await daemon.ready()
        await wait_for(lambda: proxy.logged_in_since(0), "the daemon to log in to AMI")
        before = proxy.links[-1]
        assert len(_connected(daemon)) == 1
        cut = time.monotonic()
        if fault == "dropped":
            await proxy.drop()
        else:
            proxy.freeze()
        took = await wait_for(
            lambda: proxy.logged_in_since(cut), "a new AMI login", RECONNECT_BOUND_S + 10
        )
        assert took <= RECONNECT_BOUND_S, f"AMI came back after {took:.1f} s"
        # The old connection was given up by the daemon itself (half-open: the watchdog).
        await wait_for(lambda: before.closed_by_client is not None, "the old link to be closed")
        # Events flow over the new connection (once the daemon has set it up): a phone
        # registering is seen.
        await wait_for(lambda: len(_connected(daemon)) >= 2, "the new AMI session", 10)
        seen = len(daemon.events("phones.registered"))
        await pbx.control("POST", "/endpoints/2004/unregister")  # all start registered
        await wait_for(lambda: _phones(daemon, seen)[-1:] == [False], "the unregistration", 10)
        await pbx.control("POST", "/endpoints/2004/register")
        await wait_for(lambda: _phones(daemon, seen)[-1:] == [True], "the registration", 10)
        assert daemon.running
    finally:
        await proxy.close()


def _phones(daemon: Any, seen: int) -> list[bool]:
    """Whether 2004 was registered in each `phones.registered` line after the first `seen`
    (a contact sync after the reconnect may add a line of its own)."""
    return ["2004" in e["phones"] for e in daemon.events("phones.registered")[seen:]]


def _connected(daemon: Any) -> list[dict[str, Any]]:
    return [e for e in daemon.events("ami_state") if e.get("state") == "connected"]
