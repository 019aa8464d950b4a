"""Hand-built SVG charts: horizontal bars (single, grouped, ranges), signed stacked bars, line charts and
small multiples.

No plotting dependency: a report is one self-contained HTML file whose charts are inline SVG text, so it
opens anywhere, diffs as text and renders the same in every browser. Values arrive as numbers (Decimal or
float); layout is computed here in floats, which is fine for pixels, never for money.

Text is measured before it is placed (:func:`text_width`, a conservative estimate of the browser's glyph
widths): a label too long for its room is cut with an ellipsis, the full text kept in a tooltip, and
margins grow to fit value labels, so nothing is clipped at the edge of a chart (a Chromium test checks it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
PANELS_MAX = 24

CHART_WIDTH_PX = 940  # fits the report's 1100 px column with its padding
FONT_PX = 12
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
ELLIPSIS = "…"

# Glyph widths in em for a sans-serif face, rounded up so that estimates err on the wide side.
_NARROW = set("il.,:;|!'`()[] ")
_WIDE = set("MWmw@%")
_MARGIN_EM = 1.08


def text_width(text: str, font_px: float = FONT_PX) -> float:
    """Estimated rendered width in px (wider than the browser's, never narrower, for system-ui faces)."""
    em = 0.0
    for ch in text:
        if ch in _NARROW:
            em += 0.3
        elif ch in _WIDE:
            em += 0.86
        elif ch.isupper():
            em += 0.68
        elif ch.isdigit():
            em += 0.58
        else:
            em += 0.55
    return em * font_px * _MARGIN_EM


def fit(text: str, max_px: float, font_px: float = FONT_PX) -> str:
    """``text``, or its longest prefix that fits in ``max_px`` followed by an ellipsis."""
    if text_width(text, font_px) <= max_px:
        return text
    cut = text
    while cut and text_width(cut + ELLIPSIS, font_px) > max_px:
        cut = cut[:-1]
    return cut.rstrip() + ELLIPSIS


def _text(x: float, y: float, text: str, max_px: float | None = None, **attrs: str | float) -> str:
    """An SVG text element whose content fits in ``max_px``; a cut label keeps its full text as a tooltip."""
    shown = fit(text, max_px, float(attrs.get("font-size", FONT_PX))) if max_px is not None else text
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    tooltip = f"<title>{escape(text)}</title>" if shown != text else ""
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{tooltip}{escape(shown)}</text>'


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


class Group(msgspec.Struct, frozen=True):
    """One category of a grouped bar chart: one bar per series (None: no figure in the data)."""

    label: str
    values: list[float | None]
    notes: list[str] = msgspec.field(default_factory=list)


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
    """A readable number: thousands separators only from 10,000 (so a year reads 2018), and values below
    one cent keep their first significant digits (0.001 USD, not 0.00 USD)."""
    value = float(value)
    if value == 0:
        text = "0"
    elif abs(value) < 0.01:
        decimals = -math.floor(math.log10(abs(value))) + 1
        text = f"{value:.{decimals}f}".rstrip("0")
    elif abs(value) >= 10000:
        text = f"{value:,.0f}"
    elif value.is_integer() or abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text}{unit}"


def fmt_year(value: float) -> str:
    return f"{value:.0f}"


