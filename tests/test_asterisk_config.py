"""`frontdesk asterisk-conf` and the hand-written Asterisk side (static confs, dialplan, compose)."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from frontdesk import asterisk_config
from frontdesk.asterisk.ami import DEFAULT_EVENTS
from frontdesk.asterisk_config import (
    Address,
    ConfigError,
    Options,
    caller_id_name,
    generate,
    parse_secrets,
    render_pjsip,
)
from frontdesk.calls.admission import SHED_GLOBAL, URGENT_GLOBAL
from frontdesk.cli import main
from frontdesk.plan import Plan, read_plan
from frontdesk.plan.model import Staff
from tests.conftest import REFERENCE_PLAN

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "asterisk-conf"
DIALPLAN = ROOT / "dialplan" / "extensions.conf"
DOCKER = ROOT / "docker"


# -- a small reader of Asterisk's config syntax -----------------------------------------------
@dataclass
class Section:
    name: str
    templates: tuple[str, ...]
    options: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.options if k == key), None)


def parse_conf(text: str) -> tuple[list[Section], list[str]]:
    """Sections (with `(template)` suffixes) and `#include` lines; fails on anything else."""
    sections: list[Section] = []
    includes: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("#"):
            assert re.fullmatch(r"#(try)?include \S+", line), (number, raw)
            includes.append(line)
            continue
        head = re.fullmatch(r"\[([^\]]+)\](?:\(([^)]*)\))?", line)
        if head:
            templates = tuple(t for t in (head.group(2) or "").split(",") if t)
            sections.append(Section(head.group(1), templates))
            continue
        option = re.fullmatch(r"([A-Za-z0-9_(),.-]+)\s*=>?\s*(.*)", line)
        assert option, (number, raw)
        assert sections, (number, raw)
        sections[-1].options.append((option.group(1), option.group(2).strip()))
    return sections, includes


def sections_of_type(sections: list[Section], kind: str) -> list[Section]:
    by_template = {s.name: s for s in sections if "!" in s.templates}

    def kind_of(section: Section) -> str | None:
        own = section.get("type")
        if own:
            return own
        for template in section.templates:
            if template in by_template:
                found = kind_of(by_template[template])
                if found:
                    return found
        return None

    return [s for s in sections if "!" not in s.templates and kind_of(s) == kind]


def _options(**changes: Any) -> Options:
    return dataclasses.replace(Options(plan_file="lakeside.yaml"), **changes)


# -- pjsip.conf --------------------------------------------------------------------------------
def test_pjsip_conf_has_one_endpoint_and_aor_per_staff_member(plan: Plan) -> None:
    sections, includes = parse_conf(render_pjsip(plan, _options()))
    extensions = [s.extension for s in plan.staff]
    endpoints = sections_of_type(sections, "endpoint")
    assert [s.name for s in endpoints] == ["trunk", *extensions]
    assert [s.name for s in sections_of_type(sections, "aor")] == ["trunk", *extensions]
    assert sections_of_type(sections, "auth") == []  # the auth sections live in the secrets file
    ana = next(s for s in endpoints if s.name == "2001")
    assert ana.get("callerid") == '"Ana Ruiz" <2001>'
    assert ana.get("auth") == "2001"
    assert ana.get("aors") == "2001"
    assert "#tryinclude pjsip-secrets.conf" in includes
    # Staff phones may only reach the staff context (internal calls, feature codes, 911).
    template = next(s for s in sections if s.name == "staff-endpoint")
    assert template.get("context") == "staff"


def test_pjsip_conf_binds_loopback_and_identifies_the_trunk_by_address(plan: Plan) -> None:
    sections, _ = parse_conf(render_pjsip(plan, _options()))
    transport = sections_of_type(sections, "transport")
    assert [t.get("bind") for t in transport] == ["127.0.0.1:5060"]
    identify = sections_of_type(sections, "identify")
    assert [(i.name, i.get("endpoint"), i.get("match")) for i in identify] == [
        ("trunk", "trunk", "127.0.0.1:5070")
    ]
    trunk = next(s for s in sections_of_type(sections, "endpoint") if s.name == "trunk")
    assert trunk.get("context") == "from-pstn"
    glob = sections_of_type(sections, "global")[0]
    assert "anonymous" not in (glob.get("endpoint_identifier_order") or "")


def test_pjsip_conf_with_other_bind_and_trunk(plan: Plan) -> None:
    options = _options(
        bind=Address.parse("0.0.0.0:5060", "--bind", ip_only=True),
        trunk_host=Address.parse("sip.provider.example", "--trunk-host"),
    )
    text = render_pjsip(plan, options)
    assert "bind = 0.0.0.0:5060" in text
    assert "media_address" not in text  # RTP on every address with the wildcard bind
    assert "match = sip.provider.example\n" in text
    assert "contact = sip:sip.provider.example\n" in text
    generated = generate(plan, options, {})
    assert any("not loopback" in w for w in generated.warnings)


def test_no_secret_in_pjsip_conf_and_random_passwords_in_the_secrets_file(plan: Plan) -> None:
    generated = generate(plan, _options(), env={})
    pjsip, mode = generated.files["pjsip.conf"]
    assert mode == 0o644
    assert not re.search(r"(?m)^\s*(password|secret|md5_cred)\s*=", pjsip)
    secrets_text, secrets_mode = generated.files["pjsip-secrets.conf"]
    assert secrets_mode == 0o600
    sections, _ = parse_conf(secrets_text)
    assert [s.name for s in sections] == [s.extension for s in plan.staff]
    assert {s.templates for s in sections} == {("staff-auth",)}
    passwords = parse_secrets(secrets_text)
    assert len(set(passwords.values())) == len(plan.staff)
    for ext, password in passwords.items():
        assert len(password) >= 20
        assert ext not in password
    assert {p.source for p in generated.passwords} == {"generated"}


def test_passwords_from_the_environment_and_kept_on_rerun(plan: Plan) -> None:
    env = {"FRONTDESK_PHONE_PASSWORD_2003": "Correct-Horse-Battery-9"}
    first = generate(plan, _options(), env)
    passwords = parse_secrets(first.files["pjsip-secrets.conf"][0])
    assert passwords["2003"] == "Correct-Horse-Battery-9"
    second = generate(plan, _options(), {}, existing_secrets=first.files["pjsip-secrets.conf"][0])
    assert parse_secrets(second.files["pjsip-secrets.conf"][0]) == passwords
    assert {p.source for p in second.passwords} == {"kept"}


@pytest.mark.parametrize(
    "password", ["short", "2003-is-my-extension", "has space in it", "semi;colon-password-x"]
)
def test_weak_or_unsafe_environment_passwords_are_refused(plan: Plan, password: str) -> None:
    with pytest.raises(ConfigError, match="FRONTDESK_PHONE_PASSWORD_2003"):
        generate(plan, _options(), {"FRONTDESK_PHONE_PASSWORD_2003": password})


def test_staff_names_cannot_break_the_callerid_line(plan: Plan) -> None:
    assert caller_id_name('Zoe "Z" <x>; [evil]\nline') == "Zoe Z x [evil] line"
    staff = (*plan.staff, Staff(name='Mal "Q" <9>;', extension="2099"))
    text = render_pjsip(plan.model_copy(update={"staff": staff}), _options())
    assert 'callerid = "Mal Q 9" <2099>' in text
    parse_conf(text)


def test_globals_queues_and_voicemail_follow_the_plan(plan: Plan) -> None:
    generated = generate(plan, _options(), {})
    globals_text = generated.files["frontdesk-globals.conf"][0]
    assert "FRONTDESK_FALLBACK_DIAL=PJSIP/2001&PJSIP/2003&PJSIP/2006\n" in globals_text
    assert "FRONTDESK_FALLBACK_TRANSFER=PJSIP/+13125550100@trunk\n" in globals_text
    assert "FRONTDESK_MAIN_NUMBER=+13125550000\n" in globals_text
    assert "FRONTDESK_TRUNK=trunk\n" in globals_text
    # The dialplan's built-in defaults are the reference plan's values.
    for line in globals_text.splitlines():
        if line.startswith("FRONTDESK_"):
            assert line in DIALPLAN.read_text(encoding="utf-8")

    queues, _ = parse_conf(generated.files["queues.conf"][0])
    by_name = {s.name: s for s in queues}
    assert set(plan.queues) <= set(by_name)
    members = [v for k, v in by_name["nurse_triage"].options if k == "member"]
    assert members == ["PJSIP/2004,0,Dana Whitfield", "PJSIP/2005,0,Eli Navarro"]
    assert by_name["nurse_triage"].get("timeout") == "15"

    voicemail_text, mode = generated.files["frontdesk-voicemail.conf"]
    assert mode == 0o600
    boxes = dict(re.findall(r"(?m)^(\w+) => (\d+),", voicemail_text))
    assert set(boxes) == {"fallback", "scheduling", "intake", "billing", "referrals"}
    again = generate(plan, _options(), {}, existing_voicemail=voicemail_text)
    assert again.files["frontdesk-voicemail.conf"][0] == voicemail_text


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("127.0.0.1:5060", True),
        ("[::1]:5060", True),
        ("10.0.0.5", True),
        ("sip.example.net:5070", False),  # --bind takes an IP address
        ("127.0.0.1:99999", False),
        ("127.0.0.1:5060\nbind=0.0.0.0", False),
    ],
)
def test_bind_addresses(text: str, ok: bool) -> None:
    if ok:
        Address.parse(text, "--bind", ip_only=True)
    else:
        with pytest.raises(ConfigError):
            Address.parse(text, "--bind", ip_only=True)


# -- the command -------------------------------------------------------------------------------
def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="frontdesk")
    asterisk_config.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["asterisk-conf", *argv])
    code: int = args.handler(args, Console(file=io.StringIO(), width=120))
    return code


def test_the_command_writes_every_file_with_its_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FRONTDESK_TRUNK_HOST", "203.0.113.7")
    monkeypatch.setenv("FRONTDESK_PHONE_PASSWORD_2001", "a-long-phone-password")
    assert _run(str(REFERENCE_PLAN), "--out", str(tmp_path), "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    modes = {Path(f["path"]).name: f["mode"] for f in summary["files"]}
    assert modes == {
        "pjsip.conf": "644",
        "pjsip-secrets.conf": "600",
        "frontdesk-globals.conf": "644",
        "queues.conf": "644",
        "frontdesk-voicemail.conf": "600",
        "frontdesk-rtp.conf": "644",
        "frontdesk-options.conf": "644",
    }
    for name, mode in modes.items():
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == int(mode, 8)
    assert summary["trunk"] == {"name": "trunk", "host": "203.0.113.7"}
    assert summary["endpoints"][0] == {"extension": "2001", "password": "env"}
    assert "a-long-phone-password" not in json.dumps(summary)  # never printed
    assert "match = 203.0.113.7\n" in (tmp_path / "pjsip.conf").read_text(encoding="utf-8")
    assert summary["rtp"] == {"start": 10000, "end": 10999, "max_calls": 30, "streams": 36}


# -- the RTP range -------------------------------------------------------------------------------
def _rtp(text: str) -> tuple[int, int]:
    section, _ = parse_conf("[general]\n" + text)
    start, end = section[0].get("rtpstart"), section[0].get("rtpend")
    assert start is not None
    assert end is not None
    return int(start), int(end)


def _with_staff(plan: Plan, count: int) -> Plan:
    staff = [
        Staff(name=f"Agent {n}", extension=str(3000 + n), queues=["front_desk"])
        for n in range(count)
    ]
    return plan.model_copy(update={"staff": staff})


def test_rtp_range_is_sized_from_staff_and_peak_calls(plan: Plan) -> None:
    # Lakeside: 6 staff, 30 calls by default (5 per staff member): 36 streams, 144 ports,
    # below the 1000-port floor.
    default = asterisk_config.rtp_range(plan)
    assert (default.max_calls, default.streams, default.start, default.end) == (
        30,
        36,
        10000,
        10999,
    )
    # The lab at 30 calls/s, 20 s per call: 600 calls + 6 phones = 606 streams, x2 x2 = 2424.
    lab = asterisk_config.rtp_range(plan, 600)
    assert (lab.streams, lab.ports, lab.end) == (606, 2500, 12499)
    big = asterisk_config.rtp_range(_with_staff(plan, 400))  # 2000 calls + 400 phones
    assert (big.max_calls, big.streams, big.ports) == (2000, 2400, 9600)
    for rtp in (default, lab, big):
        assert rtp.start % 2 == 0
        assert rtp.end % 2 == 1  # the last stream's RTCP port is inside the range
        assert rtp.ports >= rtp.streams * 2 * 2


def test_rtp_conf_is_generated_and_included_first(plan: Plan) -> None:
    generated = generate(plan, _options(max_calls=600), {})
    text, mode = generated.files["frontdesk-rtp.conf"]
    assert mode == 0o644
    assert _rtp(text) == (10000, 12499)
    assert "600 calls (--max-calls) + 6 staff phones = 606" in text
    static = (STATIC / "rtp.conf").read_text(encoding="utf-8")
    sections, includes = parse_conf(static)
    assert includes == ["#tryinclude frontdesk-rtp.conf"]
    # Asterisk takes the first rtpstart it reads: the include comes before the defaults.
    body = [line.split(";")[0].strip() for line in static.splitlines()]
    body = [line for line in body if line]
    assert body.index("#tryinclude frontdesk-rtp.conf") < body.index("rtpstart = 10000")
    general = sections[0]
    assert (general.get("rtpstart"), general.get("rtpend")) == ("10000", "19999")
    assert general.get("strictrtp") == "yes"


@pytest.mark.parametrize("calls", ["0", "-3", "15000"])
def test_impossible_max_calls_are_refused(
    calls: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(str(REFERENCE_PLAN), "--out", str(tmp_path), "--max-calls", calls) == 2
    assert "--max-calls" in capsys.readouterr().err
    assert not (tmp_path / "pjsip.conf").exists()


def test_the_command_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(str(REFERENCE_PLAN), "--out", str(tmp_path), "--bind", "everywhere") == 2
    assert "--bind" in capsys.readouterr().err
    bad = tmp_path / "plan.yaml"
    bad.write_text("practice: {name: x}\n", encoding="utf-8")
    assert main(["asterisk-conf", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert "plan.yaml" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# -- static files ----------------------------------------------------------------------------
STATIC_FILES = (
    "http.conf",
    "ari.conf",
    "manager.conf",
    "musiconhold.conf",
    "cdr_manager.conf",
    "modules.conf",
    "voicemail.conf",
    "rtp.conf",
    "README.md",
)


def _conf(name: str) -> list[Section]:
    sections, _ = parse_conf((STATIC / name).read_text(encoding="utf-8"))
    return sections


@pytest.mark.parametrize("name", STATIC_FILES)
def test_static_files_exist_and_parse(name: str) -> None:
    path = STATIC / name
    assert path.is_file()
    if name.endswith(".conf"):
        assert _conf(name)


def test_listeners_bind_to_loopback_only() -> None:
    http = _conf("http.conf")[0]
    assert (http.get("bindaddr"), http.get("bindport")) == ("127.0.0.1", "8088")
    assert http.get("tlsenable") == "no"
    manager = {s.name: s for s in _conf("manager.conf")}
    assert (manager["general"].get("bindaddr"), manager["general"].get("port")) == (
        "127.0.0.1",
        "5038",
    )
    assert manager["general"].get("webenabled") == "no"
    user = manager["frontdesk"]
    assert user.get("deny") == "0.0.0.0/0.0.0.0"
    assert user.get("permit") == "127.0.0.1/255.255.255.255"
    for name in STATIC_FILES:
        text = (STATIC / name).read_text(encoding="utf-8")
        assert not re.search(r"(?m)^\s*(bind|bindaddr)\s*=\s*(0\.0\.0\.0|::)", text), name


def test_ami_user_has_the_least_privilege() -> None:
    user = {s.name: s for s in _conf("manager.conf")}["frontdesk"]
    assert set((user.get("read") or "").split(",")) == {"system", "call", "cdr", "user"}
    assert user.get("write") == "user"
    # Events filtered at the source (Action: Filter would need write = system).
    filters = {k: v for k, v in user.options if k.startswith("eventfilter")}
    names = {re.search(r"name\((\w+)\)", k).group(1) for k in filters}  # type: ignore[union-attr]
    assert names == {
        "FullyBooted",
        "Shutdown",
        "ContactStatus",
        "DeviceStateChange",
        "Cdr",
        "UserEvent",
    }
    assert all(k.startswith("eventfilter(action(include),") for k in filters)
    assert names >= DEFAULT_EVENTS  # every event the AMI client reads gets through


def test_no_secret_in_the_repository() -> None:
    ari = (STATIC / "ari.conf").read_text(encoding="utf-8")
    manager = (STATIC / "manager.conf").read_text(encoding="utf-8")
    assert "#include ari-secrets.conf" in ari
    assert "#include manager-secrets.conf" in manager
    for text in (ari, manager):
        assert not re.search(r"(?m)^\s*(password|secret)\s*=", text)
    for example in ("ari-secrets.conf.example", "manager-secrets.conf.example"):
        lines = (STATIC / example).read_text(encoding="utf-8").splitlines()
        assignments = [ln for ln in lines if ln and not ln.startswith(";")]
        assert len(assignments) == 1
        assert assignments[0].endswith("= CHANGE-ME")
    ignored = (STATIC / ".gitignore").read_text(encoding="utf-8").split()
    assert {"ari-secrets.conf", "manager-secrets.conf", "pjsip-secrets.conf"} <= set(ignored)
    assert ".env" in (DOCKER / ".gitignore").read_text(encoding="utf-8").split()


def test_modules_conf_loads_what_frontdesk_needs_and_noloads_listeners() -> None:
    options = _conf("modules.conf")[0].options
    loaded = {v for k, v in options if k in ("load", "require")}
    noloaded = {v for k, v in options if k == "noload"}
    needed = {
        "res_ari.so",
        "res_ari_channels.so",
        "res_ari_bridges.so",
        "res_ari_events.so",
        "res_stasis.so",
        "app_stasis.so",
        "cdr_manager.so",
        "res_agi.so",
        "chan_pjsip.so",
        "res_pjsip.so",
        "app_voicemail.so",
    }
    assert needed <= loaded
    assert {"chan_iax2.so", "pbx_dundi.so", "chan_unistim.so", "res_phoneprov.so"} <= noloaded
    assert not loaded & noloaded
    cdr = {s.name: s for s in _conf("cdr_manager.conf")}
    assert cdr["general"].get("enabled") == "yes"


def test_readme_explains_every_file() -> None:
    readme = (STATIC / "README.md").read_text(encoding="utf-8")
    for name in (*STATIC_FILES[:-1], "ari-secrets.conf", "manager-secrets.conf", "pjsip.conf"):
        assert f"`{name}`" in readme, name


# -- the dialplan ------------------------------------------------------------------------------
@dataclass
class Dialplan:
    contexts: dict[str, dict[str, list[str]]]  # context -> extension -> applications

    def apps(self, context: str, exten: str) -> list[str]:
        return self.contexts[context][exten]


def parse_dialplan(text: str) -> Dialplan:
    contexts: dict[str, dict[str, list[str]]] = {}
    context = exten = ""
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        head = re.fullmatch(r"\[([^\]]+)\]", line)
        if head:
            context = head.group(1)
            contexts[context] = {}
            continue
        match = re.fullmatch(r"exten\s*=>\s*([^,]+),(\d+|n)(?:\((\w+)\))?,(.*)", line)
        if match:
            exten = match.group(1)
            contexts[context].setdefault(exten, []).append(_step(match.group(3), match.group(4)))
            continue
        match = re.fullmatch(r"same\s*=>\s*n(?:\((\w+)\))?,(.*)", line)
        if match:
            contexts[context][exten].append(_step(match.group(1), match.group(2)))
    return Dialplan(contexts)


def _step(label: str | None, app: str) -> str:
    return f"({label}){app}" if label else app


def _steps(dialplan: Dialplan) -> Iterator[tuple[str, str, str]]:
    for context, extens in dialplan.contexts.items():
        if context in ("general", "globals"):
            continue
        for exten, apps in extens.items():
            for app in apps:
                yield context, exten, app


@pytest.fixture(scope="module")
def dialplan() -> Dialplan:
    return parse_dialplan(DIALPLAN.read_text(encoding="utf-8"))


def test_trunk_calls_enter_stasis_then_fall_back(dialplan: Dialplan) -> None:
    for exten in ("_[+0-9].", "s"):
        apps = dialplan.apps("from-pstn", exten)
        assert apps[1] == "Gosub(frontdesk-trunk-cap,s,1)"
        assert apps[2].startswith("Gosub(frontdesk-admission,s,1(")
        assert apps[3] == 'GotoIf($["${GOSUB_RETVAL}" = "shed"]?frontdesk-fallback,s,1)'
        assert apps[4] == "Stasis(frontdesk)"
        assert apps[5] == "Goto(frontdesk-return,s,1)"
    back = dialplan.apps("frontdesk-return", "s")
    assert 'GotoIf($["${STASISSTATUS}" != "SUCCESS"]?frontdesk-fallback,s,1)' in back
    route = dialplan.apps("frontdesk-route", "s")
    assert route[-1] == "Goto(frontdesk-fallback,s,1)"  # unset / fallback / unknown routes
    fallback = dialplan.apps("frontdesk-fallback", "s")
    assert "Dial(${FRONTDESK_FALLBACK_DIAL},${FRONTDESK_FALLBACK_RING})" in fallback
    assert "VoiceMail(${FRONTDESK_FALLBACK_MAILBOX},s)" in fallback
    assert fallback[-1] == "(done)Hangup()"


def test_every_route_the_daemon_sets_is_handled(dialplan: Dialplan) -> None:
    route = dialplan.apps("frontdesk-route", "s")
    for kind in ("queue", "voicemail", "transfer"):
        assert f'GotoIf($["${{FRONTDESK_ROUTE}}" = "{kind}"]?{kind},1)' in route
        assert kind in dialplan.contexts["frontdesk-route"]
    session = pytest.importorskip("frontdesk.calls.session")
    assert "FRONTDESK_ROUTE" in (session.__doc__ or "")


def test_every_variable_reaching_an_application_is_checked_first(dialplan: Dialplan) -> None:
    for context, exten, app in _steps(dialplan):
        for name in ("FRONTDESK_DESTINATION", "FRONTDESK_QUEUE"):
            if re.match(rf"(\(\w+\))?(Dial|Queue|VoiceMail)\(\${{{name}}}", app):
                apps = dialplan.apps(context, exten)
                before = apps[: apps.index(app)]
                assert any("REGEX(" in a and name in a for a in before), (context, exten, app)


def _goto_targets(app: str) -> list[str]:
    """`Goto(a,b,c)` -> [a,b,c]; `GotoIf(cond?x:y)` -> [x, y] (each `ctx,ext,prio` or a label)."""
    app = re.sub(r"^\(\w+\)", "", app)
    if app.startswith("Goto("):
        return [app[len("Goto(") : -1]]
    if app.startswith("GotoIf("):
        branches = app[:-1].rsplit("?", 1)[1]
        return [b for b in branches.split(":") if b]
    return []


def test_every_goto_target_exists(dialplan: Dialplan) -> None:
    checked = 0
    for context, exten, app in _steps(dialplan):
        for target in _goto_targets(app):
            parts = target.split(",")
            if len(parts) == 1:  # a label in the same extension
                labels = [a for a in dialplan.apps(context, exten) if a.startswith(f"({target})")]
                assert labels, (context, exten, app)
            else:
                where, ext = (context, parts[0]) if len(parts) == 2 else (parts[0], parts[1])
                assert where in dialplan.contexts, (context, exten, app)
                assert ext in dialplan.contexts[where], (context, exten, app)
                assert parts[-1] == "1", (context, exten, app)
            checked += 1
    assert checked >= 25


def test_agi_context_and_staff_features(dialplan: Dialplan) -> None:
    agi = dialplan.apps("frontdesk-agi", "_[+0-9].")
    assert "AGI(agi://127.0.0.1:4573/route)" in agi
    assert "Queue(${FRONTDESK_QUEUE})" in agi
    assert agi[-1] == "Goto(frontdesk-fallback,s,1)"
    staff = dialplan.contexts["staff"]
    assert staff["*45"][0] == "Stasis(frontdesk,feature,login)"
    assert staff["*46"][0] == "Stasis(frontdesk,feature,logout)"
    assert staff["*47"][0] == "Stasis(frontdesk,feature,pause)"
    assert staff["_X."][0] == "Dial(PJSIP/${FILTER(0-9,${EXTEN})},20)"
    assert "Dial(PJSIP/911@${FRONTDESK_TRUNK})" in staff["911"]
    # Staff phones reach the trunk for 911 only.
    for exten, apps in staff.items():
        if exten != "911":
            assert not any("@" in app and "Dial" in app for app in apps), exten


def test_globals_include_the_generated_file() -> None:
    text = DIALPLAN.read_text(encoding="utf-8")
    globals_block = re.split(r"(?m)^\[globals\]$", text)[1].split("\n[", 1)[0]
    assert "#tryinclude frontdesk-globals.conf" in globals_block
    assert "FRONTDESK_FALLBACK_DIAL=PJSIP/2001&PJSIP/2003&PJSIP/2006" in globals_block


# -- docker --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, object]:
    data = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_compose_publishes_only_on_loopback(compose: dict[str, object]) -> None:
    services = compose["services"]
    assert isinstance(services, dict)
    assert set(services) == {"asterisk", "postgres", "frontdesk", *TWO_SITES}
    published = []
    for name, service in services.items():
        if name in TWO_SITES:
            continue  # test_compose_has_a_two_site_example
        for port in service.get("ports", []):
            assert isinstance(port, str), port  # short syntax, always with the host address
            published.append(port)
            assert port.startswith("127.0.0.1:"), port
    assert "127.0.0.1:5060:5060/udp" in published
    # RTP: the range `frontdesk asterisk-conf` generates for the compose file's default plan.
    rtp = next(p for p in published if p.endswith("/udp") and "5060" not in p)
    default = re.fullmatch(r"127\.0\.0\.1:\$\{FRONTDESK_RTP_PORTS:-(\d+-\d+)\}:(.*)/udp", rtp)
    assert default is not None, rtp
    assert default.group(2) == f"${{FRONTDESK_RTP_PORTS:-{default.group(1)}}}"
    plan, _ = read_plan(REFERENCE_PLAN)
    assert default.group(1) == asterisk_config.rtp_range(plan).text()
    assert services["postgres"]["image"] == "postgres:16"
    assert services["frontdesk"]["network_mode"] == "service:asterisk"


TWO_SITES = ("asterisk-north", "frontdesk-north", "asterisk-south", "frontdesk-south")


def test_compose_has_a_two_site_example(compose: dict[str, object]) -> None:
    """Profile `two-sites`: two Asterisk + frontdesk pairs, one PostgreSQL (docs/scale.md
    "Several sites"); each frontdesk in its Asterisk's network namespace, with its site."""
    services = compose["services"]
    assert isinstance(services, dict)
    for site, address in (("north", "127.0.0.2"), ("south", "127.0.0.3")):
        pbx, daemon = services[f"asterisk-{site}"], services[f"frontdesk-{site}"]
        assert pbx["profiles"] == daemon["profiles"] == ["two-sites"]
        assert daemon["network_mode"] == f"service:asterisk-{site}"
        env = daemon["environment"]
        assert env["FRONTDESK_SITE"] == site
        assert "@postgres:5432/frontdesk" in env["FRONTDESK_DATABASE_URL"]  # the one database
        assert env["FRONTDESK_ARI_URL"] == "http://127.0.0.1:8088/ari"
        assert f"./generated/{site}/conf:/srv/frontdesk/conf:ro" in pbx["volumes"]
        assert pbx["build"]["dockerfile"] == "docker/asterisk/Dockerfile"
        assert pbx["environment"]["FRONTDESK_AMI_SECRET"].startswith("${FRONTDESK_AMI_SECRET:?")
        for port in pbx["ports"]:
            assert port.startswith(f"{address}:"), port  # loopback, one address per site
        assert "profiles" not in services["postgres"]
    entrypoint = (DOCKER / "asterisk" / "entrypoint.sh").read_text(encoding="utf-8")
    assert "frontdesk-options.conf" in entrypoint  # systemname into asterisk.conf


