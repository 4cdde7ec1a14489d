"""Which parts of frontdesk may import which: the package layering, checked on the source.

Every module under daemon/frontdesk is parsed with `ast`; every import counts, at the top
of the module or inside a function (a function-level import is still a dependency, and
used to hide cycles). A "part" is a top-level package (`plan`, `routing`, `store`, ...)
or module (`daemon`, `cli`, ...) of frontdesk. A part may import itself, the shared
leaves and the parts listed for it in `ALLOWED`; anything else fails, naming the module,
the line and the import.

The rules:

- Shared leaves, importable by anyone, import nothing of frontdesk themselves:
  `frontdesk` (the version), `phone` (E.164, masking), `staff` (roles, StaffUser),
  `logs`, `settings` (and `exits`, when it exists).
- The routing core is layered, plan <- routing <- acd <- calls <- daemon:
  `plan` imports no other part; `routing` only `plan`; `acd` only `plan` and `routing`.
  So the core (plan, routing, acd) never imports store, web, asterisk, calls or daemon.
- `asterisk` (the ARI, AMI and FastAGI adapters) imports no other part.
- `store` may import `plan`, `routing` (the patient directory) and `asterisk` (the AMI
  codec, for CDR events); never `web`, `calls`, `acd` or `daemon`.
- `calls` may import the core, `asterisk`, `store` and `golive.override` (the go-live
  time rule, pure); never `daemon`, `web`, `cli`, `emulator` or `reports`.
- `web` may import the core, `calls`, `store`, `reports` and `diagram`; nothing below
  `web` imports it (only `daemon` and `cli` may).
- `emulator` (the stand-in Asterisk) imports nothing of the daemon but the sans-IO wire
  codecs `asterisk.ami_codec` and `asterisk.ari_events`.
- `golive` (the go-live cases and tooling) may import `plan`, `routing` and `store`.
- `reports` may import `plan`, `routing` and `store`.
- `prompts` and `diagram` may import `plan` and `routing`; `asterisk_config` also
  `prompts`; `instance` (the one-daemon lock) only `store`.
- `demo` (the demo's emulator, callers and clocks) may import the core, `calls`,
  `emulator`, `prompts` and `store`.
- `daemon` (the wiring) may import every part but `cli`; `cli` any part; `__main__`
  only `cli`.

Known violations, allowed until they are gone (`KNOWN`): none.

The I/O-framework rule for the same core lives in tests/test_core_purity.py.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

import frontdesk

PACKAGE = Path(frontdesk.__file__).parent
ROOT = "frontdesk"

LEAVES = frozenset({ROOT, "phone", "staff", "logs", "settings", "exits"})
CORE = frozenset({"plan", "routing", "acd"})

# part -> the parts (or dotted modules, like "golive.override") it may import, besides
# itself and the shared leaves.
ALLOWED: dict[str, frozenset[str]] = {
    **{leaf: frozenset() for leaf in LEAVES},
    "plan": frozenset(),
    "routing": frozenset({"plan"}),
    "acd": frozenset({"plan", "routing"}),
    "asterisk": frozenset(),
    "store": frozenset({"plan", "routing", "asterisk"}),
    "calls": CORE | {"asterisk", "store", "golive.override"},
    "web": CORE | {"calls", "store", "reports", "diagram"},
    "emulator": frozenset({"asterisk.ami_codec", "asterisk.ari_events"}),
    "golive": frozenset({"plan", "routing", "store"}),
    "reports": frozenset({"plan", "routing", "store"}),
    "prompts": frozenset({"plan", "routing"}),
    "diagram": frozenset({"plan", "routing"}),
    "asterisk_config": frozenset({"plan", "routing", "prompts"}),
    "instance": frozenset({"store"}),
    "demo": CORE | {"calls", "emulator", "prompts", "store"},
    "__main__": frozenset({"cli"}),
}
_ALL_PARTS = frozenset(ALLOWED) | {"daemon", "cli"}
ALLOWED["daemon"] = _ALL_PARTS - {"daemon", "cli", "__main__"}
ALLOWED["cli"] = _ALL_PARTS - {"cli", "__main__"}

# (importing module, imported part): violations allowed until they are gone.
KNOWN: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, without "frontdesk.": "store.recorder"
    line: int
    target: str  # the imported module, without "frontdesk.": "calls.session"; "" for the root

    def __str__(self) -> str:
        imported = f"{ROOT}.{self.target}" if self.target else ROOT
        return f"{ROOT}.{self.module} (line {self.line}) imports {imported}"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """daemon/frontdesk/store/recorder.py -> "store.recorder"; a package's __init__ -> its name."""
    parts = list(path.relative_to(package).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str:
    """The part a module belongs to: "store.recorder" -> "store"; the root -> "frontdesk"."""
    return module.split(".")[0] if module else ROOT


@functools.cache
def _known_modules(package: Path) -> frozenset[str]:
    return frozenset(module_name(p, package) for p in package.rglob("*.py"))


def frontdesk_imports(path: Path, package: Path = PACKAGE) -> list[Import]:
    """Every import of a frontdesk module in `path`, at any depth (functions included)."""
    module = module_name(path, package)
    is_package = path.name == "__init__.py"
    known = _known_modules(package)
    found: list[Import] = []

    def add(node: ast.stmt, dotted: str) -> None:
        if dotted == ROOT or dotted.startswith(ROOT + "."):
            found.append(Import(module, node.lineno, dotted.removeprefix(ROOT).lstrip(".")))

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                here = [ROOT, *module.split(".")] if module else [ROOT]
                anchor = here if is_package else here[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base != ROOT and not base.startswith(ROOT + "."):
                continue
            for alias in node.names:
                # `from frontdesk.store import db` imports the module frontdesk.store.db;
                # `from frontdesk.plan import Plan` imports frontdesk.plan.
                inner = f"{base.removeprefix(ROOT).lstrip('.')}.{alias.name}".lstrip(".")
                add(node, f"{ROOT}.{inner}" if inner in known else base)
    return found


def is_allowed(imp: Import, known: frozenset[tuple[str, str]] = KNOWN) -> bool:
    source, target = part_of(imp.module), part_of(imp.target)
    if target == source or (imp.module, target) in known:
        return True
    if source in LEAVES:  # a leaf imports nothing of frontdesk, not even another leaf
        return False
    if target in LEAVES:
        return True
    return any(
        imp.target == allowed or imp.target.startswith(allowed + ".")
        for allowed in ALLOWED.get(source, frozenset())
    )


def violations(path: Path, package: Path = PACKAGE) -> list[str]:
    found: list[str] = []
    for imp in frontdesk_imports(path, package):
        if not is_allowed(imp):
            source = part_of(imp.module)
            may = sorted(ALLOWED.get(source, frozenset()))
            rule = (
                "is a shared leaf: it imports nothing of frontdesk"
                if source in LEAVES
                else "may import only itself, the shared leaves"
                + (f" and {', '.join(may)}" if may else "")
            )
            found.append(f"{imp}: `{source}` {rule} (tests/test_dependencies.py)")
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_there_are_modules_to_check() -> None:
    assert len(_modules()) >= 100


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_what_its_part_may(path: Path) -> None:
    found = violations(path)
    assert not found, "\n".join(found)


def test_every_part_has_a_rule() -> None:
    parts = {part_of(module_name(p)) for p in _modules()}
    assert parts <= set(ALLOWED), f"parts without a rule in ALLOWED: {sorted(parts - set(ALLOWED))}"


def test_the_rules_name_only_parts_that_exist_or_leaves() -> None:
    existing = {part_of(module_name(p)) for p in _modules()} | LEAVES
    named = {part_of(target) for targets in ALLOWED.values() for target in targets}
    assert named <= existing, sorted(named - existing)


# -- the check itself fails when it should ---------------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / ROOT
    for name, text in files.items():
        target = package / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return package


def test_the_check_names_the_module_line_and_import(tmp_path: Path) -> None:
    package = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "phone.py": "",
            "plan/__init__.py": "",
            "plan/model.py": (
                "from frontdesk.phone import mask_number\n"  # a leaf: fine
                "from frontdesk.plan import errors\n"  # itself: fine
                "def late():\n"
                "    from frontdesk.routing.clock import PracticeClock\n"  # hidden in a function
            ),
            "plan/errors.py": "",
            "routing/__init__.py": "",
            "routing/clock.py": "",
        },
    )
    assert violations(package / "plan" / "model.py", package) == [
        "frontdesk.plan.model (line 4) imports frontdesk.routing.clock: `plan` may import"
        " only itself, the shared leaves (tests/test_dependencies.py)"
    ]


