"""The report as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from frontdesk.reports.export import COLUMNS, to_csv
from frontdesk.reports.metrics import CallRow, compute

START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def test_csv_has_metrics_hours_and_categories_and_defuses_formulas() -> None:
    rows = [
        CallRow(
            "a",
            START + timedelta(hours=9),
            category="=HYPERLINK(1)",
            outcome="answered",
            talk_s=200,
        ),
        CallRow("b", START + timedelta(hours=9), category="refill"),
    ]
    report = compute(
        rows, start=START, end=START + timedelta(days=1), zone=ZoneInfo("America/Chicago")
    )
    table = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert tuple(table[0]) == COLUMNS
    metrics = {r["name"]: r for r in table if r["section"] == "metric"}
    assert metrics["aht"]["value"] == "200"
    assert metrics["aht"]["passed"] == "pass"
    assert metrics["fcr"]["value"] == ""
    assert metrics["fcr"]["passed"] == ""
    assert metrics["misrouted"]["counts"] == (
        "misrouted=0; moved=0; wrong_department=0; answered_by_staff=1"
    )
    hours = [r for r in table if r["section"] == "calls_per_hour"]
    assert [r["name"] for r in hours] == [f"{h:02d}" for h in range(24)]
    assert hours[9]["value"] == "2"  # 15:00 UTC = 09:00 CST
    categories = {r["name"]: r["value"] for r in table if r["section"] == "calls_per_category"}
    assert categories == {"'=HYPERLINK(1)": "1", "refill": "1"}
