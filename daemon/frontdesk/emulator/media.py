"""Playbacks and recordings with timed ends.

A playback of several media URIs is one playback (Asterisk 22): `PlaybackStarted` for each
URI, `PlaybackContinuing` between them and `PlaybackFinished` after the last; its JSON has
`next_media_uri` while more URIs follow. Playbacks on one channel queue behind each other.
Each URI lasts `media_seconds` (or its entry in `media_durations`).

A `sound:` file that does not exist (`PbxConfig.sounds`, see `sounds.py`) plays for no
time: `PlaybackStarted`, then at once `PlaybackContinuing` (more URIs follow) or
`PlaybackFinished` with state `failed` (it was the last), as res_stasis_playback does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from frontdesk.emulator.clock import now
from frontdesk.emulator.errors import AriError
from frontdesk.emulator.events import ari_event
from frontdesk.emulator.model import Channel, LiveRecording, Playback, StoredRecording

if TYPE_CHECKING:
    from frontdesk.emulator.pbx import Pbx

RECORDING_FORMATS = frozenset(
    {"wav", "wav49", "gsm", "ulaw", "alaw", "sln", "slin", "g722", "g729"}
)
TERMINATE_ON = frozenset({"none", "any", "*", "#"})
IF_EXISTS = frozenset({"fail", "overwrite", "append"})


def queue(pbx: Pbx, playback: Playback) -> None:
    """Register a queued playback; it starts now if nothing plays on its target."""
    pbx.playbacks[playback.id] = playback
    waiting = pbx.playback_queues.setdefault(playback.target_uri, [])
    waiting.append(playback.id)
    if len(waiting) == 1:
        _start(pbx, playback)


def _emit(pbx: Pbx, kind: str, playback: Playback) -> None:
    body = [("playback", playback.json())]
    pbx.emit(ari_event(kind, body, [playback.target_uri], stasis=True))


def _start(pbx: Pbx, playback: Playback) -> None:
    playback.state = "playing"
    uri = playback.media[playback.index]
    channel_id = playback.channel_id
    if channel_id is not None and channel_id in pbx.channels:
        pbx.channels[channel_id].media.append(uri)
    _emit(pbx, "PlaybackStarted", playback)
    if not pbx.config.sounds.playable(uri, playback.language):
        if channel_id is not None and channel_id in pbx.history:
            pbx.history[channel_id].failed_media.append(uri)
        playback.timer = pbx.later(None, 0.0, _media_done, pbx, playback.id, True)
        return
    playback.timer = pbx.later(None, pbx.media_seconds(uri), _media_done, pbx, playback.id)


def _media_done(pbx: Pbx, playback_id: str, failed: bool = False) -> None:
    playback = pbx.playbacks.get(playback_id)
    if playback is None:
        return
    if playback.index < len(playback.media) - 1:
        playback.state = "continuing"
        _emit(pbx, "PlaybackContinuing", playback)
        playback.index += 1
        _start(pbx, playback)
    else:
        _finish(pbx, playback, start_next=True, state="failed" if failed else "done")


def _finish(pbx: Pbx, playback: Playback, *, start_next: bool, state: str = "done") -> None:
    if playback.timer is not None:
        playback.timer.cancel()
    playback.state = state
    _emit(pbx, "PlaybackFinished", playback)
    pbx.playbacks.pop(playback.id, None)
    waiting = pbx.playback_queues.get(playback.target_uri, [])
    if playback.id in waiting:
        waiting.remove(playback.id)
    if start_next and waiting:
        _start(pbx, pbx.playbacks[waiting[0]])
    elif not waiting:
        pbx.playback_queues.pop(playback.target_uri, None)


def stop(pbx: Pbx, playback: Playback) -> None:
    """DELETE /playbacks/{id}: queued ones are cancelled, a playing one stops ("done")."""
    waiting = pbx.playback_queues.get(playback.target_uri, [])
    playing = bool(waiting) and waiting[0] == playback.id
    _finish(pbx, playback, start_next=playing)


def channel_gone(pbx: Pbx, ch: Channel) -> None:
    """The channel hangs up or leaves Stasis: its playback ends, queued ones are dropped."""
    waiting = pbx.playback_queues.pop(f"channel:{ch.id}", [])
    for index, playback_id in enumerate(waiting):
        playback = pbx.playbacks.pop(playback_id, None)
        if playback is None:
            continue
        if playback.timer is not None:
            playback.timer.cancel()
        if index == 0 and playback.state != "queued":
            playback.state = "done"
            _emit(pbx, "PlaybackFinished", playback)
    for recording in [r for r in pbx.live.values() if r.channel_id == ch.id]:
        finish_recording(pbx, recording)


cancel_queued = channel_gone


def check_play_ids(pbx: Pbx, playback_id: str | None, media: list[str]) -> None:
    if not media or (playback_id and playback_id in pbx.playbacks):
        raise AriError(500, "Failed to queue media for playback")


# -- recordings ----------------------------------------------------------------------
def record(
    pbx: Pbx,
    ch: Channel,
    name: str,
    fmt: str,
    *,
    max_duration: int,
    if_exists: str,
    terminate_on: str,
) -> LiveRecording:
    if terminate_on not in TERMINATE_ON:
        raise AriError(400, "terminateOn invalid")
    if if_exists not in IF_EXISTS:
        raise AriError(400, "ifExists invalid")
    if fmt not in RECORDING_FORMATS:
        raise AriError(422, "specified format is unknown on this system")
    if not name or ".." in name or name.startswith("/"):
        raise AriError(400, "Recording name invalid")
    if name in pbx.live or (name in pbx.stored and if_exists == "fail"):
        raise AriError(409, f"Recording '{name}' already exists and can not be overwritten")
    recording = LiveRecording(name, fmt, f"channel:{ch.id}", now(), terminate_on, max_duration)
    pbx.live[name] = recording
    return recording


def start_recording(pbx: Pbx, recording: LiveRecording) -> None:
    recording.state = "recording"
    recording.started = now()
    _emit_recording(pbx, "RecordingStarted", recording)
    if recording.max_duration > 0:
        delay = pbx.scaled(recording.max_duration)
        recording.timer = pbx.later(None, delay, finish_recording, pbx, recording)


def finish_recording(pbx: Pbx, recording: LiveRecording, state: str = "done") -> None:
    if pbx.live.get(recording.name) is not recording:
        return
    if recording.timer is not None:
        recording.timer.cancel()
    del pbx.live[recording.name]
    seconds = (now() - recording.started) / max(pbx.config.time_scale, 1e-9)
    if recording.max_duration > 0:
        seconds = min(seconds, recording.max_duration)
    recording.state = state
    recording.duration = int(seconds)
    if state == "done":
        pbx.stored[recording.name] = StoredRecording(recording.name, recording.format, seconds)
    _emit_recording(pbx, "RecordingFinished", recording)


def on_dtmf(pbx: Pbx, ch: Channel, digit: str) -> None:
    for recording in [r for r in pbx.live.values() if r.channel_id == ch.id]:
        if recording.terminate_on == "any" or recording.terminate_on == digit:
            finish_recording(pbx, recording)


def _emit_recording(pbx: Pbx, kind: str, recording: LiveRecording) -> None:
    body = [("recording", recording.json())]
    pbx.emit(ari_event(kind, body, [recording.target_uri], stasis=True))


def wav_bytes(seconds: float) -> bytes:
    """A silent 8 kHz 16-bit mono WAV of that length, like Asterisk's `format=wav` file."""
    data = b"\0\0" * int(seconds * 8000)
    header = b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt "
    header += (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
    header += (8000).to_bytes(4, "little") + (16000).to_bytes(4, "little")
    header += (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    return header + b"data" + len(data).to_bytes(4, "little") + data
