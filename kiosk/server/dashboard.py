"""The command's dashboard on the central store's app: pages behind a sign-in, rendered on
the server (kiosk.server.web: Jinja2 templates, inline SVG charts, one static CSS file, no
script), Chinese first with English, times in the command's zone.

What it shows and how it is tested: docs/DASHBOARD.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from kiosk.server.web import casepages, login, pages, trace
from kiosk.server.web.settings import DashboardSettings

STATIC = Path(__file__).parent / "web" / "static"


def attach_dashboard(app: FastAPI, engine: Engine,
                     settings: DashboardSettings | None = None) -> None:
    """Add the dashboard's routes and its static files (``/static``) to ``app``; the time
    zone comes from $KIOSK_DASHBOARD_TZ (default Asia/Shanghai) unless ``settings`` say."""
    app.state.engine = engine
    app.state.dashboard = settings or DashboardSettings.from_env()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(login.router)
    app.include_router(pages.router)
    app.include_router(trace.router)
    app.include_router(casepages.router)
