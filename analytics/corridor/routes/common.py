"""What the routes share: the Pakistani bank's inward window, the RAAST leg, and how a result is written."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal

from analytics.corridor.clock import Timeline
from analytics.corridor.model import (
    Cost,
    DomesticLeg,
    DomesticResult,
    LiquidityUse,
    Remittance,
    RouteResult,
    Status,
    StepKind,
)
from analytics.corridor.params import LabData
from analytics.pricing.provenance import HUNDRED

RAAST_STEP = "RAAST: payer bank to the beneficiary's bank (measured on the rail)"
# Names ISO reason codes a beneficiary's bank answers with (rail/scheme.py's test accounts).
REASON_TEXT = {"AC01": "account number invalid", "AC04": "account closed", "AC06": "account blocked"}


def dec(value: float) -> Decimal:
    """A sampled float as a Decimal with six decimals (a percentage or USD amount; money is rounded later)."""
    return Decimal(f"{value:.6f}")


def pct_of(percent: float | Decimal, amount: Decimal) -> Decimal:
    return Decimal(percent if isinstance(percent, Decimal) else dec(percent)) * amount / HUNDRED


def new_uetr(rng: random.Random) -> str:
    """A UETR from the remittance's own generator: the same seed gives the same payments."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class InwardWindow:
    """The Pakistani bank's processing of a remittance received from abroad (SBP PSD CL 04/2015): inside the
    working-day window (09:00-15:00 PKT) within two hours; otherwise by 11:00 of the next working day."""

    def __init__(self, lab: LabData) -> None:
        self.pk = lab.pakistan
        self.open_h = lab.param("pk_inward_window_open_hour").value
        self.close_h = lab.param("pk_inward_window_close_hour").value
        self.processing = lab.param("pk_inward_processing_s")
        self.next_day_by_h = lab.param("pk_inward_next_day_by_hour").value

    async def process(self, t: Timeline, rng: random.Random) -> None:
        if self.pk.in_window(t.now, self.open_h, self.close_h):
            await t.take("Pakistani bank: inward processing (SBP: within 2 h)", self.processing.draw(rng))
            return
        opens = self.pk.window_start(t.now, self.open_h, self.close_h)
        spread_s = (self.next_day_by_h - self.open_h) * 3600 * rng.random()
        await t.until("Pakistani bank: after 15:00 or not a working day (SBP: by 11:00 next working day)",
                      opens + dt.timedelta(seconds=spread_s))


async def raast_leg(t: Timeline, rail: DomesticLeg, payer_bic: str, remittance: Remittance, paisa: int,
                    rng: random.Random) -> DomesticResult:
    """The domestic leg: a real RAAST payment through the rail; its time is the rail's own measured latency."""
    result = await rail.pay(payer_bic, remittance, paisa, new_uetr(rng))
    await t.take(RAAST_STEP, result.latency_s, StepKind.MEASURED)
    return result


def credited_paisa(lab: LabData, remittance: Remittance, cost: Cost) -> int:
    """The rupees the beneficiary gets: the ticket less what the route took in its rates (fees are on top)."""
    return lab.usd_to_paisa(remittance.amount_usd - cost.deducted())


def finish(route: str, remittance: Remittance, t: Timeline, cost: Cost, payer_bic: str, paisa: int,
           domestic: DomesticResult, liquidity: tuple[LiquidityUse, ...] = ()) -> RouteResult:
    """The result once RAAST has answered: credited on ACSC, failed (with the bank's reason) on RJCT."""
    ok = domestic.status == "ACSC"
    reason = "" if ok else f"RAAST RJCT {domestic.reason}: {REASON_TEXT.get(domestic.reason, 'rejected')}"
    return RouteResult(
        remittance.seq, route, remittance.corridor, remittance.amount_usd,
        Status.CREDITED if ok else Status.FAILED, reason, cost, tuple(t.steps),
        t.elapsed_s if ok else None, t.now if ok else None, payer_bic, paisa if ok else 0,
        domestic.status, domestic.reason, domestic.latency_s * 1000, liquidity if ok else (),
    )


def failed(route: str, remittance: Remittance, t: Timeline, cost: Cost, reason: str) -> RouteResult:
    """Failed before RAAST (on the foreign leg): nothing reached Pakistan."""
    return RouteResult(remittance.seq, route, remittance.corridor, remittance.amount_usd, Status.FAILED, reason, cost,
                       tuple(t.steps))


def not_offered(route: str, remittance: Remittance, reason: str) -> RouteResult:
    return RouteResult(remittance.seq, route, remittance.corridor, remittance.amount_usd, Status.NOT_OFFERED, reason)