def test_the_check_resolves_relative_and_from_package_imports(tmp_path: Path) -> None:
    package = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "phone.py": "from .staff import can\n",
            "staff.py": "",
            "store/__init__.py": "from . import db\n",
            "store/db.py": "",
            "store/recorder.py": "from ..web import board\nimport frontdesk.web.board\n",
            "web/__init__.py": "",
            "web/board.py": "",
        },
    )
    assert violations(package / "store" / "__init__.py", package) == []
    assert violations(package / "phone.py", package) == [
        "frontdesk.phone (line 1) imports frontdesk.staff: `phone` is a shared leaf: it"
        " imports nothing of frontdesk (tests/test_dependencies.py)"
    ]
    found = violations(package / "store" / "recorder.py", package)
    assert [v.split(":")[0] for v in found] == [
        "frontdesk.store.recorder (line 1) imports frontdesk.web.board",
        "frontdesk.store.recorder (line 2) imports frontdesk.web.board",
    ]


def test_a_known_exception_excuses_that_one_edge_only() -> None:
    known = frozenset({("store.recorder", "calls")})
    assert is_allowed(Import("store.recorder", 1, "calls.session"), known)
    assert not is_allowed(Import("store.recorder", 1, "calls.session"), frozenset())
    assert not is_allowed(Import("store.records", 1, "calls.session"), known)
    assert not is_allowed(Import("store.recorder", 1, "web.board"), known)
