"""A tiny dialplan: contexts of extensions (exact or `_X.` patterns) of (app, data) steps.

The default is the lab's `extensions.conf` from the transcripts with the Stasis app name
replaced, so `continue`, `STASISSTATUS=FAILED` and Local channels behave as recorded, plus
the project's `[frontdesk-fallback]` (dialplan/extensions.conf) reduced to what runs here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Steps = Sequence[tuple[str, str]]
Contexts = Mapping[str, Mapping[str, Steps]]


def default_dialplan(app: str) -> dict[str, dict[str, list[tuple[str, str]]]]:
    inbound = [
        ("NoOp", "Inbound call from ${CALLERID(all)} to ${EXTEN}"),
        ("Stasis", app),
        ("NoOp", "Back from Stasis: STASISSTATUS=${STASISSTATUS}"),
        ("Playback", "vm-goodbye"),
        ("Hangup", ""),
    ]
    return {
        "from-pstn": {"_X.": inbound, "_+X.": list(inbound)},
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


_VAR = re.compile(r"\$\{([^{}]*)\}")


def substitute(data: str, lookup: Mapping[str, str]) -> str:
    """`${NAME}` from `lookup` (empty when unknown); nested expressions are not supported."""
    return _VAR.sub(lambda m: lookup.get(m.group(1), ""), data)


def parse_goto(data: str, context: str, exten: str) -> tuple[str, str, int]:
    """`Goto([[context,]exten,]priority)`."""
    parts = [p.strip() for p in data.split(",")]
    if len(parts) == 3:
        return parts[0], parts[1], int(parts[2] or 1)
    if len(parts) == 2:
        return context, parts[0], int(parts[1] or 1)
    return context, exten, int(parts[0] or 1)
