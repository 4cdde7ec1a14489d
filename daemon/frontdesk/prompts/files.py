"""The sounds folder: which files frontdesk wrote, which to (re)write, and writing them.

A practice may replace any file with a recording. A file is only ever replaced when
frontdesk wrote it itself (its SHA-256 is in `DIR/.frontdesk-prompts.json`, the manifest)
and its text changed, unless `force`: a recording, a file newer than the plan, or any file
frontdesk did not write is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from frontdesk.prompts.inventory import Inventory, Prompt
from frontdesk.prompts.render import RENDERER, Tools, render_prompt

MANIFEST = ".frontdesk-prompts.json"


Action = Literal["create", "update", "unchanged", "keep"]


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def decide(
    prompt: Prompt,
    target: Path,
    plan_mtime: float,
    manifest: Mapping[str, Mapping[str, str]],
    force: bool,
) -> Decision:
    """Whether to (re)render `target`; never replaces a recording without `force`."""
    if not target.exists():
        return Decision("create", "new")
    if force:
        return Decision("update", "--force")
    entry = manifest.get(str(prompt.path))
    ours = entry is not None and entry.get("sha256") == file_sha256(target)
    if not ours:
        if target.stat().st_mtime > plan_mtime:
            return Decision("keep", "newer than the plan (a recording?)")
        return Decision("keep", "not written by frontdesk (a recording?)")
    assert entry is not None
    if (entry.get("text"), entry.get("voice"), entry.get("renderer")) == (
        prompt.text,
        prompt.voice,
        RENDERER,
    ):
        return Decision("unchanged", "up to date")
    return Decision("update", "text changed")


def file_sha256(path: Path) -> str:
    """What the manifest keeps of a file frontdesk wrote: its SHA-256, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(out: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {
        str(k): {str(a): str(b) for a, b in v.items()}
        for k, v in files.items()
        if isinstance(v, dict)
    }


def write_manifest(out: Path, files: Mapping[str, Mapping[str, str]]) -> None:
    text = json.dumps(
        {"format": 1, "files": dict(sorted(files.items()))}, ensure_ascii=False, indent=1
    )
    _write_atomic(out / MANIFEST, text.encode("utf-8"))


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as tmp:
        tmp.write(data)
    os.chmod(tmp.name, 0o644)  # mkstemp makes 0600; Asterisk's user reads the sounds folder
    os.replace(tmp.name, path)


@dataclass(frozen=True)
class FileResult:
    prompt: Prompt
    decision: Decision

    def as_json(self, out: Path | None) -> dict[str, Any]:
        return {
            "path": str(out / self.prompt.path) if out else str(self.prompt.path),
            "language": self.prompt.language,
            "name": self.prompt.name,
            "kind": self.prompt.kind,
            "text": self.prompt.text,
            "voice": self.prompt.voice,
            "action": self.decision.action,
            "reason": self.decision.reason,
        }


def render_all(
    inventory: Inventory,
    out: Path,
    plan_mtime: float,
    *,
    force: bool = False,
    tools: Tools | None = None,
    dry_run: bool = False,
    step: Callable[[Prompt], None] | None = None,
) -> list[FileResult]:
    """Decide for every prompt, render the ones to (re)write, and update the manifest.

    The manifest is written even when a rendering fails half-way, so the files already
    rendered are still known as ours (and not mistaken for recordings) next time.
    """
    manifest = read_manifest(out)
    results: list[FileResult] = []
    try:
        for prompt in inventory.prompts:
            target = out / prompt.path
            decision = decide(prompt, target, plan_mtime, manifest, force)
            results.append(FileResult(prompt, decision))
            if dry_run:
                continue
            key = str(prompt.path)
            if decision.action in ("create", "update"):
                assert tools is not None
                render_prompt(prompt, target, tools)
                manifest[key] = {
                    "sha256": file_sha256(target),
                    "text": prompt.text,
                    "voice": prompt.voice,
                    "renderer": RENDERER,
                }
            elif decision.action == "keep":
                manifest.pop(key, None)  # someone else's file now
            if step is not None:
                step(prompt)
    finally:
        if not dry_run and results:
            write_manifest(out, manifest)
    return results
