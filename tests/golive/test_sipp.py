"""SIPp scenarios, their key pcaps, injection files, run.sh and the expectation of a
go-live run; with SIPp installed, SIPp itself loads and plays them."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import socket
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path

import pytest

from frontdesk.golive.cases import CaseSet, Timing, build_cases
from frontdesk.golive.sipp import render
from frontdesk.plan import Plan
from frontdesk.routing.directory import Directory
from tests.golive.rtp import asterisk_hears, read_pcap, rtp_event

WEEK_OF = date(2026, 12, 1)
GENERATED = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
RUN = "20261130T160000Z"  # the run id of GENERATED


def _render(cases: CaseSet) -> dict[str, str]:
    """The text files (the pcaps are checked in test_dtmf_pcap.py and below)."""
    files = render(cases, generated_at=GENERATED, plan_path="plan.yaml")
    return {n: t for n, t in files.items() if isinstance(t, str)}


def _render_all(cases: CaseSet) -> dict[str, str | bytes]:
    return render(cases, generated_at=GENERATED, plan_path="plan.yaml")


@pytest.fixture
def cases(golive_plan: Plan) -> CaseSet:
    return build_cases(golive_plan, WEEK_OF)


def _stem(files: dict[str, str], route_id: str) -> str:
    for name, text in files.items():
        if name.endswith(".xml") and f'golive: {route_id}"' in text:
            return name.removesuffix(".xml")
    raise AssertionError(f"no scenario for {route_id}")


def _scenario(files: dict[str, str], route_id: str) -> tuple[str, str]:
    stem = _stem(files, route_id)
    return files[f"{stem}.xml"], files[f"{stem}.csv"]


def test_one_well_formed_scenario_per_route(cases: CaseSet) -> None:
    files = _render(cases)
    scenarios = sorted(n for n in files if n.endswith(".xml"))
    assert len(scenarios) == len({c.route_id for c in cases.cases}) == 50
    for name in scenarios:
        root = ET.fromstring(files[name].encode("iso-8859-1"))
        assert root.tag == "scenario"
        invite = root.find("send")
        assert invite is not None
        assert invite.text is not None
        assert "INVITE sip:[field1]@" in invite.text
        assert "X-Frontdesk-Route-Time: [field2]" in invite.text
        assert "X-Frontdesk-Case: [field3]" in invite.text
        assert "From: <sip:[field0]@" in invite.text
        assert "a=rtpmap:101 telephone-event/8000" in invite.text
        assert [e.tag for e in root][-2:] == ["send", "recv"]  # BYE, its 200


def test_keys_are_the_runs_own_pcaps_with_the_case_pauses(cases: CaseSet) -> None:
    files = _render_all(cases)
    text = {n: t for n, t in files.items() if isinstance(t, str)}
    xml, injection = _scenario(text, "+13125550000/unknown/9,3,3,3,3")
    stem = _stem(text, "+13125550000/unknown/9,3,3,3,3")
    folder = stem.removeprefix("scenarios/")
    root = ET.fromstring(xml)
    played = [e.get("play_pcap_audio") for e in root.iter("exec")]
    # One pcap per press, named relative to the scenario's own folder (where SIPp looks).
    assert played == [
        f"{folder}/key-1-9.pcap",
        *[f"{folder}/key-{n}-3.pcap" for n in range(2, 6)],
    ]
    for name in played:
        assert isinstance(files[f"scenarios/{name}"], bytes)
    case = next(c for c in cases.cases if c.route_id == "+13125550000/unknown/9,3,3,3,3")
    pauses = [int(e.get("milliseconds", "0")) for e in root.iter("pause")]
    assert pauses[:-1] == [round(s.pause * 1000) for s in case.steps]
    lines = injection.splitlines()
    assert lines[0] == "SEQUENTIAL"
    assert lines[1:] == [
        f"{c.caller};{c.did};{c.route_time.isoformat()};{RUN}:{c.number};{c.regime_id}"
        for c in cases.cases
        if c.route_id == case.route_id
    ]


def test_a_route_without_keys_has_no_pcaps(cases: CaseSet) -> None:
    files = _render_all(cases)
    stem = _stem(_render(cases), "+13125550010/unknown/")
    assert "play_pcap_audio" not in str(files[f"{stem}.xml"])
    assert not [n for n in files if n.startswith(f"{stem}/")]


def test_the_expectation_files(cases: CaseSet) -> None:
    files = _render(cases)
    data = json.loads(files["expected.json"])
    assert data["header"] == "X-Frontdesk-Route-Time"
    assert (data["run"], data["case_header"]) == (RUN, "X-Frontdesk-Case")
    assert CaseSet.from_json(data) == cases
    rows = list(csv.DictReader(io.StringIO(files["expected.csv"])))
    assert len(rows) == len(cases.cases)
    holiday = next(
        r for r in rows if r["route"] == "+13125550000/unknown/2" and r["regime"] == "holiday"
    )
    assert (holiday["expected_destination"], holiday["holiday"]) == ("voicemail billing", "true")


def test_the_test_patients_file_is_a_directory_import(cases: CaseSet, tmp_path: Path) -> None:
    path = tmp_path / "test_patients.csv"
    path.write_text(_render(cases)["test_patients.csv"], encoding="utf-8")
    directory = Directory.from_csv(path)
    patient = directory.lookup("+13125559903")
    assert patient is not None
    assert patient.specialty == "cardiology"
    assert directory.lookup(cases.unknown_caller) is None


# -- run.sh, with a stand-in for SIPp -------------------------------------------------------------
FAKE_SIPP = """#!/bin/sh
# A stand-in for sipp: logs what run.sh asked for, takes a moment, fails one scenario.
sf=""; port=""; inf=""
while [ $# -gt 0 ]; do
  case "$1" in -sf) sf=$2; shift 2 ;; -p) port=$2; shift 2 ;; -inf) inf=$2; shift 2 ;;
               *) shift ;; esac
