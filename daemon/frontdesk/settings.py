"""Daemon settings from the environment (secrets never come from the repository)."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEV_SECRET = "secret"  # the emulator's default; only ever used with it, on loopback
MIN_API_TOKEN = 32  # characters: `python -c "import secrets; print(secrets.token_urlsafe(32))"`
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
WILDCARD_HOSTS = ("", "0.0.0.0", "::", "*")


def bundled_plan() -> Path:
    return Path(str(resources.files("frontdesk") / "examples" / "lakeside.yaml"))


def bundled_directory() -> Path:
    return Path(str(resources.files("frontdesk") / "examples" / "directory.csv"))


@dataclass(frozen=True)
class Settings:
    plan: Path
    directory: Path | None
    ari_url: str | None  # None: run the embedded emulator (the demo)
    ari_user: str
    ari_password: str
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    app: str = "frontdesk"
    # This frontdesk's site (FRONTDESK_SITE; docs/scale.md "Several sites"); None: the
    # plan's `practice.site`, else `main`.
    site: str | None = None
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    log_format: str = "json"
    acd: bool = True  # frontdesk's own ACD; off: queue routes go back to the dialplan
    agents_start: str = "all"  # who is logged in at start: all | none
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    api_token: str | None = None
    # Host names the dashboard answers to (FRONTDESK_ALLOWED_HOSTS); None: the default
    # (`hosts`: the bind address, localhost, 127.0.0.1 and ::1).
    allowed_hosts: tuple[str, ...] | None = None
    database_url: str | None = None  # None: a private PostgreSQL under `data_dir`
    # The dashboard's address as staff reach it (FRONTDESK_PUBLIC_URL): the active daemon
    # advertises it, a standby's dashboard redirects there (docs/scale.md).
    public_url: str | None = None
    data_dir: Path = Path(".frontdesk")
    webhook_url: str | None = None  # each finished call is POSTed here, HMAC-signed
    webhook_secret: str | None = None
    fhir_url: str | None = None  # caller lookup in the EHR over FHIR R4 (optional)
    fhir_token: str | None = None
    session_idle_minutes: float = 15.0  # dashboard sessions end after this long unused
    cookie_secure: bool | None = None  # None: Secure cookies when the request came over HTTPS
    golive: bool = False  # go-live testing: declared test callers may carry a routing time
    demo_callers: bool = True  # the demo's synthetic callers (off: place calls yourself)
    # Testing only (`make lab`): the practice clock starts at this practice-local time and
    # flows from there, so business hours and after hours can be tested at any hour.
    practice_time: datetime | None = None
    # The PBX's own time zone (FRONTDESK_PBX_TIMEZONE): what a Cdr's zone-less times mean.
    # None: learned from Asterisk at each AMI connect (asterisk/pbx_clock.py).
    pbx_timezone: ZoneInfo | None = None
    # Admission control (calls/admission.py, docs/scale.md "Overload"): past these, new
    # calls go straight to the dialplan's fallback. FRONTDESK_ADMISSION=off disables it.
    admission: bool = True
    max_channels: int = 650  # FRONTDESK_MAX_CHANNELS
    overload_loop_lag_ms: float = 250.0  # FRONTDESK_OVERLOAD_LOOP_LAG_MS
    overload_event_delay_ms: float = 1000.0  # FRONTDESK_OVERLOAD_EVENT_DELAY_MS
    overload_ari_latency_ms: float = 500.0  # FRONTDESK_OVERLOAD_ARI_LATENCY_MS
    overload_ari_backlog: int = 64  # FRONTDESK_OVERLOAD_ARI_BACKLOG

    @property
    def demo(self) -> bool:
        return self.ari_url is None

    @property
    def hosts(self) -> tuple[str, ...]:
        """The Host allow-list: FRONTDESK_ALLOWED_HOSTS, else the bind address (or, bound
        to every interface, this machine's name) and the loopback names."""
        if self.allowed_hosts is not None:
            return self.allowed_hosts
        bound = self.http_host.strip().strip("[]").lower()
        extra = (socket.gethostname().lower(),) if bound in WILDCARD_HOSTS else (bound,)
        return tuple(dict.fromkeys((*extra, *LOOPBACK_HOSTS)))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        ari_url = env.get("FRONTDESK_ARI_URL") or None
        directory = env.get("FRONTDESK_DIRECTORY")
        return cls(
            plan=Path(env.get("FRONTDESK_PLAN") or bundled_plan()),
            directory=Path(directory)
            if directory
            else (bundled_directory() if ari_url is None else None),
            ari_url=ari_url,
            ari_user=env.get("FRONTDESK_ARI_USER", "frontdesk"),
            ari_password=env.get("FRONTDESK_ARI_PASSWORD", DEV_SECRET if ari_url is None else ""),
            ami_host=env.get("FRONTDESK_AMI_HOST", "127.0.0.1"),
            ami_port=int(env.get("FRONTDESK_AMI_PORT", "5038")),
            ami_user=env.get("FRONTDESK_AMI_USER", "frontdesk"),
            ami_secret=env.get("FRONTDESK_AMI_SECRET", DEV_SECRET if ari_url is None else ""),
            app=env.get("FRONTDESK_APP", "frontdesk"),
            site=_site(env.get("FRONTDESK_SITE") or None),
            agi_host=env.get("FRONTDESK_AGI_HOST", "127.0.0.1"),
            agi_port=int(env.get("FRONTDESK_AGI_PORT", "4573")),
            log_format=env.get("FRONTDESK_LOG_FORMAT", "console" if ari_url is None else "json"),
            acd=env.get("FRONTDESK_ACD", "on").lower() not in ("off", "0", "no", "false"),
            agents_start=env.get("FRONTDESK_AGENTS_START", "all"),
            http_host=env.get("FRONTDESK_HTTP_HOST", "127.0.0.1"),
            http_port=int(env.get("FRONTDESK_HTTP_PORT", "8080")),
            api_token=_api_token(env.get("FRONTDESK_API_TOKEN") or None),
            allowed_hosts=_host_list(env.get("FRONTDESK_ALLOWED_HOSTS") or None),
            database_url=env.get("FRONTDESK_DATABASE_URL") or None,
            public_url=_public_url(env.get("FRONTDESK_PUBLIC_URL") or None),
            data_dir=Path(env.get("FRONTDESK_DATA_DIR") or ".frontdesk").absolute(),
            webhook_url=env.get("FRONTDESK_WEBHOOK_URL") or None,
            webhook_secret=env.get("FRONTDESK_WEBHOOK_SECRET") or None,
            fhir_url=env.get("FRONTDESK_FHIR_URL") or None,
            fhir_token=env.get("FRONTDESK_FHIR_TOKEN") or None,
            session_idle_minutes=float(env.get("FRONTDESK_SESSION_IDLE_MINUTES") or "15"),
            cookie_secure=_on_off_auto(env.get("FRONTDESK_COOKIE_SECURE") or "auto"),
            golive=env.get("FRONTDESK_GOLIVE", "off").lower() in ("on", "1", "yes", "true"),
            demo_callers=env.get("FRONTDESK_DEMO_CALLERS", "on").lower()
            not in ("off", "0", "no", "false"),
            practice_time=_practice_time(env.get("FRONTDESK_PRACTICE_TIME") or None),
            pbx_timezone=_pbx_timezone(env.get("FRONTDESK_PBX_TIMEZONE") or None),
            admission=env.get("FRONTDESK_ADMISSION", "on").lower()
            not in ("off", "0", "no", "false"),
            max_channels=_positive(env, "FRONTDESK_MAX_CHANNELS", 650),
            overload_loop_lag_ms=_positive(env, "FRONTDESK_OVERLOAD_LOOP_LAG_MS", 250),
            overload_event_delay_ms=_positive(env, "FRONTDESK_OVERLOAD_EVENT_DELAY_MS", 1000),
            overload_ari_latency_ms=_positive(env, "FRONTDESK_OVERLOAD_ARI_LATENCY_MS", 500),
            overload_ari_backlog=_positive(env, "FRONTDESK_OVERLOAD_ARI_BACKLOG", 64),
        )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number above 0 from the environment, else `default`; a clear error otherwise."""
    raw = env.get(name) or ""
    if not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be 1 or more, not {value}")
    return value


# A site's name: it goes into rows, a lock name and Asterisk's systemname (uniqueids).
SITE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def _site(value: str | None) -> str | None:
    """FRONTDESK_SITE: lower-case letters, digits, `-` and `_`, at most 32 characters."""
    if value is None or not value.strip():
        return None
    site = value.strip()
    if not SITE_PATTERN.fullmatch(site):
        raise ValueError(
            "FRONTDESK_SITE must be 1-32 lower-case letters, digits, '-' or '_' "
            f"(starting with a letter or digit), not {site!r}"
        )
    return site


def _api_token(value: str | None) -> str | None:
    """FRONTDESK_API_TOKEN acts as a supervisor: a guessable one is refused at start."""
    if value is not None and len(value) < MIN_API_TOKEN:
        raise ValueError(
            f"FRONTDESK_API_TOKEN must be at least {MIN_API_TOKEN} characters (it has"
            f" {len(value)}); make one with: python3 -c"
            ' "import secrets; print(secrets.token_urlsafe(32))"'
        )
    return value


def _host_list(value: str | None) -> tuple[str, ...] | None:
    """FRONTDESK_ALLOWED_HOSTS: host names separated by commas or spaces (ports are
    ignored; `*` accepts any Host)."""
    if value is None:
        return None
    names = tuple(n for n in value.replace(",", " ").split() if n)
    if not names:
        raise ValueError("FRONTDESK_ALLOWED_HOSTS names no host")
    return names


def _practice_time(value: str | None) -> datetime | None:
    """`FRONTDESK_PRACTICE_TIME`: a naive ISO 8601 time, read in the practice's zone."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"FRONTDESK_PRACTICE_TIME must be an ISO 8601 time like 2026-12-07T10:30, not {value!r}"
        ) from None
    if moment.tzinfo is not None:
        raise ValueError("FRONTDESK_PRACTICE_TIME is practice-local: give it without an offset")
    return moment


