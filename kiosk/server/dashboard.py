"""The command's dashboard: server-rendered pages that work on a phone, behind a login.

Plain HTML built with escaping (no template engine, no JavaScript): today's counts per
checkpoint, confirmed fevers and denials with their reasons, who is out, each device's last
contact and waiting events, and what looked wrong (findings). Staff sign in with a password
(argon2id); the session cookie holds a random token whose SHA-256 is stored.
"""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine, and_, case, delete, func, insert, select
from starlette.concurrency import run_in_threadpool

from kiosk.core.clock import clock_is_off, offset_text
from kiosk.core.messages import MESSAGES, Reason
from kiosk.server import audit, ratelimit
from kiosk.server.audit import client_of
from kiosk.server.auth import sha256_hex, verify_password
from kiosk.server.ingest import DEV, EV, FI
from kiosk.server.models import SessionRow, UserRow
from kiosk.server.ratelimit import minutes_to_wait, retry_after
from kiosk.store.models import table_of

SESSIONS = table_of(SessionRow)
USERS = table_of(UserRow)
COOKIE = "kiosk_session"
SESSION_HOURS = 12
#: "who is out" looks this far back (older exits are not "out", they are missing records)
OUT_DAYS = 14

_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:0;
background:#f4f4f4;color:#111}header{background:#7a0b0b;color:#fff;padding:.6em 1em;
display:flex;flex-wrap:wrap;gap:.3em;justify-content:space-between;align-items:center}
header a{color:#fff}
main{padding:.5em;max-width:60em;margin:auto}section{background:#fff;border-radius:6px;min-width:0;
padding:.6em;margin:.6em 0;overflow-x:auto}h1{font-size:1.2em;margin:0}h2{font-size:1.05em;
margin:.2em 0 .5em}table{border-collapse:collapse;width:100%;font-size:.92em}
td,th{border-bottom:1px solid #ddd;padding:.3em;text-align:left;white-space:nowrap}
td.wrap{white-space:normal;min-width:10em}.warn{color:#a00;font-weight:bold}
form{display:grid;gap:.6em;max-width:20em;margin:3em auto}
input,button{font-size:1.1em;padding:.5em}
"""


def _page(title: str, body: str, user: str | None = None) -> str:
    who = (f'<span>{escape(user)} · <a href="/logout">退出 / Sign out</a></span>'
           if user else "")
    return (
        '<!doctype html><html lang="zh"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1>{who}</header><main>{body}</main></body></html>"
    )


def _cell(value: Any) -> str:
    """A table cell; long text (a reason, a finding) wraps instead of widening the table
    past a phone's screen."""
    text = str(value)
    return f'<td class="wrap">{escape(text)}</td>' if len(text) > 24 else f"<td>{escape(text)}</td>"


def _table(section_id: str, title: str, head: list[str], rows: list[list[Any]],
           empty: str = "—") -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    if rows:
        trs = "".join("<tr>" + "".join(_cell(c) for c in r) + "</tr>" for r in rows)
    else:
        trs = f'<tr><td colspan="{len(head)}">{escape(empty)}</td></tr>'
    return (f'<section id="{section_id}"><h2>{escape(title)}</h2>'
            f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table></section>")


def _reason_text(code: str) -> str:
    try:
        m = MESSAGES[Reason(code)]
    except (ValueError, KeyError):
        return code
    return f"{m.zh} / {m.en}"


def _when(dt: datetime | None, now: datetime) -> str:
    if dt is None:
        return "never"
    minutes = int((now - dt).total_seconds() // 60)
    ago = f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"
    return f"{dt:%m-%d %H:%M} ({ago} ago)"


def _clock(offset_s: float | None) -> str:
    if offset_s is None:
        return "?"
    return f"⚠ {offset_text(offset_s)}" if clock_is_off(offset_s) else "ok"


def render_overview(engine: Engine, user: str, today: date | None = None) -> str:
    """The dashboard's one page (sections with ids the browser test looks for)."""
    today = today or date.today()
    now = datetime.now()
    with engine.connect() as conn:
        counts = conn.execute(
            select(EV.c.checkpoint, func.count(),
                   func.sum(case((EV.c.outcome == "allow", 1), else_=0)),
                   func.sum(case((EV.c.outcome == "deny", 1), else_=0)),
                   func.sum(case((and_(EV.c.outcome == "allow", EV.c.direction == "in"), 1),
                                 else_=0)),
                   func.sum(case((and_(EV.c.outcome == "allow", EV.c.direction == "out"), 1),
                                 else_=0)))
            .where(EV.c.local_date == today).group_by(EV.c.checkpoint)
            .order_by(EV.c.checkpoint)).all()
        denials = conn.execute(
            select(EV.c.reason, func.count()).where(EV.c.local_date == today,
                                                    EV.c.outcome == "deny")
            .group_by(EV.c.reason).order_by(func.count().desc())).all()
        fevers = conn.execute(
            select(EV.c.wall_utc, EV.c.checkpoint, EV.c.pass_number, EV.c.record)
            .where(EV.c.local_date == today, EV.c.reason == "fever")
            .order_by(EV.c.wall_utc.desc()).limit(50)).all()
        latest = (
            select(EV.c.pass_number, EV.c.household, EV.c.direction, EV.c.checkpoint,
                   EV.c.wall_utc,
                   func.row_number().over(partition_by=EV.c.pass_number,
                                          order_by=EV.c.wall_utc.desc()).label("rn"))
            .where(EV.c.outcome == "allow", EV.c.pass_number.is_not(None),
                   EV.c.local_date >= today - timedelta(days=OUT_DAYS))
            .subquery())
        out = conn.execute(
            select(latest.c.pass_number, latest.c.household, latest.c.checkpoint,
                   latest.c.wall_utc)
            .where(latest.c.rn == 1, latest.c.direction == "out")
            .order_by(latest.c.wall_utc).limit(200)).all()
        devices = conn.execute(select(DEV).order_by(DEV.c.compound, DEV.c.checkpoint)).all()
        findings = conn.execute(select(FI).order_by(FI.c.id.desc()).limit(50)).all()

    def temps(record: str) -> str:
        readings = json.loads(record).get("readings", [])
        return " / ".join(f"{r['used_c']:.1f}" for r in readings if r.get("used_c") is not None)

    body = _table("counts", f"今日各卡口 / Today ({today}) per checkpoint",
                  ["checkpoint", "total", "allowed", "denied", "in", "out"],
                  [list(r) for r in counts], "no movements today")
    body += _table("fevers", "确认发热 / Confirmed fevers", ["time (UTC)", "checkpoint", "pass",
                                                            "°C"],
                   [[f"{r.wall_utc:%H:%M}", r.checkpoint, r.pass_number or "visitor",
                     temps(r.record)] for r in fevers], "none today")
    body += _table("denials", "拒绝及原因 / Denials by reason", ["reason", "count"],
                   [[_reason_text(r[0]), r[1]] for r in denials], "none today")
    body += _table("out", f"外出未归 / Out now ({len(out)})",
                   ["pass", "household", "went out at", "since (UTC)"],
                   [[r.pass_number, r.household or "", r.checkpoint, f"{r.wall_utc:%m-%d %H:%M}"]
                    for r in out], "nobody is out")
    body += _table("devices", "设备 / Devices",
                   ["checkpoint", "compound", "last contact", "clock", "waiting",
                    "quarantined", "last seq", "missing seqs"],
                   [[d.checkpoint, d.compound, _when(d.last_contact, now),
                     _clock(d.clock_offset_s), d.pending, d.quarantined, d.last_seq,
                     ", ".join(f"{a}-{b}" for a, b in json.loads(d.gaps)) or "none"]
                    for d in devices], "no device enrolled")
    body += _table("findings", "冲突与异常 / Conflicts and findings",
                   ["when", "kind", "checkpoint", "seq", "detail"],
                   [[f"{f.at:%m-%d %H:%M}", f.kind, f.checkpoint, f.seq or "", f.detail]
                    for f in findings], "nothing to look at")
    return _page("区指挥部 / District command", body, user)


def _login_page(error: str = "") -> str:
    msg = f'<p class="warn">{escape(error)}</p>' if error else ""
    return _page("登录 / Sign in", (
        f'<form method="post" action="/login">{msg}'
        '<label>用户名 / User <input name="user" autocomplete="username" required></label>'
        '<label>密码 / Password <input name="password" type="password" '
        'autocomplete="current-password" required></label>'
        '<button type="submit">登录 / Sign in</button></form>'))


#: the sign-in form's body, for the OpenAPI schema (the form is parsed by hand)
_LOGIN_FORM: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["user", "password"],
        "properties": {"user": {"type": "string", "maxLength": 100},
                       "password": {"type": "string", "maxLength": 200}}}}}}}


