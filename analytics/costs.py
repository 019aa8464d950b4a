"""The remittance cost model: what sending USD A into Pakistan costs over each channel, and why.

Identity (COSTS.md s.1.3), every term in USD for a send amount ``A`` (USD equivalent)::

    total = sending_fee + fx_margin + onramp + network_fee + withdrawal_fee + offramp + receiving_fee
    total_pct = total / A * 100
    social_cost = total + subsidy           # PRI TT-charges rebate, paid by the state, kept separate

``fx_margin`` and ``offramp`` are signed: Gulf exchange houses beat the World Bank reference rate
(negative margin, published as is, never clamped) and a P2P USDT/PKR premium pays the recipient more
PKR than the interbank rate (negative cost). Money is :class:`~decimal.Decimal` USD throughout; each
component is rounded once to ``USD_QUANTUM`` and the total is the exact sum of the rounded components,
so the breakdown always adds up.

Channels:

* ``rpw_average``, ``bank``, ``mto``: World Bank RPW corridor averages and the bank / MTO subsets at the
  USD 200 and USD 500 baskets; between and beyond the baskets see :func:`_rpw_fee_usd`.
* ``raast_domestic``: the domestic RAAST leg alone (free to individuals, 20 s credit rule); it is not a
  cross-border channel and is never offered as an alternative in the aggregates.
* ``stablecoin:<chain>:<onramp>``: buy USD stablecoin abroad (by card, bank transfer to an exchange, or
  on an exchange's P2P market), move it on ``chain``, sell it for PKR on the P2P market in Pakistan, RAAST
  the rupees to the beneficiary. Card purchases are delivered to the sender's own wallet (card processors
  deliver to a wallet the buyer controls), so the sender pays the chain's network fee; bank and P2P
  purchases sit on the exchange, which charges a flat withdrawal fee and pays the network fee out of it,
  so the network fee is not counted twice.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec

from analytics.datasets import (
    CHAINS_CSV,
    CORRIDORS_CSV,
    FLOWS_CSV,
    PARAMETERS_CSV,
    RAMPS_CSV,
    RPW_BASKETS_USD,
    ChainRow,
    CorridorRow,
    DataError,
    Datasets,
    RampRow,
)

USD_QUANTUM = Decimal("0.0001")
PCT_QUANTUM = Decimal("0.001")
HUNDRED = Decimal(100)
BASKET_LOW_USD = Decimal(RPW_BASKETS_USD[0])
BASKET_HIGH_USD = Decimal(RPW_BASKETS_USD[1])

# Bounds on what a caller may ask for: a remittance model, not a wholesale one.
AMOUNT_USD_MIN = Decimal(1)
AMOUNT_USD_MAX = Decimal(100000)

COMPONENTS = (
    "sending_fee",
    "fx_margin",
    "onramp",
    "network_fee",
    "withdrawal_fee",
    "offramp",
    "receiving_fee",
)
COMPONENT_LABELS = {
    "sending_fee": "Sending fee",
    "fx_margin": "FX margin (signed)",
    "onramp": "On-ramp",
    "network_fee": "Network fee",
    "withdrawal_fee": "Exchange withdrawal fee",
    "offramp": "Off-ramp / P2P premium (signed)",
    "receiving_fee": "Receiving fee",
}

FAMILY_RPW = "rpw"
FAMILY_RAAST = "raast"
FAMILY_STABLECOIN = "stablecoin"

RPW_CHANNEL_CLASSES = {"rpw_average": "all", "bank": "bank", "mto": "mto"}
RPW_CHANNEL_LABELS = {
    "rpw_average": "RPW corridor average (all services)",
    "bank": "Banks (RPW bank subset)",
    "mto": "Money transfer operators (RPW MTO subset)",
}

# The chains the brief asks for, by their chains.csv name. The first chains.csv row of a chain is its
# standard case (Tron: recipient already holds USDT); later rows are variants shown in the fee table.
ROUTE_CHAINS = (
    "Tron",
    "Ethereum L1",
    "Solana",
    "Stellar",
    "Polygon PoS",
    "Base (OP Stack L2)",
    "XRP Ledger",
)
ONRAMPS = ("card", "bank", "p2p")
ONRAMP_LABELS = {"card": "card", "bank": "bank transfer", "p2p": "P2P"}

# chains.csv chain -> ramps.csv withdrawal venue, and whether that venue is a stand-in for the chain.
# Base is an OP Stack L2 like Optimism; Stellar and XRPL have no withdrawal-fee row at all, so they take
# the 1 USDT level the exchanges charge on Tron and Solana. Proxies are flagged in every report.
WITHDRAWAL_VENUE = {
    "Tron": ("TRC-20", False),
    "Ethereum L1": ("ERC-20 (Ethereum)", False),
    "Solana": ("Solana", False),
    "Polygon PoS": ("Polygon / Arbitrum / Optimism", False),
    "Arbitrum One": ("Polygon / Arbitrum / Optimism", False),
    "Base (OP Stack L2)": ("Polygon / Arbitrum / Optimism", True),
    "Stellar": ("Solana", True),
    "XRP Ledger": ("Solana", True),
}

# Corridors with no RPW series of their own, modelled as an equal-weight mean of member corridors:
# SBP reports "other GCC" as one FY2025 figure, with no per-country split (COSTS.md s.3).
COMPOSITE_CORRIDORS = {"GCC->PAK": ("KWT->PAK", "QAT->PAK", "OMN->PAK", "BHR->PAK")}

# FY2025 source series in flows_pakistan.csv -> the corridor whose costs apply; None = no RPW corridor
# (EU, residual: left blank rather than invented, COSTS.md s.2.1).
FLOW_SERIES_CORRIDOR = {
    "Saudi Arabia": "SAU->PAK",
    "United Arab Emirates": "ARE->PAK",
    "United Kingdom": "GBR->PAK",
    "United States": "USA->PAK",
    "Other GCC (Kuwait, Qatar, Oman, Bahrain)": "GCC->PAK",
    "EU countries": None,
    "All other countries (AUS, CAN, MYS, NOR, etc.)": None,
}
FLOW_PERIOD = "FY2025"

LEVELS = ("low", "typical", "high")

# Status words, most specific doubt first: the first that appears in a status cell names it (a PROXY or
# PLACEHOLDER row is also UNVERIFIED, but saying which kind of doubt is more useful to a reader).
_STATUS_WORDS = (
    ("PROXY", "low"),
    ("PLACEHOLDER", "low"),
    ("UNVERIFIED", "low"),
    ("THIRD-PARTY", "medium"),
    ("PARTLY VERIFIED", "medium"),
    ("DERIVED", "medium"),
    ("SECONDARY", "medium"),
    ("RECOMPUTED", "high"),
    ("VERIFIED", "high"),
)
_CONFIDENCE_RANK = {"low": 0, "medium": 1, "high": 2}


def status_label(status: str) -> tuple[str, str]:
    """(short label, confidence) for a data status cell, e.g. ('UNVERIFIED', 'low')."""
    upper = status.upper()
    for word, confidence in _STATUS_WORDS:
        if word in upper:
            return word, confidence
    return "UNRATED", "low"


class InputRef(msgspec.Struct, frozen=True):
    """One data value a result used, with its provenance."""

    file: str
    item: str
    value: str
    status: str
    source: str
    date: str

    @property
    def label(self) -> str:
        return status_label(self.status)[0]

    @property
    def confidence(self) -> str:
        return status_label(self.status)[1]


class Channel(msgspec.Struct, frozen=True):
    key: str
    label: str
    family: str
    chain: str | None = None
    onramp: str | None = None


class Assumptions(msgspec.Struct, frozen=True):
    """The knobs the sensitivity analysis turns. None = the data's default."""

    p2p_premium_pct: Decimal | None = None  # default: ramps.csv low end (conservative for crypto)
    network_fee_level: str = "typical"
    network_fee_usd: Decimal | None = None  # overrides the level (chain fee sweep)
    withdrawal_fee_level: str = "typical"  # typical = midpoint of the ramps.csv range
    onramp_level: str = "typical"


