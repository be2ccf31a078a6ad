"""A fever case's page and its follow-up form: the case, every step entered (what, by whom,
when, the note) and, for a user who may act on its compound, a plain POST form for the next
step. A viewer sees the case masked and may not act; a compound user sees and acts on their
compound's cases only (another's: 403, audited)."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from kiosk.server import audit, cases
from kiosk.server.audit import client_of
from kiosk.server.cases import CaseError
from kiosk.server.roles import Staff
from kiosk.server.web import session
from kiosk.server.web.settings import DashboardSettings
from kiosk.server.web.templating import link, render

router = APIRouter()


async def _staff(request: Request) -> Staff | None:
    return await run_in_threadpool(session.session_staff, request.app.state.engine,
                                   request.cookies.get(session.COOKIE))


async def _show(request: Request, staff: Staff, case_id: int, *, error: str | None = None,
                status_code: int = 200) -> Response:
    engine = request.app.state.engine
    settings: DashboardSettings = request.app.state.dashboard
    found = await run_in_threadpool(cases.case_with_steps, engine, settings, case_id)
    who = {"user": staff.name, "masked": staff.masked}
    if found is None:
        return render(request, "not_found.html", {**who, "what": f"病例 / case #{case_id}"},
                      status_code=404)
    case, steps = found
    page = {"page": "case", "case": case_id, "compound": case.compound}
    if not staff.may_see(case.compound):
        await run_in_threadpool(audit.record, engine, staff.name, audit.VIEW,
                                {**page, "refused": True}, client_of(request))
        return render(request, "refused.html", {**who, "own": staff.compound},
                      status_code=403)
    await run_in_threadpool(audit.record, engine, staff.name, audit.VIEW, page,
                            client_of(request))
    return render(request, "case.html", {
        **who, "case": case, "steps": steps, "choices": cases.STEP_CHOICES,
        "may_act": not staff.masked and case.is_open, "error": error,
        "overdue_hours": f"{settings.case_overdue.total_seconds() / 3600:g}"},
        status_code=status_code)


@router.get("/case", response_class=HTMLResponse)
async def case_page(request: Request, id: int = 0) -> Response:  # noqa: A002 (the URL's)
    staff = await _staff(request)
    if staff is None:
        return RedirectResponse("/login", status_code=303)
    return await _show(request, staff, id)


@router.post("/case")
async def case_step(request: Request, id: int = 0) -> Response:  # noqa: A002
    """Enter the next step; back to the case page (303) when it is stored."""
    staff = await _staff(request)
    if staff is None:
        return RedirectResponse("/login", status_code=303)
    engine = request.app.state.engine
    settings: DashboardSettings = request.app.state.dashboard
    found = await run_in_threadpool(cases.case_with_steps, engine, settings, id)
    if found is None or not staff.may_see(found[0].compound) or staff.masked:
        if found is not None:
            await run_in_threadpool(audit.record, engine, staff.name, cases.CASE_STEP,
                                    {"case": id, "refused": True}, client_of(request))
            return render(request, "refused.html", {
                "user": staff.name, "masked": staff.masked, "own": staff.compound,
                "why": None if not staff.masked else
                "观察员不能处理病例 / A viewer may not act on cases"}, status_code=403)
        return await _show(request, staff, id)
    form = parse_qs((await request.body())[:8192].decode(errors="replace"))
    step = form.get("step", [""])[0]
    note = form.get("note", [""])[0]
    try:
        await run_in_threadpool(cases.add_step, engine, id, step, staff.name, note,
                                client_of(request))
    except CaseError as e:
        return await _show(request, staff, id, error=str(e), status_code=400)
    return RedirectResponse(link("/case", id=id), status_code=303)
