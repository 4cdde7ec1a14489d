"""`Emulator`: the PBX model behind an ARI server and an AMI server on loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from frontdesk.emulator import attended, calls, endpoints, transfer
from frontdesk.emulator.ami_access import FRONTDESK, ManagerUser
from frontdesk.emulator.ami_actions import AmiActions
from frontdesk.emulator.ami_server import AmiConfig, AmiServer
from frontdesk.emulator.ari_server import MAX_BODY, AriServer, Credentials
from frontdesk.emulator.control import control_routes
from frontdesk.emulator.dialplan import Contexts
from frontdesk.emulator.event_sockets import EventSockets
from frontdesk.emulator.events import AmiEvent
from frontdesk.emulator.model import JsonDict
from frontdesk.emulator.pbx import Pbx, PbxConfig
from frontdesk.emulator.sounds import Sounds
from frontdesk.emulator.timings import Timings

Address = tuple[str, int]


class _Sink:
    """Routes the PBX's events to the servers."""

    def __init__(self, sockets: EventSockets) -> None:
        self.sockets = sockets
        self.ami_server: AmiServer | None = None

    def ari(self, application: str, event: JsonDict) -> None:
        self.sockets.send(application, event)

    def ami(self, event: AmiEvent) -> None:
        if self.ami_server is not None:
            self.ami_server.event(event)

    def app_active(self, application: str) -> bool:
        return self.sockets.app_active(application)


