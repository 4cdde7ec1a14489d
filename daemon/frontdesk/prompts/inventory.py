"""Which prompts a plan can play, in which languages, with which texts and voices (pure).

Asterisk plays `sound:frontdesk/<name>` and picks the folder by the channel's language, so
every prompt is a `Prompt` at `<lang>/frontdesk/<name>.wav`. Texts come from the plan
(option labels in each language, the callback window of each voicemail box, the call
categories) and the phrase tables (`frontdesk.prompts.phrases`).

Besides the IVR's prompts, the ACD plays `callback-offer`, `callback-confirmed` and, to the
staff member who takes a callback, the whisper `callback-<category>` ("Callback, billing.")
for every category a queued call can have (`queue_categories`). A test scans the daemon
for every `sound:frontdesk/...` it can play and checks that `frontdesk prompts` renders it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from frontdesk.plan import Plan
from frontdesk.plan.model import FRONT_DESK, AfterHours, Menu
from frontdesk.prompts.phrases import (
    DEFAULT_EMERGENCY_NUMBER,
    EMERGENCY_NUMBERS,
    FALLBACK_LANGUAGE,
    PHRASES,
    Phrases,
    base_language,
    phrases_for,
)
from frontdesk.routing.destination import OPERATOR, UNROUTED
from frontdesk.routing.ivr import EMERGENCY_NOTICE, INVALID_OPTION

SOUND_FOLDER = "frontdesk"  # Asterisk: sound:frontdesk/<name>

# Prompts the IVR does not play yet: the ACD (docs/routing.md §4) and the dialplan's
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


def build_inventory(plan: Plan) -> Inventory:
    """Every prompt the plan can play, in every practice language, plus `EXTRA_PROMPTS`."""
    warnings: list[str] = []
    region = plan.practice.phone_region.upper()
    languages = list(plan.practice.languages)
    for code in languages:
        _check_name(code, "language code")
        if base_language(code) not in PHRASES:
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
    phrases, voice = phrases_for(code, region)
    label_language = code if base_language(code) in PHRASES else FALLBACK_LANGUAGE

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
            own, own_voice = phrases_for(other, region)
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