def attach_dashboard(app: FastAPI, engine: Engine) -> None:
    def session_user(token: str | None) -> str | None:
        if not token:
            return None
        with engine.connect() as conn:
            row = conn.execute(select(SESSIONS.c.user, SESSIONS.c.expires_at)
                               .where(SESSIONS.c.token_hash == sha256_hex(token))).first()
        return row.user if row is not None and row.expires_at > datetime.now() else None

    def sign_in(user: str, password: str, client: str) -> tuple[str | None, timedelta | None]:
        """(session token, None) when the password is right; (None, None) when it is wrong;
        (None, wait) when a limit is reached (kiosk.server.ratelimit: the attempt is counted
        before the password is checked, and then it is not checked at all). An unknown user
        costs the same argon2 check as a known one. Every attempt is audited."""
        now = datetime.now()
        attempt = ratelimit.admit(engine, ratelimit.SIGN_IN, client, user, now)
        if not isinstance(attempt, int):
            return None, attempt
        with engine.connect() as conn:
            stored = conn.execute(select(USERS.c.password_hash)
                                  .where(USERS.c.name == user)).scalar_one_or_none()
        if not verify_password(stored, password):
            audit.record(engine, user, audit.SIGN_IN_FAILED,
                         {"known_user": stored is not None}, client)
            return None, None
        ratelimit.succeeded(engine, attempt)
        token = secrets.token_urlsafe(32)
        with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            conn.execute(delete(SESSIONS).where(SESSIONS.c.expires_at < now))
            conn.execute(insert(SESSIONS).values(
                token_hash=sha256_hex(token), user=user,
                expires_at=now + timedelta(hours=SESSION_HOURS)))
            audit.record_in(conn, user, audit.SIGN_IN, "", client)
        return token, None

    def sign_out(token: str, client: str) -> None:
        user = session_user(token)
        with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            conn.execute(delete(SESSIONS).where(SESSIONS.c.token_hash == sha256_hex(token)))
            if user is not None:
                audit.record_in(conn, user, audit.SIGN_OUT, "", client)

    def show_overview(user: str, client: str) -> str:
        """The page, and an audit row: it lists who is out and who had a fever."""
        page = render_overview(engine, user)
        audit.record(engine, user, audit.VIEW, {"page": "overview"}, client)
        return page

    @app.get("/", response_class=HTMLResponse)
    async def overview(request: Request) -> Response:
        user = await run_in_threadpool(session_user, request.cookies.get(COOKIE))
        if user is None:
            return RedirectResponse("/login", status_code=303)
        return HTMLResponse(await run_in_threadpool(show_overview, user, client_of(request)))

    @app.get("/login", response_class=HTMLResponse)
    async def login_form() -> HTMLResponse:
        return HTMLResponse(_login_page())

    @app.post("/login", response_class=HTMLResponse, openapi_extra=_LOGIN_FORM)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body())[:4096].decode(errors="replace"))
        user = form.get("user", [""])[0].strip()
        password = form.get("password", [""])[0]
        token, wait = await run_in_threadpool(sign_in, user, password, client_of(request))
        if wait is not None:
            minutes = minutes_to_wait(wait)
            return HTMLResponse(
                _login_page(f"尝试次数过多,请 {minutes} 分钟后再试 / Too many failed sign-ins: "
                            f"try again in {minutes} min"),
                status_code=429, headers=retry_after(wait))
        if token is None:
            return HTMLResponse(_login_page("用户名或密码错误 / Wrong user or password"),
                                status_code=401)
        response = RedirectResponse("/", status_code=303)
        # https directly, or from a trusted proxy's X-Forwarded-Proto (uvicorn, --trusted-proxy)
        secure = request.url.scheme == "https"
        response.set_cookie(COOKIE, token, max_age=SESSION_HOURS * 3600, httponly=True,
                            samesite="strict", secure=secure)
        return response

    @app.get("/logout")
    async def logout(request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        if token:
            await run_in_threadpool(sign_out, token, client_of(request))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response
