"""`make bench-lab`: frontdesk and the bare ARI app, one after the other, on a real Asterisk.

    .venv/bin/python bench/lab_bench.py [--rates 5,10,20] [--seconds 30] [--agents 300]
        [--out bench/results/lab.json] [--budget-minutes 25]

Needs the lab's Asterisk 22 build (`FRONTDESK_LAB_PREFIX`, docs/real-asterisk.md), SIPp
and PostgreSQL on 127.0.0.1:5432; without the build it says it skipped and exits 0.

For each app (frontdesk, then bench/bare_ari.py): a fresh Asterisk on the lab's config
folder made from the bench plan (bench_plan.lab_plan: 300 agents in one 24/7 queue, a
main menu whose key 1 leads to it), every agent registered to one SIPp port that then
answers for all of them (rings 1.5 s, talks 2 s, hangs up), a timing proxy in front of
ARI (bench/ari_proxy.py), the app, then steps of SIPp callers at rising rates until a
step fails more than 1 % of its calls. See docs/bench.md ("bench-lab") for the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.request
import wave
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
import bench_plan  # noqa: E402
import stats  # noqa: E402
from lab.pbx import AMI_PORT, ARI_URL, CALLER_PORTS, FRONTDESK, Asterisk, lab_prefix  # noqa: E402
from lab.sipp import SIPP, answering_xml  # noqa: E402
from lab.sipp_load import (  # noqa: E402
    caller_load_xml,
    register_many_xml,
    register_rows,
    write_injection,
)

from frontdesk.golive.dtmf_pcap import write_key_pcaps  # noqa: E402

console = Console(width=120)
TICKS = os.sysconf("SC_CLK_TCK")
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "frontdesk_lab_bench"
CALLER_PORT = CALLER_PORTS[0]  # identified as the trunk (lab.pbx pjsip-local.conf)
AGENT_PORT = 5200  # every agent's contact; one SIPp answers for all of them
CALLER_MEDIA, AGENT_MEDIA = 40000, 30000  # SIPp media bases, away from Asterisk's RTP range
RING_MS, TALK_MS = 1500, 2000
KEY_MARGIN_MS = 1000  # the key comes this long after the menu prompt's end
BYE_WITHIN_MS = 15000  # after the key: queue + ring + talk; no BYE by then is a failure
FAILURE_LIMIT = 0.01  # a step is clean with at most 1 % of its calls failed
SHORT_MARGIN_MS = 300  # a call shorter than key + ring + talk minus this never talked
DESK_CALL_MAX_MS = TALK_MS + 1500  # ACK to BYE of a shed call the front desk took
GOALS = {
    "app_cpu_per_call": ("<=", 1.3),
    "asterisk_cpu_per_call": ("<=", 1.1),
    "ceiling_calls_per_s": (">=", 0.9),
    "first_play_p50_ms": ("<=", 5.0),
}


# -- processes ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), None once it is gone."""
    try:
        return stats.cpu_seconds(Path(f"/proc/{pid}/stat").read_text(), TICKS)
    except (OSError, IndexError, ValueError):
        return None


