"""Distributions as horizontal box plots: whiskers from the 10th to the 90th percentile, a box from the 25th to
the 75th, a line at the median, and an optional marker per row (e.g. the survey figure the row stands beside).
A linear axis for amounts and percentages, a logarithmic one for durations (seconds to days).

Same conventions as charts.py: text measured before it is placed, labels cut with an ellipsis, nothing
outside the SVG (the Chromium test checks it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

import msgspec

from analytics.htmlkit.charts import (
    BARS_MAX,
    CHART_WIDTH_PX,
    PALETTE,
    _bounds,
    _label_width,
    _reference_lines,
    _svg_open,
    _text,
    fmt,
    fmt_duration,
    text_width,
    ticks,
)

MARKER_COLOUR = "#000000"
DURATION_TICKS = (1, 10, 60, 600, 3600, 6 * 3600, 86400, 5 * 86400, 30 * 86400)


class BoxRow(msgspec.Struct, frozen=True):
    label: str
    p10: float
    p25: float
    p50: float
    p75: float
    p90: float
    colour: str = PALETTE[0]
    marker: float | None = None  # drawn as a black diamond
    note: str = ""  # after the median, e.g. "n=340"


def _axis(values: list[float], log: bool) -> tuple[float, float]:
    if not log:
        return _bounds(values)
    lo = math.log10(max(min(values, default=10.0), 1.0))
    hi = math.log10(max(max(values, default=100.0), 10.0))
    return lo, (hi if hi - lo >= 1 else lo + 1)


def _legend(y: float, marker_name: str) -> str:
    parts = [
        f'<rect x="8" y="{y - 9}" width="22" height="10" fill="#bbb" stroke="#555"/>',
        _text(34, y, "25th-75th percentile, | median, whiskers 10th-90th", 420, fill="#444", font_size=11),
    ]
    if marker_name:
        parts.append(f'<path d="M470 {y - 9} l5 5 l-5 5 l-5 -5 z" fill="{MARKER_COLOUR}"/>'
                     + _text(480, y, marker_name, CHART_WIDTH_PX - 490, fill="#444", font_size=11))
    return "".join(parts)


def box_chart(
    title: str,
    rows: Sequence[BoxRow],
    unit: str = "",
    log: bool = False,
    marker_name: str = "",
    reference_lines: Sequence[tuple[float, str]] = (),
    width: int = CHART_WIDTH_PX,
) -> str:
    """One box per row. ``log``: a duration axis in seconds (labels 1 s ... 30 d); else a linear one in ``unit``."""
    rows = list(rows)[:BARS_MAX]
    show = fmt_duration if log else (lambda v: fmt(v, unit))
    row_h, legend_y = 22, 38
    top = legend_y + 14 + 13 * len(reference_lines)
    height = top + row_h * max(len(rows), 1) + 30
    label_w = _label_width([r.label for r in rows], width)
    texts = [f"{show(r.p50)} {r.note}".strip() for r in rows]
    value_w = max((text_width(t, 11) for t in texts), default=40.0)
    plot_x0, plot_x1 = label_w, width - value_w - 16
    values = [v for r in rows for v in (r.p10, r.p90, *([r.marker] if r.marker is not None else []))]
    lo, hi = _axis(values + [v for v, _ in reference_lines], log)

    def x(v: float) -> float:
        position = math.log10(max(v, 1.0)) if log else v
        return plot_x0 + (position - lo) / (hi - lo) * (plot_x1 - plot_x0)

    axis_y = top + row_h * len(rows)
    parts = [_svg_open(width, height, "box", title), _legend(legend_y, marker_name)]
    parts += _grid(x, lo, hi, log, top, axis_y, show)
    for i, (row, text) in enumerate(zip(rows, texts)):
        parts.append(_box(row, x, top + i * row_h, row_h, plot_x0, text, show))
    parts += _reference_lines(reference_lines, x, legend_y + 6, axis_y, width)
    parts.append("</svg>")
    return "".join(parts)


def _grid(x: Callable[[float], float], lo: float, hi: float, log: bool, top: float, axis_y: float,
          show: Callable[[float], str]) -> list[str]:
    marks = [t for t in DURATION_TICKS if 10**lo <= t <= 10**hi] if log else [t for t in ticks(lo, hi) if lo <= t <= hi]
    return [
        f'<line x1="{x(t):.1f}" y1="{top - 4}" x2="{x(t):.1f}" y2="{axis_y}" stroke="#e5e5e5"/>'
        + _text(x(t), axis_y + 14, show(t), None, text_anchor="middle", fill="#555")
        for t in marks
    ]


def _box(row: BoxRow, x: Callable[[float], float], y: float, row_h: int, plot_x0: float, text: str,
         show: Callable[[float], str]) -> str:
    mid = y + row_h / 2
    x10, x25, x50, x75, x90 = (x(v) for v in (row.p10, row.p25, row.p50, row.p75, row.p90))
    tip = (f"{row.label}: 10th {show(row.p10)}, 25th {show(row.p25)}, median {show(row.p50)}, "
           f"75th {show(row.p75)}, 90th {show(row.p90)}")
    out = (
        _text(plot_x0 - 6, mid + 4, row.label, plot_x0 - 12, text_anchor="end")
        + f'<line x1="{x10:.1f}" y1="{mid}" x2="{x90:.1f}" y2="{mid}" stroke="#555"/>'
        + f'<line x1="{x10:.1f}" y1="{mid - 4}" x2="{x10:.1f}" y2="{mid + 4}" stroke="#555"/>'
        + f'<line x1="{x90:.1f}" y1="{mid - 4}" x2="{x90:.1f}" y2="{mid + 4}" stroke="#555"/>'
        + f'<rect class="bar" x="{x25:.1f}" y="{y + 4}" width="{max(x75 - x25, 1.5):.1f}" height="{row_h - 8}" '
        f'fill="{row.colour}" fill-opacity="0.75" stroke="#333" data-value="{row.p50}"><title>{escape(tip)}</title>'
        "</rect>"
        + f'<line x1="{x50:.1f}" y1="{y + 3}" x2="{x50:.1f}" y2="{y + row_h - 3}" stroke="#000" stroke-width="2"/>'
    )
    if row.marker is not None:
        xm = x(row.marker)
        out += (f'<path d="M{xm:.1f} {mid - 5} l5 5 l-5 5 l-5 -5 z" fill="{MARKER_COLOUR}">'
                f"<title>{escape(row.label)}: {escape(show(row.marker))}</title></path>")
    right = max(x90, x(row.marker) + 6 if row.marker is not None else x90)
    return out + _text(right + 5, mid + 4, text, None, fill="#222", font_size=11)
