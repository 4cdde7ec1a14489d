"""`frontdesk asterisk-conf`: the plan-dependent Asterisk configuration, generated.

`frontdesk asterisk-conf PLAN --out DIR` writes, for Asterisk 22 with chan_pjsip:

- `pjsip.conf`: one UDP transport (127.0.0.1:5060 unless `--bind`), the SIP trunk
  (identified by source address, `--trunk-host`), and one endpoint + aor per staff
  member, from the same templates as the lab configuration. **No secret is in it.**
- `pjsip-secrets.conf` (mode 0600): the staff phones' `auth` sections, #tryinclude'd by
  pjsip.conf. A phone's password is `$FRONTDESK_PHONE_PASSWORD_<EXT>` when set, else
  the one already in this file (re-running never rotates passwords behind your back),
  else a new random one. This is the file to read when provisioning the phones.
- `frontdesk-globals.conf`: lines #tryinclude'd into `[globals]` of
  dialplan/extensions.conf: who rings when frontdesk is down (the `front_desk` queue's
  phones), its after-hours number, and the main number for staff 911 calls.
- `queues.conf`: one app_queue queue per plan queue (its members, ring timeout and
  wrap-up), used by the dialplan while routes are handed back to it (no skills there).
- `frontdesk-voicemail.conf` (mode 0600): the dialplan's `fallback` box and the plan's
  voicemail boxes, #tryinclude'd into `[frontdesk]` of voicemail.conf, with random
  PINs (kept on re-runs).
- `frontdesk-rtp.conf`: the RTP port range, sized from the staff count and the peak of
  simultaneous calls (`--max-calls`), #tryinclude'd at the top of `[general]` of
  rtp.conf (see `rtp_range` for the formula).
- `frontdesk-options.conf`: the box's own last line of defence against overload,
  `maxcalls` and `maxload`, for `[options]` of asterisk.conf (`box_limits`).

The trunk's cap on simultaneous calls (`FRONTDESK_TRUNK_MAX_CALLS` in the globals, the
RTP range's design peak) makes [from-pstn] answer busy past it, so that a flood never
finds the RTP ports exhausted mid-call; frontdesk's own admission control sheds to the
fallback well before that (docs/scale.md, "Overload").

Rendering is pure (`render_*` take the plan and options, return text); `run` does I/O.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import secrets
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from frontdesk.exits import EXIT_INVALID, EXIT_OK
from frontdesk.plan import Plan, read_plan
from frontdesk.plan.model import FRONT_DESK
from frontdesk.prompts import voicemail_boxes
from frontdesk.routing.simulate import default_did

DEFAULT_BIND = "127.0.0.1:5060"
DEFAULT_TRUNK_HOST = "127.0.0.1:5070"  # the lab's PSTN simulator (SIPp); see transcripts
DEFAULT_TRUNK_NAME = "trunk"
TRUNK_HOST_ENV = "FRONTDESK_TRUNK_HOST"
PASSWORD_ENV = "FRONTDESK_PHONE_PASSWORD_{extension}"
MIN_PASSWORD = 12
FALLBACK_MAILBOX = "fallback"  # defined in asterisk-conf/voicemail.conf

PJSIP_CONF = "pjsip.conf"
SECRETS_CONF = "pjsip-secrets.conf"
GLOBALS_CONF = "frontdesk-globals.conf"
QUEUES_CONF = "queues.conf"
VOICEMAIL_CONF = "frontdesk-voicemail.conf"
RTP_CONF = "frontdesk-rtp.conf"
OPTIONS_CONF = "frontdesk-options.conf"

# RTP sizing (`rtp_range`). res_rtp_asterisk binds each media stream to an even port of
# [rtpstart, rtpend] and its RTCP to the next odd one (rtp_allocate_transport: `x & ~1`,
# `x += 2`): a stream takes 2 ports, and a full range fails the call with "couldn't
# allocate a port for RTP instance".
RTP_START = 10000
PORTS_PER_STREAM = 2  # RTP (even) + RTCP (odd)
RTP_HEADROOM = 2  # bursts above the estimate; legs whose channel is not destroyed yet
MIN_RTP_PORTS = 1000  # narrower saves nothing on a firewall and leaves no slack
CALLS_PER_STAFF = 5  # default peak: each staff member on a call, four more callers waiting
MIN_CALLS = 10
MAX_PORT = 65535
# Box limits (`box_limits`): app_pbx counts a call per channel running the dialplan (the
# caller's, each Local channel half of a transfer); frontdesk's agent legs run none.
CHANNELS_PER_CALL = 2
LOAD_PER_CORE = 2.0  # refuse new calls past a load average of 2 per core (pbx.c maxload)

_PJSIP_DIAL = re.compile(r"PJSIP/([^@/&,]+)@([A-Za-z0-9_-]+)")
_SAFE_DIAL = re.compile(r"[A-Za-z0-9/+@._-]+")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]+")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_PASSWORD_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space

PasswordSource = Literal["env", "kept", "generated"]


class ConfigError(Exception):
    """An option or plan value that cannot go into the Asterisk configuration."""


@dataclass(frozen=True)
class Address:
    host: str  # an IP address (no brackets) or a host name
    port: int | None

    @classmethod
    def parse(cls, text: str, what: str, *, ip_only: bool = False) -> Address:
        raw = text.strip()
        match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?", raw)  # [v6]:port
        if match:
            host, port = match.group(1), match.group(2)
        elif raw.count(":") == 1:
            host, port = raw.split(":")
        else:
            host, port = raw, None  # a host, or a bare IPv6 address
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if ip_only or not _HOSTNAME.fullmatch(host):
                kind = "an IP address" if ip_only else "a host name or IP address"
                raise ConfigError(
                    f"{what}: '{text}' is not {kind} with an optional :port"
                ) from None
        number = None
        if port is not None:
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"{what}: '{port}' is not a port number")
            number = int(port)
        return cls(host, number)

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True

    @property
    def is_loopback(self) -> bool:
        return self.is_ip and ipaddress.ip_address(self.host).is_loopback

    @property
    def is_wildcard(self) -> bool:
        return self.is_ip and ipaddress.ip_address(self.host).is_unspecified

    def text(self, default_port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = self.port if self.port is not None else default_port
        return host if port is None else f"{host}:{port}"


@dataclass(frozen=True)
class Options:
    bind: Address = field(default_factory=lambda: Address.parse(DEFAULT_BIND, "--bind"))
    trunk_host: Address = field(default_factory=lambda: Address.parse(DEFAULT_TRUNK_HOST, "x"))
    trunk_name: str = DEFAULT_TRUNK_NAME
    plan_file: str = "plan.yaml"
    max_calls: int | None = None  # peak simultaneous trunk calls; None: from the staff count
    pbx_cores: int | None = None  # the PBX's CPU cores (maxload); None: this machine's
    # The site (docs/scale.md "Several sites"): Asterisk's `systemname`, so that its
    # uniqueids (and the linkedids frontdesk keys calls by) never collide with another
    # site's on the shared database.
    site: str = "main"


@dataclass(frozen=True)
class Password:
    extension: str
    value: str
    source: PasswordSource


# -- pure: names, passwords ------------------------------------------------------------------
def trunk_names(plan: Plan) -> list[str]:
    """The PJSIP endpoints the plan's externals dial through (`PJSIP/<number>@<trunk>`)."""
    names = []
    for external in plan.external.values():
        match = _PJSIP_DIAL.fullmatch(external.dial)
        if match:
            names.append(match.group(2))
    return list(dict.fromkeys(names))


