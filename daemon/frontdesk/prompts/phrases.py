"""How each language says each prompt: the phrase tables, the voices, the emergency numbers.

A language without a table (`PHRASES`) is spoken in English (`FALLBACK_LANGUAGE`) until the
practice records its prompts; `phrases_for` picks the table and the espeak-ng voice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from frontdesk.routing.destination import OPERATOR, UNROUTED

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


def base_language(code: str) -> str:
    """`es-MX` and `es_MX` use the `es` table."""
    return re.split(r"[-_]", code, maxsplit=1)[0].lower()


def phrases_for(code: str, region: str) -> tuple[Phrases, str]:
    """The phrase table of language `code` (English without one) and its voice in `region`."""
    phrases = PHRASES.get(base_language(code), PHRASES[FALLBACK_LANGUAGE])
    return phrases, phrases.voice(region)
