"""Inline SVG charts for reports: pure functions from data to an SVG string.

* readable in grayscale and for colour-blind readers: series differ by pattern
  (hatching), dash style and marker shape, and every bar or line carries a direct label;
* every text is escaped here (labels come from logs), so the result is safe to insert
  into HTML as ``Markup``; it is also well-formed XML;
* fixed pixel geometry with a ``viewBox`` so browsers and WeasyPrint scale it alike.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence

from markupsafe import Markup, escape

__all__ = ["hbar_chart", "line_chart", "nice_ticks", "stacked_bar_chart"]

_FONT = "'Noto Sans CJK JP', 'Noto Sans JP', sans-serif"
_INK = "#1a1a1a"
_GRID = "#cccccc"
_WIDTH = 640
_LABEL_WIDTH = 180.0  # pixels left of the bars for their labels

# (fill, pattern body or None, text colour on the fill): light to dark, distinct in grayscale
_SWATCHES: list[tuple[str, str | None, str]] = [
    ("#ffffff", None, _INK),
    ("#ffffff", '<path d="M0,6 L6,0" stroke="#444" stroke-width="1.2"/>', _INK),
    ("#bdbdbd", '<path d="M0,6 L6,0 M0,0 L6,6" stroke="#222" stroke-width="1"/>', _INK),
    ("#262626", None, "#ffffff"),
]
_DASHES = ["", "6 3", "2 3", "10 3 2 3"]
_MARKERS = ["circle", "square", "triangle", "diamond"]


def _uid(uid: str) -> str:
    """An id prefix safe in XML ids and CSS url() references."""
    return re.sub(r"[^a-z0-9-]", "-", uid.lower()) or "chart"


def _text_width(text: str, size: float) -> float:
    """Rough rendered width: East Asian wide characters take a full em."""
    return sum(size if unicodedata.east_asian_width(c) in "WF" else size * 0.6 for c in text)


def _short(label: str, width: float = _LABEL_WIDTH, size: float = 11) -> str:
    """*label* on one line, cut with an ellipsis to fit *width* pixels."""
    label = " ".join(label.split())
    if _text_width(label, size) <= width:
        return label
    out = ""
    for c in label:
        if _text_width(out + c, size) > width - size:
            break
        out += c
    return out + "…"


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def nice_ticks(maximum: float, count: int = 4, *, integer: bool = True) -> list[float]:
    """Round tick values from 0 covering *maximum*; whole steps for counts."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, math.ceil(step))
    ticks = [0.0]
    while ticks[-1] < maximum:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _open(uid: str, title: str, height: float, defs: str = "") -> str:
    t = escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{uid}" role="img" aria-labelledby="{uid}-title" '
        f'width="{_WIDTH}" height="{height:.0f}" viewBox="0 0 {_WIDTH} {height:.0f}" '
        f'font-family="{_FONT}" font-size="11" fill="{_INK}">'
        f'<title id="{uid}-title">{t}</title>{defs}'
        f'<text x="0" y="14" font-size="13" font-weight="bold">{t}</text>'
    )


def _patterns(uid: str, n: int) -> str:
    out = []
    for i in range(n):
        fill, body, _ = _SWATCHES[i % len(_SWATCHES)]
        out.append(
            f'<pattern id="{uid}-p{i}" patternUnits="userSpaceOnUse" width="6" height="6">'
            f'<rect width="6" height="6" fill="{fill}"/>{body or ""}</pattern>'
        )
    return "<defs>" + "".join(out) + "</defs>"


def _empty(uid: str, title: str, message: str) -> Markup:
    svg = _open(uid, title, 50) + f'<text x="0" y="40" fill="#555">{escape(message)}</text></svg>'
    return Markup(svg)  # noqa: S704 - every text above is escaped


