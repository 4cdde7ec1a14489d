"""The database's failures as a command's refusal (`frontdesk.store.refusals`), without a
database: the messages the commands print after `frontdesk <command>: `."""

from __future__ import annotations

import socket

import pytest

from frontdesk.store.migrations import MigrationError
from frontdesk.store.refusals import Refused, connect, refusing


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_refusing_names_an_unreachable_database_or_what_failed() -> None:
    unreachable = r"^the database is unreachable \(TimeoutError: slow\)$"
    with pytest.raises(Refused, match=unreachable), refusing("migration failed"):
        raise TimeoutError("slow")
    failed = r"^migration failed: 0002 is broken$"
    with pytest.raises(Refused, match=failed), refusing("migration failed"):
        raise MigrationError("0002 is broken")


def test_refusing_lets_other_errors_through() -> None:
    with pytest.raises(ValueError, match="not the database's"), refusing("the database refused"):
        raise ValueError("not the database's")


async def test_connect_refuses_with_or_without_the_drivers_message() -> None:
    dsn = f"postgresql://nobody:secret@127.0.0.1:{_closed_port()}/none"
    with pytest.raises(Refused) as plain:
        await connect(dsn, detail=False)
    assert str(plain.value) == "the database is unreachable (ConnectionRefusedError)"
    with pytest.raises(Refused) as detailed:
        await connect(dsn)
    assert str(detailed.value).startswith("the database is unreachable (ConnectionRefusedError: ")
    assert "secret" not in str(detailed.value)


async def test_a_malformed_url_never_quotes_its_password() -> None:
    with pytest.raises(Refused) as refused:
        await connect("postgresql://u:sec/ret@127.0.0.1:1/db")
    assert "sec" not in str(refused.value)
    assert "malformed" in str(refused.value)
