"""The dashboard's address on a standby daemon (frontdesk/instance.py, docs/scale.md).

A standby serves no calls and holds no data worth showing, so every page sends staff to
the active daemon: a 307 to the address it advertised (`FRONTDESK_PUBLIC_URL`, with the
path and query kept), or, when it advertised none (or ours: a shared address would loop),
a short page naming the host that is active, which reloads itself every 5 s (after a
takeover it is the dashboard). `/healthz` answers 503 with `"role": "standby"` and
`/metrics` has `frontdesk_role` and the database's reachability: no patient data here.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from frontdesk.web.ops import role_gauge

RELOAD_S = 5


@dataclass(frozen=True)
class ActiveElsewhere:
    """The active daemon as it advertised itself."""

    host: str
    pid: int
    public_url: str | None
    since: datetime


@dataclass(frozen=True)
class StandbyView:
    host: str  # this machine
    public_url: str | None  # ours (FRONTDESK_PUBLIC_URL)
    active: ActiveElsewhere | None  # None: not known (yet)
    database: bool | None  # reachable at the last poll; None: not tried yet


def redirect_to(view: StandbyView, path_qs: str) -> str | None:
    """Where a request for `path_qs` goes, or None to show the page. Pure."""
    active = view.active
    if active is None or not active.public_url:
        return None
    base = active.public_url.rstrip("/")
    if view.public_url is not None and base == view.public_url.rstrip("/"):
        return None  # one address for both (a load balancer): it must pick the active
    return base + "/" + path_qs.lstrip("/")


def standby_page(view: StandbyView) -> str:
    """The page shown when the active's address is not known. Pure."""
    active = view.active
    if active is None:
        where = "The active frontdesk has not said where it runs."
        if view.database is False:
            where += " The database does not answer: no frontdesk can take over without it."
    else:
        since = active.since.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
        where = (
            f"Calls are served by the frontdesk on <b>{html.escape(active.host)}</b> "
            f"(pid {active.pid}, active since {html.escape(since)})."
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='{RELOAD_S}'><title>frontdesk: standby</title>"
        "</head><body><h1>frontdesk standby</h1>"
        f"<p>This is the standby frontdesk on {html.escape(view.host)}: it takes over "
        f"when the active one stops.</p><p>{where}</p>"
        "<p>This page reloads itself every few seconds.</p></body></html>"
    )


class _Collector:
    def __init__(self, view: Callable[[], StandbyView]) -> None:
        self.view = view

    def collect(self) -> Iterable[Metric]:
        yield role_gauge("standby")
        database = self.view().database
        up = GaugeMetricFamily(
            "frontdesk_up",
            "Whether a dependency is reachable (1) or not (0).",
            labels=["dependency"],
        )
        if database is not None:
            up.add_metric(["database"], 1.0 if database else 0.0)
        yield up


VIEW: web.AppKey[Callable[[], StandbyView]] = web.AppKey("standby_view")
REGISTRY = web.AppKey("standby_registry", CollectorRegistry)


def make_standby_app(view: Callable[[], StandbyView]) -> web.Application:
    app = web.Application(client_max_size=4096)
    app[VIEW] = view
    registry = CollectorRegistry()
    registry.register(_Collector(view))
    app[REGISTRY] = registry
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    app.router.add_route("*", "/{tail:.*}", _elsewhere)
    return app


async def _healthz(request: web.Request) -> web.Response:
    view = request.app[VIEW]()
    active = view.active
    body = {
        "ready": False,
        "role": "standby",
        "database": {True: "up", False: "down", None: "unknown"}[view.database],
        "active": None if active is None else {"host": active.host, "url": active.public_url},
    }
    return web.json_response(body, status=503)


async def _metrics(request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest(request.app[REGISTRY]))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def _elsewhere(request: web.Request) -> web.Response:
    view = request.app[VIEW]()
    location = redirect_to(view, request.path_qs)
    if location is not None:
        return web.Response(status=307, headers={"Location": location, "Cache-Control": "no-store"})
    return web.Response(
        status=503,
        text=standby_page(view),
        content_type="text/html",
        headers={"Retry-After": str(RELOAD_S), "Cache-Control": "no-store"},
    )
