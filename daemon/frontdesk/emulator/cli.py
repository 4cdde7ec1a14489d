"""`frontdesk emulator`: run the Asterisk emulator until SIGINT/SIGTERM.

Credentials come from `FRONTDESK_ARI_USER`, `FRONTDESK_ARI_PASSWORD`, `FRONTDESK_AMI_USER`
and `FRONTDESK_AMI_SECRET` (development defaults `frontdesk`/`secret` otherwise, the same as
`Emulator`'s). The process ends with 0 on SIGINT/SIGTERM or after a graceful shutdown. Other processes drive it
through the `/_emulator/` routes on the ARI port (docs/emulator.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from frontdesk.emulator.emulator import Emulator
from frontdesk.exits import EXIT_INVALID, EXIT_OK

DEFAULT_STAFF = "2001,2002,2003,2004"
DEV_CREDENTIALS = {
    "FRONTDESK_ARI_USER": "frontdesk",
    "FRONTDESK_ARI_PASSWORD": "secret",
    "FRONTDESK_AMI_USER": "frontdesk",
    "FRONTDESK_AMI_SECRET": "secret",
}


class Console(Protocol):
    def print(self, *objects: Any, **kwargs: Any) -> None: ...


def address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def staff_list(text: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    if not items or not all(item.isdigit() for item in items):
        raise argparse.ArgumentTypeError(f"expected extensions like 2001,2002, got {text!r}")
    return items


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "emulator", help="run the Asterisk 22 emulator (ARI and AMI on loopback)"
    )
    parser.add_argument("--ari", type=address, default=("127.0.0.1", 8088), metavar="HOST:PORT")
    parser.add_argument("--ami", type=address, default=("127.0.0.1", 5038), metavar="HOST:PORT")
    parser.add_argument("--app", default="frontdesk", help="Stasis app of the inbound dialplan")
    parser.add_argument(
        "--staff", type=staff_list, default=staff_list(DEFAULT_STAFF), help="e.g. 2001,2002"
    )
    parser.add_argument(
        "--media-seconds", type=float, default=1.0, help="how long each played media lasts"
    )
    parser.add_argument(
        "--answer-after", type=float, default=1.5, help="seconds a rung staff phone rings"
    )
    parser.add_argument(
        "--sounds",
        metavar="DIR",
        help=(
            "an Asterisk sounds folder (e.g. `frontdesk prompts --out DIR`): only its files "
            "and the core sounds exist, others fail to play as on Asterisk (default: all exist)"
        ),
    )
    parser.add_argument(
        "--pbx-timezone",
        type=zone_name,
        default="UTC",
        metavar="ZONE",
        help="the PBX clock's IANA zone (its /etc/localtime): Cdr times, CoreStatus and ARI's "
        "ping are written in it (default UTC, as in a container)",
    )
    parser.add_argument(
        "--system-name",
        default="pbx",
        metavar="NAME",
        help="asterisk.conf's systemname: uniqueids start with it (one per site; default pbx)",
    )
    parser.set_defaults(handler=run)


def zone_name(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"not an IANA time zone: {text!r}") from None
    return text


def credentials(env: Mapping[str, str]) -> dict[str, str]:
    return {name: env.get(name) or default for name, default in DEV_CREDENTIALS.items()}


def build(args: argparse.Namespace, env: Mapping[str, str]) -> Emulator:
    creds = credentials(env)
    return Emulator(
        ari=args.ari,
        ami=args.ami,
        ari_user=creds["FRONTDESK_ARI_USER"],
        ari_password=creds["FRONTDESK_ARI_PASSWORD"],
        ami_user=creds["FRONTDESK_AMI_USER"],
        ami_secret=creds["FRONTDESK_AMI_SECRET"],
        app=args.app,
        staff=args.staff,
        media_seconds=args.media_seconds,
        answer_after=args.answer_after,
        sounds_dir=args.sounds,
        pbx_timezone=args.pbx_timezone,
        system_name=args.system_name,
    )


def run(args: argparse.Namespace, console: Console) -> int:
    try:
        return asyncio.run(serve(build(args, os.environ), console))
    except OSError as exc:
        console.print(f"frontdesk emulator: cannot listen: {exc}", markup=False)
        return EXIT_INVALID


async def serve(emu: Emulator, console: Console, stop: asyncio.Event | None = None) -> int:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await emu.start()
        console.print(
            f"emulated Asterisk 22.10.1: ARI {emu.ari_url} "
            f"(app {emu.pbx.config.app}), AMI port {emu.ami_port}, "
            f"staff {', '.join(emu.pbx.config.staff)}; Ctrl-C stops",
            markup=False,
        )
        finished = asyncio.ensure_future(emu.shut_down.wait())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([finished, stopped], return_when=asyncio.FIRST_COMPLETED)
        finished.cancel()
        stopped.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await emu.stop()
    return EXIT_OK


class _PlainConsole:
    def print(self, *objects: Any, **kwargs: Any) -> None:
        print(*objects, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="frontdesk")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.handler(args, _PlainConsole())
    return result


if __name__ == "__main__":
    raise SystemExit(main())
