"""Which caller numbers may be called back (a callback costs the practice a trunk call).

Default allow-list: a 10-digit North American number (E.164 `+1NXXNXXXXXX`), not a
premium-rate 900/976 number, not an N11 service code, never international. Withheld
and malformed numbers never get the offer at all (the router gives them None).
"""

from __future__ import annotations

import re

_NANP = re.compile(r"^\+1([2-9]\d{2})([2-9]\d{2})\d{4}$")
_BLOCKED_AREA = frozenset({"900", "976"})
_BLOCKED_EXCHANGE = frozenset({"976"})


def callback_allowed(number: str | None) -> str | None:
    """`number` if it may be called back, else None."""
    if number is None:
        return None
    match = _NANP.match(number)
    if match is None:
        return None
    area, exchange = match.groups()
    if (
        area in _BLOCKED_AREA
        or exchange in _BLOCKED_EXCHANGE
        or area[1:] == "11"
        or exchange[1:] == "11"
    ):
        return None
    return number
