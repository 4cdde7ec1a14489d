"""Reports over the call records: metrics against targets, SVG charts, CSV, `frontdesk report`.

`metrics`, `charts` and `export` are pure; `store.load_rows` reads `calls`. See docs/store.md.
"""

from frontdesk.reports.metrics import (
    DEFAULT_TARGETS,
    CallRow,
    Metric,
    Report,
    Target,
    Targets,
    compute,
)

__all__ = ["DEFAULT_TARGETS", "CallRow", "Metric", "Report", "Target", "Targets", "compute"]