def fmt_duration(seconds: float) -> str:
    """20 s, 15 min, 2 h, 3 d."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.0f} h".replace(".0 h", " h")
    return f"{seconds / 86400:.0f} d"


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
        f'style="{FONT};font-size:{FONT_PX}px">'
        f"<title>{escape(title)}</title>"
        + _text(8, 18, title, width - 16, font_size=14, font_weight=600)
    )


def _bounds(values: Sequence[float]) -> tuple[float, float]:
    lo = min([0.0, *values])
    hi = max([0.0, *values])
    if hi == lo:
        hi = lo + 1.0
    pad = (hi - lo) * 0.05
    return (lo - pad if lo < 0 else lo), hi + pad


def _label_width(labels: Sequence[str], width: int) -> float:
    """Room for category labels: the longest one, capped at 40% of the chart (longer ones get an ellipsis)."""
    longest = max((text_width(label) for label in labels), default=40.0)
    return min(longest + 12, width * 0.4)


def _reference_lines(
    refs: Sequence[tuple[float, str]], x: Callable[[float], float], band: float, bottom: float, width: int
) -> list[str]:
    """Dashed vertical lines with their labels in a band above the plot (from ``band`` down), one row each
    so close lines (3% and 5%) never overprint; a label near the right edge is anchored at its end."""
    parts = []
    for k, (value, name) in enumerate(refs):
        label_y = band + 10 + 13 * k
        px = x(value)
        anchor_end = px + 3 + text_width(name, 11) > width - 4
        parts.append(
            f'<line x1="{px:.1f}" y1="{band + 13 * k}" x2="{px:.1f}" y2="{bottom}" stroke="#D55E00" '
            'stroke-dasharray="4 3"/>'
            + _text(px - 3 if anchor_end else px + 3, label_y, name, None, fill="#D55E00", font_size=11,
                    text_anchor="end" if anchor_end else "start")
        )
    return parts


def bar_chart(
    title: str,
    bars: Sequence[Bar],
    unit: str = "",
    width: int = CHART_WIDTH_PX,
    reference_lines: Sequence[tuple[float, str]] = (),
) -> str:
    """Horizontal bars from a zero line (negative values extend left), with optional reference lines
    (e.g. the 3% and 5% targets)."""
    bars = list(bars)[:BARS_MAX]
    row_h, bottom = 20, 30
    top = 34 + 13 * len(reference_lines)
    height = top + row_h * max(len(bars), 1) + bottom
    label_w = _label_width([b.label for b in bars], width)
    value_w = max((text_width(f"{fmt(b.value, unit)} {b.note}".strip()) for b in bars), default=40.0)
    plot_x0, plot_x1 = label_w, width - value_w - 12
    lo, hi = _bounds([b.value for b in bars] + [v for v, _ in reference_lines])

    def x(v: float) -> float:
        return plot_x0 + (v - lo) / (hi - lo) * (plot_x1 - plot_x0)

    parts = [_svg_open(width, height, "bar", title)]
    for t in ticks(lo, hi):
        if lo <= t <= hi:
            parts.append(
                f'<line x1="{x(t):.1f}" y1="{top - 4}" x2="{x(t):.1f}" y2="{height - bottom}" stroke="#e5e5e5"/>'
                + _text(x(t), height - bottom + 14, fmt(t, unit), None, text_anchor="middle", fill="#555")
            )
    for i, bar in enumerate(bars):
        y = top + i * row_h
        x0, x1 = sorted((x(0.0), x(bar.value)))
        parts.append(
            _text(plot_x0 - 6, y + 14, bar.label, plot_x0 - 12, text_anchor="end")
            + f'<rect class="bar" x="{x0:.1f}" y="{y + 3}" width="{max(x1 - x0, 0.5):.1f}" height="{row_h - 6}" '
            f'fill="{bar.colour}" data-value="{bar.value}"><title>{escape(bar.label)}: '
            f"{escape(fmt(bar.value, unit))}</title></rect>"
            + _text(max(x(bar.value), x(0.0)) + 4, y + 14, f"{fmt(bar.value, unit)} {bar.note}".strip(), None, fill="#222")
        )
    parts.append(f'<line x1="{x(0.0):.1f}" y1="{top - 4}" x2="{x(0.0):.1f}" y2="{height - bottom}" stroke="#333"/>')
    parts += _reference_lines(reference_lines, x, 34, height - bottom, width)
    parts.append("</svg>")
    return "".join(parts)


def grouped_bar_chart(
    title: str,
    groups: Sequence[Group],
    series: Sequence[Segment],
    unit: str = "",
    width: int = CHART_WIDTH_PX,
    reference_lines: Sequence[tuple[float, str]] = (),
    missing_note: str = "no figure",
) -> str:
    """One block of thin horizontal bars per category, one bar per series (legend under the title); a
    series with no figure for a category shows its note, or ``missing_note``, instead of a bar."""
    groups = list(groups)[:BARS_MAX]
    bar_h, gap = 11, 7
    block = bar_h * len(series) + gap
    legend_rows = math.ceil(len(series) / 2)
    legend_y = 40
    band = legend_y + 18 * legend_rows - 6  # reference labels start below the legend
    top = band + 13 * len(reference_lines) + 6
    height = top + block * max(len(groups), 1) + 22
    label_w = _label_width([g.label for g in groups], width)
    texts = [
        f"{fmt(v, unit) if v is not None else missing_note} {g.notes[j] if j < len(g.notes) else ''}".strip()
        for g in groups
        for j, v in enumerate(g.values)
    ]
    value_w = max((text_width(t, 11) for t in texts), default=40.0)
    plot_x0, plot_x1 = label_w, width - value_w - 12
    values = [v for g in groups for v in g.values if v is not None]
    lo, hi = _bounds(values + [v for v, _ in reference_lines])

    def x(v: float) -> float:
        return plot_x0 + (v - lo) / (hi - lo) * (plot_x1 - plot_x0)

    axis_y = top + block * len(groups)
    parts = [_svg_open(width, height, "grouped", title)]
    parts += _legend(series, 8, legend_y, width - 16, columns=2)
    for t in ticks(lo, hi):
        if lo <= t <= hi:
            parts.append(
                f'<line x1="{x(t):.1f}" y1="{top - 4}" x2="{x(t):.1f}" y2="{axis_y}" stroke="#e5e5e5"/>'
                + _text(x(t), axis_y + 14, fmt(t, unit), None, text_anchor="middle", fill="#555")
            )
    for i, group in enumerate(groups):
        y0 = top + i * block
        parts.append(_text(plot_x0 - 6, y0 + block / 2 + 1, group.label, plot_x0 - 12, text_anchor="end"))
        for j, (segment, value) in enumerate(zip(series, group.values)):
            y = y0 + j * bar_h
            note = group.notes[j] if j < len(group.notes) else ""
            if value is None:
                if note or missing_note:
                    parts.append(_text(x(0.0) + 4, y + 9, f"{missing_note} {note}".strip(), None, fill="#777", font_size=11))
                continue
            x0, x1 = sorted((x(0.0), x(value)))
            parts.append(
                f'<rect class="bar" x="{x0:.1f}" y="{y + 1}" width="{max(x1 - x0, 0.5):.1f}" height="{bar_h - 2}" '
                f'fill="{segment.colour}" data-value="{value}"><title>{escape(group.label)}, {escape(segment.name)}: '
                f"{escape(fmt(value, unit))}</title></rect>"
                + _text(max(x(value), x(0.0)) + 4, y + 9, f"{fmt(value, unit)} {note}".strip(), None, fill="#222", font_size=11)
            )
    parts.append(f'<line x1="{x(0.0):.1f}" y1="{top - 4}" x2="{x(0.0):.1f}" y2="{axis_y}" stroke="#333"/>')
    parts += _reference_lines(reference_lines, x, band, axis_y, width)
    parts.append("</svg>")
    return "".join(parts)


def _legend(segments: Sequence[Segment], x0: float, y0: float, room: float, columns: int) -> list[str]:
    column_w = room / max(columns, 1)
    parts = []
    for j, segment in enumerate(segments):
        lx = x0 + (j % columns) * column_w
        ly = y0 + (j // columns) * 18
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly - 10}" width="12" height="12" fill="{segment.colour}"/>'
            + _text(lx + 16, ly, segment.name, column_w - 22)
        )
    return parts


def stacked_bar_chart(
    title: str,
    categories: Sequence[str],
    segments: Sequence[Segment],
    values: Sequence[Sequence[float]],
    unit: str = "",
    width: int = CHART_WIDTH_PX,
) -> str:
    """One horizontal bar per category, its signed components stacked: positive components grow right
    from zero, negative ones (FX margins beating the reference) grow left. A black tick marks each
    category's net total."""
    categories = list(categories)[:BARS_MAX]
    row_h, top = 22, 34
    legend_h = 18 * math.ceil(len(segments) / 3)
    bottom = 30 + legend_h
    height = top + row_h * max(len(categories), 1) + bottom
    label_w = _label_width(categories, width)
    totals = [sum(row) for row in values]
    value_w = max((text_width(fmt(t, unit)) for t in totals), default=40.0)
    plot_x0, plot_x1 = label_w, width - value_w - 12
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
                + _text(x(t), axis_y + 14, fmt(t, unit), None, text_anchor="middle", fill="#555")
            )
    for i, (category, row) in enumerate(zip(categories, values)):
        y = top + i * row_h
        parts.append(_text(plot_x0 - 6, y + 15, category, plot_x0 - 12, text_anchor="end"))
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
            'stroke-width="2"/>' + _text(max(x(right), x(total)) + 4, y + 15, fmt(total, unit), None)
        )
    parts.append(f'<line x1="{x(0.0):.1f}" y1="{top - 4}" x2="{x(0.0):.1f}" y2="{axis_y}" stroke="#333"/>')
    parts += _legend(segments, 8, axis_y + 30, width - 16, columns=3)
    parts.append("</svg>")
    return "".join(parts)


