"""A tiny dialplan: contexts of extensions (exact or `_X.` patterns) of (app, data) steps.

The default is the lab's `extensions.conf` from the transcripts with the Stasis app name
replaced, so `continue`, `STASISSTATUS=FAILED` and Local channels behave as recorded, plus
the project's admission check (`[frontdesk-admission]`) and `[frontdesk-fallback]`
(dialplan/extensions.conf) reduced to what runs here.
"""

from __future__ import annotations

import operator
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Steps = Sequence[tuple[str, str]]
Contexts = Mapping[str, Mapping[str, Steps]]


class Labelled(tuple[str, str]):
    """A step with a priority label, `same => n(label),App(data)`. Still an (app, data)
    pair, so every plain-tuple reader of the dialplan keeps working."""

    label: str

    def __new__(cls, label: str, app: str, data: str) -> Labelled:
        step = super().__new__(cls, (app, data))
        step.label = label
        return step


def default_dialplan(app: str) -> dict[str, dict[str, list[tuple[str, str]]]]:
    inbound = [
        ("NoOp", "Inbound call from ${CALLERID(all)} to ${EXTEN}"),
        # frontdesk overloaded: shed to the fallback before Stasis (extensions.conf)
        ("Gosub", "frontdesk-admission,s,1(${EXTEN})"),
        ("GotoIf", '$["${GOSUB_RETVAL}" = "shed"]?frontdesk-fallback,s,1'),
        ("Stasis", app),
        ("NoOp", "Back from Stasis: STASISSTATUS=${STASISSTATUS}"),
        ("Playback", "vm-goodbye"),
        ("Hangup", ""),
    ]
    return {
        "from-pstn": {"_X.": inbound, "_+X.": list(inbound)},
        # FRONTDESK_SHED and FRONTDESK_URGENT_<digits> are globals frontdesk sets over ARI.
        "frontdesk-admission": {
            "s": [
                ("GotoIf", "$[0${FRONTDESK_SHED} < ${RAND(1,100)}]?admit"),
                ("GotoIf", '$["${FRONTDESK_URGENT_${FILTER(0-9,${ARG1})}}" = "1"]?admit'),
                ("UserEvent", "FrontdeskShed,Did: ${FILTER(0-9,${ARG1})}"),
                ("Return", "shed"),
                Labelled("admit", "Return", ""),
            ]
        },
        "lab-continue": {
            "s": [
                ("NoOp", "Continued from Stasis by ARI"),
                ("Playback", "hello-world"),
                ("Hangup", ""),
            ]
        },
        "lab-local": {"wait": [("Answer", ""), ("Wait", "20"), ("Hangup", "")]},
        "staff": {"_200X": [("Dial", "PJSIP/${EXTEN},20"), ("Hangup", "")]},
        # Where frontdesk sends a caller it cannot route (e.g. a phone transfer nobody
        # answered). `Dial` of the desk phones and `VoiceMail` are no-ops here, so the
        # caller hears the notice and the message prompt, then is hung up.
        "frontdesk-fallback": {
            "s": [
                ("NoOp", "frontdesk fallback: STASISSTATUS=${STASISSTATUS}"),
                ("Dial", "${FRONTDESK_FALLBACK_DIAL},${FRONTDESK_FALLBACK_RING}"),
                ("Answer", ""),
                ("Playback", "frontdesk/emergency-notice&frontdesk/fallback-voicemail"),
                ("VoiceMail", "${FRONTDESK_FALLBACK_MAILBOX},s"),
                ("Hangup", ""),
            ]
        },
    }


def _pattern(pattern: str) -> re.Pattern[str]:
    out, i = "", 1
    while i < len(pattern):
        ch = pattern[i]
        if ch == "X":
            out += "[0-9]"
        elif ch == "Z":
            out += "[1-9]"
        elif ch == "N":
            out += "[2-9]"
        elif ch == ".":
            out += ".+"
        elif ch == "!":
            out += ".*"
        elif ch == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1 : end] + "]"
            i = end
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(out + r"\Z")


