"""frontdesk's own RFC 4733 key pcaps: one RTP stream per call that only grows, read back
with a reader of the tests' own (tests/golive/rtp.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path

import pytest

from frontdesk.golive import dtmf_pcap
from frontdesk.golive.cases import CaseSet, build_cases
from frontdesk.golive.sipp import render
from frontdesk.plan import Plan, load_plan
from tests.golive.conftest import with_test_callers
from tests.golive.rtp import Event, asterisk_hears, read_pcap

STOCK = Path("/usr/share/sip-tester")  # SIPp's own dtmf_2833_<key>.pcap (package sip-tester)
needs_stock = pytest.mark.skipif(
    not (STOCK / "dtmf_2833_1.pcap").is_file(), reason="sip-tester's pcaps are not installed"
)


@pytest.fixture(scope="module")
def golive_plan_module(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    path = tmp_path_factory.mktemp("plan") / "plan.yaml"
    path.write_text(with_test_callers(), encoding="utf-8")
    return load_plan(path)


@pytest.fixture(scope="module")
def files(golive_plan_module: Plan) -> dict[str, str | bytes]:
    """The whole example plan's run, rendered once for the module."""
    cases = build_cases(golive_plan_module, date(2026, 12, 1))
    return render(cases, generated_at=datetime(2026, 11, 30, 16, tzinfo=UTC), plan_path="p")


def _scenario_presses(files: dict[str, str | bytes], route: str) -> list[list[Event]]:
    """The route's key pcaps, read back, in the order its scenario plays them."""
    name = next(
        n for n, text in files.items() if n.endswith(".xml") and f'golive: {route}"' in str(text)
    )
    xml = str(files[name])
    played = [part.split('"', 1)[0] for part in xml.split('play_pcap_audio="')[1:]]
    presses = []
    for relative in played:
        data = files[f"scenarios/{relative}"]
        assert isinstance(data, bytes)
        presses.append(read_pcap(data))
    return presses


ROUTES = {
    "+13125550000/unknown/3,2": ["3", "2"],  # descending: SIPp's own files lose the 2
    "+13125550000/unknown/1,1": ["1", "1"],  # repeated: ... lose the second 1
    "+13125550000/unknown/1,5,5,5": ["1", "5", "5", "5"],
    "+13125550000/unknown/9,3,3,3,3": ["9", "3", "3", "3", "3"],
    "+13125550000/unknown/9,1,0": ["9", "1", "0"],  # key 0's stock seq is above 9's
}


@pytest.mark.parametrize(("route", "keys"), ROUTES.items())
def test_sequence_numbers_and_timestamps_rise_across_the_whole_call(
    files: dict[str, str | bytes], route: str, keys: list[str]
) -> None:
    presses = _scenario_presses(files, route)
    assert [press[0].key for press in presses] == keys
    packets = [p for press in presses for p in press]
    assert len({p.ssrc for p in packets}) == 1  # one stream for the call
    # Every new packet has the next sequence number; only the end packet's two
    # retransmissions repeat one (RFC 4733 2.5.1.4), and nothing ever goes back.
    for before, after in pairwise(packets):
        if after.end and before.end and after.timestamp == before.timestamp:
            assert after.seq == before.seq
        else:
            assert after.seq == (before.seq + 1) & 0xFFFF
            assert after.seq > before.seq  # no wrap inside a call
        assert after.timestamp >= before.timestamp
        assert after.at_us > before.at_us
    for earlier, later in pairwise(presses):
        assert later[0].timestamp > earlier[-1].timestamp  # each press is a new, later event
        assert min(p.seq for p in later) > max(p.seq for p in earlier)
    # And so Asterisk's rule keeps every press.
    assert asterisk_hears(packets) == keys


def test_the_timestamp_advances_by_the_pause_between_presses(
    files: dict[str, str | bytes],
) -> None:
    presses = _scenario_presses(files, "+13125550000/unknown/1,5,5,5")
    starts = [press[0].timestamp for press in presses]
    assert [b - a for a, b in pairwise(starts)] == [2.5 * 8000] * 3
    times = [press[0].at_us for press in presses]
    assert [b - a for a, b in pairwise(times)] == [2_500_000] * 3


def test_silence_between_presses_counts_in_the_gap(files: dict[str, str | bytes]) -> None:
    # 9, 1, then three timeouts: one press after another 2.5 s apart, nothing after.
    presses = _scenario_presses(files, "+13125550000/unknown/9,1,-,-,-")
    assert [p[0].key for p in presses] == ["9", "1"]
    assert presses[1][0].timestamp - presses[0][0].timestamp == 20_000


def _check_event(press: list[Event], key: str) -> None:
    """One RFC 4733 event with the shape of SIPp's own files."""
    assert [p.payload_type for p in press] == [101] * 10
    assert {p.code for p in press} == {dtmf_pcap.EVENT_CODES[key]}
    assert [p.marker for p in press] == [True] + [False] * 9
    assert [p.end for p in press] == [False] * 7 + [True] * 3
    assert [p.duration for p in press] == [0, 320, 640, 960, 1280, 1600, 1920] + [2240] * 3
    assert {p.volume for p in press} == {10}
    assert len({p.timestamp for p in press}) == 1  # one event: one timestamp
    assert len({p.seq for p in press[7:]}) == 1  # the end packet, three times
    assert {p.udp_checksum for p in press} == {0}
    gaps = [b.at_us - a.at_us for a, b in pairwise(press)]
    assert gaps[:7] == [20_000] * 7