def caller_id_name(name: str) -> str:
    """A staff name safe inside `callerid = "<name>" <ext>` (no quotes, brackets, `;`)."""
    cleaned = re.sub(r'[\x00-\x1f\x7f"<>;\\]', " ", name)
    return " ".join(cleaned.split())


def parse_secrets(text: str) -> dict[str, str]:
    """Extension -> password from a pjsip-secrets.conf written earlier."""
    found: dict[str, str] = {}
    section: str | None = None
    for line in text.splitlines():
        head = re.match(r"\s*\[([^\]]+)\]", line)
        if head:
            section = head.group(1)
            continue
        value = re.match(r"\s*password\s*=\s*(\S+)\s*$", line)
        if value and section is not None:
            found[section] = value.group(1)
    return found


def parse_voicemail_pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"(?m)^\s*([A-Za-z0-9_-]+)\s*=>\s*(\d+)\s*,", text))


def check_password(extension: str, value: str) -> None:
    if not _PASSWORD_CHARS.fullmatch(value) or ";" in value or "\\" in value:
        raise ConfigError(
            f"{PASSWORD_ENV.format(extension=extension)}: use printable ASCII without "
            "spaces, ';' or '\\'"
        )
    if len(value) < MIN_PASSWORD or extension in value:
        raise ConfigError(
            f"{PASSWORD_ENV.format(extension=extension)}: too weak; use at least "
            f"{MIN_PASSWORD} characters that do not contain the extension"
        )


