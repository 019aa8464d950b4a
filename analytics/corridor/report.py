"""The corridor lab's report: the answer first (cost, speed and liquidity per route, the G20 targets), then one
section per question, each ending in its chart and its CSV files. Built from a run's summary.json alone, so a
run directory can be reported again without the rail.

Fairness (docs/analytics.md): like with like (each corridor and amount band beside RPW's quotes of the same
corridor and basket, with the number of quotes behind each figure); the hypothetical Central Asia corridor and
any contested assumption (a P2P premium) stay out of the headline and are set apart; a cost below the
reference rate is drawn at zero in charts (the tables and CSVs keep the signed values).
"""

from __future__ import annotations

import msgspec

from analytics.corridor.report_appendix import central_asia_section, inputs_section, rail_section
from analytics.corridor.report_sections import (
    G20_LINES,
    ROUTE_COLOURS,
    cost_section,
    failures_section,
    liquidity_section,
    time_section,
)
from analytics.corridor.summary import G20_COST_PCT, G20_SPEED_SHARE_PCT, Cell, Summary
from analytics.htmlkit import Figure, Report, Section, boxplot, utc_now
from analytics.pricing.provenance import ATTRIBUTION, date_span, flags_of

TITLE = "Corridor lab: the same remittances over every route into Pakistan"
HEADLINE_BAND = "200"
HIDDEN_FROM_HEADLINE = ("central_asia",)  # every parameter an assumption: its own section only


def route_cell(summary: Summary, route: str, band: str) -> Cell | None:
    return next((c for c in summary.by_route if c.route == route and c.band == band), None)


def headline_routes(summary: Summary) -> list[dict[str, str]]:
    return [r for r in summary.routes if r["name"] not in HIDDEN_FROM_HEADLINE]


def findings(summary: Summary) -> list[str]:
    rail = summary.rail
    out = []
    if summary.contested:
        out.append(f"Named scenario '{summary.scenario}' with contested assumptions: {'; '.join(summary.contested)}. "
                   "Its figures are not the default answer: compare with the default scenario.")
    partial = f" (interrupted: {summary.counted_remittances:,} finished on every route)" if summary.interrupted else ""
    out.append(
        f"{summary.remittances:,} remittances{partial}, the same over every route: SBP FY2025 corridor mix, "
        f"ticket sizes from the load model, {summary.days:g} simulated days from {summary.start[:10]} (seed "
        f"{summary.seed}). {rail.settled:,} domestic legs settled as real RAAST payments through the rail and "
        f"{rail.rejected:,} were rejected by the beneficiary's bank; the rail's books "
        f"{'balance (conservation held, every settled amount moved exactly once)' if rail.balances_match else 'DO NOT balance: ' + '; '.join(rail.mismatches[:3])}."
    )
    costs, speeds = [], []
    for route in headline_routes(summary):
        c = route_cell(summary, route["name"], HEADLINE_BAND)
        a = route_cell(summary, route["name"], "all")
        if c is not None and c.cost_pct is not None:
            costs.append(f"{route.get('short', route['name'])} {max(c.cost_pct.p50, 0):.2f}%")
        if a is not None and a.within_hour_pct is not None:
            speeds.append(f"{route.get('short', route['name'])} {a.within_hour_pct:g}%")
    out.append(f"Median cost at the USD {HEADLINE_BAND} band (USD 150-250): {', '.join(costs)} "
               f"(SDG target: {G20_COST_PCT:g}% on average; per corridor, beside RPW, below).")
    out.append(f"Credited within one hour: {', '.join(speeds)} (G20 target: {G20_SPEED_SHARE_PCT:g}%; Swift reports "
               f"{summary.swift_end_customer_within_hour_pct:g}% of its cross-border payments reach the customer's "
               "account within an hour). Cut-offs and weekends, not networks, set the slow routes' times.")
    out += _liquidity_findings(summary)
    return out


def _liquidity_findings(summary: Summary) -> list[str]:
    out = []
    for desk in summary.liquidity:
        if desk.currency != "PKR" or desk.fy2025_flow_usd is None:
            continue
        scaled = (f"; at 10% of its corridors' FY2025 flows that is about USD {desk.need_at_share_usd / 10**6:,.0f} "
                  "million (DERIVED)") if desk.need_at_share_usd is not None else ""
        out.append(f"{desk.desk} needed PKR {desk.peak / 10**6:,.1f} million of prefunding for this run, "
                   f"{desk.days_of_outflow} days of its outflow (peak {desk.peak_at[:16].replace('T', ' ')}; no "
                   f"refill over the weekend){scaled}.")
    return out


def summary_figure(summary: Summary) -> Figure | None:
    rows = []
    for route in headline_routes(summary):
        c = route_cell(summary, route["name"], HEADLINE_BAND)
        if c is None or c.cost_pct is None:
            continue
        s = c.cost_pct
        rows.append(boxplot.BoxRow(route.get("short", route["label"]), *(max(v, 0.0) for v in (s.p10, s.p25, s.p50, s.p75, s.p90)),
                                   colour=ROUTE_COLOURS.get(route["name"], "#555"), note=f"n={s.n}"))
    if not rows:
        return None
    svg = boxplot.box_chart("Cost of a USD 150-250 remittance by route, % of the amount (all corridors)", rows, "%",
                            reference_lines=G20_LINES)
    return Figure("Cost by route at the USD 200 band", svg,
                  "this run (summary.json): RPW Q3 2025 quotes (rpw_services.csv), onramps.csv, chains.csv, ramps.csv, "
                  f"corridor_lab.csv; costs below the reference rate drawn at 0 ({dates_of(summary)})", _flags(summary))


def _flags(summary: Summary) -> tuple[str, ...]:
    return flags_of(summary.inputs)


def dates_of(summary: Summary) -> str:
    """The run's date and its inputs' dates: what every figure and table of the report carries."""
    return f"run of {summary.run_at[:10]}; inputs dated {date_span(ref.date for ref in summary.inputs)}"


def dated(section: Section, summary: Summary) -> None:
    """Every figure and table of ``section`` names its dates after its source."""
    when = dates_of(summary)
    section.figures[:] = [msgspec.structs.replace(f, source=f"{f.source} ({when})") for f in section.figures]
    for table in section.tables:
        table.source = f"{table.source} ({when})"


def build_report(summary: Summary, meta: dict[str, str] | None = None) -> Report:
    sections = [
        cost_section(summary), time_section(summary), liquidity_section(summary), failures_section(summary),
        rail_section(summary),
    ]
    ca = central_asia_section(summary)
    if ca is not None:
        sections.append(ca)
    sections.append(inputs_section(summary))
    for section in sections:
        dated(section, summary)
    info = {
        "Scenario": f"{summary.scenario}" + (f" ({summary.description})" if summary.description else ""),
        "Remittances": f"{summary.remittances:,}", "Seed": str(summary.seed),
        "Contested assumptions": "; ".join(summary.contested) or "none",
    } | (meta or {})
    return Report(TITLE, utc_now(), info, findings(summary), sections, summary_figure(summary), ATTRIBUTION)


def write_corridor_report(run_dir, summary: Summary, meta: dict[str, str] | None = None):
    """report.html, report.json and tables/*.csv into the run directory; returns the HTML path."""
    from analytics.htmlkit import write_report

    return write_report(build_report(summary, meta), run_dir)
