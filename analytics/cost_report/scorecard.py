"""Section: every RPW corridor into Pakistan against the SDG 10.c / G20 targets, with its trend."""

from __future__ import annotations

from typing import Any

import msgspec

from analytics.cost_report.common import TARGET_LINES, columns, short_corridor
from analytics.datasets import Datasets
from analytics.htmlkit import Figure, Section, Table, charts
from analytics.pricing import scorecard
from analytics.pricing.provenance import date_span, sources_of, status_flags

SCORE_COLUMNS = columns(
    ("corridor", "Corridor"),
    ("latest_period", "Latest"),
    ("n_services_200", "n"),
    ("mean_200_pct", "Avg $200 %"),
    ("share_le_3_200_pct", "<=3% (%)"),
    ("share_le_5_200_pct", "<=5% (%)"),
    ("mean_500_pct", "Avg $500 %"),
    ("share_le_3_500_pct", "$500 <=3% (%)"),
    ("share_le_5_500_pct", "$500 <=5% (%)"),
    ("mean_2018_200_pct", "2018 Q1 $200 %"),
    ("change_since_2018_pp", "Change (pp)"),
    ("above_cap_200", "Above 5%"),
)


def benchmark_rows(s: scorecard.ScoreSummary) -> list[dict[str, Any]]:
    return [
        {"metric": "sdg_target_average", "value_pct": s.average_target_pct, "basis": "SDG 10.c / G20: global average by 2030"},
        {"metric": "sdg_target_corridor_cap", "value_pct": s.corridor_cap_pct, "basis": "SDG 10.c / G20: no corridor above"},
        {"metric": "rpw_global_average", "value_pct": s.global_average_pct, "basis": f"RPW, {s.global_period}"},
        {"metric": "rpw_region_menaap", "value_pct": s.menaap_pct, "basis": "RPW region of Pakistan since 2025"},
        {"metric": "rpw_south_asia", "value_pct": s.south_asia_pct, "basis": f"RPW, {s.global_period}"},
        {"metric": "pakistan_simple_mean", "value_pct": s.simple_mean_200_pct, "basis": "mean over corridors with 2025 data"},
        {"metric": "pakistan_flow_weighted_200", "value_pct": s.flow_weighted_200_pct, "basis": "weighted by SBP FY2025 flows"},
        {"metric": "pakistan_flow_weighted_500", "value_pct": s.flow_weighted_500_pct, "basis": "weighted by SBP FY2025 flows, USD 500"},
        {"metric": "services_at_or_under_3", "value_pct": s.services_le_3_200_pct, "basis": f"share of {s.services_200} services"},
        {"metric": "services_at_or_under_5", "value_pct": s.services_le_5_200_pct, "basis": f"share of {s.services_200} services"},
    ]


def _quarter_x(period: str) -> float:
    return int(period[:4]) + (int(period[5]) - 1) / 4


def scorecard_section(data: Datasets) -> Section:
    lines, s = scorecard.scorecard(data)
    trend = scorecard.trend(data)
    section = Section(
        "G20 / SDG 10.c scorecard",
        [
            f"Targets: the global average cost of sending USD 200 at most {s.average_target_pct}% by 2030 and no "
            f"corridor above {s.corridor_cap_pct}% (FSB, 13 Oct 2021). RPW's global average was "
            f"{s.global_average_pct}% in {s.global_period}; Pakistan's region (Middle East, North Africa, "
            f"Afghanistan and Pakistan) {s.menaap_pct}%, South Asia {s.south_asia_pct}%.",
            f"Pakistan's corridors, latest quarter: simple mean {s.simple_mean_200_pct}% at USD 200 (as RPW averages "
            f"corridors); weighted by FY2025 flows {s.flow_weighted_200_pct}% at USD 200 and "
            f"{s.flow_weighted_500_pct}% at USD 500. Above the 5% cap: {', '.join(s.corridors_above_cap) or 'none'}. "
            f"Of {s.services_200} services quoted at USD 200, {s.services_le_3_200_pct}% cost 3% or less and "
            f"{s.services_le_5_200_pct}% 5% or less. India has no RPW survey after 2024 Q1 (its last mean shown).",
        ],
        id="scorecard",
    )
    section.tables.append(
        Table(
            "scorecard",
            "Every corridor into Pakistan, latest quarter, at USD 200 and USD 500",
            SCORE_COLUMNS,
            [msgspec.structs.asdict(line) for line in lines],
            f"rpw_services.csv (RPW 2025 Q3); rpw_pakistan_timeseries.csv (RPW means to 2025 Q1); {sources_of(s.sources)}",
        )
    )
    section.tables.append(
        Table(
            "trend",
            "RPW corridor mean at USD 200 by quarter",
            columns(("corridor", "Corridor"), ("period", "Quarter"), ("mean_200_pct", "Mean at $200 (%)")),
            [{"corridor": c, "period": p, "mean_200_pct": v} for c, points in sorted(trend.items()) for p, v in points],
            "rpw_pakistan_timeseries.csv (jonsmirl/thesis RPW means, 2016 Q2-2025 Q1) and rpw_services.csv (2025 Q3)",
            inline=False,
        )
    )
    section.tables.append(
        Table(
            "benchmarks",
            "Pakistan's corridors against the targets and RPW's averages (USD 200 unless stated)",
            columns(("metric", "Metric"), ("value_pct", "%"), ("basis", "Basis")),
            benchmark_rows(s),
            f"global_benchmarks.csv ({sources_of(s.sources)}); rpw_services.csv; flows_pakistan.csv",
        )
    )
    # A quarter whose published corridor mean is below zero is drawn at 0 (a sender is not paid to send);
    # its published value stays in trend.csv and the caption names it.
    below = [f"{short_corridor(c)} {p} ({v}%)" for c, points in sorted(trend.items()) for p, v in points if v < 0]
    panels = [
        charts.Series(short_corridor(c), [(_quarter_x(p), float(max(v, 0))) for p, v in points], charts.PALETTE[0])
        for c, points in sorted(trend.items())
    ]
    periods = [p for points in trend.values() for p, _ in points]
    section.figures.append(
        Figure(
            f"RPW average at USD 200, every corridor, {date_span(periods)} (dashed: 3% and 5%)",
            charts.small_multiples(
                "RPW corridor average at USD 200 (%), by quarter, through the latest quarter",
                panels,
                reference_lines=TARGET_LINES,
                y_unit="%",
            ),
            "rpw_pakistan_timeseries.csv (third-party aggregate of RPW); rpw_services.csv (2025 Q3)"
            + (f"; drawn at 0, published below it: {', '.join(below)}" if below else ""),
            status_flags({r.status for r in data.timeseries}),
        )
    )
    return section
