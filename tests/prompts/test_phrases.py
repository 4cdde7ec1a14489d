"""How the prompts are worded (`frontdesk.prompts.phrases`, through the inventory): in
English and Spanish, the voices, the keys, the emergency number by region."""

from __future__ import annotations

from frontdesk.plan import Plan
from frontdesk.prompts.inventory import build_inventory
from tests.prompts.helpers import prompt_of, text_of, with_practice


def test_texts_in_english(plan: Plan) -> None:
    inventory = build_inventory(plan)
    assert text_of(inventory, "en", "menu-1") == (
        "To schedule, change or cancel an appointment, press 1."
    )
    assert text_of(inventory, "en", "menu-1-3") == "For cardiology, press 3."
    assert text_of(inventory, "en", "menu-operator") == "To speak with the front desk, press 0."
    assert text_of(inventory, "en", "emergency-notice") == (
        "If this is a medical emergency, hang up and dial 9 1 1."
    )
    assert text_of(inventory, "en", "invalid-option") == "Sorry, that is not a valid option."
    assert "call you back on the next business day" in text_of(inventory, "en", "voicemail-billing")
    assert "call you back the same day" in text_of(inventory, "en", "voicemail-intake")
    assert "Lakeside Multi-Specialty Group" in text_of(inventory, "en", "voicemail-intake")
    assert "stay on the line" in text_of(inventory, "en", "urgent-connect")
    assert prompt_of(inventory, "en", "menu-1").voice == "en-us"


def test_texts_in_spanish(plan: Plan) -> None:
    inventory = build_inventory(plan)
    assert text_of(inventory, "es", "menu-1") == (
        "Para programar, cambiar o cancelar una cita, oprima 1."
    )
    assert text_of(inventory, "es", "menu-1-3") == "Para cardiología, oprima 3."
    assert text_of(inventory, "es", "menu-operator") == "Para hablar con la recepción, oprima 0."
    assert "emergencia médica" in text_of(inventory, "es", "emergency-notice")
    assert "el próximo día hábil" in text_of(inventory, "es", "voicemail-billing")
    assert "el mismo día" in text_of(inventory, "es", "voicemail-intake")
    assert prompt_of(inventory, "es", "menu-1").voice == "es-419"


def test_language_prompt_is_spoken_in_the_language_it_offers(plan: Plan) -> None:
    inventory = build_inventory(plan)
    for folder in ("en", "es"):
        prompt = prompt_of(inventory, folder, "language-es")
        assert prompt.text == "Para español, oprima 9."
        assert prompt.voice == "es-419"


def test_a_language_without_phrases_falls_back_to_english_with_a_warning(plan: Plan) -> None:
    languages = {**plan.practice.languages, "fr": plan.practice.languages["es"].model_copy()}
    languages["fr"] = languages["fr"].model_copy(update={"key": "8", "skill": None})
    inventory = build_inventory(with_practice(plan, languages=languages))
    assert any("'fr'" in w and "English" in w for w in inventory.warnings)
    menu = prompt_of(inventory, "fr", "menu-2")
    assert (menu.text, menu.voice) == ("For billing or insurance, press 2.", "en-us")
    assert text_of(inventory, "es", "language-fr") == "For English, press 8."


def test_untranslated_callback_window_is_spoken_as_written_with_a_warning(plan: Plan) -> None:
    queues = dict(plan.queues)
    after = queues["billing"].after_hours
    assert after is not None
    billing_after = after.model_copy(update={"callback": "within 3 days"})
    queues["billing"] = queues["billing"].model_copy(update={"after_hours": billing_after})
    inventory = build_inventory(plan.model_copy(update={"queues": queues}))
    assert "call you back within 3 days" in text_of(inventory, "en", "voicemail-billing")
    assert "within 3 days" in text_of(inventory, "es", "voicemail-billing")
    assert any("within 3 days" in w and "(es)" in w for w in inventory.warnings)


def test_emergency_number_follows_the_phone_region(plan: Plan) -> None:
    british = build_inventory(with_practice(plan, phone_region="GB"))
    assert text_of(british, "en", "emergency-notice").endswith("dial 9 9 9.")
    assert prompt_of(british, "en", "menu-1").voice == "en-gb"
    german = build_inventory(with_practice(plan, phone_region="DE"))
    assert text_of(german, "en", "emergency-notice").endswith("dial 1 1 2.")
    assert any("112" in w for w in german.warnings)


def test_star_and_pound_keys_are_spoken_as_words(plan: Plan) -> None:
    menu = plan.menu.model_copy(update={"operator_key": "*"})
    inventory = build_inventory(plan.model_copy(update={"menu": menu}))
    assert text_of(inventory, "en", "menu-operator") == "To speak with the front desk, press star."
    assert text_of(inventory, "es", "menu-operator").endswith("oprima asterisco.")
