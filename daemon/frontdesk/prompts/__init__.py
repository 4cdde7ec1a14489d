"""`frontdesk prompts`: every prompt a plan can play, as 8 kHz WAV files for Asterisk."""

from frontdesk.prompts.inventory import PromptsError, add_parser, build_inventory, voicemail_boxes

__all__ = ["PromptsError", "add_parser", "build_inventory", "voicemail_boxes"]
