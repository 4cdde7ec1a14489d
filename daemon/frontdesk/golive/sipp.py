"""A go-live run as files: SIPp scenarios, their key pcaps, injection CSVs, the
expectation, a README and `run.sh`.

Pure: `render(cases, ...)` returns `{relative path: text or bytes}`; the CLI writes them.

One scenario per route (its keys and pauses are baked in: SIPp loads the pcaps when it
parses a scenario, so a key cannot come from an injection field), with an injection
CSV of one line per regime (SEQUENTIAL): caller `[field0]`, DID `[field1]`, routing time
`[field2]` (sent as `X-Frontdesk-Route-Time`), the case id `[field3]` (sent as
`X-Frontdesk-Case`: `<run id>:<case number>`) and the regime `[field4]` (for people).

Keys are RFC 4733 events played with `play_pcap_audio` from pcaps written here, one per
press (`scenarios/NNN-<route>/key-<n>-<key>.pcap`, `dtmf_pcap`): their RTP sequence
numbers and timestamps grow from press to press of the call, as a phone's do (SIPp's
stock `dtmf_2833_<key>.pcap` files carry fixed ones, and Asterisk drops a press that
looks older than the one before). The scenario names them relative to itself, where
SIPp (3.5 and later) looks first; `run.sh` also runs SIPp from `scenarios/`, so the
older current-directory lookup finds the same files.

`run.sh [--parallel N]` runs every scenario, one call at a time per lane, N lanes side by
side (lane k sends from LOCAL_PORT+k). `frontdesk golive verify` finds each case's call
by its case id, so the order does not matter (order is the fallback for rows without).
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

from frontdesk.golive import dtmf_pcap
from frontdesk.golive.cases import Case, CaseSet, Step, case_tag, route_time_header, run_id
from frontdesk.golive.override import CASE_HEADER, HEADER

SCENARIOS = "scenarios"
EXPECTED_JSON = "expected.json"
EXPECTED_CSV = "expected.csv"
TEST_PATIENTS_CSV = "test_patients.csv"
FORMAT = 2  # 2: a run id, and case ids sent as X-Frontdesk-Case


def render(
    cases: CaseSet,
    *,
    generated_at: datetime,
    plan_path: str,
) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {}
    run = run_id(generated_at)
    groups = _by_route(cases.cases)
    for index, group in enumerate(groups, 1):
        name = scenario_name(index, group[0])
        pcaps = key_pcaps(group[0].steps, name, seed=group[0].route_id)
        files[f"{SCENARIOS}/{name}.xml"] = scenario_xml(group, [path for path, _ in pcaps])
        files[f"{SCENARIOS}/{name}.csv"] = injection_csv(group, run)
        files |= {f"{SCENARIOS}/{path}": data for path, data in pcaps}
    files[EXPECTED_JSON] = expected_json(cases, generated_at, plan_path)
    files[EXPECTED_CSV] = expected_csv(cases.cases)
    if cases.test_patients:
        files[TEST_PATIENTS_CSV] = test_patients_csv(cases)
    files["run.sh"] = run_script(groups)
    files["README.txt"] = readme(cases, len(groups), plan_path)
    return files


def scenario_name(index: int, case: Case) -> str:
    """`NNN-<route slug>`: the scenario's files in `scenarios/` (and its pcap folder)."""
    return f"{index:03d}-{_slug(case.route_id)}"


def key_pcaps(steps: tuple[Step, ...], folder: str, *, seed: str) -> list[tuple[str, bytes]]:
    """The call's presses as pcaps, `(<folder>/key-<n>-<key>.pcap, bytes)` in press order:
    one RTP stream whose sequence numbers and timestamps only grow (`dtmf_pcap`)."""
    presses: list[tuple[float, str]] = []
    waited = 0.0
    for step in steps:
        waited += step.pause
        if step.key is not None:
            presses.append((waited, step.key))
            waited = 0.0
    blobs = dtmf_pcap.call_pcaps(presses, seed=seed)
    return [
        (f"{folder}/{dtmf_pcap.file_name(n, key)}", blob)
        for n, ((_, key), blob) in enumerate(zip(presses, blobs, strict=True), 1)
    ]


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
      {CASE_HEADER}: [field3]
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


