"""Caller-ID and dialled numbers: E.164 normalisation and masking for logs.

A withheld or malformed caller ID is an unknown caller (None), never an error:
callers reach the practice from payphones, hospitals and blocked lines.

A shared leaf: the plan checks its numbers with it, routing, calls, the store and the
logs mask with it, so it lives outside all of them.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

# Longest caller ID we even try to parse; anything longer is junk, not a number.
_MAX_INPUT = 64
_NANP = re.compile(r"^[2-9]\d{2}[2-9]\d{6}$")
_EXTENSION = re.compile(r"\s*(?:ext\.?|x)\s*\d+\s*$", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)  # a call normalises its caller twice and its DID
def normalize_number(raw: str | None, region: str = "US") -> str | None:
    """`(312) 555-1007` -> `+13125551007`; None for withheld or malformed numbers."""
    if raw is None:
        return None
    text = raw.strip()
    if not text or len(text) > _MAX_INPUT or not any(c.isdigit() for c in text):
        return None
    if any(c.isalpha() for c in _EXTENSION.sub("", text)):
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    if number.country_code == 1 and not _NANP.match(str(number.national_number)):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def dialled_forms(e164: str) -> frozenset[str]:
    """The digit strings a trunk may send for one of the practice's numbers (a DID):
    `+13125550911` -> {`13125550911`, `3125550911`}; with a national prefix (`0...`) too.
    The dialplan compares these to `FILTER(0-9,${EXTEN})` (calls/admission.py)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return frozenset()
    national = str(number.national_number)
    dialled = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    forms = {f"{number.country_code}{national}", national, re.sub(r"\D", "", dialled)}
    return frozenset(f for f in forms if f)


def mask_number(number: str | None) -> str:
    """Keep only the last 4 digits for logs: `+13125551007` -> `+*******1007`."""
    if not number:
        return "withheld"
    digits = number.removeprefix("+")
    shown = digits[-4:] if len(digits) > 4 else ""
    prefix = "+" if number.startswith("+") else ""
    return prefix + "*" * (len(digits) - len(shown)) + shown
