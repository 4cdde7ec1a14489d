"""An Asterisk 22.10.1 emulator speaking ARI (REST + events WebSocket) and AMI on loopback.

It reproduces what the recorded transcripts in `../shared/asterisk/transcripts/` show a real
Asterisk doing, so the daemon and its tests cannot tell it from Asterisk. See
docs/emulator.md.
"""

from frontdesk.emulator.emulator import Emulator, channel_snapshot
from frontdesk.emulator.errors import CallRefused

__all__ = ["CallRefused", "Emulator", "channel_snapshot"]
