"""Section: like for like, corridor by corridor (formal digital services vs stablecoin routes)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from analytics.cost_report.common import (
    FORMAL_COLOUR,
    FORMAL_TYPICAL_COLOUR,
    ROUTE_COLOUR,
    ROUTE_TYPICAL_COLOUR,
    TARGET_LINES,
    columns,
    short_corridor,
    two,
)
from analytics.datasets import Datasets
from analytics.htmlkit import Figure, Section, Table, charts
from analytics.pricing.likeforlike import Comparison, FormalTier, route_results
from analytics.pricing.services import POOL_LABELS

SERIES = [
    charts.Segment("Formal, best (cheapest digital service)", FORMAL_COLOUR),
    charts.Segment("Formal, typical (median digital service)", FORMAL_TYPICAL_COLOUR),
    charts.Segment("Stablecoin, best route (low-end fees)", ROUTE_COLOUR),
    charts.Segment("Stablecoin, typical route (mid-range fees)", ROUTE_TYPICAL_COLOUR),
]


def _best_note(formal: FormalTier | None) -> str:
    if formal is None:
        return ""
    advantage = f", rate beats reference by {two(formal.best_rate_advantage_pct)}%" if formal.best_rate_advantage_pct else ""
    return f"n={formal.n_services}{advantage}"


def comparison_chart(comparisons: Sequence[Comparison], amount: Decimal, title: str) -> str:
    groups = []
    for c in comparisons:
        if c.amount_usd != amount:
            continue
        formal, route = c.formal, c.route
        pool = "" if formal is None or formal.pool == "digital" else " (all svc)"
        no_route = f"no route: {short_reason(c)}"
        groups.append(
            charts.Group(
                short_corridor(c.corridor) + pool,
                [
                    float(formal.best_pct) if formal else None,
                    float(formal.typical_pct) if formal else None,
                    float(route.best_pct) if route else None,
                    float(route.typical_pct) if route else None,
                ],
                [
                    _best_note(formal),
                    f"n={formal.n_services}" if formal else "",
                    f"{route.n_routes} chains" if route else no_route,
                    f"{route.n_routes} chains" if route else "",
                ],
            )
        )
    return charts.grouped_bar_chart(title, groups, SERIES, "%", reference_lines=TARGET_LINES, missing_note="")


def short_reason(c: Comparison) -> str:
    """Why a corridor has no route, in a few words (the full text is in onramp_licences.csv)."""
    text = c.no_route_reason.lower()
    if "registration" in text:
        return "VASP registration only"
    if "not researched" in text or not text:
        return "licensing not in data"
    return "no licensed crypto platform"


def comparison_rows(comparisons: Sequence[Comparison]) -> list[dict[str, Any]]:
    rows = []
    for c in comparisons:
        formal, every, route = c.formal, c.every, c.route
        rows.append(
            {
                "corridor": c.corridor,
                "amount_usd": c.amount_usd,
                "formal_pool": f"{formal.pool} (n={formal.n_services})" if formal else "",
                "formal_best_pct": two(formal.best_pct) if formal else None,
                "formal_typical_pct": two(formal.typical_pct) if formal else None,
                "any_best_pct": two(every.best_pct) if every else None,
                "rate_advantage_pct": two(every.best_rate_advantage_pct) if every else None,
                "rpw_average_pct": two(every.mean_pct) if every else None,
                "route_n": route.n_routes if route else 0,
                "route_best_pct": two(route.best_pct) if route else None,
                "route_typical_pct": two(route.typical_pct) if route else None,
                "route_note": f"{route.venue.split(' (')[0]}; best on {route.best_chain}" if route else short_reason(c),
                "flags": list(route.flags[:2]) if route else [],
            }
        )
    return rows


COMPARISON_COLUMNS = columns(
    ("corridor", "Corridor"),
    ("amount_usd", "USD"),
    ("formal_pool", "Formal pool"),
    ("formal_best_pct", "Formal best %"),
    ("formal_typical_pct", "Formal median %"),
    ("any_best_pct", "Any service best %"),
    ("rate_advantage_pct", "Rate adv. %"),
    ("rpw_average_pct", "RPW avg %"),
    ("route_n", "Chains"),
    ("route_best_pct", "Route best %"),
    ("route_typical_pct", "Route median %"),
    ("route_note", "On-ramp / why none"),
    ("flags", "Worst flags"),
)


def licence_rows(data: Datasets) -> list[dict[str, Any]]:
    return [
        {
            "country": row.source_iso3, "licensed": row.licensed, "venue": row.venue, "licence": row.licence,
            "status": row.licence_status, "source": row.licence_source, "url": row.licence_url, "date": row.licence_date,
        }
        for row in data.onramps
    ]


def detail_rows(data: Datasets, comparisons: Sequence[Comparison]) -> list[dict[str, Any]]:
    """Every formal pool's cheapest service and every route at low and mid-range fees: the long table."""
    rows = []
    for c in comparisons:
        for tier in (c.digital, c.every):
            if tier is not None:
                rows.append(
                    {
                        "corridor": c.corridor, "amount_usd": c.amount_usd, "kind": f"formal, {POOL_LABELS[tier.pool]}",
                        "what": tier.best_service, "n": tier.n_services, "best_pct": tier.best_pct,
                        "typical_pct": tier.typical_pct, "mean_pct": tier.mean_pct, "flags": [],
                    }
                )
        for level in ("low", "typical"):
            for r in route_results(data, c.corridor, c.amount_usd, level):
                rows.append(
                    {
                        "corridor": c.corridor, "amount_usd": c.amount_usd, "kind": f"stablecoin route, {level} fees",
                        "what": r.channel.label, "n": 1, "best_pct": r.total_pct, "typical_pct": None,
                        "mean_pct": None, "flags": list(r.flags),
                    }
                )
    return rows


