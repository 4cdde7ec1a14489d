"""A private PostgreSQL under frontdesk's data directory, for a first run that needs nothing.

`EmbeddedPostgres(data_dir)` runs the machine's own PostgreSQL binaries (`initdb`,
`pg_ctl`; found on PATH, then in `/usr/lib/postgresql/*/bin` and `/usr/pgsql-*/bin`,
newest first, preferring the major version that made an existing cluster):

- `<data_dir>/pg`         the cluster (`initdb` on first use: UTF8, superuser `frontdesk`)
- `<data_dir>/pg-socket`  its unix socket (mode 0700); the path must stay short, since a
                          socket path is limited to 107 bytes
- `<data_dir>/pg.log`     the server log
- `<data_dir>/pg.lock`    an flock, so that two processes never initialise or start at once

- `<data_dir>/pg.password` the superuser's password (mode 0600, owned by whoever runs
                          frontdesk, never by the server's user)

The server listens on 127.0.0.1 only (a free port, or the one given) and on the socket.
Authentication is `scram-sha-256` for the superuser on exactly those two, and nothing
else (`pg_hba.conf` is rewritten on every start, with no `trust` line): another local
account can neither read patients nor, as the superuser, `COPY ... TO PROGRAM` (issue
14). The password is generated (`secrets`, 256 bits) the first time, kept in
`pg.password` and put in the DSN that `start()` returns; never log that DSN. It is set
in single-user mode (`postgres --single`, the SQL on stdin, never in argv), so there is
no moment with a passwordless superuser behind `trust`. A cluster made by an older
frontdesk (trust, no password) is upgraded the same way at its next start: stopped if
running, the password set, `pg_hba.conf` rewritten, started again. Delete
`pg.password` to rotate the password (the next start sets a new one).

Root. PostgreSQL refuses to run as root (`postgres` exits: "root execution of the
PostgreSQL server is not permitted"), since whoever takes over the server through SQL
would own the machine. Running as root, we therefore run `initdb`, `pg_ctl` and so the
server as an unprivileged system user: the existing owner of `<data_dir>/pg` if that is
not root, else `frontdesk` (created with `useradd --system --no-create-home --shell
/usr/sbin/nologin` when missing), else `nobody` if the user cannot be created. Only the
PostgreSQL parts of the data directory are chowned to it (the rest, e.g. the outbox
spool with caller numbers, stays root's), so the data directory and its parents must be
traversable by that user: a clear error says so otherwise. The commands run through
`runuser -u USER --` (util-linux: made for root dropping to a user, with no password
prompt, sudoers or login shell — `nologin` is not involved), or `setpriv` where
`runuser` is missing. `pg_ctl` detaches the server into its own session, so it outlives
the `runuser` that started it. Not running as root, everything runs as the current user.

Why not the `pgserver` wheel (a PostgreSQL build inside a Python wheel) where PostgreSQL
is not installed? We checked: pgserver 0.1.4 is an 11 MB download, 30 MB unpacked, per
platform and Python version, plus three more dependencies (fasteners, platformdirs,
psutil); its bundled server gets none of the operating system's security updates, it
has the same refusal to run as root, and it would be a second way to run PostgreSQL to
test and support. Installing `postgresql` from the OS packages is one command, so when
no binaries are found `start()` raises `EmbeddedPostgresUnavailable` saying exactly that
(or: set `FRONTDESK_DATABASE_URL`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import structlog

from frontdesk.store import db

log = structlog.get_logger("frontdesk.store")

SUPERUSER = "frontdesk"
DATABASE = "frontdesk"
SYSTEM_USER = "frontdesk"
FALLBACK_USER = "nobody"
SEARCH_GLOBS: tuple[str, ...] = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin")
_SUN_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux
_SOCKET_NAME_MAX = len(".s.PGSQL.65535") + 1
_INCLUDE_LINE = "include_if_exists = 'frontdesk.conf'  # added by frontdesk\n"
PASSWORD_FILE = "pg.password"
_HBA = (
    "# Written by frontdesk on every start: the superuser with its password\n"
    "# (scram-sha-256), over the unix socket and 127.0.0.1 only; nobody else, no trust.\n"
    f"local   all   {SUPERUSER}                  scram-sha-256\n"
    f"host    all   {SUPERUSER}   127.0.0.1/32   scram-sha-256\n"
)


class EmbeddedPostgresError(RuntimeError):
    """The private PostgreSQL could not be initialised, started or stopped."""


class EmbeddedPostgresUnavailable(EmbeddedPostgresError):
    """No PostgreSQL binaries on this machine."""


@dataclass(frozen=True)
class Binaries:
    bindir: Path

    @property
    def initdb(self) -> str:
        return str(self.bindir / "initdb")

    @property
    def pg_ctl(self) -> str:
        return str(self.bindir / "pg_ctl")

    @property
    def postgres(self) -> str:
        return str(self.bindir / "postgres")

    def major(self) -> int | None:
        match = re.search(r"/postgresql/(\d+)/bin$|/pgsql-(\d+)/bin$", str(self.bindir))
        if match:
            return int(match[1] or match[2])
        try:
            out = subprocess.run(
                [self.pg_ctl, "--version"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        found = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
        return int(found[1]) if found else None


def _is_bindir(folder: Path) -> bool:
    return all(os.access(folder / name, os.X_OK) for name in ("initdb", "pg_ctl"))


def _glob_version(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path))


def candidates(
    search_path: str | None = None, globs: tuple[str, ...] = SEARCH_GLOBS
) -> list[Binaries]:
    """Folders holding both `initdb` and `pg_ctl`: PATH first, then the usual install
    folders, newest version first; duplicates (symlinks) removed."""
    path = os.environ.get("PATH", "") if search_path is None else search_path
    folders = [Path(p) for p in path.split(os.pathsep) if p]
    for pattern in globs:
        folders += [Path(p) for p in sorted(glob.glob(pattern), key=_glob_version, reverse=True)]
    found: list[Binaries] = []
    seen: set[Path] = set()
    for folder in folders:
        if not _is_bindir(folder):
            continue
        real = Path(os.path.realpath(folder / "initdb")).parent
        if not _is_bindir(real):
            real = folder
        if real not in seen:
            seen.add(real)
            found.append(Binaries(real))
    return found


def find_binaries(
    want_major: int | None = None,
    *,
    search_path: str | None = None,
    globs: tuple[str, ...] = SEARCH_GLOBS,
) -> Binaries:
    """The binaries to use; with `want_major` (an existing cluster's), that version."""
    found = candidates(search_path, globs)
    if not found:
        raise EmbeddedPostgresUnavailable(
            "no PostgreSQL binaries (initdb, pg_ctl) on PATH or in "
            f"{', '.join(globs)}: install `postgresql` from the OS packages "
            "(e.g. `apt-get install postgresql`) or set FRONTDESK_DATABASE_URL "
            "to an existing server"
        )
    if want_major is None:
        return found[0]
    for binaries in found:
        if binaries.major() == want_major:
            return binaries
    versions = sorted({str(b.major()) for b in found})
    raise EmbeddedPostgresUnavailable(
        f"the embedded database was made by PostgreSQL {want_major}, but only "
        f"{', '.join(versions)} is installed: install PostgreSQL {want_major} "
        "(or pg_upgrade the cluster), or set FRONTDESK_DATABASE_URL"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _conf_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class EmbeddedPostgres:
    """A private PostgreSQL server for `data_dir`; `start()` returns its DSN.

    ```python
    async with EmbeddedPostgres(Path("/var/lib/frontdesk")) as dsn:
        ...
    ```

    `start()` initialises the cluster on first use, reuses a server already running on
    the same data directory, and creates the database `frontdesk`. `stop()` stops the
    server (whoever started it) and does nothing if it is not running.
    """

    def __init__(self, data_dir: Path, port: int | None = None, *, timeout: float = 30.0) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.timeout = timeout
        self.pgdata = self.data_dir / "pg"
        self.socket_dir = self.data_dir / "pg-socket"
        self.log_file = self.data_dir / "pg.log"
        self.lock_file = self.data_dir / "pg.lock"
        self.password_file = self.data_dir / PASSWORD_FILE
        self.dsn: str | None = None
        self.initialised = False  # initdb ran during the last start()
        self.reused = False  # the last start() found the server already running
        self.user: str | None = None  # the unprivileged user, when running as root
        self._binaries: Binaries | None = None
        self._prefix: list[str] = []

    # -- the public interface -------------------------------------------------------

    async def start(self) -> str:
        if len(os.fsencode(self.socket_dir)) + _SOCKET_NAME_MAX > _SUN_PATH_MAX:
            raise EmbeddedPostgresError(
                f"the data directory path is too long for a unix socket ({self.socket_dir}; "
                f"at most {_SUN_PATH_MAX - _SOCKET_NAME_MAX} bytes): choose a shorter one"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        async with self._locked():
            await asyncio.to_thread(self._prepare)
            self.initialised = self.reused = False
            if not (self.pgdata / "PG_VERSION").exists():
                await self._initdb()
            password = self._read_password()
            if password is None:  # a new cluster, or one made by an older frontdesk
                password = await self._set_password()
            self._write_config_files()
            port = await self._running_port()
            if port is not None:
                self.reused = True
                await self._reload()  # the pg_hba.conf just written, whoever started it
                if self.port is not None and port != self.port:
                    log.warning("store.embedded_port_differs", wanted=self.port, running=port)
            else:
                port = await self._start_server()
            dsn = await self._ensure_database(port, password)
        self.dsn = dsn
        log.info(
            "store.embedded_started",
            data_dir=str(self.pgdata),
            port=port,
            user=self.user or "current",
            reused=self.reused,
            initialised=self.initialised,
        )
        return dsn

    async def stop(self) -> None:
        if not (self.pgdata / "PG_VERSION").exists():
            return
        async with self._locked():
            await asyncio.to_thread(self._prepare)
            if await self._running_port() is None:
                return
            code, out = await self._run(
                self._bin().pg_ctl,
                "stop",
                "-D",
                str(self.pgdata),
                "-m",
                "fast",
                "-w",
                "-t",
                str(int(self.timeout)),
            )
            if code != 0:
                raise EmbeddedPostgresError(f"pg_ctl stop failed ({code}): {out.strip()}")
        self.dsn = None
        log.info("store.embedded_stopped", data_dir=str(self.pgdata))

    async def __aenter__(self) -> str:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- preparation: binaries, the user, ownership ----------------------------------

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EmbeddedPostgresError(
                            f"another process holds {self.lock_file} (starting or stopping "
                            "the embedded PostgreSQL)"
                        ) from None
                    await asyncio.sleep(0.1)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _bin(self) -> Binaries:
        if self._binaries is None:
            want: int | None = None
            with contextlib.suppress(OSError, ValueError):
                want = int((self.pgdata / "PG_VERSION").read_text().strip())
            self._binaries = find_binaries(want)
        return self._binaries

    def _prepare(self) -> None:
        """Find the binaries; as root, pick the user and hand it the PostgreSQL paths."""
        self._bin()
        if self._prefix or os.geteuid() != 0:
            for folder in (self.pgdata, self.socket_dir):
                folder.mkdir(mode=0o700, exist_ok=True)
            self.log_file.touch(mode=0o600, exist_ok=True)
            return
        user = self._pick_user()
        entry = pwd.getpwnam(user)
        self._check_traversable(entry)
        for folder in (self.pgdata, self.socket_dir):
            folder.mkdir(mode=0o700, exist_ok=True)
            self._chown(folder, entry, recursive=folder.stat().st_uid != entry.pw_uid)
        self.log_file.touch(mode=0o600, exist_ok=True)
        self._chown(self.log_file, entry, recursive=False)
        self.user = user
        runuser = shutil.which("runuser") or next(
            (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.access(p, os.X_OK)), None
        )
        if runuser:
            self._prefix = [runuser, "-u", user, "--"]
        elif setpriv := shutil.which("setpriv"):
            self._prefix = [
                setpriv,
                f"--reuid={entry.pw_uid}",
                f"--regid={entry.pw_gid}",
                "--init-groups",
                "--",
            ]
        else:
            raise EmbeddedPostgresError(
                "running as root, but neither runuser nor setpriv (util-linux) is installed "
                "to run PostgreSQL as an unprivileged user"
            )

    def _pick_user(self) -> str:
        with contextlib.suppress(OSError):
            owner = self.pgdata.stat().st_uid
            if owner != 0:
                with contextlib.suppress(KeyError):
                    return pwd.getpwuid(owner).pw_name
        with contextlib.suppress(KeyError):
            pwd.getpwnam(SYSTEM_USER)
            return SYSTEM_USER
        try:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    SYSTEM_USER,
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            pwd.getpwnam(SYSTEM_USER)
            log.info("store.embedded_user_created", user=SYSTEM_USER)
            return SYSTEM_USER
        except (OSError, subprocess.SubprocessError, KeyError) as exc:
            log.warning("store.embedded_user_fallback", user=FALLBACK_USER, error=repr(exc))
            return FALLBACK_USER

    def _check_traversable(self, entry: pwd.struct_passwd) -> None:
        groups = set(os.getgrouplist(entry.pw_name, entry.pw_gid))
        for folder in [self.data_dir, *self.data_dir.parents]:
            info = folder.stat()
            if info.st_uid == entry.pw_uid:
                ok = bool(info.st_mode & stat.S_IXUSR)
            elif info.st_gid in groups:
                ok = bool(info.st_mode & stat.S_IXGRP)
            else:
                ok = bool(info.st_mode & stat.S_IXOTH)
            if not ok:
                raise EmbeddedPostgresError(
                    f"PostgreSQL must run as the unprivileged user {entry.pw_name!r} (it refuses "
                    f"root), which cannot enter {folder}: make {self.data_dir} and its parents "
                    f"traversable (e.g. `chmod o+x {folder}`), or use a data directory under "
                    "/var/lib, or set FRONTDESK_DATABASE_URL"
                )

    @staticmethod
    def _chown(path: Path, entry: pwd.struct_passwd, *, recursive: bool) -> None:
        os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        if recursive and path.is_dir():
            for root, dirs, files in os.walk(path):
                for name in dirs + files:
                    os.chown(Path(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    # -- running the binaries ---------------------------------------------------------

    async def _run(
        self, *argv: str, timeout: float | None = None, stdin: bytes | None = None
    ) -> tuple[int, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_MESSAGES"] = "C"
        proc = await asyncio.create_subprocess_exec(
            *self._prefix,
            *argv,
            stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd="/",
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(stdin), (timeout or self.timeout) + 5)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise EmbeddedPostgresError(
                f"{Path(argv[0]).name} {argv[1] if len(argv) > 1 else ''} did not finish "
                f"within {timeout or self.timeout:.0f} s"
            ) from None
        return int(proc.returncode or 0), out.decode("utf-8", errors="replace")

    async def _initdb(self) -> None:
        common = [
            self._bin().initdb,
            "-D",
            str(self.pgdata),
            f"--username={SUPERUSER}",
            "--encoding=UTF8",
            "--auth-local=trust",
            "--auth-host=trust",
        ]
        code, out = await self._run(*common, "--locale=C.UTF-8", timeout=120)
        if code != 0:  # no C.UTF-8 locale on this system: byte-order C, still UTF8
            code, out = await self._run(*common, "--no-locale", timeout=120)
        if code != 0:
            raise EmbeddedPostgresError(
                f"initdb into {self.pgdata} failed ({code}):\n{out.strip()[-2000:]}"
            )
        self.initialised = True
        log.info("store.embedded_initdb", data_dir=str(self.pgdata))

    # -- the superuser's password -------------------------------------------------------

    def _read_password(self) -> str | None:
        """The kept password, or None when there is none (yet) or it is unusable. A file
        readable by others is not trusted: the password is replaced."""
        try:
            info = self.password_file.lstat()
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                return None
            if info.st_mode & 0o077:
                log.warning("store.embedded_password_exposed", file=str(self.password_file))
                return None
            password = self.password_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return password if re.fullmatch(r"[A-Za-z0-9_-]{32,}", password) else None

    async def _set_password(self) -> str:
        """Generate a password and set it in single-user mode, the server stopped (an
        older frontdesk's server, running with `trust`, is stopped first). The file is
        written only once the password is set, so a failure in between is retried at the
        next start."""
        if await self._running_port() is not None:
            code, out = await self._run(
                self._bin().pg_ctl, "stop", "-D", str(self.pgdata), "-m", "fast", "-w",
                "-t", str(int(self.timeout)),
            )  # fmt: skip
            if code != 0:
                raise EmbeddedPostgresError(
                    f"pg_ctl stop (to set the password) failed ({code}): {out.strip()}"
                )
        password = secrets.token_urlsafe(32)
        sql = (
            "SET password_encryption = 'scram-sha-256';\n"
            f"ALTER ROLE \"{SUPERUSER}\" WITH PASSWORD '{password}';\n"
        )
        code, out = await self._run(
            self._bin().postgres, "--single", "-D", str(self.pgdata), "-c", "exit_on_error=on",
            "-c", "log_statement=none", "postgres",
            stdin=sql.encode(),
        )  # fmt: skip
        if code != 0:
            detail = out.replace(password, "***").strip()[-2000:]
            raise EmbeddedPostgresError(
                f"setting the password of {SUPERUSER!r} in {self.pgdata} failed ({code}):\n{detail}"
            )
        tmp = self.password_file.with_name(self.password_file.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")
        tmp.replace(self.password_file)
        log.info("store.embedded_password_set", file=str(self.password_file))
        return password

    def _write(self, path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o600)
        if self.user is not None:
            self._chown(tmp, pwd.getpwnam(self.user), recursive=False)
        tmp.replace(path)

    def _write_config_files(self) -> None:
        """pg_hba.conf (the superuser's password over the socket and 127.0.0.1 only) and
        frontdesk.conf (where to listen), included at the end of postgresql.conf so that
        it wins."""
        self._write(self.pgdata / "pg_hba.conf", _HBA)
        conf = self.pgdata / "postgresql.conf"
        text = conf.read_text(encoding="utf-8")
        if _INCLUDE_LINE not in text:
            self._write(conf, text + ("" if text.endswith("\n") else "\n") + _INCLUDE_LINE)

    def _write_listen_conf(self, port: int) -> None:
        self._write(
            self.pgdata / "frontdesk.conf",
            "# Written by frontdesk on every start of the embedded PostgreSQL.\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {port}\n"
            f"unix_socket_directories = {_conf_string(str(self.socket_dir))}\n"
            "unix_socket_permissions = 0700\n"
            "password_encryption = 'scram-sha-256'\n",
        )

    async def _running_port(self) -> int | None:
        """The port of the server running on this data directory, or None."""
        code, _ = await self._run(self._bin().pg_ctl, "status", "-D", str(self.pgdata))
        if code != 0:  # 3: not running, 4: no cluster
            return None
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            return int(lines[3])
        except (OSError, IndexError, ValueError):
            raise EmbeddedPostgresError(
                f"PostgreSQL is running on {self.pgdata} but its postmaster.pid is unreadable"
            ) from None

    async def _reload(self) -> None:
        code, out = await self._run(self._bin().pg_ctl, "reload", "-D", str(self.pgdata))
        if code != 0:
            raise EmbeddedPostgresError(f"pg_ctl reload failed ({code}): {out.strip()}")

    async def _start_server(self) -> int:
        attempts = 1 if self.port is not None else 3
        for attempt in range(attempts):
            port = self.port if self.port is not None else _free_port()
            self._write_listen_conf(port)
            log_size = self.log_file.stat().st_size if self.log_file.exists() else 0
            code, out = await self._run(
                self._bin().pg_ctl,
                "start",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(int(self.timeout)),
            )
            if code == 0:
                return port
            with open(self.log_file, "rb") as handle:
                handle.seek(log_size)
                news = handle.read().decode("utf-8", errors="replace")
            if "could not bind" in news and attempt + 1 < attempts:
                continue  # the free port was taken meanwhile: another one
            detail = "\n".join(news.strip().splitlines()[-20:]) or out.strip()
            raise EmbeddedPostgresError(
                f"PostgreSQL in {self.pgdata} did not start on 127.0.0.1:{port} "
                f"(pg_ctl {code}; log: {self.log_file}):\n{detail}"
            )
        raise AssertionError("unreachable")

    async def _ensure_database(self, port: int, password: str) -> str:
        base = f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}"
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                conn = await db.connect(f"{base}/postgres", timeout=5)
                break
            except (*db.UNAVAILABLE, db.PostgresError) as exc:
                if time.monotonic() > deadline:
                    raise EmbeddedPostgresError(
                        f"PostgreSQL in {self.pgdata} does not accept connections on "
                        f"127.0.0.1:{port} after {self.timeout:.0f} s "
                        f"({str(exc).replace(password, '***')}); "
                        f"see {self.log_file}:\n{_tail(self.log_file)}"
                    ) from exc
                await asyncio.sleep(0.2)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await conn.close()
        return f"{base}/{DATABASE}"
