"""RPW's per-service quotes as price lines: what one service charges at any amount.

rpw_services.csv quotes each service (provider x payment instrument x access point) at USD 200 and USD 500.
A service appears once per basket, so its two quotes are paired into one line; a provider with several quotes
under the same key (RPW lists one per pickup method or speed, which the export does not carry) is paired in
cost order at both baskets. Between and beyond the baskets a line follows the pricing model's one rule
(``analytics.pricing.rpw.basket_fee_usd`` / ``basket_fx_pct``), so at USD 200 and 500 it reproduces the quotes
exactly, and a uniform draw over a corridor's lines reproduces RPW's corridor mean (a simple mean over services).

Banks and money transfer operators are told apart by name (RPW's ``firm_type`` is not in the export), the way
corridors.csv's bank and MTO subsets are: a test checks that the two agree, corridor by corridor.
"""

from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal

import msgspec

from analytics.corridor.model import Cost
from analytics.datasets import RPW_BASKETS_USD, RPW_SERVICES_CSV, Datasets, ServiceRow
from analytics.pricing.provenance import HUNDRED, InputRef, date_span
from analytics.pricing.rpw import basket_fee_usd, basket_fx_pct

# Providers that are banks (name-based, as corridors.csv's UNVERIFIED bank subset): "... Bank", Bank Albilad,
# UBL (United Bank Ltd's remittance products) and Emirates NBD's DirectRemit.
BANK_NAME = re.compile(r"\bBank\b|^UBL\b|DirectRemit")
LOW, HIGH = RPW_BASKETS_USD


def is_bank(provider: str) -> bool:
    return BANK_NAME.search(provider) is not None


class ServiceLine(msgspec.Struct, frozen=True):
    corridor: str
    provider: str
    instrument: str
    access_point: str
    fee_low_usd: Decimal  # at USD 200
    fee_high_usd: Decimal  # at USD 500
    fx_low_pct: Decimal
    fx_high_pct: Decimal

    @property
    def bank(self) -> bool:
        return is_bank(self.provider)

    @property
    def label(self) -> str:
        return f"{self.provider} ({self.instrument}, {self.access_point})"

    def fee_usd(self, amount: Decimal) -> Decimal:
        return basket_fee_usd(self.fee_low_usd, self.fee_high_usd, amount)

    def fx_pct(self, amount: Decimal) -> Decimal:
        return basket_fx_pct(self.fx_low_pct, self.fx_high_pct, amount)

    def cost(self, amount: Decimal) -> Cost:
        """What this service charges on ``amount`` USD: its fee, and its FX margin against the reference rate."""
        return Cost.of(fee=self.fee_usd(amount), fx_margin=self.fx_pct(amount) * amount / HUNDRED)


def _key(row: ServiceRow) -> tuple[str, str, str, str]:
    return row.corridor, row.provider, row.payment_instrument, row.access_point


def service_lines(data: Datasets, corridor: str) -> list[ServiceLine]:
    """The corridor's transparent services as price lines (non-transparent quotes are never ranked, as RPW)."""
    by_key: dict[tuple[str, str, str, str], dict[int, list[ServiceRow]]] = defaultdict(lambda: defaultdict(list))
    for row in data.services:
        if row.corridor == corridor and row.transparent == "yes":
            by_key[_key(row)][row.amount_usd].append(row)
    lines = []
    for (corr, provider, instrument, access), baskets in by_key.items():
        low = sorted(baskets.get(LOW, []), key=lambda r: r.total_cost_pct)
        high = sorted(baskets.get(HIGH, []), key=lambda r: r.total_cost_pct)
        for i in range(max(len(low), len(high))):
            a = low[min(i, len(low) - 1)] if low else None
            b = high[min(i, len(high) - 1)] if high else None
            a, b = a or b, b or a  # a service quoted at one basket only: the same quote stands for both
            assert a is not None and b is not None
            lines.append(ServiceLine(
                corr, provider, instrument, access,
                a.fee_pct * Decimal(a.amount_usd) / HUNDRED, b.fee_pct * Decimal(b.amount_usd) / HUNDRED,
                a.fx_margin_pct, b.fx_margin_pct,
            ))
    return sorted(lines, key=lambda line: (line.fee_low_usd + line.fx_low_pct * 2, line.label))


def lines_ref(data: Datasets, corridor: str, pool: str, lines: list[ServiceLine]) -> InputRef:
    rows = [row for row in data.services if row.corridor == corridor]
    first = rows[0]
    return InputRef(
        RPW_SERVICES_CSV, f"{corridor} {pool} services", f"{len(lines)} services at USD 200 and 500", first.status,
        f"{first.source} ({first.source_repo} {first.source_path}@{first.source_commit[:12]})",
        date_span({row.period for row in rows}),
    )