def comparison_section(data: Datasets, comparisons: Sequence[Comparison], amounts: Sequence[Decimal]) -> Section:
    section = Section(
        "Like for like, corridor by corridor",
        [
            "Formal side: RPW's per-service quotes (2025 Q3, rpw_services.csv). The like-for-like pool is the "
            "digital services, paid from a bank account, a card or a wallet and started online, as a stablecoin "
            "route is; Oman has no digital service in RPW, so its pool is all services (marked 'all'). Best = "
            "the cheapest service, typical = the median; n = services behind the figure. The cheapest of all "
            "services (agents and cash included) and RPW's corridor average are shown beside them.",
            "Stablecoin side: only where a licensed on-ramp is documented (onramps.csv): bank transfer in, the "
            "venue's conversion fee and spread, the exchange's withdrawal fee on one of 8 chains (BNB Chain "
            "included), a P2P sale in Pakistan at the inter-bank rate and RAAST to the recipient's account. Best "
            "= the cheapest chain with every fee at the low end of its range; typical = the median chain at "
            "mid-range fees. No P2P premium: that is the scenario at the end.",
            "Not like for like, and said so: RPW's export carries no delivery method, so formal services that "
            "pay out in cash cannot be separated from those crediting an account; a published total below zero "
            "(a rate better than the World Bank reference) is shown as 0 with its rate advantage beside it.",
        ],
        id="like-for-like",
    )
    section.tables.append(
        Table(
            "like_for_like",
            "Best vs best and typical vs typical, % of the amount sent",
            COMPARISON_COLUMNS,
            comparison_rows(comparisons),
            "rpw_services.csv (World Bank RPW 2025 Q3 via remittance-watch); onramps.csv; ramps.csv; chains.csv; "
            "chains_added.csv; parameters.csv",
        )
    )
    section.tables.append(
        Table(
            "like_for_like_detail",
            "Every formal pool and every stablecoin route behind the figures above",
            columns(
                ("corridor", "Corridor"), ("amount_usd", "USD"), ("kind", "Kind"), ("what", "Cheapest service / route"),
                ("n", "n"), ("best_pct", "Best / route %"), ("typical_pct", "Median %"), ("mean_pct", "Mean %"),
                ("flags", "Input status flags"),
            ),
            detail_rows(data, comparisons),
            "costs.compare_like_for_like over rpw_services.csv, onramps.csv, ramps.csv, chains.csv",
            inline=False,
        )
    )
    section.tables.append(
        Table(
            "onramp_licences",
            "Licensed on-ramps per sending country, and why some corridors have no route",
            columns(("country", "Country"), ("licensed", "Licensed ramp"), ("venue", "Venue"), ("licence", "Licence or prohibition"),
                    ("status", "Status"), ("source", "Source"), ("url", "URL"), ("date", "Date")),
            licence_rows(data),
            "onramps.csv (cited per row)",
            inline=False,
        )
    )
    amount = amounts[-1]
    if any(c.amount_usd == amount for c in comparisons):
        section.figures.append(
            Figure(
                f"Like for like at USD {amount}: formal digital services vs stablecoin routes (% of amount)",
                comparison_chart(comparisons, amount, f"Like for like at USD {amount} (% of amount; n = services)"),
                "rpw_services.csv (RPW 2025 Q3); onramps.csv; ramps.csv; chains.csv (fees dated 2025-26)",
                tuple(dict.fromkeys(f for c in comparisons if c.route for f in c.route.flags)),
            )
        )
    return section
