"""The daily briefing: written for a day of a real store (SQLite; its queries are the
dashboard's, tested on PostgreSQL in test_sync_dashboard_views.py), standalone (no script,
nothing from the network), printed to PDF by headless Chromium with the Chinese text in it.
That the nightly export writes it beside the CSV files: test_sync_scope.py."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dashboard_seed import store_events
from sqlalchemy import Engine, insert

from kiosk.server import admin
from kiosk.server.briefing import find_cjk_font, write_briefing
from kiosk.server.db import open_server_store
from kiosk.server.ingest import FI
from kiosk.server.web.settings import DashboardSettings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOTEXT = shutil.which("pdftotext")
SHANGHAI = DashboardSettings(ZoneInfo("Asia/Shanghai"))
SHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "briefing_a4.png"


def _ev(day: date, at: datetime, **more: Any) -> dict[str, Any]:
    return {"local_date": day, "id": str(uuid.uuid4()), "device_id": "d1", "seq": 1,
            "wall_utc": at, "checkpoint": "北门", "compound": "东湖小区", "direction": "out",
            "pass_number": "R1", "household": "1-1-101", "outcome": "allow", "reason": "ok",
            "counts_against_quota": True, "escalated": False, "prev_hash": "0" * 64,
            "hash": "1" * 64, "record": '{"readings": [{"used_c": 38.6}]}',
            "received_at": at, "change_id": 1, **more}


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    e = open_server_store(f"sqlite:///{tmp_path / 'central.sqlite3'}")
    admin.enrol_device(e, admin.make_enrolment_code(e, "西门", "西苑小区"), "never-heard")
    now = datetime.now(UTC).replace(tzinfo=None)
    day = SHANGHAI.from_utc(now).date()
    store_events(e, [_ev(day, now - timedelta(minutes=i)) for i in range(5)] + [
        _ev(day, now, pass_number="R3", household="2-1-202", direction="in", outcome="deny",
            reason="fever", escalated=True)])
    with e.begin() as conn:
        conn.execute(insert(FI).values(at=now, kind="quota_conflict",
                                       device_id="d1", checkpoint="北门", compound="东湖小区",
                                       seq=1, detail="1-1-101 twice"))
    return e


def test_the_briefing_has_the_days_totals_cases_and_anomalies_masked(engine: Engine,
                                                                     tmp_path: Path):
    day = SHANGHAI.today()
    b = write_briefing(engine, day, tmp_path, settings=SHANGHAI)
    html = b.path.read_text("utf-8")
    assert b.path.name == f"briefing_district_{day}.html"
    assert "区指挥部每日简报" in html and "@page{size:A4" in html
    assert 'font-family:"Briefing CJK"' in html  # the CSS as written, not HTML-escaped
    assert "<script" not in html and "http://" not in html and "https://" not in html
    cases = html.split('id="cases"')[1].split("</section>")[0]
    assert "R******03" not in cases and "<td>R3</td>" not in html  # masked
    assert "待跟进" in cases  # the fever is an open case
    assert "西门" in html.split('id="anomalies"')[1]  # never heard from: needs attention
    assert "quota_conflict" in html and "1-1-101 twice" not in html  # detail hidden
    assert '<svg viewBox' in html  # the dashboard's charts
    if find_cjk_font() is not None:
        assert b.font is not None and b.font.parent == tmp_path / "fonts"
        assert f'url("fonts/{b.font.name}")' in html
    unmasked = write_briefing(engine, day, tmp_path, mask=False, settings=SHANGHAI)
    assert "<td>R3</td>" in unmasked.path.read_text("utf-8")


def test_the_briefing_prints_to_an_a4_pdf_with_its_chinese_text(engine: Engine,
                                                                tmp_path: Path):
    if CHROMIUM is None or PDFTOTEXT is None:
        pytest.skip("chromium and poppler-utils (pdftotext) are needed")
    b = write_briefing(engine, SHANGHAI.today(), tmp_path, settings=SHANGHAI)
    pdf = tmp_path / "briefing.pdf"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", b.path.as_uri()],
                   check=True, capture_output=True, timeout=60)
    text = subprocess.run([PDFTOTEXT, "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout
    for words in ("区指挥部每日简报", "未结发热病例", "东湖小区", "需要注意的卡口"):
        assert words in re.sub(r"\s+", "", text), words
    info = subprocess.run([shutil.which("pdfinfo") or "pdfinfo", str(pdf)],
                          capture_output=True, text=True).stdout
    assert "(A4)" in info, info
    fonts = subprocess.run([shutil.which("pdffonts") or "pdffonts", str(pdf)],
                           capture_output=True, text=True).stdout
    assert re.search(r"(?i)wenquanyi|wqy|noto.*cjk", fonts) or find_cjk_font() is None, fonts
    ppm = shutil.which("pdftoppm")
    if ppm:  # the first page, kept for docs/DASHBOARD.md
        subprocess.run([ppm, "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile",
                        str(pdf), str(SHOT.with_suffix(""))], check=True, timeout=60)
