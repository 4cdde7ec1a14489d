"""The boards of the other sites on the database (docs/scale.md "Several sites").

Each daemon serves its own site's live board from memory (web/live.py). For staff
allowed to see other sites (an account's `sites`: staff.py `may_see_site`), each daemon
also publishes its board to PostgreSQL (store/site_boards.py) and reads the others'
from there:

- `publish`: every `PUBLISH_EVERY` second, this site's board as rendered with full
  numbers, when it changed since the last write, or `HEARTBEAT` seconds after it (so a
  reader can tell a quiet site from a site whose daemon is gone: `stale`);
- `board_of(site, viewer)`: another site's board, masked for the viewer by role exactly
  like the own one (web/board.py `masked_for`), with `site`, `as_of` and `stale`.

Writes and reads never hold up the call path: a failure is logged once and retried at
the next second; the own board keeps working without the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from frontdesk.store import db
from frontdesk.store import site_boards as store
from frontdesk.web.board import Viewer, aged, masked_for

log = structlog.get_logger("frontdesk.web")
PUBLISH_EVERY = 1.0  # s: at most one write a second
HEARTBEAT = 10.0  # s: an unchanged board is written again after this long
STALE_AFTER = 3 * HEARTBEAT  # s: a board older than this is shown as stale
SITES_CACHE = 10.0  # s: the list of sites is read again after this long


class SiteBoards:
    def __init__(
        self,
        site: str,
        pool: db.Pool,
        *,
        render: Callable[[], dict[str, Any]],
        version: Callable[[], int],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.site = site
        self.pool = pool
        self.render, self.version, self.clock = render, version, clock
        self.written: tuple[int, float] | None = None  # (version, loop time) of the last write
        self.writes = 0
        self._failing = False
        self._sites: tuple[float, list[str]] | None = None

    async def publish_forever(self) -> None:
        while True:
            await self.publish_once()
            await asyncio.sleep(PUBLISH_EVERY)

    async def publish_once(self) -> bool:
        """Write this site's board if it changed (or the heartbeat is due); True if written."""
        now = asyncio.get_running_loop().time()
        version = self.version()
        last = self.written
        if last is not None and last[0] == version and now - last[1] < HEARTBEAT:
            return False
        try:
            async with self.pool.acquire() as conn:
                await store.save(conn, self.site, self.clock(), self.render())
        except (*db.UNAVAILABLE, db.PostgresError) as exc:
            self._failed("board.publish_failed", exc)
            return False
        self._failing = False
        self.written = (version, now)
        self.writes += 1
        return True

    async def sites(self) -> list[str]:
        """This site and every site that published a board (cached for a few seconds)."""
        now = asyncio.get_running_loop().time()
        if self._sites is None or now - self._sites[0] >= SITES_CACHE:
            known: list[str] = []
            with contextlib.suppress(*db.UNAVAILABLE, db.PostgresError):
                async with self.pool.acquire() as conn:
                    known = await store.sites(conn)
            self._sites = (now, sorted({self.site, *known}))
        return list(self._sites[1])

    async def board_of(self, site: str, viewer: Viewer) -> dict[str, Any] | None:
        """Another site's board for `viewer`; None when it has none (or the database is
        unreachable)."""
        try:
            async with self.pool.acquire() as conn:
                stored = await store.load(conn, site)
        except (*db.UNAVAILABLE, db.PostgresError) as exc:
            self._failed("board.site_unavailable", exc)
            return None
        if stored is None:
            return None
        age = (self.clock() - stored.at).total_seconds()
        view = masked_for(aged(stored.board, age), viewer)
        view |= {"site": site, "as_of": stored.at.isoformat(), "stale": age > STALE_AFTER}
        return view

    def _failed(self, event: str, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.warning(event, error=type(exc).__name__)
