"""Shared by the `frontdesk prompts` tests: finding a prompt, changing the practice, running
the command."""

from __future__ import annotations

import argparse
import io
import shutil

import pytest
from rich.console import Console

from frontdesk.plan import Plan
from frontdesk.prompts import cli
from frontdesk.prompts.inventory import Inventory, Prompt

HAVE_TOOLS = shutil.which("espeak-ng") is not None and shutil.which("sox") is not None
needs_tools = pytest.mark.skipif(not HAVE_TOOLS, reason="espeak-ng and sox are not installed")


def text_of(inventory: Inventory, language: str, name: str) -> str:
    found = [p for p in inventory.prompts if p.language == language and p.name == name]
    assert len(found) == 1, (language, name)
    return found[0].text


def prompt_of(inventory: Inventory, language: str, name: str) -> Prompt:
    return next(p for p in inventory.prompts if p.language == language and p.name == name)


def with_practice(plan: Plan, **changes: object) -> Plan:
    return plan.model_copy(update={"practice": plan.practice.model_copy(update=changes)})


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="frontdesk")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["prompts", *argv])


def run_prompts(*argv: str) -> int:
    """`frontdesk prompts ARGV...`: its exit code (its table goes nowhere, its JSON to stdout)."""
    args = _args(*argv)
    code: int = args.handler(args, Console(file=io.StringIO(), width=120))
    return code
