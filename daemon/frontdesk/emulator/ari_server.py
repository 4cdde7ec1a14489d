"""ARI over HTTP: REST under `/ari`, the events WebSocket at `/ari/events`.

Each request: authenticate (HTTP Basic or `api_key=user:password`), route and validate it
against the Swagger table (problems become `violations`, the answer stays Asterisk's),
dispatch to a handler, log it in `requests`. Bodies are compact JSON in the recorded key
order with raw UTF-8, as `ari.conf pretty = no` gives.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from aiohttp import WSMsgType, web

# Importing the handler modules registers them.
from frontdesk.emulator import ari_bridges, ari_channels, ari_misc  # noqa: F401
from frontdesk.emulator.errors import AriError
from frontdesk.emulator.event_sockets import EventSocket, EventSockets
from frontdesk.emulator.pbx import Pbx
from frontdesk.emulator.rest import HANDLERS, Call, Reply
from frontdesk.emulator.swagger import Match, NoRoute, as_bool, as_list, route, validate

MAX_BODY = 256 * 1024
BODY_TIMEOUT = 10.0
WS_MAX_MESSAGE = 64 * 1024
WS_READ_TIMEOUT = 60.0
REALM = 'Basic realm="Asterisk REST Interface"'

Params = dict[str, Any]


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    def check(self, user: str, password: str) -> bool:
        return hmac.compare_digest(user.encode(), self.user.encode()) and hmac.compare_digest(
            password.encode(), self.password.encode()
        )


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    if status == 204 or body is None:
        return web.Response(status=status, headers=headers)
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return web.Response(status=status, text=text, content_type="application/json", headers=headers)


def parse_query(raw: str) -> Params:
    """Asterisk decodes the query string form-style: a literal `+` is a space (flow j)."""
    out: Params = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        if name in out:
            previous = out[name]
            out[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[name] = value
    return out


class AriServer:
    def __init__(
        self,
        pbx: Pbx,
        sockets: EventSockets,
        credentials: Credentials,
        violation: Callable[[str, str, str], None],
        log: Callable[[dict[str, Any]], None],
    ) -> None:
        self.pbx = pbx
        self.sockets = sockets
        self.credentials = credentials
        self.violation = violation
        self.log = log

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", "/ari", self.handle), web.route("*", "/ari/{tail:.*}", self.handle)]

    # -- request pipeline ---------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        query = parse_query(request.rel_url.raw_query_string)
        if not self._authenticated(request, query):
            return json_response(
                401, {"message": "Authentication required"}, {"WWW-Authenticate": REALM}
            )
        query.pop("api_key", None)
        segments = [unquote_plus(s) for s in raw_path.split("/")[2:] if s]  # split, then decode
        path = "/" + "/".join(segments)
        if raw_path.endswith("/") and raw_path != "/ari/":
            message = f"ARI URLs do not end with a slash. Try /ari{path}"
            return self._finish(request, query, None, Reply(404, {"message": message}))
        found = route(request.method, segments)
        if isinstance(found, Match) and found.operation.nickname == "events.eventWebsocket":
            return await self._websocket(request, found, query)
        try:
            body = await self._body(request)
        except AriError as exc:
            return self._finish(request, query, None, Reply(exc.status, exc.body()))
        reply = self._dispatch(request, found, query, body)
        return self._finish(request, query, body, reply)

    def _authenticated(self, request: web.Request, query: Params) -> bool:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            user, _, password = decoded.partition(":")
            return self.credentials.check(user, password)
        key = query.get("api_key")
        if isinstance(key, str) and ":" in key:
            user, _, password = key.partition(":")
            return self.credentials.check(user, password)
        return False

    async def _body(self, request: web.Request) -> Params | None:
        if not request.can_read_body:
            return None
        try:
            data = await asyncio.wait_for(request.read(), BODY_TIMEOUT)
        except TimeoutError as exc:
            raise AriError(400, "Error parsing request body") from exc
        except web.HTTPRequestEntityTooLarge as exc:
            raise AriError(413, "Request body too large") from exc
        if not data.strip():
            return None
        if request.content_type == "application/x-www-form-urlencoded":
            return parse_query(data.decode("utf-8", "replace"))
        try:
            parsed = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AriError(400, "Error parsing request body") from exc
        if not isinstance(parsed, dict):
            raise AriError(400, "Error parsing request body")
        return parsed

    def _dispatch(
        self, request: web.Request, found: Match | NoRoute, query: Params, body: Params | None
    ) -> Reply:
        where = f"{request.method} {request.rel_url.path}"
        if isinstance(found, NoRoute):
            if request.method == "OPTIONS" and found.status == 405:
                return Reply(204, headers={"Allow": ",".join(("OPTIONS", *found.allow))})
            self.violation(request.method, request.rel_url.path, f"{found.status} {found.message}")
            headers = {"Allow": ",".join(found.allow)} if found.allow else {}
            return Reply(found.status, {"message": found.message}, headers=headers)
        for problem in validate(found.operation, query, body or {}):
            self.violation(request.method, request.rel_url.path, problem)
        handler = HANDLERS.get(found.operation.nickname)
        if handler is None:
            problem = f"{found.operation.nickname} is not emulated ({where})"
            self.violation(request.method, request.rel_url.path, problem)
            return Reply(501, {"message": "Method not implemented"})
        try:
            return handler(Call(self.pbx, found.path_params, {**query, **(body or {})}))
        except AriError as exc:
            return Reply(exc.status, exc.body())
        except Exception as exc:  # an emulator bug: make it loud in the violations
            problem = f"emulator error in {found.operation.nickname}: {exc!r}"
            self.violation(request.method, request.rel_url.path, problem)
            return Reply(500, {"message": "Internal Server Error"})

    def _finish(
        self, request: web.Request, query: Params, body: Params | None, reply: Reply
    ) -> web.Response:
        self.log(
            {
                "method": request.method,
                "path": request.rel_url.path,
                "query": query,
                "body": body,
                "status": reply.status,
            }
        )
        if reply.raw is not None:
            return web.Response(
                status=reply.status, body=reply.raw, content_type=reply.content_type
            )
        return json_response(reply.status, reply.body, reply.headers or None)

    # -- events WebSocket ---------------------------------------------------------------
    async def _websocket(
        self, request: web.Request, found: Match, query: Params
    ) -> web.StreamResponse:
        for problem in validate(found.operation, query, {}):
            self.violation(request.method, request.rel_url.path, problem)
        apps = as_list(query.get("app"))
        if not apps:
            return json_response(400, {"message": "Missing param 'app'"})
        ws = web.WebSocketResponse(max_msg_size=WS_MAX_MESSAGE, autoping=True)
        await ws.prepare(request)
        for app in apps:
            self.pbx.register_app(app, as_bool(query.get("subscribeAll")))
        sock = EventSocket(ws, request.transport, tuple(dict.fromkeys(apps)))
        self.sockets.attach(sock)
        try:
            await self._read_until_closed(ws)
        finally:
            self.sockets.detach(sock)
            await sock.stop()
        return ws

    @staticmethod
    async def _read_until_closed(ws: web.WebSocketResponse) -> None:
        while not ws.closed:
            try:
                message = await ws.receive(timeout=WS_READ_TIMEOUT)
            except TimeoutError:
                continue
            if message.type in (
                WSMsgType.CLOSE,
                WSMsgType.CLOSING,
                WSMsgType.CLOSED,
                WSMsgType.ERROR,
            ):
                return
