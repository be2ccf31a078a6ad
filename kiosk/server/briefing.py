"""The daily briefing (issue 15 point 7): one print-ready HTML page per day, written by the
central store's nightly export beside its CSV files, the page a duty officer hands to the
command: the day's totals and per compound, the dashboard's charts (the same SVG code),
open fever cases, and what looked wrong (silent gates, wrong clocks, stale data, conflicts
and chain findings).

The page stands alone: its CSS (the dashboard's, plus A4 print rules) is in the file, no
script, nothing from the network. For Chinese on any printer the CSS names the common CJK
fonts and, when a CJK font file is found (the store's ``static/fonts`` first, then the
system's WenQuanYi or Noto CJK), copies it once into ``fonts/`` beside the page and loads it
with @font-face, so the directory handed over prints the same anywhere; a PDF printed from
it embeds the glyphs. Personal data is masked unless the export is unmasked.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Engine

from kiosk.export.nightly import safe_label
from kiosk.server import cases
from kiosk.server.web import charts, queries
from kiosk.server.web.pages import gate_state
from kiosk.server.web.queries import Scope
from kiosk.server.web.settings import DashboardSettings
from kiosk.server.web.templating import TEMPLATES

STATIC = Path(__file__).parent / "web" / "static"
#: where a CJK font file is looked for, in order (the store's own first)
FONT_PLACES = (
    STATIC / "fonts",
    Path("/usr/share/fonts/truetype/wqy"),
    Path("/usr/share/fonts/opentype/noto"),
    Path("/usr/share/fonts/truetype/noto"),
    Path("/usr/share/fonts/noto-cjk"),
)
FONT_NAMES = ("wqy-microhei.ttc", "wqy-zenhei.ttc", "NotoSansCJK-Regular.ttc",
              "NotoSansSC-Regular.otf", "NotoSansCJKsc-Regular.otf")
FONT_DIR = "fonts"
#: health-strip rows on paper (the rest are counted)
STRIP_MAX = 40


@dataclass(frozen=True, slots=True)
class Briefing:
    path: Path
    font: Path | None  # the font file beside it, None when no CJK font file was found


def find_cjk_font() -> Path | None:
    """A CJK font file to embed, or None."""
    for place in FONT_PLACES:
        for name in FONT_NAMES:
            if (place / name).is_file():
                return place / name
    return None


def _font_beside(out_dir: Path) -> Path | None:
    font = find_cjk_font()
    if font is None:
        return None
    target = out_dir / FONT_DIR / font.name
    if not (target.is_file() and target.stat().st_size == font.stat().st_size):
        target.parent.mkdir(exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        shutil.copyfile(font, tmp)
        tmp.replace(target)
    return target


def briefing_name(label: str, day: date) -> str:
    return f"briefing_{safe_label(label)}_{day.isoformat()}.html"


def write_briefing(engine: Engine, day: date, out_dir: Path, *, label: str = "district",
                   compound: str | None = None, mask: bool = True,
                   settings: DashboardSettings | None = None) -> Briefing:
    """Write ``day``'s briefing for the district (or one compound) into ``out_dir``."""
    settings = settings or DashboardSettings.from_env()
    scope = Scope(compound)
    v = queries.view(engine, settings, scope, day)
    open_cases = cases.open_cases(engine, settings, compound)
    where = f" · {compound}" if compound else ""
    strip = [gate_state(g) for g in v.attention[:STRIP_MAX]]
    font = _font_beside(out_dir)
    css = (STATIC / "dashboard.css").read_text("utf-8") + (STATIC / "briefing.css").read_text(
        "utf-8")
    html = TEMPLATES.get_template("briefing.html").render(
        v=v, day=day, label=label, compound=compound, masked=mask, cases=open_cases,
        overdue_hours=f"{settings.case_overdue.total_seconds() / 3600:g}",
        written=datetime.now(settings.zone), zone=settings.zone.key, css=css,
        font_url=f"{FONT_DIR}/{font.name}" if font else None,
        hourly=charts.hourly_chart("hourly", f"每小时进出 / Movements per hour{where}",
                                   v.hourly_total().ins, v.hourly_total().outs),
        days=charts.days_chart("days", f"近 14 天拒绝与发热 / Denials and fevers, last 14 days"
                               f"{where}", [d.day for d in v.days],
                               [d.denials for d in v.days], [d.fevers for d in v.days]),
        strip=charts.health_strip("health", "需要注意的卡口 / Gates needing attention", strip)
        if strip else None, strip_more=max(len(v.attention) - STRIP_MAX, 0))
    path = out_dir / briefing_name(label, day)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(html, "utf-8")
    tmp.replace(path)
    return Briefing(path, font)