def hbar_chart(bars: Sequence[tuple[str, float]], *, title: str, uid: str = "hbar", empty: str = "No data") -> Markup:
    """Horizontal bars, one per (label, value), each labelled with its value."""
    uid = _uid(uid)
    if not bars or all(v <= 0 for _, v in bars):
        return _empty(uid, title, empty)
    row, top, label_w = 22, 28, 190
    height = top + row * len(bars) + 24
    ticks = nice_ticks(max(v for _, v in bars))
    scale = (_WIDTH - label_w - 50) / ticks[-1]
    parts = [_open(uid, title, height)]
    parts += _x_grid(ticks, scale, label_w, top, top + row * len(bars))
    for i, (label, value) in enumerate(bars):
        y = top + i * row
        w = max(value * scale, 0.0)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">'
            f"<title>{escape(label)}</title>{escape(_short(label))}</text>"
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="#8c8c8c" stroke="{_INK}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}">{escape(_num(value))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def stacked_bar_chart(
    rows: Sequence[tuple[str, Sequence[int]]],
    *,
    series: Sequence[str],
    title: str,
    uid: str = "stacked",
    empty: str = "No data",
) -> Markup:
    """Horizontal stacked bars: one row per (label, values aligned with *series*),
    each segment hatched by series, counted inside when it fits, the total at the end."""
    uid = _uid(uid)
    totals = [sum(values) for _, values in rows]
    if not rows or not any(totals):
        return _empty(uid, title, empty)
    row, top, label_w, legend_h = 24, 28, 190, 26
    height = top + row * len(rows) + 20 + legend_h
    ticks = nice_ticks(max(totals))
    scale = (_WIDTH - label_w - 50) / ticks[-1]
    parts = [_open(uid, title, height, _patterns(uid, len(series)))]
    parts += _x_grid(ticks, scale, label_w, top, top + row * len(rows))
    for i, (label, values) in enumerate(rows):
        y = top + i * row
        x = float(label_w)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 16}" text-anchor="end">'
            f"<title>{escape(label)}</title>{escape(_short(label))}</text>"
        )
        for s, value in enumerate(values):
            if value <= 0:
                continue
            w = value * scale
            ink = _SWATCHES[s % len(_SWATCHES)][2]
            name = escape(series[s]) if s < len(series) else ""
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="url(#{uid}-p{s})" '
                f'stroke="{_INK}"><title>{name}: {value}</title></rect>'
            )
            if w >= _text_width(str(value), 10) + 6:
                bg = "" if ink != _INK or s == 0 else ' paint-order="stroke" stroke="#fff" stroke-width="3"'
                parts.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + 16}" text-anchor="middle" font-size="10" '
                    f'fill="{ink}"{bg}>{value}</text>'
                )
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 16}" font-weight="bold">{escape(_num(totals[i]))}</text>')
    ly = top + row * len(rows) + 22
    lx = float(label_w)
    for s, name in enumerate(series):
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly}" width="14" height="12" fill="url(#{uid}-p{s})" stroke="{_INK}"/>'
            f'<text x="{lx + 18:.1f}" y="{ly + 10}">{escape(name)}</text>'
        )
        lx += 18 + _text_width(name, 11) + 16
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    uid: str = "trend",
    empty: str = "No data",
) -> Markup:
    """Lines over shared x labels (e.g. days); series differ by dash and marker and are
    named at their last point."""
    uid = _uid(uid)
    if not x_labels or not series:
        return _empty(uid, title, empty)
    left, right, top, bottom = 44, 130, 28, 40
    plot_h = 170
    height = top + plot_h + bottom
    plot_w = _WIDTH - left - right
    ticks = nice_ticks(max((max(v, default=0) for _, v in series), default=0))
    step = plot_w / max(len(x_labels) - 1, 1)

    def y_of(value: float) -> float:
        return top + plot_h - value / ticks[-1] * plot_h

    def x_of(i: int) -> float:
        return left + (i * step if len(x_labels) > 1 else plot_w / 2)

    parts = [_open(uid, title, height)]
    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{_GRID}"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{escape(_num(tick))}</text>'
        )
    every = max(1, math.ceil(len(x_labels) / 10))
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == len(x_labels) - 1:
            parts.append(
                f'<text x="{x_of(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" font-size="10">'
                f"{escape(_short(label, 60, 10))}</text>"
            )
    ends: list[float] = []
    for s, (name, values) in enumerate(series):
        points = [(x_of(i), y_of(v)) for i, v in enumerate(values[: len(x_labels)])]
        if not points:
            continue
        dash = _DASHES[s % len(_DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{_INK}" stroke-width="1.6"{dash_attr}/>')
        marker = _MARKERS[s % len(_MARKERS)]
        parts += [_marker(marker, x, y) for x, y in points]
        end_y = points[-1][1] + 4
        while any(abs(end_y - e) < 13 for e in ends):  # keep end labels apart
            end_y += 13
        ends.append(end_y)
        parts.append(
            f'<text x="{points[-1][0] + 8:.1f}" y="{end_y:.1f}"><title>{escape(name)}</title>'
            f"{escape(_short(name, right - 40))} ({escape(_num(values[len(points) - 1]))})</text>"
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{_INK}"/></svg>'
    )
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def _marker(kind: str, x: float, y: float) -> str:
    style = f'fill="#ffffff" stroke="{_INK}" stroke-width="1.3"'
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" {style}/>'
    if kind == "square":
        return f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" {style}/>'
    if kind == "triangle":
        return f'<path d="M{x:.1f},{y - 4:.1f} L{x + 4:.1f},{y + 3:.1f} L{x - 4:.1f},{y + 3:.1f} Z" {style}/>'
    return f'<path d="M{x:.1f},{y - 4:.1f} L{x + 4:.1f},{y:.1f} L{x:.1f},{y + 4:.1f} L{x - 4:.1f},{y:.1f} Z" {style}/>'


def _x_grid(ticks: list[float], scale: float, left: float, top: float, bottom: float) -> list[str]:
    out = []
    for tick in ticks:
        x = left + tick * scale
        out.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="{_GRID}"/>'
            f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" font-size="10">{escape(_num(tick))}</text>'
        )
    return out