def tree_pids(pid: int) -> list[int]:
    """`pid` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine (every core) from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICKS


def other_asterisks() -> list[str]:
    """Running `asterisk -f -C ...` processes (another engineer's lab, say)."""
    done = subprocess.run(["pgrep", "-af", "asterisk -f"], capture_output=True, text=True)
    return [line for line in done.stdout.splitlines() if "asterisk -f -C" in line]


def wait_for_free_asterisk(limit_s: float) -> None:
    """Another Asterisk holds the lab's ports: wait (30 s polls), never touch it."""
    deadline = time.monotonic() + limit_s
    while running := other_asterisks():
        if time.monotonic() > deadline:
            raise RuntimeError(f"another Asterisk still runs after {limit_s:.0f} s: {running}")
        console.print(f"  another Asterisk is running ({running[0][:90]}); waiting 30 s")
        time.sleep(30)


class Proc:
    """A child process with its output in a file."""

    def __init__(self, argv: list[str], log: Path, *, env: dict[str, str] | None = None) -> None:
        self.log = log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu(self) -> float:
        return sum(proc_cpu(p) or 0.0 for p in tree_pids(self.pid))

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


def wait_until(probe: Any, what: str, timeout: float, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, ValueError):
            if probe():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def http_json(url: str, *, method: str = "GET", auth: str | None = None) -> Any:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if auth:
        request.add_header("Authorization", auth)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def basic_auth(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- Asterisk for the bench -----------------------------------------------------------------
class BenchAsterisk(Asterisk):
    """The lab's Asterisk (lab.pbx) for the bench plan: every staff member's password,
    `--max-calls` for the RTP range, its own astdb and run folder (so the lab's contacts
    and control socket are left alone), and quiet logs (notices and worse, verbose 0:
    Asterisk's verbose log at 40 calls/s would be part of what is measured)."""

    def __init__(
        self, prefix: Path, workdir: Path, plan: Path, staff: list[str], max_calls: int
    ) -> None:
        super().__init__(prefix, workdir, plan)
        self.max_calls = max_calls
        self._log_mark = 0
        self.private = workdir / "asterisk-var"
        letters = string.ascii_lowercase  # no digits: a password never holds its extension
        for ext in staff:
            self.secrets.phones[ext] = "bench" + "".join(secrets.choice(letters) for _ in range(16))

    def _generate(self) -> None:
        env = os.environ | {
            f"FRONTDESK_PHONE_PASSWORD_{ext}": password
            for ext, password in self.secrets.phones.items()
        }
        argv = [FRONTDESK, "asterisk-conf", str(self.plan), "--out", str(self.etc)]
        argv += ["--max-calls", str(self.max_calls)]
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"frontdesk asterisk-conf failed:\n{done.stdout}\n{done.stderr}")

    def configure(self) -> None:
        super().configure()
        (self.etc / "logger.conf").write_text(
            "[general]\n[logfiles]\nmessages.log => notice,warning,error\n"
        )
        # cdr_csv (autoloaded) writes a line per CDR there, as in an installed Asterisk;
        # without the folder it logs two error lines per CDR instead
        (self.logs / "cdr-csv").mkdir(parents=True, exist_ok=True)

    def log_problems(self) -> tuple[int, list[str]]:
        """WARNING and ERROR lines Asterisk logged since the last call: how many, and the
        most frequent messages (time and thread stripped)."""
        path = self.logs / "messages.log"
        if not path.exists():
            return 0, []
        with path.open("rb") as handle:
            handle.seek(self._log_mark)
            data = handle.read()
        self._log_mark += len(data)
        found: Counter[str] = Counter()
        for line in data.decode("utf-8", "replace").splitlines():
            if "WARNING[" in line or "ERROR[" in line:
                level, _, message = line.partition("]")[2].partition(" ")[2].partition(" ")
                found[f"{level.split('[')[0]} {message.strip()[:150]}"] += 1
        return sum(found.values()), [f"{n} x {m}" for m, n in found.most_common(3)]

    def _asterisk_conf(self) -> str:
        for sub in ("astdb", "run"):
            (self.private / sub).mkdir(parents=True, exist_ok=True)
        lines = []
        for line in super()._asterisk_conf().splitlines():
            if line.startswith("astdbdir"):
                line = f"astdbdir => {self.private / 'astdb'}"
            elif line.startswith("astrundir"):
                line = f"astrundir => {self.private / 'run'}"
            elif line.startswith("verbose"):
                line = "verbose = 0"
            lines.append(line)
        return "\n".join(lines) + "\n"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid  # unshare and sh exec into asterisk: the same process

    def channels(self) -> int | None:
        text = self.cli("core show channels count", check=False)
        for line in text.splitlines():
            if "active channel" in line:
                return int(line.split()[0])
        return None


# -- SIPp -----------------------------------------------------------------------------------
class LoadSipp:
    """One SIPp for many calls, statistics in a CSV (`-trace_stat`, every second)."""

    def __init__(
        self, name: str, workdir: Path, port: int, xml: str, extra: list[str], media: int
    ) -> None:
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        scenario = self.dir / "scenario.xml"
        scenario.write_text(xml)
        self.stat = self.dir / "stat.csv"
        argv = [SIPP, "127.0.0.1:5060", "-sf", str(scenario), "-i", "127.0.0.1"]
        argv += ["-p", str(port), "-mp", str(media), "-nostdin", "-aa"]
        argv += ["-trace_stat", "-stf", str(self.stat), "-fd", "1"]
        argv += ["-trace_err", "-error_file", str(self.dir / "errors.log")]
        argv += ["-max_recv_loops", "1000", "-l", "10000", *extra]
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LoadSipp:
        with (self.dir / "stdout.log").open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.dir,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        return self

    def wait(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def cpu(self) -> float:
        return 0.0 if self.proc is None else (proc_cpu(self.proc.pid) or 0.0)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)  # SIPp: dump the stats and quit
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def rows(self) -> list[dict[str, str]]:
        if not self.stat.exists():
            return []
        lines = self.stat.read_text(errors="replace").splitlines()
        if len(lines) < 2:
            return []
        head = lines[0].split(";")
        return [dict(zip(head, line.split(";"), strict=False)) for line in lines[1:]]

    def counters(self) -> dict[str, int]:
        rows = self.rows()
        last = rows[-1] if rows else {}
        names = ("SuccessfulCall(C)", "FailedCall(C)", "OutgoingCall(C)", "IncomingCall(C)")
        out = {n.removesuffix("(C)"): int(last.get(n, "0") or 0) for n in names}
        failures = {
            k.removesuffix("(C)"): int(v)
            for k, v in last.items()
            if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)" and v.isdigit()
        }
        out |= {k: v for k, v in failures.items() if v}
        return out

    def placed_per_s(self, calls: int) -> float | None:
        """Calls placed divided by the seconds until the last one was placed."""
        for row in self.rows():
            if int(row.get("OutgoingCall(C)", "0") or 0) >= calls:
                seconds = _elapsed(row.get("ElapsedTime(C)", ""))
                return round(calls / seconds, 1) if seconds else None
        return None

    def call_lengths_ms(self) -> list[float]:
        """Response-time counter 1 of each call (ACK -> BYE), from `-trace_rtt`."""
        values: list[float] = []
        for path in self.dir.glob("*_rtt.csv"):
            for line in path.read_text(errors="replace").splitlines()[1:]:
                parts = line.split(";")
                if len(parts) >= 3 and parts[2].strip() == "1":
                    values.append(float(parts[1]))
        return values


