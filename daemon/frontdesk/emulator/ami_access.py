"""What one manager.conf user may read and do, applied as Asterisk 22.10.1 does (main/manager.c).

- `read`: an event reaches a session only if the user may read *every* class of its
  category (`(readperm & category) == category`) and the session asked for them
  (`Events:` at login, `Action: Events`).
- `write`: an action runs if it needs no class (Login, Logoff, Ping, Events, Challenge) or
  if the user holds *any* class of its authority (`(writeperm & authority) != 0`):
  `Hangup` (system,call) is allowed with `write = call` alone. Otherwise the answer is
  `Response: Error` / `Message: Permission denied` and a `RequestNotAllowed` security event.
- `eventfilter` lines (copied into every session of the user at login; `Action: Filter` adds
  to the same lists): the legacy form `eventfilter = <regex>` (a leading `!` excludes) and
  the advanced form `eventfilter(action(include|exclude),name(<Event>),header(<Header>),
  method(regex|exact|starts_with|ends_with|contains|none)) = [pattern]`. Include filters
  only: an event must match one. Exclude only: it must match none. Both: include, then
  exclude. A filter with `name(...)` looks at events of that name only; `header(...)` tests
  the value of each line starting with that header; without one the whole event text.
  Action responses and list events (`ContactList`...) are written directly, unfiltered.

`FRONTDESK` is asterisk-conf/manager.conf's user (a test compares them); `LAB` is the user
the transcripts were recorded with (`read = all`, `write = all`, no filter).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CLASSES = (
    "system",
    "call",
    "log",
    "verbose",
    "command",
    "agent",
    "user",
    "config",
    "dtmf",
    "reporting",
    "cdr",
    "dialplan",
    "originate",
    "agi",
    "cc",
    "aoc",
    "test",
    "security",
    "message",
)
ALL = frozenset(CLASSES)
METHODS = frozenset({"regex", "exact", "starts_with", "ends_with", "contains", "none"})

# The authority each emulated action is registered with (ast_manager_register_xml*):
# main/manager.c, res/res_pjsip/pjsip_options.c. An empty set: anyone logged in.
AUTHORITY: dict[str, frozenset[str]] = {
    "login": frozenset(),
    "logoff": frozenset(),
    "ping": frozenset(),
    "events": frozenset(),
    "challenge": frozenset(),
    "userevent": frozenset({"user"}),
    "coreshowchannels": frozenset({"system", "reporting"}),
    "corestatus": frozenset({"system", "reporting"}),  # manager.c, as CoreShowChannels
    "pjsipshowcontacts": frozenset({"system"}),
    "originate": frozenset({"originate"}),
    "filter": frozenset({"system"}),
}


class FilterError(Exception):
    """`manager_add_filter` refused a filter: `kind` is "format" or "compile"."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def permissions(text: str) -> frozenset[str]:
    """`get_perm`: comma-separated class names; `all` is every class, unknown names none."""
    parts = set(text.split(","))
    return ALL if "all" in parts else frozenset(parts) & ALL


@dataclass(frozen=True)
class EventFilter:
    exclude: bool
    name: str | None
    header: str | None  # with its trailing ':'
    method: str
    pattern: str
    regex: re.Pattern[str] | None = field(default=None, compare=False)

    def matches(self, name: str, text: str) -> bool:
        """`filter_cmp_fn` on one event (`text`: the whole block, CRLF lines)."""
        if self.name is not None and self.name != name:
            return False
        if self.header is None:
            return self._match(text)
        for line in text.splitlines():
            if line.startswith(self.header):
                value = line[len(self.header) :].lstrip()
                if value and self._match(value):
                    return True
        return False

    def _match(self, data: str) -> bool:
        if self.method == "regex":
            assert self.regex is not None
            return self.regex.search(data) is not None
        if self.method == "starts_with":
            return data.startswith(self.pattern)
        if self.method == "ends_with":
            return data.endswith(self.pattern)
        if self.method == "contains":
            return self.pattern in data
        if self.method == "exact":
            return data == self.pattern
        return True  # none