DEFAULT_ASSUMPTIONS = Assumptions()


class CostBreakdown(msgspec.Struct, frozen=True):
    corridor: str
    channel: Channel
    amount_usd: Decimal
    components_usd: dict[str, Decimal]
    total_usd: Decimal
    total_pct: Decimal
    p2p_premium_usd: Decimal  # the signed premium inside ``offramp`` (0 outside P2P routes)
    total_ex_premium_pct: Decimal
    subsidy_usd: Decimal
    social_cost_usd: Decimal
    pri_eligible: bool
    time_to_funds_s: Decimal | None
    time_basis: str
    period: str
    inputs: tuple[InputRef, ...]  # what the consumer cost rests on (drives the confidence flags)
    subsidy_inputs: tuple[InputRef, ...] = ()  # what the separate public-subsidy line rests on
    notes: tuple[str, ...] = ()

    @property
    def confidence(self) -> str:
        return worst_confidence(self.inputs)

    @property
    def flags(self) -> tuple[str, ...]:
        """Status labels of the inputs below high confidence, most doubtful first, deduplicated."""
        seen: dict[str, str] = {}
        for ref in self.inputs:
            if ref.confidence != "high":
                seen.setdefault(ref.label, ref.confidence)
        return tuple(sorted(seen, key=lambda label: (_CONFIDENCE_RANK[seen[label]], label)))


def worst_confidence(inputs: Iterable[InputRef]) -> str:
    ranks = [_CONFIDENCE_RANK[ref.confidence] for ref in inputs]
    if not ranks:
        return "high"
    return {v: k for k, v in _CONFIDENCE_RANK.items()}[min(ranks)]


def usd(value: Decimal) -> Decimal:
    return value.quantize(USD_QUANTUM, rounding=ROUND_HALF_EVEN)


def pct(value: Decimal) -> Decimal:
    return value.quantize(PCT_QUANTUM, rounding=ROUND_HALF_EVEN)


# ---------------------------------------------------------------------------------------------------
# Lookups


def rebate_usd(data: Datasets) -> tuple[Decimal, Decimal, tuple[InputRef, ...]]:
    """(rebate per eligible transaction in USD, minimum eligible amount in USD, provenance)."""
    rebate = data.parameter("pri_rebate_sar")
    peg = data.parameter("sar_per_usd")
    minimum = data.parameter("pri_min_amount_usd")
    refs = tuple(_param_ref(p) for p in (rebate, peg, minimum))
    return rebate.value / peg.value, minimum.value, refs


def pkr_per_usd(data: Datasets) -> tuple[Decimal, InputRef]:
    row = data.parameter("pkr_per_usd")
    return row.value, _param_ref(row)


def _param_ref(row) -> InputRef:
    return InputRef(PARAMETERS_CSV, row.name, f"{row.value} {row.unit}", row.status, row.source, row.date)


def _corridor_ref(row: CorridorRow, item: str) -> InputRef:
    return InputRef(
        CORRIDORS_CSV,
        f"{row.corridor} {row.firm_class} ${row.send_amount_usd} {row.period}: {item}",
        f"fee {row.fee_pct}% + FX {row.fx_margin_pct}% = {row.total_cost_pct}%",
        row.status,
        row.source,
        row.period,
    )


def _ramp(data: Datasets, component: str, venue: str | None = None) -> RampRow:
    for row in data.ramps:
        if row.component == component and (venue is None or row.venue_or_type == venue):
            return row
    raise DataError(f"{RAMPS_CSV}: no row for component {component!r} venue {venue!r}")


def _ramp_ref(row: RampRow, value: Decimal) -> InputRef:
    return InputRef(
        RAMPS_CSV,
        f"{row.component} ({row.venue_or_type})",
        f"{value} {row.unit}",
        row.status,
        row.source,
        row.date,
    )


def _ramp_value(row: RampRow, level: str) -> Decimal:
    if row.value_low is None or row.value_high is None:
        raise DataError(f"{RAMPS_CSV}: {row.component} ({row.venue_or_type}) has no value range")
    if level == "low":
        return row.value_low
    if level == "high":
        return row.value_high
    return (row.value_low + row.value_high) / 2


