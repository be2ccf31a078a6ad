"""The command dashboard in a real headless Chromium (Debian chromium + chromedriver, driven
by selenium) against a real ``kiosk serve`` on 127.0.0.1, in the command's zone
(Asia/Shanghai, the default; the kiosks run in it too): sign-in, then every page at a
desktop's and a phone's width, with screenshots kept in docs/screenshots/dashboard_*.png.

One browser for all pages (the viewport is switched with the DevTools protocol), SQLite only:
the queries on PostgreSQL are covered by test_sync_dashboard_views.py."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_seed import copy_event, seed_history, template_row
from sync_testkit import REPO, CentralServer, Kiosk, make_kiosk
from test_sync_clock import _sync_with_clock

from kiosk.core.model import Direction
from kiosk.core.screening import ReadingSource, make_reading
from kiosk.server import admin, audit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
SHOTS = REPO / "docs" / "screenshots"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
CJK = re.compile("[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def shanghai() -> Iterator[None]:
    """This process's kiosks and the server child keep time in Asia/Shanghai."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Shanghai"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture(scope="module")
def site(shanghai: None, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[CentralServer, list[Kiosk]]]:
    """Two compounds: 东湖小区 with 北门 and 南门 (clock 12 min fast), 西苑小区 with 西门,
    enrolled but never heard from."""
    d = tmp_path_factory.mktemp("dash")
    server = CentralServer(f"sqlite:///{d / 'central.sqlite3'}", d).start()
    north = make_kiosk(d, "北门", server, "东湖小区")
    south = make_kiosk(d, "南门", server, "东湖小区")
    west = make_kiosk(d, "西门", server, "西苑小区")
    yield server, [north, south, west]
    for k in (north, south, west):
        k.close()
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("chromium and chromium-driver are not installed (scripts/bootstrap)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--hide-scrollbars", "--window-size=1280,800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(20)
    driver.implicitly_wait(5)  # a form post navigates; find_element waits for the new page
    yield driver
    driver.quit()


def _view_at(browser: Any, size: str) -> None:
    width, height = SIZES[size]
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == "phone"})