def _elapsed(text: str) -> float | None:
    parts = text.split(":")
    if len(parts) != 3:
        return None
    hours, minutes, seconds = parts
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


# -- PostgreSQL -----------------------------------------------------------------------------
async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _postgres_pids() -> list[int]:
    """Our database's backends and the cluster's WAL writer, checkpointer and background
    writer (which write what our backends commit; they serve every database)."""
    conn = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 OR backend_type IN "
            "('walwriter', 'checkpointer', 'background writer')",
            DB_NAME,
        )
    finally:
        await conn.close()
    return [int(r["pid"]) for r in rows]


def postgres_cpu() -> dict[int, float]:
    pids = asyncio.run(_postgres_pids())
    return {pid: cpu for pid in pids if (cpu := proc_cpu(pid)) is not None}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two samples by processes in either (a new one from zero)."""
    total = 0.0
    for pid in set(before) | set(after):
        end = after.get(pid, before.get(pid, 0.0))
        total += max(0.0, end - before.get(pid, 0.0))
    return total


# -- one app on the PBX ------------------------------------------------------------------------
@dataclass
class Setup:
    prefix: Path
    workdir: Path
    plan: Path
    staff: list[str]
    prompts: list[str]  # the menu's media, as frontdesk plays it
    key_after_ms: int
    max_calls: int
    dsn: str
    pcap: Path
    admission: str = "on"  # frontdesk's admission control (FRONTDESK_ADMISSION)
    keep_going: bool = False  # step on past an unclean step (the overload curve)


@dataclass
class AppRun:
    name: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    stopped_because: str | None = None
    setup: dict[str, Any] = field(default_factory=dict)

    @property
    def ceiling(self) -> int:
        clean = [s["rate"] for s in self.steps if s["clean"]]
        return max(clean) if clean else 0


class Bench:
    """Asterisk, the agents' SIPp, the proxy and one app; stepped load on them."""

    def __init__(self, setup: Setup, name: str) -> None:
        self.setup, self.name = setup, name
        self.dir = setup.workdir / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.pbx = BenchAsterisk(setup.prefix, self.dir, setup.plan, setup.staff, setup.max_calls)
        self.agents: LoadSipp | None = None
        self.proxy: Proc | None = None
        self.app: Proc | None = None
        self.proxy_url = self.control_url = ""
        self.rng = random.Random(7)
        self.log_mark = 0
        self.http_port: int | None = None  # frontdesk's /metrics (calls shed)

    # -- bring up -------------------------------------------------------------------------
    def start(self) -> None:
        self.pbx.configure()
        self.pbx.start()
        self.register_agents()
        self.agents = LoadSipp(
            "agents", self.dir, AGENT_PORT, answering_xml(RING_MS, TALK_MS), [], AGENT_MEDIA
        ).start()
        port, control = free_port(), free_port()
        self.proxy_url = f"http://127.0.0.1:{port}"
        self.control_url = f"http://127.0.0.1:{control}/_bench"
        upstream = ARI_URL.removeprefix("http://").removesuffix("/ari")
        self.proxy = Proc(
            [sys.executable, str(ROOT / "bench/ari_proxy.py"), "--listen", f"127.0.0.1:{port}",
             "--control", f"127.0.0.1:{control}", "--upstream", upstream],
            self.dir / "proxy.log",
        )  # fmt: skip
        wait_until(lambda: http_json(self.control_url + "/report"), "the ARI proxy", 20)
        self.start_app()
        auth = basic_auth("frontdesk", self.pbx.secrets.ari)
        wait_until(
            lambda: http_json(ARI_URL + "/applications/frontdesk", auth=auth), "the app's ARI", 60
        )

    def register_agents(self) -> None:
        rows = register_rows({ext: self.pbx.secrets.phones[ext] for ext in self.setup.staff})
        csv = write_injection(self.dir / "agents.csv", rows)
        reg = LoadSipp(
            "register", self.dir, AGENT_PORT, register_many_xml(),
            ["-inf", str(csv), "-m", str(len(rows)), "-r", "100", "-rp", "1000"], AGENT_MEDIA,
        ).start()  # fmt: skip
        code = reg.wait(60)
        done = reg.counters()
        if code != 0 or done.get("SuccessfulCall", 0) != len(rows):
            reg.stop()
            raise RuntimeError(f"agents did not all register ({done}); see {reg.dir}")

    def start_app(self) -> None:
        """The app under test, on the proxy (`self.app` at once: stopped whatever happens)."""
        ari = self.proxy_url + "/ari"
        if self.name == "bare":
            media = ",".join(f"sound:frontdesk/{p}" for p in self.setup.prompts)
            staff = self.setup.staff
            self.app = Proc(
                [sys.executable, str(ROOT / "bench/bare_ari.py"), "--url", ari,
                 "--password", self.pbx.secrets.ari, "--agents", f"{staff[0]}-{staff[-1]}",
                 "--keys", "1", "--prompt", media, "--moh", "default"],
                self.dir / "bare.log",
            )  # fmt: skip
            return
        self.http_port = free_port()
        # The machine's own FRONTDESK_* settings stay out, except the admission limits
        # (FRONTDESK_OVERLOAD_*, FRONTDESK_MAX_CHANNELS): set them to try other limits.
        tuning = ("FRONTDESK_OVERLOAD_", "FRONTDESK_MAX_CHANNELS")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("FRONTDESK_") or k.startswith(tuning)
        } | {
            "FRONTDESK_ADMISSION": self.setup.admission,
            "FRONTDESK_ARI_URL": ari,
            "FRONTDESK_ARI_PASSWORD": self.pbx.secrets.ari,
            "FRONTDESK_AMI_PORT": str(AMI_PORT),
            "FRONTDESK_AMI_SECRET": self.pbx.secrets.ami,
            "FRONTDESK_PLAN": str(self.setup.plan),
            "FRONTDESK_HTTP_PORT": str(self.http_port),
            "FRONTDESK_AGI_PORT": str(free_port()),
            "FRONTDESK_LOG_FORMAT": "json",
            "FRONTDESK_DATA_DIR": str(self.dir / "data"),
            "FRONTDESK_DATABASE_URL": self.setup.dsn,
        }
        self.app = app = Proc([FRONTDESK, "run"], self.dir / "frontdesk.log", env=env)

        def resynced() -> bool:
            if not app.alive():
                raise RuntimeError(f"frontdesk run exited; see {app.log}")
            return '"event": "calls.resynced"' in app.log.read_text(errors="replace")

        wait_until(resynced, "frontdesk to connect to ARI", 60)

    def stop(self) -> None:
        stops = [p.stop for p in (self.app, self.proxy, self.agents) if p is not None]
        for stop in [*stops, self.pbx.stop]:
            with contextlib.suppress(Exception):  # teardown goes on whatever one did
                stop()

    # -- measuring ------------------------------------------------------------------------
    def sample(self) -> dict[str, Any]:
        assert self.app is not None
        assert self.proxy is not None
        assert self.agents is not None
        shed = self.shed()
        return {
            "asterisk": proc_cpu(self.pbx.pid) or 0.0,
            "app": self.app.cpu(),
            "postgres": postgres_cpu(),
            "proxy": self.proxy.cpu(),
            "agents_sipp": self.agents.cpu(),
            "machine": machine_busy(),
            "agents": self.agents.counters(),
            "shed": sum(shed.values()),
            "shed_by_reason": shed,
        }

    def shed(self) -> dict[str, float]:
        """Calls frontdesk's admission control handed to the fallback so far, by reason
        (/metrics; `dialplan`: the dialplan shed them before Stasis)."""
        if self.http_port is None:
            return {}
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_port}/metrics", timeout=5
            ) as r:
                text = r.read().decode()
        except OSError:
            return {}
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("frontdesk_calls_shed_total{"):
                labels, value = line.rsplit(" ", 1)
                reason = labels.partition('reason="')[2].partition('"')[0]
                found[reason] = found.get(reason, 0.0) + float(value)
        return found

    def app_errors(self) -> list[str]:
        """Error lines the app logged since the last call (frontdesk's JSON logs)."""
        assert self.app is not None
        with self.app.log.open("rb") as handle:
            handle.seek(self.log_mark)
            data = handle.read()
        self.log_mark += len(data)
        bad = ('"level": "error"', '"level": "critical"', "Traceback")
        lines = data.decode("utf-8", "replace").splitlines()
        return [line[:300] for line in lines if any(b in line for b in bad)]

    def step(self, rate: int, seconds: float, label: str) -> dict[str, Any]:
        assert self.app is not None
        calls = max(1, round(rate * seconds))
        step_dir = self.dir / label
        callers = write_injection(
            self.dir / f"{label}-callers.csv",
            [(bench_plan.caller_number(self.rng),) for _ in range(calls)],
        )
        xml = caller_load_xml(
            bench_plan.MAIN_NUMBER, self.setup.pcap, self.setup.key_after_ms, BYE_WITHIN_MS
        )
        self.app_errors()
        self.pbx.log_problems()
        http_json(self.control_url + "/reset", method="POST")
        before = self.sample()
        sipp = LoadSipp(
            label, self.dir, CALLER_PORT, xml,
            ["-inf", str(callers), "-r", str(rate), "-rp", "1000", "-m", str(calls),
             "-trace_rtt", "-rtt_freq", "1"],
            CALLER_MEDIA,
        )  # fmt: skip
        began = time.monotonic()
        sipp.start()
        limit = seconds + (self.setup.key_after_ms + BYE_WITHIN_MS) / 1000 + 30
        code = sipp.wait(limit)
        timed_out = code is None
        if timed_out:
            sipp.stop()
        wall = time.monotonic() - began
        time.sleep(2.0)  # the agents' SIPp writes its counters every second
        after = self.sample()
        proxy = http_json(self.control_url + "/report")
        errors = self.app_errors()
        after["asterisk_log"] = self.pbx.log_problems()
        return self._result(
            rate, calls, seconds, sipp, before, after, proxy, errors, timed_out, wall, step_dir
        )

    def _result(
        self,
        rate: int,
        calls: int,
        seconds: float,
        sipp: LoadSipp,
        before: dict[str, Any],
        after: dict[str, Any],
        proxy: dict[str, Any],
        errors: list[str],
        timed_out: bool,
        wall: float,
        step_dir: Path,
    ) -> dict[str, Any]:
        counters = sipp.counters()
        succeeded, failed = counters.get("SuccessfulCall", 0), counters.get("FailedCall", 0)
        unfinished = max(0, calls - succeeded - failed)
        lengths = sipp.call_lengths_ms()
        shortest = self.setup.key_after_ms + RING_MS + TALK_MS - SHORT_MARGIN_MS
        # A shed call goes to the front desk's phones: answered, talked TALK_MS, no menu.
        desk = [v for v in lengths if TALK_MS - SHORT_MARGIN_MS <= v < DESK_CALL_MAX_MS]
        shed = round(after["shed"] - before["shed"])
        by_reason = {
            reason: round(count - before["shed_by_reason"].get(reason, 0.0))
            for reason, count in after["shed_by_reason"].items()
        }
        fallback = min(len(desk), shed)  # desk-length calls are shed ones only if shed
        short = sum(1 for v in lengths if v < shortest) - fallback
        answered = after["agents"].get("SuccessfulCall", 0) - before["agents"].get(
            "SuccessfulCall", 0
        )
        agent_failed = after["agents"].get("FailedCall", 0) - before["agents"].get("FailedCall", 0)
        # a caller's BYE with no agent call (a desk phone answering a shed call is one)
        unmatched = max(0, succeeded - short - answered)
        failures = failed + unfinished + short + unmatched
        admitted = calls - shed
        placed = sipp.placed_per_s(calls)
        ratio = failures / calls
        reason = None
        if ratio > FAILURE_LIMIT:
            reason = f"{failures} of {calls} calls failed ({ratio:.1%})"
        elif shed > FAILURE_LIMIT * calls:
            reason = f"{shed} of {calls} calls shed to the fallback (overload)"
        elif placed is not None and placed < 0.9 * rate:
            reason = f"SIPp placed only {placed} calls/s"
        elif timed_out:
            reason = "SIPp did not finish in time"

        def per_call(seconds_used: float) -> float:
            return round(seconds_used * 1000 / calls, 3)

        asterisk = after["asterisk"] - before["asterisk"]
        app = after["app"] - before["app"]
        postgres = cpu_delta(before["postgres"], after["postgres"])
        proxy_cpu = after["proxy"] - before["proxy"]
        sipp_cpu = sipp.cpu() + after["agents_sipp"] - before["agents_sipp"]
        machine = after["machine"] - before["machine"]
        first, key = proxy["first_play_ms"], proxy["key_next_ms"]

        def q(values: list[float], p: float) -> float | None:
            value = stats.percentile(values, p)
            return None if value is None else round(value, 3)

        return {
            "rate": rate,
            "calls": calls,
            "seconds": seconds,
            "placed_per_s": placed,
            "wall_s": round(wall, 1),
            "succeeded": succeeded,
            "failed": failed,
            "unfinished": unfinished,
            "short_calls": short,
            "agent_calls": answered,
            "agent_calls_failed": agent_failed,
            "unmatched": unmatched,
            "failures": failures,
            "failure_ratio": round(ratio, 4),
            "shed": shed,  # admission control: straight to the dialplan's fallback
            "shed_at_front_desk": fallback,  # of those, answered at a front desk phone
            "shed_by_reason": {k: v for k, v in by_reason.items() if v},
            "admitted": admitted,
            "admitted_failure_ratio": round(failures / admitted, 4) if admitted else None,
            "clean": reason is None,
            "reason": reason,
            "sipp_failures": {k: v for k, v in counters.items() if k.startswith("Failed")},
            "cpu_ms_per_call": {
                "asterisk": per_call(asterisk),
                "app": per_call(app),
                "postgres": per_call(postgres),
                "proxy": per_call(proxy_cpu),
                "sipp": per_call(sipp_cpu),
                "machine": per_call(machine),
                "unaccounted": per_call(machine - asterisk - app - postgres - proxy_cpu - sipp_cpu),
            },
            "first_play_ms": {"p50": q(first, 50), "p99": q(first, 99), "n": len(first)},
            "key_next_ms": {"p50": q(key, 50), "p99": q(key, 99), "n": len(key)},
            "call_length_ms": {"p50": q(lengths, 50), "p99": q(lengths, 99), "n": len(lengths)},
            "ari_requests_per_call": round(proxy["requests"] / calls, 2),
            "ari_events_per_call": round(proxy["events"] / calls, 2),
            "ari_requests": {k: round(v / calls, 2) for k, v in proxy["by_request"].items()},
            "ari_events": {k: round(v / calls, 2) for k, v in proxy["by_event"].items()},
            "ari_statuses": proxy["statuses"],
            "ari_upstream_errors": proxy["upstream_errors"],
            "app_error_lines": len(errors),
            "app_error_samples": errors[:3],
            "asterisk_log_problems": after["asterisk_log"][0],
            "asterisk_log_samples": after["asterisk_log"][1],
            "channels_left": self.pbx.channels(),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            "sipp_dir": str(step_dir),
        }


