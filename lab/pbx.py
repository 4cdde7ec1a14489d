"""A real Asterisk 22 for the lab tier: a config folder made from the build's samples and
the project's own files, started and stopped around the tests.

The build lives outside the repository (`FRONTDESK_LAB_PREFIX`, made by
`shared/asterisk/real/build.sh`); nothing of Asterisk is copied into the project. The
config folder is made anew for each run: the samples (`PREFIX/share/samples`), then the
project's `asterisk-conf/` and `dialplan/`, then `frontdesk asterisk-conf` for the plan,
then the lab's own additions (secrets it generates, extra trunk ports for callers placed
side by side, an `asterisk.conf` pointing at PREFIX).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRONTDESK = str(Path(sys.executable).with_name("frontdesk"))
TRUNK_PORT = 5070  # the PSTN far end: externals and callbacks are dialled here
CALLER_PORTS = range(5071, 5091)  # trunk callers, one port per call in flight
PHONE_PORTS = {
    ext: 5100 + i for i, ext in enumerate(("2001", "2002", "2003", "2004", "2005", "2006"), 1)
}
SIP_PORT = 5060
ARI_URL = "http://127.0.0.1:8088/ari"
AMI_PORT = 5038

_DIRECTORIES = (
    ("astmoddir", "lib/asterisk/modules"),
    ("astvarlibdir", "var/lib/asterisk"),
    ("astdbdir", "var/lib/asterisk"),
    ("astkeydir", "var/lib/asterisk"),
    ("astdatadir", "var/lib/asterisk"),
    ("astagidir", "var/lib/asterisk/agi-bin"),
    ("astspooldir", "var/spool/asterisk"),
    ("astrundir", "var/run/asterisk"),
    ("astcachedir", "var/cache/asterisk"),
    ("astsbindir", "sbin"),
)


def lab_prefix() -> Path | None:
    """The build's install prefix, or None when this machine has no lab."""
    value = os.environ.get("FRONTDESK_LAB_PREFIX")
    if not value:
        return None
    prefix = Path(value)
    return prefix if (prefix / "sbin/asterisk").exists() else None


@dataclass
class Secrets:
    ari: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    ami: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    lab_ami: str = field(default_factory=lambda: secrets.token_urlsafe(18))  # the tests' own
    phones: dict[str, str] = field(default_factory=dict)


