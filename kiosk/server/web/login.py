"""Sign-in and sign-out pages: a plain POST form (no script), a session cookie that is
HttpOnly, SameSite=Strict and Secure behind TLS."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from kiosk.server.audit import client_of
from kiosk.server.ratelimit import minutes_to_wait, retry_after
from kiosk.server.web import session
from kiosk.server.web.templating import render

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return render(request, "login.html", {})


#: the sign-in form's body, for the OpenAPI schema (the form is parsed by hand)
_LOGIN_FORM: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["user", "password"],
        "properties": {"user": {"type": "string", "maxLength": 100},
                       "password": {"type": "string", "maxLength": 200}}}}}}}


@router.post("/login", response_class=HTMLResponse, openapi_extra=_LOGIN_FORM)
async def login(request: Request) -> Response:
    form = parse_qs((await request.body())[:4096].decode(errors="replace"))
    user = form.get("user", [""])[0].strip()
    password = form.get("password", [""])[0]
    token, wait = await run_in_threadpool(session.sign_in, request.app.state.engine, user,
                                          password, client_of(request))
    if wait is not None:
        minutes = minutes_to_wait(wait)
        return render(request, "login.html",
                      {"error": f"尝试次数过多,请 {minutes} 分钟后再试 / Too many failed "
                                f"sign-ins: try again in {minutes} min"},
                      status_code=429, headers=retry_after(wait))
    if token is None:
        return render(request, "login.html",
                      {"error": "用户名或密码错误 / Wrong user or password"}, status_code=401)
    response = RedirectResponse("/", status_code=303)
    # https directly, or from a trusted proxy's X-Forwarded-Proto (uvicorn, --trusted-proxy)
    secure = request.url.scheme == "https"
    response.set_cookie(session.COOKIE, token, max_age=session.SESSION_HOURS * 3600,
                        httponly=True, samesite="strict", secure=secure)
    return response


@router.get("/logout")
async def logout(request: Request) -> Response:
    token = request.cookies.get(session.COOKIE)
    if token:
        await run_in_threadpool(session.sign_out, request.app.state.engine, token,
                                client_of(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(session.COOKIE)
    return response