def run_app(setup: Setup, name: str, rates: list[int], seconds: float, budget_s: float) -> AppRun:
    run = AppRun(name)
    console.print(f"[bold]{name}[/]: waiting for the lab's ports, then Asterisk")
    wait_for_free_asterisk(3600)
    bench = Bench(setup, name)
    deadline = time.monotonic() + budget_s
    try:
        bench.start()
        version = bench.pbx.cli("core show version", check=False).strip()
        run.setup = {"asterisk": version, "workdir": str(bench.dir)}
        warm = bench.step(2, 5, "warmup")
        run.setup["warmup"] = {k: warm[k] for k in ("calls", "succeeded", "failures", "reason")}
        if warm["failures"] > 1:
            run.stopped_because = f"warm-up failed: {warm['reason']} (see {bench.dir})"
            console.print(f"  [red]{run.stopped_because}[/]")
            return run
        time.sleep(2)
        estimate = seconds + (setup.key_after_ms + RING_MS + TALK_MS) / 1000 + 12
        for rate in rates:
            if time.monotonic() + estimate > deadline:
                run.stopped_because = f"time budget: no room for the {rate} calls/s step"
                break
            result = bench.step(rate, seconds, f"step-{rate:03d}")
            run.steps.append(result)
            print_step(result)
            if not result["clean"] and not setup.keep_going:
                run.stopped_because = result["reason"]
                break
            time.sleep(3)
        else:
            run.stopped_because = (
                "every rate step ran (--keep-going)"
                if setup.keep_going
                else "the last rate step was clean: the ceiling is at least that"
            )
    except Exception as exc:  # report what was measured, and why it stopped
        run.stopped_because = f"{type(exc).__name__}: {exc}"
        console.print(f"  [red]{run.stopped_because}[/]")
    finally:
        bench.stop()
    return run