def _check_and_shoot(browser: Any, name: str) -> None:
    """At each width: no sideways scrolling of the page, Chinese on it, a full-page picture
    in docs/screenshots (the picture is taken before the checks, so a failure has one)."""
    for size in SIZES:
        _view_at(browser, size)  # the page reflows at the new width (no reload)
        shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True})
        path = SHOTS / f"dashboard_{name}_{size}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        scroll = browser.execute_script("return document.documentElement.scrollWidth")
        inner = browser.execute_script("return window.innerWidth")
        assert scroll <= inner, f"{name} at {size}: {scroll} px wide in {inner}; see {path}"
        assert CJK.search(browser.find_element("tag name", "body").text), name
        # the stylesheet is applied (a Content-Security-Policy that blocks it leaves the
        # page bare, with wide tables running off a phone's screen)
        sheets = browser.execute_script(
            "return [...document.styleSheets].filter(s => s.cssRules.length).length")
        assert sheets >= 1, f"{name} at {size}: no stylesheet applied; see {path}"
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _click_to_next_page(browser: Any, element: Any) -> None:
    """Click and wait until the browser has left the page (a form posted back to the same
    address would otherwise let find_element answer from the old page)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    old = browser.find_element("tag name", "html")

    def left(_browser: Any) -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            # asked in the middle of the navigation, Chromium answers that the old node
            # "does not belong to the document" (an inspector error, not a stale element):
            # the page was left all the same (seen once in a few hundred runs under load)
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    element.click()
    WebDriverWait(browser, 15).until(left)


def test_duty_officer_signs_in_and_reads_the_district_a_compound_a_gate_and_who_is_out(
        site: tuple[CentralServer, list[Kiosk]], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    central, (north, south, _west) = site
    north.check("R1", "out")
    hot = [make_reading(t, source=ReadingSource.MANUAL) for t in (38.2, 38.4)]
    north.gate.check("R3", hot, direction=Direction.OUT)  # re-measured: confirmed fever
    south.check("NOPE", "in")
    south.check("R2", "out")  # same household as R1 on the same day: a conflict after sync
    for _ in range(2):  # the second sync reports the data age the first one fetched
        north.sync()
        _sync_with_clock(south, timedelta(minutes=12))
    now = datetime.now()  # Asia/Shanghai (see the shanghai fixture)
    today = now.date()
    like = template_row(central.engine, "北门")
    seeded_out = seed_history(central.engine, like, now, 8)
    # a fever recorded beside a denial for the papers: a fever all the same
    copy_event(central.engine, like, day=today, at_utc=datetime.now(UTC).replace(tzinfo=None),
               direction="in", outcome="deny", reason="unknown_pass", pass_number=None,
               escalated=True, temps=[38.6, 38.9])
    admin.add_user(central.engine, "组长", "correct horse battery")

    assert httpx.get(central.url + "/", follow_redirects=False).status_code == 303
    browser.get(central.url + "/")
    assert browser.current_url.endswith("/login")
    _check_and_shoot(browser, "login")
    browser.find_element(By.NAME, "user").send_keys("组长")
    browser.find_element(By.NAME, "password").send_keys("wrong password")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert "Wrong user or password" in browser.find_element(By.CLASS_NAME, "warn").text
    browser.find_element(By.NAME, "user").send_keys("组长")
    browser.find_element(By.NAME, "password").send_keys("correct horse battery")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def section(name: str) -> str:
        return str(browser.find_element(By.ID, name).text)

    # the district today
    assert "北门" in section("counts") and "南门" in section("counts")
    assert "38.4" in section("fevers") and "38.9" in section("fevers")
    assert "确认发热 / Confirmed fevers (2)" in section("fevers")
    assert "No valid pass" in section("denials")
    out_total = len(seeded_out) + 2  # and R1, R2
    assert f"Out now ({out_total})" in section("out")
    assert (f"All {out_total}" in section("out")) == (out_total > 10)
    compounds = section("compounds")
    assert "东湖小区" in compounds and "西苑小区" in compounds
    attention = section("attention")
    assert "西门" in attention and "南门" in attention and "北门" not in attention
    assert "快 12 分钟" in attention  # the wrong clock, in words, not only in red
    assert "quota_conflict" in section("findings")
    assert "西门" in section("stale") and "南门" not in section("stale")
    hourly = browser.find_element(By.CSS_SELECTOR, "#hourly svg title").get_attribute(
        "textContent")
    assert "Movements per hour" in hourly
    asof = browser.find_element(By.CLASS_NAME, "asof").text  # Shanghai time, not UTC
    assert f"{datetime.now():%m-%d %H:%M}" in asof or \
        f"{datetime.now() - timedelta(minutes=1):%m-%d %H:%M}" in asof
    _check_and_shoot(browser, "overview")

    # a compound, a gate, everyone out
    browser.find_element(By.LINK_TEXT, "东湖小区").click()
    assert "东湖小区" in browser.find_element(By.TAG_NAME, "h1").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#per-gate figure svg")) == 2
    assert "西门" not in section("devices")
    _check_and_shoot(browser, "compound")
    browser.find_element(By.CSS_SELECTOR, "#counts a").click()
    assert "北门" in browser.find_element(By.TAG_NAME, "h1").text
    assert "R3" in section("recent") and "38.4" in section("fevers")
    _check_and_shoot(browser, "gate")
    browser.get(central.url + "/out")
    assert f"{out_total} people out" in section("out")
    assert "R1" in section("out") and "R2" in section("out")
    assert all(number in section("out") for number in seeded_out)
    _check_and_shoot(browser, "out")

    # the fever's case: open at the top of the overview, followed up on its page
    _click_to_next_page(browser, browser.find_element(By.LINK_TEXT, "总览 / Overview"))
    assert "R3" in section("cases") and "待跟进" in section("cases")
    _click_to_next_page(browser, browser.find_element(By.CSS_SELECTOR, "#cases td a"))
    browser.find_element(By.NAME, "note").send_keys("已联系家属 / family called")
    _click_to_next_page(browser, browser.find_element(
        By.CSS_SELECTOR, "form.query button[type=submit]"))
    assert "组长" in section("steps") and "family called" in section("steps")
    _check_and_shoot(browser, "case")

    # contact tracing: R1's gate within ±30 minutes (R3, the fever, went out there too)
    _click_to_next_page(browser, browser.find_element(By.LINK_TEXT, "时空关联 / Tracing"))
    browser.find_element(By.NAME, "value").send_keys("R1")
    minutes = browser.find_element(By.NAME, "minutes")
    minutes.clear()
    minutes.send_keys("30")
    _click_to_next_page(browser, browser.find_element(
        By.CSS_SELECTOR, "form.query button[type=submit]"))
    assert "R3" in section("contacts") and "1-1-101" in section("household")
    _check_and_shoot(browser, "trace")

    browser.find_element(By.LINK_TEXT, "退出 / Sign out").click()
    assert browser.current_url.endswith("/login")
    browser.get(central.url + "/compound?name=东湖小区")
    assert browser.current_url.endswith("/login")


PAGES = ["/", "/compound?name=东湖小区", "/gate?compound=东湖小区&name=北门", "/out"]


def test_every_page_needs_a_session_is_audited_and_runs_no_inline_script_or_style(
        site: tuple[CentralServer, list[Kiosk]]) -> None:
    """A strict Content-Security-Policy (default-src 'self') blocks inline scripts and
    styles: the pages have none, their one stylesheet comes from the store."""
    central, _ = site
    admin.add_user(central.engine, "值班员", "correct horse battery")
    with httpx.Client(base_url=central.url) as web:
        for page in PAGES:
            r = web.get(page, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/login", page
        login = web.get("/login").text
        web.post("/login", data={"user": "值班员", "password": "correct horse battery"})
        for page in [*PAGES, "/out?compound=东湖小区&page=1"]:
            r = web.get(page)
            assert r.status_code == 200, page
            for html in (r.text, login):
                assert "<script" not in html and "<style" not in html and " style=" not in html
                assert 'href="/static/dashboard.css"' in html
        css = web.get("/static/dashboard.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        missing = web.get("/compound?name=没有")
        assert missing.status_code == 404 and "没有这个小区" in missing.text
        assert web.get("/gate?compound=东湖小区&name=东门").status_code == 404
        past = web.get("/out?page=99", follow_redirects=False)
        assert past.status_code == 303 and past.headers["location"] == "/out?page=1"
    viewed = [json.loads(e.detail) for e in audit.entries(central.engine, action=audit.VIEW)
              if e.actor == "值班员"]
    assert {v["page"] for v in viewed} == {"overview", "compound", "gate", "out"}
    assert {"page": "gate", "compound": "东湖小区", "gate": "北门"} in viewed


@contextmanager
def _signed_in(central: CentralServer, user: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=central.url) as web:
        r = web.post("/login", data={"user": user, "password": "correct horse battery"})
        assert r.status_code == 303
        yield web


def test_a_compound_user_sees_only_their_compound_however_they_ask(
        site: tuple[CentralServer, list[Kiosk]]) -> None:
    central, (north, _south, _west) = site
    north.check("R1", "out")
    north.sync()
    admin.add_user(central.engine, "东湖组长", "correct horse battery", role="compound",
                   compound="东湖小区")
    with _signed_in(central, "东湖组长") as web:
        r = web.get("/", follow_redirects=False)
        assert r.headers["location"] == "/compound?name=%E4%B8%9C%E6%B9%96%E5%B0%8F%E5%8C%BA"
        own = web.get("/compound?name=东湖小区")
        assert own.status_code == 200
        # the rules each gate runs: their own gates only, and nothing to publish them with
        # (rule sets are signed with the command's key on its own machine)
        assert 'id="rules-in-force"' in own.text and "西门" not in own.text
        assert "<form" not in own.text.split('id="devices"')[1].split("</section>")[0]
        for path in ("/rules", "/rules/publish"):
            assert web.post(path, data={"version": "9"}).status_code in (404, 405)
        for page in ("/compound?name=西苑小区", "/gate?compound=西苑小区&name=西门",
                     "/out?compound=西苑小区"):
            r = web.get(page)
            assert r.status_code == 403 and "您只能查看自己的小区 (东湖小区)" in r.text, page
            assert "西门" not in r.text
        out = web.get("/out").text  # no compound asked: their own
        assert "东湖小区" in out and "西苑小区" not in out and "<td>R1</td>" in out
    refused = [json.loads(e.detail) for e in audit.entries(central.engine, action=audit.VIEW)
               if e.actor == "东湖组长" and "refused" in e.detail]
    assert {r["page"] for r in refused} == {"compound", "gate", "out"}
    # a password reset without a role keeps the user in their compound
    admin.add_user(central.engine, "东湖组长", "correct horse battery")
    with _signed_in(central, "东湖组长") as web:
        assert web.get("/compound?name=西苑小区").status_code == 403


def test_a_viewer_sees_counts_and_pictures_but_no_pass_numbers(
        site: tuple[CentralServer, list[Kiosk]]) -> None:
    central, (north, south, _west) = site
    north.check("R1", "out")
    south.check("R2", "out")  # the household's second outing today: a conflict finding
    north.sync()
    south.sync()
    admin.add_user(central.engine, "观察员", "correct horse battery", role="viewer")
    with _signed_in(central, "观察员") as web:
        for page in ("/", "/out", "/compound?name=东湖小区", "/gate?compound=东湖小区&name=北门"):
            html = web.get(page).text
            assert "<td>R1</td>" not in html and "<td>R2</td>" not in html, page
            assert "1-1-101" not in html, page  # the household, also in findings' details
        assert "<td>**</td>" in web.get("/out").text  # R1, R2: masked, yet counted
        assert "<td>**</td>" in web.get("/gate?compound=东湖小区&name=北门").text
        assert 'id="hourly"' in web.get("/").text


def test_screenshots_are_kept_for_every_page_and_width() -> None:
    """What docs/DASHBOARD.md shows (the test above writes them)."""
    names = {p.name for p in Path(SHOTS).glob("dashboard_*.png")}
    for page in ("login", "overview", "compound", "gate", "out", "trace", "case"):
        for size in SIZES:
            assert f"dashboard_{page}_{size}.png" in names


def _trace_form(value: str, kind: str = "pass") -> dict[str, str]:
    today = datetime.now().date()  # Asia/Shanghai (the shanghai fixture)
    return {"kind": kind, "value": value, "first": f"{today - timedelta(days=13)}",
            "last": f"{today}", "minutes": "30"}


def test_contact_tracing_is_for_roles_that_see_personal_data_within_their_compound(
        site: tuple[CentralServer, list[Kiosk]]) -> None:
    """The page and the CSV: a district user traces anyone, every query audited; a
    compound user is refused another compound's event (403, audited); a viewer is refused
    the page, the query and the CSV."""
    from sqlalchemy import select

    from kiosk.export.csvfile import BOM
    from kiosk.server.ingest import EV
    from kiosk.server.tracing import TRACE

    central, (north, _south, west) = site
    north.check("R1", "out")
    north.check("R2", "out")  # the same gate a moment later: R1's contact
    west.check("R1", "in")
    north.sync()
    west.sync()
    with central.engine.connect() as conn:
        west_event = conn.execute(select(EV.c.id).where(EV.c.compound == "西苑小区")
                                  .limit(1)).scalar_one()
    for name, role, compound in (("追踪员", "district", None),
                                 ("东湖追踪", "compound", "东湖小区"),
                                 ("只看", "viewer", None)):
        admin.add_user(central.engine, name, "correct horse battery", role=role,
                       compound=compound)
    with _signed_in(central, "追踪员") as web:
        form = web.get("/trace")
        assert form.status_code == 200 and 'action="/trace"' in form.text
        assert "<script" not in form.text and " style=" not in form.text
        page = web.post("/trace", data=_trace_form("R1"))
        assert page.status_code == 200
        contacts = page.text.split('id="contacts"')[1].split("</section>")[0]
        assert "<td>R2</td>" in contacts
        csv = web.post("/trace.csv", data=_trace_form("R1"))
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert csv.content.decode("utf-8").startswith(BOM + "类别 / kind")
        assert ",R2," in csv.text
        bad = web.post("/trace", data={**_trace_form("R1"), "minutes": "9999"})
        assert bad.status_code == 400 and "240" in bad.text
    with _signed_in(central, "东湖追踪") as web:
        r = web.post("/trace", data=_trace_form(west_event, "event"))
        assert r.status_code == 403 and "西门" not in r.text
        assert web.post("/trace.csv", data=_trace_form(west_event, "event")
                        ).status_code == 403
        own = web.post("/trace", data=_trace_form("R1"))  # R1 passed both compounds' gates
        assert own.status_code == 200 and "西苑小区" not in own.text and "西门" not in own.text
    with _signed_in(central, "只看") as web:
        assert web.get("/trace").status_code == 403
        assert web.post("/trace", data=_trace_form("R1")).status_code == 403
        assert web.post("/trace.csv", data=_trace_form("R1")).status_code == 403
        assert "/trace" not in web.get("/").text  # no link to a page they may not open
    logged = [(e.actor, json.loads(e.detail)) for e in audit.entries(central.engine,
                                                                      action=TRACE)]
    district = [d for a, d in logged if a == "追踪员"]
    assert {d["csv"] for d in district} == {True, False}
    assert all(d["value"] == "R1" and d["contacts"] >= 1 for d in district)
    assert [d.get("refused") for a, d in logged if a == "东湖追踪"].count(True) == 2
    assert [d for a, d in logged if a == "只看"] == [{"refused": True, "role": "viewer"}] * 2


def test_a_fever_case_is_followed_by_its_compound_only_and_reaches_its_gates(
        site: tuple[CentralServer, list[Kiosk]]) -> None:
    from sqlalchemy import select

    from kiosk.server.cases import CASES

    central, (north, _south, west) = site
    hot = [make_reading(t, source=ReadingSource.MANUAL) for t in (38.5, 38.7)]
    north.gate.check("R2", hot, direction=Direction.IN)
    north.sync()
    for name, role, compound in (("东湖医生", "compound", "东湖小区"),
                                 ("西苑医生", "compound", "西苑小区"),
                                 ("看看", "viewer", None)):
        admin.add_user(central.engine, name, "correct horse battery", role=role,
                       compound=compound)
    with _signed_in(central, "东湖医生") as web:
        assert "R2" in web.get("/compound?name=东湖小区").text.split('id="cases"')[1] \
            .split("</section>")[0]
        with central.engine.connect() as conn:
            case_id = conn.execute(select(CASES.c.id).where(CASES.c.pass_number == "R2")
                                   ).scalar_one()
        r = web.post(f"/case?id={case_id}", data={"step": "isolation", "note": "居家"},
                     follow_redirects=False)
        assert r.status_code == 303
        assert "隔离中 / in isolation" in web.get(f"/case?id={case_id}").text
        bad = web.post(f"/case?id={case_id}", data={"step": "vanished", "note": ""})
        assert bad.status_code == 400 and "Unknown step" in bad.text
    with _signed_in(central, "西苑医生") as web:
        assert web.get(f"/case?id={case_id}").status_code == 403
        r = web.post(f"/case?id={case_id}", data={"step": "cleared", "note": "x"})
        assert r.status_code == 403
    with _signed_in(central, "看看") as web:
        page = web.get(f"/case?id={case_id}")
        assert page.status_code == 200 and "<td>R2</td>" not in page.text
        assert 'name="step"' not in page.text  # no form for a viewer
        assert web.post(f"/case?id={case_id}", data={"step": "cleared"}).status_code == 403
    with central.engine.connect() as conn:
        assert conn.execute(select(CASES.c.state).where(CASES.c.id == case_id)
                            ).scalar_one() == "isolation"  # the refused steps changed nothing
    # the gates of 东湖小区 hear that the case was taken over; 西苑小区's do not
    with north.client() as client:
        states = {c["state"] for c in client.changes("")["cases"]}
    assert "isolation" in states
    with west.client() as client:
        assert client.changes("")["cases"] == []
