"""The one place where the call path's commands (calls/commands.py) become requests.

Each call has a lane: its commands run in order, one at a time, and one call's slow or
failing request never holds up another's. A failed request is logged here once and
reported to the call's owner (`on_failed`), which may answer with more commands; a
request that finds its channel gone marks it so, and the lane sends nothing more to
that channel. Timers (`ArmTimer`) call the owner back through `on_timer`.

Fencing (frontdesk/instance.py): every command first asks `may_command`, the daemon's
lease on the app. Once refused, or told by `fence` (the app was taken over), the
executor is fenced for good: it drops every command, so a daemon that lost its turn (a
frozen process continued, a partition) commands nothing while it steps down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import structlog

from frontdesk.asterisk.ari import AriClient, AriError
from frontdesk.calls.commands import (
    AddToBridge,
    Answer,
    ArmTimer,
    BridgeMusic,
    Command,
    ContinueInDialplan,
    DeleteBridge,
    DeleteRecording,
    DisarmTimer,
    EnterHolding,
    Hangup,
    LeaveBridge,
    MakeBridge,
    Originate,
    Play,
    Record,
    SendUserEvent,
    SetGlobal,
    SetVariables,
    StopPlayback,
    Wait,
)

log = structlog.get_logger("frontdesk.calls")
UserEvent = Callable[[str, dict[str, str]], Awaitable[object]]
# Commands whose failure is expected and harmless when the channel is already gone.
_SILENT_WHEN_GONE = (Hangup, StopPlayback, LeaveBridge, DeleteBridge, DeleteRecording, BridgeMusic)


@dataclass
class _Lane:
    # (the lane's timer epoch when queued, the command): `cancel_timers` moves the epoch
    # on, so an `ArmTimer` queued before it is dropped rather than armed later.
    queue: asyncio.Queue[tuple[int, Command]] = field(default_factory=asyncio.Queue)
    gone: set[str] = field(default_factory=set)  # channels this lane found gone
    epoch: int = 0
    task: asyncio.Task[None] | None = None


class CommandExecutor:
    def __init__(self, ari: AriClient, *, user_event: UserEvent | None = None) -> None:
        self.ari = ari
        self.user_event = user_event
        # Set by the dispatcher: where timers and failures of a lane's call go.
        self.on_timer: Callable[[str, int], None] = lambda lane, timer: None
        self.on_failed: Callable[[str, Command, AriError], None] = lambda lane, c, e: None
        self._lanes: dict[str, _Lane] = {}
        self._timers: dict[tuple[str, int], asyncio.TimerHandle] = {}
        self._holding: set[str] = set()  # holding bridges made since the last reconnect
        # Fencing: the daemon's lease (instance.py), asked before every command.
        self.may_command: Callable[[], bool] = lambda: True
        self.on_fenced: Callable[[str], None] = lambda why: None
        self.fenced: str | None = None  # why this executor stopped commanding; final
        self.refused = 0  # commands dropped since

    def commanding(self) -> bool:
        """May a command go to Asterisk now? A lapsed lease fences the executor."""
        if self.fenced is None and not self.may_command():
            self.fence("lease lapsed")
        return self.fenced is None

    def fence(self, why: str) -> None:
        """Command nothing more (idempotent); the daemon hears it through `on_fenced`."""
        if self.fenced is not None:
            return
        self.fenced = why
        log.error("call.fenced", reason=why)
        try:
            self.on_fenced(why)
        except Exception:  # the daemon's bug must not let a command through
            log.exception("call.fence_handler_crashed")

    def submit(self, lane: str, commands: Iterable[Command]) -> None:
        """Run `commands` after those already queued for the call `lane`."""
        state = self._lanes.get(lane)
        for command in commands:
            if state is None:
                state = self._lanes[lane] = _Lane()
                state.task = asyncio.get_running_loop().create_task(self._drain(lane, state))
            state.queue.put_nowait((state.epoch, command))

    def cancel_timers(self, lane: str) -> None:
        """No timer of this call fires any more, armed or still queued."""
        for key in [k for k in self._timers if k[0] == lane]:
            self._timers.pop(key).cancel()
        state = self._lanes.get(lane)
        if state is not None:
            state.epoch += 1

    def reconnected(self) -> None:
        """Asterisk may have restarted and lost the holding bridges: make them again when
        next used (a 409 if one survived)."""
        self._holding.clear()

    async def settle(self, timeout: float = 1.0) -> None:
        """Give the requests in flight `timeout` seconds."""
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()

    # -- one lane ---------------------------------------------------------------------------
    async def _drain(self, lane: str, state: _Lane) -> None:
        while not state.queue.empty():
            epoch, command = state.queue.get_nowait()
            if isinstance(command, ArmTimer) and epoch != state.epoch:
                continue  # its call's timers were cancelled meanwhile
            if command.channel in state.gone and not isinstance(command, ArmTimer | DisarmTimer):
                continue
            if not self.commanding():
                self.refused += 1
                continue
            try:
                await self._perform(lane, command)
            except AriError as exc:
                self._failed(lane, state, command, exc)
            except Exception:  # one call's bug never stops another's
                log.exception("call.command_crashed", channel=lane, command=type(command).__name__)
        self._lanes.pop(lane, None)

    def _failed(self, lane: str, state: _Lane, command: Command, exc: AriError) -> None:
        if isinstance(command, StopPlayback) and exc.status == 404:
            # The prompt ended as the key arrived: the playback is gone, not the call
            # (the menu goes on: its next prompt must still play).
            log.info("call.playback_already_done", channel=command.channel)
        elif exc.call_is_gone and not isinstance(command, MakeBridge | BridgeMusic):
            state.gone.add(command.channel)  # (a bridge's failure may be another member's)
            if not isinstance(command, _SILENT_WHEN_GONE):
                log.info("call.gone", channel=command.channel, status=exc.status)
        else:
            log.warning(
                "call.request_failed",
                channel=command.channel,
                command=type(command).__name__,
                status=exc.status,
                error=exc.message,
            )
        try:
            self.on_failed(lane, command, exc)
        except Exception:  # the owner's bug must not kill the lane
            log.exception("call.failure_handler_crashed", channel=lane)

    async def _perform(self, lane: str, command: Command) -> None:
        ari = self.ari
        match command:
            case Answer(channel):
                await ari.answer(channel)
            case Play(channel, playback_id, media, language):
                await ari.play(channel, media, playback_id, language)
            case StopPlayback(_, playback_id):
                await ari.stop_playback(playback_id)
            case ArmTimer():
                self._arm(lane, command)
            case DisarmTimer(channel, timer):
                handle = self._timers.pop((lane, timer), None)
                if handle is not None:
                    handle.cancel()
            case SetVariables(channel, variables):
                for name, value in variables:
                    await ari.set_variable(channel, name, value)
            case ContinueInDialplan(channel, context, extension, priority):
                await ari.continue_in_dialplan(channel, context, extension, priority)
            case Hangup(channel):
                await ari.hangup(channel)
            case Originate(channel, endpoint, args, caller_id, timeout):
                await ari.originate(
                    endpoint, channel, app_args=args, caller_id=caller_id, timeout=timeout
                )
            case Record(channel, name, seconds):
                await ari.record(channel, name, max_seconds=seconds)
            case DeleteRecording(_, name):
                await ari.delete_recording(name)
            case EnterHolding(channel, bridge):
                await self._enter_holding(channel, bridge)
            case LeaveBridge(channel, bridge):
                await ari.remove_channels(bridge, [channel])
            case MakeBridge(_, bridge, members):
                await ari.create_bridge(bridge, "mixing")
                await ari.add_channels(bridge, [m for m in members if m])
            case AddToBridge(channel, bridge):
                await ari.add_channels(bridge, [channel])
            case BridgeMusic(_, bridge, on):
                await (ari.start_moh(bridge) if on else ari.stop_moh(bridge))
            case DeleteBridge(_, bridge):
                await ari.delete_bridge(bridge)
            case SendUserEvent(_, name, fields):
                if self.user_event is not None:
                    await self.user_event(name, dict(fields))
            case SetGlobal(_, name, value):
                await ari.set_global(name, value)
            case Wait(_, seconds):
                await asyncio.sleep(seconds)

    def _arm(self, lane: str, command: ArmTimer) -> None:
        key = (lane, command.timer)

        def fire() -> None:
            self._timers.pop(key, None)
            self.on_timer(lane, command.timer)

        previous = self._timers.pop(key, None)
        if previous is not None:
            previous.cancel()
        delay = command.delay.total_seconds()
        self._timers[key] = asyncio.get_running_loop().call_later(delay, fire)

    async def _enter_holding(self, channel: str, bridge: str) -> None:
        if bridge not in self._holding:
            try:
                await self.ari.create_bridge(bridge, "holding")
            except AriError as exc:
                if exc.status != 409:  # 409: it survived our restart, as bridges do
                    raise
            await self.ari.start_moh(bridge)
            self._holding.add(bridge)
        try:
            await self.ari.add_channels(bridge, [channel])
        except AriError as exc:
            if exc.status not in (409, 422):  # a re-adopted caller is in it already
                raise