def print_step(s: dict[str, Any]) -> None:
    cpu = s["cpu_ms_per_call"]
    mark = "[green]clean[/]" if s["clean"] else f"[red]{s['reason']}[/]"
    console.print(
        f"  {s['rate']:>3} calls/s: {s['succeeded']}/{s['calls']} ok, {s['failures']} failed, "
        f"{s.get('shed', 0)} shed {s.get('shed_by_reason') or ''} "
        f"({s.get('shed_at_front_desk', 0)} at the front desk); "
        f"CPU ms/call asterisk {cpu['asterisk']} app {cpu['app']} pg {cpu['postgres']}; "
        f"first play p50 {s['first_play_ms']['p50']} ms p99 {s['first_play_ms']['p99']} ms; "
        f"key->next p99 {s['key_next_ms']['p99']} ms; {s['ari_requests_per_call']} req/call; "
        + mark
    )


# -- the report -----------------------------------------------------------------------------
def compare(fd: AppRun, bare: AppRun) -> dict[str, Any]:
    """Both apps' figures at the highest rate both ran clean, the ratios, the goals."""
    common = sorted(
        {s["rate"] for s in fd.steps if s["clean"]} & {s["rate"] for s in bare.steps if s["clean"]}
    )
    at = common[-1] if common else None

    def figures(run: AppRun) -> dict[str, Any]:
        step = next((s for s in run.steps if s["rate"] == at), None)
        out: dict[str, Any] = {"ceiling_calls_per_s": run.ceiling}
        light = next((s for s in run.steps if s["clean"]), None)  # the lightest load
        if light is not None:
            out["light_calls_per_s"] = light["rate"]
            out["first_play_p50_ms_light"] = light["first_play_ms"]["p50"]
        if step is None:
            return out
        cpu = step["cpu_ms_per_call"]
        return out | {
            "asterisk_cpu_ms_per_call": cpu["asterisk"],
            "app_cpu_ms_per_call": cpu["app"],
            "postgres_cpu_ms_per_call": cpu["postgres"],
            "first_play_p50_ms": step["first_play_ms"]["p50"],
            "first_play_p99_ms": step["first_play_ms"]["p99"],
            "key_next_p99_ms": step["key_next_ms"]["p99"],
            "ari_requests_per_call": step["ari_requests_per_call"],
        }

    mine, theirs = figures(fd), figures(bare)

    def ratio(key: str) -> float | None:
        a, b = mine.get(key), theirs.get(key)
        return None if a is None or not b else round(a / b, 3)

    ratios = {
        "app_cpu_per_call": ratio("app_cpu_ms_per_call"),
        "asterisk_cpu_per_call": ratio("asterisk_cpu_ms_per_call"),
        "ceiling_calls_per_s": ratio("ceiling_calls_per_s"),
        "ari_requests_per_call": ratio("ari_requests_per_call"),
    }
    values = ratios | {"first_play_p50_ms": mine.get("first_play_p50_ms")}
    goals = {}
    for name, (op, limit) in GOALS.items():
        value = values.get(name)
        met = None if value is None else (value <= limit if op == "<=" else value >= limit)
        goals[name] = {"value": value, "goal": f"{op} {limit}", "met": met}
    return {
        "compared_at_calls_per_s": at,
        "frontdesk": mine,
        "bare": theirs,
        "ratio_frontdesk_to_bare": ratios,
        "goals": goals,
    }


