"""`frontdesk users add|list|disable|passwd|sessions|revoke`: the dashboard's staff
accounts and their sessions.

The database is `--database-url` or else `FRONTDESK_DATABASE_URL`, as for `frontdesk db
upgrade`; pending migrations are applied first. Passwords are read with `--password-stdin`
(one line) or else asked twice at the terminal; never from the command line. With
`--plan PLAN` (or `FRONTDESK_PLAN`) an extension must be a staff extension of the plan.

`disable` and `passwd` end every open session of the account, and `revoke USER
[--session ID-PREFIX]` the user's sessions (or the one whose id starts with the prefix,
as `sessions` shows it): at once in every daemon on that database (store/sessions.py;
open board streams get `event: expired` within 2 s). `sessions [USER] [--json]` lists the
open sessions: user, session id (the first 12 hex digits of the sha256 of the cookie,
never the cookie), created, last seen, client address and user agent.

Accounts are shared by every site on the database (docs/scale.md "Several sites"): one
login for the group. Each has a home site (`--site`, default `FRONTDESK_SITE`, else
`main`) and may see the boards and reports of its home site only, unless `--sites a,b`
(or `all`) names more; `sites USER --sites a,b [--site HOME]` changes them.

Every change (`add`, `disable`, `passwd`, `revoke`, `sites`) is put in the audit log (`revoke` in the
same transaction), actor `cli:<the OS user>` (`user_added`, `user_disabled`, `password_set`,
`sessions_revoked`, with the sessions ended; `user_sites_set`).

Exit codes: 0 ok; 1 `revoke --session` matched no open session of that user; 2 bad
input, a refused change (an unknown user), or no or an unreachable database.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from frontdesk import logs
from frontdesk.exits import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from frontdesk.plan import PlanError, load_plan
from frontdesk.staff import ALL_SITES, DEFAULT_SITE, ROLES
from frontdesk.store import db
from frontdesk.store.accounts import AccountError, AccountStore, check_username
from frontdesk.store.db import Connection
from frontdesk.store.migrations import upgrade
from frontdesk.store.records import new_key
from frontdesk.store.refusals import CONNECT_TIMEOUT, ENV, Refused, database_url, refusing
from frontdesk.store.sessions import (
    MIN_PREFIX,
    SessionInfo,
    end_user_sessions,
    open_sessions,
    public_id,
)

PLAN_ENV = "FRONTDESK_PLAN"
SITE_ENV = "FRONTDESK_SITE"
T = TypeVar("T")


def add_parser(commands: Any) -> None:
    users = commands.add_parser("users", help="the dashboard's staff accounts")
    sub = users.add_subparsers(dest="users_command", required=True)

    add = sub.add_parser("add", help="create a staff account")
    add.add_argument("username", help="1-64 characters of a-z, 0-9, '.', '_', '-'")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--name", default=None, help="display name (default: the username)")
    add.add_argument("--extension", default=None, help="the user's phone extension")
    add.add_argument(
        "--plan", type=Path, default=None, help=f"check the extension against it (${PLAN_ENV})"
    )
    _site_options(add)
    _password_stdin(add)
    _database_url(add)
    add.set_defaults(handler=_add)

    listing = sub.add_parser("list", help="list the staff accounts")
    listing.add_argument("--json", action="store_true", help="one JSON array")
    _database_url(listing)
    listing.set_defaults(handler=_list)

    disable = sub.add_parser("disable", help="disable an account (its sessions end at once)")
    disable.add_argument("username")
    _database_url(disable)
    disable.set_defaults(handler=_disable)

    passwd = sub.add_parser("passwd", help="set an account's password")
    passwd.add_argument("username")
    _password_stdin(passwd)
    _database_url(passwd)
    passwd.set_defaults(handler=_passwd)

    sessions = sub.add_parser("sessions", help="list the open dashboard sessions")
    sessions.add_argument("username", nargs="?", default=None, help="only this user's")
    sessions.add_argument("--json", action="store_true", help="one JSON array")
    _database_url(sessions)
    sessions.set_defaults(handler=_sessions)

    sites = sub.add_parser("sites", help="set the sites an account may see")
    sites.add_argument("username")
    _site_options(sites)
    _database_url(sites)
    sites.set_defaults(handler=_sites)

    revoke = sub.add_parser("revoke", help="end a user's dashboard sessions at once")
    revoke.add_argument("username")
    revoke.add_argument(
        "--session",
        metavar="ID-PREFIX",
        default=None,
        help=f"only the session whose id starts with this (at least {MIN_PREFIX} hex digits,"
        " as `frontdesk users sessions` shows it)",
    )
    _database_url(revoke)
    revoke.set_defaults(handler=_revoke)


def _database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url", default=None, help=f"PostgreSQL URL (default: ${ENV})", metavar="URL"
    )


def _site_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--site",
        default=None,
        metavar="NAME",
        help=f"the account's home site (default: ${SITE_ENV}, else {DEFAULT_SITE})",
    )
    parser.add_argument(
        "--sites",
        type=_site_list,
        default=(),
        metavar="A,B",
        help="the other sites it may see, separated by commas, or 'all' (default: none)",
    )


def _site_list(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    return (ALL_SITES,) if names == ("all",) else names


def _home_site(args: argparse.Namespace) -> str:
    return str(args.site or os.environ.get(SITE_ENV) or DEFAULT_SITE)


def _password_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


# -- the commands -------------------------------------------------------------------------
def _add(args: argparse.Namespace, out: Console) -> int:
    async def run(store: AccountStore) -> Any:
        added = await store.add(
            args.username,
            name,
            args.role,
            args.extension,
            password,
            site=_home_site(args),
            sites=args.sites,
        )
        data: dict[str, Any] = {"role": added.role, "extension": added.extension}
        data |= {"site": added.site, "sites": list(added.sites)}
        await _audit(store, "user_added", added.username, data)
        return added

    try:
        name = args.name if args.name is not None else args.username
        _check_extension(args.extension, args.plan)
        password = _read_password(args.password_stdin)
        user = _with_store(args, run)
    except Refused as exc:
        return _fail("add", str(exc))
    out.print(f"added {escape(user.username)} ({user.role})", highlight=False)
    return EXIT_OK


def _list(args: argparse.Namespace, out: Console) -> int:
    try:
        accounts = _with_store(args, lambda store: store.accounts())
    except Refused as exc:
        return _fail("list", str(exc))
    if args.json:
        rows = [
            {
                "username": a.user.username,
                "display_name": a.user.display_name,
                "role": a.user.role,
                "extension": a.user.extension,
                "site": a.user.site,
                "sites": list(a.user.sites),
                "disabled": a.disabled,
            }
            for a in accounts
        ]
        print(json.dumps(rows, ensure_ascii=False))
        return EXIT_OK
    table = Table()
    for column in ("username", "name", "role", "extension", "site", "also sees", "state"):
        table.add_column(column)
    for a in accounts:
        table.add_row(
            escape(a.user.username),
            escape(a.user.display_name),
            a.user.role,
            a.user.extension or "-",
            a.user.site,
            _sites_text(a.user.sites),
            "disabled" if a.disabled else "active",
        )
    out.print(table)
    return EXIT_OK


def _sites_text(sites: tuple[str, ...]) -> str:
    return "all" if ALL_SITES in sites else ", ".join(sites) or "-"


def _sites(args: argparse.Namespace, out: Console) -> int:
    async def run(store: AccountStore) -> Any:
        user = await store.set_sites(args.username, _home_site(args), args.sites)
        await _audit(
            store, "user_sites_set", user.username, {"site": user.site, "sites": list(user.sites)}
        )
        return user

    try:
        user = _with_store(args, run)
    except Refused as exc:
        return _fail("sites", str(exc))
    out.print(
        f"{escape(user.username)}: home site {user.site}, also sees {_sites_text(user.sites)}",
        highlight=False,
    )
    return EXIT_OK


def _disable(args: argparse.Namespace, out: Console) -> int:
    async def run(store: AccountStore) -> int:
        ended = await store.disable(args.username)
        await _audit(store, "user_disabled", args.username, {"sessions_ended": ended})
        return ended

    try:
        ended = _with_store(args, run)
    except Refused as exc:
        return _fail("disable", str(exc))
    out.print(f"disabled {escape(args.username)}{_ended(ended)}", highlight=False)
    return EXIT_OK


def _passwd(args: argparse.Namespace, out: Console) -> int:
    async def run(store: AccountStore) -> int:
        ended = await store.set_password(args.username, password)
        await _audit(store, "password_set", args.username, {"sessions_ended": ended})
        return ended

    try:
        password = _read_password(args.password_stdin)
        ended = _with_store(args, run)
    except Refused as exc:
        return _fail("passwd", str(exc))
    out.print(f"password set for {escape(args.username)}{_ended(ended)}", highlight=False)
    return EXIT_OK


def _ended(count: int) -> str:
    if count == 0:
        return ""
    return f" ({count} session{'s' if count != 1 else ''} ended)"


def _sessions(args: argparse.Namespace, out: Console) -> int:
    async def run(store: AccountStore) -> list[SessionInfo]:
        async with store.pool.acquire() as conn:
            if args.username is not None:
                await _known(conn, args.username)
            return await open_sessions(conn, args.username)

    try:
        found = _with_store(args, run)
    except Refused as exc:
        return _fail("sessions", str(exc))
    if args.json:
        rows = [
            {
                "username": s.username,
                "session": s.id,
                "created": s.created.isoformat(),
                "last_seen": s.last_seen.isoformat(),
                "expires": s.expires.isoformat(),
                "client": s.client,
                "user_agent": s.user_agent,
            }
            for s in found
        ]
        print(json.dumps(rows, ensure_ascii=False))
        return EXIT_OK
    if not found:
        out.print("no open sessions", highlight=False)
        return EXIT_OK
    table = Table()
    for column in ("user", "session", "created", "last seen", "client", "user agent"):
        table.add_column(column)
    for s in found:
        table.add_row(
            escape(s.username),
            s.id,
            _when(s.created),
            _when(s.last_seen),
            escape(s.client or "-"),
            escape(s.user_agent or "-"),
        )
    out.print(table)
    return EXIT_OK


def _when(at: datetime) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _revoke(args: argparse.Namespace, out: Console) -> int:
    prefix = args.session.strip().lower() if args.session is not None else None

    async def run(store: AccountStore) -> list[str]:
        async with store.pool.acquire() as conn, conn.transaction():
            await _known(conn, args.username)
            ended = await end_user_sessions(conn, args.username, "revoked", prefix)
            data: dict[str, Any] = {"sessions": [public_id(h) for h in ended]}
            if prefix is not None:
                data["session_prefix"] = prefix
            await _insert_audit(conn, "sessions_revoked", args.username, data)
        return ended

    try:
        if prefix is not None and (
            len(prefix) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in prefix)
        ):
            raise Refused(
                f"a session id is at least {MIN_PREFIX} hex digits"
                " (as `frontdesk users sessions` shows it)"
            )
        ended = _with_store(args, run)
    except Refused as exc:
        return _fail("revoke", str(exc))
    name = escape(args.username)
    if prefix is not None and not ended:
        print(
            f"frontdesk users revoke: no open session of {args.username} starts with {prefix}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    shown = ", ".join(public_id(h) for h in ended)
    count = len(ended)
    out.print(
        f"revoked {count} session{'s' if count != 1 else ''} of {name}"
        + (f": {shown}" if shown else ""),
        highlight=False,
    )
    return EXIT_OK


async def _known(conn: Connection, username: str) -> None:
    check_username(username)
    if not await conn.fetchval("SELECT 1 FROM staff_accounts WHERE username = $1", username):
        raise AccountError(f"no account {username!r}")


def _actor() -> str:
    """`cli:<the OS user running the command>` for the audit log."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = f"uid{os.getuid()}"
    return f"cli:{name}"[:64]


