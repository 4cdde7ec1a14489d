"""The outbound webhook: each finished call pushed to the practice's EHR or scheduler.

```python
hook = Webhook("https://ehr.example/frontdesk", secret, timeout=5, retries=5, backoff=1.0)
hook.start()
hook.notify({"linkedid": ..., "disposition": "booked", ...})  # never blocks, never raises
await hook.close()
```

One sender task POSTs the payloads in order, as compact JSON, with
`X-Frontdesk-Signature: sha256=<hex HMAC-SHA256 of the exact body, keyed with the
secret>` and `X-Frontdesk-Timestamp: <unix seconds of this attempt>`. Connection errors,
timeouts, 5xx and 429 are retried `retries` times (so `retries + 1` attempts) after
`backoff`, `2 * backoff`, `4 * backoff` ... seconds (at most `max_backoff`), then the
payload is given up with a log line. Other statuses (4xx, and 3xx: redirects are not
followed) are not retried. Logs carry the URL's scheme and host only (the path or query
may hold a token), never the secret or the payload (patient data).

Receivers check the signature with `verify_signature(secret, body, header)` on the raw
bytes of the body, before parsing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog

log = structlog.get_logger("frontdesk.store.webhook")

SIGNATURE_HEADER = "X-Frontdesk-Signature"
TIMESTAMP_HEADER = "X-Frontdesk-Timestamp"


def sign(secret: str | bytes, body: bytes) -> str:
    """The signature header's value for `body`: `sha256=<hex>`."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """True if `header` is the signature of exactly `body` (constant-time compare)."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def mask_url(url: str) -> str:
    """`scheme://host[:port]/…`: what may appear in a log line."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


class Webhook:
    def __init__(
        self,
        url: str,
        secret: str | bytes,
        *,
        timeout: float = 5,
        retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        max_pending: int = 1000,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook URL must be http(s)://host/...: {mask_url(url)}")
        if not secret:
            raise ValueError("webhook secret must not be empty")
        if retries < 0 or timeout <= 0 or backoff < 0:
            raise ValueError("webhook: retries >= 0, timeout > 0 and backoff >= 0")
        self.url = url
        self._secret = secret
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.delivered = 0  # payloads the receiver accepted (2xx)
        self.failed = 0  # payloads given up (retries exhausted or not retryable)
        self.dropped = 0  # payloads refused by notify (queue full, unserialisable, closed)
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=max_pending)
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def __repr__(self) -> str:  # never the secret
        return f"Webhook({mask_url(self.url)!r}, retries={self.retries})"

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    # --- the API ------------------------------------------------------------------------

    def notify(self, payload: Mapping[str, Any]) -> None:
        """Queue `payload` for delivery; never blocks, never raises."""
        if self._closed:
            self.dropped += 1
            log.warning("webhook.dropped", reason="closed", url=mask_url(self.url))
            return
        try:
            body = json.dumps(
                dict(payload),
                separators=(",", ":"),
                ensure_ascii=False,
                allow_nan=False,
                default=_default,
            ).encode()
        except (TypeError, ValueError) as exc:
            self.dropped += 1
            log.error("webhook.unserialisable", error=type(exc).__name__, url=mask_url(self.url))
            return
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("webhook.dropped", reason="queue_full", url=mask_url(self.url))

    def start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name="frontdesk-webhook")

    async def drain(self, timeout: float) -> bool:
        """Wait until every queued payload is delivered or given up; False on timeout."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 5.0) -> None:
        """Stop: deliver what can be delivered within `timeout`, drop (and count) the rest."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            await self.drain(timeout)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        left = self._queue.qsize()
        if left:
            self.dropped += left
            log.warning("webhook.unsent_at_close", payloads=left, url=mask_url(self.url))
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # --- the sender ---------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            body = await self._queue.get()
            try:
                await self._deliver(body)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not stop later deliveries
                self.failed += 1
                log.exception("webhook.sender_error", error=type(exc).__name__)
            finally:
                self._queue.task_done()

    async def _deliver(self, body: bytes) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self._secret, body)}
        for attempt in range(self.retries + 1):
            headers[TIMESTAMP_HEADER] = str(int(time.time()))
            retry_after: float | None = None
            try:
                async with self._session.post(
                    self.url, data=body, headers=headers, allow_redirects=False
                ) as response:
                    status = response.status
                    if status == 429:
                        retry_after = _seconds(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                problem = type(exc).__name__
            else:
                if 200 <= status < 300:
                    self.delivered += 1
                    return
                if status != 429 and status < 500:
                    self.failed += 1
                    log.error(
                        "webhook.refused", status=status, url=mask_url(self.url), attempt=attempt
                    )
                    return
                problem = f"HTTP {status}"
            if attempt == self.retries:
                break
            delay = min(self.backoff * 2**attempt, self.max_backoff)
            if retry_after is not None:
                delay = min(max(delay, retry_after), self.max_backoff)
            log.warning(
                "webhook.retry",
                problem=problem,
                url=mask_url(self.url),
                attempt=attempt + 1,
                delay=delay,
            )
            await asyncio.sleep(delay)
        self.failed += 1
        log.error(
            "webhook.gave_up",
            problem=problem,
            url=mask_url(self.url),
            attempts=self.retries + 1,
        )


def _seconds(value: str | None) -> float | None:
    """A Retry-After given in seconds (the HTTP-date form is ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
