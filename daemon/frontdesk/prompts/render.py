"""Speaking a prompt into a WAV file Asterisk plays: `espeak-ng`, then `sox` (8 kHz mono
16-bit PCM)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from frontdesk.prompts.inventory import Prompt

SAMPLE_RATE = 8000

# Changes whenever the rendering pipeline changes, so files we wrote get re-rendered.
RENDERER = "espeak-ng -s 150 | sox 8000 Hz mono s16 pad 0.2s gain -n -3 (v1)"
SPEECH_RATE = "150"  # words per minute; espeak-ng's default 175 is fast on a phone line
INSTALL_HINT = (
    "install them with `apt-get install espeak-ng sox` (Debian/Ubuntu), "
    "`dnf install espeak-ng sox` (Fedora) or `brew install espeak-ng sox` (macOS)"
)


class ToolsMissing(Exception):
    pass


class RenderError(Exception):
    pass


@dataclass(frozen=True)
class Tools:
    espeak: str
    sox: str

    @classmethod
    def find(cls) -> Tools:
        espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
        missing = [n for n, p in (("espeak-ng", espeak), ("sox", sox)) if p is None]
        if espeak is None or sox is None:
            raise ToolsMissing(f"{' and '.join(missing)} not found; {INSTALL_HINT}")
        return cls(espeak, sox)


def render_prompt(prompt: Prompt, target: Path, tools: Tools) -> None:
    """Speak `prompt.text` into `target` (8 kHz mono 16-bit PCM WAV), replacing it atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".render-") as tmp:
        spoken, converted = Path(tmp) / "espeak.wav", Path(tmp) / "out.wav"
        # Text on stdin (never argv: a label could start with '-'); -b 1 = UTF-8 input.
        _run(
            [
                tools.espeak,
                "-v",
                prompt.voice,
                "-s",
                SPEECH_RATE,
                "-b",
                "1",
                "--stdin",
                "-w",
                str(spoken),
            ],
            stdin=prompt.text.encode("utf-8"),
        )
        _run(
            [
                tools.sox,
                str(spoken),
                *(
                    "-t",
                    "wav",
                    "-r",
                    str(SAMPLE_RATE),
                    "-c",
                    "1",
                    "-b",
                    "16",
                    "-e",
                    "signed-integer",
                ),
                str(converted),
                *("pad", "0", "0.2"),  # a breath between prompts played back to back
                *("gain", "-n", "-3"),  # the same loudness for every prompt
            ]
        )
        os.replace(converted, target)


def _run(argv: Sequence[str], stdin: bytes | None = None) -> None:
    try:
        subprocess.run(argv, input=stdin, capture_output=True, check=True, timeout=120)
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode("utf-8", "replace").strip() if exc.stderr else ""
        raise RenderError(f"{Path(argv[0]).name} failed ({exc.returncode}): {detail}") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"{Path(argv[0]).name} timed out") from None
