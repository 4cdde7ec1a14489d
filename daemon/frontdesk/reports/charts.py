"""Server-rendered SVG bar charts (no JavaScript, no dependencies): pure string building.

Every text is XML-escaped; the numbers are formatted by us. Bars carry `class="bar"` and a
`<title>` (a tooltip) with their label and count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape, quoteattr

from frontdesk.reports.metrics import CallRow, Report

WIDTH = 640
HEIGHT = 240
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 28, 40

# Wait-time buckets in seconds: [low, high); the last is open-ended.
WAIT_BUCKETS: tuple[tuple[int, int | None], ...] = (
    (0, 10),
    (10, 30),
    (30, 60),
    (60, 120),
    (120, 300),
    (300, 600),
    (600, None),
)


def _bucket_label(low: int, high: int | None) -> str:
    def fmt(s: int) -> str:
        return f"{s // 60}m" if s >= 60 and s % 60 == 0 else f"{s}s"

    return f"≥{fmt(low)}" if high is None else f"{fmt(low)}-{fmt(high)}"


def bar_chart(title: str, labels: Sequence[str], values: Sequence[int], x_title: str) -> str:
    """A vertical bar chart with a y axis (0 and the maximum) and a label under each bar."""
    if len(labels) != len(values):
        raise ValueError("one label per value")
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    top = max(values, default=0) or 1
    slot = plot_w / max(len(values), 1)
    bar_w = max(slot * 0.8, 1.0)
    base = TOP + plot_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label={quoteattr(title)} '
        f'font-family="sans-serif" font-size="10">',
        f"<title>{escape(title)}</title>",
        f'<text x="{WIDTH / 2:g}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#333"/>',
        f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{LEFT + plot_w}" y2="{base}" stroke="#333"/>',
        f'<text x="{LEFT - 4}" y="{base}" text-anchor="end">0</text>',
        f'<text x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{max(values, default=0)}</text>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top
        x = LEFT + i * slot + (slot - bar_w) / 2
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{base - h:.1f}" width="{bar_w:.1f}" '
            f'height="{h:.1f}" fill="#3b6ea5"><title>{escape(label)}: {value}</title></rect>'
        )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{base + 12}" text-anchor="middle">{escape(label)}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:g}" y="{HEIGHT - 6}" text-anchor="middle">{escape(x_title)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def calls_per_hour_svg(report: Report) -> str:
    """24 bars: calls by the practice-local hour they started."""
    return bar_chart(
        f"Calls per hour ({report.zone})",
        [f"{h:02d}" for h in range(24)],
        list(report.calls_per_hour),
        "hour of day (local)",
    )


def wait_histogram(rows: Iterable[CallRow]) -> list[int]:
    """Calls that reached a queue with a known wait, counted per `WAIT_BUCKETS`."""
    counts = [0] * len(WAIT_BUCKETS)
    for row in rows:
        if not row.queued or row.wait_s is None:
            continue
        for i, (low, high) in enumerate(WAIT_BUCKETS):
            if row.wait_s >= low and (high is None or row.wait_s < high):
                counts[i] += 1
                break
    return counts


def wait_distribution_svg(rows: Iterable[CallRow]) -> str:
    """How long queued callers waited (answered or not); give the rows of the range only."""
    return bar_chart(
        "Wait time in queue",
        [_bucket_label(low, high) for low, high in WAIT_BUCKETS],
        wait_histogram(rows),
        "wait before answer or hang-up",
    )
