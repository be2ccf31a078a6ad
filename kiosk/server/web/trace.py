"""The contact-tracing page (时空关联) and its CSV: a plain POST form (the subject stays out
of URLs and access logs), the results on the page, the same results as CSV written by the
nightly export's Excel-safe writer. Only roles that see personal data trace (a viewer gets
403); a compound user traces only their compound's people (another compound's pass,
household or event: 403). Every query, refused ones too, is in the audit log."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from kiosk.core.privacy import mask_pass_number
from kiosk.server import audit, tracing
from kiosk.server.audit import client_of
from kiosk.server.roles import Staff
from kiosk.server.tracing import SubjectKind, TraceError, TraceQuery, TraceResult
from kiosk.server.web import session
from kiosk.server.web.settings import DashboardSettings
from kiosk.server.web.templating import render

router = APIRouter()
#: days a new form asks for, the last one today
DEFAULT_DAYS = 14
DEFAULT_MINUTES = 15


async def _staff(request: Request) -> Staff | None:
    return await run_in_threadpool(session.session_staff, request.app.state.engine,
                                   request.cookies.get(session.COOKIE))


async def _refused_viewer(request: Request, staff: Staff, *, query: bool = True
                         ) -> HTMLResponse:
    """403 for a role that sees no personal data; a query they posted is audited."""
    if query:
        await run_in_threadpool(audit.record, request.app.state.engine, staff.name,
                                tracing.TRACE, {"refused": True, "role": staff.role.value},
                                client_of(request))
    return render(request, "refused.html", {
        "user": staff.name, "masked": staff.masked, "own": staff.compound,
        "why": "查看人员信息需要相应权限 / Tracing shows personal data: your role may not "
               "see it"}, status_code=403)


def _form_values(settings: DashboardSettings, form: dict[str, list[str]]
                 ) -> tuple[dict[str, str], TraceQuery | str]:
    """The form as typed (to show it again) and the query, or why it is refused."""
    today = settings.today()
    shown = {"kind": "pass", "value": "", "first": (today - timedelta(days=DEFAULT_DAYS - 1))
             .isoformat(), "last": today.isoformat(), "minutes": str(DEFAULT_MINUTES)}
    shown.update({k: form[k][0].strip() for k in shown if form.get(k)})
    try:
        q = TraceQuery(SubjectKind(shown["kind"]), shown["value"],
                       date.fromisoformat(shown["first"]), date.fromisoformat(shown["last"]),
                       int(shown["minutes"]))
    except ValueError:
        return shown, "日期、分钟数或类别无效 / A date, the minutes or the kind is not valid"
    return shown, q.problem() or q


@router.get("/trace", response_class=HTMLResponse)
async def trace_form(request: Request) -> Response:
    staff = await _staff(request)
    if staff is None:
        return RedirectResponse("/login", status_code=303)
    if staff.masked:
        return await _refused_viewer(request, staff, query=False)
    shown, _ = _form_values(request.app.state.dashboard, {})
    return render(request, "trace.html", {"user": staff.name, "masked": staff.masked,
                                          "form": shown, "result": None})


async def _run(request: Request, staff: Staff, *, csv: bool
               ) -> tuple[dict[str, str], TraceQuery | None, TraceResult | None, Response | None]:
    """The query of the posted form, run within the user's compound and audited; or the
    response that refuses it."""
    form = parse_qs((await request.body())[:4096].decode(errors="replace"))
    settings: DashboardSettings = request.app.state.dashboard
    shown, q = _form_values(settings, form)
    engine = request.app.state.engine
    if isinstance(q, str):
        return shown, None, None, render(request, "trace.html", {
            "user": staff.name, "masked": staff.masked, "form": shown, "result": None,
            "error": q}, status_code=400)

    def run() -> TraceResult | None:
        if staff.compound is not None:
            belongs = tracing.subject_compounds(engine, q)
            if belongs and staff.compound not in belongs:
                audit.record(engine, staff.name, tracing.TRACE,
                             tracing.audit_detail(q, None, csv=csv, refused=True),
                             client_of(request))
                return None
        result = tracing.trace(engine, settings, q, staff.compound)
        audit.record(engine, staff.name, tracing.TRACE,
                     tracing.audit_detail(q, result, csv=csv), client_of(request))
        return result

    try:
        result = await run_in_threadpool(run)
    except TraceError as e:
        return shown, None, None, render(request, "trace.html", {
            "user": staff.name, "masked": staff.masked, "form": shown, "result": None,
            "error": str(e)}, status_code=400)
    if result is None:
        return shown, q, None, render(request, "refused.html", {
            "user": staff.name, "masked": staff.masked, "own": staff.compound},
            status_code=403)
    return shown, q, result, None


@router.post("/trace", response_class=HTMLResponse)
async def trace_page(request: Request) -> Response:
    staff = await _staff(request)
    if staff is None:
        return RedirectResponse("/login", status_code=303)
    if staff.masked:
        return await _refused_viewer(request, staff)
    shown, _q, result, refused = await _run(request, staff, csv=False)
    if refused is not None:
        return refused
    return render(request, "trace.html", {"user": staff.name, "masked": staff.masked,
                                          "form": shown, "result": result})


@router.post("/trace.csv")
async def trace_csv(request: Request) -> Response:
    staff = await _staff(request)
    if staff is None:
        return RedirectResponse("/login", status_code=303)
    if staff.masked:
        return await _refused_viewer(request, staff)
    _shown, q, result, refused = await _run(request, staff, csv=True)
    if refused is not None or result is None or q is None:
        return refused or Response(status_code=400)

    def write() -> bytes:
        with tempfile.TemporaryDirectory(prefix="kiosk-trace-") as tmp:
            path = Path(tmp) / "trace.csv"
            tracing.write_trace_csv(path, result, mask_pass_number if staff.masked
                                    else str)
            return path.read_bytes()

    name = f"trace-{q.kind.value}-{q.first:%Y%m%d}-{q.last:%Y%m%d}.csv"
    return Response(await run_in_threadpool(write), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})
