"""The go-live run of a plan on the real Asterisk: `make lab-golive` (docs/golive.md).

    python -m lab.golive_run [--parallel N] [--plan PLAN] [--practice-time T]

It starts the lab (a real Asterisk, SIPp phones and trunk, `frontdesk run` in go-live
mode on the machine's PostgreSQL), writes the plan's go-live run (`frontdesk golive`),
runs every scenario (`run.sh --parallel N`), then `frontdesk golive verify`, whose table
it prints. Exit code: verify's (0 every case passed, 1 some failed), 2 when the lab
could not run. The example plan gets four declared test callers.

The daemon runs on the real clock, as at a practice (whatever the time of day: each case
routes, and queues, at the time its header names); `--practice-time` starts its clock
at a practice-local time instead, e.g. `2026-12-11T23:30` (a Friday night). Pick one not
before the real time: `verify` reads the rows that started since the run began.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.pg import dsn_in

from lab.harness import Lab, admin_sql
from lab.pbx import CALLER_PORTS, FRONTDESK, ROOT, SIP_PORT, lab_prefix

TEST_CALLERS = ("+13125559901", "+13125559902", "+13125559903", "+13125559904")


def golive_plan(source: Path, workdir: Path) -> Path:
    text = source.read_text()
    if "\ngolive:" not in text:
        callers = ", ".join(f'"{n}"' for n in TEST_CALLERS)
        text += f"\ngolive:\n  test_callers: [{callers}]\n"
    path = workdir / "golive-plan.yaml"
    path.write_text(text)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parallel", type=int, default=10)
    parser.add_argument(
        "--plan", type=Path, default=ROOT / "daemon/frontdesk/examples/lakeside.yaml"
    )
    parser.add_argument("--practice-time", help="practice-local ISO time; default: real time")
    args = parser.parse_args()
    prefix = lab_prefix()
    if prefix is None:
        print("lab-golive: skipped: no Asterisk build (set FRONTDESK_LAB_PREFIX)")
        return 0
    if not 1 <= args.parallel <= len(CALLER_PORTS):
        parser.error(f"--parallel: 1 to {len(CALLER_PORTS)}")
    workdir = Path(os.environ.get("FRONTDESK_LAB_WORKDIR") or "/tmp/frontdesk-lab") / "golive"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    plan = golive_plan(args.plan, workdir)
    schema = f"fd_golive_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin_sql(f'CREATE SCHEMA "{schema}"'))
    lab = Lab(prefix, workdir, dsn_in(schema), schema, plan=plan)
    run = workdir / "run"
    try:
        lab.pbx.configure()
        lab.pbx.render_prompts()
        _run([FRONTDESK, "golive", str(plan), "--out", str(run), "--sounds", str(lab.pbx.sounds)])
        lab.daemon.env |= {
            "FRONTDESK_GOLIVE": "on",
            "FRONTDESK_DIRECTORY": str(run / "test_patients.csv"),
        }
        lab.start(configure=False, practice_time=args.practice_time)
        started = time.monotonic()
        env = os.environ | {"LOCAL_PORT": str(CALLER_PORTS[0])}
        subprocess.run(
            [str(run / "run.sh"), "--parallel", str(args.parallel), f"127.0.0.1:{SIP_PORT}"],
            cwd=run,
            env=env,
            check=False,
        )
        minutes = (time.monotonic() - started) / 60
        time.sleep(3)  # the last rows leave the outbox
        verify = subprocess.run(
            [FRONTDESK, "golive", "verify", str(run), "--database-url", lab.database_url],
            check=False,
        )
        clock = args.practice_time or "the real clock"
        print(
            f"lab-golive: {minutes:.1f} min at --parallel {args.parallel}, practice time "
            f"{clock}; logs in {workdir}"
        )
        return verify.returncode
    finally:
        lab.stop()
        asyncio.run(admin_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")


if __name__ == "__main__":
    sys.exit(main())
