"""Chart geometry for the dashboard's inline SVG (the templates draw it: charts.html).

Pure functions from counts to boxes and labels in a fixed viewBox; the SVG scales to the
page's width, so its coordinates are user units, not pixels. Each chart carries a title and
a one-sentence description (read by screen readers, shown as the figure's caption) and its
numbers as a table, so nothing is only a colour or only a picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

#: user units across: about a phone's CSS pixels, so on a phone the text is its set size
WIDTH = 360
PLOT_TOP = 14
AXIS_LEFT = 26
AXIS_BOTTOM = 20


@dataclass(frozen=True, slots=True)
class Series:
    """One set of bars: ``css`` names its colour in dashboard.css, ``name`` is its legend."""

    css: str
    name: str
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    css: str
    tip: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"
    css: str = ""


@dataclass(frozen=True, slots=True)
class BarChart:
    id: str
    title: str
    desc: str
    width: int
    height: int
    bars: list[Box]
    labels: list[Label]
    grid: list[float]
    series: list[Series]
    categories: list[str]
    left: int = AXIS_LEFT
    right: int = WIDTH - 14


def _nice_top(top: int) -> int:
    """The axis maximum: the smallest 1, 2 or 5 times a power of ten at or above ``top``."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= top:
                return m * step
        step *= 10


def _summary(series: Sequence[Series], categories: Sequence[str]) -> str:
    parts = []
    for s in series:
        total = sum(s.values)
        if total:
            peak = max(range(len(s.values)), key=lambda i: s.values[i])
            parts.append(f"{s.name}: {total} (最多 / most {categories[peak]}: "
                         f"{s.values[peak]})")
        else:
            parts.append(f"{s.name}: 0")
    return "; ".join(parts)


def grouped_bars(chart_id: str, title: str, categories: Sequence[str],
                 series: Sequence[Series], *, label_every: int = 1, label_last: bool = False,
                 show_values: bool = False, height: int = 170) -> BarChart:
    """Bars side by side per category (e.g. in and out per hour), one y axis from zero."""
    top = _nice_top(max((v for s in series for v in s.values), default=0) or 1)
    plot_w = WIDTH - AXIS_LEFT - 14  # room for the last category's label
    plot_h = height - PLOT_TOP - AXIS_BOTTOM
    slot = plot_w / max(len(categories), 1)
    bar_w = slot * 0.8 / max(len(series), 1)
    base = PLOT_TOP + plot_h
    bars: list[Box] = []
    labels: list[Label] = []
    for i, cat in enumerate(categories):
        x0 = AXIS_LEFT + i * slot + slot * 0.1
        for j, s in enumerate(series):
            v = s.values[i]
            h = plot_h * v / top
            x = x0 + j * bar_w
            if v:
                bars.append(Box(round(x, 1), round(base - h, 1), round(bar_w, 1),
                                round(h, 1), s.css, f"{cat} {s.name}: {v}"))
                if show_values:
                    labels.append(Label(round(x + bar_w / 2, 1), round(base - h - 2, 1),
                                        str(v), css="value"))
        if ((len(categories) - 1 - i) if label_last else i) % label_every == 0:
            labels.append(Label(round(AXIS_LEFT + i * slot + slot / 2, 1), height - 7, cat))
    ticks = (0, top // 2, top) if top % 2 == 0 else (0, top)  # whole people only
    grid = [round(base - plot_h * t / top, 1) for t in ticks]
    for y, value in zip(grid, ticks, strict=True):
        labels.append(Label(AXIS_LEFT - 4, y + 4, str(value), anchor="end", css="axis"))
    return BarChart(chart_id, title, _summary(series, categories), WIDTH, height, bars,
                    labels, grid, list(series), list(categories))


def hourly_chart(chart_id: str, title: str, ins: Sequence[int], outs: Sequence[int]
                 ) -> BarChart:
    """Allowed movements in and out per local hour (0-23)."""
    return grouped_bars(
        chart_id, title, [f"{h:02d}" for h in range(24)],
        [Series("in", "进 / In", tuple(ins)), Series("out", "出 / Out", tuple(outs))],
        label_every=3)


def days_chart(chart_id: str, title: str, days: Sequence[date], denials: Sequence[int],
               fevers: Sequence[int]) -> BarChart:
    """Denials and confirmed fevers per day (the last day is today)."""
    return grouped_bars(
        chart_id, title, [f"{d:%m-%d}" for d in days],
        [Series("deny", "拒绝 / Denials", tuple(denials)),
         Series("fever", "发热 / Fevers", tuple(fevers))],
        label_every=2, label_last=True, show_values=True)


@dataclass(frozen=True, slots=True)
class Cell:
    x: float
    y: float
    w: float
    h: float
    css: str
    text: str
    tip: str


@dataclass(frozen=True, slots=True)
class Strip:
    id: str
    title: str
    desc: str
    width: int
    height: int
    labels: list[Label]
    cells: list[Cell]


@dataclass(frozen=True, slots=True)
class GateState:
    """One gate's row of the health strip, already judged (css: ok, warn or bad)."""

    name: str
    contact: tuple[str, str, str]  # css, short text, full text
    data: tuple[str, str, str]
    clock: tuple[str, str, str]


STRIP_ROW = 24
STRIP_NAME_W = 84
STRIP_CELL_W = 88
#: longer gate names are cut (with "…") in the strip; the cell's tooltip has the full name
STRIP_NAME_CHARS = 7


def health_strip(strip_id: str, title: str, gates: Sequence[GateState]) -> Strip:
    """A row per gate: last contact, data waiting at the gate, clock, each cell coloured
    and labelled (green ok, amber warn, red bad)."""
    heads = ("联系 Contact", "数据 Data", "时钟 Clock")
    labels = [Label(STRIP_NAME_W + i * (STRIP_CELL_W + 4) + STRIP_CELL_W / 2, 13, h,
                    css="head") for i, h in enumerate(heads)]
    cells: list[Cell] = []
    bad = 0
    for row, g in enumerate(gates):
        y = 20 + row * (STRIP_ROW + 3)
        name = g.name if len(g.name) <= STRIP_NAME_CHARS else g.name[:STRIP_NAME_CHARS - 1] + "…"
        labels.append(Label(STRIP_NAME_W - 5, y + STRIP_ROW / 2 + 4, name, anchor="end"))
        for i, (css, short, full) in enumerate((g.contact, g.data, g.clock)):
            cells.append(Cell(STRIP_NAME_W + i * (STRIP_CELL_W + 4), y, STRIP_CELL_W,
                              STRIP_ROW, css, short, f"{g.name} {heads[i]}: {full}"))
        bad += any(c[0] == "bad" for c in (g.contact, g.data, g.clock))
    width = STRIP_NAME_W + 3 * (STRIP_CELL_W + 4)
    height = 20 + len(gates) * (STRIP_ROW + 3) + 2
    desc = f"卡口 {len(gates)} 个, 异常 {bad} 个 / gates: {len(gates)}, wrong: {bad}"
    return Strip(strip_id, title, desc, width, height, labels, cells)


def age_text(age: timedelta | None) -> str:
    """A short age for a cell: "3 min", "5 h", "2 d", "never"."""
    if age is None:
        return "从未 never"
    minutes = int(age.total_seconds() // 60)
    if minutes < 120:
        return f"{max(minutes, 0)} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} d"
