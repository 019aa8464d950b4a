"""Every RPW corridor into Pakistan against the SDG 10.c / G20 remittance targets.

Targets (FSB, 13 Oct 2021): the global average cost of sending USD 200 at most 3% by 2030, no corridor
above 5%. For each corridor, at the latest quarter: the RPW average at USD 200 and USD 500 (the simple
mean over transparent services, as RPW computes it), the share of services at or under 3% and 5%, and
the change since 2018, set against RPW's global average and its regional averages.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from analytics.datasets import BENCHMARKS_CSV, RPW_BASKETS_USD, TIMESERIES_CSV, DataError, Datasets
from analytics.pricing import services
from analytics.pricing.flows import annual_summary
from analytics.pricing.provenance import InputRef, pct

TREND_FROM_YEAR = "2018"


class ScoreLine(msgspec.Struct, frozen=True):
    corridor: str
    latest_period: str
    n_services_200: int
    mean_200_pct: Decimal
    share_le_3_200_pct: Decimal | None  # None where only a corridor mean is in the data (IND)
    share_le_5_200_pct: Decimal | None
    n_services_500: int | None
    mean_500_pct: Decimal | None
    share_le_3_500_pct: Decimal | None
    share_le_5_500_pct: Decimal | None
    above_cap_200: bool
    period_2018: str | None
    mean_2018_200_pct: Decimal | None
    change_since_2018_pp: Decimal | None
    status: str


class ScoreSummary(msgspec.Struct, frozen=True):
    average_target_pct: Decimal
    corridor_cap_pct: Decimal
    global_average_pct: Decimal
    global_period: str
    menaap_pct: Decimal  # RPW's region for Pakistan since 2025 (Middle East, North Africa, Afghanistan, Pakistan)
    south_asia_pct: Decimal
    simple_mean_200_pct: Decimal  # over corridors with 2025 data, as the SDG global average is computed
    flow_weighted_200_pct: Decimal  # over FY2025 flows with an RPW corridor
    flow_weighted_500_pct: Decimal
    corridors_above_cap: tuple[str, ...]
    services_200: int
    services_le_3_200_pct: Decimal  # pooled over every corridor's services
    services_le_5_200_pct: Decimal
    sources: tuple[InputRef, ...]


def benchmark(data: Datasets, needle: str, period: str | None = None) -> InputRef:
    for row in data.benchmarks:
        if needle in row.metric and (period is None or row.period == period):
            return InputRef(BENCHMARKS_CSV, row.metric, str(row.value_pct), row.status, row.source, row.period)
    raise DataError(f"{BENCHMARKS_CSV}: no metric containing {needle!r}")


def _first_2018(data: Datasets, iso3: str) -> tuple[str, Decimal] | None:
    rows = sorted(
        (r for r in data.timeseries if r.source_iso3 == iso3 and r.period.startswith(TREND_FROM_YEAR)),
        key=lambda r: r.period,
    )
    return (rows[0].period, rows[0].avg_total_cost_pct_200) if rows else None


def _line_from_services(data: Datasets, corridor: str, cap: Decimal) -> ScoreLine | None:
    low = services.tier(data, corridor, RPW_BASKETS_USD[0])
    if low is None:
        return None
    high = services.tier(data, corridor, RPW_BASKETS_USD[1])
    start = _first_2018(data, corridor[:3])
    return ScoreLine(
        corridor=corridor,
        latest_period=low.period,
        n_services_200=low.n_services,
        mean_200_pct=low.mean_pct,
        share_le_3_200_pct=low.share_le_3_pct,
        share_le_5_200_pct=low.share_le_5_pct,
        n_services_500=high.n_services if high else None,
        mean_500_pct=high.mean_pct if high else None,
        share_le_3_500_pct=high.share_le_3_pct if high else None,
        share_le_5_500_pct=high.share_le_5_pct if high else None,
        above_cap_200=low.mean_pct > cap,
        period_2018=start[0] if start else None,
        mean_2018_200_pct=start[1] if start else None,
        change_since_2018_pp=pct(low.mean_pct - start[1]) if start else None,
        status=low.source.status,
    )


def _line_from_timeseries(data: Datasets, iso3: str, cap: Decimal) -> ScoreLine:
    """A corridor RPW stopped surveying (India, until 2024 Q1): its last corridor-quarter mean only."""
    latest = max((r for r in data.timeseries if r.source_iso3 == iso3), key=lambda r: r.period)
    start = _first_2018(data, iso3)
    return ScoreLine(
        corridor=f"{iso3}->PAK",
        latest_period=latest.period,
        n_services_200=latest.n_rows,
        mean_200_pct=latest.avg_total_cost_pct_200,
        share_le_3_200_pct=None,
        share_le_5_200_pct=None,
        n_services_500=None,
        mean_500_pct=latest.avg_total_cost_pct_500,
        share_le_3_500_pct=None,
        share_le_5_500_pct=None,
        above_cap_200=latest.avg_total_cost_pct_200 > cap,
        period_2018=start[0] if start else None,
        mean_2018_200_pct=start[1] if start else None,
        change_since_2018_pp=pct(latest.avg_total_cost_pct_200 - start[1]) if start else None,
        status=f"{latest.status} (no RPW data after {latest.period})",
    )


def scorecard(data: Datasets) -> tuple[list[ScoreLine], ScoreSummary]:
    average_ref = benchmark(data, "SDG 10.c / G20 remittance cost target")
    cap_ref = benchmark(data, "SDG 10.c / G20: no corridor above")
    global_ref = benchmark(data, "RPW global average cost, $200")
    menaap_ref = benchmark(data, "MENAAP")
    south_asia_ref = benchmark(data, "South Asia", global_ref.date)
    cap = Decimal(cap_ref.value)
    lines = [line for c in services.service_corridors(data) if (line := _line_from_services(data, c, cap))]
    surveyed = {line.corridor[:3] for line in lines}
    lines += [_line_from_timeseries(data, iso, cap) for iso in sorted({r.source_iso3 for r in data.timeseries} - surveyed)]
    current = [line for line in lines if line.share_le_5_200_pct is not None]
    pooled = [q for line in current for q in services.quotes(data, line.corridor, RPW_BASKETS_USD[0])]
    summary = ScoreSummary(
        average_target_pct=Decimal(average_ref.value),
        corridor_cap_pct=cap,
        global_average_pct=Decimal(global_ref.value),
        global_period=global_ref.date,
        menaap_pct=Decimal(menaap_ref.value),
        south_asia_pct=Decimal(south_asia_ref.value),
        simple_mean_200_pct=pct(sum((line.mean_200_pct for line in current), Decimal(0)) / len(current)),
        flow_weighted_200_pct=annual_summary(data, RPW_BASKETS_USD[0]).weighted_pct,
        flow_weighted_500_pct=annual_summary(data, RPW_BASKETS_USD[1]).weighted_pct,
        corridors_above_cap=tuple(line.corridor for line in current if line.above_cap_200),
        services_200=len(pooled),
        services_le_3_200_pct=services.share(sum(1 for q in pooled if q.total_cost_pct <= 3), len(pooled)),
        services_le_5_200_pct=services.share(sum(1 for q in pooled if q.total_cost_pct <= 5), len(pooled)),
        sources=(average_ref, cap_ref, global_ref, menaap_ref, south_asia_ref),
    )
    return lines, summary


def trend(data: Datasets) -> dict[str, list[tuple[str, Decimal]]]:
    """Corridor means at USD 200 by quarter: the 2016-2025 Q1 series, then the latest quarter from the
    per-service quotes (RPW ran no 2025 Q2 collection round)."""
    series: dict[str, list[tuple[str, Decimal]]] = {}
    for row in sorted(data.timeseries, key=lambda r: r.period):
        series.setdefault(f"{row.source_iso3}->PAK", []).append((row.period, row.avg_total_cost_pct_200))
    for corridor in services.service_corridors(data):
        latest = services.tier(data, corridor, RPW_BASKETS_USD[0])
        points = series.setdefault(corridor, [])
        if latest and (not points or points[-1][0] < latest.period):
            points.append((latest.period, latest.mean_pct))
    return series


TREND_SOURCES = (TIMESERIES_CSV, "rpw_services.csv")
