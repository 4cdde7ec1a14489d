"""The shape of an ARI REST handler: a `Call` in, a `Reply` out, registered by nickname."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from frontdesk.emulator.errors import AriError
from frontdesk.emulator.pbx import Pbx
from frontdesk.emulator.swagger import as_bool, as_int, as_list, as_text

VARIABLES_ERROR = (
    "Each value in 'variables' must be a string or an object with 'value' and optional "
    "'report_events'"
)


@dataclass
class Call:
    pbx: Pbx
    path: dict[str, str]
    args: dict[str, Any]  # query string parameters and JSON body keys, body winning

    def text(self, name: str) -> str | None:
        value = as_text(self.args.get(name))
        return value if value else None

    def raw(self, name: str) -> str | None:
        """Like `text` but keeps an empty value (`?value=` sets an empty variable)."""
        return as_text(self.args.get(name))

    def number(self, name: str, default: int = 0) -> int:
        return as_int(self.args[name]) if name in self.args else default

    def items(self, name: str) -> list[str]:
        return as_list(self.args.get(name))

    def flag(self, name: str) -> bool:
        return as_bool(self.args.get(name))

    def variables(self) -> dict[str, str]:
        """The `variables` object of a JSON body, checked like Asterisk 22 does."""
        value = self.args.get("variables")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise AriError(400, VARIABLES_ERROR)
        out: dict[str, str] = {}
        for name, item in value.items():
            if isinstance(item, dict) and isinstance(item.get("value"), str):
                out[name] = item["value"]
            elif isinstance(item, str):
                out[name] = item
            else:
                raise AriError(400, VARIABLES_ERROR)
        return out


@dataclass
class Reply:
    status: int
    body: Any = None
    content_type: str = "application/json"
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Reply]
HANDLERS: dict[str, Handler] = {}


def handler(nickname: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[nickname] = fn
        return fn

    return register


def ok(body: Any) -> Reply:
    return Reply(200, body)


def created(body: Any) -> Reply:
    return Reply(201, body)


def no_content() -> Reply:
    return Reply(204)
