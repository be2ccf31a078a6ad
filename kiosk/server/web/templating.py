"""The Jinja2 environment of the dashboard (FastAPI's Jinja2Templates) and the one way a
page is answered: the shared layout's variables, the CSRF token when the app's middleware
set one (``request.state.csrf_token``), times formatted in the command's zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from kiosk.core.clock import offset_text
from kiosk.core.privacy import mask_pass_number
from kiosk.server.web.queries import reason_text
from kiosk.server.web.settings import DashboardSettings

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def link(path: str, **params: Any) -> str:
    """A dashboard URL with its query (names of compounds and gates are any text)."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{path}?{query}" if query else path


def hm(dt: datetime | None) -> str:
    return "—" if dt is None else f"{dt:%H:%M}"


def mdhm(dt: datetime | None) -> str:
    return "—" if dt is None else f"{dt:%m-%d %H:%M}"


def ago(age: timedelta | None) -> str:
    """How long ago, Chinese first: "5 分钟前 / 5 min ago"."""
    if age is None:
        return "从未 / never"
    minutes = max(int(age.total_seconds() // 60), 0)
    if minutes < 120:
        return f"{minutes} 分钟前 / {minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} 小时前 / {minutes // 60} h ago"
    return f"{minutes // 1440} 天前 / {minutes // 1440} days ago"


@pass_context
def personal(ctx: Context, value: str | None) -> str:
    """A pass number or household as it may be shown to the signed-in user (masked for a
    viewer: the kind letter and last two characters stay)."""
    if not value:
        return ""
    return mask_pass_number(value) if ctx.get("masked") else value


TEMPLATES.env.globals["link"] = link
TEMPLATES.env.filters["personal"] = personal
TEMPLATES.env.globals["clock_text"] = offset_text
TEMPLATES.env.globals["reason_text"] = reason_text
TEMPLATES.env.filters["hm"] = hm
TEMPLATES.env.filters["mdhm"] = mdhm
TEMPLATES.env.filters["ago"] = ago


def render(request: Request, name: str, context: dict[str, Any], *, status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    settings: DashboardSettings = request.app.state.dashboard
    base = {"zone": settings.zone.key, "now": settings.now(), "user": None, "masked": True,
            "stale_hours": int(settings.stale_after.total_seconds() // 3600),
            "csrf_token": getattr(request.state, "csrf_token", "")}
    return TEMPLATES.TemplateResponse(request, name, {**base, **context},
                                      status_code=status_code, headers=headers)
