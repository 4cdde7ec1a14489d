"""What frontdesk's app received from a real Asterisk, as fixtures.

With `ari set debug frontdesk on`, Asterisk writes every event it sends the app to its
log (`<--- Sending ARI event to ... --->` and the pretty-printed JSON). `events(log)`
reads them back; `write_transcript` saves them in the transcripts' JSON Lines format
(`{"kind": "ari_event", "t": ..., "event": {...}}`), the format the emulator's tests read.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

MARK = "<--- Sending ARI event to "


def events(log_text: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    lines = log_text.splitlines()
    i = 0
    while i < len(lines):
        if MARK not in lines[i]:
            i += 1
            continue
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].startswith("["):
            body.append(lines[i])
            i += 1
        try:
            event = json.loads("\n".join(body))
        except ValueError:
            continue
        if isinstance(event, dict):
            found.append(event)
    return found


def write_transcript(
    found: list[dict[str, Any]], out: Path, *, keep: set[str] | None = None
) -> None:
    """`keep`: only the events of these types (None: all), `t` from their timestamps."""
    chosen = [e for e in found if keep is None or e.get("type") in keep]
    if not chosen:
        out.write_text("")
        return
    start = _when(chosen[0])
    with out.open("w") as sink:
        for event in chosen:
            line = {"kind": "ari_event", "t": round(_when(event) - start, 3), "event": event}
            sink.write(json.dumps(line, ensure_ascii=False) + "\n")


def _when(event: dict[str, Any]) -> float:
    stamp = str(event.get("timestamp", ""))
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return 0.0
