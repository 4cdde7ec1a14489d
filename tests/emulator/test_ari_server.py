"""ARI REST conformance: the recorded flow (c) and (j) exchanges replayed against the emulator
give the recorded statuses and bodies; validation problems become violations."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from frontdesk.emulator import Emulator
from tests.emulator.conftest import FAST
from tests.emulator.helpers import Ari, call_in_stasis, transcript

TIME_KEYS = {"creationtime", "timestamp"}


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in TIME_KEYS}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


@pytest.fixture
async def lab() -> AsyncIterator[tuple[Emulator, Ari]]:
    """An emulator configured like the lab: app `callrouter`, 2003 configured, unregistered."""
    emulator = Emulator(
        app="callrouter", staff=["2001", "2002", "2003"], registered=["2001", "2002"], **FAST
    )
    await emulator.start()
    async with aiohttp.ClientSession() as session:
        yield emulator, Ari(emulator, session)
    await emulator.stop()


async def _replay(ari: Ari, record: dict[str, Any]) -> tuple[int, Any]:
    if "request_body_raw" in record:
        headers = {"Content-Type": record["request_content_type"]}
        data = record["request_body_raw"].encode()
        return await ari.request(record["method"], record["path"], data=data, headers=headers)
    return await ari.request(
        record["method"],
        record["path"],
        record["query"] or None,
        json_body=record.get("request_body"),
        auth="WITHOUT credentials" not in record.get("note", ""),
    )


async def test_flow_c_error_cases_reproduce_recorded_status_and_body(
    lab: tuple[Emulator, Ari],
) -> None:
    emu, ari = lab
    records = transcript("flow_c_rest_error_cases.jsonl")
    events = await ari.events("callrouter")
    for record in (r for r in records if r["kind"] == "ari_rest"):
        status, body = await _replay(ari, record)
        where = f"{record['method']} {record['path']} {record['query']}"
        assert status == record["status"], where
        assert _without_times(body) == _without_times(record["body"]), where
        await asyncio.sleep(0.01)  # let the channels of /channels/create enter Stasis
    recorded = [r["event"]["type"] for r in records if r["kind"] == "ari_event"]
    got = [e["type"] for e in await events.take(len(recorded))]
    assert got == recorded
    await events.quiet(0.05)
    # the flow deliberately sends what the Swagger forbids or lacks: those are violations
    problems = {v["problem"] for v in emu.violations}
    assert "missing required parameter 'endpoint'" in problems
    assert "404 Resource not found" in problems


async def test_flow_j_variables_round_trip_byte_exact(emu: Emulator, ari: Ari) -> None:
    records = [r for r in transcript("flow_j_channel_variables.jsonl") if r["kind"] == "ari_rest"]
    recorded_channel = records[0]["path"].split("/")[3]
    events = await ari.events()
    channel_id = await emu.place_call("+13125550108", "5550308")
    name = (await emu.channel(channel_id))["name"]
    await events.until("StasisStart")
    for record in records:
        path = record["path"].replace(recorded_channel, channel_id)
        if "query_raw" in record:
            status, text = await ari.raw(record["method"], path, record["query_raw"])
        else:
            status, body = await ari.request(
                record["method"],
                path,
                record["query"] or None,
                json_body=record.get("request_body"),
            )
            text = "" if body is None else _compact(body)
        expected = record.get("body_raw", "").replace("PJSIP/trunk-00000010", name)
        if record["method"] == "GET" and record["path"].endswith(recorded_channel):
            continue  # the whole channel: ids and times differ, its caller is checked below
        assert (status, text) == (record["status"], expected), path
    snapshot = await emu.channel(channel_id)  # the flow ends with DELETE
    assert snapshot["caller"] == {"name": 'José Müller, "VIP"', "number": "+13125550108"}
    assert emu.violations == []


def _compact(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


async def test_a_literal_plus_in_the_query_string_is_a_space(emu: Emulator, ari: Ari) -> None:
    channel_id, _ = await call_in_stasis(emu, ari)
    path = f"/ari/channels/{channel_id}/variable"
    assert (await ari.raw("POST", path, "variable=LAB_PLUS&value=+1312+x%2By"))[0] == 204
    assert await ari.request("GET", path, {"variable": "LAB_PLUS"}) == (200, {"value": " 1312 x+y"})


async def test_authentication(emu: Emulator, ari: Ari) -> None:
    required = (401, {"message": "Authentication required"})
    assert await ari.request("GET", "/ari/asterisk/ping", auth=False) == required
    bad = {"Authorization": aiohttp.encode_basic_auth("frontdesk", "wrong")}
    async with ari.session.get(f"{ari.base}/ari/channels", headers=bad) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    async with ari.session.get(f"{ari.base}/ari/channels?api_key=frontdesk:secret") as response:
        assert (response.status, await response.json()) == (200, [])
    assert emu.violations == []


async def test_unknown_parameter_is_answered_and_recorded(emu: Emulator, ari: Ari) -> None:
    channel_id, _ = await call_in_stasis(emu, ari)
    status, _ = await ari.request("POST", f"/ari/channels/{channel_id}/answer", {"bogus": "1"})
    assert status == 204  # Asterisk ignores what it does not know
    assert emu.violations == [
        {
            "method": "POST",
            "path": f"/ari/channels/{channel_id}/answer",
            "problem": "unknown parameter 'bogus' in the query string of channels.answer",
        }
    ]


async def test_json_body_parameters_are_validated(emu: Emulator, ari: Ari) -> None:
    channel_id, _ = await call_in_stasis(emu, ari)
    path = f"/ari/channels/{channel_id}/variable"
    body = {"variable": "X", "value": "1", "colour": "red"}
    assert (await ari.request("POST", path, json_body=body))[0] == 204
    assert await ari.request("GET", path, {"variable": "X"}) == (200, {"value": "1"})
    assert [v["problem"] for v in emu.violations] == [
        "unknown parameter 'colour' in the JSON body of channels.setChannelVar"
    ]


async def test_routing_errors(emu: Emulator, ari: Ari) -> None:
    assert await ari.request("GET", "/ari/no/such/resource") == (
        404,
        {"message": "Resource not found"},
    )
    assert await ari.request("PUT", "/ari/channels") == (405, {"message": "Invalid method"})
    assert await ari.request("GET", "/ari/channels/") == (
        404,
        {"message": "ARI URLs do not end with a slash. Try /ari/channels"},
    )
    assert len(emu.violations) == 2


async def test_parameter_types_and_allowed_values_are_checked(emu: Emulator, ari: Ari) -> None:
    channel_id = await emu.place_call("+13125550101", "5550100")
    status, body = await ari.request("DELETE", f"/ari/channels/{channel_id}", {"reason": "because"})
    assert (status, body) == (400, {"message": "Invalid reason for hangup provided"})
    await ari.request(
        "POST", "/ari/channels", {"endpoint": "PJSIP/2001", "app": "x", "timeout": "soon"}
    )
    problems = [v["problem"] for v in emu.violations]
    assert problems[0].startswith("'reason' must be one of normal|busy")
    assert problems[1] == "'timeout' must be an integer, got 'soon'"


async def test_unemulated_operation_is_a_violation(emu: Emulator, ari: Ari) -> None:
    status, body = await ari.request("GET", "/ari/asterisk/modules")
    assert (status, body) == (501, {"message": "Method not implemented"})
    assert emu.violations[0]["problem"].startswith("asterisk.listModules is not emulated")


async def test_requests_are_logged(emu: Emulator, ari: Ari) -> None:
    await ari.request("GET", "/ari/channels", {"x": "1"})
    assert emu.requests == [
        {"method": "GET", "path": "/ari/channels", "query": {"x": "1"}, "body": None, "status": 200}
    ]


async def test_asterisk_info_and_ping(ari: Ari) -> None:
    status, body = await ari.request("GET", "/ari/asterisk/info", {"only": "system"})
    assert (status, body) == (
        200,
        {"system": {"version": "22.10.1", "entity_id": "02:fc:00:00:00:01"}},
    )
    status, body = await ari.request("GET", "/ari/asterisk/ping")
    assert status == 200
    assert list(body) == ["asterisk_id", "ping", "timestamp"]


async def test_endpoints(emu: Emulator, ari: Ari) -> None:
    assert await ari.request("GET", "/ari/endpoints/PJSIP/2001") == (
        200,
        {"technology": "PJSIP", "resource": "2001", "state": "online", "channel_ids": []},
    )
    status, body = await ari.request("GET", "/ari/endpoints/PJSIP/2003")
    assert (status, body["state"]) == (200, "offline")
    assert await ari.request("GET", "/ari/endpoints/PJSIP/9999") == (
        404,
        {"message": "Endpoint not found"},
    )
    _status, listing = await ari.request("GET", "/ari/endpoints")
    assert [e["resource"] for e in listing] == ["trunk", "2001", "2002", "2003"]
