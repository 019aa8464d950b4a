"""The pricing model's public API: what the cost report, the run report and users import.

The model itself lives in ``analytics.pricing`` (one job per module); this module names the entry points
so that callers need not know that layout::

    from analytics import costs, datasets
    data = datasets.load()
    costs.cost(data, "GBR->PAK", "rpw_average", 200).total_pct        # Decimal('2.392')
    costs.compare_like_for_like(data, "GBR->PAK", 200)                 # best vs best, typical vs typical
"""

from analytics.pricing.channels import (
    RAAST_CHANNEL,
    available_corridors,
    channel_by_key,
    channels_for,
    cheapest,
    compare,
    cost,
    pricer,
)
from analytics.pricing.core import (
    AMOUNT_USD_MAX,
    AMOUNT_USD_MIN,
    COMPONENT_LABELS,
    COMPONENTS,
    DEFAULT_ASSUMPTIONS,
    FAMILY_RAAST,
    FAMILY_RPW,
    FAMILY_STABLECOIN,
    Assumptions,
    Channel,
    CostBreakdown,
    Pricer,
    source_for,
)
from analytics.pricing.flows import FLOW_PERIOD, USD_PER_BN, annual_summary, fy2025_flow_groups
from analytics.pricing.likeforlike import Comparison, compare_all, compare_like_for_like
from analytics.pricing.provenance import (
    ATTRIBUTION,
    InputRef,
    date_span,
    pct,
    pkr_per_usd,
    sources_of,
    status_flags,
    status_label,
    usd,
)
from analytics.pricing.routes import ROUTE_CHAINS, route_channels
from analytics.pricing.rpw import COMPOSITE_CORRIDORS, RPW_CHANNEL_CLASSES, rebate_usd, rpw_corridors
from analytics.pricing.sweeps import SWEEP_AMOUNTS_USD, chain_fee_range, ticket_sweep

__all__ = [
    "ATTRIBUTION",
    "AMOUNT_USD_MAX",
    "AMOUNT_USD_MIN",
    "COMPONENTS",
    "COMPONENT_LABELS",
    "COMPOSITE_CORRIDORS",
    "DEFAULT_ASSUMPTIONS",
    "FAMILY_RAAST",
    "FAMILY_RPW",
    "FAMILY_STABLECOIN",
    "FLOW_PERIOD",
    "RAAST_CHANNEL",
    "ROUTE_CHAINS",
    "RPW_CHANNEL_CLASSES",
    "SWEEP_AMOUNTS_USD",
    "USD_PER_BN",
    "Assumptions",
    "Channel",
    "Comparison",
    "CostBreakdown",
    "InputRef",
    "Pricer",
    "annual_summary",
    "available_corridors",
    "chain_fee_range",
    "channel_by_key",
    "channels_for",
    "cheapest",
    "compare",
    "compare_all",
    "compare_like_for_like",
    "cost",
    "date_span",
    "fy2025_flow_groups",
    "pct",
    "pkr_per_usd",
    "pricer",
    "rebate_usd",
    "route_channels",
    "rpw_corridors",
    "source_for",
    "sources_of",
    "status_flags",
    "status_label",
    "ticket_sweep",
    "usd",
]