def scenario_xml(group: list[Case], pcaps: list[str]) -> str:
    """A UAC scenario for one route: INVITE, ACK, the keys with their pauses, BYE.
    `pcaps`: one per key of the route, relative to the scenario's folder."""
    first = group[0]
    name = _ascii(f"frontdesk golive: {first.route_id}")
    lines = [
        '<?xml version="1.0" encoding="ISO-8859-1" ?>',
        '<!DOCTYPE scenario SYSTEM "sipp.dtd">',
        f"<!-- {_comment(first.description)}; keys {','.join(first.keys) or 'none'} -->",
        f"<!-- cases {', '.join(str(c.number) for c in group)}; fields: caller;did;"
        "route time;case id;regime -->",
        f"<scenario name={quoteattr(name)}>",
        f'  <send retrans="500">\n    <![CDATA[\n      {_INVITE}    ]]>\n  </send>',
        '  <recv response="100" optional="true"/>',
        '  <recv response="180" optional="true"/>',
        '  <recv response="183" optional="true"/>',
        '  <recv response="200" rtd="true"/>',
        f"  <send>\n    <![CDATA[\n      {_in_dialog('ACK', 1)}    ]]>\n  </send>",
    ]
    played = iter(pcaps)
    for step in first.steps:
        lines.append(f'  <pause milliseconds="{_ms(step.pause)}"/>')
        if step.key is None:
            lines.append("  <!-- silence: the menu's timeout runs out -->")
        else:
            pcap = next(played)
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


def injection_csv(group: list[Case], run: str) -> str:
    rows = [
        ";".join((c.caller, c.did, route_time_header(c), case_tag(run, c), c.regime_id))
        for c in group
    ]
    return "SEQUENTIAL\n" + "\n".join(rows) + "\n"


