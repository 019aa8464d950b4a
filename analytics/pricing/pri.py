"""PRI (Pakistan Remittance Initiative) TT-charges rebate: reconciled with what the state reported spending.

SBP publishes no average ticket size. The reported FY2025 spend (~Rs170bn on the TT-charges scheme) and
the FY2025 rule (SAR 20 per transaction of USD 100 or more, up to SAR 35 with growth add-ons) back one out:
spend / rebate per transaction = rebated transactions; FY2025 flows / transactions = average ticket, if
every dollar travelled in a rebated transaction. Both ends of the rebate range are reported: SAR 20 gives
the most transactions and so the smallest ticket.

From 1 July 2025 (FY2026) the rule changed: SAR 20 flat per transaction of USD 200 or more, and no fee
may be charged on a rebate-eligible transaction. Applying that rule to FY2025 flows at USD 200 tickets
(the earlier model) gives a rebate bill far above the reported spend; it is shown for comparison only.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from analytics.datasets import Datasets
from analytics.pricing.flows import USD_PER_BN, fy2025_flow_groups, fy2025_total
from analytics.pricing.provenance import HUNDRED, InputRef, param_ref, param_value, pct
from analytics.pricing.rpw import rebate_usd

PKR_PER_BN = Decimal(1_000_000_000)


class PriReconciliation(msgspec.Struct, frozen=True):
    spend_pkr_bn: Decimal
    pkr_per_usd: Decimal
    spend_usd: Decimal
    flows_usd: Decimal  # FY2025 total workers' remittances
    spend_share_of_flows_pct: Decimal
    fy2025_rebate_sar_low: Decimal  # base rate
    fy2025_rebate_sar_high: Decimal  # with growth add-ons
    fy2025_min_usd: Decimal
    rebated_transactions_low: Decimal  # at the high rebate
    rebated_transactions_high: Decimal  # at the base rebate
    implied_ticket_usd_low: Decimal  # flows / the larger count
    implied_ticket_usd_high: Decimal
    fy2026_rebate_usd: Decimal
    fy2026_min_usd: Decimal
    fy2026_rule_on_fy2025_at_200_usd: Decimal  # the earlier model's figure, for comparison
    inputs: tuple[InputRef, ...]


def reconcile(data: Datasets) -> PriReconciliation:
    spend_bn, spend_ref = param_value(data, "pri_tt_spend_fy2025_pkr_bn")
    rate, rate_ref = param_value(data, "pkr_per_usd")
    sar = data.parameter("sar_per_usd")
    rebate_row = data.parameter("pri_rebate_fy2025_sar")
    minimum, minimum_ref = param_value(data, "pri_min_amount_fy2025_usd")
    total = fy2025_total(data)
    assert total.value_usd_bn is not None
    flows = total.value_usd_bn * USD_PER_BN
    spend_usd = spend_bn * PKR_PER_BN / rate
    pkr_per_sar = rate / sar.value
    tx_low = spend_bn * PKR_PER_BN / (rebate_row.value_high * pkr_per_sar)
    tx_high = spend_bn * PKR_PER_BN / (rebate_row.value_low * pkr_per_sar)
    rebate_2026, minimum_2026, refs_2026 = rebate_usd(data)
    covered = sum((g.flow_usd for g in fy2025_flow_groups(data) if g.corridor is not None), Decimal(0))
    return PriReconciliation(
        spend_pkr_bn=spend_bn,
        pkr_per_usd=rate,
        spend_usd=spend_usd,
        flows_usd=flows,
        spend_share_of_flows_pct=pct(spend_usd / flows * HUNDRED),
        fy2025_rebate_sar_low=rebate_row.value_low,
        fy2025_rebate_sar_high=rebate_row.value_high,
        fy2025_min_usd=minimum,
        rebated_transactions_low=tx_low,
        rebated_transactions_high=tx_high,
        implied_ticket_usd_low=flows / tx_high,
        implied_ticket_usd_high=flows / tx_low,
        fy2026_rebate_usd=rebate_2026,
        fy2026_min_usd=minimum_2026,
        fy2026_rule_on_fy2025_at_200_usd=covered / minimum_2026 * rebate_2026,
        inputs=(spend_ref, rate_ref, param_ref(sar), param_ref(rebate_row), minimum_ref, *refs_2026),
    )