def show(report: dict[str, Any]) -> None:
    s = report["summary"]
    fd, bare, ratios, goals = s["frontdesk"], s["bare"], s["ratio_frontdesk_to_bare"], s["goals"]
    table = Table(
        title=f"frontdesk vs the bare ARI app on Asterisk {report['asterisk_version']}, "
        f"{report['cpus']} CPUs ({report['cpu_model']}); per-call figures at "
        f"{s['compared_at_calls_per_s']} calls/s"
    )
    for column in ("figure", "frontdesk", "bare app", "frontdesk / bare", "goal", "met"):
        table.add_column(column, justify="left" if column == "figure" else "right")

    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    def verdict(name: str | None) -> tuple[str, str]:
        if name is None:
            return "", ""
        goal = goals[name]
        met = goal["met"]
        return goal["goal"], {True: "[green]yes[/]", False: "[red]NO[/]", None: "?"}[met]

    rows: list[tuple[str, str, str | None, str | None]] = [
        ("ceiling (calls/s)", "ceiling_calls_per_s", "ceiling_calls_per_s", "ceiling_calls_per_s"),
        ("Asterisk CPU per call (ms)", "asterisk_cpu_ms_per_call", "asterisk_cpu_per_call",
         "asterisk_cpu_per_call"),
        ("app CPU per call (ms)", "app_cpu_ms_per_call", "app_cpu_per_call", "app_cpu_per_call"),
        ("PostgreSQL CPU per call (ms)", "postgres_cpu_ms_per_call", None, None),
        ("StasisStart -> first play p50 (ms)", "first_play_p50_ms", None, "first_play_p50_ms"),
        (f"  the same at {fd.get('light_calls_per_s')} calls/s", "first_play_p50_ms_light",
         None, None),
        ("StasisStart -> first play p99 (ms)", "first_play_p99_ms", None, None),
        ("key -> next command p99 (ms)", "key_next_p99_ms", None, None),
        ("ARI requests per call", "ari_requests_per_call", "ari_requests_per_call", None),
    ]  # fmt: skip
    for label, key, ratio_key, goal_name in rows:
        goal, met = verdict(goal_name)
        table.add_row(
            label,
            cell(fd.get(key)),
            cell(bare.get(key)),
            cell(ratios.get(ratio_key)) if ratio_key else "",
            goal,
            met,
        )
    console.print(table)
    console.print(steps_table("frontdesk", report["frontdesk"]["steps"]))
    for name in ("frontdesk", "bare"):
        console.print(f"{name}: stopped: {report[name]['stopped_because']}")
    missed = [n for n, g in goals.items() if g["met"] is False]
    if missed:
        console.print(f"[red]goals missed:[/] {', '.join(missed)}")


