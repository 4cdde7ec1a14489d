"""calls/channels.py: who owns each channel."""

from __future__ import annotations

from typing import Any

from frontdesk.asterisk.ari import AriError
from frontdesk.calls.channels import ChannelOwner, Channels
from frontdesk.calls.commands import Command


class Owner:
    def on_event(self, channel: str, event: dict[str, Any]) -> None: ...
    def on_timer(self, channel: str, timer: int) -> None: ...
    def request_failed(self, command: Command, exc: AriError) -> None: ...
    def lost(self, channel: str) -> None: ...


MENU: ChannelOwner = Owner()
ACD: ChannelOwner = Owner()


def test_claim_and_owner() -> None:
    channels = Channels()
    assert channels.owner("c1") is None
    channels.claim("c1", MENU)
    assert channels.owner("c1") is MENU
    assert "c1" in channels
    assert len(channels) == 1


def test_claim_again_hands_the_channel_on() -> None:
    channels = Channels()
    channels.claim("c1", MENU)
    channels.claim("c1", ACD)
    assert channels.owner("c1") is ACD
    assert channels.owned_by(MENU) == []
    assert len(channels) == 1


def test_release() -> None:
    channels = Channels()
    channels.claim("c1", MENU)
    channels.release("c1")
    assert channels.owner("c1") is None
    assert "c1" not in channels
    channels.release("c1")  # twice: nothing happens
    channels.release(None)
    assert len(channels) == 0


def test_owned_by_lists_only_that_owners_channels_in_claim_order() -> None:
    channels = Channels()
    channels.claim("c2", MENU)
    channels.claim("c1", ACD)
    channels.claim("leg1", ACD)
    channels.claim("c3", MENU)
    assert channels.owned_by(MENU) == ["c2", "c3"]
    assert channels.owned_by(ACD) == ["c1", "leg1"]
    assert channels.owned_by(Owner()) == []
    assert channels.channels() == ["c2", "c1", "leg1", "c3"]


def test_channels_is_a_copy() -> None:
    channels = Channels()
    channels.claim("c1", MENU)
    listed = channels.channels()
    listed.clear()
    assert channels.channels() == ["c1"]
