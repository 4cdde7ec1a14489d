"""`frontdesk prompts`: every prompt a plan can play, as 8 kHz WAV files for Asterisk.

Asterisk plays `sound:frontdesk/<name>` and picks the folder by the channel's language,
so `frontdesk prompts PLAN --out DIR` writes `DIR/<lang>/frontdesk/<name>.wav` (8 kHz,
mono, 16-bit PCM) for every practice language; `DIR` is Asterisk's sounds folder
(`/var/lib/asterisk/sounds`).

- `phrases`: how each language says each prompt (a language without a table is spoken
  in English, with a warning, until the practice records it), the voices, the
  emergency numbers.
- `inventory`: which prompts the plan can play, with which texts (pure; `build_inventory`).
- `render`: one prompt into one WAV file with `espeak-ng`, then `sox`.
- `files`: the sounds folder: which files frontdesk wrote (its manifest), which to
  (re)write, never a recording unless `--force`.
- `cli`: the command.
"""

from frontdesk.prompts.cli import add_parser
from frontdesk.prompts.inventory import PromptsError, build_inventory, voicemail_boxes

__all__ = ["PromptsError", "add_parser", "build_inventory", "voicemail_boxes"]