def test_compose_passes_the_settings_and_takes_secrets_from_env(
    compose: dict[str, object],
) -> None:
    services = compose["services"]
    assert isinstance(services, dict)
    env = services["frontdesk"]["environment"]
    assert set(env) >= {
        "FRONTDESK_ARI_URL",
        "FRONTDESK_ARI_USER",
        "FRONTDESK_ARI_PASSWORD",
        "FRONTDESK_AMI_HOST",
        "FRONTDESK_AMI_PORT",
        "FRONTDESK_AMI_USER",
        "FRONTDESK_AMI_SECRET",
        "FRONTDESK_PLAN",
    }
    assert env["FRONTDESK_ARI_URL"] == "http://127.0.0.1:8088/ari"
    for name in ("FRONTDESK_ARI_PASSWORD", "FRONTDESK_AMI_SECRET"):
        assert env[name] == f"${{{name}:?set it in docker/.env}}"
    example = (DOCKER / ".env.example").read_text(encoding="utf-8")
    for name in ("FRONTDESK_ARI_PASSWORD", "FRONTDESK_AMI_SECRET", "POSTGRES_PASSWORD"):
        assert f"{name}=CHANGE-ME" in example


def test_dockerfiles_copy_files_that_exist(compose: dict[str, object]) -> None:
    services = compose["services"]
    assert isinstance(services, dict)
    for name in ("asterisk", "frontdesk"):
        build = services[name]["build"]
        dockerfile = (DOCKER / build["context"] / build["dockerfile"]).resolve()
        assert dockerfile.is_file()
        for line in dockerfile.read_text(encoding="utf-8").splitlines():
            if line.startswith("COPY "):
                for source in line.split()[1:-1]:
                    assert list(ROOT.glob(source)), (name, source)


