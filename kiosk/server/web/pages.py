"""The dashboard's pages behind the sign-in: the district today, a compound, a gate, and who
is out (all of them, page by page). Every view is audited: the pages list who is out and who
had a fever. A compound's users see only their compound (kiosk.server.roles): the district
page sends them to it, another compound's pages are refused (and the attempt audited)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from kiosk.core.clock import offset_text
from kiosk.server import audit, cases
from kiosk.server.audit import client_of
from kiosk.server.roles import Staff
from kiosk.server.web import charts, queries, session
from kiosk.server.web.queries import OUT_PAGE, GateHealth, Scope, View
from kiosk.server.web.settings import DashboardSettings
from kiosk.server.web.templating import ago, link, mdhm, render

router = APIRouter()
#: gates in the overview's health strip (the rest: on their compound's page)
STRIP_MAX = 40


def gate_state(g: GateHealth) -> charts.GateState:
    when = f"{mdhm(g.last_contact)} ({ago(g.contact_age)})"
    contact = ("bad" if g.silent else "ok", charts.age_text(g.contact_age), when)
    if g.quarantined or g.gaps:
        data = ("bad", f"缺 {g.quarantined or '?'}",
                f"隔离 / quarantined {g.quarantined}; 缺号 / missing {g.gaps or '—'}")
    elif g.held:  # a hub relayed them before the gate's key reached the district
        data = ("bad", f"暂存 {g.held}",
                f"暂存 {g.held} 条：密钥未登记 / {g.held} held: key not yet registered")
    elif g.pending:
        data = ("warn", f"待传 {g.pending}",
                f"待传 / waiting at the gate when it last uploaded: {g.pending}")
    else:
        data = ("ok", "同步 ok", "已同步 / nothing waiting")
    if g.clock_offset_s is None:
        clock = ("warn", "? 未知", "未知 / unknown")
    elif g.clock_off:
        text = offset_text(g.clock_offset_s)
        clock = ("bad", text.split(" / ")[0], text)
    else:
        clock = ("ok", "正常 ok", "正常 / ok")
    return charts.GateState(g.checkpoint, contact, data, clock)


def _charts(v: View, where: str) -> dict[str, Any]:
    total = v.hourly_total()
    return {
        "hourly": charts.hourly_chart("hourly", f"今日每小时进出 / Movements per hour today"
                                      f"{where}", total.ins, total.outs),
        "days": charts.days_chart("days", f"近 14 天拒绝与发热 / Denials and fevers, "
                                  f"last 14 days{where}", [d.day for d in v.days],
                                  [d.denials for d in v.days], [d.fevers for d in v.days]),
    }


async def _signed_in(request: Request) -> Staff | None:
    return await run_in_threadpool(session.session_staff, request.app.state.engine,
                                   request.cookies.get(session.COOKIE))


def _load(request: Request, staff: Staff, scope: Scope, page: dict[str, Any]
          ) -> tuple[View, list[cases.Case]]:
    """The page's view and its open fever cases (made up to date first)."""
    engine: Engine = request.app.state.engine
    settings: DashboardSettings = request.app.state.dashboard
    v = queries.view(engine, settings, scope)
    open_cases = cases.open_cases(engine, settings, scope.compound, scope.checkpoint)
    audit.record(engine, staff.name, audit.VIEW, page, client_of(request))
    return v, open_cases


def _who(staff: Staff) -> dict[str, Any]:
    """The layout's user and whether personal data is masked for them."""
    return {"user": staff.name, "masked": staff.masked}


def _cases(request: Request, open_cases: list[cases.Case]) -> dict[str, Any]:
    settings: DashboardSettings = request.app.state.dashboard
    return {"cases": open_cases,
            "overdue_hours": f"{settings.case_overdue.total_seconds() / 3600:g}"}


def _not_found(request: Request, staff: Staff, what: str) -> HTMLResponse:
    return render(request, "not_found.html", {**_who(staff), "what": what}, status_code=404)