def parse_filter(criteria: str, pattern: str) -> EventFilter:
    """`manager_add_filter(criteria, pattern)`: `criteria` is `eventfilter` or
    `eventfilter(<options>)`, `pattern` the value after `=` (or the `Filter:` header)."""
    exclude = pattern.startswith("!")
    if exclude:
        pattern = pattern[1:]
    method, name, header = "regex", None, None
    start = criteria.find("(")
    if start < 0:
        if not pattern:
            raise FilterError("format", "legacy filter with no filter pattern")
    else:
        options = criteria[start + 1 :].strip()
        if not options or not options.endswith(")"):
            raise FilterError("format", "filter options not formatted correctly")
        method = "none"
        found: set[str] = set()
        for option in re.split(r"[ ,)]+", options):
            if not option:
                continue
            key, _, value = option.partition("(")
            value = value.strip()
            if key not in ("action", "name", "header", "method") or not value:
                raise FilterError("format", f"filter option '{option}' is not understood")
            if key == "action":
                if value not in ("include", "exclude"):
                    raise FilterError("format", f"'action' option '{value}' is unknown")
                exclude = value == "exclude"
            elif key == "name":
                name = value
            elif key == "header":
                header = value if value.endswith(":") else value + ":"
            else:
                if value not in METHODS:
                    raise FilterError("format", f"'method' option '{value}' is unknown")
                method = value
            found.add(key)
        if not found:
            raise FilterError("format", "no action, name, header, or method option found")
        if not pattern and method != "none":
            raise FilterError("format", f"method can't be '{method}' with no filter pattern")
        if pattern and method == "none":
            raise FilterError("format", "method can't be 'none' with a filter pattern")
        if name is None and header is None and method == "none":
            raise FilterError("format", "no name or header option found and no filter pattern")
    regex = None
    if pattern and method == "regex":
        try:
            regex = re.compile(pattern, re.DOTALL)  # POSIX: `.` matches a newline too
        except re.error as exc:
            raise FilterError("compile", f"unable to compile regex filter: {exc}") from None
    return EventFilter(exclude, name, header, method, pattern, regex)


def should_send(filters: Sequence[EventFilter], name: str, text: str) -> bool:
    """`should_send_event`: no filter sends everything; see the module docstring."""
    includes = [f for f in filters if not f.exclude]
    excludes = [f for f in filters if f.exclude]
    if includes and not any(f.matches(name, text) for f in includes):
        return False
    return not any(f.matches(name, text) for f in excludes)


@dataclass(frozen=True)
class ManagerUser:
    """One `[user]` section of manager.conf: what it may read and do, and its filters."""

    read: frozenset[str]
    write: frozenset[str]
    eventfilters: tuple[tuple[str, str], ...] = ()  # (key, value) as written in manager.conf

    def __post_init__(self) -> None:
        self.filters()  # a bad filter fails here, not at the first login

    def filters(self) -> list[EventFilter]:
        return [parse_filter(key, value) for key, value in self.eventfilters]

    def may_run(self, action: str) -> bool:
        authority = AUTHORITY.get(action.lower(), frozenset())
        return not authority or bool(self.write & authority)

    @classmethod
    def from_conf(cls, text: str, user: str) -> ManagerUser:
        """The section `[user]` of a manager.conf text (`#include`s are not followed)."""
        read, write = "", ""
        filters: list[tuple[str, str]] = []
        section = None
        for raw in text.splitlines():
            line = raw.split(";", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            head = re.fullmatch(r"\[([^\]]+)\](\(.*\))?", line)
            if head:
                section = head.group(1)
                continue
            if section != user:
                continue
            key, sep, value = line.partition("=")
            key, value = key.strip(), value.lstrip(">").strip()
            if not sep:
                continue
            if key.lower() == "read":
                read = value
            elif key.lower() == "write":
                write = value
            elif key.startswith("eventfilter"):
                filters.append((key, value))
        if section is None:
            raise ValueError("no section in the manager.conf text")
        return cls(permissions(read), permissions(write), tuple(filters))


def _user(read: str, write: str, filters: Iterable[tuple[str, str]] = ()) -> ManagerUser:
    return ManagerUser(permissions(read), permissions(write), tuple(filters))


# asterisk-conf/manager.conf's [frontdesk] (tests/emulator/test_ami_access.py keeps them equal).
FRONTDESK = _user(
    "system,call,cdr,user",
    "user",
    [
        (f"eventfilter(action(include),name({name}))", "")
        for name in ("FullyBooted", "Shutdown", "ContactStatus", "DeviceStateChange", "Cdr")
    ]
    + [
        ("eventfilter(action(include),name(UserEvent),header(UserEvent),method(exact))", name)
        for name in ("FrontdeskEmergencyCall", "FrontdeskShed")
    ],
)
LAB = _user("all", "all")