def test_docs_cover_the_real_asterisk_setup() -> None:
    text = (ROOT / "docs" / "real-asterisk.md").read_text(encoding="utf-8")
    assert text.startswith("## Run against a real Asterisk")
    for needle in (
        "frontdesk asterisk-conf",
        "frontdesk prompts",
        "frontdesk check",
        "FRONTDESK_ARI_PASSWORD",
        "/etc/asterisk",
    ):
        assert needle in text


def test_past_the_trunk_cap_callers_get_busy(dialplan: Dialplan) -> None:
    cap = dialplan.apps("frontdesk-trunk-cap", "s")
    assert cap[0] == "Set(GROUP(frontdesk)=pstn)"
    assert "Busy(5)" in cap
    assert cap[-1] == "(ok)Return()"
    assert "GotoIf($[${FRONTDESK_TRUNK_MAX_CALLS} = 0]?ok)" in cap  # 0: no cap


def test_while_overloaded_the_dialplan_sheds_all_but_urgent_numbers(dialplan: Dialplan) -> None:
    """The globals frontdesk sets (calls/admission.py) are the ones this context reads."""
    admission = dialplan.apps("frontdesk-admission", "s")
    # the share to shed, in %: a call goes on to Stasis when RAND(1,100) is above it
    assert admission[0] == f"GotoIf($[0${{{SHED_GLOBAL}}} < ${{RAND(1,100)}}]?admit)"
    assert f"${{{URGENT_GLOBAL}${{FILTER(0-9,${{ARG1}})}}}}" in admission[1]
    assert admission[2] == "UserEvent(FrontdeskShed,Did: ${FILTER(0-9,${ARG1})})"
    assert admission[3] == "Return(shed)"
    assert admission[-1] == "(admit)Return()"


