"""The hand-built SVG charts: well-formed, escaped, bounded, and drawn to scale."""

from __future__ import annotations

import pytest
from lxml import etree

from analytics.htmlkit import charts

SVG_NS = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> etree._Element:
    return etree.fromstring(svg.encode())  # raises on malformed XML


def test_bar_chart_is_well_formed_and_escapes_labels():
    svg = charts.bar_chart(
        "Costs <by> channel & more",
        [charts.Bar("<script>alert(1)</script>", 2.5), charts.Bar("negative", -1.5)],
        "%",
        reference_lines=[(3.0, "3% target")],
    )
    root = _parse(svg)
    assert root.get("data-chart") == "bar"
    assert not root.findall(f".//{SVG_NS}script")
    bars = root.findall(f".//{SVG_NS}rect[@class='bar']")
    assert [float(b.get("data-value")) for b in bars] == [2.5, -1.5]
    # Drawn to scale from a shared zero line: the negative bar ends where the positive one starts.
    positive, negative = bars
    assert abs(float(negative.get("x")) + float(negative.get("width")) - float(positive.get("x"))) < 0.2
    assert float(positive.get("width")) / float(negative.get("width")) == pytest.approx(2.5 / 1.5, rel=0.02)


def test_stacked_chart_stacks_signed_segments_around_zero():
    svg = charts.stacked_bar_chart(
        "components",
        ["route"],
        [charts.Segment("fee", "#000"), charts.Segment("premium", "#111"), charts.Segment("fx", "#222")],
        [[2.0, -4.0, 1.0]],
    )
    root = _parse(svg)
    segments = root.findall(f".//{SVG_NS}rect[@class='segment']")
    assert [float(s.get("data-value")) for s in segments] == [2.0, -4.0, 1.0]
    fee, premium, fx = segments
    # Positive segments continue each other rightwards; the negative one ends at zero, where fee starts.
    assert abs(float(fee.get("x")) + float(fee.get("width")) - float(fx.get("x"))) < 0.2
    assert abs(float(premium.get("x")) + float(premium.get("width")) - float(fee.get("x"))) < 0.2


def test_line_chart_thins_long_series_without_cutting_them():
    points = [(float(i), float(i % 7)) for i in range(5000)]
    root = _parse(charts.line_chart("long", [charts.Series("s", points)], "t", "y"))
    circles = root.findall(f".//{SVG_NS}circle")
    assert len(circles) == charts.POINTS_PER_SERIES_MAX
    assert charts.thin(points, 10)[-1] == points[-1] and charts.thin(points, 10)[0] == points[0]


def test_line_chart_log_axis_and_empty_series_do_not_fail():
    root = _parse(
        charts.line_chart(
            "log",
            [charts.Series("a", [(50, 1.0), (2000, 0.5)]), charts.Series("empty", [])],
            "x",
            "y",
            log_x=True,
        )
    )
    assert len(root.findall(f".//{SVG_NS}path[@class='series']")) == 1


def test_nice_ticks_cover_the_range():
    ticks = charts.ticks(-1.7, 11.5)
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1  # evenly spaced
    (step,) = steps
    assert ticks[0] <= -1.7 and ticks[-1] > 11.5 - step and len(ticks) <= 12


def test_numbers_read_as_numbers():
    assert charts.fmt(2018) == "2018" and charts.fmt_year(2025.5) == "2026"  # years never read "2,018"
    assert charts.fmt(12345) == "12,345"
    assert charts.fmt(0.001, " USD") == "0.001 USD"  # a fee below a cent keeps its digits
    assert charts.fmt(0.000003) == "0.000003" and charts.fmt(0) == "0"
    assert charts.fmt(2.5, "%") == "2.50%"
    assert [charts.fmt_duration(s) for s in (20, 900, 7200, 3 * 86400)] == ["20 s", "15 min", "2 h", "3 d"]


def test_long_labels_are_cut_with_an_ellipsis_and_keep_their_full_text():
    label = "Stablecoin on Base (OP Stack L2) via Kraken (Payward Ventures Inc.), bank transfer in"
    shown = charts.fit(label, 120)
    assert shown.endswith(charts.ELLIPSIS) and len(shown) < len(label)
    assert charts.text_width(shown) <= 120
    assert charts.fit("SAU", 120) == "SAU"
    root = _parse(charts.bar_chart("t", [charts.Bar(label, 1.0)], width=500))
    tooltips = [t.find(f"{SVG_NS}title") for t in root.findall(f".//{SVG_NS}text")]
    cut = next(t for t in tooltips if t is not None)
    assert cut.tail.endswith(charts.ELLIPSIS) and cut.text == label  # shown cut, the full label as a tooltip


def test_grouped_bars_draw_one_bar_per_figure_and_a_note_where_there_is_none():
    root = _parse(
        charts.grouped_bar_chart(
            "g",
            [charts.Group("GBR", [0.46, 2.57, 0.25, 1.1]), charts.Group("SAU", [1.8, 2.04, None, None], ["", "", "no route", ""])],
            [charts.Segment(n, c) for n, c in zip("abcd", charts.PALETTE)],
            "%",
            reference_lines=[(3.0, "3%"), (5.0, "5%")],
            missing_note="",
        )
    )
    bars = root.findall(f".//{SVG_NS}rect[@class='bar']")
    assert [float(b.get("data-value")) for b in bars] == [0.46, 2.57, 0.25, 1.1, 1.8, 2.04]
    assert any((t.text or "") == "no route" for t in root.findall(f".//{SVG_NS}text"))


def test_range_chart_and_small_multiples_are_well_formed():
    ranges = _parse(charts.range_chart("r", [("GBR", 1530, 91220, "#000"), ("RAAST", 20, 20, "#111")]))
    assert [b.get("data-value") for b in ranges.findall(f".//{SVG_NS}rect[@class='bar']")] == ["1530-91220", "20-20"]
    panels = [charts.Series(f"C{i}", [(2016.25 + q / 4, 3.0 + q % 3) for q in range(37)]) for i in range(13)]
    grid = _parse(charts.small_multiples("m", panels, reference_lines=[(3.0, "3%")], y_unit="%"))
    assert len(grid.findall(f".//{SVG_NS}path[@class='series']")) == 13
    assert {t.text for t in grid.findall(f".//{SVG_NS}text")} >= {"2016", "2025"}
