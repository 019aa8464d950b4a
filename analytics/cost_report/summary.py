"""The one-screen summary: the answer in a few sentences and the cross-corridor chart."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from analytics.cost_report.common import pct_range, seconds_text, short_corridor
from analytics.cost_report.comparison import comparison_chart
from analytics.datasets import Datasets
from analytics.htmlkit import Figure
from analytics.pricing import pri, premium, scorecard
from analytics.pricing.likeforlike import Comparison


def _names(comparisons: Sequence[Comparison]) -> str:
    return ", ".join(short_corridor(c.corridor) for c in comparisons) or "none"


def comparison_findings(comparisons: Sequence[Comparison], amount: Decimal) -> list[str]:
    at = [c for c in comparisons if c.amount_usd == amount and c.formal is not None]
    if not at:
        return [f"No per-service RPW quotes at USD {amount}: RPW prices USD 200 and USD 500 only."]
    routed = [(c, c.formal, c.route) for c in at if c.route is not None and c.formal is not None]
    best_formal = sum(1 for _, f, r in routed if f.best_pct < r.best_pct)
    typical_formal = sum(1 for _, f, r in routed if f.typical_pct < r.typical_pct)
    any_best = sum(1 for c, _, r in routed if c.every and c.every.best_pct <= r.best_pct)
    advantaged = [c for c in at if c.every and c.every.best_rate_advantage_pct > 0]
    unrouted = [c for c in at if c.route is None]
    return [
        f"Like for like at USD {amount}, no P2P premium: stablecoin routes exist in {len(routed)} of {len(at)} corridors "
        f"({_names([c for c, _, _ in routed])}), where a licensed on-ramp is documented. The best route costs "
        f"{pct_range(r.best_pct for _, _, r in routed)} against {pct_range(f.best_pct for _, f, _ in routed)} for the "
        f"cheapest formal digital service (formal cheaper in {best_formal} of {len(routed)}); the typical route "
        f"{pct_range(r.typical_pct for _, _, r in routed)} against a median service of "
        f"{pct_range(f.typical_pct for _, f, _ in routed)} (formal cheaper in {typical_formal} of {len(routed)}).",
        f"Agents and cash included, a formal service costs no more than the best route in {any_best} of {len(routed)}; "
        f"in {_names(advantaged)} one beats the World Bank reference rate (shown as 0). No route for "
        f"{_names(unrouted)}: crypto platforms are prohibited or unlicensed there. Every route ends in an unlicensed "
        "P2P sale in Pakistan, outside PRI, and rests on unverified fees.",
    ]


def summary_findings(data: Datasets, comparisons: Sequence[Comparison], amounts: Sequence[Decimal]) -> list[str]:
    _, s = scorecard.scorecard(data)
    r = pri.reconcile(data)
    first = amounts[0]
    routed = [c for c in comparisons if c.amount_usd == first and c.route is not None]
    breaks = [b for b in premium.break_even(comparisons) if b.amount_usd == first]
    gap = premium.evidence(data)[0]
    findings = comparison_findings(comparisons, first)
    findings.append(
        f"SDG 10.c: weighted by FY2025 flows, sending USD 200 cost {s.flow_weighted_200_pct}% ({s.flow_weighted_500_pct}% "
        f"at USD 500) against the 3% target (global average {s.global_average_pct}%, Pakistan's region {s.menaap_pct}%). "
        f"Above the 5% cap: {', '.join(short_corridor(c) for c in s.corridors_above_cap) or 'none'}; of {s.services_200} "
        f"services, {s.services_le_3_200_pct}% cost 3% or less and {s.services_le_5_200_pct}% 5% or less."
    )
    if routed:
        findings.append(
            "Time to funds: stablecoin routes take "
            f"{seconds_text(min(c.route.time_low_s for c in routed))} to {seconds_text(max(c.route.time_high_s for c in routed))} "  # type: ignore[union-attr]
            "end to end, mostly funding the exchange and the P2P sale; RPW's speed is not in the cited export."
        )
    findings.append(
        f"PRI: the Rs {r.spend_pkr_bn}bn (USD {(r.spend_usd / 10**9).quantize(Decimal('0.01'))} bn) of FY2025 rebates at "
        f"SAR {r.fy2025_rebate_sar_low}-{r.fy2025_rebate_sar_high} each imply an average ticket of USD "
        f"{r.implied_ticket_usd_low.quantize(Decimal('1'))}-{r.implied_ticket_usd_high.quantize(Decimal('1'))}; from "
        "FY2026 only fee-free transactions earn the rebate."
    )
    if breaks:
        findings.append(
            f"P2P premium (scenario only): to match the best formal service a route needs "
            f"{pct_range((b.best_pp for b in breaks), ' pp')} of premium"
            f"{', i.e. none: the routes are cheaper without one' if max(b.best_pp for b in breaks) <= 0 else ''}; the "
            f"open-market gap was {gap.premium_pct}% on {gap.date}. A premium is paid by rupee buyers, not saved, and is "
            "capped by the informal market's depth."
        )
    return findings


def summary_figure(comparisons: Sequence[Comparison], amount: Decimal) -> Figure | None:
    if not any(c.amount_usd == amount and c.formal is not None for c in comparisons):
        return None
    return Figure(
        f"Best vs best and typical vs typical at USD {amount}, every corridor (% of amount; no P2P premium)",
        comparison_chart(comparisons, amount, f"What sending USD {amount} costs, like for like (% of amount)"),
        "rpw_services.csv (World Bank RPW 2025 Q3); onramps.csv; ramps.csv; chains.csv (fees dated 2025-26)",
        tuple(dict.fromkeys(f for c in comparisons if c.route for f in c.route.flags)),
    )