def _param_value(data: Datasets, name: str, level: str) -> tuple[Decimal, InputRef]:
    row = data.parameter(name)
    value = {"low": row.value_low, "high": row.value_high}.get(level, row.value)
    return value, _param_ref(row)


def chain_row(data: Datasets, chain: str) -> ChainRow:
    for row in data.chains:
        if row.chain == chain:
            return row
    raise DataError(f"{CHAINS_CSV}: no row for chain {chain!r}")


def _chain_ref(row: ChainRow, item: str, value: str) -> InputRef:
    return InputRef(CHAINS_CSV, f"{row.chain}: {item}", value, row.status, row.source, row.date)


def raast_row(data: Datasets) -> CorridorRow:
    for row in data.corridors:
        if row.firm_class == "IPS":
            return row
    raise DataError(f"{CORRIDORS_CSV}: no RAAST (firm_class IPS) row")


def pri_row(data: Datasets) -> CorridorRow:
    for row in data.corridors:
        if row.firm_class == "policy":
            return row
    raise DataError(f"{CORRIDORS_CSV}: no PRI policy (firm_class policy) row")


def rpw_corridors(data: Datasets) -> list[str]:
    return sorted({row.corridor for row in data.corridors if row.firm_class == "all"})


def available_corridors(data: Datasets) -> list[str]:
    """Corridors the model can price over RPW channels (RPW series plus composites of them)."""
    direct = rpw_corridors(data)
    composites = [c for c, members in COMPOSITE_CORRIDORS.items() if all(m in direct for m in members)]
    return direct + composites


def _rpw_rows(data: Datasets, corridor: str, firm_class: str, period: str | None) -> dict[int, CorridorRow]:
    """The basket rows of the chosen period: the latest period whose rows carry the fee/FX split (RPW
    reports those separately; a total alone cannot be decomposed), preferring periods with both baskets."""
    by_period: dict[str, dict[int, CorridorRow]] = {}
    for row in data.corridors:
        if row.corridor == corridor and row.firm_class == firm_class and row.fee_pct is not None:
            by_period.setdefault(row.period, {})[row.basket_usd] = row
    if period is not None:
        return by_period.get(period, {})
    if not by_period:
        return {}
    # "2025_3Q" sorts after "2025_1Q": the period labels order chronologically as strings.
    return max(by_period.items(), key=lambda item: (len(item[1]), item[0]))[1]


def channels_for(data: Datasets, corridor: str) -> list[Channel]:
    """Every channel the data can price for ``corridor``, RPW ones first."""
    channels = []
    members = COMPOSITE_CORRIDORS.get(corridor, (corridor,))
    for key, firm_class in RPW_CHANNEL_CLASSES.items():
        if all(_rpw_rows(data, m, firm_class, None) for m in members):
            channels.append(Channel(key, RPW_CHANNEL_LABELS[key], FAMILY_RPW))
    channels.append(Channel("raast_domestic", "RAAST domestic leg only (not cross-border)", FAMILY_RAAST))
    channels.extend(stablecoin_channels())
    return channels


def stablecoin_channels(
    chains: Sequence[str] = ROUTE_CHAINS, onramps: Sequence[str] = ONRAMPS
) -> list[Channel]:
    return [
        Channel(
            f"stablecoin:{chain}:{onramp}",
            f"Stablecoin on {chain}, {ONRAMP_LABELS[onramp]} on-ramp, P2P off-ramp",
            FAMILY_STABLECOIN,
            chain=chain,
            onramp=onramp,
        )
        for chain in chains
        for onramp in onramps
    ]


def channel_by_key(data: Datasets, corridor: str, key: str) -> Channel:
    for channel in channels_for(data, corridor):
        if channel.key == key:
            return channel
    raise KeyError(f"channel {key!r} is not available for {corridor}")


# ---------------------------------------------------------------------------------------------------
# The model


def _rpw_fee_usd(points: dict[int, CorridorRow], amount: Decimal) -> Decimal:
    """Sending fee in USD at ``amount`` from the basket fee percentages.

    Between the baskets the fee is linear in the amount (a flat part plus a percentage). Outside them
    the fitted slope is kept only when it is positive (the fee grows with the amount) and never below
    zero; a falling slope is held flat: RPW's $200 vs $500 gap is mostly flat fees (COSTS.md s.2.2,
    "flat fees dominate small tickets"), and a fee that kept falling past $500 would soon go negative."""
    low = points.get(RPW_BASKETS_USD[0])
    high = points.get(RPW_BASKETS_USD[1])
    if low is None or high is None:
        only = low or high
        assert only is not None and only.fee_pct is not None
        return only.fee_pct * Decimal(only.basket_usd) / HUNDRED  # one basket: a flat USD fee
    assert low.fee_pct is not None and high.fee_pct is not None
    fee_low = low.fee_pct * BASKET_LOW_USD / HUNDRED
    fee_high = high.fee_pct * BASKET_HIGH_USD / HUNDRED
    slope = (fee_high - fee_low) / (BASKET_HIGH_USD - BASKET_LOW_USD)
    if amount < BASKET_LOW_USD:
        return max(fee_low - max(slope, Decimal(0)) * (BASKET_LOW_USD - amount), Decimal(0))
    if amount > BASKET_HIGH_USD:
        return fee_high + max(slope, Decimal(0)) * (amount - BASKET_HIGH_USD)
    return fee_low + slope * (amount - BASKET_LOW_USD)


def _rpw_fx_pct(points: dict[int, CorridorRow], amount: Decimal) -> Decimal:
    """FX margin in percent: linear between the baskets, held constant outside them."""
    low = points.get(RPW_BASKETS_USD[0])
    high = points.get(RPW_BASKETS_USD[1])
    if low is None or high is None:
        only = low or high
        assert only is not None and only.fx_margin_pct is not None
        return only.fx_margin_pct
    assert low.fx_margin_pct is not None and high.fx_margin_pct is not None
    clamped = min(max(amount, BASKET_LOW_USD), BASKET_HIGH_USD)
    share = (clamped - BASKET_LOW_USD) / (BASKET_HIGH_USD - BASKET_LOW_USD)
    return low.fx_margin_pct + (high.fx_margin_pct - low.fx_margin_pct) * share


