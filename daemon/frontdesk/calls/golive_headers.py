"""Go-live testing: what a declared test caller's INVITE says about itself.

`X-Frontdesk-Route-Time` (route this call as if it were then) and `X-Frontdesk-Case`
(the go-live case id that `frontdesk golive verify` finds the call by) are read once,
in parallel with the patient lookup, each within `HEADER_READ_TIMEOUT`; any trouble
means real time and no case. Only in go-live mode, only for the plan's test callers
(frontdesk.golive.override decides).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from frontdesk.asterisk.ari import AriClient, AriError
from frontdesk.golive import override
from frontdesk.phone import mask_number

log = structlog.get_logger("frontdesk.calls")
HEADER_READ_TIMEOUT = 0.5  # a test call waits at most this for its headers


async def read_golive_headers(
    ari: AriClient, channel: str, caller: str | None, now: Callable[[], datetime]
) -> tuple[timedelta, str | None]:
    """(the routing-time shift, the case id) of a test call."""
    return await asyncio.gather(
        _route_time_offset(ari, channel, caller, now), _golive_case(ari, channel, caller)
    )


async def _read_header(ari: AriClient, channel: str, variable: str) -> str | None:
    """One header of the INVITE; None on any trouble (no header: Asterisk answers 500)."""
    try:
        body = await asyncio.wait_for(
            ari.request(
                "GET",
                f"/channels/{channel}/variable",
                {"variable": variable},
                idempotent=False,  # no retries: a missing header is a 500 too
            ),
            HEADER_READ_TIMEOUT,
        )
    except (AriError, TimeoutError):
        return None
    return str(body["value"]) if isinstance(body, dict) and "value" in body else None


async def _route_time_offset(
    ari: AriClient, channel: str, caller: str | None, now: Callable[[], datetime]
) -> timedelta:
    header = await _read_header(ari, channel, override.ARI_VARIABLE)
    verdict = override.decide(header, now())
    fields = {"channel": channel, "caller": mask_number(caller), "reason": verdict.reason}
    if verdict.honoured:
        assert verdict.at is not None
        log.warning("golive.time_override", **fields, route_time=verdict.at.isoformat())
    elif verdict.reason != "absent":
        log.warning("golive.time_override_ignored", **fields)
    return verdict.offset


async def _golive_case(ari: AriClient, channel: str, caller: str | None) -> str | None:
    header = await _read_header(ari, channel, override.CASE_ARI_VARIABLE)
    case = override.case_id(header)
    if case is None and header is not None and header.strip():
        log.warning(
            "golive.case_ignored",
            channel=channel,
            caller=mask_number(caller),
            case=override.mask_case(header),
            length=len(header),
        )
    return case
