"""The FHIR R4 caller lookup against a FHIR server stand-in on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from frontdesk.routing.directory import Patient
from frontdesk.store.fhir import FhirLookup

MARIA = {
    "resourceType": "Patient",
    "id": "P-1002",
    "name": [{"family": "Example", "given": ["Maria"]}],
    "communication": [
        {"language": {"coding": [{"code": "en"}]}},
        {"language": {"coding": [{"code": "es-US"}]}, "preferred": True},
    ],
}
SIBLING = {"resourceType": "Patient", "id": "P-2002", "communication": []}


def bundle(*patients: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": p} for p in patients],
    }


class Fhir:
    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.delay = 0.0
        self.status = 200
        self.seen: list[tuple[str, str | None]] = []

    async def search(self, request: web.Request) -> web.Response:
        telecom = request.query.get("telecom", "")
        self.seen.append((telecom, request.headers.get("Authorization")))
        await asyncio.sleep(self.delay)
        return web.json_response(self.answers.get(telecom, bundle()), status=self.status)


@pytest.fixture
async def fhir() -> AsyncIterator[tuple[Fhir, str]]:
    stand_in = Fhir()
    app = web.Application()
    app.router.add_get("/fhir/Patient", stand_in.search)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield stand_in, str(server.make_url("/fhir"))
    await server.close()


async def test_a_known_patient_with_a_preferred_language(fhir: tuple[Fhir, str]) -> None:
    stand_in, url = fhir
    stand_in.answers["+13125551002"] = bundle(MARIA)
    lookup = FhirLookup(url, token="t0ken")
    try:
        assert await lookup.lookup("+13125551002") == Patient("P-1002", "es", None)
    finally:
        await lookup.close()
    assert stand_in.seen == [("+13125551002", "Bearer t0ken")]  # `+` arrives intact


async def test_unknown_and_withheld_callers(fhir: tuple[Fhir, str]) -> None:
    _, url = fhir
    lookup = FhirLookup(url)
    try:
        assert await lookup.lookup("+17735550123") is None
        assert await lookup.lookup(None) is None
    finally:
        await lookup.close()


async def test_a_family_phone_gives_no_patient_id(fhir: tuple[Fhir, str]) -> None:
    stand_in, url = fhir
    stand_in.answers["+13125551009"] = bundle(MARIA, SIBLING)
    lookup = FhirLookup(url)
    try:
        found = await lookup.lookup("+13125551009")
    finally:
        await lookup.close()
    assert found == Patient(None, None, None)


@pytest.mark.parametrize(("delay", "status"), [(1.0, 200), (0.0, 500)])
async def test_slow_or_failing_server_is_an_unknown_caller(
    fhir: tuple[Fhir, str], delay: float, status: int
) -> None:
    stand_in, url = fhir
    stand_in.answers["+13125551002"] = bundle(MARIA)
    stand_in.delay, stand_in.status = delay, status
    lookup = FhirLookup(url, timeout=0.2)
    try:
        started = asyncio.get_running_loop().time()
        assert await lookup.lookup("+13125551002") is None
        assert asyncio.get_running_loop().time() - started < 0.6
    finally:
        await lookup.close()