def _zero_components() -> dict[str, Decimal]:
    return {name: Decimal(0) for name in COMPONENTS}


class Pricer(abc.ABC):
    """One corridor and channel with every data lookup already resolved, so pricing many tickets (a run
    report prices every simulated remittance) costs a few Decimal operations each. :func:`cost` is
    ``pricer(...).breakdown(amount)``: there is one code path for a single quote and for a run's tickets."""

    def __init__(
        self,
        corridor: str,
        channel: Channel,
        period: str,
        inputs: Iterable[InputRef],
        notes: Iterable[str],
        time_s: Decimal | None,
        time_basis: str,
        pri_eligible: bool,
    ) -> None:
        self.corridor = corridor
        self.channel = channel
        self.period = period
        self.inputs = tuple(dict.fromkeys(inputs))
        self.notes = tuple(dict.fromkeys(notes))
        self.time_s = time_s
        self.time_basis = time_basis
        self.pri_eligible = pri_eligible
        self.subsidy_inputs: tuple[InputRef, ...] = ()

    @abc.abstractmethod
    def raw(self, amount: Decimal) -> tuple[dict[str, Decimal], Decimal]:
        """Unrounded components and the signed P2P premium inside ``offramp``."""

    def subsidy(self, amount: Decimal) -> Decimal:
        return Decimal(0)

    def components(self, amount: Decimal) -> dict[str, Decimal]:
        raw, _ = self.raw(amount)
        return {name: usd(raw[name]) for name in COMPONENTS}

    def total_usd(self, amount: Decimal) -> Decimal:
        """Exactly ``breakdown(amount).total_usd``, without building the breakdown."""
        return sum(self.components(amount).values(), Decimal(0))

    def breakdown(self, amount: Decimal) -> CostBreakdown:
        raw, premium = self.raw(amount)
        components = {name: usd(raw[name]) for name in COMPONENTS}
        total = sum(components.values(), Decimal(0))
        premium_usd = usd(premium)
        subsidy_usd = usd(self.subsidy(amount))
        assert set(components) == set(COMPONENTS)
        return CostBreakdown(
            corridor=self.corridor,
            channel=self.channel,
            amount_usd=amount,
            components_usd=components,
            total_usd=total,
            total_pct=pct(total / amount * HUNDRED),
            p2p_premium_usd=premium_usd,
            total_ex_premium_pct=pct((total - premium_usd) / amount * HUNDRED),
            subsidy_usd=subsidy_usd,
            social_cost_usd=total + subsidy_usd,
            pri_eligible=self.pri_eligible,
            time_to_funds_s=self.time_s,
            time_basis=self.time_basis,
            period=self.period,
            inputs=self.inputs,
            subsidy_inputs=self.subsidy_inputs if subsidy_usd else (),
            notes=self.notes,
        )


class _RpwPricer(Pricer):
    def __init__(self, data: Datasets, corridor: str, channel: Channel, period: str | None) -> None:
        firm_class = RPW_CHANNEL_CLASSES[channel.key]
        points = _rpw_rows(data, corridor, firm_class, period)
        if not points:
            raise KeyError(f"no RPW {firm_class} data for {corridor}")
        rows = list(points.values())
        chosen = rows[0].period
        notes = [
            "RPW measures fee + FX margin only; receiver-side fees are not captured (PRI mandates them zero)."
        ]
        if len(points) == 1:
            notes.append("Only one RPW basket: fee held flat in USD and FX margin in percent.")
        newer = [
            r
            for r in data.corridors
            if r.corridor == corridor and r.firm_class == firm_class and r.period > chosen
        ]
        if newer:
            notes.append(
                f"Newer RPW total without fee/FX split: {newer[0].period} {newer[0].total_cost_pct}% at "
                f"${newer[0].send_amount_usd}; model uses {chosen}."
            )
        super().__init__(
            corridor,
            channel,
            chosen,
            [_corridor_ref(r, "fee and FX margin") for r in rows],
            notes,
            None,
            "not in data (RPW speed is not in the export)",
            True,
        )
        self.points = points
        self.rebate, self.rebate_min, rebate_refs = rebate_usd(data)
        self.subsidy_inputs = (*rebate_refs, _corridor_ref(pri_row(data), "PRI TT-charges rebate"))

    def raw(self, amount: Decimal) -> tuple[dict[str, Decimal], Decimal]:
        raw = _zero_components()
        raw["sending_fee"] = _rpw_fee_usd(self.points, amount)
        raw["fx_margin"] = _rpw_fx_pct(self.points, amount) * amount / HUNDRED
        return raw, Decimal(0)

    def subsidy(self, amount: Decimal) -> Decimal:
        return self.rebate if amount >= self.rebate_min else Decimal(0)


class _CompositePricer(Pricer):
    """Equal-weight mean of member corridors (each member's components rounded first, as reported)."""

    def __init__(self, corridor: str, members: list[Pricer]) -> None:
        names = ", ".join(m.corridor for m in members)
        inputs = [ref for m in members for ref in m.inputs]
        inputs.append(
            InputRef(
                FLOWS_CSV,
                f"{corridor}: equal weights over {names}",
                "no per-country FY2025 split",
                "DERIVED",
                "COSTS.md s.3 (SBP reports other GCC as one figure)",
                FLOW_PERIOD,
            )
        )
        first = members[0]
        super().__init__(
            corridor,
            first.channel,
            "/".join(sorted({m.period for m in members})),
            inputs,
            [f"Equal-weight mean of {names}."] + [n for m in members for n in m.notes],
            first.time_s,
            first.time_basis,
            first.pri_eligible,
        )
        self.members = members
        self.subsidy_inputs = tuple(dict.fromkeys(ref for m in members for ref in m.subsidy_inputs))

    def raw(self, amount: Decimal) -> tuple[dict[str, Decimal], Decimal]:
        n = Decimal(len(self.members))
        parts = [m.components(amount) for m in self.members]
        return {name: sum((p[name] for p in parts), Decimal(0)) / n for name in COMPONENTS}, Decimal(0)

    def subsidy(self, amount: Decimal) -> Decimal:
        return sum((usd(m.subsidy(amount)) for m in self.members), Decimal(0)) / Decimal(len(self.members))