class Emulator:
    """An emulated Asterisk 22.10.1. See docs/emulator.md for the contract."""

    def __init__(
        self,
        *,
        ari: Address = ("127.0.0.1", 0),
        ami: Address = ("127.0.0.1", 0),
        ari_user: str = "frontdesk",
        ari_password: str = "secret",
        ami_user: str = "frontdesk",
        ami_secret: str = "secret",
        app: str = "frontdesk",
        staff: Sequence[str] = ("2001", "2002"),
        registered: Sequence[str] | None = None,
        media_seconds: float = 0.05,
        media_durations: Mapping[str, float] | None = None,
        answer_after: float | None = 1.5,
        time_scale: float = 1.0,
        system_name: str = "pbx",
        asterisk_id: str = "02:fc:00:00:00:01",
        cdr_after_hangup: float = 0.0,
        seed: int | None = None,
        dialplan: Contexts | None = None,
        ami_auth_timeout: float = 30.0,
        ami_failure_delay: float = 1.0,
        ami_access: ManagerUser = FRONTDESK,
        shutdown_linger: float = 2.0,
        sounds: Iterable[str] | None = None,
        sounds_dir: str | Path | None = None,
        pbx_timezone: str = "UTC",
    ) -> None:
        self._ari_address, self._ami_address = ari, ami
        self.timings = Timings()  # event -> command latency, off until a benchmark asks
        self.sockets = EventSockets(asterisk_id, self.timings)
        self._sink = _Sink(self.sockets)
        config = PbxConfig(
            app=app,
            system_name=system_name,
            asterisk_id=asterisk_id,
            staff=tuple(staff),
            registered=None if registered is None else tuple(registered),
            media_seconds=media_seconds,
            media_durations=dict(media_durations or {}),
            answer_after=answer_after,
            time_scale=time_scale,
            cdr_after_hangup=cdr_after_hangup,
            seed=seed,
            dialplan=dialplan,
            sounds=Sounds(sounds, sounds_dir),
            timezone=pbx_timezone,
        )
        self.pbx = Pbx(config, self._sink)
        self.violations: list[dict[str, str]] = []
        self.requests: list[dict[str, Any]] = []
        self._credentials = Credentials(ari_user, ari_password)
        ami_config = AmiConfig(
            ami_user,
            ami_secret,
            system_name,
            ami_auth_timeout,
            ami_failure_delay,
            access=ami_access,
        )
        self.ami_server = AmiServer(ami_config, self._dispatch_ami)
        self._actions = AmiActions(self.pbx, self.ami_server)
        self._sink.ami_server = self.ami_server
        self._runner: web.AppRunner | None = None
        self.ari_port = 0
        self.ami_port = 0
        self.shutdown_linger = shutdown_linger
        self._shutdown: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self.shut_down = asyncio.Event()

    @property
    def ari_url(self) -> str:
        """`http://host:port/ari` once started."""
        return f"http://{self._ari_address[0]}:{self.ari_port}/ari"

    async def _dispatch_ami(self, session: Any, message: list[tuple[str, str]]) -> None:
        await self._actions(session, message)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        server = AriServer(self.pbx, self.sockets, self._credentials, self._violation, self._logged)
        app.add_routes(control_routes(self))
        app.add_routes(server.routes())
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, *self._ari_address)
        await site.start()
        self.ari_port = int(self._runner.addresses[-1][1])
        self.ami_port = await self.ami_server.start(*self._ami_address)

    async def stop(self) -> None:
        """Stop at once (like killing Asterisk): sockets are cut, timers cancelled."""
        if self._shutdown is not None and not self._shutdown.done():
            self._shutdown.cancel()
        for ch in list(self.pbx.channels.values()):
            ch.cancel_timers()
        for playback in self.pbx.playbacks.values():
            if playback.timer is not None:
                playback.timer.cancel()
        for recording in self.pbx.live.values():
            if recording.timer is not None:
                recording.timer.cancel()
        self.sockets.drop_all()
        await self._close_servers()

    async def _close_servers(self) -> None:
        await self.ami_server.stop()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(runner.cleanup(), 5.0)

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _logged(self, entry: dict[str, Any]) -> None:
        self.requests.append(entry)
        self.timings.request(entry)

    def _violation(self, method: str, path: str, problem: str) -> None:
        self.violations.append({"method": method, "path": path, "problem": problem})

    # -- control API ----------------------------------------------------------------------
    async def place_call(
        self,
        caller: str,
        did: str,
        caller_name: str = "PSTN Caller",
        headers: Mapping[str, str] | None = None,
    ) -> str:
        return calls.place_call(self.pbx, caller, did, caller_name, headers)

    async def press(self, channel_id: str, digits: str, gap: float = 0.05) -> None:
        await calls.press(self.pbx, channel_id, digits, gap)

    def press_rtp(self, channel_id: str, presses: list[tuple[str, int, int]]) -> list[str]:
        """Keys as RFC 4733 RTP (key, sequence number, timestamp): the keys Asterisk hears."""
        return calls.press_rtp(self.pbx, channel_id, presses)

    async def hangup(self, channel_id: str) -> None:
        calls.caller_hangup(self.pbx, channel_id)

    async def agent_hangup(self, channel_id: str) -> None:
        calls.far_hangup(self.pbx, channel_id)

    async def transfer(self, channel_id: str, to: str) -> dict[str, str | None]:
        """The phone of `channel_id` presses BLIND TRANSFER to extension `to` (SIP REFER);
        returns the ids/names of the Local `;1` channel and of the rung target's channel."""
        return transfer.blind_transfer(self.pbx, channel_id, to).json()

    async def attended_transfer(self, channel_id: str, to: str) -> dict[str, str]:
        """The phone of `channel_id` has called extension `to`, the colleague answered, and
        it completes an ATTENDED transfer (SIP REFER with Replaces); returns the ids/names
        of the Local `;1` channel and of the colleague's channel. The swap follows
        `attended.SWAP_DELAY` s later, as recorded."""
        return attended.attended_transfer(self.pbx, channel_id, to).json()

    async def register(self, extension: str) -> None:
        endpoints.set_registered(self.pbx, extension, True)

    async def unregister(self, extension: str) -> None:
        endpoints.set_registered(self.pbx, extension, False)

    async def set_phone(
        self, extension: str, answer_after: float | None = 1.5, reply: int | None = None
    ) -> None:
        endpoints.set_behaviour(self.pbx, extension, answer_after, reply)

    async def channel(self, channel_id: str) -> dict[str, Any]:
        return channel_snapshot(self.pbx, channel_id)

    def add_sounds(self, names: Iterable[str]) -> None:
        """Sound files that exist from now on (`frontdesk/menu-1`, `es/frontdesk/menu-1`);
        only matters when the emulator was made with `sounds` or `sounds_dir`."""
        self.pbx.config.sounds.add(names)

    async def drop_websockets(self) -> None:
        self.sockets.drop_all()

    async def shutdown_gracefully(self) -> None:
        """`core stop gracefully`: refuse new calls, wait for the last channel, close the ARI
        sockets (1000), then AMI `Event: Shutdown` and EOF; returns once it has begun."""
        if self._shutdown is None:
            self.pbx.shutting_down = True
            self.pbx.on_idle = self._idle.set
            if not self.pbx.channels:
                self._idle.set()
            self._shutdown = asyncio.create_task(self._graceful())

    async def _graceful(self) -> None:
        await self._idle.wait()
        await asyncio.sleep(self.shutdown_linger)
        await self.sockets.close_all(1000)
        await self.ami_server.shutdown()
        await self._close_servers()
        self.shut_down.set()


def channel_snapshot(pbx: Pbx, channel_id: str) -> dict[str, Any]:
    """What a test may want to know about a channel, live or gone."""
    ch = pbx.history.get(channel_id)
    if ch is None:
        raise KeyError(channel_id)
    return {
        "id": ch.id,
        "name": ch.name,
        "state": ch.state,
        "caller": ch.caller.json(),
        "connected": ch.connected.json(),
        "language": ch.language,
        "in_stasis": ch.stasis_app is not None,
        "stasis_app": ch.stasis_app,
        "stasis_args": list(ch.stasis_args),
        "bridge": ch.bridge_id,
        "media": list(ch.media),
        "failed_media": list(ch.failed_media),
        "variables": dict(ch.variables),
        "dialplan": ch.dialplan.json(),
        "continued_to": ch.continued_to.json() if ch.continued_to else None,
        "redirected_to": ch.redirected_to,
        "moh_class": ch.moh_class,
        "hung_up": ch.destroyed,
        "hangup_cause": ch.hangup_cause,
    }
