"""The routing core (plan, routing, acd) never imports I/O frameworks: it is sans-IO.

Which parts of frontdesk each part may import (the layering): tests/test_dependencies.py.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import frontdesk

PACKAGE = Path(frontdesk.__file__).parent
CORE = ("plan", "routing", "acd")
FORBIDDEN = {"asyncio", "aiohttp", "asyncpg", "socket", "selectors", "threading", "subprocess"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _core_files() -> list[Path]:
    # The call session is decisions too: ARI events in, commands as data out.
    pure = [PACKAGE / "calls" / "session.py", PACKAGE / "asterisk" / "ari_events.py"]
    return sorted([p for sub in CORE for p in (PACKAGE / sub).rglob("*.py")] + pure)


def test_core_has_modules() -> None:
    assert len(_core_files()) >= 8


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_imports_no_io_framework(path: Path) -> None:
    assert not (_imports(path) & FORBIDDEN), f"{path.name} imports {_imports(path) & FORBIDDEN}"


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import asyncio\nfrom aiohttp import web\n")
    assert _imports(bad) & FORBIDDEN == {"asyncio", "aiohttp"}


def test_the_core_does_not_pull_in_io_frameworks_transitively() -> None:
    code = (
        "import sys\n"
        "import frontdesk.plan, frontdesk.routing.paths, frontdesk.routing.safety\n"
        "import frontdesk.acd.engine, frontdesk.calls.session\n"
        "print(','.join(m for m in ('asyncio', 'aiohttp', 'asyncpg', 'structlog') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
