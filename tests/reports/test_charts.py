"""The SVG charts are well-formed XML with one bar per hour / wait bucket; text is escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from frontdesk.reports.charts import (
    WAIT_BUCKETS,
    bar_chart,
    calls_per_hour_svg,
    wait_distribution_svg,
    wait_histogram,
)
from frontdesk.reports.metrics import CallRow, compute

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def bars(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return [e for e in root.iter(f"{SVG}rect") if e.get("class") == "bar"]


def rows() -> list[CallRow]:
    return [
        CallRow(
            f"c{i}", START + timedelta(hours=i % 5 + 10), queue="q", wait_s=w, outcome="answered"
        )
        for i, w in enumerate((0, 9, 10, 45, 59, 61, 200, 900))
    ] + [CallRow("menu", START + timedelta(hours=11), wait_s=5)]  # no queue: not in the waits


@pytest.mark.parametrize("data", [[], "rows"])
def test_calls_per_hour_has_24_bars(data: object) -> None:
    report = compute(
        rows() if data == "rows" else [],
        start=START,
        end=START + timedelta(days=1),
        zone=ZoneInfo("America/Chicago"),
    )
    found = bars(calls_per_hour_svg(report))
    assert len(found) == 24
    heights = [float(b.get("height", "nan")) for b in found]
    assert all(h >= 0 for h in heights)
    if data == "rows":
        tallest = max(range(24), key=lambda h: report.calls_per_hour[h])
        assert heights[tallest] == max(heights) > 0
        titles = [b.findtext(f"{SVG}title") for b in found]
        assert titles[tallest] == f"{tallest:02d}: {report.calls_per_hour[tallest]}"


def test_wait_distribution() -> None:
    assert wait_histogram(rows()) == [2, 1, 2, 1, 1, 0, 1]
    found = bars(wait_distribution_svg(rows()))
    assert len(found) == len(WAIT_BUCKETS)
    assert len(bars(wait_distribution_svg([]))) == len(WAIT_BUCKETS)


def test_text_is_escaped() -> None:
    svg = bar_chart('<script>&"', ["<a>", "b&c"], [1, 2], "x</svg>")
    root = ET.fromstring(svg)
    assert root.findtext(f"{SVG}title") == '<script>&"'
    assert "<script>" not in svg
    with pytest.raises(ValueError, match="one label"):
        bar_chart("t", ["a"], [1, 2], "x")
