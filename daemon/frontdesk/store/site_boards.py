"""Each site's live board in PostgreSQL (`site_boards`, migration 0011), for viewers at
another site (web/site_boards.py; docs/scale.md "Several sites").

A daemon writes its own board, rendered with full numbers, at most once a second and
only when it changed (plus a heartbeat, so that readers can tell a site that went
quiet from one whose daemon is gone); a viewer's daemon reads another site's and masks
it by the viewer's role exactly like its own. One row per site, overwritten: the table
stays as small as the number of sites.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from frontdesk.store.db import Connection

_SAVE = (
    "INSERT INTO site_boards (site, at, board) VALUES ($1, $2, $3::jsonb)"
    " ON CONFLICT (site) DO UPDATE SET at = EXCLUDED.at, board = EXCLUDED.board"
)
_LOAD = "SELECT at, board::text AS board FROM site_boards WHERE site = $1"
_SITES = "SELECT site FROM site_boards ORDER BY site"


@dataclass(frozen=True)
class SiteBoard:
    site: str
    at: datetime  # when its daemon last wrote it
    board: dict[str, Any]  # as board_view made it, with full numbers


async def save(
    conn: Connection, site: str, at: datetime, board: dict[str, Any], *, timeout: float = 2.0
) -> None:
    await conn.execute(_SAVE, site, at, json.dumps(board, separators=(",", ":")), timeout=timeout)


async def load(conn: Connection, site: str, *, timeout: float = 2.0) -> SiteBoard | None:
    rows = await conn.fetch(_LOAD, site, timeout=timeout)
    if not rows:
        return None
    return SiteBoard(site, rows[0]["at"], json.loads(rows[0]["board"]))


async def sites(conn: Connection, *, timeout: float = 2.0) -> list[str]:
    """The sites that have published a board, by name."""
    return [str(row["site"]) for row in await conn.fetch(_SITES, timeout=timeout)]
