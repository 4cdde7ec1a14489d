"""The vendored ARI table, routing and parameter validation."""

from __future__ import annotations

import json

import pytest

from frontdesk.emulator.ari_spec import OPERATIONS
from frontdesk.emulator.swagger import (
    Match,
    NoRoute,
    Param,
    as_int,
    as_list,
    operations,
    parse_operations,
    parse_param,
    route,
    validate,
)
from tests.emulator.helpers import API_DOCS


def _from_docs() -> set[tuple[str, str, str, tuple[Param, ...]]]:
    if not API_DOCS.is_dir():
        pytest.skip(f"Asterisk's ARI docs not available ({API_DOCS} is missing)")
    out = set()
    for path in sorted(API_DOCS.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for api in doc["apis"]:
            for op in api["operations"]:
                params = []
                for p in op.get("parameters", []):
                    values = p.get("allowableValues") or {}
                    params.append(
                        Param(
                            p["name"],
                            p["paramType"],
                            p["dataType"],
                            bool(p.get("allowMultiple")),
                            bool(p.get("required")),
                            tuple(values.get("values", ())),
                            values.get("min"),
                            values.get("max"),
                        )
                    )
                nickname = f"{path.stem}.{op['nickname']}"
                out.add((op["httpMethod"], api["path"], nickname, tuple(params)))
    return out


def test_vendored_table_matches_asterisk_docs() -> None:
    vendored = {(op.method, op.path, op.nickname, op.params) for op in parse_operations(OPERATIONS)}
    assert vendored == _from_docs()


def test_parse_param() -> None:
    assert parse_param("terminateOn=none|any|*|#") == Param(
        "terminateOn", allowed=("none", "any", "*", "#")
    )
    assert parse_param("media*!") == Param("media", multiple=True, required=True)
    assert parse_param("offsetms:int~0..") == Param("offsetms", type="int", minimum=0)
    assert parse_param("variables@body:containers") == Param("variables", "body", "containers")


@pytest.mark.parametrize(
    ("method", "path", "nickname", "params"),
    [
        ("POST", "/channels/create", "channels.create", {}),
        ("POST", "/channels/abc", "channels.originateWithId", {"channelId": "abc"}),
        ("GET", "/endpoints/PJSIP/2001", "endpoints.get", {"tech": "PJSIP", "resource": "2001"}),
        ("POST", "/bridges/b/play/p", "bridges.playWithId", {"bridgeId": "b", "playbackId": "p"}),
        ("GET", "/events", "events.eventWebsocket", {}),
    ],
)
def test_route(method: str, path: str, nickname: str, params: dict[str, str]) -> None:
    found = route(method, path)
    assert isinstance(found, Match)
    assert (found.operation.nickname, found.path_params) == (nickname, params)


def test_route_failures() -> None:
    assert route("GET", "/no/such") == NoRoute(404, "Resource not found")
    assert route("PUT", "/channels") == NoRoute(405, "Invalid method", ("GET", "POST"))
    assert route("GET", "/") == NoRoute(404, "Resource not found")


def _op(nickname: str) -> Match:
    op = next(o for o in operations() if o.nickname == nickname)
    return Match(op, {})


def test_validate() -> None:
    record = _op("channels.record").operation
    good = {"name": "x", "format": "wav", "terminateOn": "#", "maxDurationSeconds": "5"}
    assert validate(record, good, {}) == []
    assert validate(record, {**good, "maxDurationSeconds": "-1"}, {}) == [
        "'maxDurationSeconds' must be >= 0, got -1"
    ]
    assert validate(record, {**good, "beep": "maybe"}, {}) == [
        "'beep' must be a boolean, got 'maybe'"
    ]
    assert validate(record, {"name": "x"}, {}) == ["missing required parameter 'format'"]
    originate = _op("channels.originate").operation
    assert validate(originate, {}, {"endpoint": "PJSIP/2001", "variables": {"A": "1"}}) == []
    assert validate(originate, {"endpoint": "x"}, {"variables": "A=1"}) == [
        "'variables' must be a JSON object"
    ]
    assert validate(originate, {"endpoint": "x", "channelId@": "1"}, {}) == [
        "unknown parameter 'channelId@' in the query string of channels.originate"
    ]
    assert validate(originate, {"endpoint": "x", "timeout": 5}, {}) == []  # JSON numbers


def test_multiple_values() -> None:
    play = _op("channels.play").operation
    assert validate(play, {"media": ["sound:a", "sound:b"]}, {}) == []
    assert as_list(["sound:a,sound:b", "sound:c", ""]) == ["sound:a", "sound:b", "sound:c"]


def test_as_int_is_atoi() -> None:
    assert [as_int("42"), as_int("12abc"), as_int("abc"), as_int("-3"), as_int(None)] == [
        42,
        12,
        0,
        -3,
        0,
    ]
