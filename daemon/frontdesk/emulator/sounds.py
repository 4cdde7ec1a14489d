"""Which sound files exist, for `sound:` playbacks, looked up the way Asterisk 22 does.

Asterisk does not check a file before `POST /channels/{id}/play`: the request is
answered 201 (state `queued`) and the file is opened when its turn comes
(res_stasis_playback.c `play_on_channel` -> `ast_control_streamfile_lang` ->
`ast_streamfile`, which fails with "File ... does not exist in any format"). Then
`PlaybackStarted` is still published (state `playing`), and right away
`PlaybackContinuing` if more media follow or `PlaybackFinished` with state `failed` if it
was the last one (`playback_final_update`); the next media, or the next queued playback,
goes on. Nothing is played: the caller hears silence for no time at all. (Checked on a
real Asterisk 22.10.1: missing alone, missing then `beep`, `beep` then missing; Started and
Finished carry the same millisecond.)

A name is looked up as main/file.c `fileexists_core` does: `<language>/<name>`, the
language without its `_dialect` parts, `<name>` without a language, then `en/<name>`
(each with any format extension). An absolute name is only looked up as given.

Strictness is a choice of the emulator's user: `Sounds(None)` (the default) has every
sound; `Sounds(names, folder)` has the core sounds below, the names given (language-less
`frontdesk/menu-1`, or `es/frontdesk/menu-1`) and the files under `folder` (an Asterisk
sounds folder, e.g. the output of `frontdesk prompts --out`).
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

SOUND = "sound:"
DEFAULT_LANGUAGE = "en"

# The Asterisk core sounds (English) that frontdesk, the project's dialplan and the lab's
# transcripts play, all present in Debian's asterisk-core-sounds-en package.
CORE_SOUNDS = frozenset(
    {
        "beep",
        "hello-world",
        "invalid",
        "pbx-invalid",
        "queue-callswaiting",
        "queue-thereare",
        "queue-youarenext",
        "tt-monkeys",
        "vm-goodbye",
        *(f"digits/{d}" for d in range(10)),
    }
)


def candidates(name: str, language: str) -> list[str]:
    """The paths (no extension) Asterisk tries for `name` in `language`, in order."""
    if name.startswith("/"):
        return [name]
    tried: list[str] = []
    lang = language
    while lang:
        tried.append(f"{lang}/{name}")
        if "_" not in lang:
            break
        lang = lang.rsplit("_", 1)[0]
    tried.append(name)
    if language != DEFAULT_LANGUAGE and lang != DEFAULT_LANGUAGE:
        tried.append(f"{DEFAULT_LANGUAGE}/{name}")
    return tried


class Sounds:
    def __init__(self, names: Iterable[str] | None = None, folder: str | Path | None = None):
        self.strict = names is not None or folder is not None
        self.names: set[str] = set(CORE_SOUNDS) | set(names or ())
        self.folder = Path(folder) if folder is not None else None

    def add(self, names: Iterable[str]) -> None:
        """More files that exist (a test's own media); no effect unless strict."""
        self.names |= set(names)

    def exists(self, name: str, language: str) -> bool:
        if not self.strict:
            return True
        return any(self._one(path) for path in candidates(name, language))

    def _one(self, path: str) -> bool:
        if path in self.names:
            return True
        if path.startswith("/"):
            return bool(glob.glob(glob.escape(path) + ".*"))
        if self.folder is None:
            return False
        return bool(glob.glob(glob.escape(str(self.folder / path)) + ".*"))

    def playable(self, uri: str, language: str) -> bool:
        """Whether a media URI of a playback can be played (only `sound:` is checked)."""
        if not uri.startswith(SOUND):
            return True
        return self.exists(uri[len(SOUND) :], language)
