"""Section: FY2025 flows by source, what senders paid on them, and the PRI rebate reconciled."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from analytics.cost_report.common import FORMAL_COLOUR, bn, columns, money_m
from analytics.datasets import RPW_BASKETS_USD, Datasets
from analytics.htmlkit import Figure, Section, Table, charts
from analytics.pricing import flows, pri, services
from analytics.pricing.provenance import date_span, sources_of


def flow_rows(data: Datasets) -> list[dict[str, Any]]:
    at = {b: flows.annual_summary(data, b) for b in RPW_BASKETS_USD}
    rows = []
    for i, (group, pct_200, paid_200) in enumerate(at[RPW_BASKETS_USD[0]].by_source):
        _, pct_500, paid_500 = at[RPW_BASKETS_USD[1]].by_source[i]
        rows.append(
            {
                "series": group.series,
                "corridor": group.corridor or "no RPW corridor",
                "flow_usd_bn": bn(group.flow_usd),
                "cost_200_pct": pct_200,
                "paid_200_usd_m": money_m(paid_200),
                "cost_500_pct": pct_500,
                "paid_500_usd_m": money_m(paid_500),
                "status": group.status,
                "note": group.note
                or ("equal-weight mean of KWT, QAT, OMN, BHR: SBP's per-country split is not in the data" if group.corridor == "GCC->PAK" else ""),
            }
        )
    return rows


def pri_rows(r: pri.PriReconciliation) -> list[dict[str, Any]]:
    million = Decimal(1_000_000)
    return [
        {"item": "spend_fy2025_pkr_bn", "value": r.spend_pkr_bn, "unit": "PKR bn",
         "basis": "TT-charges scheme, FY2025, Finance Division brief to the ECC (SECONDARY)"},
        {"item": "spend_fy2025_usd_m", "value": money_m(r.spend_usd), "unit": "USD m", "basis": f"at {r.pkr_per_usd} PKR/USD"},
        {"item": "spend_share_of_flows", "value": r.spend_share_of_flows_pct, "unit": "%", "basis": f"of USD {bn(r.flows_usd)} bn"},
        {"item": "rebate_fy2025_sar", "value": f"{r.fy2025_rebate_sar_low}-{r.fy2025_rebate_sar_high}", "unit": "SAR",
         "basis": f"per transaction of USD {r.fy2025_min_usd}+ (ECC model of Aug 2024; up to 35 with growth add-ons)"},
        {"item": "rebated_transactions_m", "value": f"{(r.rebated_transactions_low / million).quantize(Decimal('0.1'))}-"
         f"{(r.rebated_transactions_high / million).quantize(Decimal('0.1'))}", "unit": "million", "basis": "spend / rebate (DERIVED)"},
        {"item": "implied_ticket_usd", "value": f"{r.implied_ticket_usd_low.quantize(Decimal('1'))}-"
         f"{r.implied_ticket_usd_high.quantize(Decimal('1'))}", "unit": "USD", "basis": "flows / transactions, every dollar rebated (DERIVED)"},
        {"item": "rebate_fy2026_usd", "value": r.fy2026_rebate_usd.quantize(Decimal("0.01")), "unit": "USD",
         "basis": f"SAR 20 from 2025-07-01, transactions of USD {r.fy2026_min_usd}+ charging no fee"},
        {"item": "earlier_model_usd_m", "value": money_m(r.fy2026_rule_on_fy2025_at_200_usd), "unit": "USD m",
         "basis": "FY2026 rule on FY2025 flows at USD 200 tickets: wrong year, fee-paying transactions rebated; not used"},
    ]


def fee_free_rows(data: Datasets, corridors: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for corridor in corridors:
        tiers = {b: services.tier(data, corridor, b) for b in RPW_BASKETS_USD}
        if all(t is None for t in tiers.values()):
            continue
        rows.append(
            {
                "corridor": corridor,
                **{f"fee_free_{b}_pct": (t.fee_free_share * 100).quantize(Decimal("0.1")) if t else None for b, t in tiers.items()},
                **{f"n_{b}": t.n_services if t else None for b, t in tiers.items()},
            }
        )
    return rows


def flows_section(data: Datasets, corridors: Sequence[str]) -> Section:
    r = pri.reconcile(data)
    groups = flows.fy2025_flow_groups(data)
    at_200 = flows.annual_summary(data, RPW_BASKETS_USD[0])
    at_500 = flows.annual_summary(data, RPW_BASKETS_USD[1])
    section = Section(
        "FY2025 flows and the PRI rebate",
        [
            f"SBP's FY2025 workers' remittances by source ({date_span(g.date for g in groups)}), priced at each "
            f"source's RPW corridor average (a simple mean over services, not market-share weighted). The sources "
            f"with an RPW corridor carry USD {bn(at_200.covered_flow_usd)} bn of USD {bn(at_200.total_flow_usd)} bn: "
            f"flow-weighted cost {at_200.weighted_pct}% at USD 200 tickets, {at_500.weighted_pct}% at USD 500. The "
            "residual is computed as the total less the listed sources; EU and residual flows have no RPW corridor.",
            f"PRI: the state reported ~Rs {r.spend_pkr_bn}bn on the TT-charges rebate in FY2025. Under FY2025's rule "
            f"that implies {(r.rebated_transactions_low / 10**6).quantize(Decimal('1'))}-"
            f"{(r.rebated_transactions_high / 10**6).quantize(Decimal('1'))}m rebated transactions and, if every dollar "
            f"was rebated, an average ticket of USD {r.implied_ticket_usd_low.quantize(Decimal('1'))}-"
            f"{r.implied_ticket_usd_high.quantize(Decimal('1'))}: between the two RPW baskets. From FY2026 the rebate "
            "goes only to transactions that charge no fee: the share of fee-free services per corridor is below.",
        ],
        id="flows-and-pri",
    )
    section.tables.append(
        Table(
            "flows",
            "FY2025 flows by source and what senders paid (RPW corridor averages)",
            columns(
                ("series", "Source (SBP series)"), ("corridor", "Corridor"), ("flow_usd_bn", "Flow (USD bn)"),
                ("cost_200_pct", "Cost at $200 (%)"), ("paid_200_usd_m", "Paid at $200 (USD m)"),
                ("cost_500_pct", "Cost at $500 (%)"), ("paid_500_usd_m", "Paid at $500 (USD m)"),
                ("status", "Flow status"), ("note", "Note"),
            ),
            flow_rows(data),
            f"flows_pakistan.csv (SBP via the press); {sources_of(at_200.inputs)}",
        )
    )
    section.tables.append(
        Table("pri", "The PRI rebate, reconciled with the reported spend",
              columns(("item", "Item"), ("value", "Value"), ("unit", "Unit"), ("basis", "Basis")),
              pri_rows(r), f"parameters.csv; flows_pakistan.csv; {sources_of(r.inputs)}")
    )
    section.tables.append(
        Table(
            "fee_free_services",
            "Share of services charging no fee (rebate-eligible under the FY2026 rule)",
            columns(("corridor", "Corridor"), ("fee_free_200_pct", "Fee-free at $200 (%)"), ("n_200", "n at $200"),
                    ("fee_free_500_pct", "Fee-free at $500 (%)"), ("n_500", "n at $500")),
            fee_free_rows(data, corridors),
            "rpw_services.csv (RPW 2025 Q3 = FY2026)",
        )
    )
    bars = [
        charts.Bar(f"Senders paid, USD 200 tickets ({at_200.weighted_pct}%)", float(money_m(at_200.paid_usd) or 0), FORMAL_COLOUR),
        charts.Bar(f"Senders paid, USD 500 tickets ({at_500.weighted_pct}%)", float(money_m(at_500.paid_usd) or 0), FORMAL_COLOUR),
        charts.Bar("State paid: PRI rebate as reported", float(money_m(r.spend_usd) or 0), charts.PALETTE[8]),
        charts.Bar("Earlier model's rebate (wrong rule; not used)", float(money_m(r.fy2026_rule_on_fy2025_at_200_usd) or 0),
                   "#cccccc", "not used"),
    ]
    section.figures.append(
        Figure(
            "FY2025: what senders paid (sources with an RPW corridor) and what the state paid in rebates (USD m)",
            charts.bar_chart("FY2025 remittance costs by who paid (USD m)", bars, " m"),
            f"flows_pakistan.csv; corridors.csv (RPW 2025 Q3); parameters.csv ({date_span(ref.date for ref in r.inputs)})",
            ("SECONDARY", "DERIVED"),
        )
    )
    return section