def resolve_passwords(
    plan: Plan, env: Mapping[str, str], existing: Mapping[str, str]
) -> list[Password]:
    passwords = []
    for member in plan.staff:
        ext = member.extension
        given = env.get(PASSWORD_ENV.format(extension=ext))
        if given:
            check_password(ext, given)
            passwords.append(Password(ext, given, "env"))
        elif existing.get(ext):
            passwords.append(Password(ext, existing[ext], "kept"))
        else:
            passwords.append(Password(ext, secrets.token_urlsafe(18), "generated"))
    return passwords


def fallback_dial(plan: Plan) -> str:
    """`PJSIP/2001&PJSIP/2003&...`: the front desk's phones (everyone's, if it has none)."""
    members = plan.members(FRONT_DESK) or plan.staff
    return "&".join(f"PJSIP/{m.extension}" for m in members)


def fallback_transfer(plan: Plan) -> str:
    """The front desk's after-hours external (the answering service), as a dial string."""
    queue = plan.queues.get(FRONT_DESK)
    after = queue.after_hours if queue else None
    if after is None or after.transfer is None or after.transfer not in plan.external:
        return ""
    return _dial_string(plan.external[after.transfer].dial, after.transfer)


def _dial_string(dial: str, name: str) -> str:
    if not _SAFE_DIAL.fullmatch(dial):
        raise ConfigError(f"external.{name}.dial: '{dial}' has characters unsafe in a dialplan")
    return dial


# -- pure: rendering ---------------------------------------------------------------------------
def _media_lines(options: Options) -> list[str]:
    """Keep RTP on the SIP address when that is one specific IP (e.g. loopback)."""
    if not options.bind.is_ip or options.bind.is_wildcard:
        return []
    return [f"media_address = {options.bind.host}", "bind_rtp_to_media_address = yes"]