async def _audit(store: AccountStore, action: str, subject: str, data: dict[str, Any]) -> None:
    async with store.pool.acquire() as conn:
        await _insert_audit(conn, action, subject, data)


async def _insert_audit(conn: Connection, action: str, subject: str, data: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO audit_log (entry_key, at, actor, action, subject, data)"
        " VALUES ($1, now(), $2, $3, $4, $5::jsonb)",
        new_key(),
        _actor(),
        action,
        subject,
        json.dumps(data),
    )


# -- helpers ------------------------------------------------------------------------------
def _fail(command: str, message: str) -> int:
    # Messages name the failure, never the URL (it may carry a password).
    print(f"frontdesk users {command}: {message}", file=sys.stderr)
    return EXIT_INVALID


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != first:
        raise Refused("the passwords do not match")
    return first


def _check_extension(extension: str | None, plan_path: Path | None) -> None:
    if extension is None:
        return
    if not extension.isdigit():
        raise Refused(f"extension {extension!r} must be digits only")
    path = plan_path or (Path(os.environ[PLAN_ENV]) if os.environ.get(PLAN_ENV) else None)
    if path is None:
        return
    try:
        plan = load_plan(path)
    except (PlanError, OSError) as exc:
        raise Refused(f"cannot read the plan {path}: {exc}") from None
    known = sorted(s.extension for s in plan.staff)
    if extension not in known:
        raise Refused(
            f"extension {extension} is not a staff extension of {path} ({', '.join(known)})"
        )


def _with_store(args: argparse.Namespace, action: Callable[[AccountStore], Awaitable[T]]) -> T:
    dsn = database_url(args.database_url)
    with logs.quiet_for_output():
        return asyncio.run(_run(dsn, action))


async def _run(dsn: str, action: Callable[[AccountStore], Awaitable[T]]) -> T:
    try:
        pool = await db.create_pool(dsn, timeout=CONNECT_TIMEOUT, max_size=1)
    except db.UNAVAILABLE as exc:
        raise Refused(f"the database is unreachable ({type(exc).__name__})") from None
    except (db.PostgresError, ValueError) as exc:
        raise Refused(f"cannot connect to the database ({type(exc).__name__})") from None
    try:
        with refusing("the database refused"):
            await upgrade(pool)
            return await action(AccountStore(pool, timeout=CONNECT_TIMEOUT))
    except AccountError as exc:
        raise Refused(str(exc)) from None
    finally:
        await pool.close()
