"""`/metrics` and `/healthz` over HTTP on loopback, without the agents API token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from frontdesk.calls.events import (
    AgentRinging,
    CallAbandoned,
    CallAnswered,
    CallbackChosen,
    CallShed,
    CallStarted,
    ExternalTransferConnected,
    QueueJoined,
    VoicemailLeft,
)
from frontdesk.calls.hub import EventHub
from frontdesk.calls.runtime import utc_now
from frontdesk.plan import Plan
from frontdesk.routing.ivr import CallFacts
from frontdesk.web.agents_api import make_app
from frontdesk.web.ops import Metrics, Probes, add_ops_routes
from tests.web.test_auth import acd_of, close_runtime, no_pbx

TOKEN = "test-token"
CALM = {"overloaded": False}  # admission control is not shedding


@dataclass
class World:
    ari: bool = True
    ami: bool = True
    database: bool | None = True
    depths: dict[str, int] = field(default_factory=lambda: {"scheduling": 2, "billing": 0})
    waits: dict[str, float] = field(default_factory=lambda: {"scheduling": 42.5})
    spool: int = 3
    calls: int = 5
    now: float = 1000.0
    broken: bool = False  # ari() and queue_depths() raise
    overloaded: bool = False

    def ari_probe(self) -> bool:
        if self.broken:
            raise RuntimeError("probe bug")
        return self.ari

    def depths_probe(self) -> dict[str, int]:
        if self.broken:
            raise RuntimeError("probe bug")
        return self.depths

    def probes(self) -> Probes:
        return Probes(
            ari=self.ari_probe,
            ami=lambda: self.ami,
            database=lambda: self.database,
            queue_depths=self.depths_probe,
            longest_waits=lambda: self.waits,
            spool_depth=lambda: self.spool,
            calls_in_app=lambda: self.calls,
            overloaded=lambda: self.overloaded,
            health=lambda: {"loop_lag": 0.3, "ari_latency": 0.02},
        )


@pytest.fixture
async def served(plan: Plan) -> AsyncIterator[tuple[TestServer, World, Metrics]]:
    runtime = no_pbx(plan, utc_now)
    world = World()
    probes = world.probes()
    metrics = Metrics(probes, clock=lambda: world.now)
    app = make_app(acd_of(runtime), None, now=utc_now, api_token=TOKEN)
    add_ops_routes(app, probes, metrics)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server, world, metrics
    await test_server.close()
    await close_runtime(runtime)


async def get(test_server: TestServer, path: str, token: str | None = None) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(test_server.make_url(path), headers=headers) as response,
    ):
        return response.status, response.headers.get("Content-Type", ""), await response.text()


async def healthz(test_server: TestServer) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(test_server.make_url("/healthz")) as response,
    ):
        return response.status, await response.json()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def scrape(test_server: TestServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, _, text = await get(test_server, "/metrics")
    assert status == 200
    return samples(text)


async def test_healthz_ready_when_all_up(served: tuple[TestServer, World, Metrics]) -> None:
    test_server, _, _ = served
    assert await healthz(test_server) == (
        200,
        {"ready": True, "role": "active", "ari": "up", "ami": "up", "database": "up", **CALM},
    )


@pytest.mark.parametrize("down", ["ari", "ami", "database"])
async def test_healthz_names_the_failing_dependency(
    served: tuple[TestServer, World, Metrics], down: str
) -> None:
    test_server, world, _ = served
    setattr(world, down, False)
    status, body = await healthz(test_server)
    assert status == 503
    assert body["ready"] is False
    assert body[down] == "down"
    assert [k for k, v in body.items() if v == "up"] == [
        k for k in ("ari", "ami", "database") if k != down
    ]


async def test_healthz_without_database_is_ready(
    served: tuple[TestServer, World, Metrics],
) -> None:
    test_server, world, _ = served
    world.database = None
    assert await healthz(test_server) == (
        200,
        {
            "ready": True,
            "role": "active",
            "ari": "up",
            "ami": "up",
            "database": "not configured",
            **CALM,
        },
    )


async def test_a_probe_that_raises_counts_as_down(
    served: tuple[TestServer, World, Metrics],
) -> None:
    test_server, world, _ = served
    world.broken = True
    assert await healthz(test_server) == (
        503,
        {"ready": False, "role": "active", "ari": "down", "ami": "up", "database": "up", **CALM},
    )
    got = await scrape(test_server)  # the scrape still works
    assert got[("frontdesk_up", (("dependency", "ari"),))] == 0.0
    assert ("frontdesk_queue_depth", (("queue", "scheduling"),)) not in got
    assert got[("frontdesk_spool_records", ())] == 3.0


async def test_metrics_families_and_labels(served: tuple[TestServer, World, Metrics]) -> None:
    test_server, world, _ = served
    world.ami = False
    status, content_type, text = await get(test_server, "/metrics")
    assert status == 200
    assert content_type.split(";")[0] == CONTENT_TYPE_LATEST.split(";")[0]
    families = {  # prometheus_client's `*_created` timestamps aside
        f.name: f.type
        for f in text_string_to_metric_families(text)
        if not f.name.endswith("_created")
    }
    assert families == {
        "frontdesk_role": "gauge",
        "frontdesk_calls": "counter",
        "frontdesk_calls_started": "counter",
        "frontdesk_calls_shed": "counter",
        "frontdesk_overloaded": "gauge",
        "frontdesk_health_seconds": "gauge",
        "frontdesk_queue_wait_seconds": "histogram",
        "frontdesk_up": "gauge",
        "frontdesk_queue_depth": "gauge",
        "frontdesk_queue_longest_wait_seconds": "gauge",
        "frontdesk_spool_records": "gauge",
        "frontdesk_calls_in_app": "gauge",
        "frontdesk_event_loop_lag_seconds": "histogram",
    }
    got = samples(text)
    assert got[("frontdesk_up", (("dependency", "ari"),))] == 1.0
    assert got[("frontdesk_up", (("dependency", "ami"),))] == 0.0
    assert got[("frontdesk_up", (("dependency", "database"),))] == 1.0
    assert got[("frontdesk_queue_depth", (("queue", "scheduling"),))] == 2.0
    assert got[("frontdesk_queue_depth", (("queue", "billing"),))] == 0.0
    assert got[("frontdesk_queue_longest_wait_seconds", (("queue", "scheduling"),))] == 42.5
    assert got[("frontdesk_spool_records", ())] == 3.0
    assert got[("frontdesk_calls_in_app", ())] == 5.0
    assert got[("frontdesk_calls_total", (("outcome", "answered"),))] == 0.0
    assert got[("frontdesk_calls_started_total", ())] == 0.0
    assert got[("frontdesk_role", (("role", "active"),))] == 1.0
    assert got[("frontdesk_role", (("role", "standby"),))] == 0.0


async def test_gauges_follow_the_probes_and_unconfigured_database_is_left_out(
    served: tuple[TestServer, World, Metrics],
) -> None:
    test_server, world, _ = served
    world.database = None
    world.depths = {"scheduling": 7}
    world.spool = 0
    got = await scrape(test_server)
    assert ("frontdesk_up", (("dependency", "database"),)) not in got
    assert got[("frontdesk_queue_depth", (("queue", "scheduling"),))] == 7.0
    assert ("frontdesk_queue_depth", (("queue", "billing"),)) not in got
    assert got[("frontdesk_spool_records", ())] == 0.0


async def test_counters_and_wait_histogram_move_with_the_hub(
    served: tuple[TestServer, World, Metrics],
) -> None:
    test_server, world, metrics = served
    hub = EventHub()
    hub.add_listener(metrics.on_hub)
    facts = CallFacts("+13125550000", None, None)
    hub.publish(CallStarted("c1", facts))
    hub.publish(CallStarted("c2", facts))
    hub.publish(QueueJoined("c1", "scheduling"))
    hub.publish(QueueJoined("c2", "scheduling"))
    hub.publish(QueueJoined("c3", "billing"))
    hub.publish(AgentRinging("c1", "2001", None, "en", "billing"))  # not an outcome
    world.now += 12
    hub.publish(CallAnswered("c1", "2001"))
    world.now += 30
    hub.publish(CallAbandoned("c2"))
    hub.publish(CallbackChosen("c3"))
    hub.publish(CallAnswered("c3", "2002"))  # the callback
    hub.publish(VoicemailLeft("c4", "1"))
    hub.publish(CallAbandoned("c7", "voicemail"))  # hung up before leaving a message
    hub.publish(CallAbandoned("c6", "menu"))  # not a queue or destination outcome
    hub.publish(ExternalTransferConnected("c5"))
    got = await scrape(test_server)

    def total(outcome: str) -> float:
        return got[("frontdesk_calls_total", (("outcome", outcome),))]

    assert got[("frontdesk_calls_started_total", ())] == 2.0
    assert total("joined") == 3.0
    assert total("answered") == 2.0
    assert total("abandoned") == 2.0
    assert total("callback_accepted") == 1.0
    assert total("voicemail") == 1.0
    assert total("transfer_connected") == 1.0
    assert ("frontdesk_calls_total", (("outcome", "ringing"),)) not in got
    scheduling = (("queue", "scheduling"),)
    assert got[("frontdesk_queue_wait_seconds_count", scheduling)] == 2.0
    assert got[("frontdesk_queue_wait_seconds_sum", scheduling)] == 12.0 + 42.0
    assert got[("frontdesk_queue_wait_seconds_bucket", (("le", "20.0"), *scheduling))] == 1.0
    assert ("frontdesk_queue_wait_seconds_count", (("queue", "billing"),)) not in got


async def test_ops_routes_are_public_but_the_api_is_not(
    served: tuple[TestServer, World, Metrics],
) -> None:
    test_server, _, _ = served
    assert (await get(test_server, "/metrics"))[0] == 200
    assert (await get(test_server, "/healthz"))[0] == 200
    assert (await get(test_server, "/metrics", token="wrong"))[0] == 200
    assert (await get(test_server, "/api/acd"))[0] == 401
    assert (await get(test_server, "/api/acd", token="wrong"))[0] == 401
    assert (await get(test_server, "/api/acd", token=TOKEN))[0] == 200


async def test_overload_is_counted_and_shown_and_still_ready(
    served: tuple[TestServer, World, Metrics],
) -> None:
    test_server, world, metrics = served
    world.overloaded = True
    for call in ("s1", "s2"):
        metrics.on_hub(CallShed(call, "loop_lag"))
    metrics.on_hub(CallShed("s3", "max_channels"))
    _, _, text = await get(test_server, "/metrics")
    got = samples(text)
    assert got[("frontdesk_calls_shed_total", (("reason", "loop_lag"),))] == 2.0
    assert got[("frontdesk_calls_shed_total", (("reason", "max_channels"),))] == 1.0
    assert got[("frontdesk_overloaded", ())] == 1.0
    assert got[("frontdesk_health_seconds", (("signal", "loop_lag"),))] == 0.3
    status, body = await healthz(test_server)
    assert (status, body["ready"], body["overloaded"]) == (200, True, True)
