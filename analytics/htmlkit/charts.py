"""Hand-built SVG charts: horizontal bars, signed stacked bars and line charts.

No plotting dependency: a report is one self-contained HTML file whose charts are inline SVG text, so it
opens anywhere, diffs as text and renders the same in every browser. Values arrive as numbers (Decimal or
float); layout is computed here in floats, which is fine for pixels, never for money.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from html import escape

import msgspec

Number = float | int | Decimal

# Colour-blind-safe palette (Okabe-Ito; its yellow swapped for a purple that reads on white), then greys.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#6A3D9A",
    "#000000",
    "#7f7f7f",
    "#b15928",
)
FAMILY_COLOURS = {"rpw": "#0072B2", "raast": "#7f7f7f", "stablecoin": "#E69F00"}

# Bounds so a huge table cannot produce a multi-megabyte SVG.
BARS_MAX = 80
SERIES_MAX = 12
POINTS_PER_SERIES_MAX = 2_000

CHART_WIDTH_PX = 940  # fits the report's 1100 px column with its padding

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


class Bar(msgspec.Struct, frozen=True):
    label: str
    value: float
    colour: str = PALETTE[0]
    note: str = ""  # shown after the value, e.g. a data-status flag


class Series(msgspec.Struct, frozen=True):
    name: str
    points: list[tuple[float, float]]
    colour: str = PALETTE[0]
    dashed: bool = False


class Segment(msgspec.Struct, frozen=True):
    name: str
    colour: str


def _f(value: Number) -> float:
    return float(value)


def nice_step(span: float, target_ticks: int = 5) -> float:
    """A 1-2-2.5-5 x 10^k tick step giving about ``target_ticks`` intervals over ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / target_ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    step = nice_step(hi - lo, target)
    start = math.floor(lo / step) * step
    out = []
    value = start
    while value <= hi + step * 1e-9 and len(out) < 50:
        out.append(round(value, 10))
        value += step
    return out


def fmt(value: float, unit: str = "") -> str:
    if float(value).is_integer() or abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text}{unit}"


