"""A go-live run as files: SIPp scenarios, injection CSVs, the expectation, a README.

Pure: `render(cases, ...)` returns `{relative path: text}`; the CLI writes them.

One scenario per route (its keys and pauses are baked in: SIPp loads the DTMF pcaps when
it parses a scenario, so a key cannot come from an injection field), with an injection
CSV of one line per regime (SEQUENTIAL): caller `[field0]`, DID `[field1]`, routing time
`[field2]` (sent as `X-Frontdesk-Route-Time`), case number `[field3]` and regime
`[field4]` (both sent as `X-Frontdesk-Case` for Asterisk's logs). Keys are RFC 4733
events played from SIPp's own pcaps (`play_pcap_audio` of `dtmf_2833_<key>.pcap`; SIPp
3.x has no `play_pcap_rtp`). `run.sh` runs the scenarios in case order, one call at a
time: `frontdesk golive verify` matches the k-th call of a caller to a number with the
k-th case of that pair.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from frontdesk.golive.cases import Case, CaseSet, route_time_header
from frontdesk.golive.override import HEADER

DEBIAN_PCAPS = "/usr/share/sip-tester"  # Debian/Ubuntu package sip-tester
PCAP_NAMES = {"*": "star", "#": "pound"}
DTMF_PCAP_SECONDS = 0.3  # each SIPp dtmf_2833 pcap is 10 packets over 280 ms
EXPECTED_JSON = "expected.json"
EXPECTED_CSV = "expected.csv"
TEST_PATIENTS_CSV = "test_patients.csv"
FORMAT = 1


def pcap_for(key: str, pcap_dir: str) -> str:
    return f"{pcap_dir.rstrip('/')}/dtmf_2833_{PCAP_NAMES.get(key, key)}.pcap"


def render(
    cases: CaseSet,
    *,
    pcap_dir: str,
    generated_at: datetime,
    plan_path: str,
) -> dict[str, str]:
    files: dict[str, str] = {}
    groups = _by_route(cases.cases)
    for index, group in enumerate(groups, 1):
        stem = f"scenarios/{index:03d}-{_slug(group[0].route_id)}"
        files[f"{stem}.xml"] = scenario_xml(group, pcap_dir)
        files[f"{stem}.csv"] = injection_csv(group)
    files[EXPECTED_JSON] = expected_json(cases, generated_at, plan_path)
    files[EXPECTED_CSV] = expected_csv(cases.cases)
    if cases.test_patients:
        files[TEST_PATIENTS_CSV] = test_patients_csv(cases)
    files["run.sh"] = run_script(groups)
    files["README.txt"] = readme(cases, len(groups), plan_path)
    return files


def _by_route(cases: list[Case]) -> list[list[Case]]:
    """Cases grouped by route, in case order (cases of a route are consecutive)."""
    groups: list[list[Case]] = []
    for case in cases:
        if groups and groups[-1][0].route_id == case.route_id:
            groups[-1].append(case)
        else:
            groups.append([case])
    return groups


def _slug(route_id: str) -> str:
    text = re.sub(r"[^0-9A-Za-z]+", "-", route_id.replace("*", "star").replace("#", "pound"))
    return text.strip("-")[:60] or "route"


# -- the scenario ---------------------------------------------------------------------------
_FROM = "From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]golive[call_number]"
_TO = "To: <sip:[field1]@[remote_ip]:[remote_port]>"
_INVITE = f"""INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {_FROM}
      {_TO}
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      {HEADER}: [field2]
      X-Frontdesk-Case: [field3] [field4]
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=golive 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [auto_media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv
"""


def _in_dialog(method: str, cseq: int) -> str:
    return f"""{method} sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      {_FROM}
      {_TO}[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
"""


def scenario_xml(group: list[Case], pcap_dir: str) -> str:
    """A UAC scenario for one route: INVITE, ACK, the keys with their pauses, BYE."""
    first = group[0]
    name = _ascii(f"frontdesk golive: {first.route_id}")
    lines = [
        '<?xml version="1.0" encoding="ISO-8859-1" ?>',
        '<!DOCTYPE scenario SYSTEM "sipp.dtd">',
        f"<!-- {_comment(first.description)}; keys {','.join(first.keys) or 'none'} -->",
        f"<!-- cases {', '.join(str(c.number) for c in group)}; fields: caller;did;"
        "route time;case;regime -->",
        f"<scenario name={quoteattr(name)}>",
        f'  <send retrans="500">\n    <![CDATA[\n      {_INVITE}    ]]>\n  </send>',
        '  <recv response="100" optional="true"/>',
        '  <recv response="180" optional="true"/>',
        '  <recv response="183" optional="true"/>',
        '  <recv response="200" rtd="true"/>',
        f"  <send>\n    <![CDATA[\n      {_in_dialog('ACK', 1)}    ]]>\n  </send>",
    ]
    for step in first.steps:
        lines.append(f'  <pause milliseconds="{_ms(step.pause)}"/>')
        if step.key is None:
            lines.append("  <!-- silence: the menu's timeout runs out -->")
        else:
            pcap = pcap_for(step.key, pcap_dir)
            lines.append(
                f"  <nop>\n    <action>\n      <exec play_pcap_audio={quoteattr(pcap)}/>\n"
                f"    </action>\n  </nop>  <!-- key {escape(step.key)} -->"
            )
    hold = max(c.hold for c in group)  # the longest announcement of the route's regimes
    lines += [
        f'  <pause milliseconds="{_ms(hold)}"/>',
        f'  <send retrans="500">\n    <![CDATA[\n      {_in_dialog("BYE", 2)}    ]]>\n  </send>',
        '  <recv response="200" crlf="true"/>',
        "</scenario>",
    ]
    return "\n".join(lines) + "\n"


def _ms(seconds: float) -> int:
    return max(round(seconds * 1000), 0)


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def _comment(text: str) -> str:
    return _ascii(text).replace("--", "- -")


def injection_csv(group: list[Case]) -> str:
    rows = [
        ";".join((c.caller, c.did, route_time_header(c), str(c.number), c.regime_id)) for c in group
    ]
    return "SEQUENTIAL\n" + "\n".join(rows) + "\n"


# -- the expectation ---------------------------------------------------------------------------
def expected_json(cases: CaseSet, generated_at: datetime, plan_path: str) -> str:
    data: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": generated_at.isoformat(timespec="seconds"),
        "plan_file": plan_path,
        "header": HEADER,
    } | cases.as_json()
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def expected_csv(cases: list[Case]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "case",
            "route",
            "regime",
            "caller",
            "did",
            "keys",
            "route_time",
            "expected_route",
            "expected_destination",
            "category",
            "after_hours",
            "holiday",
            "description",
        ]
    )
    for case in cases:
        expected = case.expected
        writer.writerow(
            [
                case.number,
                case.route_id,
                case.regime_id,
                case.caller,
                case.did,
                ",".join(case.keys),
                route_time_header(case),
                expected.route,
                destination_text(expected.destination),
                expected.category,
                str(expected.after_hours).lower(),
                str(expected.holiday).lower(),
                case.description,
            ]
        )
    return out.getvalue()


def destination_text(destination: dict[str, Any]) -> str:
    """`queue scheduling [cardiology]`, `voicemail intake`, `transfer answering_service`."""
    kind = destination.get("kind")
    if kind == "queue":
        skills = destination.get("skills") or []
        extra = f" [{','.join(skills)}]" if skills else ""
        front = " (front)" if destination.get("priority") == "front" else ""
        return f"queue {destination.get('queue')}{extra}{front}"
    if kind == "voicemail":
        return f"voicemail {destination.get('box')}"
    return f"transfer {destination.get('target')}"


def test_patients_csv(cases: CaseSet) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["phone", "patient_id", "preferred_language", "specialty"])
    for patient in cases.test_patients:
        writer.writerow(
            [patient.phone, patient.patient_id, patient.language or "", patient.specialty or ""]
        )
    return out.getvalue()


# -- running it -----------------------------------------------------------------------------------
def sipp_command(xml: str, csv_name: str, calls: int) -> str:
    """One route's regimes, one call at a time, from the trunk's address (127.0.0.1:5070)."""
    return " ".join(
        [
            '"$SIPP"',
            f"-sf {shlex.quote(xml)}",
            f"-inf {shlex.quote(csv_name)}",
            f"-m {calls} -l 1 -r 1",
            '-i "$LOCAL_IP" -p "$LOCAL_PORT" -mi "$LOCAL_IP"',
            "-recv_timeout 60000 -nostdin -trace_err",
            '"$TARGET"',
        ]
    )


def run_script(groups: list[list[Case]]) -> str:
    lines = [
        "#!/bin/sh",
        "# Every go-live case through SIPp, in case order, one call at a time.",
        "#   ./run.sh [ASTERISK_HOST:PORT]      (default 127.0.0.1:5060)",
        "# LOCAL_IP/LOCAL_PORT must be the trunk's address in pjsip.conf (default",
        "# 127.0.0.1:5070). SIPp's own pass/fail is not the verdict: run",
        "# `frontdesk golive verify .` afterwards.",
        "set -u",
        'cd "$(dirname "$0")"',
        'TARGET="${1:-127.0.0.1:5060}"',
        'SIPP="${SIPP:-sipp}"',
        'LOCAL_IP="${LOCAL_IP:-127.0.0.1}"',
        'LOCAL_PORT="${LOCAL_PORT:-5070}"',
        'date -u +"%Y-%m-%dT%H:%M:%SZ" > started_at.txt',
        "failed=0",
    ]
    for index, group in enumerate(groups, 1):
        stem = f"scenarios/{index:03d}-{_slug(group[0].route_id)}"
        numbers = f"{group[0].number}-{group[-1].number}"
        lines.append(f'echo "cases {numbers}: {_shell_text(group[0].route_id)}"')
        lines.append(sipp_command(f"{stem}.xml", f"{stem}.csv", len(group)) + " || failed=1")
    lines += [
        'echo "done; now: frontdesk golive verify $(pwd) --since $(cat started_at.txt)"',
        "exit $failed",
    ]
    return "\n".join(lines) + "\n"


def _concrete(command: str) -> str:
    """A run.sh command line as a person would type it (defaults filled in)."""
    values = {
        '"$SIPP"': "sipp",
        '"$LOCAL_IP"': "127.0.0.1",
        '"$LOCAL_PORT"': "5070",
        '"$TARGET"': "127.0.0.1:5060",
    }
    for name, value in values.items():
        command = command.replace(name, value)
    return command


def _shell_text(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z+/,=:@._ -]", "?", text)


def readme(cases: CaseSet, scenarios: int, plan_path: str) -> str:
    minutes = sum(c.duration for c in cases.cases) / 60
    known = "\n".join(
        f"  {p.phone} -> {p.patient_id} (language {p.language or '-'}, "
        f"specialty {p.specialty or '-'})"
        for p in cases.test_patients
    )
    skipped = "\n".join(f"  {route}" for route in cases.skipped)
    return f"""frontdesk go-live run for {cases.plan}
Plan: {plan_path}; reference week of {cases.week_of.isoformat()}.
{len(cases.cases)} cases in {scenarios} SIPp scenarios; about {minutes:.0f} minutes of calls.
Step by step: docs/golive.md.

1. Callers. The unknown caller is {cases.unknown_caller}: it must NOT be in the
   patient directory.{" Known callers:" if known else ""}
{known or "  (no route needs a known caller)"}
{"   Import them first: frontdesk directory import " + TEST_PATIENTS_CSV if known else ""}
2. frontdesk runs with FRONTDESK_GOLIVE=on, every staff member logged in (the
   default at start): the expectation assumes a staffed practice.
3. Run the calls (SIPp 3.x, package sip-tester; the DTMF pcaps are SIPp's own):
     ./run.sh 127.0.0.1:5060
   One scenario per route, e.g.:
     {_concrete(sipp_command("scenarios/001-....xml", "scenarios/001-....csv", 5))}
   SIPp sends from 127.0.0.1:5070, the trunk's address in pjsip.conf
   (LOCAL_IP / LOCAL_PORT to change it).
4. Compare the call rows with the expectation:
     frontdesk golive verify . --since "$(cat started_at.txt)"
   exit 0: every case passed; 1: some failed (the table says how); 2: bad input.

expected.json  the cases and what each call row must say (for verify)
expected.csv   the same, to read
{TEST_PATIENTS_CSV + "  the directory rows of the known test callers" if known else ""}
{"Routes skipped (declare more test callers in the plan's golive section):" if skipped else ""}
{skipped}
""".replace("\n\n\n", "\n\n")
