"""The cost identity and the shape every priced channel shares.

Identity (COSTS.md s.1.3), every term in USD for a send amount ``A`` (USD equivalent)::

    total = sending_fee + fx_margin + onramp + network_fee + withdrawal_fee + offramp + receiving_fee
    total_pct = total / A * 100
    social_cost = total + subsidy           # PRI TT-charges rebate, paid by the state, kept separate

``fx_margin`` and ``offramp`` are signed: Gulf exchange houses beat the World Bank reference rate
(negative margin, published as is) and a P2P USDT/PKR premium would pay the recipient more rupees than
the inter-bank rate. The premium is a named scenario: by default it is zero (:class:`Assumptions`).
Money is :class:`~decimal.Decimal` USD throughout; each component is rounded once to ``USD_QUANTUM`` and
the total is the exact sum of the rounded components, so a breakdown always adds up.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from decimal import Decimal

import msgspec

from analytics.datasets import CORRIDORS_CSV
from analytics.pricing.provenance import HUNDRED, InputRef, flags_of, pct, sources_of, usd, worst_confidence

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
    "sending_fee": "Sending / deposit fee",
    "fx_margin": "FX margin (signed)",
    "onramp": "Exchange conversion fee",
    "network_fee": "Network fee",
    "withdrawal_fee": "Exchange withdrawal fee",
    "offramp": "Off-ramp (P2P premium, signed)",
    "receiving_fee": "Receiving fee",
}

FAMILY_RPW = "rpw"
FAMILY_RAAST = "raast"
FAMILY_STABLECOIN = "stablecoin"

LEVELS = ("low", "typical", "high")


class Channel(msgspec.Struct, frozen=True):
    key: str
    label: str
    family: str
    chain: str | None = None
    onramp: str | None = None  # how the exchange is funded ('bank': a bank transfer)


class Assumptions(msgspec.Struct, frozen=True):
    """The knobs a scenario turns. The defaults are the report's: no P2P premium, typical fees."""

    p2p_premium_pct: Decimal = Decimal(0)  # the named P2P scenario sets it; never in the headline
    onramp_level: str = "typical"  # deposit, conversion and FX-spread ranges: low / midpoint / high
    withdrawal_fee_level: str = "typical"

    @classmethod
    def at(cls, level: str, p2p_premium_pct: Decimal = Decimal(0)) -> Assumptions:
        """Every fee range at the same end: 'low' is a route's best case, 'typical' its midpoint."""
        if level not in LEVELS:
            raise ValueError(f"level {level!r} is not one of {LEVELS}")
        return cls(p2p_premium_pct, level, level)


DEFAULT_ASSUMPTIONS = Assumptions()


class CostBreakdown(msgspec.Struct, frozen=True):
    corridor: str
    channel: Channel
    amount_usd: Decimal
    components_usd: dict[str, Decimal]
    total_usd: Decimal
    total_pct: Decimal
    p2p_premium_usd: Decimal  # the signed premium inside ``offramp`` (0 unless a scenario sets one)
    total_ex_premium_pct: Decimal
    subsidy_usd: Decimal
    social_cost_usd: Decimal
    pri_eligible: bool
    time_low_s: Decimal | None  # time to funds as a range over every step; None when not in the data
    time_high_s: Decimal | None
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
        return flags_of(self.inputs)


class Pricer(abc.ABC):
    """One corridor and channel with every data lookup already resolved, so pricing many tickets (a run
    report prices every simulated remittance) costs a few Decimal operations each. A single quote and a
    run's tickets go through the same :meth:`breakdown`."""

    def __init__(
        self,
        corridor: str,
        channel: Channel,
        period: str,
        inputs: Iterable[InputRef],
        notes: Iterable[str],
        time_range: tuple[Decimal, Decimal] | None,
        time_basis: str,
        pri_eligible: bool,
    ) -> None:
        self.corridor = corridor
        self.channel = channel
        self.period = period
        self.inputs = tuple(dict.fromkeys(inputs))
        self.notes = tuple(dict.fromkeys(notes))
        self.time_range = time_range
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
        low, high = self.time_range if self.time_range else (None, None)
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
            time_low_s=low,
            time_high_s=high,
            time_basis=self.time_basis,
            period=self.period,
            inputs=self.inputs,
            subsidy_inputs=self.subsidy_inputs if subsidy_usd else (),
            notes=self.notes,
        )


def zero_components() -> dict[str, Decimal]:
    return {name: Decimal(0) for name in COMPONENTS}


def check_amount(amount_usd: Decimal | int | str) -> Decimal:
    amount = Decimal(str(amount_usd))
    if not AMOUNT_USD_MIN <= amount <= AMOUNT_USD_MAX:
        raise ValueError(f"amount {amount} USD is outside {AMOUNT_USD_MIN}..{AMOUNT_USD_MAX}")
    return amount


def source_for(results: Iterable[CostBreakdown]) -> str:
    """Name every file a set of results used, with the dates of the rows behind it."""
    results = list(results)
    periods = sorted({r.period for r in results if r.channel.family == FAMILY_RPW})
    others = [ref for r in results for ref in r.inputs if ref.file != CORRIDORS_CSV]
    parts = [f"World Bank RPW corridors.csv ({', '.join(periods)})"] if periods else []
    if others:
        parts.append(sources_of(others))
    return "; ".join(parts)
