"""HTML pages: Jinja2 templates (autoescaped) and the static files under `/static/`.

`render(request, "page.html", **context)` gives every template `user` (the signed-in
`StaffUser` or None), `csrf_token`, `can(permission)` for that user and `path`. The
templates extend `base.html`; the Content-Security-Policy (web/auth.py) forbids inline
scripts and styles, so pages load theirs from `/static/` (`{% block scripts %}`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader

from frontdesk.staff import Permission, can
from frontdesk.web.identity import csrf_token, optional_user

STATIC = Path(__file__).parent / "static"


@cache
def environment() -> Environment:
    return Environment(loader=PackageLoader("frontdesk.web"), autoescape=True)


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    user = optional_user(request)

    def allowed(permission: Permission) -> bool:
        return user is not None and can(user, permission)

    html = (
        environment()
        .get_template(name)
        .render(
            user=user,
            csrf_token=csrf_token(request),
            can=allowed,
            path=request.path,
            **context,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def setup_static(app: web.Application) -> None:
    """Serve `web/static/` at `/static/` (public: no patient data there)."""
    app.router.add_static("/static/", STATIC, name="static", append_version=False)
