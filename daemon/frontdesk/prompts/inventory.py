"""`frontdesk prompts`: every prompt a plan can play, as 8 kHz WAV files for Asterisk.

Asterisk plays `sound:frontdesk/<name>` and picks the folder by the channel's language,
so `frontdesk prompts PLAN --out DIR` writes `DIR/<lang>/frontdesk/<name>.wav` (8 kHz,
mono, 16-bit PCM) for every practice language; `DIR` is Asterisk's sounds folder
(`/var/lib/asterisk/sounds`).

Two halves: `build_inventory` is pure (which prompts, which texts, which voice) and
`render_prompt` runs `espeak-ng` then `sox`. Texts come from the plan (option labels
in each language, the callback window of each voicemail box, the call categories) and a
small table of phrases per language (`PHRASES`); a language without a table is spoken in
English, with a warning, until the practice records it.

Besides the IVR's prompts, the ACD plays `callback-offer`, `callback-confirmed` and, to the
staff member who takes a callback, the whisper `callback-<category>` ("Callback, billing.")
for every category a queued call can have (`queue_categories`). A test scans the daemon
for every `sound:frontdesk/...` it can play and checks that this command renders it.

A practice may replace any file with a recording. A file is only ever replaced when
frontdesk wrote it itself (its SHA-256 is in `DIR/.frontdesk-prompts.json`) and its text
changed, unless `--force`: a recording, a file newer than the plan, or any file
frontdesk did not write is kept.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from frontdesk.plan import Plan, PlanError, read_plan
from frontdesk.plan.model import FRONT_DESK, AfterHours, Menu
from frontdesk.routing.destination import OPERATOR, UNROUTED
from frontdesk.routing.ivr import EMERGENCY_NOTICE, INVALID_OPTION

EXIT_OK = 0
EXIT_INVALID = 2

SOUND_FOLDER = "frontdesk"  # Asterisk: sound:frontdesk/<name>
SAMPLE_RATE = 8000
MANIFEST = ".frontdesk-prompts.json"
# Changes whenever the rendering pipeline changes, so files we wrote get re-rendered.
RENDERER = "espeak-ng -s 150 | sox 8000 Hz mono s16 pad 0.2s gain -n -3 (v1)"
SPEECH_RATE = "150"  # words per minute; espeak-ng's default 175 is fast on a phone line
INSTALL_HINT = (
    "install them with `apt-get install espeak-ng sox` (Debian/Ubuntu), "
    "`dnf install espeak-ng sox` (Fedora) or `brew install espeak-ng sox` (macOS)"
)

# Prompts the IVR does not play yet: the ACD (ROUTING.md section 4) and the dialplan's
# fallback when the daemon is down (dialplan/extensions.conf) will play these.
PLEASE_HOLD = "please-hold"
CALLBACK_OFFER = "callback-offer"  # "press 1 and hang up, keeping your place"
CALLBACK_CONFIRMED = "callback-confirmed"
FALLBACK_VOICEMAIL = "fallback-voicemail"
# To a staff phone whose *45/*46/*47 found frontdesk down (extensions.conf): the login,
# logout or pause did not happen. (Debian's English sounds have no an-error-has-occurred.)
FEATURE_UNAVAILABLE = "feature-unavailable"
CALLBACK_KEY = "1"
EXTRA_PROMPTS = (
    PLEASE_HOLD,
    CALLBACK_OFFER,
    CALLBACK_CONFIRMED,
    FALLBACK_VOICEMAIL,
    FEATURE_UNAVAILABLE,
)
CALLBACK_WHISPER = "callback-{category}"  # to the staff member, before the patient is dialled

# Prompt names and language codes become file and folder names: no dots, no slashes.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")

# The number to dial in an emergency, by `practice.phone_region`; 112 elsewhere.
EMERGENCY_NUMBERS = {
    "US": "911",
    "CA": "911",
    "PR": "911",
    "MX": "911",
    "GB": "999",
    "AU": "000",
    "NZ": "111",
}
DEFAULT_EMERGENCY_NUMBER = "112"

PromptKind = Literal[
    "emergency",
    "menu",
    "operator",
    "language",
    "invalid",
    "voicemail",
    "announce",
    "extra",
    "whisper",
]


class PromptsError(Exception):
    """The plan cannot be turned into prompt files (e.g. a name unsafe as a file name)."""


@dataclass(frozen=True)
class Phrases:
    """How one language says each prompt. `{key}` is a key as spoken ("1", "star")."""

    voices: Mapping[str, str]  # phone region -> espeak-ng voice; "" is the default
    option: str  # {label}, {key}
    operator: str  # {key}
    language: str  # this language offering itself: "Para español, oprima {key}."
    emergency: str  # {number}
    invalid: str
    voicemail: str  # {practice}, {callback}
    callback_unknown: str  # the {callback} phrase when the plan gives no window
    announce: str
    please_hold: str
    callback_offer: str  # {key}
    callback_confirmed: str
    fallback_voicemail: str
    feature_unavailable: str
    callback_whisper: str  # {category}
    keys: Mapping[str, str]  # "*" and "#" as spoken
    callbacks: Mapping[str, str] = field(default_factory=dict)  # plan wording -> phrase
    categories: Mapping[str, str] = field(default_factory=dict)  # category -> as spoken

    def voice(self, region: str) -> str:
        return self.voices.get(region, self.voices[""])

    def key(self, key: str) -> str:
        return self.keys.get(key, key)


PHRASES: dict[str, Phrases] = {
    "en": Phrases(
        voices={"": "en-gb", "US": "en-us", "CA": "en-us", "PR": "en-us", "MX": "en-us"},
        option="{label}, press {key}.",
        operator="To speak with the front desk, press {key}.",
        language="For English, press {key}.",
        emergency="If this is a medical emergency, hang up and dial {number}.",
        invalid="Sorry, that is not a valid option.",
        voicemail=(
            "Thank you for calling {practice}. No one can take your call right now; "
            "we will call you back {callback}. Please leave your name, your phone number "
            "and a short message after the tone."
        ),
        callback_unknown="as soon as we can",
        announce="Please stay on the line while we connect your call.",
        please_hold="Please hold. The next available member of our team will be with you shortly.",
        callback_offer="To keep your place in line and have us call you back, press {key} and hang up.",
        callback_confirmed=(
            "Thank you. You keep your place in line, and we will call you back when it is "
            "your turn. You may hang up now."
        ),
        fallback_voicemail=(
            "We are sorry, no one can take your call right now. Please leave your name, "
            "your phone number and a short message after the tone, and we will call you "
            "back as soon as we can."
        ),
        feature_unavailable=(
            "Sorry, that did not work: the call system is not available right now. "
            "Nothing was changed. Please try again in a minute."
        ),
        callback_whisper="Callback, {category}.",
        keys={"*": "star", "#": "pound"},
        callbacks={
            "next business day": "on the next business day",
            "same day": "the same day",
            "same business day": "the same business day",
            "within 24 hours": "within 24 hours",
            "within one business day": "within one business day",
        },
        categories={OPERATOR: "front desk", UNROUTED: "general"},
    ),
    "es": Phrases(
        voices={"": "es-419", "ES": "es"},
        option="{label}, oprima {key}.",
        operator="Para hablar con la recepción, oprima {key}.",
        language="Para español, oprima {key}.",
        emergency="Si se trata de una emergencia médica, cuelgue y marque el {number}.",
        invalid="Lo sentimos, esa opción no es válida.",
        voicemail=(
            "Gracias por llamar a {practice}. En este momento nadie puede atender su llamada; "
            "le devolveremos la llamada {callback}. Por favor, deje su nombre, su número de "
            "teléfono y un breve mensaje después del tono."
        ),
        callback_unknown="lo antes posible",
        announce="Por favor, permanezca en la línea mientras transferimos su llamada.",
        please_hold=(
            "Por favor, espere en la línea. El próximo miembro disponible de nuestro equipo "
            "le atenderá en breve."
        ),
        callback_offer=(
            "Para conservar su lugar en la fila y que le devolvamos la llamada, "
            "oprima {key} y cuelgue."
        ),
        callback_confirmed=(
            "Gracias. Usted conserva su lugar en la fila; le llamaremos cuando sea su turno. "
            "Ya puede colgar."
        ),
        fallback_voicemail=(
            "Lo sentimos, en este momento nadie puede atender su llamada. Por favor, deje su "
            "nombre, su número de teléfono y un breve mensaje después del tono, y le "
            "devolveremos la llamada lo antes posible."
        ),
        feature_unavailable=(
            "Lo sentimos, no funcionó: el sistema de llamadas no está disponible en este "
            "momento. No se cambió nada. Inténtelo de nuevo en un minuto."
        ),
        callback_whisper="Devolución de llamada, {category}.",
        keys={"*": "asterisco", "#": "numeral"},
        callbacks={
            "next business day": "el próximo día hábil",
            "same day": "el mismo día",
            "same business day": "el mismo día hábil",
            "within 24 hours": "en un plazo de 24 horas",
            "within one business day": "en un plazo de un día hábil",
        },
        categories={
            OPERATOR: "recepción",
            UNROUTED: "general",
            "scheduling": "citas",
            "new_patient": "paciente nuevo",
            "billing": "facturación",
            "clinical": "clínica",
            "refill": "recetas",
            "referral": "referencias",
            "test_results": "resultados",
            "forms": "formularios",
        },
    ),
}
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class Prompt:
    """One file to render: `<language>/frontdesk/<name>.wav` saying `text` with `voice`."""

    name: str
    language: str  # the folder (the channel language that plays it)
    text: str
    voice: str  # espeak-ng voice
    kind: PromptKind

    @property
    def path(self) -> PurePosixPath:
        return PurePosixPath(self.language, SOUND_FOLDER, f"{self.name}.wav")


@dataclass(frozen=True)
class Inventory:
    prompts: tuple[Prompt, ...]
    warnings: tuple[str, ...]

    def names(self) -> list[str]:
        return list(dict.fromkeys(p.name for p in self.prompts))


# -- the pure part: which prompts, which texts -------------------------------------------------
def build_inventory(plan: Plan) -> Inventory:
    """Every prompt the plan can play, in every practice language, plus `EXTRA_PROMPTS`."""
    warnings: list[str] = []
    region = plan.practice.phone_region.upper()
    languages = list(plan.practice.languages)
    for code in languages:
        _check_name(code, "language code")
        if _base(code) not in PHRASES:
            warnings.append(
                f"language '{code}': no phrase table; its prompts are spoken in English "
                f"({FALLBACK_LANGUAGE}) until you record them"
            )
    number = EMERGENCY_NUMBERS.get(region)
    if number is None:
        number = DEFAULT_EMERGENCY_NUMBER
        warnings.append(
            f"phone_region '{region}': emergency number unknown here; the notice says "
            f"{DEFAULT_EMERGENCY_NUMBER} (record emergency-notice if that is wrong)"
        )
    boxes = voicemail_boxes(plan, warnings)
    announces = _announces(plan)
    categories = _whisper_categories(plan, warnings)
    _check_operator_keys(plan, warnings)
    prompts: list[Prompt] = []
    for code in languages:
        seen: dict[str, PromptKind] = {}
        language_prompts = _language_prompts(
            plan, code, region, number, boxes, announces, categories, warnings
        )
        for prompt in language_prompts:
            _check_name(prompt.name, "prompt name")
            if prompt.name in seen:
                warnings.append(
                    f"the {prompt.kind} prompt '{prompt.name}' has the name of a "
                    f"{seen[prompt.name]} prompt; one file serves both"
                )
                continue
            seen[prompt.name] = prompt.kind
            prompts.append(prompt)
    return Inventory(tuple(prompts), tuple(dict.fromkeys(warnings)))


def _language_prompts(
    plan: Plan,
    code: str,
    region: str,
    number: str,
    boxes: Mapping[str, str | None],
    announces: Sequence[str],
    categories: Sequence[str],
    warnings: list[str],
) -> Iterable[Prompt]:
    """The prompts of one language folder, in a stable order."""
    phrases, voice = _phrases(code, region)
    label_language = code if _base(code) in PHRASES else FALLBACK_LANGUAGE

    def prompt(name: str, text: str, kind: PromptKind) -> Prompt:
        return Prompt(name, code, text, voice, kind)

    yield prompt(EMERGENCY_NOTICE, phrases.emergency.format(number=" ".join(number)), "emergency")
    for name, labels in _menu_labels(plan.menu, ()):
        label = labels.get(label_language) or labels.get(code) or next(iter(labels.values()))
        key = phrases.key(name.rsplit("-", 1)[1])
        yield prompt(name, phrases.option.format(label=_sentence(label), key=key), "menu")
    operator = phrases.key(plan.operator_key_at(()))
    yield prompt("menu-operator", phrases.operator.format(key=operator), "operator")
    for other, language in plan.practice.languages.items():
        if language.key is not None:
            # Spoken in the language it offers, whatever folder it sits in.
            own, own_voice = _phrases(other, region)
            text = own.language.format(key=own.key(language.key))
            yield Prompt(f"language-{other}", code, text, own_voice, "language")
    yield prompt(INVALID_OPTION, phrases.invalid, "invalid")
    for box, callback in boxes.items():
        window = _callback_phrase(phrases, callback, code, box, warnings)
        text = phrases.voicemail.format(practice=plan.practice.name, callback=window)
        yield prompt(f"voicemail-{box}", text, "voicemail")
    for name in announces:
        yield prompt(name, phrases.announce, "announce")
    yield prompt(PLEASE_HOLD, phrases.please_hold, "extra")
    offer = phrases.callback_offer.format(key=phrases.key(CALLBACK_KEY))
    yield prompt(CALLBACK_OFFER, offer, "extra")
    yield prompt(CALLBACK_CONFIRMED, phrases.callback_confirmed, "extra")
    yield prompt(FALLBACK_VOICEMAIL, phrases.fallback_voicemail, "extra")
    yield prompt(FEATURE_UNAVAILABLE, phrases.feature_unavailable, "extra")
    for category in categories:
        spoken = phrases.categories.get(category) or category.replace("_", " ").replace("-", " ")
        text = phrases.callback_whisper.format(category=spoken)
        yield prompt(CALLBACK_WHISPER.format(category=category), text, "whisper")


def _base(code: str) -> str:
    """`es-MX` and `es_MX` use the `es` table."""
    return re.split(r"[-_]", code, maxsplit=1)[0].lower()


def _phrases(code: str, region: str) -> tuple[Phrases, str]:
    phrases = PHRASES.get(_base(code), PHRASES[FALLBACK_LANGUAGE])
    return phrases, phrases.voice(region)


def _check_name(name: str, what: str) -> None:
    if not _SAFE_NAME.fullmatch(name):
        raise PromptsError(
            f"{what} '{name}' cannot be a sound file name: use letters, digits, '-' and '_'"
        )


def _sentence(label: str) -> str:
    text = label.strip().rstrip(".")
    return text[:1].upper() + text[1:]


def _menu_labels(menu: Menu, path: tuple[str, ...]) -> Iterable[tuple[str, Mapping[str, str]]]:
    """(`menu-<k>` / `menu-<k>-<j>`, labels) in the order the IVR names them."""
    for key, option in menu.options.items():
        yield "-".join(("menu", *path, key)), option.label
        if option.menu is not None:
            yield from _menu_labels(option.menu, (*path, key))


def _submenu_paths(menu: Menu, path: tuple[str, ...]) -> Iterable[tuple[str, ...]]:
    for key, option in menu.options.items():
        if option.menu is not None:
            yield (*path, key)
            yield from _submenu_paths(option.menu, (*path, key))


def _check_operator_keys(plan: Plan, warnings: list[str]) -> None:
    """One `menu-operator` file serves every menu, so it names one key."""
    main = plan.operator_key_at(())
    for path in _submenu_paths(plan.menu, ()):
        key = plan.operator_key_at(path)
        if key != main:
            warnings.append(
                f"menu {'-'.join(path)} uses operator key {key}, but menu-operator says "
                f"'press {main}' (one prompt serves every menu)"
            )


def voicemail_boxes(plan: Plan, warnings: list[str] | None = None) -> dict[str, str | None]:
    """Box -> callback window, for every voicemail destination routing can produce."""
    notes: list[str] = [] if warnings is None else warnings
    boxes: dict[str, str | None] = {}

    def add(after: AfterHours | None, queue: str) -> None:
        if after is not None and after.transfer is not None:
            return
        box = (after.voicemail if after else None) or queue
        callback = after.callback if after else None
        if box in boxes and boxes[box] != callback:
            notes.append(
                f"voicemail box '{box}' is given callback windows '{boxes[box]}' and "
                f"'{callback}'; its greeting speaks '{boxes[box]}'"
            )
            return
        boxes.setdefault(box, callback)

    for name, queue in plan.queues.items():
        add(queue.after_hours, name)
    if _has_urgent(plan):
        business = plan.urgent.business_hours if plan.urgent else None
        add(
            plan.urgent.after_hours if plan.urgent else None,
            business.queue if business else FRONT_DESK,
        )
    return boxes


def _has_urgent(plan: Plan) -> bool:
    def in_menu(menu: Menu) -> bool:
        return any(
            o.urgent or (o.menu is not None and in_menu(o.menu)) for o in menu.options.values()
        )

    return in_menu(plan.menu) or any(e.urgent for e in plan.numbers.values())


def queue_categories(plan: Plan) -> list[str]:
    """Every category a queued call can carry: each menu option's (a submenu's passes to
    its options), each direct number's, `operator` (the operator key) and `unrouted`
    (silence, invalid keys, a number without a category)."""
    found: list[str] = []

    def walk(menu: Menu) -> None:
        for option in menu.options.values():
            if option.category:
                found.append(option.category)
            if option.menu is not None:
                walk(option.menu)

    walk(plan.menu)
    found += [e.category for e in plan.numbers.values() if e.category]
    return list(dict.fromkeys([*found, OPERATOR, UNROUTED]))


def _whisper_categories(plan: Plan, warnings: list[str]) -> list[str]:
    """The categories whose `callback-<category>` can be a file; the others are warned about."""
    usable = []
    for category in queue_categories(plan):
        if _SAFE_NAME.fullmatch(category):
            usable.append(category)
        else:
            warnings.append(
                f"category '{category}' cannot be a sound file name: its callback whisper is "
                "not rendered (the staff member hears only the beep); use letters, digits, "
                "'-' and '_'"
            )
    return usable


def _announces(plan: Plan) -> list[str]:
    return list(dict.fromkeys(e.announce for e in plan.external.values() if e.announce))


def _callback_phrase(
    phrases: Phrases, callback: str | None, code: str, box: str, warnings: list[str]
) -> str:
    if callback is None:
        return phrases.callback_unknown
    known = phrases.callbacks.get(" ".join(callback.lower().split()))
    if known is not None:
        return known
    if phrases is not PHRASES[FALLBACK_LANGUAGE]:
        warnings.append(
            f"voicemail-{box} ({code}): no translation of the callback window '{callback}'; "
            "the greeting speaks it as written in the plan"
        )
    return callback.strip()


# -- what to do with an existing file ----------------------------------------------------------
Action = Literal["create", "update", "unchanged", "keep"]


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def decide(
    prompt: Prompt,
    target: Path,
    plan_mtime: float,
    manifest: Mapping[str, Mapping[str, str]],
    force: bool,
) -> Decision:
    """Whether to (re)render `target`; never replaces a recording without `force`."""
    if not target.exists():
        return Decision("create", "new")
    if force:
        return Decision("update", "--force")
    entry = manifest.get(str(prompt.path))
    ours = entry is not None and entry.get("sha256") == _sha256(target)
    if not ours:
        if target.stat().st_mtime > plan_mtime:
            return Decision("keep", "newer than the plan (a recording?)")
        return Decision("keep", "not written by frontdesk (a recording?)")
    assert entry is not None
    if (entry.get("text"), entry.get("voice"), entry.get("renderer")) == (
        prompt.text,
        prompt.voice,
        RENDERER,
    ):
        return Decision("unchanged", "up to date")
    return Decision("update", "text changed")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(out: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {
        str(k): {str(a): str(b) for a, b in v.items()}
        for k, v in files.items()
        if isinstance(v, dict)
    }


def write_manifest(out: Path, files: Mapping[str, Mapping[str, str]]) -> None:
    text = json.dumps(
        {"format": 1, "files": dict(sorted(files.items()))}, ensure_ascii=False, indent=1
    )
    _write_atomic(out / MANIFEST, text.encode("utf-8"))


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as tmp:
        tmp.write(data)
    os.chmod(tmp.name, 0o644)  # mkstemp makes 0600; Asterisk's user reads the sounds folder
    os.replace(tmp.name, path)


# -- the rendering part: espeak-ng, then sox ---------------------------------------------------
class ToolsMissing(Exception):
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


class RenderError(Exception):
    pass


@dataclass(frozen=True)
class FileResult:
    prompt: Prompt
    decision: Decision

    def as_json(self, out: Path | None) -> dict[str, Any]:
        return {
            "path": str(out / self.prompt.path) if out else str(self.prompt.path),
            "language": self.prompt.language,
            "name": self.prompt.name,
            "kind": self.prompt.kind,
            "text": self.prompt.text,
            "voice": self.prompt.voice,
            "action": self.decision.action,
            "reason": self.decision.reason,
        }


def render_all(
    inventory: Inventory,
    out: Path,
    plan_mtime: float,
    *,
    force: bool = False,
    tools: Tools | None = None,
    dry_run: bool = False,
    step: Callable[[Prompt], None] | None = None,
) -> list[FileResult]:
    """Decide for every prompt, render the ones to (re)write, and update the manifest.

    The manifest is written even when a rendering fails half-way, so the files already
    rendered are still known as ours (and not mistaken for recordings) next time.
    """
    manifest = read_manifest(out)
    results: list[FileResult] = []
    try:
        for prompt in inventory.prompts:
            target = out / prompt.path
            decision = decide(prompt, target, plan_mtime, manifest, force)
            results.append(FileResult(prompt, decision))
            if dry_run:
                continue
            key = str(prompt.path)
            if decision.action in ("create", "update"):
                assert tools is not None
                render_prompt(prompt, target, tools)
                manifest[key] = {
                    "sha256": _sha256(target),
                    "text": prompt.text,
                    "voice": prompt.voice,
                    "renderer": RENDERER,
                }
            elif decision.action == "keep":
                manifest.pop(key, None)  # someone else's file now
            if step is not None:
                step(prompt)
    finally:
        if not dry_run and results:
            write_manifest(out, manifest)
    return results


# -- the command -------------------------------------------------------------------------------
def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "prompts",
        help="render the plan's prompts as 8 kHz WAV files for Asterisk (espeak-ng + sox)",
        description=(
            "Writes OUT/<lang>/frontdesk/<name>.wav for every prompt the plan can play in "
            "every practice language. Files frontdesk did not write (recordings) are kept."
        ),
    )
    parser.add_argument("plan", type=Path)
    parser.add_argument(
        "--out", type=Path, help="Asterisk sounds folder, e.g. /var/lib/asterisk/sounds"
    )
    parser.add_argument(
        "--force", action="store_true", help="also replace recordings and files newer than the plan"
    )
    parser.add_argument("--json", action="store_true", help="print the list of files as JSON")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list prompts and texts; render nothing (no tools needed)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: Console) -> int:
    try:
        plan, _ = read_plan(args.plan)
        inventory = build_inventory(plan)
    except PlanError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return EXIT_INVALID
    except PromptsError as exc:
        print(f"frontdesk prompts: {exc}", file=sys.stderr)
        return EXIT_INVALID
    target: Path | None = args.out
    if target is None and not args.dry_run:
        print("frontdesk prompts: --out DIR is required (or use --dry-run)", file=sys.stderr)
        return EXIT_INVALID
    tools: Tools | None = None
    if not args.dry_run:
        try:
            tools = Tools.find()
        except ToolsMissing as exc:
            print(f"frontdesk prompts: {exc}", file=sys.stderr)
            return EXIT_INVALID
    if not args.json:
        for warning in inventory.warnings:
            out.print(f"warning: {warning}", style="yellow", markup=False, highlight=False)
    plan_mtime = args.plan.stat().st_mtime
    try:
        if target is None:
            results = [FileResult(p, Decision("create", "dry run")) for p in inventory.prompts]
        elif args.json or args.dry_run:
            results = render_all(
                inventory, target, plan_mtime, force=args.force, tools=tools, dry_run=args.dry_run
            )
        else:
            results = _render_with_progress(out, inventory, target, plan_mtime, args.force, tools)
    except (RenderError, OSError) as exc:
        print(f"frontdesk prompts: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(
            json.dumps(
                {
                    "out": str(target) if target else None,
                    "dry_run": bool(args.dry_run),
                    "files": [r.as_json(target) for r in results],
                    "warnings": list(inventory.warnings),
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    elif args.dry_run or target is None:
        _print_dry_run(out, results, target)
    else:
        _print_summary(out, results, target)
    return EXIT_OK


def _render_with_progress(
    out: Console,
    inventory: Inventory,
    target: Path,
    plan_mtime: float,
    force: bool,
    tools: Tools | None,
) -> list[FileResult]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[name]}"),
    )
    with Progress(*columns, console=out, transient=True) as progress:
        task = progress.add_task("prompts", total=len(inventory.prompts), name="")

        def step(prompt: Prompt) -> None:
            progress.update(task, advance=1, name=str(prompt.path))

        return render_all(inventory, target, plan_mtime, force=force, tools=tools, step=step)


def _print_dry_run(out: Console, results: list[FileResult], target: Path | None) -> None:
    table = Table(title="Prompts (dry run)", title_justify="left")
    for column in ("file", "action", "text"):
        table.add_column(column, overflow="fold")
    for result in results:
        path = target / result.prompt.path if target else result.prompt.path
        table.add_row(str(path), result.decision.action, result.prompt.text)
    out.print(table)


def _print_summary(out: Console, results: list[FileResult], target: Path) -> None:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.decision.action] = counts.get(result.decision.action, 0) + 1
        if result.decision.action == "keep":
            out.print(
                f"kept {target / result.prompt.path}: {result.decision.reason} (--force replaces it)",
                markup=False,
                highlight=False,
            )
    done = ", ".join(f"{counts.get(a, 0)} {w}" for a, w in _WORDS)
    out.print(f"[green]{target}[/green]: {len(results)} prompt files — {done}")


_WORDS = (
    ("create", "created"),
    ("update", "updated"),
    ("unchanged", "unchanged"),
    ("keep", "kept"),
)