async def _refused(request: Request, staff: Staff, page: dict[str, Any]) -> HTMLResponse:
    """Another compound's page: 403, and the attempt in the audit log."""
    await run_in_threadpool(audit.record, request.app.state.engine, staff.name, audit.VIEW,
                            {**page, "refused": True}, client_of(request))
    return render(request, "refused.html", {**_who(staff), "own": staff.compound},
                  status_code=403)


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request) -> Response:
    staff = await _signed_in(request)
    if staff is None:
        return RedirectResponse("/login", status_code=303)
    if staff.compound is not None:
        return RedirectResponse(link("/compound", name=staff.compound), status_code=303)
    v, open_cases = await run_in_threadpool(_load, request, staff, Scope(),
                                            {"page": "overview"})
    attention = v.attention
    return render(request, "overview.html", {
        **_who(staff), "v": v, **_charts(v, ""), **_cases(request, open_cases),
        "strip": charts.health_strip(
            "health", "需要注意的卡口 / Gates needing attention",
            [gate_state(g) for g in attention[:STRIP_MAX]]) if attention else None,
        "strip_more": max(len(attention) - STRIP_MAX, 0)})


@router.get("/compound", response_class=HTMLResponse)
async def compound(request: Request, name: str = "") -> Response:
    staff = await _signed_in(request)
    if staff is None:
        return RedirectResponse("/login", status_code=303)
    page = {"page": "compound", "compound": name}
    if not staff.may_see(name):
        return await _refused(request, staff, page)
    v, open_cases = await run_in_threadpool(_load, request, staff, Scope(name), page)
    if not v.gates and not v.tallies:
        return _not_found(request, staff, f"小区 / compound {name!r}")
    per_gate = [charts.hourly_chart(f"hourly-{i}", f"{h.checkpoint}", h.ins, h.outs)
                for i, h in enumerate(v.hourly)]
    return render(request, "compound.html", {
        **_who(staff), "v": v, "compound": name, **_charts(v, f" · {name}"),
        **_cases(request, open_cases),
        "per_gate": per_gate,
        "strip": charts.health_strip("health", f"卡口状态 / Gate health · {name}",
                                     [gate_state(g) for g in v.gates]) if v.gates else None})


@router.get("/gate", response_class=HTMLResponse)
async def gate(request: Request, compound: str = "", name: str = "") -> Response:
    staff = await _signed_in(request)
    if staff is None:
        return RedirectResponse("/login", status_code=303)
    page = {"page": "gate", "compound": compound, "gate": name}
    if not staff.may_see(compound):
        return await _refused(request, staff, page)
    v, open_cases = await run_in_threadpool(_load, request, staff, Scope(compound, name),
                                            page)
    if not v.gates and not v.tallies:
        return _not_found(request, staff, f"卡口 / gate {name!r} ({compound})")
    return render(request, "gate.html", {
        **_who(staff), "v": v, "compound": compound, "gate": name,
        **_cases(request, open_cases),
        **_charts(v, f" · {name}"),
        "strip": charts.health_strip("health", f"卡口状态 / Gate health · {name}",
                                     [gate_state(g) for g in v.gates]) if v.gates else None})


@router.get("/out", response_class=HTMLResponse)
async def out_now(request: Request, compound: str = "", gate: str = "",
                  page: int = 1) -> Response:
    """Everyone out now, OUT_PAGE a page, longest out first."""
    staff = await _signed_in(request)
    if staff is None:
        return RedirectResponse("/login", status_code=303)
    if compound and not staff.may_see(compound):
        return await _refused(request, staff, {"page": "out", "compound": compound})
    compound = compound or staff.compound or ""
    engine: Engine = request.app.state.engine
    settings: DashboardSettings = request.app.state.dashboard
    scope = Scope(compound or None, gate or None)
    page = max(page, 1)

    def load() -> tuple[int, list[queries.Outside]]:
        today = settings.today()
        with engine.connect() as conn:
            total = sum(queries.out_now_counts(conn, scope, today).values())
            rows = queries.out_now_page(conn, settings, scope, today,
                                        (page - 1) * OUT_PAGE, OUT_PAGE)
        audit.record(engine, staff.name, audit.VIEW, {"page": "out", "compound": compound,
                                                "gate": gate, "n": page}, client_of(request))
        return total, rows

    total, rows = await run_in_threadpool(load)
    pages = max((total + OUT_PAGE - 1) // OUT_PAGE, 1)
    if page > pages:  # past the end (people came back since the link was made)
        return RedirectResponse(link("/out", compound=compound, gate=gate, page=pages),
                                status_code=303)
    return render(request, "out.html", {
        **_who(staff), "rows": rows, "total": total, "page": page, "pages": pages,
        "compound": compound, "gate": gate, "first": (page - 1) * OUT_PAGE})
