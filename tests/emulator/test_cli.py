"""The `emulator` subcommand, tested through our own small parser (the lead wires it in)."""

from __future__ import annotations

import argparse
import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from frontdesk.emulator.cli import (
    add_parser,
    address,
    build,
    credentials,
    run,
    serve,
    staff_list,
)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="frontdesk")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["emulator", *argv])


class _Console:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self.lines.append(" ".join(map(str, objects)))


def test_defaults() -> None:
    args = _parse()
    assert (args.ari, args.ami, args.app) == (("127.0.0.1", 8088), ("127.0.0.1", 5038), "frontdesk")
    assert args.staff == ("2001", "2002", "2003", "2004")
    assert callable(args.handler)


def test_options() -> None:
    args = _parse(
        "--ari",
        "127.0.0.1:0",
        "--ami",
        "localhost:15038",
        "--staff",
        "2001, 2005",
        "--media-seconds",
        "0.2",
    )
    assert (args.ari, args.ami, args.staff, args.media_seconds) == (
        ("127.0.0.1", 0),
        ("localhost", 15038),
        ("2001", "2005"),
        0.2,
    )


def test_sounds_folder_makes_missing_files_fail(tmp_path: Path) -> None:
    assert not build(_parse(), {}).pbx.config.sounds.strict  # default: every file exists
    (tmp_path / "en" / "frontdesk").mkdir(parents=True)
    (tmp_path / "en" / "frontdesk" / "menu-1.wav").write_bytes(b"")
    sounds = build(_parse("--sounds", str(tmp_path)), {}).pbx.config.sounds
    assert sounds.playable("sound:frontdesk/menu-1", "en")
    assert not sounds.playable("sound:frontdesk/menu-2", "en")


@pytest.mark.parametrize("bad", ["8088", "host:", ":80", "host:99999", "host:x"])
def test_bad_address(bad: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        address(bad)


def test_bad_staff() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        staff_list("2001,alice")


def test_credentials_from_environment() -> None:
    creds = credentials({"FRONTDESK_ARI_PASSWORD": "p", "FRONTDESK_AMI_SECRET": ""})
    assert creds["FRONTDESK_ARI_PASSWORD"] == "p"
    assert creds["FRONTDESK_ARI_USER"] == "frontdesk"
    assert creds["FRONTDESK_AMI_SECRET"] == "secret"  # empty means unset


async def test_serve_until_stopped() -> None:
    args = _parse("--ari", "127.0.0.1:0", "--ami", "127.0.0.1:0", "--app", "demo")
    emu = build(args, {"FRONTDESK_ARI_USER": "u", "FRONTDESK_ARI_PASSWORD": "p"})
    assert emu.pbx.config.app == "demo"
    stop = asyncio.Event()
    console = _Console()
    task = asyncio.create_task(serve(emu, console, stop))
    while not emu.ami_port:
        await asyncio.sleep(0.01)
    reader, writer = await asyncio.open_connection("127.0.0.1", emu.ami_port)
    assert await reader.readline() == b"Asterisk Call Manager/11.0.0\r\n"
    writer.close()
    stop.set()
    assert await asyncio.wait_for(task, 5.0) == 0
    assert "ARI http://127.0.0.1:" in console.lines[0]


def test_run_reports_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = _parse("--ari", f"127.0.0.1:{port}", "--ami", "127.0.0.1:0")
        console = _Console()
        assert args.handler(args, console) == 2
    assert "cannot listen" in console.lines[0]
    assert run is args.handler


def test_the_system_name_prefixes_uniqueids() -> None:
    """One emulator per site (faults/test_sites.py): its uniqueids start with its name."""
    assert build(_parse(), {}).pbx.config.system_name == "pbx"
    assert build(_parse("--system-name", "north"), {}).pbx.config.system_name == "north"
