"""The corridor lab report's sections, one function each, from a run's summary."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from analytics.corridor.model import COST_PART_LABELS, COST_PARTS
from analytics.corridor.summary import G20_COST_PCT, G20_SPEED_SHARE_PCT, HOUR_S, Cell, Stats, Summary
from analytics.htmlkit import Column, Figure, Section, Table, boxplot, charts

ROUTE_COLOURS = {
    "correspondent": "#0072B2", "mto": "#56B4E9", "instant_link": "#009E73", "stablecoin_exchange": "#E69F00",
    "stablecoin_p2p": "#CC79A7", "central_asia": "#7f7f7f",
}
G20_LINES = [(G20_COST_PCT, "3% SDG average"), (5.0, "5% corridor cap")]
HOUR_LINE = [(HOUR_S, "1 hour (G20: 75% of remittances)")]
CENTRAL_ASIA = "central_asia"
RUN_SOURCE = "this run: results.csv and summary.json"
INLINE_ROWS_MAX = 25


def _cols(*pairs: tuple[str, str]) -> list[Column]:
    return [Column(k, v) for k, v in pairs]


def _floored(s: Stats) -> tuple[float, float, float, float, float]:
    """A cost distribution as drawn: below the reference rate shows as 0 (tables keep the signed values)."""
    return tuple(max(v, 0.0) for v in (s.p10, s.p25, s.p50, s.p75, s.p90))  # type: ignore[return-value]


def _r(value: float | None) -> float | None:
    """A percentage as a reader compares it: two decimals (summary.json keeps four)."""
    return None if value is None else round(value, 2)


def _name(route: str) -> str:
    return route.replace("_", " ")


def _cost_row(c: Cell) -> dict:
    s = c.cost_pct
    row = {
        "corridor": c.corridor, "route": c.route, "band_usd": c.band, "offered": c.offered, "credited": c.credited,
        "failed": c.failed,
        "median_pct": _r(s and s.p50), "p25_pct": _r(s and s.p25), "p75_pct": _r(s and s.p75),
        "mean_pct": _r(s and s.mean),
    }
    row |= {f"{part}_pct": _r(c.split_pct.get(part)) for part in COST_PARTS}
    r = c.rpw
    row |= {
        "rpw_pool": r and r.pool, "rpw_quotes": r and r.n_quotes, "rpw_mean_pct": _r(r and r.mean),
        "rpw_median_pct": _r(r and r.median), "rpw_q1_pct": _r(r and r.q1), "rpw_q3_pct": _r(r and r.q3),
        "rpw_min_pct": _r(r and r.min), "rpw_max_pct": _r(r and r.max), "rpw_source": r and r.source,
    }
    return row


COST_COLUMNS = _cols(
    ("corridor", "Corridor"), ("route", "Route"), ("band_usd", "Band (USD basket)"), ("offered", "Offered"),
    ("credited", "Credited"), ("failed", "Failed"), ("median_pct", "Median %"), ("p25_pct", "25th %"),
    ("p75_pct", "75th %"), ("mean_pct", "Mean %"),
    *((f"{p}_pct", f"{COST_PART_LABELS[p]} % (mean)") for p in COST_PARTS),
    ("rpw_pool", "RPW pool"), ("rpw_quotes", "RPW quotes"), ("rpw_mean_pct", "RPW mean %"),
    ("rpw_median_pct", "RPW median %"), ("rpw_q1_pct", "RPW 25th %"), ("rpw_q3_pct", "RPW 75th %"),
    ("rpw_min_pct", "RPW min %"), ("rpw_max_pct", "RPW max %"), ("rpw_source", "RPW source"),
)


def _cost_chart(summary: Summary, band: str) -> Figure | None:
    rows = []
    for c in summary.cells:
        if c.band != band or c.route == CENTRAL_ASIA or c.cost_pct is None:
            continue
        rpw = f" · RPW {c.rpw.mean:.2f}% of {c.rpw.n_quotes}" if c.rpw else ""
        rows.append(boxplot.BoxRow(f"{c.corridor.removesuffix('->PAK')} {_name(c.route)}", *_floored(c.cost_pct),
                                   colour=ROUTE_COLOURS.get(c.route, "#555"), marker=c.rpw and max(c.rpw.mean, 0.0),
                                   note=f"n={c.cost_pct.n}{rpw}"))
    if not rows:
        return None
    svg = boxplot.box_chart(f"Cost of a remittance in the USD {band} band, by corridor and route, % of the amount",
                            rows, "%", marker_name="RPW mean of the same corridor, basket and pool",
                            reference_lines=G20_LINES)
    return Figure(f"Cost by corridor and route, USD {band} band, beside RPW", svg,
                  f"{RUN_SOURCE}; RPW Q3 2025 quotes at the USD {band} basket (rpw_services.csv, CC BY 4.0)")


def cost_section(summary: Summary) -> Section:
    section = Section("Cost by route and corridor", [
        "Every remittance is priced over every route that exists for its corridor, at its own amount. Formal routes "
        "draw one of the corridor's RPW services (Q3 2025 quotes, rpw_services.csv) uniformly, as RPW's corridor "
        "average weighs services equally: correspondent banking from the bank services, money transfer operators "
        "from the others (a name-based split, as corridors.csv's). A service's fee and FX margin between and beyond "
        "the USD 200 and 500 baskets follow the cost report's one interpolation rule.",
        "Like with like: a remittance of USD 150-250 stands beside RPW's USD 200 quotes, one of USD 400-600 beside "
        "the USD 500 quotes, of the same corridor and the same pool (bank, non-bank, or all services for the other "
        "routes), with the number of quotes behind each figure. Every route here credits a bank account; RPW's "
        "per-quote export does not say how each service delivers, so its pools mix account credits and cash.",
        "Cost components (fee, FX margin, network, ramps, P2P premium) are in results.csv for every remittance.",
    ], id="cost")
    inline = [_cost_row(c) for c in summary.by_route if c.band != "all" and c.route != CENTRAL_ASIA]
    keys = ("route", "band_usd", "credited", "median_pct", "p25_pct", "p75_pct", "mean_pct",
            *(f"{p}_pct" for p in COST_PARTS))
    section.tables.append(Table("route_costs", "Cost by route and amount band, all corridors, % of the amount",
                                [c for c in COST_COLUMNS if c.key in keys], inline, RUN_SOURCE))
    section.tables.append(Table("corridor_route_costs", "Cost by corridor, route and band, beside RPW",
                                COST_COLUMNS, [_cost_row(c) for c in summary.cells if c.band != "all"],
                                f"{RUN_SOURCE}; rpw_services.csv", inline=False))
    for band in ("200", "500"):
        figure = _cost_chart(summary, band)
        if figure is not None:
            section.figures.append(figure)
    section.figures.append(_split_chart(summary))
    return section


def _split_chart(summary: Summary) -> Figure:
    cells = [c for c in summary.by_route if c.band == "200" and c.route != CENTRAL_ASIA and c.split_pct]
    segments = [charts.Segment(COST_PART_LABELS[p], charts.PALETTE[i]) for i, p in enumerate(COST_PARTS)]
    svg = charts.stacked_bar_chart("Mean cost by component at the USD 200 band, % of the amount",
                                   [_name(c.route) for c in cells], segments,
                                   [[c.split_pct.get(p, 0.0) for p in COST_PARTS] for c in cells], "%")
    return Figure("What the cost is made of (USD 200 band)", svg, RUN_SOURCE)


def _time_row(c: Cell) -> dict:
    s = c.time_s
    return {
        "corridor": c.corridor, "route": c.route, "credited": c.credited,
        "median_s": s and round(s.p50), "p90_s": s and round(s.p90), "median": s and charts.fmt_duration(s.p50),
        "p90": s and charts.fmt_duration(s.p90), "within_hour_pct": c.within_hour_pct,
        "within_day_pct": c.within_day_pct,
        "g20_hour_target_met": None if c.within_hour_pct is None else c.within_hour_pct >= G20_SPEED_SHARE_PCT,
    }


TIME_COLUMNS = _cols(
    ("corridor", "Corridor"), ("route", "Route"), ("credited", "Credited"), ("median", "Median"), ("p90", "90th"),
    ("median_s", "Median (s)"), ("p90_s", "90th (s)"), ("within_hour_pct", "Within 1 h %"),
    ("within_day_pct", "Within 24 h %"), ("g20_hour_target_met", "G20 75% in 1 h met"),
)


def _time_chart(title: str, cells: list[Cell], label) -> str:
    rows = [boxplot.BoxRow(label(c), c.time_s.p10, c.time_s.p25, c.time_s.p50, c.time_s.p75, c.time_s.p90,
                           colour=ROUTE_COLOURS.get(c.route, "#555"), note=f"{c.within_hour_pct:g}% in 1 h")
            for c in cells if c.time_s is not None and c.within_hour_pct is not None]
    return boxplot.box_chart(title, rows, log=True, reference_lines=HOUR_LINE)


def time_section(summary: Summary) -> Section:
    section = Section("Time to credit", [
        "From the sender starting the transfer to the beneficiary's bank crediting the account, step by step "
        "(results.csv lists each step). Cut-offs and weekends are those of the sender's country and of Pakistan "
        "(business_calendars.csv); the Pakistani bank's inward window is SBP's (PSD Circular Letter 04 of 2015); the "
        "RAAST step is the rail's own measured settlement time for that payment.",
        f"G20 target: 75% of remittances credited within one hour. Swift reports "
        f"{summary.swift_end_customer_within_hour_pct:g}% of its cross-border payments reach the end customer's "
        "account within an hour (17 Oct 2024, SECONDARY): the correspondent route's figure stands beside it.",
    ], id="time")
    by_route = [c for c in summary.by_route if c.band == "all"]
    section.tables.append(Table("route_times", "Time to credit by route, all corridors and amounts",
                                [c for c in TIME_COLUMNS if c.key != "corridor"], [_time_row(c) for c in by_route],
                                RUN_SOURCE))
    per_corridor = [c for c in summary.cells if c.band == "all"]
    section.tables.append(Table("corridor_route_times", "Time to credit by corridor and route", TIME_COLUMNS,
                                [_time_row(c) for c in per_corridor], RUN_SOURCE, inline=False))
    section.figures.append(Figure("Time to credit by route (log scale)", _time_chart(
        "Time to credit by route, all corridors (log scale)", [c for c in by_route if c.route != CENTRAL_ASIA],
        lambda c: _name(c.route)), f"{RUN_SOURCE}; corridor_lab.csv; business_calendars.csv"))
    section.figures.append(Figure("Time to credit by corridor and route (log scale)", _time_chart(
        "Time to credit by corridor and route (log scale)", [c for c in per_corridor if c.route != CENTRAL_ASIA],
        lambda c: f"{c.corridor.removesuffix('->PAK')} {_name(c.route)}"), f"{RUN_SOURCE}; corridor_lab.csv"))
    return section


def liquidity_section(summary: Summary) -> Section:
    section = Section("Liquidity the instant routes needed", [
        "A desk that pays out before it is paid must be prefunded: the instant link's FX provider pays rupees "
        "through RAAST seconds after the sender's payment but buys rupees in the inter-bank market once a working "
        "day; a stablecoin on-ramp sells USDT before it buys more; the exchange off-ramp pays rupees before it "
        "sells the USDT it received. The need is the peak of cumulative outflow minus refills over the run "
        "(refills once per working day of the desk's country at 15:00: corridor_lab.csv, an ASSUMPTION).",
        "It scales with volume: 'days of outflow' is the peak over the mean day's outflow, and the last column "
        "applies it to 10% of the served corridors' SBP FY2025 flows (DERIVED; other GCC split equally).",
    ], id="liquidity")
    rows = [{
        "desk": d.desk, "currency": d.currency, "routes": ", ".join(d.routes), "corridors": ", ".join(d.corridors),
        "payments": d.payments, "paid_out": d.paid_out, "peak": d.peak, "peak_at": d.peak_at[:16].replace("T", " "),
        "days_of_outflow": d.days_of_outflow,
        "fy2025_flow_usd_bn": None if d.fy2025_flow_usd is None else (d.fy2025_flow_usd / 10**9).quantize(Decimal("0.001")),
        "need_at_10pct_usd_m": None if d.need_at_share_usd is None else (d.need_at_share_usd / 10**6).quantize(Decimal("0.1")),
    } for d in summary.liquidity]
    section.tables.append(Table("liquidity", "Prefunding and inventory each desk needed", _cols(
        ("desk", "Desk"), ("currency", "Currency"), ("routes", "Routes"), ("corridors", "Corridors"),
        ("payments", "Payouts"), ("paid_out", "Paid out"), ("peak", "Peak need"), ("peak_at", "Peak at (sim.)"),
        ("days_of_outflow", "Days of outflow"), ("fy2025_flow_usd_bn", "FY2025 flows (USD bn)"),
        ("need_at_10pct_usd_m", "Need at 10% of flows (USD m, DERIVED)")), rows,
        f"{RUN_SOURCE}; liquidity.csv; flows_pakistan.csv; corridor_lab.csv desk_rebalance_hour"))
    bars = [charts.Bar(d.desk, float(d.days_of_outflow), ROUTE_COLOURS.get(d.routes[0], "#555"),
                       f"{d.currency} {float(d.peak):,.0f}") for d in summary.liquidity]
    section.figures.append(Figure("Peak need in days of outflow", charts.bar_chart(
        "Peak prefunding or inventory, in days of the desk's mean outflow", bars, " d"),
        f"{RUN_SOURCE}; corridor_lab.csv (refill rule, ASSUMPTION)", ("ASSUMPTION",)))
    return section


def failures_section(summary: Summary) -> Section:
    section = Section("Failures, and routes that do not exist", [
        "A failure is a remittance that did not reach the beneficiary: a RAAST rejection by the beneficiary's bank "
        "(the ISO reason comes from the rail: these beneficiaries hold closed, blocked or invalid accounts, "
        "corridor_lab.csv beneficiary_account_reject_pct, an ASSUMPTION), or a refusal before RAAST where a route "
        "has a failure rate. Failed remittances are not priced. 'Not offered' is a route that does not exist for a "
        "corridor in the data (no bank quote in RPW, no licensed on-ramp, no link): not a failure.",
    ], id="failures")
    section.tables.append(Table("failures", "Failed remittances by route, corridor and reason",
                                _cols(("route", "Route"), ("corridor", "Corridor"), ("reason", "Reason"),
                                      ("count", "Remittances")), summary.failures, RUN_SOURCE,
                                inline=len(summary.failures) <= INLINE_ROWS_MAX))
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for item in summary.not_offered:
        grouped[(item["route"], item["reason"])].append(item["corridor"].removesuffix("->PAK"))
        counts[(item["route"], item["reason"])] += item["count"]
    section.tables.append(Table("not_offered", "Routes not offered, and why", _cols(
        ("route", "Route"), ("reason", "Why"), ("corridors", "Corridors"), ("count", "Remittances")),
        [{"route": k[0], "reason": k[1], "corridors": ", ".join(v), "count": counts[k]} for k, v in grouped.items()],
        RUN_SOURCE))
    bars = [charts.Bar(_name(c.route), 100 * c.failed / c.offered if c.offered else 0.0,
                       ROUTE_COLOURS.get(c.route, "#555"), f"{c.failed} of {c.offered}")
            for c in summary.by_route if c.band == "all"]
    section.figures.append(Figure("Failure rate by route", charts.bar_chart(
        "Remittances that failed, % of those offered", bars, "%"), RUN_SOURCE, ("ASSUMPTION",)))
    return section
