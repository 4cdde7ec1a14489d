"""The local spool: an append-only JSON-lines file for records PostgreSQL could not take.

Each `append` writes whole lines and fsyncs before returning, so a record the spool
accepted survives a crash. A crash in the middle of a write leaves a torn last line:
`read` skips it (and any other unreadable or oversized line) with a log line and goes
on, and opening the spool first terminates a torn tail with a newline so that later
appends never glue onto it. Lines are bounded (`max_line_bytes`); a record whose JSON
is longer is refused (`SpoolLineTooLong`). Pure file I/O, no database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("frontdesk.store")

DEFAULT_MAX_LINE_BYTES = 256 * 1024


class SpoolLineTooLong(ValueError):
    pass


class Spool:
    def __init__(self, path: Path | str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.path = Path(path)
        self.max_line_bytes = max_line_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seal_torn_tail()

    def _seal_torn_tail(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                if f.tell() == 0:
                    return
                f.seek(-1, os.SEEK_END)
                last = f.read(1)
        except FileNotFoundError:
            return
        if last != b"\n":
            log.warning("store.spool_torn_tail", path=str(self.path))
            self._write(b"\n")

    def encode(self, obj: Mapping[str, Any]) -> bytes:
        line = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        if len(line) > self.max_line_bytes:
            raise SpoolLineTooLong(f"{len(line)} bytes > {self.max_line_bytes}")
        return line

    def append(self, objs: Iterable[Mapping[str, Any]]) -> int:
        """Append one line per object, fsync; return how many were written.

        An object too long for a line is skipped with an error log (never blocks the rest).
        """
        lines: list[bytes] = []
        for obj in objs:
            try:
                lines.append(self.encode(obj))
            except SpoolLineTooLong as exc:
                log.error("store.spool_line_too_long", key=obj.get("key"), error=str(exc))
        if lines:
            self._write(b"".join(lines))
        return len(lines)

    def _write(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def __bool__(self) -> bool:
        return self.size() > 0

    def read(self) -> Iterator[dict[str, Any]]:
        """Every readable line's object, in order; torn, garbled or oversized lines skipped."""
        try:
            f = self.path.open("rb")
        except FileNotFoundError:
            return
        with f:
            number = 0
            while True:
                line = f.readline(self.max_line_bytes + 1)
                if not line:
                    return
                number += 1
                if len(line) > self.max_line_bytes:
                    log.error("store.spool_line_skipped", line=number, reason="too long")
                    while line and not line.endswith(b"\n"):  # skip the rest of it
                        line = f.readline(self.max_line_bytes + 1)
                    continue
                if not line.endswith(b"\n"):
                    log.warning("store.spool_line_skipped", line=number, reason="torn last line")
                    return
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    log.warning("store.spool_line_skipped", line=number, reason="not JSON")
                    continue
                if not isinstance(obj, dict):
                    log.warning("store.spool_line_skipped", line=number, reason="not an object")
                    continue
                yield obj

    def clear(self) -> None:
        """Forget everything (after a successful replay)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