def render_pjsip(plan: Plan, options: Options) -> str:
    trunk, bind = options.trunk_name, options.bind
    media = _media_lines(options)
    lines = [
        "; ===================================================================",
        f"; pjsip.conf for {plan.practice.name}",
        f"; Generated by `frontdesk asterisk-conf` from {options.plan_file}: do not edit,",
        "; re-run the command after changing the plan. Local additions (a provider's",
        "; registration and outbound_auth, NAT settings) go in pjsip-local.conf.",
        "; No secret is in this file: the phones' passwords are in pjsip-secrets.conf",
        "; (mode 0600), included below. Staff names appear as caller ID on internal",
        "; calls; they are staff, never patients.",
        "; ===================================================================",
        "",
        "[global]",
        "type = global",
        "; Do not advertise the Asterisk version to scanners.",
        "user_agent = frontdesk-pbx",
        "; The trunk is recognised by its source address, staff phones by their auth",
        "; user name; there is no 'anonymous' endpoint, so anyone else is refused.",
        "endpoint_identifier_order = ip,username",
        "",
        "[transport-udp]",
        "type = transport",
        "protocol = udp",
        f"bind = {bind.text(5060)}",
        "",
        "; ------------------------------------------------------------------",
        f"; PSTN trunk '{trunk}' (the externals of the plan dial PJSIP/<number>@{trunk}).",
        "; Calls from it enter context from-pstn -> Stasis(frontdesk) (extensions.conf).",
        "; ------------------------------------------------------------------",
        f"[{trunk}]",
        "type = endpoint",
        "transport = transport-udp",
        "context = from-pstn",
        "disallow = all",
        "allow = ulaw,alaw",
        "dtmf_mode = rfc4733",
        "; Media stays on Asterisk: frontdesk bridges, plays prompts and music on hold.",
        "direct_media = no",
        *media,
        "rtp_symmetric = yes",
        "; Do not tell the PSTN caller which staff member answered.",
        "send_connected_line = no",
        f"aors = {trunk}",
        "",
        f"[{trunk}]",
        "type = aor",
        f"contact = sip:{options.trunk_host.text()}",
        "",
        f"[{trunk}]",
        "type = identify",
        f"endpoint = {trunk}",
        "; With a port, only that source port is the trunk (on loopback the staff",
        "; phones share the IP address); without one, any port of that host.",
        f"match = {options.trunk_host.text()}",
        "",
        "; ------------------------------------------------------------------",
        "; Staff phones: templates, then one endpoint + aor per staff member.",
        "; Their context 'staff' allows internal calls and feature codes only:",
        "; staff phones cannot dial the PSTN except 911 (extensions.conf).",
        "; ------------------------------------------------------------------",
        "[staff-endpoint](!)",
        "type = endpoint",
        "transport = transport-udp",
        "context = staff",
        "disallow = all",
        "allow = ulaw,alaw",
        "dtmf_mode = rfc4733",
        "direct_media = no",
        *media,
        "rtp_symmetric = yes",
        "force_rport = yes",
        "rewrite_contact = yes",
        "send_connected_line = no",
        "",
        "[staff-auth](!)",
        "type = auth",
        "auth_type = userpass",
        "",
        "[staff-aor](!)",
        "type = aor",
        "; One phone per extension; a new registration replaces the old one.",
        "max_contacts = 1",
        "remove_existing = yes",
        "; 0 as in the lab (ContactStatus NonQualified); 30 makes Asterisk notice an",
        "; unplugged phone (Reachable/Unreachable) instead of waiting for expiry.",
        "qualify_frequency = 0",
        "default_expiration = 3600",
    ]
    for member in plan.staff:
        ext = member.extension
        queues = ", ".join(member.queues) or "no queue"
        lines += [
            "",
            f"; {caller_id_name(member.name)} ({queues})",
            f"[{ext}](staff-endpoint)",
            f"auth = {ext}",
            f"aors = {ext}",
            f'callerid = "{caller_id_name(member.name)}" <{ext}>',
            f"[{ext}](staff-aor)",
        ]
    lines += [
        "",
        "; The staff-auth sections with the passwords (mode 0600). #tryinclude: without",
        "; that file the phones cannot register, but the trunk still works and calls",
        "; still reach frontdesk.",
        f"#tryinclude {SECRETS_CONF}",
        "; Hand-written additions (provider registration, outbound_auth, NAT).",
        "#tryinclude pjsip-local.conf",
        "",
    ]
    return "\n".join(lines)


def render_secrets(plan: Plan, passwords: list[Password], options: Options) -> str:
    by_ext = {p.extension: p for p in passwords}
    lines = [
        "; SIP passwords of the staff phones, included by pjsip.conf.",
        f"; Generated by `frontdesk asterisk-conf` from {options.plan_file}.",
        "; SECRET: keep it mode 0600, owned by the asterisk user; never commit it.",
        "; Re-running the command keeps these passwords unless",
        "; FRONTDESK_PHONE_PASSWORD_<EXT> is set; delete a section to get a new one.",
    ]
    for member in plan.staff:
        password = by_ext[member.extension]
        lines += [
            "",
            f"; {caller_id_name(member.name)}",
            f"[{member.extension}](staff-auth)",
            f"username = {member.extension}",
            f"password = {password.value}",
        ]
    return "\n".join(lines) + "\n"


