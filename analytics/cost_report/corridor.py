"""Section: the corridor lab's measured figures (a `rail corridor` run's summary.json), beside the survey-based
comparison. A run with a contested assumption (a P2P premium) is shown as a named scenario and never reaches
the headline; the hypothetical Central Asia corridor stays in the lab's own report."""

from __future__ import annotations

from analytics.corridor.report import HEADLINE_BAND, dates_of, headline_routes, route_cell, summary_figure
from analytics.corridor.summary import G20_SPEED_SHARE_PCT, Summary
from analytics.cost_report.common import columns
from analytics.htmlkit import Section, Table
from analytics.htmlkit.charts import fmt_duration

SECTION_TITLE = "Corridor lab: measured over the same remittances"


def corridor_finding(summary: Summary | None) -> str | None:
    """One headline sentence, for a run of an uncontested scenario only."""
    if summary is None or summary.contested:
        return None
    parts = []
    for route in headline_routes(summary):
        band, every = route_cell(summary, route["name"], HEADLINE_BAND), route_cell(summary, route["name"], "all")
        if band and band.cost_pct and every and every.within_hour_pct is not None:
            parts.append(f"{route.get('short', route['name'])} {max(band.cost_pct.p50, 0):.2f}% and "
                         f"{every.within_hour_pct:g}% within an hour")
    if not parts:
        return None
    return (f"Corridor lab ({summary.remittances:,} simulated remittances, RAAST legs on the rail): median cost at "
            f"USD {HEADLINE_BAND} and share credited within one hour: {'; '.join(parts)} (G20: "
            f"{G20_SPEED_SHARE_PCT:g}% within an hour).")


def _rows(summary: Summary) -> list[dict]:
    rows = []
    for route in summary.routes:
        band, every = route_cell(summary, route["name"], HEADLINE_BAND), route_cell(summary, route["name"], "all")
        if every is None or every.offered == 0:
            continue
        cost = band.cost_pct if band else None
        rows.append({
            "route": route.get("short", route["label"]), "credited": every.credited, "failed": every.failed,
            "median_pct": None if cost is None else round(cost.p50, 2),
            "iqr_pct": None if cost is None else f"{cost.p25:.2f} to {cost.p75:.2f}",
            "median_time": None if every.time_s is None else fmt_duration(every.time_s.p50),
            "within_hour_pct": every.within_hour_pct,
        })
    return rows


def corridor_section(summary: Summary, run_dir: str = "") -> Section:
    """The section, from a run's summary (`rail report costs` always has one: it runs a small default run when
    given none; the library call without a run has no such section)."""
    rail = summary.rail
    desks = "; ".join(f"{d.desk}: {d.currency} {float(d.peak):,.0f} ({d.days_of_outflow} days of outflow)"
                      for d in summary.liquidity if d.currency == "PKR" and d.fy2025_flow_usd is not None)
    section = Section(SECTION_TITLE, [
        f"Scenario '{summary.scenario}', seed {summary.seed}: {summary.remittances:,} remittances in the SBP FY2025 mix "
        f"over {summary.days:g} simulated days, sent over every route (run directory {run_dir or 'given'}; its own "
        "report has every corridor beside RPW). Foreign legs are simulated from the cited parameters (RPW quotes, "
        "Swift and SBP timings, ramps, chains); every domestic leg is a real RAAST payment through the rail: "
        f"{rail.settled:,} settled, {rail.rejected:,} rejected by the beneficiary's bank, conservation "
        f"{'held' if rail.conserved else 'FAILED'}.",
        f"Prefunding the instant routes needed in this run: {desks or 'none'}. The Central Asia link is "
        "hypothetical and stays in the lab's report.",
    ], id="corridor-lab", scenario=bool(summary.contested))
    if summary.contested:
        section.paragraphs.insert(0, f"Named scenario with contested assumptions ({'; '.join(summary.contested)}): "
                                     "not a default figure.")
    section.tables.append(Table(
        "corridor_lab", f"Measured by route: cost at the USD {HEADLINE_BAND} band (USD 150-250), time to credit",
        columns(("route", "Route"), ("credited", "Credited"), ("failed", "Failed"), ("median_pct", "Median cost %"),
                ("iqr_pct", "25th to 75th %"), ("median_time", "Median time"), ("within_hour_pct", "Within 1 h %")),
        _rows(summary), f"corridor-lab run {run_dir} (summary.json; {dates_of(summary)})"))
    figure = summary_figure(summary)
    if figure is not None:
        section.figures.append(figure)
    return section
