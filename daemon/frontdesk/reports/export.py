"""The report as one CSV table: pure.

Columns `section,name,value,display,target,passed,definition,counts`; sections `metric`
(one row per metric), `calls_per_hour` (00-23, local) and `calls_per_category`; `frontdesk
report --csv` adds `pause_time` (`<agent>:<reason>`, seconds; `rows_csv`). Text that a
spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from frontdesk.reports.metrics import Report

COLUMNS = ("section", "name", "value", "display", "target", "passed", "definition", "counts")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA) else text


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for m in report.metrics:
        writer.writerow(
            (
                "metric",
                m.key,
                "" if m.value is None else f"{m.value:.6g}",
                m.display_value,
                _cell(m.display_target),
                "" if m.passed is None else ("pass" if m.passed else "fail"),
                _cell(m.definition),
                _cell("; ".join(f"{k}={v}" for k, v in m.counts.items())),
            )
        )
    for hour, count in enumerate(report.calls_per_hour):
        writer.writerow(("calls_per_hour", f"{hour:02d}", count, count, "", "", "", ""))
    for category, count in report.calls_per_category.items():
        writer.writerow(("calls_per_category", _cell(category), count, count, "", "", "", ""))
    return buffer.getvalue()


def rows_csv(rows: Iterable[Sequence[str]]) -> str:
    """More rows in the same columns (e.g. `PauseTime.csv_rows()`), cells made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(cell) for cell in row])
    return buffer.getvalue()
