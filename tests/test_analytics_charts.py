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
