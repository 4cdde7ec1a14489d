"""The routing plan: loading, the typed model, schedules and reference checks."""

from frontdesk.plan.errors import PlanError, PlanIssue
from frontdesk.plan.loader import load_plan, load_plan_text, read_plan
from frontdesk.plan.model import Plan

__all__ = ["Plan", "PlanError", "PlanIssue", "load_plan", "load_plan_text", "read_plan"]
