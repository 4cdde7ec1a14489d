"""The outbound webhook against a real aiohttp receiver on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from frontdesk.store.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Webhook,
    mask_url,
    sign,
    verify_signature,
)

SECRET = "s3cret-for-tests"
FAST = {"timeout": 1.0, "backoff": 0.01}


@dataclass
class Receiver:
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    seen: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/hooks/frontdesk?token=abc"))

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((await request.read(), dict(request.headers)))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rx = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/frontdesk", rx.handle)
    rx.server = TestServer(app, host="127.0.0.1")
    await rx.server.start_server()
    yield rx
    await rx.server.close()


@pytest.fixture
async def make_hook() -> AsyncIterator[Callable[..., Webhook]]:
    made: list[Webhook] = []

    def make(url: str, **options: float) -> Webhook:
        hook = Webhook(url, SECRET, **{**FAST, **options})  # type: ignore[arg-type]
        hook.start()
        made.append(hook)
        return hook

    yield make
    for hook in made:
        await hook.close(timeout=1)


async def test_the_signature_verifies(
    receiver: Receiver, make_hook: Callable[..., Webhook]
) -> None:
    hook = make_hook(receiver.url)
    at = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    hook.notify({"linkedid": "1764518400.42", "disposition": "booked", "ended_at": at})
    assert await hook.drain(5)
    (body, headers), *_ = receiver.seen
    assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER])
    assert headers[SIGNATURE_HEADER] == sign(SECRET, body)
    assert headers[SIGNATURE_HEADER].startswith("sha256=")
    assert not verify_signature("other", body, headers[SIGNATURE_HEADER])
    assert not verify_signature(SECRET, body + b" ", headers[SIGNATURE_HEADER])
    assert not verify_signature(SECRET, body, None)
    assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 60
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "linkedid": "1764518400.42",
        "disposition": "booked",
        "ended_at": "2026-11-30T16:00:00+00:00",
    }
    assert (hook.delivered, hook.failed) == (1, 0)


async def test_5xx_is_retried_until_delivered_once(
    receiver: Receiver, make_hook: Callable[..., Webhook]
) -> None:
    receiver.statuses = [500, 503]
    hook = make_hook(receiver.url, retries=5)
    hook.notify({"n": 1})
    hook.notify({"n": 2})
    assert await hook.drain(5)
    bodies = [json.loads(body)["n"] for body, _ in receiver.seen]
    assert bodies == [1, 1, 1, 2]  # in order: 2 waits until 1 is through
    assert (hook.delivered, hook.failed) == (2, 0)
    # the same body and signature every attempt
    assert len({(b, h[SIGNATURE_HEADER]) for b, h in receiver.seen[:3]}) == 1


async def test_429_is_retried(receiver: Receiver, make_hook: Callable[..., Webhook]) -> None:
    receiver.statuses = [429]
    hook = make_hook(receiver.url)
    hook.notify({"n": 1})
    assert await hook.drain(5)
    assert len(receiver.seen) == 2
    assert hook.delivered == 1


async def test_4xx_is_not_retried(receiver: Receiver, make_hook: Callable[..., Webhook]) -> None:
    receiver.statuses = [400]
    hook = make_hook(receiver.url)
    hook.notify({"n": 1})
    hook.notify({"n": 2})
    assert await hook.drain(5)
    assert [json.loads(body)["n"] for body, _ in receiver.seen] == [1, 2]
    assert (hook.delivered, hook.failed) == (1, 1)


async def test_retries_run_out(receiver: Receiver, make_hook: Callable[..., Webhook]) -> None:
    receiver.statuses = [500] * 10
    hook = make_hook(receiver.url, retries=2)
    hook.notify({"n": 1})
    assert await hook.drain(5)
    assert len(receiver.seen) == 3  # the first attempt and 2 retries
    assert (hook.delivered, hook.failed) == (0, 1)


async def test_unreachable_gives_up_without_raising(
    make_hook: Callable[..., Webhook], caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hook = make_hook(f"http://127.0.0.1:{port}/hook?token=abc", retries=3)
    started = time.monotonic()
    hook.notify({"n": 1})  # never raises
    assert await hook.drain(5)
    assert time.monotonic() - started < 2
    assert (hook.delivered, hook.failed) == (0, 1)
    assert "token=abc" not in repr(hook)
    assert SECRET not in repr(hook)


async def test_a_slow_receiver_times_out_and_is_retried(
    make_hook: Callable[..., Webhook],
) -> None:
    calls = 0

    async def slow_then_fast(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(0.6)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/", slow_then_fast)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        hook = make_hook(str(server.make_url("/")), timeout=0.2)
        hook.notify({"n": 1})
        assert await hook.drain(5)
        assert (calls, hook.delivered) == (2, 1)
    finally:
        await server.close()


async def test_notify_never_raises_and_counts_what_it_drops() -> None:
    hook = Webhook("http://127.0.0.1:9/hook", SECRET, max_pending=1)
    hook.notify({"bad": object()})  # not JSON
    hook.notify({"n": 1})
    hook.notify({"n": 2})  # queue full (not started)
    assert (hook.dropped, hook.pending) == (2, 1)
    await hook.close(timeout=0.1)
    assert hook.dropped == 3  # the unsent one
    hook.notify({"n": 3})  # closed
    assert hook.dropped == 4


def test_config_is_checked_and_urls_are_masked() -> None:
    with pytest.raises(ValueError, match="http"):
        Webhook("ftp://example.org/x", SECRET)
    with pytest.raises(ValueError, match="secret"):
        Webhook("https://example.org/x", "")
    assert mask_url("https://user:pw@ehr.example:8443/in?token=t") == "https://ehr.example:8443/…"
