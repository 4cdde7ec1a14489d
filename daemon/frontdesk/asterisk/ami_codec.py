"""Sans-IO codec for the Asterisk Manager Interface (AMI): bytes in, messages out.

No sockets here (in the style of h11/wsproto): `AmiCodec.feed(data)` takes whatever a
read returned and gives back the complete messages it now holds; `serialize_action`
turns an action into the bytes to write. The asyncio client is `frontdesk.asterisk.ami`.

What the wire looks like (Asterisk 22.10.1, see the recorded transcripts):

- one banner line, `Asterisk Call Manager/11.0.0`, then blocks of `Key: Value` lines
  ending in an empty line. Lines end in CRLF; a bare LF is tolerated.
- a block whose first key is `Response` answers an action (`ActionID` echoes ours); a
  block whose first key is `Event` is an event (`OriginateResponse` is an event that also
  carries `Response` and `ActionID`). List actions answer `Response: Success` +
  `EventList: start`, then events with the same ActionID, the last `EventList: Complete`.
- a key that occurs more than once (`Output`, `Variable`, ...) is kept in wire order;
  `Message.as_dict()` turns repeated keys into lists.
- the legacy `Response: Follows` block carries raw command output ending in
  `--END COMMAND--`; its lines are `Response.output`.

Decoding rules:

- bytes are buffered and only whole lines are decoded, so a multi-byte UTF-8 character
  split across two reads arrives intact (`\\n` never occurs inside a UTF-8 sequence).
  Invalid UTF-8 becomes U+FFFD replacement characters and is logged; it never raises.
- limits (`max_line_length` bytes per line, `max_block_bytes` per block, `max_fields`
  lines per block) are enforced while bytes arrive: going past one raises
  `AmiProtocolError`, which the client turns into a reconnect. So does a first line that
  is not an AMI banner. After an error the codec stays failed.
- a line without a colon, or a block with neither `Response` nor `Event`, is skipped and
  logged (a real Asterisk never sends one; dropping it keeps the stream in step).

Values as Asterisk sends them: channel-state fields (`CallerIDName`, ...) and `VarSet`
values are escaped with Asterisk's `ast_escape_c`, e.g. `He said \\"hi\\"` (transcript
flow j). `unescape_value` reverses that; use it on those fields only.

Serialising actions (`serialize_action`) refuses, never rewrites:

- a value containing CR, LF or NUL raises `UnsafeValueError` (a subclass of ValueError),
  so a caller ID carrying `\\r\\nAction: Originate` can never inject a second action.
  Callers that want to pass untrusted text anyway sanitise it first, explicitly, with
  `sanitize_value` (each run of CR/LF/NUL becomes one space).
- keys and the action name must be header tokens (letters, digits, `-`, `_`); `Action`
  and `ActionID` cannot be passed as fields (the client owns them).
- a line longer than `MAX_ACTION_LINE` bytes is refused: Asterisk's manager discards
  longer input lines, which would desynchronise the message.
- the error messages name the key, never the value (values may hold phone numbers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import structlog

log = structlog.get_logger("frontdesk.ami")

BANNER_PREFIX = "Asterisk Call Manager/"
END_COMMAND = "--END COMMAND--"
DEFAULT_MAX_LINE_LENGTH = 8 * 1024
DEFAULT_MAX_BLOCK_BYTES = 256 * 1024
DEFAULT_MAX_FIELDS = 2048
MAX_ACTION_LINE = 1024  # bytes, CRLF included: Asterisk's manager input buffer
SUCCESS_STATUSES = frozenset({"success", "follows", "goodbye"})

FieldValue: TypeAlias = str | int | Sequence[str]
Fields: TypeAlias = Mapping[str, FieldValue] | Iterable[tuple[str, FieldValue]]

_TOKEN = re.compile(r"[A-Za-z0-9_-]+\Z")
_UNSAFE = re.compile(r"[\r\n\0]+")
_FOLLOWS_HEADERS = frozenset({"response", "privilege", "actionid", "message", "commandid"})
_C_UNESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}
_C_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


class AmiProtocolError(Exception):
    """The byte stream broke the AMI framing or a limit: drop the connection.

    `parsed` holds the messages completed in the same `feed` call before the error.
    """

    def __init__(self, reason: str, parsed: Sequence[AmiMessage] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.parsed = tuple(parsed)


class UnsafeValueError(ValueError):
    """An action key or value that could break AMI framing (CR/LF/NUL, bad key, too long)."""


@dataclass(frozen=True)
class Banner:
    """The greeting line, e.g. `Asterisk Call Manager/11.0.0`."""

    text: str

    @property
    def version(self) -> str:
        return self.text.removeprefix(BANNER_PREFIX).strip()


@dataclass(frozen=True)
class Message:
    """A block of `Key: Value` fields in wire order (duplicates kept)."""

    fields: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str | None = None) -> str | None:
        """First value of `key` (case-insensitive), or `default`."""
        wanted = key.lower()
        return next((v for k, v in self.fields if k.lower() == wanted), default)

    def get_all(self, key: str) -> list[str]:
        """Every value of `key` (case-insensitive), in wire order."""
        wanted = key.lower()
        return [v for k, v in self.fields if k.lower() == wanted]

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def as_dict(self) -> dict[str, str | list[str]]:
        """Fields as a dict in wire order; a key that occurs more than once maps to a list."""
        out: dict[str, str | list[str]] = {}
        for key, value in self.fields:
            seen = out.get(key)
            if seen is None:
                out[key] = value
            elif isinstance(seen, list):
                seen.append(value)
            else:
                out[key] = [seen, value]
        return out

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")


@dataclass(frozen=True)
class Response(Message):
    """The answer to an action; `body` is the raw output of a legacy `Response: Follows`."""

    body: tuple[str, ...] = field(default=())

    @property
    def status(self) -> str:
        return self.get("Response", "") or ""

    @property
    def ok(self) -> bool:
        return self.status.lower() in SUCCESS_STATUSES

    @property
    def message(self) -> str:
        return self.get("Message", "") or ""

    @property
    def output(self) -> tuple[str, ...]:
        return self.body or tuple(self.get_all("Output"))

    @property
    def starts_list(self) -> bool:
        return (self.get("EventList") or "").lower() == "start"


@dataclass(frozen=True)
class Event(Message):
    """An unsolicited (or list) event; `name` is its `Event` field."""

    @property
    def name(self) -> str:
        return self.get("Event", "") or ""

    @property
    def ends_list(self) -> bool:
        return (self.get("EventList") or "").lower() == "complete"


AmiMessage: TypeAlias = Banner | Response | Event


class AmiCodec:
    """Incremental AMI decoder with hard limits. One instance per connection."""

    def __init__(
        self,
        *,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES,
        max_fields: int = DEFAULT_MAX_FIELDS,
        expect_banner: bool = True,
    ) -> None:
        self.max_line_length = max_line_length
        self.max_block_bytes = max_block_bytes
        self.max_fields = max_fields
        self._buffer = bytearray()
        self._banner_seen = not expect_banner
        self._lines: list[str] = []
        self._block_bytes = 0
        self._follows_body: list[str] | None = None
        self._follows_done = False
        self._failed: str | None = None

    @property
    def failed(self) -> bool:
        return self._failed is not None

    @property
    def mid_message(self) -> bool:
        """True if bytes of an unfinished line or block are buffered."""
        return bool(self._buffer) or bool(self._lines)

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Add received bytes; return the messages completed by them."""
        if self._failed is not None:
            raise AmiProtocolError(f"codec already failed: {self._failed}")
        self._buffer += data
        out: list[AmiMessage] = []
        try:
            self._drain_lines(out)
        except AmiProtocolError as exc:
            self._failed = exc.reason
            raise AmiProtocolError(exc.reason, out) from None
        return out

    def receive_eof(self) -> None:
        """The peer closed: raise if it did so in the middle of a message."""
        if self._failed is None and self.mid_message:
            self._failed = "connection closed in the middle of a message"
            raise AmiProtocolError(self._failed)

    # -- decoding -----------------------------------------------------------------

    def _drain_lines(self, out: list[AmiMessage]) -> None:
        start = 0
        buffer = self._buffer
        try:
            while (end := buffer.find(b"\n", start)) != -1:
                raw = bytes(buffer[start:end])
                start = end + 1
                self._check_line_length(len(raw))
                message = self._on_line(raw)
                if message is not None:
                    out.append(message)
        finally:
            del buffer[:start]
        self._check_line_length(len(buffer))

    def _check_line_length(self, length: int) -> None:
        if length > self.max_line_length:
            raise AmiProtocolError(f"line longer than {self.max_line_length} bytes")

    def _on_line(self, raw: bytes) -> AmiMessage | None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        text = _decode(raw)
        if not self._banner_seen:
            return self._on_banner(text)
        if text == "" and self._block_complete():
            return self._finish_block()
        if text == "" and not self._lines:
            return None  # stray empty line between blocks
        self._add_line(text, len(raw) + 2)
        return None

    def _on_banner(self, text: str) -> Banner | None:
        if not text:
            return None
        if not text.startswith(BANNER_PREFIX):
            raise AmiProtocolError("the server did not send an AMI banner")
        self._banner_seen = True
        return Banner(text)

    def _block_complete(self) -> bool:
        """An empty line ends the block, except inside a `Response: Follows` body."""
        if self._follows_body is None:
            return bool(self._lines)
        return self._follows_done or not self._follows_body

    def _add_line(self, text: str, size: int) -> None:
        self._block_bytes += size
        if self._block_bytes > self.max_block_bytes:
            raise AmiProtocolError(f"message larger than {self.max_block_bytes} bytes")
        if len(self._lines) + len(self._follows_body or ()) >= self.max_fields:
            raise AmiProtocolError(f"message with more than {self.max_fields} lines")
        if self._follows_body is not None:
            self._add_follows_line(text)
            return
        if not self._lines and _is_follows(text):
            self._follows_body = []
        self._lines.append(text)

    def _add_follows_line(self, text: str) -> None:
        body = self._follows_body
        assert body is not None
        if self._follows_done:
            body.append(text)  # junk after --END COMMAND--: keep, don't lose sync
        elif text.endswith(END_COMMAND):
            head = text.removesuffix(END_COMMAND)
            if head:
                body.append(head)
            self._follows_done = True
        elif not body and _follows_header(text):
            self._lines.append(text)
        else:
            body.append(text)

    def _finish_block(self) -> Response | Event | None:
        lines, body = self._lines, self._follows_body
        self._lines, self._follows_body = [], None
        self._follows_done = False
        self._block_bytes = 0
        fields = _parse_fields(lines)
        return _classify(fields, tuple(body or ()))


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("ami_invalid_utf8", line_bytes=len(raw))
        return raw.decode("utf-8", errors="replace")