def render_globals(plan: Plan, options: Options) -> str:
    main = default_did(plan) or ""
    return "\n".join(
        [
            "; Included into [globals] of extensions.conf (#tryinclude frontdesk-globals.conf).",
            f"; Generated by `frontdesk asterisk-conf` from {options.plan_file}; do not edit.",
            "; Who rings when frontdesk is down or hands a call back unrouted: the",
            "; front_desk queue's phones, then its after-hours number, then voicemail.",
            f"FRONTDESK_FALLBACK_DIAL={fallback_dial(plan)}",
            f"FRONTDESK_FALLBACK_TRANSFER={fallback_transfer(plan)}",
            "; Caller ID for 911 calls from staff phones: the number a PSAP calls back.",
            f"FRONTDESK_MAIN_NUMBER={main}",
            "; The PJSIP endpoint of the PSTN trunk (911 from staff phones goes out there).",
            f"FRONTDESK_TRUNK={options.trunk_name}",
            "; Trunk calls at once past which [from-pstn] answers busy (the RTP range's",
            "; design peak: --max-calls); 0 turns the cap off.",
            f"FRONTDESK_TRUNK_MAX_CALLS={rtp_range(plan, options.max_calls).max_calls}",
            "",
        ]
    )


def render_queues(plan: Plan, options: Options) -> str:
    lines = [
        "; app_queue queues, one per plan queue.",
        f"; Generated by `frontdesk asterisk-conf` from {options.plan_file}; do not edit.",
        "; Used while frontdesk hands decided routes back to the dialplan",
        "; (FRONTDESK_ROUTE=queue). app_queue knows no skills, languages, priorities",
        "; by category or callbacks: frontdesk's own ACD replaces it.",
        "",
        "[general]",
        "persistentmembers = no",
        "autofill = yes",
        "shared_lastcall = yes",
        "",
        "[frontdesk-queue](!)",
        "; The longest-idle member first (docs/routing.md, section 4.2).",
        "strategy = leastrecent",
        "ringinuse = no",
        "; Nobody who can answer (all phones unregistered): do not wait, return to the",
        "; dialplan, which rings the front desk and then takes a message.",
        "joinempty = unavailable,invalid,unknown",
        "leavewhenempty = unavailable,invalid,unknown",
        "announce-frequency = 0",
        "periodic-announce-frequency = 0",
        "announce-holdtime = no",
        "musicclass = default",
    ]
    for name, queue in plan.queues.items():
        if not _SAFE_NAME.fullmatch(name):
            raise ConfigError(f"queues.{name}: the name cannot be an app_queue queue name")
        lines += [
            "",
            f"[{name}](frontdesk-queue)",
            f"timeout = {int(queue.ring_timeout.total_seconds())}",
            f"wrapuptime = {int(queue.wrap_up.total_seconds())}",
        ]
        lines += [
            f"member => PJSIP/{m.extension},0,{caller_id_name(m.name).replace(',', ' ')}"
            for m in plan.members(name)
        ]
    return "\n".join(lines) + "\n"


def render_voicemail(plan: Plan, pins: Mapping[str, str], options: Options) -> str:
    lines = [
        "; Voicemail boxes, included into [frontdesk] of voicemail.conf.",
        f"; Generated by `frontdesk asterisk-conf` from {options.plan_file}.",
        "; The PINs are random and kept on re-runs: the dialplan offers no",
        "; VoiceMailMain, so nobody can dial in to listen; staff read the messages",
        "; from the spool. Set a PIN you know only if you add VoiceMailMain.",
        "",
        "; Where the dialplan takes a message when frontdesk is down and nobody answered.",
        f"{FALLBACK_MAILBOX} => {pins[FALLBACK_MAILBOX]},Front desk (frontdesk fallback)",
        "; The plan's after-hours boxes (FRONTDESK_ROUTE=voicemail).",
    ]
    for box in mailboxes(plan)[1:]:
        lines.append(f"{box} => {pins[box]},{box.replace('_', ' ')} (frontdesk)")
    return "\n".join(lines) + "\n"


def mailboxes(plan: Plan) -> list[str]:
    """The fallback box and the plan's boxes, checked to be safe mailbox names."""
    boxes = list(voicemail_boxes(plan))
    for box in boxes:
        if not _SAFE_NAME.fullmatch(box) or box == FALLBACK_MAILBOX:
            raise ConfigError(f"voicemail box '{box}' cannot be a mailbox name here")
    return [FALLBACK_MAILBOX, *boxes]


@dataclass(frozen=True)
class RtpRange:
    """The RTP ports for a plan: `streams` media streams, two ports each, with headroom."""

    max_calls: int
    staff: int
    streams: int
    start: int
    end: int

    @property
    def ports(self) -> int:
        return self.end - self.start + 1

    def text(self) -> str:
        return f"{self.start}-{self.end}"