class _RaastPricer(Pricer):
    def __init__(self, data: Datasets, corridor: str, channel: Channel) -> None:
        row = raast_row(data)
        seconds, seconds_ref = _param_value(data, "raast_credit_seconds", "typical")
        super().__init__(
            corridor,
            channel,
            row.period,
            [_corridor_ref(row, "RAAST P2P fee"), seconds_ref],
            ["Domestic PKR leg only: add a cross-border leg to compare with the other channels."],
            seconds,
            "credit within 20 s of Raast's credit advice (SBP rule)",
            False,
        )
        self.fee_pct = row.fee_pct or Decimal(0)

    def raw(self, amount: Decimal) -> tuple[dict[str, Decimal], Decimal]:
        raw = _zero_components()
        raw["receiving_fee"] = self.fee_pct * amount / HUNDRED
        return raw, Decimal(0)


class _StablecoinPricer(Pricer):
    def __init__(self, data: Datasets, corridor: str, channel: Channel, assume: Assumptions) -> None:
        assert channel.chain is not None and channel.onramp is not None
        chain = chain_row(data, channel.chain)
        inputs: list[InputRef] = []
        notes = [
            "FX into USD stablecoin is inside the on-ramp spread; stablecoin assumed at par with USD.",
            "Crypto off-ramps are non-PRI: no TT rebate; legal status in Pakistan is restricted (SBP BPRD "
            "Circular 03 of 2018).",
        ]
        self.onramp_pct = Decimal(0)
        self.network_fee = Decimal(0)
        self.withdrawal_fee = Decimal(0)
        if channel.onramp == "card":
            card = _ramp(data, "Card on-ramp processing fee")
            self.onramp_pct = _ramp_value(card, assume.onramp_level)
            inputs.append(_ramp_ref(card, self.onramp_pct))
            if assume.network_fee_usd is not None:
                self.network_fee = assume.network_fee_usd
            else:
                self.network_fee = {
                    "low": chain.network_fee_usd_low,
                    "high": chain.network_fee_usd_high,
                }.get(assume.network_fee_level, chain.network_fee_usd_typical)
            inputs.append(
                _chain_ref(chain, "network fee", f"{self.network_fee} USD ({chain.usd_price_assumption})")
            )
            notes.append(
                "Card purchases are delivered to the sender's own wallet; the sender pays the network fee."
            )
            if card.notes:
                notes.append(f"Card on-ramp ({card.venue_or_type}): {card.notes}; not included in the fee.")
        else:
            if channel.onramp == "bank":
                spot = _ramp(data, "CEX spot trading fee")
                spot_pct = _ramp_value(spot, "low")  # standard tier; the BNB discount is not assumed
                deposit_pct, deposit_ref = _param_value(data, "bank_deposit_onramp_pct", assume.onramp_level)
                self.onramp_pct = spot_pct + deposit_pct
                inputs.extend([_ramp_ref(spot, spot_pct), deposit_ref])
            else:
                platform = _ramp(data, "P2P platform fee")
                platform_pct = _ramp_value(platform, "low")
                spread_pct, spread_ref = _param_value(data, "p2p_onramp_spread_pct", assume.onramp_level)
                self.onramp_pct = platform_pct + spread_pct
                inputs.extend([_ramp_ref(platform, platform_pct), spread_ref])
            venue, is_proxy = WITHDRAWAL_VENUE[chain.chain]
            withdrawal = _ramp(data, "CEX withdrawal fee USDT", venue)
            self.withdrawal_fee = _ramp_value(withdrawal, assume.withdrawal_fee_level)
            ref = _ramp_ref(withdrawal, self.withdrawal_fee)
            if is_proxy:
                ref = msgspec.structs.replace(
                    ref, item=f"{ref.item} as stand-in for {chain.chain}", status=f"PROXY; {ref.status}"
                )
                notes.append(f"No withdrawal-fee row for {chain.chain}: the {venue} fee stands in (PROXY).")
            inputs.append(ref)
            notes.append("The exchange pays the chain's network fee out of its flat withdrawal fee.")
        premium_row = _ramp(data, "P2P USDT/PKR premium over SBP interbank")
        self.premium_pct = (
            assume.p2p_premium_pct if assume.p2p_premium_pct is not None else _ramp_value(premium_row, "low")
        )
        platform_off = _ramp(data, "P2P platform fee")
        self.offramp_fee_pct = _ramp_value(platform_off, "low")
        raast = raast_row(data)
        self.receiving_pct = raast.fee_pct or Decimal(0)
        credit_s, credit_ref = _param_value(data, "raast_credit_seconds", "typical")
        inputs.extend(
            [
                _ramp_ref(premium_row, self.premium_pct),
                _ramp_ref(platform_off, self.offramp_fee_pct),
                _corridor_ref(raast, "RAAST P2P fee"),
                credit_ref,
                _chain_ref(chain, "finality", f"{chain.finality_seconds} s"),
            ]
        )
        super().__init__(
            corridor,
            channel,
            chain.date,
            inputs,
            notes,
            chain.finality_seconds + credit_s,
            "on-chain finality + RAAST 20 s; excludes exchange processing and P2P trade settlement (not in data)",
            False,
        )

    def raw(self, amount: Decimal) -> tuple[dict[str, Decimal], Decimal]:
        raw = _zero_components()
        raw["onramp"] = self.onramp_pct * amount / HUNDRED
        raw["network_fee"] = self.network_fee
        raw["withdrawal_fee"] = self.withdrawal_fee
        premium = -self.premium_pct * amount / HUNDRED
        raw["offramp"] = self.offramp_fee_pct * amount / HUNDRED + premium
        raw["receiving_fee"] = self.receiving_pct * amount / HUNDRED
        return raw, premium