def _is_follows(text: str) -> bool:
    key, sep, value = text.partition(":")
    return bool(sep) and key.strip().lower() == "response" and value.strip().lower() == "follows"


def _follows_header(text: str) -> bool:
    key, sep, _ = text.partition(":")
    return bool(sep) and key.strip().lower() in _FOLLOWS_HEADERS


def _parse_fields(lines: Iterable[str]) -> tuple[tuple[str, str], ...]:
    fields: list[tuple[str, str]] = []
    skipped = 0
    for line in lines:
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            skipped += 1
            continue
        fields.append((key.strip(), value.removeprefix(" ")))
    if skipped:
        log.warning("ami_malformed_lines_skipped", count=skipped)
    return tuple(fields)


def _classify(
    fields: tuple[tuple[str, str], ...], body: tuple[str, ...]
) -> Response | Event | None:
    keys = [key.lower() for key, _ in fields]
    first = keys[0] if keys else ""
    if first == "event" or (first != "response" and "event" in keys):
        return Event(fields)
    if "response" in keys:
        return Response(fields, body)
    log.warning("ami_block_without_response_or_event", fields=len(fields))
    return None


# -- values -----------------------------------------------------------------------


def unescape_value(value: str) -> str:
    """Reverse Asterisk's `ast_escape_c`: `\\"` -> `"`, `\\\\` -> `\\`, `\\n` -> LF, ...

    An unknown escape (`\\x`) is kept as it is.
    """
    if "\\" not in value:
        return value
    return _C_ESCAPE.sub(lambda m: _C_UNESCAPES.get(m.group(1), m.group(0)), value)


