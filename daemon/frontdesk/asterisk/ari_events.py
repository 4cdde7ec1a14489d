"""Reading ARI events (plain JSON objects): which channel or playback they are about. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The events after which a channel is leaving the app (a hangup; Stasis left).
CHANNEL_ENDING = frozenset({"StasisEnd", "ChannelHangupRequest", "ChannelDestroyed"})

# Event types frontdesk never reads, asked of Asterisk not to be sent at all
# (`PUT /applications/{app}/eventFilter`, "disallowed"): on the lab they were 50 of a
# served call's 61 events (ChannelVarset alone 35), each a channel snapshot Asterisk
# serialises and frontdesk parses. A disallowed list, not an allowed one: a type a
# later handler needs still arrives unless it is named here
# (tests/asterisk/test_ari_events.py checks that no type read anywhere is).
IGNORED_EVENTS = (
    "ChannelVarset",
    "ChannelDialplan",
    "ChannelCallerId",
    "ChannelConnectedLine",
    "ChannelCreated",
    "ChannelEnteredBridge",
    "ChannelLeftBridge",
    "ChannelTalkingStarted",
    "ChannelTalkingFinished",
    "Dial",
    "PlaybackStarted",
    "PlaybackContinuing",
    "BridgeCreated",
    "BridgeDestroyed",
)


def channel_of(event: Mapping[str, Any]) -> str | None:
    """The channel an ARI event is about: its `channel`, or a playback's/recording's target."""
    channel = event.get("channel")
    if isinstance(channel, dict) and isinstance(channel.get("id"), str):
        return str(channel["id"])
    for key in ("playback", "recording"):
        media = event.get(key)
        if isinstance(media, dict):
            target = str(media.get("target_uri", ""))
            if target.startswith("channel:"):
                return target.removeprefix("channel:")
    return None


def playback_of(event: Mapping[str, Any]) -> str | None:
    playback = event.get("playback")
    if isinstance(playback, dict) and isinstance(playback.get("id"), str):
        return str(playback["id"])
    return None