def pricer(
    data: Datasets,
    corridor: str,
    channel: Channel | str,
    assume: Assumptions = DEFAULT_ASSUMPTIONS,
    period: str | None = None,
) -> Pricer:
    """Resolve the data for one corridor and channel. Raises KeyError when the data has no figure for it."""
    if isinstance(channel, str):
        channel = channel_by_key(data, corridor, channel)
    if channel.family == FAMILY_STABLECOIN:
        return _StablecoinPricer(data, corridor, channel, assume)
    if channel.family == FAMILY_RAAST:
        return _RaastPricer(data, corridor, channel)
    members = COMPOSITE_CORRIDORS.get(corridor)
    if members is None:
        return _RpwPricer(data, corridor, channel, period)
    return _CompositePricer(corridor, [_RpwPricer(data, m, channel, period) for m in members])


def check_amount(amount_usd: Decimal | int | str) -> Decimal:
    amount = Decimal(str(amount_usd))
    if not AMOUNT_USD_MIN <= amount <= AMOUNT_USD_MAX:
        raise ValueError(f"amount {amount} USD is outside {AMOUNT_USD_MIN}..{AMOUNT_USD_MAX}")
    return amount


def cost(
    data: Datasets,
    corridor: str,
    channel: Channel | str,
    amount_usd: Decimal | int | str,
    assume: Assumptions = DEFAULT_ASSUMPTIONS,
    period: str | None = None,
) -> CostBreakdown:
    """The cost of sending ``amount_usd`` over ``channel`` in ``corridor``. Raises KeyError when the data
    has no figure for that corridor and channel, ValueError for an amount outside the model's range."""
    amount = check_amount(amount_usd)
    return pricer(data, corridor, channel, assume, period).breakdown(amount)


def compare(
    data: Datasets, corridor: str, amount_usd: Decimal | int | str, assume: Assumptions = DEFAULT_ASSUMPTIONS
) -> list[CostBreakdown]:
    """Every available channel for the corridor at one amount."""
    return [cost(data, corridor, ch, amount_usd, assume) for ch in channels_for(data, corridor)]


def cheapest(results: Iterable[CostBreakdown], family: str | None = None) -> CostBreakdown | None:
    pool = [
        r
        for r in results
        if r.channel.family != FAMILY_RAAST and (family is None or r.channel.family == family)
    ]
    return min(pool, key=lambda r: r.total_usd) if pool else None


# ---------------------------------------------------------------------------------------------------
# Sensitivity

SWEEP_AMOUNTS_USD = (50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000)
P2P_PREMIUM_SWEEP_PCT = tuple(Decimal(x) / 2 for x in range(-4, 13))  # -2% .. +6% by 0.5
# The channels sensitivity curves follow: the RPW reference points and the stablecoin routes that span
# the range (cheapest exchange withdrawal, the dominant USDT chain, the most expensive chain, card).
SWEEP_CHANNEL_KEYS = (
    "rpw_average",
    "bank",
    "mto",
    "stablecoin:Tron:bank",
    "stablecoin:Polygon PoS:bank",
    "stablecoin:Ethereum L1:bank",
    "stablecoin:Solana:card",
)


class SweepPoint(msgspec.Struct, frozen=True):
    corridor: str
    channel_key: str
    channel_label: str
    x: Decimal  # the swept input: amount in USD, or P2P premium in percent
    total_usd: Decimal
    total_pct: Decimal


def sweep_channels(data: Datasets, corridor: str, keys: Sequence[str] = SWEEP_CHANNEL_KEYS) -> list[Channel]:
    available = {ch.key: ch for ch in channels_for(data, corridor)}
    return [available[k] for k in keys if k in available]


def ticket_sweep(
    data: Datasets,
    corridor: str,
    amounts: Sequence[int | Decimal] = SWEEP_AMOUNTS_USD,
    keys: Sequence[str] = SWEEP_CHANNEL_KEYS,
    assume: Assumptions = DEFAULT_ASSUMPTIONS,
) -> list[SweepPoint]:
    points = []
    for channel in sweep_channels(data, corridor, keys):
        for amount in amounts:
            r = cost(data, corridor, channel, amount, assume)
            points.append(
                SweepPoint(corridor, channel.key, channel.label, r.amount_usd, r.total_usd, r.total_pct)
            )
    return points


def premium_sweep(
    data: Datasets,
    corridor: str,
    amount_usd: Decimal | int,
    premiums_pct: Sequence[Decimal] = P2P_PREMIUM_SWEEP_PCT,
    keys: Sequence[str] = SWEEP_CHANNEL_KEYS,
    assume: Assumptions = DEFAULT_ASSUMPTIONS,
) -> list[SweepPoint]:
    points = []
    for channel in sweep_channels(data, corridor, keys):
        for premium in premiums_pct:
            r = cost(
                data, corridor, channel, amount_usd, msgspec.structs.replace(assume, p2p_premium_pct=premium)
            )
            points.append(SweepPoint(corridor, channel.key, channel.label, premium, r.total_usd, r.total_pct))
    return points


class ChainFeeLine(msgspec.Struct, frozen=True):
    chain: str
    asset: str
    network_fee_usd_low: Decimal
    network_fee_usd_typical: Decimal
    network_fee_usd_high: Decimal
    network_fee_pct_typical: Decimal  # of the amount
    finality_seconds: Decimal
    withdrawal_venue: str
    withdrawal_fee_usd_low: Decimal | None
    withdrawal_fee_usd_high: Decimal | None
    card_route_pct_low: Decimal  # card on-ramp route at the low and high network fee
    card_route_pct_high: Decimal
    bank_route_pct_low: Decimal | None  # bank on-ramp route at the low and high withdrawal fee
    bank_route_pct_high: Decimal | None
    status: str
    date: str


