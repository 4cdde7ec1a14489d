"""Staff accounts for the dashboard, in PostgreSQL (`staff_accounts`, migration 0003).

Passwords are hashed with argon2id (argon2-cffi's `PasswordHasher`, its default
parameters); a hash made with older parameters is replaced at the next good login.
Hashing is deliberately slow, so it runs in a thread (`asyncio.to_thread`) and never
holds up the event loop that carries the calls. Every database round trip is bounded
by `timeout` seconds.

`verify` answers in about the same time whether or not the username exists (an unknown
username is checked against a dummy hash) and a disabled account never verifies.

Password policy (`check_password`, NIST SP 800-63B section 5.1.1.2; wherever a password
is set: `frontdesk users add` and `passwd`): at least 12 characters (at most 1024); not
one character repeated; not containing the username (case-insensitive); not one of the
common passwords in `common_passwords.txt` (compared lower-cased, surrounding blanks
ignored). No composition rules (no "one digit, one capital"): length is what counts,
and a passphrase of words is welcome. The demo login's random password (upsert_demo) is
not checked against its username.

A new password (`set_password`) and `disable` end every open session of the account in
the same transaction (store/sessions.py): signed-in browsers and open board streams of
that user stop at once, in every daemon. (The demo login's password, made anew at each
run by `upsert_demo`, leaves its sessions be: a restart keeps it signed in.)
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Final, cast

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from frontdesk.staff import ALL_SITES, DEFAULT_SITE, ROLES, Role, StaffUser
from frontdesk.store.db import Pool
from frontdesk.store.sessions import end_user_sessions

log = structlog.get_logger("frontdesk.store")

USERNAME: Final = re.compile(r"^[a-z0-9._-]{1,64}$")
EXTENSION: Final = re.compile(r"^[0-9]{1,16}$")
MIN_PASSWORD: Final = 12
MAX_PASSWORD: Final = 1024  # argon2 copes with more; nobody types more
MAX_DISPLAY_NAME: Final = 200
TIMEOUT: Final = 5.0

_COLUMNS = "username, display_name, role, extension, site, sites"
# A site's name (migration 0011); `*` in an account's sites: every site.
SITE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class AccountError(ValueError):
    """A refused account change: bad input, an existing or unknown username."""


@dataclass(frozen=True)
class Account:
    """An account as the CLI lists it (never its hash)."""

    user: StaffUser
    disabled: bool
    created_at: datetime
    updated_at: datetime


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise AccountError(
            f"username {username!r} must be 1-64 characters of a-z, 0-9, '.', '_' or '-'"
        )
    return username


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords (lower case; `#` starts a comment)."""
    text = (resources.files("frontdesk.store") / "common_passwords.txt").read_text("utf-8")
    lines = (line.strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def check_password(password: str, username: str | None = None) -> str:
    """The password if the policy allows it (module docstring), else AccountError."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password must be at most {MAX_PASSWORD} characters")
    if len(set(password)) == 1:
        raise AccountError("the password must not be one character repeated")
    if username and username.lower() in password.lower():
        raise AccountError("the password must not contain the username")
    if password.strip().lower() in common_passwords():
        raise AccountError("the password is too common: choose another (a few words work well)")
    return password


def check_fields(display_name: str, role: str, extension: str | None) -> Role:
    if not display_name.strip() or len(display_name) > MAX_DISPLAY_NAME:
        raise AccountError(f"the display name must be 1-{MAX_DISPLAY_NAME} characters")
    if role not in ROLES:
        raise AccountError(f"role {role!r} must be one of {', '.join(ROLES)}")
    if extension is not None and not EXTENSION.match(extension):
        raise AccountError(f"extension {extension!r} must be digits only")
    return role


def check_sites(site: str, sites: Sequence[str]) -> tuple[str, ...]:
    """The home site and the other sites an account may see (`*`: all), checked; the
    other sites without the home site or repeats."""
    for name in (site, *sites):
        if name != ALL_SITES and not SITE.match(name):
            raise AccountError(
                f"site {name!r} must be 1-32 of a-z, 0-9, '-', '_' (or '*' for every site)"
            )
    if site == ALL_SITES:
        raise AccountError("the home site must be one site, not '*'")
    return tuple(s for s in dict.fromkeys(sites) if s != site)


def _user(row: Mapping[str, Any]) -> StaffUser:
    return StaffUser(
        username=str(row["username"]),
        display_name=str(row["display_name"]),
        role=cast(Role, row["role"]),
        extension=row["extension"],
        site=str(row["site"]),
        sites=tuple(row["sites"] or ()),
    )


_ON_CONFLICT_REFUSE = "ON CONFLICT (username) DO NOTHING"
_ON_CONFLICT_RESET = (
    "ON CONFLICT (username) DO UPDATE SET display_name = EXCLUDED.display_name,"
    " role = EXCLUDED.role, extension = EXCLUDED.extension,"
    " password_hash = EXCLUDED.password_hash, disabled = false, updated_at = now()"
)


class AccountStore:
    def __init__(
        self, pool: Pool, *, timeout: float = TIMEOUT, hasher: PasswordHasher | None = None
    ) -> None:
        self.pool = pool
        self.timeout = timeout
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    async def _fetch(self, query: str, *args: Any) -> list[Mapping[str, Any]]:
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn:
            return await conn.fetch(query, *args, timeout=self.timeout)

    async def _execute(self, query: str, *args: Any) -> str:
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn:
            return await conn.execute(query, *args, timeout=self.timeout)

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def add(
        self,
        username: str,
        display_name: str,
        role: str,
        extension: str | None,
        password: str,
        *,
        site: str = DEFAULT_SITE,
        sites: Sequence[str] = (),
    ) -> StaffUser:
        """Create an account (at home `site`, seeing `sites` besides it); an existing
        username is refused (AccountError)."""
        others = check_sites(site, sites)
        rows = await self._insert(
            _ON_CONFLICT_REFUSE,
            username,
            display_name,
            role,
            extension,
            password,
            username,
            (site, others),
        )
        if not rows:
            raise AccountError(f"username {username!r} is taken")
        log.info("accounts.added", username=username, role=rows[0]["role"])
        return _user(rows[0])

    async def upsert_demo(
        self,
        username: str,
        display_name: str,
        role: str,
        extension: str | None,
        password: str,
    ) -> StaffUser:
        """Create or reset a demo login (enabled, with this password) on every run."""
        rows = await self._insert(
            _ON_CONFLICT_RESET, username, display_name, role, extension, password, None
        )
        return _user(rows[0])

    async def _insert(
        self,
        on_conflict: str,
        username: str,
        display_name: str,
        role: str,
        extension: str | None,
        password: str,
        owner: str | None,
        sites: tuple[str, tuple[str, ...]] = (DEFAULT_SITE, ()),
    ) -> list[Mapping[str, Any]]:
        """Check the fields, hash the password (in a thread), insert the account; the
        password must not contain `owner` (None: the demo's generated one)."""
        check_username(username)
        checked_role = check_fields(display_name, role, extension)
        hashed = await self._hash(check_password(password, owner))
        return await self._fetch(
            "INSERT INTO staff_accounts"
            " (username, display_name, role, extension, password_hash, site, sites)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7) {on_conflict} RETURNING {_COLUMNS}",
            username,
            display_name.strip(),
            checked_role,
            extension,
            hashed,
            sites[0],
            list(sites[1]),
        )

    async def set_password(self, username: str, password: str) -> int:
        """A new password; every open session of the account ends with it (at once, in
        every daemon: store/sessions.py). How many sessions ended."""
        hashed = await self._hash(check_password(password, username))
        ended = await self._change_ending_sessions(
            "UPDATE staff_accounts SET password_hash = $2, updated_at = now() WHERE username = $1",
            username,
            "password",
            hashed,
        )
        log.info("accounts.password_set", username=username, sessions_ended=ended)
        return ended

    async def disable(self, username: str) -> int:
        """Disable the account and end its open sessions (at once, in every daemon); how
        many sessions ended."""
        ended = await self._change_ending_sessions(
            "UPDATE staff_accounts SET disabled = true, updated_at = now() WHERE username = $1",
            username,
            "disabled",
        )
        log.info("accounts.disabled", username=username, sessions_ended=ended)
        return ended

    async def set_sites(self, username: str, site: str, sites: Sequence[str]) -> StaffUser:
        """A new home site and list of other sites for the account (its open sessions see
        the change at their next check against PostgreSQL)."""
        others = check_sites(site, sites)
        rows = await self._fetch(
            "UPDATE staff_accounts SET site = $2, sites = $3, updated_at = now()"
            f" WHERE username = $1 RETURNING {_COLUMNS}",
            username,
            site,
            list(others),
        )
        if not rows:
            raise AccountError(f"no account {username!r}")
        return _user(rows[0])

    async def _change_ending_sessions(
        self, query: str, username: str, reason: str, *args: Any
    ) -> int:
        """`query` on the account and the end of its sessions, in one transaction."""
        async with (
            asyncio.timeout(self.timeout),
            self.pool.acquire() as conn,
            conn.transaction(),
        ):
            status = await conn.execute(query, username, *args, timeout=self.timeout)
            if status.endswith(" 0"):
                raise AccountError(f"no account {username!r}")
            return len(await end_user_sessions(conn, username, reason))

    async def list(self) -> list[StaffUser]:
        """The enabled accounts, by username."""
        rows = await self._fetch(
            f"SELECT {_COLUMNS} FROM staff_accounts WHERE NOT disabled ORDER BY username"
        )
        return [_user(row) for row in rows]

    async def accounts(self) -> builtins.list[Account]:
        """Every account, disabled ones too, by username."""
        rows = await self._fetch(
            f"SELECT {_COLUMNS}, disabled, created_at, updated_at FROM staff_accounts"
            " ORDER BY username"
        )
        return [
            Account(_user(r), bool(r["disabled"]), r["created_at"], r["updated_at"]) for r in rows
        ]

    async def get(self, username: str) -> StaffUser | None:
        """The enabled account `username`, or None."""
        rows = await self._fetch(
            f"SELECT {_COLUMNS} FROM staff_accounts WHERE username = $1 AND NOT disabled",
            username,
        )
        return _user(rows[0]) if rows else None

    async def verify(self, username: str, password: str) -> StaffUser | None:
        """The account if `password` is its password and it is enabled, else None."""
        row = None
        if USERNAME.match(username) and len(password) <= MAX_PASSWORD:
            rows = await self._fetch(
                f"SELECT {_COLUMNS}, password_hash, disabled FROM staff_accounts"
                " WHERE username = $1",
                username,
            )
            row = rows[0] if rows else None
        stored = str(row["password_hash"]) if row is not None else await self._dummy_hash()
        if not await asyncio.to_thread(self._matches, stored, password[:MAX_PASSWORD]):
            return None
        if row is None or row["disabled"]:
            return None
        if self.hasher.check_needs_rehash(stored):
            await self._rehash(username, stored, password)
        return _user(row)

    def _matches(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await self._hash(secrets.token_urlsafe(16))
        return self._dummy

    async def _rehash(self, username: str, old: str, password: str) -> None:
        new = await self._hash(password)
        # Only if nobody changed the password meanwhile.
        await self._execute(
            "UPDATE staff_accounts SET password_hash = $3, updated_at = now()"
            " WHERE username = $1 AND password_hash = $2",
            username,
            old,
            new,
        )
        log.info("accounts.rehashed", username=username)
