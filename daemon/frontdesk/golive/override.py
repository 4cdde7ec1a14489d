"""Whether a call may route at a time it names itself (pure; no I/O).

In go-live mode a declared test caller's INVITE may carry `X-Frontdesk-Route-Time`
(ISO 8601 with an offset): that call's schedule and holiday decisions then run at that
time, shifted by the call's own clock offset, so an after-hours or holiday path can be
proven during the day. Everything else is refused: mode off, any other caller (their
header is never even read), a naive or unparsable time, a time absurdly far from now.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

HEADER = "X-Frontdesk-Route-Time"
ARI_VARIABLE = f"PJSIP_HEADER(read,{HEADER})"  # Asterisk: 500 when the INVITE had none
MAX_DISTANCE = timedelta(days=1100)  # the holiday regime may be ~2 years out
MAX_TEXT = 64


@dataclass(frozen=True)
class Override:
    """The verdict on one call's header: `offset` is zero unless `honoured`."""

    honoured: bool
    reason: str  # honoured | absent | unparsable | naive | out_of_range
    at: datetime | None = None
    offset: timedelta = timedelta(0)


def should_read(enabled: bool, test_callers: Collection[str], caller: str | None) -> bool:
    """Read the header only in go-live mode and only for a declared test caller:
    a patient's call never waits for (or pays for) the read."""
    return enabled and caller is not None and caller in test_callers


def decide(header: str | None, now: datetime) -> Override:
    """The header's verdict for a call that `should_read` allowed, at `now` (aware)."""
    if header is None or not header.strip():
        return Override(False, "absent")
    text = header.strip()
    try:
        at = datetime.fromisoformat(text) if len(text) <= MAX_TEXT else None
    except ValueError:
        at = None
    if at is None:
        return Override(False, "unparsable")
    if at.tzinfo is None or at.utcoffset() is None:
        return Override(False, "naive")  # whose midnight? refuse rather than guess
    if abs(at - now) > MAX_DISTANCE:
        return Override(False, "out_of_range", at)
    return Override(True, "honoured", at, at - now)