done
[ -f "$inf" ] || exit 97  # the case's own injection line
[ -f "$sf" ] || exit 99  # run.sh runs SIPp from scenarios/
for pcap in $(sed -n 's/.*play_pcap_audio="\\([^"]*\\)".*/\\1/p' "$sf"); do
  [ -f "$pcap" ] || exit 98  # ... where the scenario's pcap paths resolve
done
case_id=$(sed -n 2p "$inf" | cut -d';' -f4 | cut -d: -f2)
echo "start $(date +%s%N) $port ${sf%.xml}#$case_id" >> "$FAKE_LOG"
sleep "$FAKE_SLEEP"
echo "end $(date +%s%N) $port ${sf%.xml}#$case_id" >> "$FAKE_LOG"
case "$sf" in "$FAKE_FAIL"*) exit 1 ;; esac
"""


def _run_sh(
    run_dir: Path, *args: str, sleep: float = 0.02, fail: str = "none"
) -> tuple[subprocess.CompletedProcess[str], list[tuple[str, int, int, str]]]:
    fake = run_dir.parent / "fake-sipp"
    fake.write_text(FAKE_SIPP)
    fake.chmod(0o755)
    log = run_dir.parent / "fake.log"
    log.unlink(missing_ok=True)
    env = os.environ | {
        "SIPP": str(fake),
        "FAKE_LOG": str(log),
        "FAKE_SLEEP": str(sleep),
        "FAKE_FAIL": fail,
    }
    done = subprocess.run(
        [str(run_dir / "run.sh"), *args, "127.0.0.1:9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    entries = []
    for line in log.read_text().splitlines() if log.exists() else []:
        what, at, port, name = line.split()
        entries.append((what, int(at), int(port), name))
    return done, entries


def _intervals(entries: list[tuple[str, int, int, str]]) -> dict[str, tuple[int, int, int]]:
    """scenario -> (start, end, port)."""
    starts = {name: (at, port) for what, at, port, name in entries if what == "start"}
    ends = {name: at for what, at, _, name in entries if what == "end"}
    return {name: (at, ends[name], port) for name, (at, port) in starts.items()}


def _most_at_once(intervals: list[tuple[int, int]]) -> int:
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


@pytest.fixture
def run_dir(cases: CaseSet, tmp_path: Path) -> Path:
    where = tmp_path / "run"
    _write(_render_all(cases), where)
    (where / "run.sh").chmod(0o755)
    return where


def test_run_sh_runs_every_case_one_at_a_time_by_default(cases: CaseSet, run_dir: Path) -> None:
    done, entries = _run_sh(run_dir)
    assert done.returncode == 0, done.stdout[-500:] + done.stderr[-500:]
    runs = _intervals(entries)
    total = len(cases.cases)
    assert sorted(int(name.split("#")[1]) for name in runs) == [c.number for c in cases.cases]
    assert {port for _, _, port in runs.values()} == {5070}
    assert _most_at_once([(a, b) for a, b, _ in runs.values()]) == 1
    # The longest calls go first, so that N lanes finish together.
    by_number = {c.number: c.duration for c in cases.cases}
    started = [int(n.split("#")[1]) for n, _ in sorted(runs.items(), key=lambda r: r[1][0])]
    durations = [by_number[n] for n in started]
    assert durations == sorted(durations, reverse=True)
    assert f"summary: {total} of {total} calls run in 1 lane(s); {total} SIPp-clean" in done.stdout
    assert (run_dir / "started_at.txt").is_file()
    assert len((run_dir / "logs" / "results.txt").read_text().splitlines()) == total


def test_run_sh_parallel_runs_n_lanes_from_n_ports_and_sums_up(
    cases: CaseSet, run_dir: Path
) -> None:
    scenarios = sorted(p.stem for p in (run_dir / "scenarios").glob("*.xml"))
    failing = scenarios[1]
    done, entries = _run_sh(run_dir, "--parallel", "3", sleep=0.05, fail=failing)
    assert done.returncode == 1  # one scenario's SIPp failed
    runs = _intervals(entries)
    total = len(cases.cases)
    assert len(runs) == total  # every case once
    assert {port for _, _, port in runs.values()} == {5070, 5071, 5072}
    for port in (5070, 5071, 5072):
        lane = [(a, b) for a, b, p in runs.values() if p == port]
        assert _most_at_once(lane) == 1
    assert 2 <= _most_at_once([(a, b) for a, b, _ in runs.values()]) <= 3
    fails = sum(1 for name in runs if name.startswith(failing))
    assert (
        f"summary: {total} of {total} calls run in 3 lane(s); {total - fails} SIPp-clean, "
        f"{fails} with" in done.stdout
    )
    assert f"({failing}): sipp exit 1 (logs/case-" in done.stdout


@pytest.mark.parametrize("bad", [["--parallel", "0"], ["--parallel", "x"], ["--parallel"]])
def test_run_sh_refuses_a_bad_parallel(run_dir: Path, bad: list[str]) -> None:
    done = subprocess.run(
        [str(run_dir / "run.sh"), *bad], capture_output=True, text=True, timeout=10, check=False
    )
    assert done.returncode == 2
    assert "--parallel" in done.stderr
    assert not (run_dir / "started_at.txt").exists()


def test_the_readme_says_how_to_run(cases: CaseSet) -> None:
    readme = _render(cases)["README.txt"]
    assert "./run.sh --parallel 4 127.0.0.1:5060" in readme
    assert "X-Frontdesk-Case" in readme


# -- SIPp itself (package sip-tester), when installed --------------------------------------------
needs_sipp = pytest.mark.skipif(
    shutil.which("sipp") is None, reason="SIPp (package sip-tester) is not installed"
)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write(files: Mapping[str, str | bytes], where: Path) -> None:
    for name, content in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (where / name).write_bytes(content)
        else:
            (where / name).write_text(content, encoding="utf-8")


def _client_command(stem: str, target: str, *extra: str) -> list[str]:
    """One call of the scenario (SIPp picks a free local port of its own)."""
    command = ["sipp", "-sf", f"{stem}.xml", "-inf", f"{stem}.csv", "-m", "1", "-l", "1"]
    command += ["-i", "127.0.0.1", "-mi", "127.0.0.1"]
    return [*command, "-nostdin", *extra, target]


@contextlib.contextmanager
def _nobody() -> Iterator[str]:
    """An address where nobody answers (held, so no SIPp started meanwhile gets it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def _sipp_client(
    where: Path, stem: str, target: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _client_command(stem, target, *extra),
        cwd=where,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@needs_sipp
def test_sipp_loads_every_scenario_and_its_pcaps(cases: CaseSet, tmp_path: Path) -> None:
    files = _render_all(cases)
    _write(files, tmp_path)
    stems = sorted(n.removesuffix(".xml") for n in files if n.endswith(".xml"))
    outputs: dict[str, tuple[int, str]] = {}
    with _nobody() as nobody:
        for batch in range(0, len(stems), 25):  # side by side: each waits out its 1 s timeout
            running = {
                stem: subprocess.Popen(
                    _client_command(stem, nobody, "-timeout", "1", "-timeout_error"),
                    cwd=tmp_path,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                for stem in stems[batch : batch + 25]
            }
            for stem, process in running.items():
                out, _ = process.communicate(timeout=30)
                outputs[stem] = (process.returncode, out)
    for stem, (code, out) in outputs.items():
        assert code == 255, f"{stem}: {out[-500:]}"  # loaded, ran, timed out
        played = str(files[f"{stem}.xml"]).count("play_pcap_audio=")
        assert out.count("npkts 10") == played, f"{stem}: {out[-500:]}"


@needs_sipp
def test_sipp_refuses_a_scenario_whose_pcap_is_missing(cases: CaseSet, tmp_path: Path) -> None:
    files = _render_all(cases)
    _write(files, tmp_path)
    stem = _stem(_render(cases), "+13125550000/unknown/5,5,5")
    xml = (tmp_path / f"{stem}.xml").read_text()
    (tmp_path / f"{stem}.xml").write_text(xml.replace("key-1-5.pcap", "key-1-x.pcap"))
    with _nobody() as nobody:
        broken = _sipp_client(tmp_path, stem, nobody, "-timeout", "1", "-timeout_error")
    assert broken.returncode == 1
    assert "Can't open PCAP file" in broken.stdout + broken.stderr


@needs_sipp
def test_a_scenario_completes_a_call_against_a_sipp_uas(golive_plan: Plan, tmp_path: Path) -> None:
    quick = Timing(key_gap=0.3, first_key=0.1, prompt_seconds=0.01, margin=0.0, hold=0.1)
    cases = build_cases(golive_plan, WEEK_OF, timing=quick, regimes=["closed"])
    files = _render_all(cases)
    _write(files, tmp_path)
    port = _free_udp_port()
    server = subprocess.Popen(
        ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-nostdin", "-m", "1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        stem = _stem(_render(cases), "+13125550000/unknown/9,1,0")
        client = _sipp_client(tmp_path, stem, f"127.0.0.1:{port}")
        assert client.returncode == 0, client.stdout[-800:] + client.stderr[-800:]
        assert server.wait(timeout=10) == 0  # the UAS saw INVITE, ACK and BYE
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


# A UAS whose answer points the caller's RTP at a socket of the test.
_LISTENING_UAS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer, with the media at the test's socket">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]uas[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=uas 1 1 IN IP4 127.0.0.1
      s=-
      c=IN IP4 127.0.0.1
      t=0 0
      m=audio @PORT@ RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
</scenario>
"""


@needs_sipp
@pytest.mark.parametrize(
    ("route", "keys"),
    [("+13125550000/unknown/9,3,3,3,3", "93333"), ("+13125550000/unknown/1,5,5,5", "1555")],
)
def test_sipp_plays_the_keys_as_one_growing_rtp_stream(
    golive_plan: Plan, tmp_path: Path, route: str, keys: str
) -> None:
    """What goes out on the wire, as SIPp sends it from run.sh's working directory:
    every press, with sequence numbers and timestamps that only grow."""
    quick = Timing(key_gap=0.3, first_key=0.2, prompt_seconds=0.01, margin=0.0, hold=0.3)
    cases = build_cases(golive_plan, WEEK_OF, timing=quick, regimes=["closed"])
    files = _render_all(cases)
    _write(files, tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as media:
        media.bind(("127.0.0.1", 0))
        media.settimeout(0.2)
        uas = tmp_path / "uas.xml"
        uas.write_text(_LISTENING_UAS.replace("@PORT@", str(media.getsockname()[1])))
        port = _free_udp_port()
        server = subprocess.Popen(
            ["sipp", "-sf", str(uas), "-i", "127.0.0.1", "-p", str(port), "-nostdin", "-m", "1"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            stem = _stem(_render(cases), route).removeprefix("scenarios/")
            client = _sipp_client(tmp_path / "scenarios", stem, f"127.0.0.1:{port}")
            assert client.returncode == 0, client.stdout[-800:] + client.stderr[-800:]
            assert server.wait(timeout=10) == 0
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        received = []
        with contextlib.suppress(TimeoutError):
            while True:
                received.append(rtp_event(media.recv(2048)))
    assert len(received) == 10 * len(keys)
    assert len({p.ssrc for p in received}) == 1
    ends = [p for n, p in enumerate(received) if p.end and not received[n - 1].end]
    assert "".join(p.key for p in ends) == keys
    assert all(b.timestamp > a.timestamp and b.seq > a.seq for a, b in pairwise(ends))
    assert asterisk_hears(received) == list(keys)
    # Exactly the packets of the files, in the order the scenario plays them.
    xml = ET.fromstring(str(files[f"scenarios/{stem}.xml"]))
    written = []
    for played in xml.iter("exec"):
        data = files[f"scenarios/{played.get('play_pcap_audio')}"]
        assert isinstance(data, bytes)
        written += read_pcap(data)
    assert [(p.seq, p.timestamp, p.code, p.end) for p in received] == [
        (p.seq, p.timestamp, p.code, p.end) for p in written
    ]
