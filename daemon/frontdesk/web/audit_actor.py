"""Who an audit entry names: the real actor, and on whose behalf they acted.

Every `AuditEntry` written for a web request names the one who made it as `actor`:
`user:<username>` for a signed-in user, `token` for the API token (web/auth.py's
service user). The agent acted for, when there is one, goes in the entry's data as
`"on_behalf": "agent:<ext>"`: a supervisor pausing agent 2005, or the token reading
2006's screen pop, is never logged as `agent:2005` / `agent:2006`. Only the phone's
feature codes (calls/agent_desk.py) log `agent:<ext>` as the actor: the phone is.
"""

from __future__ import annotations

from typing import Any

from frontdesk.staff import StaffUser
from frontdesk.web.auth import API_USER

TOKEN_ACTOR = "token"


def actor(user: StaffUser) -> str:
    """The audit actor for a request made by `user`."""
    return TOKEN_ACTOR if user == API_USER else f"user:{user.username}"


def on_behalf(ext: str | None) -> dict[str, Any]:
    """The data naming the agent acted for ({} without one)."""
    return {} if ext is None else {"on_behalf": f"agent:{ext}"}
