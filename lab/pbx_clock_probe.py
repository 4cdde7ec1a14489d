"""What the real Asterisk says about its own clock, in several time zones (issue 16).

Asterisk on Linux takes its local time from /etc/localtime, not from $TZ
(main/stdtime/localtime.c: `ast_tzset(NULL)` loads "/etc/localtime"; a first probe with
only TZ set saw UTC everywhere). So for each zone Asterisk is started alone (no frontdesk,
no phones) in its private mount namespace with that zone's file bound over
/etc/localtime, and these are recorded: AMI `CoreStatus` as frontdesk's own user
(`write = user`: refused) and as the lab's (`write = system`), the login's
`FullyBooted`, ARI `GET /asterisk/ping` and `GET /asterisk/info`, and the `Cdr` of a
Local channel run through the fallback dialplan for about a second. With `--keep`, written to
tests/asterisk/recorded/ami_core_status.jsonl (replayed by the emulator's tests and
tests/asterisk/test_pbx_clock.py). Wrap it in the lab's lock:

    flock /tmp/asterisk-lab.lock .venv/bin/python -m lab.pbx_clock_probe --keep
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.harness import lab_plan
from lab.pbx import AMI_PORT, ARI_URL, ROOT, Asterisk, lab_prefix

RECORDED = ROOT / "tests/asterisk/recorded/ami_core_status.jsonl"
ZONES = ("UTC", "America/New_York", "Asia/Kolkata")


async def _ami(
    user: str, secret: str, zone: str, start: float, cdr: Callable[[], None] | None = None
) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", AMI_PORT)
    lines: list[dict[str, Any]] = []

    def line(kind: str, **fields: Any) -> None:
        t = round(time.monotonic() - start, 3)
        lines.append({"kind": kind, "tz": zone, "user": user, "t": t} | fields)

    banner = (await reader.readline()).decode().strip()
    line("ami_banner", raw=banner)
    actions = [
        {"Action": "Login", "Username": user, "Secret": secret, "Events": "system,cdr"},
        {"Action": "CoreStatus"},
    ]
    for n, action in enumerate(actions, 1):
        action = action | {"ActionID": f"clock-{n}"}
        writer.write("".join(f"{k}: {v}\r\n" for k, v in action.items()).encode() + b"\r\n")
        await writer.drain()
        while True:  # the login's FullyBooted (and security events) may come in between
            raw = (await reader.readuntil(b"\r\n\r\n")).decode()
            utc = datetime.now(UTC).isoformat()
            if raw.startswith("Event: "):
                line("ami_event", raw=raw, received_utc=utc)
                continue
            shown = action | ({"Secret": f"<the {user} secret>"} if "Secret" in action else {})
            response = dict(row.split(": ", 1) for row in raw.strip().split("\r\n"))
            line("ami_action_response", action=shown, response=response, raw=raw, received_utc=utc)
            break
        if action["Action"] == "Login":
            await asyncio.sleep(0.2)  # FullyBooted follows the login's answer
            while True:
                try:
                    raw = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.3)).decode()
                except TimeoutError:
                    break
                line("ami_event", raw=raw, received_utc=datetime.now(UTC).isoformat())
    if cdr is not None:
        await asyncio.to_thread(cdr)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                raw = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 1)).decode()
            except TimeoutError:
                continue
            if raw.startswith("Event: Cdr\r\n"):
                line("ami_event", raw=raw, received_utc=datetime.now(UTC).isoformat())
                break
    writer.close()
    return lines


def _ari(path: str, password: str, zone: str, start: float, method: str = "GET") -> dict[str, Any]:
    request = urllib.request.Request(ARI_URL + path, method=method)
    token = base64.b64encode(f"frontdesk:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        raw = response.read()
        body = json.loads(raw) if raw else None
        status = response.status
    utc = datetime.now(UTC).isoformat()
    t = round(time.monotonic() - start, 3)
    return {"kind": "ari_rest", "tz": zone, "t": t, "method": method, "path": "/ari" + path,
            "status": status, "body": body, "received_utc": utc}  # fmt: skip


def probe(prefix: Path, workdir: Path, zone: str) -> list[dict[str, Any]]:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    pbx = Asterisk(prefix, workdir, lab_plan(workdir))
    pbx.configure()
    _start_in_zone(pbx, zone)
    try:
        start = time.monotonic()

        def call() -> None:
            """A Local channel through the fallback dialplan (answers, plays), ~1 s."""
            query = "endpoint=Local/s@frontdesk-fallback&extension=s&context=frontdesk-fallback"
            made = _ari(f"/channels?{query}", pbx.secrets.ari, zone, start, "POST")
            time.sleep(1.2)
            _ari(f"/channels/{made['body']['id']}", pbx.secrets.ari, zone, start, "DELETE")

        lines = asyncio.run(_ami("frontdesk", pbx.secrets.ami, zone, start))
        lines += asyncio.run(_ami("lab", pbx.secrets.lab_ami, zone, start, call))
        lines.append(_ari("/asterisk/ping", pbx.secrets.ari, zone, start))
        lines.append(_ari("/asterisk/info", pbx.secrets.ari, zone, start))
        return lines
    finally:
        pbx.stop()


def _start_in_zone(pbx: Asterisk, zone: str, timeout: float = 40.0) -> None:
    """`Asterisk.start`, with the zone's file over /etc/localtime in its namespace."""
    zonefile = Path("/usr/share/zoneinfo") / zone
    if not zonefile.is_file():
        raise SystemExit(f"no zone file {zonefile}")
    for sub in ("var/run/asterisk", "var/spool/asterisk"):
        (pbx.prefix / sub).mkdir(parents=True, exist_ok=True)
    pbx.logs.mkdir(parents=True, exist_ok=True)
    resolv = pbx.etc / ".resolv.conf"
    resolv.write_text("options timeout:1 attempts:1\n")
    conf = pbx.etc / "asterisk.conf"
    script = (
        f"mount --bind '{resolv}' /etc/resolv.conf && "
        f"mount --bind '{zonefile}' /etc/localtime && exec '{pbx.binary}' -f -C '{conf}'"
    )
    with (pbx.etc / "asterisk.out").open("ab") as out:
        pbx.proc = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", script],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ | {"TZ": zone},
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "fully booted" in pbx.cli("core waitfullybooted", check=False):
            return
        if pbx.proc.poll() is not None:
            raise RuntimeError(f"asterisk exited at start:\n{pbx.output()[-3000:]}")
        time.sleep(0.5)
    pbx.stop()
    raise RuntimeError(f"asterisk not booted in {timeout} s:\n{pbx.output()[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help=f"write {RECORDED}")
    parser.add_argument("--zones", default=",".join(ZONES))
    args = parser.parse_args()
    prefix = lab_prefix()
    if prefix is None:
        print("pbx_clock_probe: set FRONTDESK_LAB_PREFIX to the Asterisk build", file=sys.stderr)
        return 2
    workdir = Path(os.environ.get("FRONTDESK_LAB_WORKDIR") or "/tmp/frontdesk-lab") / "clock"
    lines: list[dict[str, Any]] = []
    for zone in args.zones.split(","):
        lines += probe(prefix, workdir, zone)
    for line in lines:
        print(json.dumps(line, ensure_ascii=False))
    if args.keep:
        RECORDED.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