def default_max_calls(plan: Plan) -> int:
    """Peak simultaneous trunk calls when `--max-calls` is not given."""
    return max(MIN_CALLS, CALLS_PER_STAFF * len(plan.staff))


def rtp_range(plan: Plan, max_calls: int | None = None) -> RtpRange:
    """How many RTP ports Asterisk needs for this practice.

    Every PJSIP call leg holds one media stream from its first SDP to its hang-up (no
    direct media: audio always goes through Asterisk):
      streams = max_calls + staff
    where `max_calls` counts every call on the trunk at its peak (callers in the menu,
    waiting, talking, leaving a message; outbound legs of transfers, callbacks and staff
    911 calls), and `staff` each staff phone's own leg (ringing or talking).
      ports = round up to 100 (streams x 2 (RTP + RTCP) x 2 (headroom)), at least 1000,
    from 10000; `rtpend` is odd so the last stream's RTCP port is inside the range.
    """
    calls = default_max_calls(plan) if max_calls is None else max_calls
    if calls < 1:
        raise ConfigError("--max-calls: give the peak number of simultaneous calls (1 or more)")
    streams = calls + len(plan.staff)
    ports = streams * PORTS_PER_STREAM * RTP_HEADROOM
    ports = max(MIN_RTP_PORTS, -(-ports // 100) * 100)
    end = RTP_START + ports - 1
    if end > MAX_PORT:
        raise ConfigError(
            f"--max-calls {calls}: {ports} RTP ports from {RTP_START} go past {MAX_PORT}"
        )
    return RtpRange(calls, len(plan.staff), streams, RTP_START, end)


def render_rtp(plan: Plan, options: Options) -> str:
    rtp = rtp_range(plan, options.max_calls)
    given = "--max-calls" if options.max_calls is not None else "default: 5 per staff member"
    return "\n".join(
        [
            "; RTP ports, included at the top of [general] of rtp.conf",
            "; (#tryinclude frontdesk-rtp.conf: Asterisk uses the first rtpstart/rtpend).",
            f"; Generated by `frontdesk asterisk-conf` from {options.plan_file}; do not edit,",
            "; re-run with --max-calls N (the trunk's peak of simultaneous calls).",
            f";   streams = {rtp.max_calls} calls ({given}) + {rtp.staff} staff phones"
            f" = {rtp.streams}",
            f";   ports   = {rtp.streams} x 2 (RTP + RTCP) x 2 (headroom), rounded up to"
            f" 100, at least {MIN_RTP_PORTS}: {rtp.ports}",
            "; Open exactly these UDP ports to your phones and your SIP provider.",
            f"rtpstart = {rtp.start}",
            f"rtpend = {rtp.end}",
            "",
        ]
    )


@dataclass(frozen=True)
class BoxLimits:
    maxcalls: int
    maxload: float
    cores: int


def box_limits(plan: Plan, max_calls: int | None = None, cores: int | None = None) -> BoxLimits:
    """asterisk.conf's `maxcalls` and `maxload`: past them app_pbx refuses to start a new
    channel's dialplan (the caller gets a failure). They sit above the trunk's cap and
    frontdesk's admission control, as the last guard of a box that is drowning:
      maxcalls = (peak calls + staff phones) x CHANNELS_PER_CALL
      maxload  = cores x LOAD_PER_CORE (the 1-minute load average)"""
    rtp = rtp_range(plan, max_calls)
    n = cores if cores is not None else (os.cpu_count() or 1)
    if n < 1:
        raise ConfigError("--pbx-cores: give the PBX's number of CPU cores (1 or more)")
    return BoxLimits(rtp.streams * CHANNELS_PER_CALL, n * LOAD_PER_CORE, n)


def render_options(plan: Plan, options: Options) -> str:
    limits = box_limits(plan, options.max_calls, options.pbx_cores)
    cores = "--pbx-cores" if options.pbx_cores is not None else "this machine's cores"
    return "\n".join(
        [
            "; The box's own settings, for [options] of asterisk.conf: copy these three",
            "; lines there (asterisk.conf is read before its #include paths are known).",
            f"; Generated by `frontdesk asterisk-conf` from {options.plan_file}; do not edit.",
            f";   maxcalls = ({limits.maxcalls // CHANNELS_PER_CALL} calls and phones)"
            f" x {CHANNELS_PER_CALL} channels running the dialplan",
            f";   maxload  = {limits.cores} cores ({cores}) x {LOAD_PER_CORE:g}",
            f"maxcalls = {limits.maxcalls}",
            f"maxload = {limits.maxload:g}",
            "; the site (FRONTDESK_SITE): uniqueids start with it, unique across sites",
            f"systemname = {options.site}",
            "",
        ]
    )


# -- I/O ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Generated:
    files: dict[str, tuple[str, int]]  # name -> (text, mode)
    passwords: list[Password]
    warnings: list[str]


def generate(
    plan: Plan,
    options: Options,
    env: Mapping[str, str],
    existing_secrets: str = "",
    existing_voicemail: str = "",
) -> Generated:
    """Every file's text and mode, without touching the disk."""
    warnings: list[str] = []
    if not options.bind.is_loopback:
        warnings.append(
            f"SIP listens on {options.bind.text(5060)}, not loopback: firewall it to your "
            "phones and your provider's addresses"
        )
    if options.trunk_host.port is None and options.trunk_host.is_loopback:
        warnings.append("a loopback trunk without a port would also match the staff phones")
    for external in plan.external.values():
        _dial_string(external.dial, "external")
    passwords = resolve_passwords(plan, env, parse_secrets(existing_secrets))
    old_pins = parse_voicemail_pins(existing_voicemail)
    pins = {b: old_pins.get(b) or _pin() for b in mailboxes(plan)}
    files = {
        PJSIP_CONF: (render_pjsip(plan, options), 0o644),
        SECRETS_CONF: (render_secrets(plan, passwords, options), 0o600),
        GLOBALS_CONF: (render_globals(plan, options), 0o644),
        QUEUES_CONF: (render_queues(plan, options), 0o644),
        VOICEMAIL_CONF: (render_voicemail(plan, pins, options), 0o600),
        RTP_CONF: (render_rtp(plan, options), 0o644),
        OPTIONS_CONF: (render_options(plan, options), 0o644),
    }
    return Generated(files, passwords, warnings)


def _pin() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(10))


def write_file(path: Path, text: str, mode: int) -> None:
    """Write atomically with `mode` from the start (a secret is never briefly readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def options_from_args(args: argparse.Namespace, plan: Plan, env: Mapping[str, str]) -> Options:
    bind = Address.parse(args.bind, "--bind", ip_only=True)
    trunk_host = Address.parse(
        args.trunk_host or env.get(TRUNK_HOST_ENV) or DEFAULT_TRUNK_HOST, "--trunk-host"
    )
    names = trunk_names(plan)
    trunk = args.trunk_name or (names[0] if names else DEFAULT_TRUNK_NAME)
    if not _SAFE_NAME.fullmatch(trunk):
        raise ConfigError(f"--trunk-name: '{trunk}' is not a PJSIP endpoint name")
    site = args.site or env.get("FRONTDESK_SITE") or plan.practice.site or "main"
    if not _SITE.fullmatch(site):
        raise ConfigError(f"--site: '{site}' must be 1-32 of a-z, 0-9, '-', '_'")
    return Options(
        bind, trunk_host, trunk, args.plan.name, args.max_calls, args.pbx_cores, site=site
    )


_SITE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "asterisk-conf",
        help="generate pjsip.conf (phones, trunk), queues and voicemail boxes from the plan",
        description=(
            "Writes pjsip.conf, pjsip-secrets.conf (0600), frontdesk-globals.conf, queues.conf, "
            "frontdesk-voicemail.conf (0600), frontdesk-rtp.conf and frontdesk-options.conf "
            "(maxcalls, maxload for asterisk.conf) into OUT. Phone passwords "
            "come from FRONTDESK_PHONE_PASSWORD_<EXT>, else are kept from an earlier run, else "
            "are random."
        ),
    )
    parser.add_argument("plan", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="folder for the generated files")
    parser.add_argument(
        "--bind",
        default=DEFAULT_BIND,
        help=f"SIP transport address IP[:PORT] (default {DEFAULT_BIND}: loopback only)",
    )
    parser.add_argument(
        "--trunk-host",
        help=(
            f"the SIP trunk's HOST[:PORT], matched as the source of its calls "
            f"(default ${TRUNK_HOST_ENV}, else {DEFAULT_TRUNK_HOST})"
        ),
    )
    parser.add_argument(
        "--trunk-name",
        help="PJSIP endpoint name of the trunk (default: the one the plan's externals dial)",
    )
    parser.add_argument(
        "--max-calls",
        type=int,
        metavar="N",
        help=(
            "peak simultaneous calls on the trunk (your provider's channel limit), which "
            f"sizes the RTP port range (default: {CALLS_PER_STAFF} per staff member, at least "
            f"{MIN_CALLS})"
        ),
    )
    parser.add_argument(
        "--pbx-cores",
        type=int,
        metavar="N",
        help="the PBX's CPU cores, for maxload in frontdesk-options.conf (default: this machine's)",
    )
    parser.add_argument(
        "--site",
        metavar="NAME",
        help=(
            "the site, Asterisk's systemname in frontdesk-options.conf (default "
            "$FRONTDESK_SITE, else the plan's practice.site, else main)"
        ),
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: Console) -> int:
    env = dict(os.environ)
    try:
        plan, _ = read_plan(args.plan)
        options = options_from_args(args, plan, env)
        generated = generate(
            plan,
            options,
            env,
            _read(args.out / SECRETS_CONF),
            _read(args.out / VOICEMAIL_CONF),
        )
        for name, (text, mode) in generated.files.items():
            write_file(args.out / name, text, mode)
        rtp = rtp_range(plan, options.max_calls)
    except (ConfigError, OSError) as exc:  # a PlanError is reported by frontdesk.cli.main
        print(f"frontdesk asterisk-conf: {exc}", file=sys.stderr)
        return EXIT_INVALID
    names = trunk_names(plan)
    if len(names) > 1:
        generated.warnings.append(
            f"the plan dials through several trunks ({', '.join(names)}); only "
            f"'{options.trunk_name}' is generated: define the others in pjsip-local.conf"
        )
    if args.json:
        summary = _summary(args.out, options, generated) | {
            "rtp": {
                "start": rtp.start,
                "end": rtp.end,
                "max_calls": rtp.max_calls,
                "streams": rtp.streams,
            }
        }
        print(json.dumps(summary, ensure_ascii=False, indent=1))
        return EXIT_OK
    for warning in generated.warnings:
        out.print(f"warning: {warning}", style="yellow", markup=False, highlight=False)
    table = Table(title="Staff phones (PJSIP endpoints)", title_justify="left")
    for column in ("extension", "name", "password"):
        table.add_column(column)
    names_by_ext = {m.extension: m.name for m in plan.staff}
    for password in generated.passwords:
        table.add_row(
            password.extension, names_by_ext[password.extension], _SOURCES[password.source]
        )
    out.print(table)
    for name, (_, mode) in generated.files.items():
        out.print(f"wrote {args.out / name} ({mode:o})", markup=False, highlight=False)
    out.print(
        f"trunk '{options.trunk_name}' matched at {options.trunk_host.text()}; "
        f"SIP on {options.bind.text(5060)}; RTP on UDP {rtp.text()} "
        f"({rtp.max_calls} calls + {rtp.staff} phones). Phone passwords: {args.out / SECRETS_CONF}"
    )
    return EXIT_OK


_SOURCES: dict[PasswordSource, str] = {
    "env": "from $FRONTDESK_PHONE_PASSWORD_<EXT>",
    "kept": "kept from pjsip-secrets.conf",
    "generated": "new, random",
}


def _summary(out: Path, options: Options, generated: Generated) -> dict[str, Any]:
    return {
        "files": [
            {"path": str(out / name), "mode": f"{mode:o}"}
            for name, (_, mode) in generated.files.items()
        ],
        "bind": options.bind.text(5060),
        "trunk": {"name": options.trunk_name, "host": options.trunk_host.text()},
        "endpoints": [
            {"extension": p.extension, "password": p.source} for p in generated.passwords
        ],
        "warnings": generated.warnings,
    }
