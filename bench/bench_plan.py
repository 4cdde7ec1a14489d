"""The load benchmark's plan, derived from the reference plan `lakeside.yaml`.

The daemon runs on the real clock when it talks to a real (or emulated) Asterisk, so the
time regime is chosen with schedules rather than a fake clock:

- every schedule is `24/7` and holidays are off: the main journey (menu 1 > 2,
  scheduling / primary care) always reaches an open queue;
- `billing` (menu 2) is on a schedule open one minute a week (Sunday 00:00-00:01 practice
  time; `frontdesk check` refuses a queue that is never open): its callers get the
  after-hours voicemail;
- `referrals` (menu 4 > 2) has `max_wait: 2s` and one member (also billing's) whose
  phone the bench unregisters, so its callers are never answered and are offered a callback.

Staff: `agents` generated members of scheduling, intake and front_desk (extensions 3000+)
with the scheduling skills; nurse_triage keeps its two reference nurses.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

REFERENCE = Path(__file__).resolve().parent.parent / "daemon/frontdesk/examples/lakeside.yaml"
OVERFLOW_EXTENSION = "2999"  # the referrals member whose phone is never registered
FIRST_AGENT = 3000
# `frontdesk check` refuses a schedule that is never open: one minute a week it is
NEARLY_NEVER = {"mon-sat": "closed", "sun": "00:00-00:01"}
# Exchanges the daemon may call back (frontdesk/acd/callbacks.py): NXX, not an N11
# service code, not 976. Any other caller is never offered a callback, so the callback
# journey would press 1 to no offer and hang up: an abandon, and a false bench error.
CALLABLE_EXCHANGES = tuple(str(n) for n in range(200, 1000) if n % 100 != 11 and n != 976)


def caller_number(rng: random.Random) -> str:
    """An unknown caller (area 773) whose number may be called back."""
    return f"+1773{rng.choice(CALLABLE_EXCHANGES)}{rng.randrange(10**4):04d}"


def agent_extensions(agents: int) -> list[str]:
    return [str(FIRST_AGENT + n) for n in range(agents)]


def bench_plan(agents: int, *, max_wait: str = "2s", wrap_up: str = "0s") -> dict[str, Any]:
    plan: dict[str, Any] = yaml.safe_load(REFERENCE.read_text())
    plan["practice"]["holidays"] = {}
    plan["schedules"] = dict.fromkeys(plan["schedules"], "24/7")
    plan["schedules"]["never"] = NEARLY_NEVER
    queues = plan["queues"]
    queues["billing"]["schedule"] = "never"
    queues["referrals"]["max_wait"] = max_wait
    for queue in queues.values():
        queue["wrap_up"] = wrap_up  # an agent is free again as soon as the talk ends
    nurses = [s for s in plan["staff"] if "nurse_triage" in s["queues"]]
    staff = [
        {
            "name": f"Agent {ext}",
            "extension": ext,
            "queues": ["scheduling", "intake", "front_desk"],
            "skills": {"primary_care": 3, "cardiology": 1, "orthopedics": 1, "spanish": 1},
        }
        for ext in agent_extensions(agents)
    ]
    overflow = {
        "name": "Overflow",
        "extension": OVERFLOW_EXTENSION,
        "queues": ["referrals", "billing"],
    }
    plan["staff"] = [*nurses, *staff, overflow]
    return plan


def write_plan(path: Path, agents: int, **options: str) -> list[str]:
    """Write the plan; returns every staff extension (the emulator's `--staff`)."""
    plan = bench_plan(agents, **options)
    path.write_text(yaml.safe_dump(plan, sort_keys=False, allow_unicode=True))
    return [str(s["extension"]) for s in plan["staff"]]


# -- the lab bench (`make bench-lab`, bench/lab_bench.py) ---------------------------------
LAB_QUEUE = "scheduling"
LAB_KEY = "1"  # the main menu's only option: straight to LAB_QUEUE


def lab_plan(agents: int) -> dict[str, Any]:
    """The real-Asterisk bench's plan: one language, no emergency notice, a main menu
    whose key 1 leads to `scheduling` (24/7, no wrap-up), `agents` staff in it and in
    front_desk (extensions 3000+; the last FRONT_DESK_PHONES of them only). One prompt, one key, one queue: the journey the bare
    app also runs."""
    plan: dict[str, Any] = yaml.safe_load(REFERENCE.read_text())
    practice = plan["practice"]
    practice["emergency_notice"] = False
    practice["holidays"] = {}
    practice["languages"] = {"en": {}}
    plan["numbers"] = {MAIN_NUMBER: "main"}
    plan["schedules"] = {"always": "24/7"}
    plan["queues"] = {
        name: {
            "schedule": "always",
            "max_wait": "4m",
            "wrap_up": "0s",
            "after_hours": {"voicemail": name},  # never used: always open
        }
        for name in (LAB_QUEUE, "front_desk")
    }
    plan.pop("urgent", None)
    plan["external"] = {}
    plan["menu"] = {
        "timeout": "5s",
        "retries": 2,
        "operator_key": 0,
        "options": {
            int(LAB_KEY): {
                "label": {"en": "to schedule, change or cancel an appointment"},
                "category": "scheduling",
                "queue": LAB_QUEUE,
            }
        },
    }
    # The front desk is a few phones, as in a practice: the dialplan's fallback (frontdesk
    # down, or a call shed by admission control) rings them all at once.
    extensions = agent_extensions(agents)
    desk = set(extensions[-FRONT_DESK_PHONES:])
    plan["staff"] = [
        {
            "name": f"Agent {ext}",
            "extension": ext,
            "queues": [LAB_QUEUE, "front_desk"] if ext in desk else [LAB_QUEUE],
        }
        for ext in extensions
    ]
    return plan


MAIN_NUMBER = "+13125550000"
FRONT_DESK_PHONES = 4


def write_lab_plan(path: Path, agents: int) -> list[str]:
    """Write the lab bench plan; returns the staff extensions."""
    plan = lab_plan(agents)
    path.write_text(yaml.safe_dump(plan, sort_keys=False, allow_unicode=True))
    return [str(s["extension"]) for s in plan["staff"]]