def steps_table(name: str, steps: list[dict[str, Any]]) -> Table:
    """Every step of one app: how it degrades as the rate rises (admission control sheds
    to the fallback instead of failing the calls it took)."""
    table = Table(title=f"{name}, step by step", title_justify="left")
    columns = ("calls/s", "calls", "failed", "shed", "shed at desk", "admitted failed",
               "Asterisk ms/call", "app ms/call", "key->next p99 ms", "clean")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    for s in steps:
        ratio = s.get("admitted_failure_ratio")
        table.add_row(
            str(s["rate"]), str(s["calls"]), str(s["failures"]), str(s.get("shed", 0)),
            str(s.get("shed_at_front_desk", 0)),
            "-" if ratio is None else f"{ratio:.1%}",
            str(s["cpu_ms_per_call"]["asterisk"]), str(s["cpu_ms_per_call"]["app"]),
            str(s["key_next_ms"]["p99"]), "yes" if s["clean"] else "no",
        )  # fmt: skip
    return table


# -- the run --------------------------------------------------------------------------------
def menu_prompts(plan: dict[str, Any]) -> list[str]:
    """What frontdesk plays as the main menu (routing.ivr.Ivr.menu_prompts)."""
    return [f"menu-{key}" for key in plan["menu"]["options"]] + ["menu-operator"]


