"""A PostgreSQL primary and its streaming replica, started by a fault test, for failover.

Both are throwaway clusters under a temporary directory (trust on 127.0.0.1: test data
only), run as an unprivileged user when the test runs as root (PostgreSQL refuses root).
The replica streams from the primary through a `TcpProxy` that the test controls, so it
can stop replication (freeze) before the primary dies: the replica then really lacks
the primary's last commits, as an asynchronous replica does when its primary crashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
from pathlib import Path

from faults.harness import TcpProxy, free_port, wait_for
from frontdesk.store.embedded import find_binaries


class PgNode:
    def __init__(self, folder: Path, port: int, bindir: Path, prefix: list[str]) -> None:
        self.folder = folder
        self.port = port
        self.bindir = bindir
        self.prefix = prefix  # runuser -u USER --, as root

    @property
    def data(self) -> Path:
        return self.folder / "data"

    async def run(self, tool: str, *args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            *self.prefix,
            str(self.bindir / tool),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate()
        text = out.decode(errors="replace")
        if process.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{text}")
        return text

    async def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        await self.run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options, "-w",
            "start",
        )  # fmt: skip

    async def stop(self, mode: str = "fast") -> None:
        await self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    async def promote(self) -> None:
        await self.run("pg_ctl", "-D", str(self.data), "-w", "promote")

    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


class PgPair:
    """`primary` and `replica`; `replication` is the proxy the replica streams through."""

    def __init__(self, root: Path) -> None:
        bindir = find_binaries().bindir
        prefix, self.owner = _unprivileged()
        self.root = root
        self.primary = PgNode(root / "primary", free_port(), bindir, prefix)
        self.replica = PgNode(root / "replica", free_port(), bindir, prefix)
        self.replication = TcpProxy(self.primary.port)

    def failover_dsn(self) -> str:
        """Both hosts; the client picks the one that accepts writes."""
        hosts = f"127.0.0.1:{self.primary.port},127.0.0.1:{self.replica.port}"
        return f"postgresql://postgres@{hosts}/postgres?target_session_attrs=read-write"

    async def start(self) -> None:
        for node in (self.primary, self.replica):
            node.folder.mkdir(parents=True)
            if self.owner is not None:
                os.chown(node.folder, self.owner.pw_uid, self.owner.pw_gid)
        self.root.chmod(0o755)
        await self.primary.run(
            "initdb", "-D", str(self.primary.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        await self.primary.start()
        await self.replication.start()
        await self.replica.run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.replication.port), "-U",
            "postgres", "-D", str(self.replica.data), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        await self.replica.start()

    async def streaming(self) -> bool:
        text = await self.primary.run(
            "psql", "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres", "-Atc",
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
        )  # fmt: skip
        return text.strip() == "1"

    async def wait_streaming(self) -> None:
        await wait_for(self.streaming, "the replica to stream from the primary", 30)

    async def close(self) -> None:
        for node in (self.primary, self.replica):
            with contextlib.suppress(RuntimeError):  # already stopped
                await node.stop("immediate")
        await self.replication.close()
        shutil.rmtree(self.root, ignore_errors=True)


def _unprivileged() -> tuple[list[str], pwd.struct_passwd | None]:
    """As root: run the clusters as `frontdesk` (made by the embedded server) or nobody."""
    if os.geteuid() != 0:
        return [], None
    for name in ("frontdesk", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], entry
    raise RuntimeError("no unprivileged user to run PostgreSQL as")
