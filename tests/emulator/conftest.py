"""Fixtures: a fast emulator on free loopback ports and plain clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from frontdesk.emulator import Emulator
from frontdesk.emulator.ami_access import LAB
from tests.emulator.helpers import Ari

# The lab's AMI user (read = all, write = all, no event filter): the transcripts' events.
FAST = {
    "media_seconds": 0.02,
    "answer_after": 0.05,
    "time_scale": 0.01,  # originate timeout=10 lasts 0.1 s, maxDurationSeconds=5 0.05 s
    "ami_failure_delay": 0.05,
    "shutdown_linger": 0.05,
    "seed": 7,
    "ami_access": LAB,
}


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    emulator = Emulator(staff=["2001", "2002", "2003"], registered=["2001", "2002"], **FAST)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def ari(emu: Emulator) -> AsyncIterator[Ari]:
    async with aiohttp.ClientSession() as session:
        yield Ari(emu, session)