def seconds_of(prefix: Path, prompts: list[str]) -> float:
    total = 0.0
    for name in prompts:
        with wave.open(str(prefix / f"var/lib/asterisk/sounds/en/frontdesk/{name}.wav")) as w:
            total += w.getnframes() / w.getframerate()
    return total


def run(args: argparse.Namespace, prefix: Path) -> dict[str, Any]:
    rates = [int(r) for r in args.rates.split(",")]
    began = time.monotonic()
    workdir = args.workdir
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    plan_path = workdir / "lab-bench-plan.yaml"
    staff = bench_plan.write_lab_plan(plan_path, args.agents)
    plan = bench_plan.lab_plan(args.agents)
    prompts = menu_prompts(plan)
    # The prompts where Asterisk looks for them (the lab renders into the same folder)
    Asterisk(prefix, workdir, plan_path).render_prompts()
    prompt_s = seconds_of(prefix, prompts)
    key_after_ms = round(prompt_s * 1000) + KEY_MARGIN_MS
    (pcap,) = write_key_pcaps([bench_plan.LAB_KEY], workdir / "key", gaps=[key_after_ms / 1000])
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))
    asyncio.run(_admin(f"CREATE DATABASE {DB_NAME}"))
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{DB_NAME}"
    setup = Setup(
        prefix, workdir, plan_path, staff, prompts, key_after_ms, args.max_calls, dsn, pcap,
        args.admission, args.keep_going,
    )  # fmt: skip
    apps = [a.strip() for a in args.apps.split(",") if a.strip()]
    per_app = (args.budget_minutes * 60 - (time.monotonic() - began) - 60) / len(apps)
    fd, bare = AppRun("frontdesk"), AppRun("bare")
    try:
        if "frontdesk" in apps:
            fd = run_app(setup, "frontdesk", rates, args.seconds, per_app)
        if "bare" in apps:
            bare = run_app(setup, "bare", rates, args.seconds, per_app)
    finally:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"))
    version = fd.setup.get("asterisk") or bare.setup.get("asterisk") or "unknown"
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_model": stats.cpu_model(Path("/proc/cpuinfo").read_text()),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "asterisk_version": version.removeprefix("Asterisk ").split(" ")[0],
        "sipp": _sipp_version(),
        "settings": {
            "rates": rates,
            "step_seconds": args.seconds,
            "agents": args.agents,
            "journey": (
                "answer, menu prompt (menu-1 + menu-operator), key 1 after the prompt, "
                "queue (holding bridge, music on hold), an agent rings 1.5 s, answers, talks "
                "2 s and hangs up; the caller accepts the BYE"
            ),
            "prompt_s": round(prompt_s, 3),
            "key_after_ms": key_after_ms,
            "ring_ms": RING_MS,
            "talk_ms": TALK_MS,
            "bye_within_ms": BYE_WITHIN_MS,
            "failure_limit": FAILURE_LIMIT,
            "max_calls": args.max_calls,
            "apps": apps,
            "admission": args.admission,
            "keep_going": args.keep_going,
            "minutes": round((time.monotonic() - began) / 60, 1),
        },
        "frontdesk": {
            "steps": fd.steps,
            "ceiling": fd.ceiling,
            "stopped_because": fd.stopped_because,
            "setup": fd.setup,
        },
        "bare": {
            "steps": bare.steps,
            "ceiling": bare.ceiling,
            "stopped_because": bare.stopped_because,
            "setup": bare.setup,
        },
    }
    report["summary"] = compare(fd, bare)
    return report


def _sipp_version() -> str:
    done = subprocess.run([SIPP, "-v"], capture_output=True, text=True)
    for line in (done.stdout + done.stderr).splitlines():
        if "SIPp v" in line:
            return line.strip()
    return "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="frontdesk vs a bare ARI app on a real Asterisk")
    parser.add_argument(
        "--rates", default="5,10,15,20,25,30,35,40,45,50,55,60,70,80", help="calls/s steps"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of calls per step")
    parser.add_argument("--agents", type=int, default=300, help="staff in the bench plan")
    parser.add_argument("--max-calls", type=int, default=1500, help="asterisk-conf --max-calls")
    parser.add_argument("--budget-minutes", type=float, default=25.0, help="the whole run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/lab.json")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/frontdesk-bench-lab"))
    parser.add_argument("--apps", default="frontdesk,bare", help="which apps, in order")
    parser.add_argument(
        "--admission", choices=("on", "off"), default="on", help="frontdesk's admission control"
    )
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="step on past an unclean step (how it degrades past the ceiling)",
    )
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    prefix = lab_prefix()
    if prefix is None:
        print(
            "bench-lab: skipped: no Asterisk build (set FRONTDESK_LAB_PREFIX to the prefix\n"
            "  shared/asterisk/real/build.sh installed into; see docs/real-asterisk.md)"
        )
        return 0
    if shutil.which(SIPP) is None:
        print("bench-lab: skipped: no SIPp (`sipp` is not on PATH)")
        return 0
    report = run(args, prefix)
    show(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"written: {args.out}; logs and SIPp files in {args.workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
