"""SIPp scenarios, injection files and the expectation of a go-live run."""

from __future__ import annotations

import csv
import io
import json
import shutil
import socket
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from frontdesk.golive.cases import CaseSet, Timing, build_cases
from frontdesk.golive.sipp import DEBIAN_PCAPS, pcap_for, render
from frontdesk.plan import Plan
from frontdesk.routing.directory import Directory

WEEK_OF = date(2026, 12, 1)
GENERATED = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


def _render(cases: CaseSet, pcap_dir: str = DEBIAN_PCAPS) -> dict[str, str]:
    return render(cases, pcap_dir=pcap_dir, generated_at=GENERATED, plan_path="plan.yaml")


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
        assert "From: <sip:[field0]@" in invite.text
        assert "a=rtpmap:101 telephone-event/8000" in invite.text
        assert [e.tag for e in root][-2:] == ["send", "recv"]  # BYE, its 200


def test_keys_are_rfc4733_pcaps_with_the_case_pauses(cases: CaseSet) -> None:
    files = _render(cases, "/opt/sipp/pcap")
    xml, injection = _scenario(files, "+13125550000/unknown/9,3,3,3,3")
    root = ET.fromstring(xml)
    played = [e.get("play_pcap_audio") for e in root.iter("exec")]
    assert played == [
        "/opt/sipp/pcap/dtmf_2833_9.pcap",
        *["/opt/sipp/pcap/dtmf_2833_3.pcap"] * 4,
    ]
    case = next(c for c in cases.cases if c.route_id == "+13125550000/unknown/9,3,3,3,3")
    pauses = [int(e.get("milliseconds", "0")) for e in root.iter("pause")]
    assert pauses[:-1] == [round(s.pause * 1000) for s in case.steps]
    lines = injection.splitlines()
    assert lines[0] == "SEQUENTIAL"
    assert lines[1:] == [
        f"{c.caller};{c.did};{c.route_time.isoformat()};{c.number};{c.regime_id}"
        for c in cases.cases
        if c.route_id == case.route_id
    ]
    assert pcap_for("*", "p") == "p/dtmf_2833_star.pcap"
    assert pcap_for("#", "p/") == "p/dtmf_2833_pound.pcap"


def test_the_expectation_files(cases: CaseSet) -> None:
    files = _render(cases)
    data = json.loads(files["expected.json"])
    assert data["header"] == "X-Frontdesk-Route-Time"
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


def test_run_sh_runs_every_scenario_in_case_order_one_call_at_a_time(cases: CaseSet) -> None:
    files = _render(cases)
    commands = [line for line in files["run.sh"].splitlines() if line.startswith('"$SIPP"')]
    scenarios = sorted(n for n in files if n.endswith(".xml"))
    assert [c.split("-sf ")[1].split()[0] for c in commands] == scenarios
    assert all(" -l 1 " in c and "-m 5 " in c for c in commands)
    assert "README.txt" in files
    assert "run.sh" in files["README.txt"]


# -- SIPp itself (package sip-tester), when installed --------------------------------------------
needs_sipp = pytest.mark.skipif(
    shutil.which("sipp") is None or not Path(DEBIAN_PCAPS).is_dir(),
    reason="SIPp (package sip-tester) is not installed",
)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write(files: dict[str, str], where: Path) -> None:
    for name, text in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_text(text, encoding="utf-8")


def _sipp_client(
    where: Path, stem: str, target: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    command = ["sipp", "-sf", f"{stem}.xml", "-inf", f"{stem}.csv", "-m", "1", "-l", "1"]
    command += ["-i", "127.0.0.1", "-p", str(_free_udp_port()), "-mi", "127.0.0.1"]
    command += ["-nostdin", *extra, target]
    return subprocess.run(
        command, cwd=where, capture_output=True, text=True, timeout=30, check=False
    )


@needs_sipp
def test_sipp_loads_the_scenario_and_refuses_a_broken_one(cases: CaseSet, tmp_path: Path) -> None:
    files = _render(cases)
    _write(files, tmp_path)
    stem = _stem(files, "+13125550000/unknown/5,5,5")
    nobody = f"127.0.0.1:{_free_udp_port()}"
    loaded = _sipp_client(tmp_path, stem, nobody, "-timeout", "1", "-timeout_error")
    assert loaded.returncode == 255, loaded.stdout[-500:] + loaded.stderr[-500:]  # ran, timed out
    xml = (tmp_path / f"{stem}.xml").read_text()
    (tmp_path / f"{stem}.xml").write_text(xml.replace("dtmf_2833_5", "dtmf_2833_x"))
    broken = _sipp_client(tmp_path, stem, nobody, "-timeout", "1", "-timeout_error")
    assert broken.returncode == 1
    assert "Can't open PCAP file" in broken.stdout + broken.stderr


@needs_sipp
def test_a_scenario_completes_a_call_against_a_sipp_uas(golive_plan: Plan, tmp_path: Path) -> None:
    quick = Timing(key_gap=0.1, first_key=0.1, prompt_seconds=0.01, margin=0.0, hold=0.1)
    cases = build_cases(golive_plan, WEEK_OF, timing=quick, regimes=["closed"])
    files = _render(cases)
    _write(files, tmp_path)
    port = _free_udp_port()
    server = subprocess.Popen(
        ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-nostdin", "-m", "1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = _sipp_client(
            tmp_path, _stem(files, "+13125550000/unknown/9,1,0"), f"127.0.0.1:{port}"
        )
        assert client.returncode == 0, client.stdout[-800:] + client.stderr[-800:]
        assert server.wait(timeout=10) == 0  # the UAS saw INVITE, ACK and BYE
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
