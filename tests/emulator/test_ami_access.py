"""AMI rights as Asterisk 22 applies them (main/manager.c): `read`/`write` classes and
`eventfilter`s of the manager.conf user, by default asterisk-conf/manager.conf's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from frontdesk.emulator import Emulator
from frontdesk.emulator.ami_access import (
    FRONTDESK,
    LAB,
    FilterError,
    ManagerUser,
    parse_filter,
    permissions,
    should_send,
)
from tests.emulator.conftest import FAST
from tests.emulator.helpers import Ami, parse_block

MANAGER_CONF = Path(__file__).parents[2] / "asterisk-conf" / "manager.conf"
NEWCHANNEL = "Event: Newchannel\r\nChannel: XXX\r\nSomeheader: YYY\r\n"
VARSET = "Event: VarSet\r\nChannel: ABC\r\nSomeheader: XXX\r\n"


def test_the_default_user_is_the_one_of_asterisk_conf_manager_conf() -> None:
    assert ManagerUser.from_conf(MANAGER_CONF.read_text(encoding="utf-8"), "frontdesk") == FRONTDESK
    assert FRONTDESK.read == {"system", "call", "cdr", "user"}
    assert FRONTDESK.write == {"user"}


def test_an_action_needs_any_one_class_of_its_authority() -> None:
    # (writeperm & authority) != 0: CoreShowChannels is system|reporting.
    reporting = ManagerUser(frozenset(), permissions("reporting"))
    assert reporting.may_run("CoreShowChannels")
    assert not reporting.may_run("PJSIPShowContacts")
    assert not FRONTDESK.may_run("Filter")
    assert not FRONTDESK.may_run("pjsipshowcontacts")
    assert not FRONTDESK.may_run("Originate")
    assert FRONTDESK.may_run("UserEvent")
    assert FRONTDESK.may_run("Ping")  # no authority: anyone logged in
    assert LAB.may_run("Filter")
    assert permissions("all") == LAB.read
    assert permissions("system,bogus") == {"system"}


@pytest.mark.parametrize(
    ("criteria", "pattern", "name", "text", "sent"),
    [
        ("eventfilter", "XXX", "Newchannel", NEWCHANNEL, True),
        ("eventfilter", "!XXX", "VarSet", VARSET, False),
        ("eventfilter(name(VarSet),method(none))", "", "VarSet", VARSET, True),
        ("eventfilter(name(VarSet))", "", "Newchannel", NEWCHANNEL, False),
        ("eventfilter(name(Newchannel),method(regex))", "X[XYZ]X", "Newchannel", NEWCHANNEL, True),
        ("eventfilter(name(Newchannel),method(regex))", "X[abc]X", "Newchannel", NEWCHANNEL, False),
        ("eventfilter(action(exclude),name(Newchannel))", "", "Newchannel", NEWCHANNEL, False),
        ("eventfilter(header(Channel),method(starts_with))", "AB", "VarSet", VARSET, True),
        ("eventfilter(header(Channel),method(ends_with))", "BC", "VarSet", VARSET, True),
        ("eventfilter(header(Channel),method(exact))", "XXX", "VarSet", VARSET, False),
        ("eventfilter(header(Channel:),method(contains))", "B", "VarSet", VARSET, True),
        ("eventfilter(name(VarSet),header(Channel),method(exact))", "!ZZZ", "VarSet", VARSET, True),
        ("eventfilter", "Event: VarSet.*Someheader: X", "VarSet", VARSET, True),  # `.` spans lines
    ],
)
def test_one_filter(criteria: str, pattern: str, name: str, text: str, sent: bool) -> None:
    assert should_send([parse_filter(criteria, pattern)], name, text) is sent


@pytest.mark.parametrize(
    ("criteria", "pattern", "kind"),
    [
        ("eventfilter(action(include)", "", "format"),
        ("eventfilter(action(inlude))", "", "format"),
        ("eventfilter(nnnn(yyy))", "XXX", "format"),
        ("eventfilter(name(x),method(coains))", "XXX", "format"),
        ("eventfilter(method(regex))", "", "format"),
        ("eventfilter(name(x),method(none))", "XXX", "format"),
        ("eventfilter(method(none))", "", "format"),
        ("eventfilter", "", "format"),
        ("eventfilter", "!", "format"),
        ("eventfilter()", "XXX", "format"),
        ("eventfilter", "XX[X", "compile"),
        ("eventfilter(method(regex))", "XX[X", "compile"),
    ],
)
def test_filters_asterisk_refuses(criteria: str, pattern: str, kind: str) -> None:
    with pytest.raises(FilterError) as refused:
        parse_filter(criteria, pattern)
    assert refused.value.kind == kind


def test_includes_first_then_excludes() -> None:
    filters = [
        parse_filter(key, value)
        for key, value in [
            ("eventfilter(name(VarSet),method(none))", ""),
            ("eventfilter(name(Newchannel),method(regex))", "X[XYZ]X"),
            ("eventfilter(name(Newchannel),method(regex))", "X[abc]X"),
            ("eventfilter(name(Newchannel),header(Someheader),method(regex))", "ZZZ"),
            ("eventfilter(action(exclude),name(Newchannel),method(regex))", "X[a]X"),
            ("eventfilter(action(exclude),name(Newchannel),method(regex))", "X[Z]X"),
            ("eventfilter(action(exclude),name(VarSet),header(Channel),method(regex))", "YYY"),
        ]
    ]

    def newchannel(channel: str, other: str = "YYY") -> str:
        return f"Event: Newchannel\r\nChannel: {channel}\r\nSomeheader: {other}\r\n"

    assert should_send(filters, "Newchannel", newchannel("XXX"))
    assert not should_send(filters, "Newchannel", newchannel("XZX"))
    assert not should_send(filters, "Newchannel", newchannel("XaX"))
    assert should_send(filters, "Newchannel", newchannel("XbX"))
    assert not should_send(filters, "Newchannel", newchannel("YYY"))
    assert should_send(filters, "Newchannel", newchannel("YYY", "ZZZ"))
    assert should_send(filters, "VarSet", "Event: VarSet\r\nChannel: XXX\r\n")
    assert not should_send(filters, "VarSet", "Event: VarSet\r\nChannel: YYY\r\n")


# -- over the socket, with asterisk-conf/manager.conf's user ------------------------------
FRONTDESK_FAST = {**FAST, "ami_access": FRONTDESK}


@pytest.fixture
async def pbx() -> AsyncIterator[Emulator]:
    emulator = Emulator(staff=["2001", "2002"], registered=["2002"], **FRONTDESK_FAST)  # type: ignore[arg-type]
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def frontdesk(pbx: Emulator) -> AsyncIterator[Ami]:
    ami = await Ami.connect(pbx)
    await ami.login()
    assert parse_block(await ami.block())["Event"] == "FullyBooted"  # written at login
    yield ami
    ami.close()


@pytest.mark.parametrize(
    "action",
    [
        [("Action", "Filter"), ("Operation", "Add"), ("Filter", "Event: Cdr")],
        [("Action", "PJSIPShowContacts")],
        [("Action", "CoreShowChannels")],
        [("Action", "Originate"), ("Channel", "PJSIP/2002"), ("Application", "Wait")],
    ],
    ids=lambda a: a[0][1],
)
async def test_actions_beyond_write_user_are_refused_as_asterisk_does(
    frontdesk: Ami, action: list[tuple[str, str]]
) -> None:
    frontdesk.send(*action, ("ActionID", "fd-7"))
    assert (
        await frontdesk.block()
        == b"Response: Error\r\nActionID: fd-7\r\nMessage: Permission denied\r\n\r\n"
    )
    frontdesk.send(("Action", "Ping"), ("ActionID", "p"))  # the session goes on
    assert parse_block(await frontdesk.block())["Ping"] == "Pong"


async def test_the_user_gets_only_the_events_of_its_filters(pbx: Emulator, frontdesk: Ami) -> None:
    frontdesk.send(("Action", "UserEvent"), ("UserEvent", "FrontdeskEscalation"), ("ActionID", "u"))
    assert parse_block(await frontdesk.block())["Message"] == "Event Sent"
    await pbx.register("2001")
    await pbx.place_call("+13125550101", "5550100")  # no app: the dialplan plays and hangs up
    seen: list[str] = []
    while "Cdr" not in seen:
        seen.append(parse_block(await frontdesk.block())["Event"])
    # Not Newchannel/Newstate/Hangup (call, filtered), VarSet/Newexten (dialplan, not
    # readable), PeerStatus (system, filtered), its own UserEvent (not the 911 notice).
    assert set(seen) <= {"ContactStatus", "DeviceStateChange", "Cdr"}, seen
    assert "ContactStatus" in seen


async def test_the_staff_911_notice_gets_through(pbx: Emulator, frontdesk: Ami) -> None:
    lab = await Ami.connect(pbx)
    await lab.login()
    lab.send(("Action", "UserEvent"), ("UserEvent", "FrontdeskEmergencyCall"), ("Extension", "1"))
    event = await frontdesk.until("UserEvent")
    assert event["UserEvent"] == "FrontdeskEmergencyCall"
    lab.close()


async def test_with_write_system_the_filter_action_works() -> None:
    system = ManagerUser(permissions("all"), permissions("system,user"))
    async with Emulator(staff=["2001"], **{**FAST, "ami_access": system}) as emu:  # type: ignore[arg-type]
        ami = await Ami.connect(emu)
        await ami.login()
        await ami.until("SuccessfulAuth")
        ami.send(
            ("Action", "Filter"), ("Operation", "Add"), ("Filter", "Event: Cdr"), ("ActionID", "f")
        )
        assert await ami.block() == b"Response: Success\r\nActionID: f\r\nMessage: Success\r\n\r\n"
        ami.send(("Action", "Filter"), ("Operation", "Add"), ("Filter", "XX[X"), ("ActionID", "g"))
        assert await ami.block() == (
            b"Response: Error\r\nActionID: g\r\n"
            b"Message: Filter did not compile.  Check the syntax of the filter given.\r\n\r\n"
        )
        ami.send(("Action", "Filter"), ("Operation", "Remove"), ("ActionID", "h"))
        assert await ami.block() == (
            b"Response: Error\r\nActionID: h\r\nMessage: Unknown operation\r\n\r\n"
        )
        await emu.place_call("+13125550101", "5550100")
        assert parse_block(await ami.block())["Event"] == "Cdr"
        ami.close()


RECORDED = Path(__file__).parent.parent / "asterisk/recorded/ami_frontdesk_user_permissions.jsonl"


async def test_the_recorded_exchange_of_the_real_pbx_byte_for_byte(frontdesk: Ami) -> None:
    """`make lab` recorded frontdesk's user on Asterisk 22.10.1 (asterisk-conf/manager.conf):
    the emulator answers the same actions with the same bytes."""
    lines = [json.loads(line) for line in RECORDED.read_text().splitlines()]
    exchanges = [
        line
        for line in lines
        if line["kind"] == "ami_action_response" and "Secret" not in line["action"]
    ]
    assert [e["action"]["Action"] for e in exchanges] == [
        "Filter",
        "PJSIPShowContacts",
        "UserEvent",
    ]
    for exchange in exchanges:
        frontdesk.send(*exchange["action"].items())
        assert (await frontdesk.block()).decode() == exchange["raw"]
