"""What individual formal services charge: RPW's per-service quotes (rpw_services.csv), in pools and tiers.

RPW publishes one quote per service (provider x payment instrument x access point) at the USD 200 and
USD 500 baskets. A corridor average is the simple mean over its transparent services; the like-for-like
comparison needs more than that mean: the cheapest and the median service of a pool, and how many
services stand behind each figure.

Pools:

* ``all``: every transparent service (the pool behind RPW's corridor average);
* ``digital``: paid from a bank account, a card or mobile money and started online or on a phone (the
  sending side of RPW's "digital" definition, and of a stablecoin route funded by a bank transfer).

The export does not carry RPW's ``pickup method`` or ``speed actual`` columns (remittance-watch's API v1
omits them), so delivery to a bank account cannot be enforced on the formal side: the report says so.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from analytics.datasets import RPW_BASKETS_USD, RPW_SERVICES_CSV, Datasets, ServiceRow
from analytics.pricing.provenance import HUNDRED, InputRef, date_span, median, pct

DIGITAL_INSTRUMENTS = ("Bank account transfer", "Debit card", "Credit card", "Mobile money")
DIGITAL_ACCESS = ("Internet", "Mobile phone")
POOLS = ("all", "digital")
POOL_LABELS = {"all": "all services", "digital": "digital services (account, card or wallet; online)"}
TARGET_AVERAGE_PCT = Decimal(3)
TARGET_CAP_PCT = Decimal(5)


def in_pool(row: ServiceRow, pool: str) -> bool:
    if pool == "all":
        return True
    if pool == "digital":
        return row.payment_instrument in DIGITAL_INSTRUMENTS and row.access_point in DIGITAL_ACCESS
    raise ValueError(f"pool {pool!r} is not one of {POOLS}")


def quotes(data: Datasets, corridor: str, amount_usd: int, pool: str = "all") -> list[ServiceRow]:
    """Transparent quotes of a corridor at one basket (non-transparent ones are never ranked, as RPW)."""
    return [
        row
        for row in data.services
        if row.corridor == corridor
        and row.amount_usd == amount_usd
        and row.transparent == "yes"
        and in_pool(row, pool)
    ]


def service_corridors(data: Datasets) -> list[str]:
    return sorted({row.corridor for row in data.services})


class Tier(msgspec.Struct, frozen=True):
    """A pool of services at one basket: the figures a like-for-like comparison and the SDG scorecard use."""

    corridor: str
    amount_usd: int
    pool: str
    n_services: int
    n_providers: int
    mean_pct: Decimal
    median_pct: Decimal
    min_pct: Decimal
    max_pct: Decimal
    cheapest_service: str
    share_le_3_pct: Decimal  # % of services at or under the SDG 3% average target
    share_le_5_pct: Decimal  # % of services at or under the 5% corridor cap
    fee_free_share: Decimal  # share (0..1) of services charging no fee: PRI rebate-eligible from FY2026
    period: str
    source: InputRef


def tier(data: Datasets, corridor: str, amount_usd: int, pool: str = "all") -> Tier | None:
    """The pool's figures, or None when the pool is empty (e.g. Oman has no digital service in RPW)."""
    rows = quotes(data, corridor, amount_usd, pool)
    if not rows:
        return None
    totals = [row.total_cost_pct for row in rows]
    n = Decimal(len(rows))
    cheapest = min(rows, key=lambda row: row.total_cost_pct)
    status = rows[0].status
    ref = InputRef(
        RPW_SERVICES_CSV,
        f"{corridor} ${amount_usd} {pool}: {len(rows)} services",
        f"mean {pct(sum(totals, Decimal(0)) / n)}%",
        status,
        f"{rows[0].source_repo} {rows[0].source_path}@{rows[0].source_commit[:12]}",
        date_span({row.period for row in rows}),
    )
    return Tier(
        corridor=corridor,
        amount_usd=amount_usd,
        pool=pool,
        n_services=len(rows),
        n_providers=len({row.provider for row in rows}),
        mean_pct=pct(sum(totals, Decimal(0)) / n),
        median_pct=pct(median(totals)),
        min_pct=cheapest.total_cost_pct,
        max_pct=max(totals),
        cheapest_service=f"{cheapest.provider} ({cheapest.payment_instrument}, {cheapest.access_point})",
        share_le_3_pct=share(sum(1 for t in totals if t <= TARGET_AVERAGE_PCT), len(rows)),
        share_le_5_pct=share(sum(1 for t in totals if t <= TARGET_CAP_PCT), len(rows)),
        fee_free_share=Decimal(sum(1 for row in rows if row.fee_pct == 0)) / n,
        period=rows[0].period,
        source=ref,
    )


def share(count: int, total: int) -> Decimal:
    """count / total in percent, to one decimal (a share of services, not a price)."""
    return (Decimal(count) / Decimal(total) * HUNDRED).quantize(Decimal("0.1"))


def nearest_basket(amount: Decimal) -> int:
    """The RPW basket whose quotes stand for ``amount``: USD 500 from 500 up, else USD 200."""
    return RPW_BASKETS_USD[1] if amount >= RPW_BASKETS_USD[1] else RPW_BASKETS_USD[0]
