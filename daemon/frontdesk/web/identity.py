"""Who is making a request: the signed-in user and the CSRF token, as the request holds them.

The sign-in middleware (web/auth.py) sets both on every request it lets through; the
templates (web/templates.py) and handlers read them back here. Keeping these keys apart
from auth.py lets the templates render a page without importing the sign-in machinery,
and auth.py render its login and error pages: imports run auth -> templates -> identity.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from frontdesk.staff import StaffUser

USER: Final = web.RequestKey("user", StaffUser)
CSRF: Final = web.RequestKey("csrf", str)


def optional_user(request: web.Request) -> StaffUser | None:
    """The signed-in user, or None (public paths, or before the middleware ran)."""
    user: StaffUser | None = request.get(USER)
    return user


def csrf_token(request: web.Request) -> str:
    """The token forms and fetches must send back ("" with no session)."""
    token: str = request.get(CSRF, "")
    return token
