"""The callback allow-list."""

from __future__ import annotations

import pytest

from frontdesk.acd.callbacks import callback_allowed


@pytest.mark.parametrize("number", ["+13125551002", "+17735550123", "+18005550123"])
def test_ordinary_nanp_numbers_may_be_called_back(number: str) -> None:
    assert callback_allowed(number) == number


@pytest.mark.parametrize(
    "number",
    [
        None,
        "+19005551234",  # premium rate
        "+19765551234",
        "+13129765555",  # 976 exchange
        "+14115551234",  # N11 as an area code
        "+442079460958",  # international
        "+1312555100",  # too short
        "3125551002",  # not E.164
        "+13125551002\r\n",
    ],
)
def test_everything_else_is_refused(number: str | None) -> None:
    assert callback_allowed(number) is None