def range_chart(
    title: str,
    rows: Sequence[tuple[str, float, float, str]],
    width: int = CHART_WIDTH_PX,
    reference_lines: Sequence[tuple[float, str]] = (),
) -> str:
    """Horizontal ranges (label, low, high, colour) of durations in seconds on a logarithmic axis."""
    rows = list(rows)[:BARS_MAX]
    row_h, bottom = 22, 30
    top = 34 + 13 * len(reference_lines)
    height = top + row_h * max(len(rows), 1) + bottom
    label_w = _label_width([r[0] for r in rows], width)
    value_w = max((text_width(f"{fmt_duration(lo)} to {fmt_duration(hi)}") for _, lo, hi, _ in rows), default=60.0)
    plot_x0, plot_x1 = label_w, width - value_w - 12
    all_values = [v for _, lo, hi, _ in rows for v in (lo, hi)] + [v for v, _ in reference_lines]
    lo_log = math.log10(max(min(all_values, default=10.0), 1.0))
    hi_log = math.log10(max(max(all_values, default=100.0), 10.0))
    if hi_log - lo_log < 1:
        hi_log = lo_log + 1

    def x(v: float) -> float:
        return plot_x0 + (math.log10(max(v, 1.0)) - lo_log) / (hi_log - lo_log) * (plot_x1 - plot_x0)

    parts = [_svg_open(width, height, "range", title)]
    for t in (1, 10, 60, 600, 3600, 6 * 3600, 86400, 5 * 86400):
        if 10**lo_log <= t <= 10**hi_log:
            parts.append(
                f'<line x1="{x(t):.1f}" y1="{top - 4}" x2="{x(t):.1f}" y2="{height - bottom}" stroke="#e5e5e5"/>'
                + _text(x(t), height - bottom + 14, fmt_duration(t), None, text_anchor="middle", fill="#555")
            )
    for i, (label, low, high, colour) in enumerate(rows):
        y = top + i * row_h
        x0, x1 = x(low), x(high)
        parts.append(
            _text(plot_x0 - 6, y + 15, label, plot_x0 - 12, text_anchor="end")
            + f'<rect class="bar" x="{x0:.1f}" y="{y + 5}" width="{max(x1 - x0, 2):.1f}" height="{row_h - 10}" '
            f'fill="{colour}" data-value="{low}-{high}"><title>{escape(label)}: {fmt_duration(low)} to '
            f"{fmt_duration(high)}</title></rect>"
            + _text(x1 + 5, y + 15, f"{fmt_duration(low)} to {fmt_duration(high)}", None, fill="#222")
        )
    parts += _reference_lines(reference_lines, x, 34, height - bottom, width)
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
    x_format: Callable[[float], str] | None = None,
) -> str:
    """Lines over a shared x axis (optionally logarithmic), with dashed horizontal reference lines."""
    series = [
        msgspec.structs.replace(s, points=thin(list(s.points), POINTS_PER_SERIES_MAX)) for s in list(series)[:SERIES_MAX]
    ]
    x_text = x_format or (lambda v: fmt(v, x_unit))
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

    plot = (left, top, width - right, plot_bottom)
    parts = [_svg_open(width, height, "line", title)]
    parts += _line_grid(plot, tx, ty, (y_lo, y_hi), list(x_ticks) if x_ticks is not None else ticks(x_lo, x_hi, 8),
                        (x_lo, x_hi), x_text, y_unit)
    parts.append(
        _text((left + width - right) / 2, plot_bottom + 30, x_label, width - left - right, text_anchor="middle")
        + f'<text transform="translate(14,{(top + plot_bottom) / 2:.0f}) rotate(-90)" text-anchor="middle">'
        f"{escape(fit(y_label, plot_bottom - top))}</text>"
    )
    for k, (value, name) in enumerate(reference_lines):
        # Labels step leftwards so that close lines (3% and 5%) do not overprint each other.
        parts.append(
            f'<line x1="{left}" y1="{ty(value):.1f}" x2="{width - right}" y2="{ty(value):.1f}" stroke="#D55E00" '
            'stroke-dasharray="4 3"/>'
            + _text(width - right - 4 - 70 * k, ty(value) - 4, name, 66, text_anchor="end", fill="#D55E00", font_size=11)
        )
    for s in series:
        parts += _series_path(s, tx, ty, x_text, y_unit)
    parts += _line_legend(series, left, plot_bottom + 48, (width - left - right) // 2)
    parts.append("</svg>")
    return "".join(parts)


def _line_legend(series: Sequence[Series], x0: float, y0: float, column_w: float) -> list[str]:
    parts = []
    for j, s in enumerate(series):
        lx = x0 + (j % 2) * column_w
        ly = y0 + (j // 2) * 18
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        parts.append(
            f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 22}" y2="{ly - 4}" stroke="{s.colour}" stroke-width="2"{dash}/>'
            + _text(lx + 28, ly, s.name, column_w - 34)
        )
    return parts


def _line_grid(
    plot: tuple[float, float, float, float],
    tx: Callable[[float], float],
    ty: Callable[[float], float],
    y_range: tuple[float, float],
    x_ticks: Sequence[float],
    x_range: tuple[float, float],
    x_text: Callable[[float], str],
    y_unit: str,
) -> list[str]:
    """Grid lines, tick labels and axes of a line chart whose plot area is (left, top, right, bottom)."""
    left, top, right, bottom = plot
    (y_lo, y_hi), (x_lo, x_hi) = y_range, x_range
    parts = []
    for t in ticks(y_lo, y_hi):
        if y_lo <= t <= y_hi:
            parts.append(
                f'<line x1="{left}" y1="{ty(t):.1f}" x2="{right}" y2="{ty(t):.1f}" stroke="#e5e5e5"/>'
                + _text(left - 6, ty(t) + 4, fmt(t, y_unit), left - 8, text_anchor="end", fill="#555")
            )
    for t in x_ticks:
        if x_lo <= t <= x_hi:
            parts.append(
                f'<line x1="{tx(t):.1f}" y1="{top}" x2="{tx(t):.1f}" y2="{bottom}" stroke="#f0f0f0"/>'
                + _text(tx(t), bottom + 14, x_text(t), None, text_anchor="middle", fill="#555")
            )
    if y_lo < 0 < y_hi:
        parts.append(f'<line x1="{left}" y1="{ty(0):.1f}" x2="{right}" y2="{ty(0):.1f}" stroke="#333"/>')
    parts.append(
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#333"/>'
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>'
    )
    return parts


def _series_path(
    s: Series, tx: Callable[[float], float], ty: Callable[[float], float], x_text: Callable[[float], str], y_unit: str
) -> list[str]:
    if not s.points:
        return []
    path = " ".join(f"{'M' if i == 0 else 'L'}{tx(px):.1f},{ty(py):.1f}" for i, (px, py) in enumerate(s.points))
    dash = ' stroke-dasharray="6 4"' if s.dashed else ""
    parts = [
        f'<path class="series" d="{path}" fill="none" stroke="{s.colour}" stroke-width="2"{dash}>'
        f"<title>{escape(s.name)}</title></path>"
    ]
    for px, py in s.points:
        parts.append(
            f'<circle cx="{tx(px):.1f}" cy="{ty(py):.1f}" r="2.5" fill="{s.colour}" data-value="{py}">'
            f"<title>{escape(s.name)}: {escape(x_text(px))} → {escape(fmt(py, y_unit))}</title></circle>"
        )
    return parts


def small_multiples(
    title: str,
    panels: Sequence[Series],
    columns: int = 4,
    width: int = CHART_WIDTH_PX,
    panel_height: int = 120,
    reference_lines: Sequence[tuple[float, str]] = (),
    y_unit: str = "",
    x_format: Callable[[float], str] = fmt_year,
) -> str:
    """One small line chart per series on a shared scale, in a grid: every corridor's trend readable at
    once, none hidden behind another."""
    panels = list(panels)[:PANELS_MAX]
    rows = math.ceil(len(panels) / columns) or 1
    top, gap_x, gap_y = 34, 18, 34
    panel_w = (width - 16 - gap_x * (columns - 1)) / columns
    height = top + rows * (panel_height + gap_y) + 4
    xs = [p[0] for s in panels for p in s.points] or [0.0, 1.0]
    ys = [p[1] for s in panels for p in s.points] + [v for v, _ in reference_lines] or [0.0, 1.0]
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(0.0, min(ys)), max(ys) * 1.08
    left_pad = max(text_width(fmt(t, y_unit), 10) for t in ticks(y_lo, y_hi, 3)) + 6
    parts = [_svg_open(width, height, "multiples", title)]
    for i, s in enumerate(panels):
        ox = 8 + (i % columns) * (panel_w + gap_x)
        oy = top + (i // columns) * (panel_height + gap_y) + 16
        plot_l, plot_r, plot_t, plot_b = ox + left_pad, ox + panel_w - 4, oy + 4, oy + panel_height - 16

        def tx(v: float, a: float = plot_l, b: float = plot_r) -> float:
            return a + (v - x_lo) / ((x_hi - x_lo) or 1.0) * (b - a)

        def ty(v: float, a: float = plot_t, b: float = plot_b) -> float:
            return b - (v - y_lo) / ((y_hi - y_lo) or 1.0) * (b - a)

        parts.append(_text(ox, oy - 4, s.name, panel_w, font_weight=600))
        for t in ticks(y_lo, y_hi, 3):
            if y_lo <= t <= y_hi:
                parts.append(
                    f'<line x1="{plot_l:.1f}" y1="{ty(t):.1f}" x2="{plot_r:.1f}" y2="{ty(t):.1f}" stroke="#eee"/>'
                    + _text(plot_l - 3, ty(t) + 3, fmt(t, y_unit), None, text_anchor="end", fill="#555", font_size=10)
                )
        for value, _ in reference_lines:
            parts.append(
                f'<line x1="{plot_l:.1f}" y1="{ty(value):.1f}" x2="{plot_r:.1f}" y2="{ty(value):.1f}" '
                'stroke="#D55E00" stroke-dasharray="3 3"/>'
            )
        parts.append(
            _text(plot_l, plot_b + 12, x_format(x_lo), None, fill="#555", font_size=10)
            + _text(plot_r, plot_b + 12, x_format(x_hi), None, text_anchor="end", fill="#555", font_size=10)
        )
        parts += _series_path(s, tx, ty, x_format, y_unit)
    parts.append("</svg>")
    return "".join(parts)