@dataclass(frozen=True)
class DialplanTable:
    contexts: Contexts

    def steps(self, context: str, exten: str) -> Steps | None:
        extensions = self.contexts.get(context)
        if extensions is None:
            return None
        if exten in extensions and not exten.startswith("_"):
            return extensions[exten]
        for name, steps in extensions.items():
            if name.startswith("_") and _pattern(name).match(exten):
                return steps
        return None

    def exists(self, context: str, exten: str, priority: int = 1) -> bool:
        steps = self.steps(context, exten)
        return steps is not None and 1 <= priority <= len(steps)

    def priority(self, context: str, exten: str, priority: str) -> int | None:
        """A priority given as a number or as a label of that extension (`pbx_parse_location`;
        relative `+n`/`-n` priorities are not supported); None: no such label."""
        if priority.isdigit():
            return int(priority)
        for number, step in enumerate(self.steps(context, exten) or (), start=1):
            if isinstance(step, Labelled) and step.label == priority:
                return number
        return None


def split_target(data: str, context: str, exten: str) -> tuple[str, str, str]:
    """`[[context,]exten,]priority` as `pbx_parse_location` splits it; the priority is left
    as text (a number or a label), empty parts keep the channel's own."""
    parts = [p.strip() for p in data.split(",")][:3]
    priority = parts.pop()
    exten = (parts.pop() if parts else "") or exten
    context = (parts.pop() if parts else "") or context
    return context, exten, priority


def parse_goto(data: str, context: str, exten: str) -> tuple[str, str, int]:
    """`Goto([[context,]exten,]priority)` with a numeric priority (empty: 1)."""
    context, exten, priority = split_target(data, context, exten)
    return context, exten, int(priority or 1)


def separate_args(data: str, *, remove: bool, limit: int = 0) -> list[str]:
    """`ast_app_separate_args`: split at commas outside (), [] and "..."; `remove` drops
    quotes and backslashes as `AST_STANDARD_APP_ARGS` does (`..._RAW_ARGS` keeps them);
    with `limit`, the last argument is the rest as it is."""
    if not data:
        return []
    args: list[str] = []
    current: list[str] = []
    depth = {"(": 0, "[": 0}
    quoted, i = False, 0
    while i < len(data):
        if limit and len(args) == limit - 1:
            current.append(data[i:])
            break
        char, i = data[i], i + 1
        if char in "([":
            depth[char] += 1
        elif char in ")]":
            opener = "(" if char == ")" else "["
            depth[opener] = max(depth[opener] - 1, 0)
        elif char == '"':
            quoted = not quoted
            if remove:
                continue
        elif char == "\\":
            escaped, i = data[i : i + 1], i + 1  # taken literally, never a delimiter
            char = escaped if remove else char + escaped
        elif char == "," and not (quoted or any(depth.values())):
            args.append("".join(current))
            current = []
            continue
        current.append(char)
    args.append("".join(current))
    return args


# -- substitution ---------------------------------------------------------------------


class UnsupportedExpression(ValueError):
    """A `$[...]` beyond the comparisons implemented here."""


def substitute(data: str, lookup: Mapping[str, str]) -> str:
    """`${NAME}`, `${FILTER(allowed,value)}`, `${RAND(min,max)}` and `$[a OP b]` (one
    comparison), innermost first as `pbx_substitute_variables_helper_full` does. `lookup`
    gives variables and readable functions by their full text (`CALLERID(num)`; a test
    may fix `RAND(1,100)` there); anything unknown is empty. Not supported:
    `${NAME:offset:length}`, other functions, other `$[...]` operators (those raise
    `UnsupportedExpression`)."""
    out: list[str] = []
    i = 0
    while (start := data.find("$", i)) != -1:
        kind = data[start + 1 : start + 2]
        if kind not in ("{", "["):
            out.append(data[i : start + 1])
            i = start + 1
            continue
        out.append(data[i:start])
        end = _closing(data, start + 2, kind)
        inner = substitute(data[start + 2 : end], lookup)
        out.append(_value(inner, lookup) if kind == "{" else expression(inner))
        i = end + 1
    out.append(data[i:])
    return "".join(out)


def _closing(data: str, start: int, opener: str) -> int:
    """Index of the bracket closing `${` or `$[` (any `{`/`[` nests); missing: the end."""
    closer = "}" if opener == "{" else "]"
    depth = 1
    for index in range(start, len(data)):
        if data[index] == opener:
            depth += 1
        elif data[index] == closer:
            depth -= 1
            if depth == 0:
                return index
    return len(data)