# -- the expectation ---------------------------------------------------------------------------
def expected_json(cases: CaseSet, generated_at: datetime, plan_path: str) -> str:
    data: dict[str, Any] = {
        "format": FORMAT,
        "generated_at": generated_at.isoformat(timespec="seconds"),
        "plan_file": plan_path,
        "run": run_id(generated_at),
        "header": HEADER,
        "case_header": CASE_HEADER,
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
SIPP_OPTIONS = "-l 1 -r 1 -recv_timeout 60000 -nostdin -trace_err"
RESULTS = "logs/results.txt"  # run.sh: "<sipp exit code> <scenario> <case>" per call


def sipp_command(name: str, calls: int) -> str:
    """What run.sh runs for one route's regimes (from `scenarios/`), with the defaults:
    one call at a time from the trunk's address 127.0.0.1:5070 to 127.0.0.1:5060."""
    return (
        f"sipp -sf {shlex.quote(name + '.xml')} -inf {shlex.quote(name + '.csv')} -m {calls} "
        f"{SIPP_OPTIONS} -i 127.0.0.1 -p 5070 -mi 127.0.0.1 127.0.0.1:5060"
    )


_RUN_HEAD = """#!/bin/sh
# Every go-live case through SIPp: each route's scenario calls once per regime.
#   ./run.sh [--parallel N] [ASTERISK_HOST:PORT]      (defaults: 1, 127.0.0.1:5060)
# --parallel N: N lanes side by side, each one call at a time from port LOCAL_PORT+k
# (the trunk's identify in pjsip.conf must match LOCAL_PORT .. LOCAL_PORT+N-1,
# docs/golive.md); every case is one job, the longest first, taken from a shared queue
# (flock). frontdesk golive verify finds each case's call by its X-Frontdesk-Case id:
# the order does not matter.
# LOCAL_IP/LOCAL_PORT: the trunk's address in pjsip.conf (default 127.0.0.1:5070).
# SIPp's output goes to logs/case-<n>.log; its own pass/fail is not the verdict:
# run `frontdesk golive verify .` afterwards.
set -u
cd "$(dirname "$0")" || exit 2
PARALLEL=1
while [ $# -gt 0 ]; do
  case "$1" in
    --parallel) [ $# -ge 2 ] || { echo "run.sh: --parallel needs a number" >&2; exit 2; }
                PARALLEL=$2; shift 2 ;;
    --parallel=*) PARALLEL=${1#--parallel=}; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1 (see ./run.sh --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
case "$PARALLEL" in
  ''|*[!0-9]*|0|0*) echo "run.sh: --parallel N: N is a whole number from 1" >&2; exit 2 ;;
esac
TARGET="${1:-127.0.0.1:5060}"
SIPP="${SIPP:-sipp}"
LOCAL_IP="${LOCAL_IP:-127.0.0.1}"
LOCAL_PORT="${LOCAL_PORT:-5070}"
"""

_RUN_LANES = """
take() {  # the next job's number from the shared queue, or failure when none is left
  (
    flock 9 || exit 1
    n=$(cat logs/.next 2>/dev/null || echo 1)
    [ "$n" -le @JOBS@ ] || exit 1
    echo $((n + 1)) > logs/.next
    echo "$n"
  ) 9> logs/.next.lock
}

lane() {  # lane K: takes the next case until none is left, from port LOCAL_PORT+K
  port=$((LOCAL_PORT + $1))
  while n=$(take); do
    jobs | sed -n "${n}p" | {
      read -r name row num route
      echo "case $num: $route (from port $port)"
      { echo SEQUENTIAL; sed -n "$((row + 1))p" "scenarios/$name.csv"; } > "logs/case-$num.csv"
      (cd scenarios && "$SIPP" -sf "$name.xml" -inf "../logs/case-$num.csv" -m 1 \\
        @OPTIONS@ \\
        -i "$LOCAL_IP" -p "$port" -mi "$LOCAL_IP" "$TARGET") > "logs/case-$num.log" 2>&1
      echo "$? $name $num" >> @RESULTS@
    }
  done
}

mkdir -p logs || exit 2
: > @RESULTS@
rm -f logs/.next
date -u +"%Y-%m-%dT%H:%M:%SZ" > started_at.txt
echo "@JOBS@ calls (@COUNT@ scenarios), $PARALLEL lane(s) to $TARGET, the longest calls first"
k=0
while [ "$k" -lt "$PARALLEL" ]; do
  lane "$k" &
  k=$((k + 1))
done
wait

ran=$(grep -c '' @RESULTS@)
failed=$(grep -vc '^0 ' @RESULTS@)
echo "summary: $ran of @JOBS@ calls run in $PARALLEL lane(s); $((ran - failed)) SIPp-clean, \\
$failed with SIPp errors (SIPp's verdict, not the go-live one)"
grep -v '^0 ' @RESULTS@ | sort -k 3 -n | while read -r code name num; do
  echo "  case $num ($name): sipp exit $code (logs/case-$num.log)"
done
echo "now: frontdesk golive verify $(pwd) --since $(cat started_at.txt)"
[ "$ran" -eq @JOBS@ ] && [ "$failed" -eq 0 ]
"""


def run_script(groups: list[list[Case]]) -> str:
    """run.sh: one job per case (its scenario with its own injection line), the longest
    calls first, taken by N lanes from a shared queue: the run takes about the calls'
    total time / N plus one call, whatever mix of short and long routes the plan has."""
    jobs = [
        (case, scenario_name(index, group[0]), row)
        for index, group in enumerate(groups, 1)
        for row, case in enumerate(group, 1)
    ]
    jobs.sort(key=lambda job: (-job[0].duration, job[0].number))
    listing = [
        f"{name} {row} {case.number} {_shell_text(case.route_id)}" for case, name, row in jobs
    ]
    lanes = (
        _RUN_LANES.replace("@OPTIONS@", SIPP_OPTIONS)
        .replace("@RESULTS@", RESULTS)
        .replace("@COUNT@", str(len(groups)))
        .replace("@JOBS@", str(len(jobs)))
    )
    table = (
        "\njobs() {  # scenario, its injection line, case number, route: longest first\n"
        "  cat <<'EOF'\n" + "\n".join(listing) + "\nEOF\n}\n"
    )
    return _RUN_HEAD + table + lanes


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
{len(cases.cases)} cases in {scenarios} SIPp scenarios; about {minutes:.0f} minutes of calls
one at a time (--parallel N: about 1/N of that).
Step by step: docs/golive.md.

1. Callers. The unknown caller is {cases.unknown_caller}: it must NOT be in the
   patient directory.{" Known callers:" if known else ""}
{known or "  (no route needs a known caller)"}
{"   Import them first: frontdesk directory import " + TEST_PATIENTS_CSV if known else ""}
2. frontdesk runs with FRONTDESK_GOLIVE=on, every staff member logged in (the
   default at start): the expectation assumes a staffed practice.
3. Run the calls (SIPp 3.x, package sip-tester; as root: SIPp sends the keys' RTP
   from a raw socket):
     ./run.sh 127.0.0.1:5060                 one scenario after another
     ./run.sh --parallel 4 127.0.0.1:5060    4 at a time, from ports 5070-5073
   One scenario per route, run from scenarios/, e.g.:
     {sipp_command("001-...", 5)}
   SIPp sends from 127.0.0.1:5070, the trunk's address in pjsip.conf
   (LOCAL_IP / LOCAL_PORT to change it; with --parallel N the trunk must match
   the N ports from LOCAL_PORT on). Each call sends {CASE_HEADER}
   (<run id>:<case number>); the keys are this run's own RFC 4733 pcaps
   (scenarios/NNN-<route>/key-<n>-<key>.pcap).
4. Compare the call rows with the expectation:
     frontdesk golive verify . --since "$(cat started_at.txt)"
   exit 0: every case passed; 1: some failed (the table says how); 2: bad input.

expected.json  the cases and what each call row must say (for verify)
expected.csv   the same, to read
{TEST_PATIENTS_CSV + "  the directory rows of the known test callers" if known else ""}
{"Routes skipped (declare more test callers in the plan's golive section):" if skipped else ""}
{skipped}
""".replace("\n\n\n", "\n\n")
