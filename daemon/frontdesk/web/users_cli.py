"""`frontdesk users add|list|disable|passwd`: the dashboard's staff accounts.

The database is `--database-url` or else `FRONTDESK_DATABASE_URL`, as for `frontdesk db
upgrade`; pending migrations are applied first. Passwords are read with `--password-stdin`
(one line) or else asked twice at the terminal; never from the command line. With
`--plan PLAN` (or `FRONTDESK_PLAN`) an extension must be a staff extension of the plan.
Exit codes: 0 ok; 2 bad input, a refused change, or no or an unreachable database.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from frontdesk.exits import EXIT_INVALID, EXIT_OK
from frontdesk.plan import PlanError, load_plan
from frontdesk.staff import ROLES
from frontdesk.store import db
from frontdesk.store.accounts import AccountError, AccountStore
from frontdesk.store.cli import ENV, _quiet_logs
from frontdesk.store.migrations import upgrade
from frontdesk.store.refusals import CONNECT_TIMEOUT, Refused, refusing

PLAN_ENV = "FRONTDESK_PLAN"
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
    _password_stdin(add)
    _database_url(add)
    add.set_defaults(handler=_add)

    listing = sub.add_parser("list", help="list the staff accounts")
    listing.add_argument("--json", action="store_true", help="one JSON array")
    _database_url(listing)
    listing.set_defaults(handler=_list)

    disable = sub.add_parser("disable", help="disable an account (its sessions end within 60 s)")
    disable.add_argument("username")
    _database_url(disable)
    disable.set_defaults(handler=_disable)

    passwd = sub.add_parser("passwd", help="set an account's password")
    passwd.add_argument("username")
    _password_stdin(passwd)
    _database_url(passwd)
    passwd.set_defaults(handler=_passwd)


def _database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url", default=None, help=f"PostgreSQL URL (default: ${ENV})", metavar="URL"
    )


def _password_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


# -- the commands -------------------------------------------------------------------------
def _add(args: argparse.Namespace, out: Console) -> int:
    def run(store: AccountStore) -> Awaitable[Any]:
        return store.add(args.username, name, args.role, args.extension, password)

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
                "disabled": a.disabled,
            }
            for a in accounts
        ]
        print(json.dumps(rows, ensure_ascii=False))
        return EXIT_OK
    table = Table()
    for column in ("username", "name", "role", "extension", "state"):
        table.add_column(column)
    for a in accounts:
        table.add_row(
            escape(a.user.username),
            escape(a.user.display_name),
            a.user.role,
            a.user.extension or "-",
            "disabled" if a.disabled else "active",
        )
    out.print(table)
    return EXIT_OK


def _disable(args: argparse.Namespace, out: Console) -> int:
    try:
        _with_store(args, lambda store: store.disable(args.username))
    except Refused as exc:
        return _fail("disable", str(exc))
    out.print(f"disabled {escape(args.username)}", highlight=False)
    return EXIT_OK


def _passwd(args: argparse.Namespace, out: Console) -> int:
    try:
        password = _read_password(args.password_stdin)
        _with_store(args, lambda store: store.set_password(args.username, password))
    except Refused as exc:
        return _fail("passwd", str(exc))
    out.print(f"password set for {escape(args.username)}", highlight=False)
    return EXIT_OK


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
    dsn: str | None = args.database_url or os.environ.get(ENV)
    if not dsn:
        raise Refused(f"no database: give --database-url or set {ENV}")
    with _quiet_logs():  # stdout is the command's output (`--json`)
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
