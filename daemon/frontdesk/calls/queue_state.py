"""`FRONTDESK_STATE`: a queued call's state kept on its own channel, so that a restarted
frontdesk re-adopts every waiting caller in their original order, with their original
wait (and a conversation in progress, with its agent).

Compact JSON, written when the caller joins and again when they are connected:
`{"v":1,"q":queue,"p":priority,"s":skill,"l":language skill,"c":category,
"t":enqueued at,"n":callback number,"lang":language}`, plus `"a"` (agent leg) and `"x"`
(the agent's extension) while talking.
"""

from __future__ import annotations

import json
from datetime import datetime

import structlog

from frontdesk.acd.model import CallerJoined
from frontdesk.routing.destination import Request

log = structlog.get_logger("frontdesk.acd")

STATE_VARIABLE = "FRONTDESK_STATE"


def encode_state(joined: CallerJoined, talking: tuple[str, str] | None = None) -> str:
    """Everything needed to rebuild a waiting caller (or a conversation)."""
    extra = {"a": talking[0], "x": talking[1]} if talking else {}
    return json.dumps(
        extra
        | {
            "v": 1,
            "q": joined.queue,
            "p": joined.priority,
            "s": joined.skill,
            "l": joined.language_skill,
            "c": joined.category,
            "t": joined.enqueued_at.isoformat(),
            "n": joined.callback_number,
            "lang": joined.language,
        },
        separators=(",", ":"),
    )


def decode_state(call_id: str, text: str) -> CallerJoined | None:
    try:
        data = json.loads(text)
        return CallerJoined(
            call_id=call_id,
            queue=str(data["q"]),
            enqueued_at=datetime.fromisoformat(data["t"]),
            priority="front" if data.get("p") == "front" else "normal",
            skill=_text(data.get("s")),
            language_skill=_text(data.get("l")),
            category=str(data.get("c") or "unrouted"),
            callback_number=_text(data.get("n")),
            language=str(data.get("lang") or "en"),
        )
    except (ValueError, KeyError, TypeError):
        log.warning("acd.bad_state", call=call_id)
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def talking_with(text: str) -> tuple[str, str] | None:
    """(agent leg, extension) when the saved state is a conversation."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("a"), str) and isinstance(data.get("x"), str):
        return str(data["a"]), str(data["x"])
    return None


def queue_order(priority: str, enqueued_at: datetime) -> tuple[int, datetime]:
    """The engine's order of callers in a queue: front first, then the longest waiting."""
    return (0 if priority == "front" else 1, enqueued_at)


def request_for(joined: CallerJoined) -> Request:
    """What a re-adopted caller had asked for (to route them after hours later on)."""
    return Request(joined.category, joined.queue, joined.skill, joined.priority == "front")
