"""`frontdesk run` as a newcomer's `make run` starts it: the demo on the embedded emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys


def test_demo_routes_calls_and_logs_no_full_number() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env |= {"FRONTDESK_HTTP_PORT": "0", "FRONTDESK_AGI_PORT": "0", "FRONTDESK_LOG_FORMAT": "json"}
    result = subprocess.run(
        [sys.executable, "-m", "frontdesk", "run", "--demo-calls", "3"],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    log = result.stdout + result.stderr
    assert log.count('"event": "call.routed"') >= 3
    assert '"event": "frontdesk.stopped"' in log
    # The demo's callers include known patients (+1312555100x): never in full in a log line.
    assert not re.search(r"\+?1?312555100\d", log)
