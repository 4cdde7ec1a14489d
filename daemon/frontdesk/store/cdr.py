"""AMI `Cdr` events (cdr_manager) as `CallUpsert`s (no I/O).

A `Cdr` has no `Linkedid` field. What names the call:

- the **caller leg** (the trunk channel that ran `Stasis(frontdesk)` with no arguments, or
  a dialplan application when frontdesk was down): its `UniqueID` is the call's linkedid.
  It gives `started_at`, `ended_at`, `talk_s` (`BillableSeconds`) and, when the last
  application was not frontdesk's Stasis, `answered_at` (empty `AnswerTime`: not
  answered). A Stasis caller leg's `AnswerTime` is frontdesk answering its own menu, not
  a person answering: the agent's answer is frontdesk's own `answered` fact.
- a **leg frontdesk originated**: `LastApplication: Stasis`, `LastData:
  <app>,<role>,<caller channel id>` (the caller channel id is the linkedid):
  `agent`/`callback-agent` set `agent` (the extension of `PJSIP/2001-0000000a`),
  `transfer` sets the outcome `transferred_external`; each only when the leg was answered (an agent who let
  it ring is not the call's agent). `callback-patient` adds nothing.

`cdr_upsert` returns None when the event is not a `Cdr`, cannot be attributed, or has
nothing to write: unknown Stasis roles (staff feature codes), legs that never ran an
application (`AppDial`, empty), calls in the staff phones' context, garbage values. It
never raises on what Asterisk (or anyone) sends.

Times: cdr_manager writes `StartTime`/`AnswerTime`/`EndTime` in the PBX's local time
without a zone; they are read in `zone` (the PBX's zone: FRONTDESK_PBX_TIMEZONE, or the
offset learned at each AMI connect, asterisk/pbx_clock.py) and returned in UTC. `zone`
None (not known): no times are written. In the repeated hour at the end of daylight
saving time the text is ambiguous; the first occurrence (fold=0) is used. A time that
carries an offset keeps it. The times only **fill** the row (`CallUpsert.fill`): where
frontdesk saw the moment, its own UTC stamp (calls/recorder.py) wins, whatever the
order the two arrive in; the Cdr gives what frontdesk did not see (a call handled by
the dialplan while frontdesk was down, a start before a restart).

Keys are deterministic (`cdr:<UniqueID>:<Sequence>`, or a digest of the record's fields
when cdr_manager does not send `Sequence`), so a replayed or duplicated Cdr is merged once.

Limits (the merge of `CallUpsert` is last-non-null-wins, the times fill only):
- an ARI call is answered by frontdesk itself, so the caller leg's `BillableSeconds`
  counts from that answer: IVR and hold are included (flow d2: 6 s, of which ~4 s with
  the agent). The ACD's talk time is more accurate; drop `talk_s` from the upsert if the
  daemon writes its own and the Cdr may come later.
- the agent leg's own Cdr ends when it is bridged to the caller (the bridge belongs to
  the caller's Cdr), so its `BillableSeconds` is not talk time (0 in flow d2): it is not
  written.
- a caller leg bridged to several parties in turn gets several Cdrs (same UniqueID,
  different keys); the first to land fills the times, the later ones change nothing
  (so a call frontdesk never saw ends at its first Cdr's `EndTime`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

from frontdesk.asterisk.ami_codec import Event, unescape_value
from frontdesk.store.records import CallUpsert, RecordError

AGENT: Final = "agent"
CALLBACK_AGENT: Final = "callback-agent"
CALLBACK_PATIENT: Final = "callback-patient"
TRANSFER: Final = "transfer"
LEG_ROLES: Final = frozenset({AGENT, CALLBACK_AGENT, CALLBACK_PATIENT, TRANSFER})
STAFF_CONTEXTS: Final = ("staff",)  # dialplan/extensions.conf: the staff phones' calls
TIMES: Final = frozenset({"started_at", "answered_at", "ended_at"})  # fill only, never win

MAX_ID_LENGTH: Final = 150  # Asterisk's AST_MAX_UNIQUEID
MAX_SECONDS: Final = 2**31 - 1  # calls.talk_s is a PostgreSQL integer

_ID = re.compile(r"[!-~]{1,150}\Z", re.ASCII)  # printable ASCII, no spaces
_SECONDS = re.compile(r"\s*(\d{1,10})\s*\Z", re.ASCII)
_SEQUENCE = re.compile(r"\d{1,20}\Z", re.ASCII)
_PJSIP_EXTENSION = re.compile(r"PJSIP/([0-9A-Za-z_.+*#-]{1,40}?)-[0-9a-fA-F]{8}\Z", re.ASCII)
_DIGEST_FIELDS: Final = (
    "Channel",
    "DestinationChannel",
    "LastApplication",
    "LastData",
    "StartTime",
    "AnswerTime",
    "EndTime",
    "Duration",
    "BillableSeconds",
    "Disposition",
)


def cdr_upsert(
    event: Event, zone: tzinfo | None, *, staff_contexts: Collection[str] = STAFF_CONTEXTS
) -> CallUpsert | None:
    """The `CallUpsert` one AMI `Cdr` event contributes to its call, or None (see module)."""
    try:
        return _upsert(event, zone, staff_contexts)
    except (RecordError, ValueError, OverflowError):  # belt and braces: never raise
        return None


def _upsert(
    event: Event, zone: tzinfo | None, staff_contexts: Collection[str]
) -> CallUpsert | None:
    if event.name.strip().lower() != "cdr":
        return None
    unique_id = _identifier(event.get("UniqueID"))
    if unique_id is None:
        return None
    application = _text(event, "LastApplication").strip()
    if application.lower() == "stasis":
        args = [a.strip() for a in _text(event, "LastData").split(",")]
        if len(args) >= 2:
            return _leg(event, unique_id, args)
    elif not application or application.lower().startswith("appdial"):
        return None  # a dialled/originated channel that never ran an application
    if _text(event, "DestinationContext").strip() in staff_contexts:
        return None  # an internal call between staff phones
    return _caller(event, unique_id, zone, frontdesks=application.lower() == "stasis")


def _caller(
    event: Event, unique_id: str, zone: tzinfo | None, *, frontdesks: bool
) -> CallUpsert | None:
    fields: dict[str, Any] = {
        "started_at": _time(event.get("StartTime"), zone),
        "answered_at": None if frontdesks else _time(event.get("AnswerTime"), zone),
        "ended_at": _time(event.get("EndTime"), zone),
        "talk_s": _seconds(event.get("BillableSeconds")),
    }
    return _make(unique_id, fields, event)


def _leg(event: Event, unique_id: str, args: list[str]) -> CallUpsert | None:
    role = args[1]
    linkedid = _identifier(args[2]) if len(args) >= 3 else None
    if role not in LEG_ROLES or linkedid is None or linkedid == unique_id:
        return None
    if not _answered(event):
        return None
    fields: dict[str, Any] = {}
    if role in (AGENT, CALLBACK_AGENT):
        match = _PJSIP_EXTENSION.match(_text(event, "Channel").strip())
        if match is None:
            return None
        fields["agent"] = match.group(1)
    elif role == TRANSFER:
        # An external transfer that answered. Not `transferred`: that column is staff
        # moving a call to another queue or category (the misrouting signal).
        fields["outcome"] = "transferred_external"
    return _make(linkedid, fields, event)


def _answered(event: Event) -> bool:
    disposition = _text(event, "Disposition").strip().upper()
    if disposition:
        return disposition == "ANSWERED"
    return _time(event.get("AnswerTime"), UTC) is not None  # only whether there is one


def _make(linkedid: str, fields: dict[str, Any], event: Event) -> CallUpsert | None:
    present = {name: value for name, value in fields.items() if value is not None}
    if not present:
        return None
    return CallUpsert(linkedid=linkedid, fields=present, key=cdr_key(event), fill=TIMES)


def cdr_key(event: Event) -> str:
    """`cdr:<UniqueID>:<Sequence>`, or `cdr:<UniqueID>:<digest of the record's fields>`."""
    unique_id = _text(event, "UniqueID").strip()
    sequence = _text(event, "Sequence").strip()
    if _SEQUENCE.match(sequence):
        return f"cdr:{unique_id}:{sequence}"
    digest = hashlib.sha256("\x1f".join(_text(event, f) for f in _DIGEST_FIELDS).encode())
    return f"cdr:{unique_id}:{digest.hexdigest()[:16]}"


def _text(event: Event, key: str) -> str:
    return unescape_value(event.get(key) or "")


def _identifier(value: str | None) -> str | None:
    text = unescape_value(value or "").strip()
    return text if _ID.match(text) else None


def _seconds(value: str | None) -> int | None:
    match = _SECONDS.match(value or "")
    if match is None:
        return None
    seconds = int(match.group(1))
    return seconds if seconds <= MAX_SECONDS else None


def _time(value: str | None, zone: tzinfo | None) -> datetime | None:
    text = unescape_value(value or "").strip()
    if not text or len(text) > 40 or not text[:1].isdigit():
        return None
    try:
        at = datetime.fromisoformat(text)
        if at.tzinfo is None:
            if zone is None:
                return None  # the PBX's zone is not known: no time rather than a wrong one
            at = at.replace(tzinfo=zone)
        at = at.astimezone(UTC)  # UTC: subtracting two times then gives real seconds
    except (ValueError, OverflowError):
        return None
    return at if 1970 <= at.year <= 9998 else None