def thin(points: list[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    """At most ``limit`` points, evenly spaced over the whole series (first and last kept): a long run
    is drawn coarser, never cut short."""
    if len(points) <= limit:
        return points
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def _svg_open(width: int, height: int, kind: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{kind}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'style="{FONT};font-size:12px">'
        f"<title>{escape(title)}</title>"
        f'<text x="8" y="18" font-size="14" font-weight="600">{escape(title)}</text>'
    )


def _bounds(values: Sequence[float]) -> tuple[float, float]:
    lo = min([0.0, *values])
    hi = max([0.0, *values])
    if hi == lo:
        hi = lo + 1.0
    pad = (hi - lo) * 0.05
    return (lo - pad if lo < 0 else lo), hi + pad


def bar_chart(
    title: str,
    bars: Sequence[Bar],
    unit: str = "",
    width: int = CHART_WIDTH_PX,
    label_width: int = 300,
    reference_lines: Sequence[tuple[float, str]] = (),
) -> str:
    """Horizontal bars from a zero line (negative values extend left), with optional reference lines
    (e.g. the 3% and 5% targets)."""
    bars = list(bars)[:BARS_MAX]
    row_h, bottom = 20, 30
    # Reference-line labels get their own band above the bars, one line each, so they never overprint.
    top = 34 + 13 * len(reference_lines)
    height = top + row_h * max(len(bars), 1) + bottom
    plot_x0, plot_x1 = label_width, width - 170  # room right of the longest bar for its value and flag
    values = [b.value for b in bars] + [v for v, _ in reference_lines]
    lo, hi = _bounds(values)

    def x(v: float) -> float:
        return plot_x0 + (v - lo) / (hi - lo) * (plot_x1 - plot_x0)

    parts = [_svg_open(width, height, "bar", title)]
    for t in ticks(lo, hi):
        if lo <= t <= hi:
            parts.append(
                f'<line x1="{x(t):.1f}" y1="{top - 4}" x2="{x(t):.1f}" y2="{height - bottom}" stroke="#e5e5e5"/>'
                f'<text x="{x(t):.1f}" y="{height - bottom + 14}" text-anchor="middle" fill="#555">'
                f"{escape(fmt(t, unit))}</text>"
            )
    for i, bar in enumerate(bars):
        y = top + i * row_h
        x0, x1 = sorted((x(0.0), x(bar.value)))
        label = bar.label if len(bar.label) <= 48 else bar.label[:47] + "…"
        parts.append(
            f'<text x="{plot_x0 - 6}" y="{y + 14}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="bar" x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 0.5):.1f}" height="{row_h - 6}" '
            f'fill="{bar.colour}" data-value="{bar.value}"><title>{escape(bar.label)}: '
            f"{escape(fmt(bar.value, unit))}</title></rect>"
            f'<text x="{max(x(bar.value), x(0.0)) + 4:.1f}" y="{y + 14}" fill="#222">'
            f"{escape(fmt(bar.value, unit))}{(' ' + escape(bar.note)) if bar.note else ''}</text>"
        )
    parts.append(
        f'<line x1="{x(0.0):.1f}" y1="{top - 4}" x2="{x(0.0):.1f}" y2="{height - bottom}" stroke="#333"/>'
    )
    for k, (value, name) in enumerate(reference_lines):
        # Labels are staggered vertically: nearby lines (3% and 5%) would otherwise overprint.
        parts.append(
            f'<line x1="{x(value):.1f}" y1="{34 + 13 * k}" x2="{x(value):.1f}" y2="{height - bottom}" '
            f'stroke="#D55E00" stroke-dasharray="4 3"/>'
            f'<text x="{x(value) + 3:.1f}" y="{34 + 10 + 13 * k}" fill="#D55E00" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar_chart(
    title: str,
    categories: Sequence[str],
    segments: Sequence[Segment],
    values: Sequence[Sequence[float]],
    unit: str = "",
    width: int = CHART_WIDTH_PX,
    label_width: int = 300,
) -> str:
    """One horizontal bar per category, its signed components stacked: positive components grow right
    from zero, negative ones (FX margins beating the reference, P2P premiums) grow left. A black tick
    marks each category's net total."""
    categories = list(categories)[:BARS_MAX]
    row_h, top = 22, 34
    legend_h = 18 * math.ceil(len(segments) / 3)
    bottom = 30 + legend_h
    height = top + row_h * max(len(categories), 1) + bottom
    plot_x0, plot_x1 = label_width, width - 70
    pos = [sum(v for v in row if v > 0) for row in values]
    neg = [sum(v for v in row if v < 0) for row in values]
    lo, hi = _bounds(pos + neg)

    def x(v: float) -> float:
        return plot_x0 + (v - lo) / (hi - lo) * (plot_x1 - plot_x0)

    parts = [_svg_open(width, height, "stacked", title)]
    axis_y = top + row_h * len(categories)
    for t in ticks(lo, hi):
        if lo <= t <= hi:
            parts.append(
                f'<line x1="{x(t):.1f}" y1="{top - 4}" x2="{x(t):.1f}" y2="{axis_y}" stroke="#e5e5e5"/>'
                f'<text x="{x(t):.1f}" y="{axis_y + 14}" text-anchor="middle" fill="#555">{escape(fmt(t, unit))}</text>'
            )
    for i, (category, row) in enumerate(zip(categories, values)):
        y = top + i * row_h
        label = category if len(category) <= 48 else category[:47] + "…"
        parts.append(f'<text x="{plot_x0 - 6}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        right = left = 0.0
        for segment, value in zip(segments, row):
            if value == 0:
                continue
            if value > 0:
                a, b = right, right + value
                right = b
            else:
                a, b = left + value, left
                left = a
            parts.append(
                f'<rect class="segment" x="{x(a):.1f}" y="{y + 3}" width="{max(x(b) - x(a), 0.5):.1f}" '
                f'height="{row_h - 6}" fill="{segment.colour}" data-value="{value}">'
                f"<title>{escape(category)}: {escape(segment.name)} {escape(fmt(value, unit))}</title></rect>"
            )
        total = sum(row)
        parts.append(
            f'<line x1="{x(total):.1f}" y1="{y + 1}" x2="{x(total):.1f}" y2="{y + row_h - 1}" stroke="#000" '
            f'stroke-width="2"/><text x="{max(x(right), x(total)) + 4:.1f}" y="{y + 15}">{escape(fmt(total, unit))}</text>'
        )
    parts.append(f'<line x1="{x(0.0):.1f}" y1="{top - 4}" x2="{x(0.0):.1f}" y2="{axis_y}" stroke="#333"/>')
    for j, segment in enumerate(segments):
        lx = 8 + (j % 3) * ((width - 16) // 3)
        ly = axis_y + 30 + (j // 3) * 18
        parts.append(
            f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{segment.colour}"/>'
            f'<text x="{lx + 16}" y="{ly}">{escape(segment.name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    title: str,
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    width: int = CHART_WIDTH_PX,
    height: int = 360,
    log_x: bool = False,
    x_ticks: Sequence[float] | None = None,
    reference_lines: Sequence[tuple[float, str]] = (),
    y_unit: str = "",
    x_unit: str = "",
) -> str:
    """Lines over a shared x axis (optionally logarithmic), with dashed horizontal reference lines."""
    series = [
        msgspec.structs.replace(s, points=thin(list(s.points), POINTS_PER_SERIES_MAX))
        for s in list(series)[:SERIES_MAX]
    ]
    legend_rows = math.ceil(len(series) / 2)
    left, right, top, bottom = 64, 20, 34, 46 + 18 * legend_rows
    xs = [p[0] for s in series for p in s.points] or [0.0, 1.0]
    ys = [p[1] for s in series for p in s.points] + [v for v, _ in reference_lines] or [0.0, 1.0]
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_hi = x_lo + 1.0
    y_lo, y_hi = min(ys), max(ys)
    if y_hi == y_lo:
        y_hi = y_lo + 1.0
    pad = (y_hi - y_lo) * 0.06
    y_lo, y_hi = y_lo - pad, y_hi + pad
    use_log = log_x and x_lo > 0

    def tx(v: float) -> float:
        if use_log:
            share = (math.log10(v) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo))
        else:
            share = (v - x_lo) / (x_hi - x_lo)
        return left + share * (width - left - right)

    plot_bottom = height - bottom

    def ty(v: float) -> float:
        return plot_bottom - (v - y_lo) / (y_hi - y_lo) * (plot_bottom - top)

    parts = [_svg_open(width, height, "line", title)]
    for t in ticks(y_lo, y_hi):
        if y_lo <= t <= y_hi:
            parts.append(
                f'<line x1="{left}" y1="{ty(t):.1f}" x2="{width - right}" y2="{ty(t):.1f}" stroke="#e5e5e5"/>'
                f'<text x="{left - 6}" y="{ty(t) + 4:.1f}" text-anchor="end" fill="#555">{escape(fmt(t, y_unit))}</text>'
            )
    for t in x_ticks if x_ticks is not None else ticks(x_lo, x_hi, 8):
        if x_lo <= t <= x_hi:
            parts.append(
                f'<line x1="{tx(t):.1f}" y1="{top}" x2="{tx(t):.1f}" y2="{plot_bottom}" stroke="#f0f0f0"/>'
                f'<text x="{tx(t):.1f}" y="{plot_bottom + 14}" text-anchor="middle" fill="#555">'
                f"{escape(fmt(t, x_unit))}</text>"
            )
    if y_lo < 0 < y_hi:
        parts.append(
            f'<line x1="{left}" y1="{ty(0):.1f}" x2="{width - right}" y2="{ty(0):.1f}" stroke="#333"/>'
        )
    parts.append(
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{plot_bottom}" stroke="#333"/>'
        f'<line x1="{left}" y1="{plot_bottom}" x2="{width - right}" y2="{plot_bottom}" stroke="#333"/>'
        f'<text x="{(left + width - right) / 2:.0f}" y="{plot_bottom + 30}" text-anchor="middle">{escape(x_label)}</text>'
        f'<text transform="translate(14,{(top + plot_bottom) / 2:.0f}) rotate(-90)" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    for k, (value, name) in enumerate(reference_lines):
        # Labels step leftwards so that close lines (3% and 5%) do not overprint each other.
        parts.append(
            f'<line x1="{left}" y1="{ty(value):.1f}" x2="{width - right}" y2="{ty(value):.1f}" stroke="#D55E00" '
            f'stroke-dasharray="4 3"/><text x="{width - right - 4 - 70 * k}" y="{ty(value) - 4:.1f}" '
            f'text-anchor="end" fill="#D55E00" font-size="11">{escape(name)}</text>'
        )
    for s in series:
        if not s.points:
            continue
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{tx(px):.1f},{ty(py):.1f}" for i, (px, py) in enumerate(s.points)
        )
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        parts.append(
            f'<path class="series" d="{path}" fill="none" stroke="{s.colour}" stroke-width="2"{dash}>'
            f"<title>{escape(s.name)}</title></path>"
        )
        for px, py in s.points:
            parts.append(
                f'<circle cx="{tx(px):.1f}" cy="{ty(py):.1f}" r="2.5" fill="{s.colour}">'
                f"<title>{escape(s.name)}: {escape(fmt(px, x_unit))} → {escape(fmt(py, y_unit))}</title></circle>"
            )
    for j, s in enumerate(series):
        lx = left + (j % 2) * ((width - left - right) // 2)
        ly = plot_bottom + 48 + (j // 2) * 18
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        parts.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 22}" y2="{ly - 4}" stroke="{s.colour}" stroke-width="2"{dash}/>'
            f'<text x="{lx + 28}" y="{ly}">{escape(s.name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
