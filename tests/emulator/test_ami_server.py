"""AMI over TCP: the exact texts of flow (l), escaping, event classes, bounded reads."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import pytest

from frontdesk.emulator import Emulator
from tests.emulator.conftest import FAST
from tests.emulator.helpers import Ami, Ari, call_in_stasis, field_names, parse_block, transcript


@pytest.fixture
async def monitor(emu: Emulator) -> AsyncIterator[Ami]:
    ami = await Ami.connect(emu)
    await ami.login()
    assert field_names(await ami.block()) == [
        "Event",
        "Privilege",
        "Uptime",
        "LastReload",
        "Status",
    ]
    assert (await ami.until("SuccessfulAuth"))["AccountID"] == "frontdesk"
    yield ami
    ami.close()


async def test_successful_auth_fields_as_recorded(emu: Emulator) -> None:
    ami = await Ami.connect(emu)
    await ami.login()
    assert parse_block(await ami.block())["Event"] == "FullyBooted"
    recorded = next(
        r["raw"]
        for r in transcript("flow_l_ami_edge_cases_and_shutdown.jsonl")
        if r["kind"] == "ami_event" and r["event"]["Event"] == "SuccessfulAuth"
    )
    raw = await ami.block()
    assert field_names(raw) == field_names(recorded.encode())
    ami.close()


async def test_bad_secret_waits_then_closes(emu: Emulator, monitor: Ami) -> None:
    second = await Ami.connect(emu)
    second.send(
        ("Action", "Login"),
        ("Username", "frontdesk"),
        ("Secret", "wrong"),
        ("ActionID", "bad-login"),
    )
    began = time.monotonic()
    invalid = await monitor.until("InvalidPassword")
    assert (invalid["EventVersion"], invalid["AccountID"]) == ("2", "frontdesk")
    assert (
        await second.block()
        == b"Response: Error\r\nActionID: bad-login\r\nMessage: Authentication failed\r\n\r\n"
    )
    assert time.monotonic() - began >= FAST["ami_failure_delay"] * 0.9
    assert await second.block() == b""  # EOF
    second.close()


async def test_pre_login_action_is_denied(emu: Emulator, monitor: Ami) -> None:
    second = await Ami.connect(emu)
    second.send(("Action", "Ping"), ("ActionID", "pre-login-ping"))
    assert (
        await second.block()
        == b"Response: Error\r\nActionID: pre-login-ping\r\nMessage: Permission denied\r\n\r\n"
    )
    denied = await monitor.until("RequestNotAllowed")
    assert (denied["RequestType"], denied["AccountID"]) == ("Action: Ping", "")
    second.close()


async def test_ping(monitor: Ami) -> None:
    monitor.send(("Action", "Ping"), ("ActionID", "lab-2"))
    pong = re.compile(
        rb"Response: Success\r\n(ActionID: lab-2\r\n)?Ping: Pong\r\nTimestamp: \d+\.\d{6}\r\n\r\n"
    )
    assert pong.fullmatch(await monitor.block())
    monitor.send(("Action", "Ping"))
    raw = await monitor.block()
    assert pong.fullmatch(raw)
    assert b"ActionID" not in raw


async def test_core_show_channels(emu: Emulator, ari: Ari, monitor: Ami) -> None:
    monitor.send(("Action", "CoreShowChannels"))
    assert (
        await monitor.block()
        == b"Response: Success\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
    )
    assert (
        await monitor.block()
        == b"Event: CoreShowChannelsComplete\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
    )
    channel_id, _ = await call_in_stasis(emu, ari)
    monitor.send(("Action", "CoreShowChannels"), ("ActionID", "c"))
    item = await monitor.until("CoreShowChannel")
    assert (item["ActionID"], item["Uniqueid"], item["Application"]) == ("c", channel_id, "Stasis")
    done = await monitor.until("CoreShowChannelsComplete")
    assert done["ListItems"] == "1"


async def test_unknown_and_missing_action(monitor: Ami) -> None:
    monitor.send(("Action", "NoSuchAction"), ("ActionID", "lab-3"))
    assert await monitor.block() == (
        b"Response: Error\r\nActionID: lab-3\r\nMessage: Invalid/unknown command: NoSuchAction. "
        b"Use Action: ListCommands to show available commands.\r\n\r\n"
    )
    assert (await monitor.until("RequestBadFormat"))["RequestType"] == "Action: NoSuchAction"
    monitor.send(("ActionID", "x"))
    assert (
        await monitor.block()
        == b"Response: Error\r\nActionID: x\r\nMessage: Missing action in request\r\n\r\n"
    )


async def test_originate_errors_as_recorded(monitor: Ami) -> None:
    base = [
        ("Action", "Originate"),
        ("Channel", "PJSIP/2003"),
        ("Context", "lab-local"),
        ("Exten", "wait"),
    ]
    common = [("Priority", "1"), ("CallerID", '"Lab" <+13125550110>'), ("Timeout", "10000")]
    monitor.send(*base, *common, ("Async", "false"), ("ActionID", "lab-4"))
    assert (
        await monitor.block()
        == b"Response: Error\r\nActionID: lab-4\r\nMessage: Originate failed\r\n\r\n"
    )
    monitor.send(*base, *common, ("Async", "true"), ("ActionID", "lab-5"))
    assert await monitor.block() == (
        b"Response: Success\r\nActionID: lab-5\r\nMessage: Originate successfully queued\r\n\r\n"
    )
    response = parse_block(await monitor.block())
    assert response == {
        "Event": "OriginateResponse",
        "Privilege": "call,all",
        "SystemName": "pbx",
        "ActionID": "lab-5",
        "Response": "Failure",
        "Channel": "PJSIP/2003",
        "Context": "lab-local",
        "Exten": "wait",
        "Reason": "0",
        "Uniqueid": "<unknown>",
        "CallerIDNum": "+13125550110",
        "CallerIDName": "Lab",
    }


async def test_originate_success(emu: Emulator, monitor: Ami) -> None:
    await emu.set_phone("2001", answer_after=0.01)
    monitor.send(
        ("Action", "Originate"),
        ("Channel", "PJSIP/2001"),
        ("Application", "Playback"),
        ("Data", "beep"),
        ("Async", "true"),
        ("ActionID", "o"),
    )
    response = await monitor.until("OriginateResponse")
    assert (response["Response"], response["Reason"]) == ("Success", "4")
    hangup = await monitor.until("Hangup")
    assert hangup["Uniqueid"] == response["Uniqueid"]


async def test_events_off_and_on(emu: Emulator, ari: Ari, monitor: Ami) -> None:
    monitor.send(("Action", "Events"), ("EventMask", "off"), ("ActionID", "e"))
    assert await monitor.block() == b"Response: Success\r\nActionID: e\r\nEvents: Off\r\n\r\n"
    await emu.place_call("+13125550101", "5550100")
    monitor.send(("Action", "Events"), ("EventMask", "call"))
    assert await monitor.block() == b"Response: Success\r\nEvents: On\r\n\r\n"
    await emu.place_call("+13125550102", "5550100")
    first = parse_block(await monitor.block())
    assert (first["Event"], first["CallerIDNum"]) == ("Newchannel", "+13125550102")
    assert (await monitor.until("Newstate"))["Privilege"] == "call,all"  # no dialplan events


async def test_user_event(emu: Emulator, monitor: Ami) -> None:
    other = await Ami.connect(emu)
    await other.login()
    other.send(
        ("Action", "UserEvent"),
        ("UserEvent", "FrontdeskHello"),
        ("Queue", "billing"),
        ("ActionID", "u1"),
    )
    assert await other.until("UserEvent") == {
        "Event": "UserEvent",
        "Privilege": "user,all",
        "SystemName": "pbx",
        "UserEvent": "FrontdeskHello",
        "Queue": "billing",
        "ActionID": "u1",
    }
    assert (await monitor.until("UserEvent"))["Queue"] == "billing"
    other.close()


async def test_varset_and_caller_names_escape_quotes(emu: Emulator, ari: Ari, monitor: Ami) -> None:
    channel_id, _ = await call_in_stasis(emu, ari)
    tricky = 'He said "hi", then left; José Núñez, 50% off, a=b&c=d, €5 ñ'
    path = f"/ari/channels/{channel_id}/variable"
    await ari.request("POST", path, {"variable": "LAB_TRICKY", "value": tricky})
    await ari.request("POST", path, {"variable": "CALLERID(name)", "value": 'José Müller, "VIP"'})
    varset = await monitor.until("VarSet", Variable="LAB_TRICKY")
    assert varset["Value"] == 'He said \\"hi\\", then left; José Núñez, 50% off, a=b&c=d, €5 ñ'
    caller = await monitor.until("NewCallerid")
    assert caller["CallerIDName"] == 'José Müller, \\"VIP\\"'


async def test_logoff(monitor: Ami) -> None:
    monitor.send(("Action", "Logoff"), ("ActionID", "lab-2"))
    assert (
        await monitor.block()
        == b"Response: Goodbye\r\nActionID: lab-2\r\nMessage: Thanks for all the fish.\r\n\r\n"
    )
    assert await monitor.block() == b""


async def test_cdr_order_is_configurable() -> None:
    emu = Emulator(**{**FAST, "cdr_after_hangup": 1.0})
    await emu.start()
    try:
        ami = await Ami.connect(emu)
        await ami.login()
        channel_id = await emu.place_call("+13125550101", "5550100")  # no app: dialplan ends it
        names = []
        while "Cdr" not in names:
            names.append(parse_block(await ami.block()).get("Event", ""))
        assert names.index("Hangup") < names.index("Cdr")
        assert (await emu.channel(channel_id))["hung_up"]
        ami.close()
    finally:
        await emu.stop()


async def test_idle_connection_before_login_is_closed() -> None:
    emu = Emulator(**{**FAST, "ami_auth_timeout": 0.05})
    await emu.start()
    try:
        ami = await Ami.connect(emu)
        assert await ami.block(timeout=1.0) == b""
        ami.close()
    finally:
        await emu.stop()


async def test_overlong_line_closes_the_connection(emu: Emulator) -> None:
    ami = await Ami.connect(emu)
    ami.writer.write(b"Action: " + b"x" * 20_000 + b"\r\n\r\n")
    assert await ami.block() == b""
    ami.close()


async def test_too_many_fields_close_the_connection(emu: Emulator) -> None:
    ami = await Ami.connect(emu)
    ami.writer.write(b"".join(b"Key%d: v\r\n" % i for i in range(300)) + b"\r\n")
    assert await ami.block() == b""
    ami.close()
    await asyncio.sleep(0)
