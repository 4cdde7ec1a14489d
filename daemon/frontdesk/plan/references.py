"""Names that point elsewhere in the plan: schedules, queues, externals, roles, skills, labels.

These checks read the raw data (before the typed model exists) so that a plan with a
type error *and* a misspelt queue name gets both reported in one run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import holidays

from frontdesk.phone import normalize_number
from frontdesk.plan.errors import KeyPath, PlanIssue, did_you_mean
from frontdesk.plan.model import DEFAULT_OPERATOR_KEY, FRONT_DESK
from frontdesk.plan.schedule import ALWAYS
from frontdesk.plan.source import Source

_Issue = tuple[KeyPath, str]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class _Names:
    """What the plan defines, gathered defensively from raw data."""

    def __init__(self, data: dict[str, Any]) -> None:
        practice = _mapping(data.get("practice"))
        self.schedules = set(_mapping(data.get("schedules")))
        self.queues = set(_mapping(data.get("queues")))
        self.externals = set(_mapping(data.get("external")))
        self.languages = list(_mapping(practice.get("languages"))) or ["en"]
        staff = [_mapping(s) for s in _items(data.get("staff"))]
        self.roles = {str(r) for s in staff for r in _items(s.get("roles"))}
        self.skills = {str(k) for s in staff for k in _mapping(s.get("skills"))}


def check_references(source: Source) -> list[PlanIssue]:
    data = source.data
    if not isinstance(data, dict):
        return []  # the model reports the wrong shape
    names = _Names(data)
    found = [
        *_practice(data, names),
        *_queues(data, names),
        *_externals(data, names),
        *_urgent(data, names),
        *_numbers(data, names),
        *_menu(_mapping(data.get("menu")), ("menu",), names, DEFAULT_OPERATOR_KEY),
        *_staff(data, names),
    ]
    if isinstance(data.get("queues"), dict) and FRONT_DESK not in names.queues:
        found.append(
            (("queues",), f"no '{FRONT_DESK}' queue: operator, silent and lost callers need it")
        )
    issues = []
    for path, message in found:
        line = source.lines.line(path, key=message.startswith("unknown key"))
        issues.append(PlanIssue(source.lines.file, line, path, message))
    return issues


def _ref(path: KeyPath, value: Any, known: set[str], kind: str) -> Iterator[_Issue]:
    if value is not None and str(value) not in known:
        yield path, f"unknown {kind} '{value}'{did_you_mean(str(value), known)}"


def _practice(data: dict[str, Any], names: _Names) -> Iterator[_Issue]:
    practice = _mapping(data.get("practice"))
    for code, lang in _mapping(practice.get("languages")).items():
        lang = _mapping(lang)
        path: KeyPath = ("practice", "languages", code)
        yield from _ref((*path, "skill"), lang.get("skill"), names.skills, "skill")
        yield from _ref((*path, "fallback"), lang.get("fallback"), names.externals, "external")
    country = _mapping(practice.get("holidays")).get("country")
    supported = holidays.list_supported_countries()
    if country is not None and str(country) not in supported:
        yield (
            ("practice", "holidays", "country"),
            f"unknown holiday country '{country}'{did_you_mean(str(country), supported)}",
        )
    yield from _language_keys(practice, data)


def _language_keys(practice: dict[str, Any], data: dict[str, Any]) -> Iterator[_Issue]:
    menu = _mapping(data.get("menu"))
    taken = {str(k): "an option" for k in _mapping(menu.get("options"))}
    taken[str(menu.get("operator_key") or DEFAULT_OPERATOR_KEY)] = "the operator key"
    for code, lang in _mapping(practice.get("languages")).items():
        key = _mapping(lang).get("key")
        if key is None:
            continue
        if str(key) in taken:
            yield ("practice", "languages", code, "key"), f"key {key} is already {taken[str(key)]}"
        taken[str(key)] = f"the key of language '{code}'"


def _queues(data: dict[str, Any], names: _Names) -> Iterator[_Issue]:
    for name, queue in _mapping(data.get("queues")).items():
        queue = _mapping(queue)
        path: KeyPath = ("queues", name)
        yield from _ref((*path, "schedule"), queue.get("schedule"), names.schedules, "schedule")
        yield from _ref((*path, "escalate_to"), queue.get("escalate_to"), names.roles, "role")
        after = _mapping(queue.get("after_hours"))
        yield from _ref(
            (*path, "after_hours", "transfer"), after.get("transfer"), names.externals, "external"
        )


def _externals(data: dict[str, Any], names: _Names) -> Iterator[_Issue]:
    for name, target in _mapping(data.get("external")).items():
        hours = _mapping(target).get("hours")
        if hours is not None and str(hours) != ALWAYS:
            yield from _ref(
                ("external", name, "hours"), hours, names.schedules | {ALWAYS}, "schedule"
            )


def _urgent(data: dict[str, Any], names: _Names) -> Iterator[_Issue]:
    urgent = _mapping(data.get("urgent"))
    queue = _mapping(urgent.get("business_hours")).get("queue")
    yield from _ref(("urgent", "business_hours", "queue"), queue, names.queues, "queue")
    transfer = _mapping(urgent.get("after_hours")).get("transfer")
    yield from _ref(("urgent", "after_hours", "transfer"), transfer, names.externals, "external")


def _leaf(option: dict[str, Any], path: KeyPath, names: _Names, category: Any) -> Iterator[_Issue]:
    yield from _ref((*path, "queue"), option.get("queue"), names.queues, "queue")
    yield from _ref((*path, "skill"), option.get("skill"), names.skills, "skill")
    if option.get("menu") is not None:
        return
    if option.get("queue") is None and str(option.get("urgent", "false")).lower() != "true":
        yield path, "leads nowhere: give it a queue, a menu, or urgent: true"
    if option.get("category", category) is None:
        yield path, "has no category (give it or its parent option one)"


def _numbers(data: dict[str, Any], names: _Names) -> Iterator[_Issue]:
    seen: dict[str, str] = {}
    for number, entry in _mapping(data.get("numbers")).items():
        if isinstance(entry, dict):
            yield from _leaf(entry, ("numbers", number), names, None)
        e164 = normalize_number(str(number))
        if e164 is not None and e164 in seen:
            yield ("numbers", number), f"the same number as '{seen[e164]}' ({e164})"
        elif e164 is not None:
            seen[e164] = str(number)


def _menu(
    menu: dict[str, Any], path: KeyPath, names: _Names, operator: str, category: Any = None
) -> Iterator[_Issue]:
    operator = str(menu.get("operator_key") or operator)
    for key, option in _mapping(menu.get("options")).items():
        option = _mapping(option)
        opath: KeyPath = (*path, "options", key)
        if str(key) == operator:
            yield opath, f"key {key} is the operator key here; this option could never be chosen"
        labels = _mapping(option.get("label"))
        for code in names.languages:
            if code not in labels:
                yield (*opath, "label"), f"no label in language '{code}'"
        for code in labels:
            if code not in names.languages:
                yield (
                    (*opath, "label", code),
                    f"'{code}' is not a practice language{did_you_mean(code, names.languages)}",
                )
        own_category = option.get("category", category)
        yield from _leaf(option, opath, names, own_category)
        submenu = option.get("menu")
        if submenu is not None:
            if option.get("queue") is not None or option.get("urgent") is not None:
                yield opath, "an option with a menu cannot also name a queue or be urgent"
            yield from _menu(_mapping(submenu), (*opath, "menu"), names, operator, own_category)


def _staff(data: dict[str, Any], names: _Names) -> Iterator[_Issue]:
    seen: dict[str, int] = {}
    for index, member in enumerate(_items(data.get("staff"))):
        member = _mapping(member)
        for i, queue in enumerate(_items(member.get("queues"))):
            yield from _ref(("staff", index, "queues", i), queue, names.queues, "queue")
        extension = str(member.get("extension"))
        if extension in seen:
            yield (
                ("staff", index, "extension"),
                f"extension {extension} is also staff[{seen[extension]}]'s",
            )
        seen.setdefault(extension, index)
