"""FY2025 flows into Pakistan by source (SBP via the press) and what senders paid on them.

The residual "all other countries" is computed as the total less the listed sources (38.3 - 34.91 =
3.39), not taken from the CSV's rounded 3.3. "Other GCC" is one SBP figure: its per-country split is not
in the data, so its cost is the equal-weight mean of Kuwait, Qatar, Oman and Bahrain (said wherever used).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from analytics.datasets import FLOWS_CSV, DataError, Datasets, FlowRow
from analytics.pricing.channels import available_corridors, cost
from analytics.pricing.provenance import HUNDRED, InputRef, pct

FLOW_PERIOD = "FY2025"
TOTAL_SERIES = "total workers remittances"
RESIDUAL_SERIES = "All other countries (AUS, CAN, MYS, NOR, etc.)"
USD_PER_BN = Decimal(1_000_000_000)

# FY2025 source series in flows_pakistan.csv -> the corridor whose costs apply; None = no RPW corridor
# (EU, residual: left blank rather than invented, COSTS.md s.2.1).
FLOW_SERIES_CORRIDOR = {
    "Saudi Arabia": "SAU->PAK",
    "United Arab Emirates": "ARE->PAK",
    "United Kingdom": "GBR->PAK",
    "United States": "USA->PAK",
    "Other GCC (Kuwait, Qatar, Oman, Bahrain)": "GCC->PAK",
    "EU countries": None,
    RESIDUAL_SERIES: None,
}


class FlowGroup(msgspec.Struct, frozen=True):
    series: str
    corridor: str | None
    flow_usd: Decimal
    status: str
    source: str
    date: str
    note: str = ""


def fy2025_total(data: Datasets) -> FlowRow:
    for row in data.flows:
        if row.period.startswith(FLOW_PERIOD) and row.series == TOTAL_SERIES and row.value_usd_bn is not None:
            return row
    raise DataError(f"{FLOWS_CSV}: no {FLOW_PERIOD} row for {TOTAL_SERIES!r}")


def fy2025_flow_groups(data: Datasets) -> list[FlowGroup]:
    """SBP FY2025 workers' remittances by source; the residual recomputed from the total."""
    listed = [
        row
        for row in data.flows
        if row.period == FLOW_PERIOD and row.value_usd_bn is not None and row.series != RESIDUAL_SERIES
    ]
    if not listed:
        raise DataError(f"{FLOWS_CSV}: no rows with period {FLOW_PERIOD!r} and a value")
    groups = [
        FlowGroup(r.series, FLOW_SERIES_CORRIDOR.get(r.series), r.value_usd_bn * USD_PER_BN, r.status, r.source, r.date_published)  # type: ignore[operator]
        for r in listed
    ]
    total = fy2025_total(data)
    assert total.value_usd_bn is not None
    listed_bn = sum((r.value_usd_bn for r in listed), Decimal(0))  # type: ignore[misc]
    printed = next((r.value_usd_bn for r in data.flows if r.period == FLOW_PERIOD and r.series == RESIDUAL_SERIES), None)
    groups.append(
        FlowGroup(
            RESIDUAL_SERIES,
            None,
            (total.value_usd_bn - listed_bn) * USD_PER_BN,
            "DERIVED",
            f"total {total.value_usd_bn} less the listed sources {listed_bn} ({total.source})",
            total.date_published,
            f"flows_pakistan.csv prints {printed} (rounded)" if printed is not None else "",
        )
    )
    return groups


class AnnualSummary(msgspec.Struct, frozen=True):
    """FY2025 flows priced at each source's RPW corridor average for one ticket size."""

    amount_usd: Decimal
    total_flow_usd: Decimal
    covered_flow_usd: Decimal  # sources with an RPW corridor (EU and the residual have none)
    paid_usd: Decimal
    weighted_pct: Decimal
    by_source: tuple[tuple[FlowGroup, Decimal | None, Decimal | None], ...]  # (group, cost %, paid USD)
    inputs: tuple[InputRef, ...]


def annual_summary(data: Datasets, amount_usd: Decimal | int) -> AnnualSummary:
    """Every transaction is taken at ``amount_usd`` (SBP publishes no ticket size). The RPW average is a
    simple mean over services, not market-share weighted: it overstates what senders paid where volume
    sits with cheap exchange houses (COSTS.md s.6)."""
    amount = Decimal(str(amount_usd))
    groups = fy2025_flow_groups(data)
    known = set(available_corridors(data))
    lines = []
    inputs: list[InputRef] = []
    for g in groups:
        if g.corridor is None or g.corridor not in known:
            lines.append((g, None, None))
            continue
        r = cost(data, g.corridor, "rpw_average", amount)
        inputs.extend(r.inputs)
        lines.append((g, r.total_pct, g.flow_usd * r.total_usd / amount))
    covered = sum((g.flow_usd for g, p, _ in lines if p is not None), Decimal(0))
    paid = sum((v for _, _, v in lines if v is not None), Decimal(0))
    return AnnualSummary(
        amount_usd=amount,
        total_flow_usd=sum((g.flow_usd for g in groups), Decimal(0)),
        covered_flow_usd=covered,
        paid_usd=paid,
        weighted_pct=pct(paid / covered * HUNDRED) if covered else Decimal(0),
        by_source=tuple(lines),
        inputs=tuple(dict.fromkeys(inputs)),
    )
