"""The tiny dialplan, time formats and caller-id parsing."""

from __future__ import annotations

import pytest

from frontdesk.emulator.clock import ami_timestamp, ari_time, cdr_time
from frontdesk.emulator.dialplan import DialplanTable, default_dialplan, parse_goto, substitute
from frontdesk.emulator.model import Party
from frontdesk.emulator.originate import parse_callerid


def test_patterns() -> None:
    table = DialplanTable(default_dialplan("frontdesk"))
    assert table.steps("from-pstn", "5550100") is not None
    assert table.steps("from-pstn", "+15550100") is not None
    assert table.steps("from-pstn", "queue") is None
    assert table.steps("staff", "2003") is not None
    assert table.steps("staff", "2010") is None
    assert table.exists("lab-local", "wait", 3)
    assert not table.exists("lab-local", "wait", 4)
    assert not table.exists("nowhere", "s")


def test_substitute() -> None:
    assert substitute(
        "from ${CALLERID(all)} to ${EXTEN}${NOPE}", {"CALLERID(all)": '"A" <1>', "EXTEN": "5"}
    ) == ('from "A" <1> to 5')


def test_goto() -> None:
    assert parse_goto("ctx,s,2", "c", "e") == ("ctx", "s", 2)
    assert parse_goto("s,3", "c", "e") == ("c", "s", 3)
    assert parse_goto("4", "c", "e") == ("c", "e", 4)


def test_times() -> None:
    assert ari_time(1795738735.0219) == "2026-11-27T00:18:55.021+0000"
    assert cdr_time(1795741681.9) == "2026-11-27 01:08:01"
    assert cdr_time(None) == ""
    assert ami_timestamp(1795741784.892833) == "1795741784.892833"


@pytest.mark.parametrize(
    ("text", "party"),
    [
        ('"PSTN Caller" <+13125550101>', Party("PSTN Caller", "+13125550101")),
        ("Queue scheduling <5550200>", Party("Queue scheduling", "5550200")),
        ("<2001>", Party("", "2001")),
        ("(312) 555-0101", Party("", "3125550101")),
        ("Reception", Party("Reception", "")),
    ],
)
def test_parse_callerid(text: str, party: Party) -> None:
    assert parse_callerid(text) == party


def test_callerid_all_is_not_escaped() -> None:
    assert (
        Party('José Müller, "VIP"', "+13125550108").callerid_all()
        == '"José Müller, "VIP"" <+13125550108>'
    )
