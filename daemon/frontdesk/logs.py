"""Logging setup: structlog, JSON lines in production, readable lines for people.

Patient privacy: call code logs numbers only through `mask_number`; as a second line
of defence a processor masks anything that still looks like a phone number in the
event's string values, and drops keys that name a person.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, Literal

import structlog

_PHONE = re.compile(r"\(?\+?\d[\d\-\s().]{6,}\d")
_NAME_KEYS = frozenset({"name", "caller_name", "patient_name", "calleridname"})
# Values that are ids or the practice's own numbers, never a patient's.
_SAFE_KEYS = frozenset(
    {"timestamp", "level", "event", "channel", "call", "leg", "lane", "agent", "playback", "did"}
    | {"app", "logger", "recording"}
)


def _mask_text(text: str) -> str:
    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        # Ten digits or more is a phone number; fewer is an address, a port or a count.
        return "*" * (len(digits) - 4) + digits[-4:] if len(digits) >= 10 else match.group(0)

    return _PHONE.sub(mask, text)


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in _NAME_KEYS:
            event[key] = "[redacted]"
        elif isinstance(event[key], str) and key not in _SAFE_KEYS:
            event[key] = _mask_text(event[key])
    return event


def configure(fmt: Literal["json", "console"] = "json", level: int = logging.INFO) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,  # before redact: tracebacks are masked too
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Resolve stderr per logger, not once: tests and daemons may swap it.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )


@contextmanager
def quiet_for_output() -> Iterator[None]:
    """A command's run: warnings and errors only, on stderr, so stdout is the command's
    output (`--json`); the previous configuration after."""
    saved = structlog.get_config()
    configure("console", level=logging.WARNING)
    try:
        yield
    finally:
        structlog.configure(**saved)