class Asterisk:
    """One real Asterisk on a config folder of its own (`etc`)."""

    def __init__(self, prefix: Path, workdir: Path, plan: Path) -> None:
        self.prefix, self.plan = prefix, plan
        self.etc = workdir / "etc"
        self.secrets = Secrets()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def binary(self) -> str:
        return str(self.prefix / "sbin/asterisk")

    @property
    def sounds(self) -> Path:
        return self.prefix / "var/lib/asterisk/sounds"

    @property
    def logs(self) -> Path:
        """This run's logs (`messages.log`: with `ari set debug`, what the app received)."""
        return self.etc.parent / "asterisk-log"

    @property
    def spool(self) -> Path:
        return self.prefix / "var/spool/asterisk"

    # -- the config folder ---------------------------------------------------------------
    def configure(self) -> None:
        if self.etc.exists():
            shutil.rmtree(self.etc)
        self.etc.mkdir(parents=True)
        for sample in (self.prefix / "share/samples").glob("*.conf.sample"):
            shutil.copy(sample, self.etc / sample.name.removesuffix(".sample"))
        for conf in (ROOT / "asterisk-conf").glob("*.conf"):
            shutil.copy(conf, self.etc / conf.name)
        shutil.copy(ROOT / "dialplan/extensions.conf", self.etc / "extensions.conf")
        self._generate()
        self._write_secrets()
        (self.etc / "pjsip-local.conf").write_text(_caller_identify())
        with (self.etc / "manager.conf").open("a") as manager:
            manager.write(
                f"\n[lab]\nsecret = {self.secrets.lab_ami}\ndeny = 0.0.0.0/0.0.0.0\n"
                "permit = 127.0.0.1/255.255.255.255\nread = all\nwrite = system\n"
            )
        (self.etc / "asterisk.conf").write_text(self._asterisk_conf())
        # The samples' logger.conf writes full logs; the lab keeps a `messages` file only.
        (self.etc / "logger.conf").write_text(
            "[general]\n[logfiles]\nmessages.log => notice,warning,error,verbose(3)\n"
        )

    def _generate(self) -> None:
        env = os.environ | {
            f"FRONTDESK_PHONE_PASSWORD_{ext}": self._phone_password(ext) for ext in PHONE_PORTS
        }
        _run([FRONTDESK, "asterisk-conf", str(self.plan), "--out", str(self.etc)], env)

    def _phone_password(self, ext: str) -> str:
        return self.secrets.phones.setdefault(ext, f"lab{secrets.token_hex(8)}")

    def _write_secrets(self) -> None:
        (self.etc / "ari-secrets.conf").write_text(f"password = {self.secrets.ari}\n")
        (self.etc / "manager-secrets.conf").write_text(f"secret = {self.secrets.ami}\n")
        for name in ("ari-secrets.conf", "manager-secrets.conf"):
            (self.etc / name).chmod(0o600)

    def _asterisk_conf(self) -> str:
        lines = ["[directories]", f"astetcdir => {self.etc}", f"astlogdir => {self.logs}"]
        lines += [f"{key} => {self.prefix / sub}" for key, sub in _DIRECTORIES]
        lines += ["", "[options]", "verbose = 3", "hideconnect = yes", *self._box_limits(), ""]
        return "\n".join(lines)

    def _box_limits(self) -> list[str]:
        """`maxcalls` from the generated frontdesk-options.conf. Not `maxload`: on a shared
        development machine the load average is other people's tests as much as ours."""
        options = self.etc / "frontdesk-options.conf"
        text = options.read_text() if options.exists() else ""
        return [line for line in text.splitlines() if line.startswith("maxcalls =")]

    def render_prompts(self) -> None:
        """The plan's prompts where Asterisk looks for them (kept between runs)."""
        _run([FRONTDESK, "prompts", str(self.plan), "--out", str(self.sounds)], dict(os.environ))

    # -- the process ---------------------------------------------------------------------------
    def start(self, timeout: float = 40.0) -> None:
        """Start in a private mount namespace whose resolv.conf names no DNS server (an
        Asterisk started plainly queries the machine's resolver)."""
        for sub in ("var/run/asterisk", "var/spool/asterisk"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        resolv = self.etc / ".resolv.conf"
        resolv.write_text("options timeout:1 attempts:1\n")
        conf = self.etc / "asterisk.conf"
        script = f"mount --bind '{resolv}' /etc/resolv.conf && exec '{self.binary}' -f -C '{conf}'"
        with (self.etc / "asterisk.out").open("ab") as out:
            self.proc = subprocess.Popen(
                ["unshare", "-m", "sh", "-c", script], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "fully booted" in self.cli("core waitfullybooted", check=False):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"asterisk exited at start:\n{self.output()[-3000:]}")
            time.sleep(0.5)
        raise RuntimeError(f"asterisk not booted in {timeout} s:\n{self.output()[-3000:]}")

    def cli(self, command: str, *, check: bool = True) -> str:
        conf = str(self.etc / "asterisk.conf")
        done = subprocess.run(
            [self.binary, "-C", conf, "-rx", command], capture_output=True, text=True, timeout=20
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"asterisk -rx {command!r}: {done.stderr or done.stdout}")
        return done.stdout

    def output(self) -> str:
        path = self.etc / "asterisk.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.cli("core stop now", check=False)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _caller_identify() -> str:
    """The trunk, also from the lab's caller ports (on loopback every SIPp shares the IP)."""
    lines = ["; lab: trunk callers placed side by side, one source port each"]
    for port in CALLER_PORTS:
        lines += [
            f"[trunk-lab-{port}]",
            "type = identify",
            "endpoint = trunk",
            f"match = 127.0.0.1:{port}",
            "",
        ]
    return "\n".join(lines)


def _run(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
