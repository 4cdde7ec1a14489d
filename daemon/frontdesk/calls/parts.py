"""The live call path's parts, built once by `CallRuntime` (calls/runtime.py) and handed
to those that work across owners: the dispatcher and the resync."""

from __future__ import annotations

from dataclasses import dataclass

from frontdesk.asterisk.ari import AriClient
from frontdesk.calls.acd_runtime import AcdRuntime
from frontdesk.calls.admission import AdmissionGate
from frontdesk.calls.channels import Channels
from frontdesk.calls.destinations import Destinations
from frontdesk.calls.executor import CommandExecutor
from frontdesk.calls.hub import EventHub
from frontdesk.calls.menu import MenuCalls
from frontdesk.calls.return_calls import ReturnCalls


@dataclass(frozen=True)
class CallParts:
    ari: AriClient  # queries only: requests go through `executor`
    channels: Channels
    executor: CommandExecutor
    menu: MenuCalls
    acd: AcdRuntime | None  # None: frontdesk runs without its ACD
    destinations: Destinations | None
    returns: ReturnCalls | None  # agents returning calls by hand (with the ACD)
    hub: EventHub | None = None  # facts about calls (the dispatcher's: calls shed)
    admission: AdmissionGate | None = None  # None: every new call is taken