def chain_fee_range(
    data: Datasets, corridor: str, amount_usd: Decimal | int, assume: Assumptions = DEFAULT_ASSUMPTIONS
) -> list[ChainFeeLine]:
    """Every chains.csv row (variants included) at its low and high fee, alone and inside a route."""
    amount = Decimal(str(amount_usd))
    lines = []
    for row in data.chains:
        card = stablecoin_channels([row.chain], ["card"])[0]
        card_low = cost(
            data,
            corridor,
            card,
            amount,
            msgspec.structs.replace(assume, network_fee_usd=row.network_fee_usd_low),
        )
        card_high = cost(
            data,
            corridor,
            card,
            amount,
            msgspec.structs.replace(assume, network_fee_usd=row.network_fee_usd_high),
        )
        venue = WITHDRAWAL_VENUE.get(row.chain)
        w_low = w_high = bank_low = bank_high = None
        if venue is not None:
            bank = stablecoin_channels([row.chain], ["bank"])[0]
            withdrawal = _ramp(data, "CEX withdrawal fee USDT", venue[0])
            w_low, w_high = _ramp_value(withdrawal, "low"), _ramp_value(withdrawal, "high")
            bank_low = cost(
                data, corridor, bank, amount, msgspec.structs.replace(assume, withdrawal_fee_level="low")
            )
            bank_high = cost(
                data, corridor, bank, amount, msgspec.structs.replace(assume, withdrawal_fee_level="high")
            )
        lines.append(
            ChainFeeLine(
                chain=row.chain,
                asset=row.asset,
                network_fee_usd_low=row.network_fee_usd_low,
                network_fee_usd_typical=row.network_fee_usd_typical,
                network_fee_usd_high=row.network_fee_usd_high,
                network_fee_pct_typical=pct(row.network_fee_usd_typical / amount * HUNDRED),
                finality_seconds=row.finality_seconds,
                withdrawal_venue=(venue[0] + (" (PROXY)" if venue[1] else "")) if venue else "no row",
                withdrawal_fee_usd_low=w_low,
                withdrawal_fee_usd_high=w_high,
                card_route_pct_low=card_low.total_pct,
                card_route_pct_high=card_high.total_pct,
                bank_route_pct_low=bank_low.total_pct if bank_low else None,
                bank_route_pct_high=bank_high.total_pct if bank_high else None,
                status=row.status,
                date=row.date,
            )
        )
    return lines


# ---------------------------------------------------------------------------------------------------
# FY2025 aggregates

SHIFT_SHARE_DEFAULT = Decimal("0.10")
USD_PER_BN = Decimal(1_000_000_000)


class FlowGroup(msgspec.Struct, frozen=True):
    series: str
    corridor: str | None
    flow_usd: Decimal
    status: str
    source: str
    date: str


def fy2025_flow_groups(data: Datasets) -> list[FlowGroup]:
    """SBP FY2025 workers' remittances by source (the rows with period exactly 'FY2025' and a value)."""
    groups = []
    for row in data.flows:
        if row.period != FLOW_PERIOD or row.value_usd_bn is None:
            continue
        corridor = FLOW_SERIES_CORRIDOR.get(row.series)
        groups.append(
            FlowGroup(
                row.series,
                corridor,
                row.value_usd_bn * USD_PER_BN,
                row.status,
                row.source,
                row.date_published,
            )
        )
    if not groups:
        raise DataError(f"{FLOWS_CSV}: no rows with period {FLOW_PERIOD!r} and a value")
    return groups


class AnnualLine(msgspec.Struct, frozen=True):
    """One FY2025 source at one ticket size, priced at the RPW corridor average (status quo)."""

    series: str
    corridor: str | None
    amount_usd: Decimal
    flow_usd: Decimal
    transactions: Decimal  # flow / ticket size
    status_quo_pct: Decimal | None
    status_quo_paid_usd: Decimal | None
    subsidy_usd: Decimal | None  # PRI rebate on every transaction if the ticket is eligible
    flow_status: str


class AlternativeLine(msgspec.Struct, frozen=True):
    """Moving ``shift_share`` of every covered source's flow from the status quo to one channel."""

    channel_key: str
    channel_label: str
    amount_usd: Decimal
    shift_share: Decimal
    covered_flow_usd: Decimal  # flows whose corridor has this channel in the data
    cost_pct_weighted: Decimal
    paid_if_all_usd: Decimal
    status_quo_paid_usd: Decimal  # over the same covered flows
    consumer_saving_usd: Decimal  # positive: senders pay less after the shift
    subsidy_change_usd: Decimal  # negative: the state pays less rebate (flows leave PRI channels)
    flags: tuple[str, ...]


class AnnualSummary(msgspec.Struct, frozen=True):
    amount_usd: Decimal
    total_flow_usd: Decimal
    covered_flow_usd: Decimal
    status_quo_paid_usd: Decimal
    status_quo_pct_weighted: Decimal
    subsidy_usd: Decimal


