"""Section: time to funds, step by step (the G20 asks for 75% of remittances credited within one hour)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analytics.cost_report.common import FORMAL_COLOUR, ROUTE_COLOUR, columns, seconds_text
from analytics.datasets import Datasets
from analytics.htmlkit import Figure, Section, Table, charts
from analytics.pricing import routes
from analytics.pricing.provenance import chain_row, date_span, param_value

HOUR_S = 3600


def step_rows(data: Datasets, corridors: Sequence[str]) -> list[dict[str, Any]]:
    """One row per corridor with a route: each step's range, and the whole route's."""
    withdraw = [param_value(data, "exchange_withdrawal_seconds", lv)[0] for lv in ("low", "high")]
    p2p = [param_value(data, "p2p_trade_seconds", lv)[0] for lv in ("low", "high")]
    raast, _ = param_value(data, "raast_credit_seconds")
    chains = [chain_row(data, c) for c in routes.ROUTE_CHAINS]
    confirm = (min(c.soft_confirmation_seconds for c in chains), max(c.finality_seconds for c in chains))
    rows = []
    for corridor in corridors:
        ramp_row = routes.onramp_for(data, corridor)
        if ramp_row is None or not ramp_row.is_licensed:
            continue
        assert ramp_row.funding_seconds_low is not None and ramp_row.funding_seconds_high is not None
        low = ramp_row.funding_seconds_low + withdraw[0] + confirm[0] + p2p[0] + raast
        high = ramp_row.funding_seconds_high + withdraw[1] + confirm[1] + p2p[1] + raast
        rows.append(
            {
                "corridor": corridor,
                "funding": f"{ramp_row.funding_method}: {seconds_text(ramp_row.funding_seconds_low)} to "
                f"{seconds_text(ramp_row.funding_seconds_high)}",
                "withdrawal": f"{seconds_text(withdraw[0])} to {seconds_text(withdraw[1])}",
                "confirmations": f"{seconds_text(confirm[0])} to {seconds_text(confirm[1])}",
                "p2p_sale": f"{seconds_text(p2p[0])} to {seconds_text(p2p[1])}",
                "raast": seconds_text(raast),
                "total_low_s": low,
                "total_high_s": high,
                "within_one_hour": "only if funded at once" if low <= HOUR_S < high else ("yes" if high <= HOUR_S else "no"),
            }
        )
    return rows


def timing_section(data: Datasets, corridors: Sequence[str]) -> Section:
    raast, raast_ref = param_value(data, "raast_credit_seconds")
    rows = step_rows(data, corridors)
    section = Section(
        "Time to funds",
        [
            "Formal channels: RPW records each service's speed (its 'speed actual' column), but the cited "
            "per-quote export does not carry it, so no formal speed is shown rather than one invented. The "
            f"RAAST leg in Pakistan credits within {raast} s of Raast's credit advice ({raast_ref.source}).",
            "Stablecoin routes, every step as a range: funding the exchange by bank transfer (onramps.csv; US "
            "ACH takes 3-5 business days), the exchange's withdrawal processing (10-30 min, UNVERIFIED), "
            "confirmations to finality (chains.csv: under a second to 20 min), the P2P sale's payment window "
            "(15-30 min, UNVERIFIED) and RAAST. On-chain speed is the smallest part of the wait.",
        ],
        id="time-to-funds",
    )
    section.tables.append(
        Table(
            "time_to_funds",
            "Stablecoin routes: time to funds by step (fastest chain to slowest)",
            columns(
                ("corridor", "Corridor"), ("funding", "Funding the exchange"), ("withdrawal", "Withdrawal processing"),
                ("confirmations", "Confirmations"), ("p2p_sale", "P2P sale"), ("raast", "RAAST"),
                ("total_low_s", "Total, fastest (s)"), ("total_high_s", "Total, slowest (s)"),
                ("within_one_hour", "Within one hour (G20)"),
            ),
            rows,
            "onramps.csv; parameters.csv (exchange_withdrawal_seconds, p2p_trade_seconds, raast_credit_seconds); "
            "chains.csv; chains_added.csv",
        )
    )
    dates = [r.fee_date for r in data.onramps if r.is_licensed] + [c.date for c in data.chains] + [
        data.parameter(n).date for n in ("exchange_withdrawal_seconds", "p2p_trade_seconds", "raast_credit_seconds")
    ]
    bars = [(f"{r['corridor']} stablecoin", float(r["total_low_s"]), float(r["total_high_s"]), ROUTE_COLOUR) for r in rows]
    bars.append(("RAAST leg alone (any corridor)", float(raast), float(raast), FORMAL_COLOUR))
    section.figures.append(
        Figure(
            "Time to funds, end to end (log scale)",
            charts.range_chart(
                "Time to funds, fastest to slowest (log scale); formal speed: not in the cited data",
                bars,
                reference_lines=[(float(HOUR_S), "1 hour (G20: 75% of remittances)")],
            ),
            f"onramps.csv; parameters.csv; chains.csv; chains_added.csv ({date_span(dates)})",
            ("UNVERIFIED",),
        )
    )
    return section
