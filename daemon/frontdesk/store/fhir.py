"""Caller lookup in the practice's EHR over FHIR R4 (`Patient?telecom=`), optional.

Same interface and promises as `PatientLookup`: `await lookup(number)` answers within
`timeout` with a `Patient` or None (unknown caller) and never raises; a failure is
logged once per outage, with the number masked. The patient's preferred language comes
from `Patient.communication` (the `preferred` one, else the first); FHIR's Patient has
no specialty. Several patients on one number (a family phone) give no patient id and
only the language they agree on, as with the CSV directory.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import structlog

from frontdesk.phone import mask_number
from frontdesk.routing.directory import Directory, Patient

log = structlog.get_logger("frontdesk.fhir")

MAX_BODY = 1 << 20  # a search bundle for one phone number is a few kB


class FhirLookup:
    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 0.5) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None
        self._down = False

    async def lookup(self, number: str | None) -> Patient | None:
        if number is None:
            return None
        try:
            bundle = await asyncio.wait_for(self._search(number), self.timeout)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            if not self._down:
                log.warning(
                    "fhir.lookup_unavailable", caller=mask_number(number), error=type(exc).__name__
                )
            self._down = True
            return None
        if self._down:
            log.info("fhir.lookup_recovered")
            self._down = False
        return patient_from_bundle(number, bundle)

    async def _search(self, number: str) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers)
        url = f"{self.base_url}/Patient"
        async with self._session.get(url, params={"telecom": number}) as response:
            if response.status != 200:
                raise ValueError(f"FHIR search answered {response.status}")
            body = await response.content.read(MAX_BODY + 1)
            if len(body) > MAX_BODY:
                raise ValueError("FHIR search bundle too large")
            data = await asyncio.to_thread(_json, body)
        if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
            raise ValueError("not a FHIR Bundle")
        return data

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _json(body: bytes) -> Any:
    return json.loads(body)


def patient_from_bundle(number: str, bundle: dict[str, Any]) -> Patient | None:
    """The `Patient` resources of a search bundle, merged like the CSV directory does."""
    patients = []
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
            patient_id = resource.get("id")
            if isinstance(patient_id, str) and patient_id:
                patients.append((number, Patient(patient_id, _language(resource), None)))
    return Directory(patients).lookup(number) if patients else None


def _language(resource: dict[str, Any]) -> str | None:
    communication = [c for c in resource.get("communication") or [] if isinstance(c, dict)]
    chosen = next((c for c in communication if c.get("preferred") is True), None)
    chosen = chosen or (communication[0] if communication else None)
    if chosen is None:
        return None
    codings = (chosen.get("language") or {}).get("coding") or []
    for coding in codings:
        code = coding.get("code") if isinstance(coding, dict) else None
        if isinstance(code, str) and code:
            return code.split("-")[0].lower()  # es-US -> es
    return None
