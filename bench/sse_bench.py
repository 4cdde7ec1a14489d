"""Board streams (`GET /events`) against the event loop: figures, not assertions.

    .venv/bin/python bench/sse_bench.py [--streams 0,50,200,1000] [--seconds 5] [--rate 50]

The dashboard app (web/agents_api.py with web/live.py's routes) is served by
web/server.py on loopback in this process, with no PBX and no database (sessions made in
memory). A second process opens N streams (half charge nurses, half agents with their
own extensions, one session each, so the per-session cap does not stop them; the
overall cap is lifted to N for the measure) and reads them. Meanwhile the board changes
`--rate` times a second (a caller joins or leaves a queue) and a probe task sleeping
10 ms records how late the loop wakes it: the lag every call's next command waits.

Printed per N: the lag p50/p99/max, the boards rendered (once per change per kind of
viewer, shared by the streams) and, with `--per-stream`, the same with one rendering per
stream (the behaviour before issue 14 row 5). Then the caps as served: how many of 10
streams on one session and of 60 sessions are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp

from frontdesk.acd.model import CallerJoined, CallerLeft
from frontdesk.asterisk.ari import AriClient, AriConfig
from frontdesk.calls.runtime import CallRuntime
from frontdesk.plan import Plan, load_plan
from frontdesk.settings import bundled_plan
from frontdesk.staff import StaffUser
from frontdesk.web.agents_api import make_app
from frontdesk.web.auth import COOKIE, SESSIONS
from frontdesk.web.live import LiveBoard, add_live_routes
from frontdesk.web.server import ServerLimits, start_site

PROBE = 0.01


def _client(url: str, sids: list[str], ready: Any, stop: Any) -> None:
    """The other process: one stream per session id, read until told to stop."""

    async def run() -> None:
        async def stream(sid: str) -> int:
            forever = aiohttp.ClientTimeout(total=None)
            async with (
                aiohttp.ClientSession(cookies={COOKIE: sid}) as http,
                http.get(url, timeout=forever) as r,
            ):
                if r.status != 200:
                    return r.status
                async for _ in r.content.iter_any():
                    pass
                return 200

        tasks = [asyncio.create_task(stream(sid)) for sid in sids]
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())


async def _probe(until: float) -> list[float]:
    lags = []
    while time.monotonic() < until:
        start = time.monotonic()
        await asyncio.sleep(PROBE)
        lags.append(max(0.0, time.monotonic() - start - PROBE))
    return lags


def _users(count: int) -> list[StaffUser]:
    users = []
    for i in range(count):
        if i % 2:
            users.append(StaffUser(f"agent{i}", f"Agent {i}", "agent", str(3000 + i)))
        else:
            users.append(StaffUser(f"nurse{i}", f"Nurse {i}", "charge_nurse", None))
    return users


class Served:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    async def __aenter__(self) -> Served:
        now = lambda: datetime.now(UTC)  # noqa: E731
        ari = AriClient(AriConfig("http://127.0.0.1:9/ari", "x", "y"))
        self.runtime = CallRuntime(self.plan, ari, now=now)
        queues = self.runtime.acd
        assert queues is not None
        self.queues = queues
        app = make_app(queues, None, now=now)
        self.live = LiveBoard(queues, self.plan)
        add_live_routes(app, self.live)
        self.app = app
        # every stream comes from loopback: the per-client connection cap lifted
        limits = ServerLimits(max_connections=4000, max_per_client=4000)
        self.runner, site = await start_site(app, "127.0.0.1", 0, limits)
        self.url = f"http://127.0.0.1:{site.port}/events"
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.runner.cleanup()
        await self.runtime.close()
        await self.runtime.ari.close()

    def sessions(self, users: list[StaffUser]) -> list[str]:
        return [self.app[SESSIONS].create(user).id for user in users]


async def measure(served: Served, streams: int, seconds: float, rate: float) -> dict[str, Any]:
    live, queues = served.live, served.queues
    live.streams_total = max(streams, 1)
    sids = served.sessions(_users(streams))
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    client = ctx.Process(target=_client, args=(served.url, sids, ready, stop))
    client.start()
    await asyncio.get_running_loop().run_in_executor(None, ready.wait)
    for _ in range(200):  # until the streams are open
        if sum(live.streams.values()) >= streams:
            break
        await asyncio.sleep(0.05)
    opened = sum(live.streams.values())
    renders = live.renders
    until = time.monotonic() + seconds
    probe = asyncio.create_task(_probe(until))
    queue_names = list(served.plan.queues)
    n = 0
    while time.monotonic() < until:
        call, queue = f"bench-{n}", queue_names[n % len(queue_names)]
        if n % 3 == 2:
            queues.feed(CallerLeft(call_id=f"bench-{n - 2}"))
        else:
            queues.feed(CallerJoined(call_id=call, queue=queue, enqueued_at=queues.now()))
        live.changed()
        n += 1
        await asyncio.sleep(1 / rate)
    lags = sorted(await probe)
    stop.set()
    await asyncio.get_running_loop().run_in_executor(None, client.join, 10)
    return {
        "streams": opened,
        "changes": n,
        "renders": live.renders - renders,
        "lag_p50_ms": 1000 * statistics.median(lags),
        "lag_p99_ms": 1000 * lags[int(0.99 * (len(lags) - 1))],
        "lag_max_ms": 1000 * lags[-1],
    }


async def caps(served: Served) -> tuple[int, int]:
    """Of 10 streams on one session and then 60 sessions: how many were accepted."""
    live = served.live
    live.streams_total = 50
    counted = []
    for sids in (served.sessions(_users(1)) * 10, served.sessions(_users(60))):
        async with aiohttp.ClientSession() as http:
            responses = []
            for sid in sids:
                r = await http.get(served.url, headers={"Cookie": f"{COOKIE}={sid}"})
                responses.append(r)
            counted.append(sum(1 for r in responses if r.status == 200))
            for r in responses:
                r.close()
        for _ in range(100):
            if not live.streams:
                break
            await asyncio.sleep(0.05)
    return counted[0], counted[1]


async def main(args: argparse.Namespace) -> None:
    plan = load_plan(bundled_plan())
    modes = [("shared", False)] + ([("per-stream", True)] if args.per_stream else [])
    print(
        f"{'rendering':<11} {'streams':>7} {'changes':>7} {'renders':>7} "
        f"{'lag p50 ms':>10} {'lag p99 ms':>10} {'lag max ms':>10}"
    )
    for label, per_stream in modes:
        for count in (int(c) for c in args.streams.split(",")):
            async with Served(plan) as served:
                if per_stream:
                    served.live.payload_for = _uncached(served.live)  # type: ignore[method-assign]
                row = await measure(served, count, args.seconds, args.rate)
            print(
                f"{label:<11} {row['streams']:>7} {row['changes']:>7} {row['renders']:>7} "
                f"{row['lag_p50_ms']:>10.2f} {row['lag_p99_ms']:>10.2f} {row['lag_max_ms']:>10.2f}"
            )
    async with Served(plan) as served:
        one, many = await caps(served)
    print(f"caps: {one} of 10 streams on one session accepted, {many} of 60 sessions")


def _uncached(live: LiveBoard) -> Any:
    import json

    def render(user: StaffUser) -> bytes:
        live.renders += 1
        payload = json.dumps(live.view_for(user), separators=(",", ":"))
        return f"event: board\ndata: {payload}\n\n".encode()

    return render


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="0,50,200,1000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=50.0, help="board changes per second")
    parser.add_argument("--per-stream", action="store_true", help="also without sharing")
    asyncio.run(main(parser.parse_args()))