@pytest.mark.parametrize("key", list("0123456789*#"))
def test_each_pcap_is_one_rfc4733_event_of_its_key(key: str) -> None:
    (data,) = dtmf_pcap.call_pcaps([(1.0, key)], seed="x")
    _check_event(read_pcap(data), key)


def test_every_scenario_pcap_is_an_event_of_the_key_its_name_says(
    files: dict[str, str | bytes],
) -> None:
    pcaps = {n: d for n, d in files.items() if n.endswith(".pcap")}
    assert len(pcaps) > 100
    names = {"star": "*", "pound": "#"}
    for name, data in pcaps.items():
        assert isinstance(data, bytes)
        key = name.rsplit("-", 1)[1].removesuffix(".pcap")
        _check_event(read_pcap(data), names.get(key, key))


def test_presses_never_overlap_and_streams_differ_per_route() -> None:
    first, second = (read_pcap(d) for d in dtmf_pcap.call_pcaps([(0, "1"), (0, "1")], seed="a"))
    assert second[0].timestamp - first[0].timestamp >= 2240 + 160  # after the whole event
    assert asterisk_hears(first + second) == ["1", "1"]
    other = read_pcap(dtmf_pcap.call_pcaps([(0, "1")], seed="b")[0])
    assert other[0].ssrc != first[0].ssrc
    with pytest.raises(ValueError, match="not a DTMF key"):
        dtmf_pcap.call_pcaps([(1.0, "-")], seed="x")


def test_write_key_pcaps_writes_one_file_per_press_in_order(tmp_path: Path) -> None:
    paths = dtmf_pcap.write_key_pcaps(["3", "2", "#"], tmp_path / "call", gaps=[1, 2, 0.5])
    assert [p.name for p in paths] == ["key-1-3.pcap", "key-2-2.pcap", "key-3-pound.pcap"]
    packets = [e for p in paths for e in read_pcap(p.read_bytes())]
    assert asterisk_hears(packets) == ["3", "2", "#"]


# -- against SIPp's own files ----------------------------------------------------------------
@needs_stock
def test_the_shape_is_that_of_sipps_own_files() -> None:
    stock = read_pcap((STOCK / "dtmf_2833_1.pcap").read_bytes())
    ours = read_pcap(dtmf_pcap.call_pcaps([(1.0, "1")], seed="x")[0])
    assert len(ours) == len(stock) == 10

    def shape(press: list[Event]) -> list[tuple[object, ...]]:
        return [
            (p.payload_type, p.code, p.marker, p.end, p.volume, p.duration, p.seq - press[0].seq)
            for p in press
        ]

    assert shape(ours) == shape(stock)
    spacing = [round((p.at_us - stock[0].at_us) / 20_000) for p in stock]
    assert [round((p.at_us - ours[0].at_us) / 20_000) for p in ours] == spacing


@needs_stock
def test_sipps_own_files_lose_a_descending_or_repeated_key_on_asterisk() -> None:
    """Why frontdesk writes its own: the stock files replay fixed numbers."""

    def stock(key: str) -> list[Event]:
        return read_pcap((STOCK / f"dtmf_2833_{key}.pcap").read_bytes())

    assert asterisk_hears(stock("3") + stock("2")) == ["3"]
    assert asterisk_hears(stock("1") + stock("1")) == ["1"]
    assert asterisk_hears(stock("9") + stock("0")) == ["9"]
    assert asterisk_hears(stock("2") + stock("3")) == ["2", "3"]  # ascending happens to work


def test_the_model_of_asterisk_drops_what_goes_back() -> None:
    """The model itself: a press that repeats the previous press's numbers is lost."""
    (data,) = dtmf_pcap.call_pcaps([(1.0, "7")], seed="x")
    once = read_pcap(data)
    assert asterisk_hears(once) == ["7"]
    assert asterisk_hears(once + once) == ["7"]


def test_render_returns_the_pcaps_as_bytes_next_to_their_scenario(
    files: dict[str, str | bytes], golive_plan_module: Plan
) -> None:
    cases: CaseSet = build_cases(golive_plan_module, date(2026, 12, 1))
    presses = sum(len(c.keys) - c.keys.count("-") for c in cases.cases if c.regime_id == "closed")
    pcaps = [n for n, d in files.items() if n.endswith(".pcap") and isinstance(d, bytes)]
    assert len(pcaps) == presses  # one per press of each route (not per regime)
    for name in pcaps:
        folder = name.split("/")[1]
        assert name.startswith("scenarios/")
        assert f"scenarios/{folder}.xml" in files
        assert f'play_pcap_audio="{name.removeprefix("scenarios/")}"' in str(
            files[f"scenarios/{folder}.xml"]
        )