def test_the_generated_globals_cap_the_trunk_at_the_rtp_design_peak() -> None:
    plan, _ = read_plan(REFERENCE_PLAN)
    text = asterisk_config.render_globals(plan, asterisk_config.Options(max_calls=40))
    assert "FRONTDESK_TRUNK_MAX_CALLS=40" in text.splitlines()


def test_box_limits_sit_above_the_trunk_cap() -> None:
    plan, _ = read_plan(REFERENCE_PLAN)
    limits = asterisk_config.box_limits(plan, 40, cores=2)
    assert limits.maxcalls == (40 + len(plan.staff)) * 2
    assert limits.maxload == 4.0
    text = asterisk_config.render_options(plan, asterisk_config.Options(max_calls=40, pbx_cores=2))
    assert f"maxcalls = {limits.maxcalls}" in text.splitlines()
    assert "maxload = 4" in text.splitlines()
    with pytest.raises(asterisk_config.ConfigError, match="--pbx-cores"):
        asterisk_config.box_limits(plan, 40, cores=0)


def test_the_site_is_asterisks_systemname(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two sites' uniqueids (the linkedids calls are keyed by) never collide on the shared
    database: each Asterisk's systemname is its site (docs/scale.md "Several sites")."""
    monkeypatch.delenv("FRONTDESK_SITE", raising=False)
    plan, _ = read_plan(REFERENCE_PLAN)
    text = asterisk_config.render_options(plan, asterisk_config.Options(site="north"))
    assert "systemname = north" in text.splitlines()
    assert _run(str(REFERENCE_PLAN), "--out", str(tmp_path)) == 0
    assert "systemname = main" in (tmp_path / "frontdesk-options.conf").read_text()
    monkeypatch.setenv("FRONTDESK_SITE", "south")
    assert _run(str(REFERENCE_PLAN), "--out", str(tmp_path)) == 0
    assert "systemname = south" in (tmp_path / "frontdesk-options.conf").read_text()
    assert _run(str(REFERENCE_PLAN), "--out", str(tmp_path), "--site", "East Wing") == 2
    capsys.readouterr()
