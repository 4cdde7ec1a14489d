"""`/_emulator/` HTTP routes: the control API for other processes (the demo), JSON in/out,
no authentication. Same operations as the `Emulator` methods."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from frontdesk.emulator.errors import AriError, CallRefused

if TYPE_CHECKING:
    from frontdesk.emulator.emulator import Emulator

MAX_CONTROL_BODY = 16 * 1024
BODY_TIMEOUT = 10.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(status: int, body: Any) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    data = await asyncio.wait_for(request.content.read(MAX_CONTROL_BODY + 1), BODY_TIMEOUT)
    if len(data) > MAX_CONTROL_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_CONTROL_BODY, actual_size=len(data))
    if not data.strip():
        return {}
    parsed = json.loads(data)
    if not isinstance(parsed, dict):
        raise ValueError("the body must be a JSON object")
    return parsed


def _guard(fn: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except KeyError as exc:
            return _json(404, {"error": f"not found: {exc.args[0] if exc.args else ''}"})
        except CallRefused as exc:
            return _json(503, {"error": str(exc)})
        except AriError as exc:  # e.g. a hangup of a channel the app has already hung up
            return _json(exc.status, exc.body())
        except (ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})

    return wrapped


def _extension(body: dict[str, Any]) -> str:
    """A transfer's `to`: an extension, as a string or a number."""
    to = body.get("to")
    if not isinstance(to, str | int) or isinstance(to, bool):
        raise ValueError("to: the extension to transfer to is required")
    return str(to)


def control_routes(emu: Emulator) -> list[web.RouteDef]:
    async def place_call(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        headers = body.get("headers") or {}
        if not isinstance(headers, dict):
            raise ValueError("headers must be an object of SIP header names to values")
        channel_id = await emu.place_call(
            str(body["caller"]),
            str(body["did"]),
            str(body.get("caller_name", "PSTN Caller")),
            {str(k): str(v) for k, v in headers.items()},
        )
        return _json(200, {"channel_id": channel_id})

    async def dtmf(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        gap = float(body.get("gap", 0.05))
        await emu.press(request.match_info["id"], str(body["digits"]), gap)
        return _json(200, {})

    async def rtp(request: web.Request) -> web.StreamResponse:
        """Keys as RTP: `{"presses": [{"key": "3", "seq": 100, "timestamp": 8000}, ...]}`."""
        body = await _body(request)
        presses = [
            (str(p["key"]), int(p["seq"]), int(p["timestamp"])) for p in body.get("presses", [])
        ]
        heard = emu.press_rtp(request.match_info["id"], presses)
        return _json(200, {"heard": heard})

    async def hangup(request: web.Request) -> web.StreamResponse:
        channel_id = request.match_info["id"]
        if request.query.get("side") == "far":
            await emu.agent_hangup(channel_id)
        else:
            await emu.hangup(channel_id)
        return _json(200, {})

    async def transfer(request: web.Request) -> web.StreamResponse:
        to = _extension(await _body(request))
        return _json(200, await emu.transfer(request.match_info["id"], to))

    async def attended_transfer(request: web.Request) -> web.StreamResponse:
        to = _extension(await _body(request))
        return _json(200, await emu.attended_transfer(request.match_info["id"], to))

    async def register(request: web.Request) -> web.StreamResponse:
        await emu.register(request.match_info["ext"])
        return _json(200, {})

    async def unregister(request: web.Request) -> web.StreamResponse:
        await emu.unregister(request.match_info["ext"])
        return _json(200, {})

    async def behaviour(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        answer_after = body.get("answer_after", 1.5)
        reply = body.get("reply")
        await emu.set_phone(
            request.match_info["ext"],
            None if answer_after is None else float(answer_after),
            None if reply is None else int(reply),
        )
        return _json(200, {})

    async def channel(request: web.Request) -> web.StreamResponse:
        return _json(200, await emu.channel(request.match_info["id"]))

    async def requests(request: web.Request) -> web.StreamResponse:
        return _json(200, emu.requests)

    async def violations(request: web.Request) -> web.StreamResponse:
        return _json(200, emu.violations)

    async def timings(request: web.Request) -> web.StreamResponse:
        return _json(200, emu.timings.report())

    async def reset_timings(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        window = body.get("window")
        emu.timings.reset(
            enabled=bool(body.get("enabled", True)),
            window=None if window is None else float(window),
        )
        return _json(200, emu.timings.report())

    async def drop(request: web.Request) -> web.StreamResponse:
        await emu.drop_websockets()
        return _json(200, {})

    async def shutdown(request: web.Request) -> web.StreamResponse:
        await emu.shutdown_gracefully()
        return _json(202, {})

    routes: list[tuple[str, str, Handler]] = [
        ("POST", "/_emulator/calls", place_call),
        ("POST", "/_emulator/channels/{id}/dtmf", dtmf),
        ("POST", "/_emulator/channels/{id}/rtp", rtp),
        ("POST", "/_emulator/channels/{id}/hangup", hangup),
        ("POST", "/_emulator/channels/{id}/transfer", transfer),
        ("POST", "/_emulator/channels/{id}/attended-transfer", attended_transfer),
        ("GET", "/_emulator/channels/{id}", channel),
        ("POST", "/_emulator/endpoints/{ext}/register", register),
        ("POST", "/_emulator/endpoints/{ext}/unregister", unregister),
        ("POST", "/_emulator/endpoints/{ext}/behaviour", behaviour),
        ("GET", "/_emulator/requests", requests),
        ("GET", "/_emulator/violations", violations),
        ("GET", "/_emulator/timings", timings),
        ("POST", "/_emulator/timings", reset_timings),
        ("POST", "/_emulator/websockets/drop", drop),
        ("POST", "/_emulator/shutdown", shutdown),
    ]
    return [web.route(method, path, _guard(fn)) for method, path, fn in routes]
