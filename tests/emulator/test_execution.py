"""Leaving Stasis for the dialplan: `continue` with and without a target (flows g/g2)."""

from __future__ import annotations

import asyncio

from frontdesk.emulator import Emulator
from tests.emulator.helpers import Ami, Ari, call_in_stasis


async def test_flow_g_continue_to_context(emu: Emulator, ari: Ari) -> None:
    emu.pbx.config.media_durations["sound:hello-world"] = 0.2
    ami = await Ami.connect(emu)
    await ami.login()
    channel_id, events = await call_in_stasis(emu, ari, "+13125550103", "5550303")
    await ari.request("POST", f"/ari/channels/{channel_id}/answer")
    target = {"context": "lab-continue", "extension": "s", "priority": "1"}
    assert (await ari.request("POST", f"/ari/channels/{channel_id}/continue", target))[0] == 204
    end = await events.until("StasisEnd")
    assert end["channel"]["dialplan"]["context"] == "from-pstn"  # still where Stasis ran
    await ami.until("Newexten", Application="Playback")
    status, channel = await ari.request("GET", f"/ari/channels/{channel_id}")
    assert (status, channel["dialplan"]) == (
        200,
        {
            "context": "lab-continue",
            "exten": "s",
            "priority": 2,
            "app_name": "Playback",
            "app_data": "hello-world",
        },
    )
    assert await ari.request("POST", f"/ari/channels/{channel_id}/answer") == (
        409,
        {"message": "Channel not in Stasis application"},
    )
    hangup = await ami.until("Hangup", Uniqueid=channel_id)
    assert (hangup["Cause"], hangup["Context"], hangup["Priority"]) == ("16", "lab-continue", "3")
    await events.quiet(0.02)  # nothing else on ARI for that channel
    snapshot = await emu.channel(channel_id)
    assert snapshot["continued_to"] == {
        "context": "lab-continue",
        "exten": "s",
        "priority": 1,
        "app_name": "",
        "app_data": "",
    }
    assert snapshot["variables"]["STASISSTATUS"] == "SUCCESS"
    assert snapshot["media"] == ["sound:hello-world"]
    ami.close()


async def test_flow_g2_continue_without_arguments(emu: Emulator, ari: Ari) -> None:
    ami = await Ami.connect(emu)
    await ami.login()
    channel_id, events = await call_in_stasis(emu, ari, "+13125550113", "5550313")
    await ari.request("POST", f"/ari/channels/{channel_id}/continue")
    await events.until("StasisEnd")
    back = await ami.until("Newexten", Uniqueid=channel_id, Context="from-pstn", Priority="5")
    assert back["AppData"] == "Back from Stasis: STASISSTATUS=SUCCESS"
    hangup = await ami.until("Hangup", Uniqueid=channel_id)
    assert hangup["Priority"] == "7"
    ami.close()


async def test_continue_to_nowhere_hangs_up(emu: Emulator, ari: Ari) -> None:
    channel_id, events = await call_in_stasis(emu, ari)
    await ari.request("POST", f"/ari/channels/{channel_id}/continue", {"context": "nowhere"})
    await events.until("StasisEnd")
    await asyncio.sleep(0.02)
    snapshot = await emu.channel(channel_id)
    assert (snapshot["hung_up"], snapshot["hangup_cause"]) == (True, 16)


async def test_redirect(emu: Emulator, ari: Ari) -> None:
    channel_id, events = await call_in_stasis(emu, ari)
    path = f"/ari/channels/{channel_id}/redirect"
    assert await ari.request("POST", path, {"endpoint": "SIP/2001"}) == (
        422,
        {"message": "Endpoint technology 'SIP' does not match channel technology 'PJSIP'"},
    )
    assert (await ari.request("POST", path, {"endpoint": "PJSIP/2001"}))[0] == 204
    await events.until("StasisEnd")
    assert (await emu.channel(channel_id))["redirected_to"] == "PJSIP/2001"
