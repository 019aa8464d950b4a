"""What the corridor lab simulates: a remittance, a route's steps and costs, and the two seams (the route,
and the domestic leg a route hands to RAAST).

Money is ``Decimal`` USD for costs (each component rounded once to 1/100 cent, as the pricing model does) and
integer paisa for what RAAST moves; time is simulated seconds (floats: durations, never money).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

import msgspec

from analytics.pricing.provenance import HUNDRED, pct, usd

COST_PARTS = ("fee", "fx_margin", "network", "ramps", "premium")
COST_PART_LABELS = {
    "fee": "fee",
    "fx_margin": "FX margin",
    "network": "network",
    "ramps": "ramps",
    "premium": "P2P premium",
}


class Remittance(msgspec.Struct, frozen=True):
    """One remittance of the population: the same one is sent over every route."""

    seq: int
    corridor: str  # "ARE->PAK"
    amount_usd: Decimal  # the ticket at the reference rate, to the cent
    amount_paisa: int  # the same ticket in PKR at the reference rate
    sent_at: dt.datetime  # when the sender starts (aware; simulated calendar)
    beneficiary_bank: int  # index into the rail's banks (the same beneficiary on every route)
    beneficiary_account: str  # "ok", or the reason its bank rejects it (AC01, AC04, AC06)

    @property
    def source_iso3(self) -> str:
        return self.corridor.split("->")[0]


class Cost(msgspec.Struct, frozen=True):
    """What a remittance cost over a route, by component, in USD (negative: a rate better than the reference;
    the P2P premium, when a scenario asks for one, is negative too: it is paid by the rupee buyer)."""

    fee: Decimal = Decimal(0)
    fx_margin: Decimal = Decimal(0)
    network: Decimal = Decimal(0)
    ramps: Decimal = Decimal(0)
    premium: Decimal = Decimal(0)

    @classmethod
    def of(cls, **parts: Decimal) -> Cost:
        return cls(**{name: usd(value) for name, value in parts.items()})

    @property
    def total(self) -> Decimal:
        return self.fee + self.fx_margin + self.network + self.ramps + self.premium

    def total_pct(self, amount_usd: Decimal) -> Decimal:
        return pct(self.total / amount_usd * HUNDRED)

    def deducted(self) -> Decimal:
        """What reduces the rupees credited: everything but the fee, which the sender pays on top."""
        return self.total - self.fee


class StepKind(StrEnum):
    SIMULATED = "simulated"  # a sampled delay from cited parameters
    WAIT = "wait"  # waiting for a window: a cut-off, a weekend, a batch
    MEASURED = "measured"  # measured on the rail (the RAAST leg)


class Step(msgspec.Struct, frozen=True, array_like=True):
    name: str
    seconds: float
    kind: StepKind


class LiquidityUse(msgspec.Struct, frozen=True, array_like=True):
    """Money a desk paid out ahead of being paid itself (an FX provider's rupees, an exchange's USDT): what its
    prefunding or inventory must cover. ``calendar`` is the country whose working days it refills on."""

    desk: str
    currency: str
    calendar: str
    at: dt.datetime
    amount: Decimal


class Status(StrEnum):
    CREDITED = "credited"
    FAILED = "failed"
    NOT_OFFERED = "not_offered"  # the route does not exist for this corridor (the reason says why)


class RouteResult(msgspec.Struct, frozen=True):
    """One remittance over one route."""

    seq: int
    route: str
    corridor: str
    amount_usd: Decimal
    status: Status
    reason: str = ""  # why it failed or is not offered
    cost: Cost | None = None
    steps: tuple[Step, ...] = ()
    time_to_credit_s: float | None = None
    credited_at: dt.datetime | None = None
    payer_bic: str = ""  # the RAAST debtor agent of the domestic leg
    credited_paisa: int = 0
    raast_status: str = ""  # ACSC | RJCT | "" (no domestic leg)
    raast_reason: str = ""
    raast_latency_ms: float | None = None  # the rail's own received -> final time
    liquidity: tuple[LiquidityUse, ...] = ()

    @property
    def total_pct(self) -> Decimal | None:
        return None if self.cost is None else self.cost.total_pct(self.amount_usd)


class DomesticResult(msgspec.Struct, frozen=True):
    """The final outcome of a RAAST payment and the rail's own settlement latency (received -> final)."""

    status: str  # ACSC | RJCT
    reason: str
    latency_s: float
    uetr: str


class RailCheck(msgspec.Struct, frozen=True):
    """What the rail's own books say after the run: every settled payment moved exactly its amount between
    the two agents' settlement accounts, and the accounts still sum to the central bank's funding."""

    conserved: bool
    balances_match: bool
    payments: int
    settled: int
    rejected: int
    settled_paisa: int
    moved_paisa: dict[str, int]  # per BIC: posted balance after minus before (the rail's books)
    mismatches: list[str]


class DomesticLeg(Protocol):
    """RAAST, as the routes see it: a real payment through the rail (participants/corridor_rail.py)."""

    async def pay(self, payer_bic: str, remittance: Remittance, amount_paisa: int, uetr: str) -> DomesticResult: ...

    def payout_bank(self, remittance: Remittance, rng: random.Random) -> str:
        """A Pakistani bank (not the beneficiary's) that receives remittances from abroad and pays them out."""
        ...


class Route(Protocol):
    """A way to move a remittance into Pakistan, simulated step by step."""

    name: str
    label: str
    short: str  # for chart labels

    def not_offered(self, corridor: str) -> str | None:
        """Why the route does not exist for ``corridor`` (None: it does)."""
        ...

    async def send(self, remittance: Remittance, rng: random.Random, rail: DomesticLeg) -> RouteResult: ...
