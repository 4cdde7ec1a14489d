"""Operations endpoints: `/metrics` for Prometheus and `/healthz` for load balancers.

Both are served without the bearer token (see `agents_api.PUBLIC_PATHS`): they carry
counts, queue names and up/down flags, never a caller's number or name.

- `GET /metrics`: the text exposition format of a registry private to this `Metrics`
  (not prometheus_client's global one, so tests and several apps never clash).
  Counters move with the event hub (`Metrics.on_hub` as a listener: `CallStarted`
  and the outcomes in `COUNTED`); gauges are read from `Probes` at scrape time.
- `GET /healthz`: 200 `{"ready": true, "role": "active", "ari": "up", "ami": "up",
  "database": "up"}` when ARI, AMI and the database are reachable (`"not configured"`
  counts as ready), else 503 with the failing ones `"down"`. A standby (web/standby.py)
  answers 503 with `"role": "standby"`: like Patroni's `/primary`, the check a load
  balancer uses to send staff to the active daemon only.
  It also says `"overloaded": true|false` (admission control shedding new calls; still
  ready: the calls it has are served).
- `frontdesk_overloaded`, `frontdesk_calls_shed{reason}` and
  `frontdesk_health_seconds{signal}`: admission control (calls/admission.py).
- `frontdesk_role{role}`: 1 for this daemon's role (`active` or `standby`), 0 for the
  other, so a dashboard shows which one of a pair serves calls.

`frontdesk_calls{outcome}` counts queue and destination outcomes, labelled with the
fact's stored name (`OUTCOMES`); a caller who hangs up in frontdesk's own menu
(`CallAbandoned(where="menu")`) is not one of them.

`frontdesk_queue_wait_seconds{queue}` is measured here, not carried by the events: the
time from a caller's `QueueJoined` to their `CallAnswered` or `CallAbandoned` (on the
`clock` given to `Metrics`). Callers who accept a callback leave the histogram (their
wait ends on hold, not with an answer); callers re-adopted after a restart (no
`QueueJoined`) are not observed.

`frontdesk_event_loop_lag_seconds` is how late the event loop wakes a task that sleeps
`LAG_INTERVAL` (`Metrics.watch_loop`, a task the daemon runs): a loop busy with callbacks
or blocked by synchronous work delays every call's next command by as much.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import structlog
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from frontdesk.calls.events import (
    CallAbandoned,
    CallAnswered,
    CallbackChosen,
    CallFact,
    CallShed,
    CallStarted,
    ExternalTransferConnected,
    HubEvent,
    QueueJoined,
    VoicemailLeft,
)

log = structlog.get_logger("frontdesk.web")

# the facts `frontdesk_calls{outcome}` counts; the label is the fact's stored name
COUNTED: tuple[type[CallFact], ...] = (
    CallAnswered,
    CallAbandoned,
    VoicemailLeft,
    ExternalTransferConnected,
    CallbackChosen,
    QueueJoined,
)
OUTCOMES = tuple(fact.kind for fact in COUNTED)
WAIT_BUCKETS = (5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 1200.0)
LAG_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LAG_INTERVAL = 0.1  # seconds between two wake-ups of the lag probe
_MAX_TRACKED = 10_000  # callers waiting at once; beyond this the oldest are forgotten
T = TypeVar("T")
N = TypeVar("N", int, float)


@dataclass(frozen=True)
class Probes:
    """What the daemon can tell about itself, read at every scrape or health check.

    Each is a zero-argument callable; one that raises counts as down (or is left out
    of `/metrics`), so a broken probe never breaks the endpoint.
    """

    ari: Callable[[], bool]
    ami: Callable[[], bool]
    database: Callable[[], bool | None]  # None: no database configured
    queue_depths: Callable[[], Mapping[str, int]]  # queue -> callers in it
    longest_waits: Callable[[], Mapping[str, float]]  # queue -> seconds, longest caller
    spool_depth: Callable[[], int]  # records waiting in the outbox spool
    calls_in_app: Callable[[], int]  # call sessions in the Stasis app
    role: Callable[[], str] = lambda: "active"  # active | standby (frontdesk/instance.py)
    # Admission control (calls/admission.py): whether new calls are being shed, and the
    # smoothed health signals it judges by (seconds).
    overloaded: Callable[[], bool] = lambda: False
    health: Callable[[], Mapping[str, float]] = lambda: {}


class Metrics:
    def __init__(self, probes: Probes, clock: Callable[[], float] = time.monotonic) -> None:
        self.probes = probes
        self.registry = CollectorRegistry()
        self._clock = clock
        self._joined: OrderedDict[str, tuple[str, float]] = OrderedDict()  # call -> queue, t
        self.calls = Counter(
            "frontdesk_calls",
            "Queue and destination outcomes of calls, from the event hub.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in OUTCOMES:
            self.calls.labels(outcome=outcome)
        self.shed = Counter(
            "frontdesk_calls_shed",
            "New calls handed straight to the dialplan's fallback by admission control.",
            ["reason"],
            registry=self.registry,
        )
        self.started = Counter(
            "frontdesk_calls_started",
            "Calls that entered the Stasis app.",
            registry=self.registry,
        )
        self.wait = Histogram(
            "frontdesk_queue_wait_seconds",
            "Time on hold from joining a queue to being answered or hanging up.",
            ["queue"],
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "frontdesk_event_loop_lag_seconds",
            "How late the event loop woke a task sleeping a fixed interval.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_ProbeCollector(probes))

    async def watch_loop(self, interval: float = LAG_INTERVAL) -> None:
        """Observe the event loop's lag until cancelled (on the real monotonic clock)."""
        while True:
            start = time.monotonic()
            await asyncio.sleep(interval)
            self.loop_lag.observe(max(0.0, time.monotonic() - start - interval))

    def on_hub(self, event: HubEvent) -> None:
        """The hub's listener: count started calls and outcomes, observe queue waits."""
        match event:
            case CallStarted():
                self.started.inc()
                return
            case CallShed(reason=reason):
                self.shed.labels(reason=reason).inc()
                return
            case CallAbandoned(where="menu"):
                return  # not a queue or destination outcome
        if not isinstance(event, COUNTED):
            return
        self.calls.labels(outcome=event.kind).inc()
        match event:
            case QueueJoined(call=call, queue=queue):
                self._joined[call] = (queue, self._clock())
                while len(self._joined) > _MAX_TRACKED:
                    self._joined.popitem(last=False)
            case CallAnswered(call=call) | CallAbandoned(call=call):
                entry = self._joined.pop(call, None)
                if entry is not None:
                    queue, since = entry
                    self.wait.labels(queue=queue).observe(max(0.0, self._clock() - since))
            case CallbackChosen(call=call):
                self._joined.pop(call, None)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ProbeCollector:
    """Gauges computed at scrape time from `Probes`."""

    def __init__(self, probes: Probes) -> None:
        self.probes = probes

    def collect(self) -> Iterable[Metric]:
        if (role := _read(self.probes.role)) is not None:
            yield role_gauge(role[0])
        up = GaugeMetricFamily(
            "frontdesk_up",
            "Whether a dependency is reachable (1) or not (0).",
            labels=["dependency"],
        )
        for name, state in _dependencies(self.probes).items():
            if state != "not configured":
                up.add_metric([name], 1.0 if state == "up" else 0.0)
        yield up
        depth = GaugeMetricFamily(
            "frontdesk_queue_depth", "Callers in the queue.", labels=["queue"]
        )
        for queue, n in sorted(_mapping(self.probes.queue_depths).items()):
            depth.add_metric([queue], float(n))
        yield depth
        longest = GaugeMetricFamily(
            "frontdesk_queue_longest_wait_seconds",
            "How long the longest-waiting caller of the queue has waited.",
            labels=["queue"],
        )
        for queue, seconds in sorted(_mapping(self.probes.longest_waits).items()):
            longest.add_metric([queue], float(seconds))
        yield longest
        if (spool := _read(self.probes.spool_depth)) is not None:
            yield GaugeMetricFamily(
                "frontdesk_spool_records",
                "Records in the outbox spool, waiting for the database.",
                value=float(spool[0]),
            )
        if (overloaded := _read(self.probes.overloaded)) is not None:
            yield GaugeMetricFamily(
                "frontdesk_overloaded",
                "1 while admission control sheds new calls to the dialplan's fallback.",
                value=1.0 if overloaded[0] else 0.0,
            )
        health = GaugeMetricFamily(
            "frontdesk_health_seconds",
            "Admission control's smoothed signals: loop lag, event delay, ARI latency.",
            labels=["signal"],
        )
        for signal, seconds in sorted(_mapping(self.probes.health).items()):
            health.add_metric([signal], float(seconds))
        yield health
        if (in_app := _read(self.probes.calls_in_app)) is not None:
            yield GaugeMetricFamily(
                "frontdesk_calls_in_app", "Call sessions in the Stasis app.", value=float(in_app[0])
            )


