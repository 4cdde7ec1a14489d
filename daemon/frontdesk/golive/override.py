"""Whether a call may route at a time it names itself (pure; no I/O).

In go-live mode a declared test caller's INVITE may carry `X-Frontdesk-Route-Time`
(ISO 8601 with an offset): that call's schedule and holiday decisions then run at that
time, shifted by the call's own clock offset, so an after-hours or holiday path can be
proven during the day. Everything else is refused: mode off, any other caller (their
header is never even read), a naive or unparsable time, a time absurdly far from now.

The same calls may name the go-live case they are (`X-Frontdesk-Case`, read in the same
round): the daemon records it so `golive verify` finds each case's call by it. Only a
short id of `[A-Za-z0-9._:-]` is kept (`case_id`); anything else is ignored and logged
masked (`mask_case`).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

HEADER = "X-Frontdesk-Route-Time"
ARI_VARIABLE = f"PJSIP_HEADER(read,{HEADER})"  # Asterisk: 500 when the INVITE had none
MAX_DISTANCE = timedelta(days=1100)  # the holiday regime may be ~2 years out
MAX_TEXT = 64
CASE_HEADER = "X-Frontdesk-Case"
CASE_ARI_VARIABLE = f"PJSIP_HEADER(read,{CASE_HEADER})"
CASE_ID = re.compile(r"[A-Za-z0-9._:-]{1,40}")


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


def case_id(header: str | None) -> str | None:
    """The go-live case id a test call names, or None: absent, or anything but 1 to 40
    characters of `A-Z a-z 0-9 . _ : -` (surrounding blanks aside)."""
    if header is None:
        return None
    text = header.strip()
    return text if CASE_ID.fullmatch(text) else None


def mask_case(header: str) -> str:
    """A refused case id for the log: at most its first 3 characters (anything outside
    the id's alphabet as `?`), then one `*` per further character, at most 12."""
    head = re.sub(r"[^A-Za-z0-9._:-]", "?", header[:3])
    return head + "*" * min(max(len(header) - 3, 0), 12)
