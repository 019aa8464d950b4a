"""The corridor lab report's closing sections: the RAAST leg on the rail, the hypothetical Central Asia corridor
(set apart: every parameter an assumption) and the inputs with their sources."""

from __future__ import annotations

from decimal import Decimal

from analytics.corridor.report_sections import (
    CENTRAL_ASIA,
    COST_COLUMNS,
    RUN_SOURCE,
    TIME_COLUMNS,
    _cols,
    _cost_row,
    _floored,
    _time_row,
)
from analytics.corridor.summary import Summary
from analytics.htmlkit import Figure, Section, Table, boxplot, charts
from analytics.pricing.provenance import flags_of


def rail_section(summary: Summary) -> Section:
    rail = summary.rail
    lat = summary.raast_latency_ms
    latency = (f"The rail's own settlement time (received to final, from its payment record) was {lat.p50:.0f} ms at "
               f"the median and {lat.p90:.0f} ms at the 90th percentile, over {lat.n:,} payments; it includes the "
               "simulated beneficiary bank's answer (20-150 ms, the scheme's sandbox delay). It is measured on this "
               "machine, so it is the one figure a rerun with the same seed does not repeat exactly.") if lat else ""
    section = Section("The RAAST leg, on the rail", [
        "Every domestic leg is a pacs.008 from the route's payer (the Pakistani bank paying out, the link's FX "
        "provider, the exchange off-ramp, the P2P buyer's bank) to the beneficiary's bank, through a rail opened for "
        "the run in this process, with the simulated banks answering as creditors. The rail settles or rejects it "
        "as it would any participant's payment; the lab reads the outcome, never decides it.",
        f"{rail.payments:,} payments: {rail.settled:,} settled (PKR {rail.settled_paisa / 100:,.0f}), "
        f"{rail.rejected:,} rejected. Conservation {'held' if rail.conserved else 'FAILED'}; every settlement account "
        f"moved by exactly what the lab saw settle: {'yes' if rail.balances_match else 'NO: ' + '; '.join(rail.mismatches)}.",
        latency,
    ], id="rail")
    rows = [{"bic": bic, "moved_pkr": Decimal(moved) / 100} for bic, moved in sorted(rail.moved_paisa.items())]
    section.tables.append(Table("rail_balances", "Settlement accounts: posted balance after the run minus before (PKR)",
                                _cols(("bic", "Participant"), ("moved_pkr", "Moved (PKR)")), rows,
                                "the rail's balances (GET /admin/balances) before and after the run"))
    bars = [charts.Bar(r["bic"], float(r["moved_pkr"]) / 10**6, "#7f7f7f") for r in rows]
    section.figures.append(Figure("What each participant paid and received through RAAST", charts.bar_chart(
        "Net movement of each settlement account over the run, PKR million", bars, " m"),
        "the rail's own balances before and after the run"))
    return section


def central_asia_section(summary: Summary) -> Section | None:
    cells = [c for c in summary.cells if c.route == CENTRAL_ASIA]
    if not cells:
        return None
    section = Section("Scenario: a Central Asia corridor (hypothetical)", [
        "Uzbekistan to Pakistan through an instant link that does not exist: every parameter (the corridor's share, "
        "ticket size, fee, FX margin, timing, failure rate) is an ASSUMPTION in corridor_lab.csv (ca_*), shown "
        "here and nowhere in the headline. The RAAST leg is as real as every other route's.",
    ], id="central-asia", scenario=True)
    section.tables.append(Table("central_asia_costs", "Central Asia link: cost and time (all assumptions)",
                                [c for c in COST_COLUMNS if not c.key.startswith("rpw")] +
                                [c for c in TIME_COLUMNS if c.key in ("median", "within_hour_pct")],
                                [_cost_row(c) | _time_row(c) for c in cells], f"{RUN_SOURCE}; corridor_lab.csv ca_*"))
    rows = [boxplot.BoxRow(f"UZB, USD {c.band} band" if c.band != "all" else "UZB, all amounts", *_floored(c.cost_pct),
                           colour="#7f7f7f", note=f"n={c.cost_pct.n}") for c in cells if c.cost_pct is not None]
    section.figures.append(Figure("Central Asia link: cost (assumptions)", boxplot.box_chart(
        "Cost of a Uzbekistan-Pakistan remittance over the hypothetical link, % of the amount", rows, "%"),
        "corridor_lab.csv ca_* (ASSUMPTION)", ("ASSUMPTION",)))
    return section


def inputs_section(summary: Summary) -> Section:
    rows = [{"file": r.file, "item": r.item, "value": r.value, "status_label": r.label, "status": r.status,
             "source": r.source, "date": r.date} for r in summary.inputs]
    section = Section("Inputs and their sources", [
        "Every input the run read, with its file, source, date and status; inputs below VERIFIED/RECOMPUTED are "
        f"flagged: {', '.join(flags_of(summary.inputs)) or 'none'}. Not modelled: public holidays, daylight "
        "saving, a bank's own cut-off schedule (one assumed cut-off), RPW's speed per service (not in the cited "
        "export), a foreign-leg failure rate (no published figure), the FX rate's movement over a transfer.",
        "Determinism: the same scenario and seed give the same population, costs, steps and outcomes; only the "
        "RAAST step's measured time (and so the exact time to credit) is a measurement of this machine.",
    ], id="inputs")
    section.tables.append(Table("inputs", "Inputs of this run", _cols(
        ("file", "File"), ("item", "Item"), ("value", "Value"), ("status_label", "Flag"), ("status", "Status"),
        ("source", "Source"), ("date", "Date")), rows, "analytics/data (see LICENSE-DATA.md)", inline=False))
    return section