ROLES = ("active", "standby")


def role_gauge(role: str) -> Metric:
    """`frontdesk_role{role}`: 1 for this daemon's role, 0 for the other."""
    gauge = GaugeMetricFamily(
        "frontdesk_role", "This daemon's role in an active/standby pair.", labels=["role"]
    )
    for name in ROLES:
        gauge.add_metric([name], 1.0 if name == role else 0.0)
    return gauge


def _read(probe: Callable[[], T]) -> tuple[T] | None:
    """`(value,)`, or None when the probe raised (logged)."""
    try:
        return (probe(),)
    except Exception:
        log.exception("ops.probe_failed", probe=getattr(probe, "__name__", repr(probe)))
        return None


def _mapping(probe: Callable[[], Mapping[str, N]]) -> Mapping[str, N]:
    read = _read(probe)
    return {} if read is None else read[0]


def _dependencies(probes: Probes) -> dict[str, str]:
    def state(probe: Callable[[], bool | None]) -> str:
        read = _read(probe)
        if read is None:
            return "down"
        if read[0] is None:
            return "not configured"
        return "up" if read[0] else "down"

    return {"ari": state(probes.ari), "ami": state(probes.ami), "database": state(probes.database)}


PROBES = web.AppKey("ops_probes", Probes)
METRICS = web.AppKey("ops_metrics", Metrics)


def add_ops_routes(app: web.Application, probes: Probes, metrics: Metrics) -> None:
    """`GET /metrics` and `GET /healthz`; public, see `agents_api.PUBLIC_PATHS`."""
    app[PROBES] = probes
    app[METRICS] = metrics
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def _healthz(request: web.Request) -> web.Response:
    probes = request.app[PROBES]
    states = _dependencies(probes)
    role = _read(probes.role)
    role_name = role[0] if role is not None else "unknown"
    ready = role_name == "active" and all(state != "down" for state in states.values())
    overloaded = _read(probes.overloaded)
    # Overloaded is still ready: the daemon serves the calls it has (and sheds new ones).
    body = {
        "ready": ready,
        "role": role_name,
        **states,
        "overloaded": bool(overloaded and overloaded[0]),
    }
    return web.json_response(body, status=200 if ready else 503)