def _value(name: str, lookup: Mapping[str, str]) -> str:
    if name in lookup:
        return lookup[name]
    function, paren, args = name.partition("(")
    if paren and args.endswith(")") and function.upper() == "FILTER":
        return filter_chars(args[:-1])
    if paren and args.endswith(")") and function.upper() == "RAND":
        return random_number(args[:-1])
    return ""


_RANDOM = random.Random()


def random_number(args: str) -> str:
    """`RAND(min,max)` as func_rand.c: inclusive; a missing or non-numeric bound is 0 /
    RAND_MAX; swapped bounds are put in order."""
    parts = [*separate_args(args, remove=True), "", ""][:2]
    found = [re.match(r"\s*([-+]?[0-9]+)", p) for p in parts]  # sscanf("%30d")
    low = int(found[0].group(1)) if found[0] else 0
    high = int(found[1].group(1)) if found[1] else 2**31 - 1
    low, high = min(low, high), max(low, high)
    return str(_RANDOM.randint(low, high))


def filter_chars(args: str) -> str:
    """`FILTER(allowed,value)`: the characters of value that are in allowed, where allowed
    may hold ranges (`0-9`) and escapes (`\\-`, `\\x41`) as in func_strings.c."""
    parts = separate_args(args, remove=False, limit=2)
    if len(parts) < 2:
        return ""  # Asterisk: "Usage: FILTER(...)", the function reads nothing
    try:
        allowed = _allowed_bytes(parts[0])
    except ValueError:  # `\\x` without a hex digit: Asterisk fails the read
        return ""
    kept = bytes(b for b in parts[1].encode() if b in allowed)
    return kept.decode(errors="ignore")


def _allowed_bytes(spec: str) -> set[int]:
    raw, allowed, i = spec.encode(), set[int](), 0
    while i < len(raw):
        first, i = _encoded_char(raw, i)
        last = first
        if raw[i : i + 1] == b"-":
            last, after = _encoded_char(raw, i + 1) if i + 1 < len(raw) else (first, i + 1)
            i = after
        # a range may wrap past 255, as the C loop over an unsigned char does
        allowed.update((first + n) % 256 for n in range((last - first) % 256 + 1))
    allowed.discard(0)
    return allowed


def _encoded_char(raw: bytes, i: int) -> tuple[int, int]:
    """`ast_get_encoded_char`: one byte of `raw` at `i` and the index after it."""
    if raw[i] != ord("\\") or i + 1 >= len(raw):
        return raw[i], i + 1
    code = chr(raw[i + 1])
    if code in "nrt":
        return ord({"n": "\n", "r": "\r", "t": "\t"}[code]), i + 2
    digits = {"x": "0123456789abcdefABCDEF", "0": "01234567"}.get(code)
    if digits is None:
        return raw[i + 1], i + 2
    end = i + 2
    while end < len(raw) and chr(raw[end]) in digits and (code == "0" or end < i + 4):
        end += 1
    text = raw[i + 2 : end].decode()
    if code == "x" and not text:
        raise ValueError("illegal character in hexadecimal string")
    text = text or "0"
    return int(text, 16 if code == "x" else 8) % 256, end


_TOKEN = re.compile(r"""\s*(?:("[^"]*")|(!=|==|<=|>=|=|<|>)|([\w.';\\^#@$\x80-\U0010ffff]+))""")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


def expression(text: str) -> str:
    """`$[...]` limited to one operand or one comparison `a OP b`, OP one of `=`, `==`,
    `!=`, `<`, `<=`, `>`, `>=` (ast_expr2): quoted operands keep their quotes and compare
    as strings, two bare numbers compare as numbers (`0100` is 100); the result is `1`
    or `0`."""
    tokens = _tokens(text)
    if len(tokens) == 1:
        return tokens[0]
    if len(tokens) != 3 or tokens[1] not in _COMPARE:
        raise UnsupportedExpression(f"$[{text}]")
    left, op, right = tokens
    if _NUMBER.fullmatch(left) and _NUMBER.fullmatch(right):
        return "1" if _COMPARE[op](float(left), float(right)) else "0"
    return "1" if _COMPARE[op](left, right) else "0"


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _tokens(text: str) -> list[str]:
    tokens, i = [], 0
    while text[i:].strip():
        match = _TOKEN.match(text, i)
        if match is None:
            raise UnsupportedExpression(f"$[{text}]")
        tokens.append(match.group(match.lastindex or 0))
        i = match.end()
    return tokens