def annual_totals(
    data: Datasets,
    amount_usd: Decimal | int,
    shift_share: Decimal = SHIFT_SHARE_DEFAULT,
    assume: Assumptions = DEFAULT_ASSUMPTIONS,
) -> tuple[list[AnnualLine], list[AlternativeLine], AnnualSummary]:
    """FY2025 flows priced per source; what a shift of share to each alternative would save or cost.

    The status quo is the RPW corridor average: a simple mean over services, not market-share weighted,
    so it overstates what senders actually paid where volume sits with cheap exchange houses (COSTS.md
    s.6). Every transaction is assumed to be of size ``amount_usd`` (SBP publishes no ticket size)."""
    amount = Decimal(str(amount_usd))
    if not Decimal(0) <= shift_share <= Decimal(1):
        raise ValueError(f"shift share {shift_share} is outside 0..1")
    groups = fy2025_flow_groups(data)
    lines: list[AnnualLine] = []
    status_quo: dict[str, CostBreakdown] = {}
    for g in groups:
        transactions = g.flow_usd / amount
        base = None
        if g.corridor is not None and g.corridor in available_corridors(data):
            base = cost(data, g.corridor, "rpw_average", amount, assume)
            status_quo[g.series] = base
        lines.append(
            AnnualLine(
                series=g.series,
                corridor=g.corridor,
                amount_usd=amount,
                flow_usd=g.flow_usd,
                transactions=transactions,
                status_quo_pct=base.total_pct if base else None,
                status_quo_paid_usd=usd(g.flow_usd * base.total_usd / amount) if base else None,
                subsidy_usd=usd(transactions * base.subsidy_usd) if base else None,
                flow_status=g.status,
            )
        )
    covered = [g for g in groups if g.series in status_quo]
    alternatives: list[AlternativeLine] = []
    candidate_keys = ["bank", "mto"] + [ch.key for ch in stablecoin_channels()]
    for key in candidate_keys:
        flow = paid_all = paid_sq = saving = subsidy_change = Decimal(0)
        flags: dict[str, None] = {}
        label = key
        for g in covered:
            try:
                alt = cost(data, g.corridor, key, amount, assume)  # type: ignore[arg-type]
            except KeyError:
                continue  # this channel has no data in this corridor (e.g. no RPW bank subset)
            base = status_quo[g.series]
            label = alt.channel.label
            flags.update(dict.fromkeys(alt.flags))
            flow += g.flow_usd
            paid_all += g.flow_usd * alt.total_usd / amount
            paid_sq += g.flow_usd * base.total_usd / amount
            saving += shift_share * g.flow_usd * (base.total_usd - alt.total_usd) / amount
            if not alt.pri_eligible:
                subsidy_change -= shift_share * (g.flow_usd / amount) * base.subsidy_usd
        if flow == 0:
            continue
        alternatives.append(
            AlternativeLine(
                channel_key=key,
                channel_label=label,
                amount_usd=amount,
                shift_share=shift_share,
                covered_flow_usd=flow,
                cost_pct_weighted=pct(paid_all / flow * HUNDRED),
                paid_if_all_usd=usd(paid_all),
                status_quo_paid_usd=usd(paid_sq),
                consumer_saving_usd=usd(saving),
                subsidy_change_usd=usd(subsidy_change),
                flags=tuple(flags),
            )
        )
    covered_flow = sum((g.flow_usd for g in covered), Decimal(0))
    paid = sum((line.status_quo_paid_usd or Decimal(0) for line in lines), Decimal(0))
    summary = AnnualSummary(
        amount_usd=amount,
        total_flow_usd=sum((g.flow_usd for g in groups), Decimal(0)),
        covered_flow_usd=covered_flow,
        status_quo_paid_usd=paid,
        status_quo_pct_weighted=pct(paid / covered_flow * HUNDRED) if covered_flow else Decimal(0),
        subsidy_usd=sum((line.subsidy_usd or Decimal(0) for line in lines), Decimal(0)),
    )
    return lines, alternatives, summary


# ---------------------------------------------------------------------------------------------------
# G20 / SDG targets


class TargetLine(msgspec.Struct, frozen=True):
    corridor: str
    period: str
    rpw_total_pct_200: Decimal
    above_corridor_cap: bool
    cheapest_service_pct: Decimal | None
    status: str
    speed: str


class TargetSummary(msgspec.Struct, frozen=True):
    average_target_pct: Decimal
    corridor_cap_pct: Decimal
    speed_share_pct: Decimal
    speed_limit_seconds: Decimal
    simple_mean_pct: Decimal  # over corridors, as the SDG global average is computed
    flow_weighted_pct: Decimal  # over FY2025 flows with an RPW corridor
    corridors_above_cap: tuple[str, ...]
    raast_leg_seconds: Decimal
    chains_within_limit: tuple[str, ...]
    chains_beyond_limit: tuple[str, ...]
    sources: tuple[InputRef, ...]


def _benchmark(data: Datasets, needle: str) -> InputRef:
    for row in data.benchmarks:
        if needle in row.metric:
            return InputRef(
                "global_benchmarks.csv", row.metric, str(row.value_pct), row.status, row.source, row.period
            )
    raise DataError(f"global_benchmarks.csv: no metric containing {needle!r}")


def targets(data: Datasets) -> tuple[list[TargetLine], TargetSummary]:
    """Each RPW corridor's latest published $200 average against the SDG 10.c / G20 targets."""
    average_ref = _benchmark(data, "global avg $200")
    cap_ref = _benchmark(data, "SDG 10.c / G20: no corridor above")
    speed_share, speed_ref = _param_value(data, "g20_speed_within_1h_share_pct", "typical")
    speed_limit, limit_ref = _param_value(data, "g20_speed_limit_seconds", "typical")
    cap = Decimal(cap_ref.value)
    lines = []
    for corridor in rpw_corridors(data):
        rows = [
            r
            for r in data.corridors
            if r.corridor == corridor and r.firm_class == "all" and r.basket_usd == RPW_BASKETS_USD[0]
        ]
        latest = max(rows, key=lambda r: r.period)
        assert latest.total_cost_pct is not None
        lines.append(
            TargetLine(
                corridor=corridor,
                period=latest.period,
                rpw_total_pct_200=latest.total_cost_pct,
                above_corridor_cap=latest.total_cost_pct > cap,
                cheapest_service_pct=latest.min_total_cost_pct,
                status=latest.status,
                speed="not in data (RPW speed is not in the export)",
            )
        )
    _, _, annual = annual_totals(data, BASKET_LOW_USD)
    raast_s, raast_ref = _param_value(data, "raast_credit_seconds", "typical")
    within = tuple(
        r.chain
        for r in data.chains
        if r.chain in ROUTE_CHAINS and r.finality_seconds + raast_s <= speed_limit
    )
    beyond = tuple(
        r.chain for r in data.chains if r.chain in ROUTE_CHAINS and r.finality_seconds + raast_s > speed_limit
    )
    summary = TargetSummary(
        average_target_pct=Decimal(average_ref.value),
        corridor_cap_pct=cap,
        speed_share_pct=speed_share,
        speed_limit_seconds=speed_limit,
        simple_mean_pct=pct(sum((line.rpw_total_pct_200 for line in lines), Decimal(0)) / len(lines)),
        flow_weighted_pct=annual.status_quo_pct_weighted,
        corridors_above_cap=tuple(line.corridor for line in lines if line.above_corridor_cap),
        raast_leg_seconds=raast_s,
        chains_within_limit=tuple(dict.fromkeys(within)),
        chains_beyond_limit=tuple(dict.fromkeys(beyond)),
        sources=(average_ref, cap_ref, speed_ref, limit_ref, raast_ref),
    )
    return lines, summary