def _pbx_timezone(value: str | None) -> ZoneInfo | None:
    """`FRONTDESK_PBX_TIMEZONE`: an IANA zone name (refused at start when unknown)."""
    if value is None or not value.strip():
        return None
    name = value.strip()
    try:
        if name.startswith("/") or ".." in name.split("/"):
            raise ValueError(name)  # a name, not a path to a file
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            "FRONTDESK_PBX_TIMEZONE must be an IANA time zone like UTC or America/Chicago "
            f"(the Asterisk machine's /etc/localtime: `timedatectl`), not {value!r}"
        ) from None


def _public_url(value: str | None) -> str | None:
    """FRONTDESK_PUBLIC_URL: an absolute http(s) URL (a standby redirects staff there)."""
    if value is None or not value.strip():
        return None
    url = value.strip()
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in ("http", "https") or not rest or rest.startswith("/"):
        raise ValueError(
            f"FRONTDESK_PUBLIC_URL must be an http(s) URL like https://frontdesk-a.lan/, not {url!r}"
        )
    return url.rstrip("/") + "/"


def _on_off_auto(value: str) -> bool | None:
    """`on` / `off` / `auto` (None) for FRONTDESK_COOKIE_SECURE."""
    text = value.strip().lower()
    if text in ("on", "1", "yes", "true"):
        return True
    if text in ("off", "0", "no", "false"):
        return False
    if text == "auto":
        return None
    raise ValueError(f"FRONTDESK_COOKIE_SECURE must be on, off or auto, not {value!r}")