def sanitize_value(value: str) -> str:
    """Make untrusted text safe for an AMI value: each run of CR/LF/NUL becomes one space."""
    return _UNSAFE.sub(" ", value)


# -- encoding ---------------------------------------------------------------------


def serialize_action(name: str, action_id: str, fields: Fields = ()) -> bytes:
    """`Action: name`, `ActionID`, then the fields (a sequence value repeats its key)."""
    if not _TOKEN.match(name):
        raise UnsafeValueError(f"invalid AMI action name {name!r}")
    lines = [_line("Action", name), _line("ActionID", action_id)]
    items = fields.items() if isinstance(fields, Mapping) else fields
    for key, value in items:
        if key.lower() in ("action", "actionid"):
            raise UnsafeValueError(f"{key!r} is set by the client, not by a field")
        lines.extend(_line(key, item) for item in _values(key, value))
    return b"".join(lines) + b"\r\n"


def _values(key: str, value: FieldValue) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, str):
        return [value]
    if any(not isinstance(item, str) for item in value):
        raise UnsafeValueError(f"field {key!r}: list items must be strings")
    return list(value)


def _line(key: str, value: str) -> bytes:
    if not _TOKEN.match(key):
        raise UnsafeValueError(f"invalid AMI key {key!r}")
    if _UNSAFE.search(value):
        raise UnsafeValueError(f"field {key!r}: value contains CR, LF or NUL")
    line = f"{key}: {value}\r\n".encode()
    if len(line) > MAX_ACTION_LINE:
        raise UnsafeValueError(f"field {key!r}: line longer than {MAX_ACTION_LINE} bytes")
    return line
