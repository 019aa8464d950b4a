"""What correspondent banking and money transfer operators share: a service of the corridor drawn from RPW's
quotes (bank or non-bank), a foreign leg of the route's own, then the Pakistani payout bank's RAAST payment."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod

from analytics.corridor.clock import Timeline
from analytics.corridor.model import DomesticLeg, Remittance, RouteResult
from analytics.corridor.params import LabData
from analytics.corridor.routes.common import InwardWindow, credited_paisa, failed, finish, raast_leg

FOREIGN_FAILURE = "returned before it reached Pakistan (the scenario's foreign-leg failure rate)"


class FormalRoute(ABC):
    """A route priced by RPW's services: ``bank`` picks the bank services or the others."""

    name = ""
    bank = True

    def __init__(self, lab: LabData, failure_pct: float | None = None) -> None:
        self.lab = lab
        self.window = InwardWindow(lab)
        default_failure = lab.param("foreign_leg_failure_pct").value
        self.failure_pct = default_failure if failure_pct is None else failure_pct

    def not_offered(self, corridor: str) -> str | None:
        if not self.lab.services(corridor, bank=self.bank):
            return f"no {'bank' if self.bank else 'non-bank'} service in RPW for this corridor (rpw_services.csv)"
        return None

    @abstractmethod
    async def foreign_leg(self, t: Timeline, remittance: Remittance, rng: random.Random) -> None:
        """From the sender starting to the Pakistani bank releasing the payout (each route its own)."""

    async def send(self, remittance: Remittance, rng: random.Random, rail: DomesticLeg) -> RouteResult:
        line = rng.choice(self.lab.services(remittance.corridor, bank=self.bank))
        cost = line.cost(remittance.amount_usd)
        t = Timeline(remittance.sent_at)
        await self.foreign_leg(t, remittance, rng)
        if rng.random() * 100 < self.failure_pct:
            return failed(self.name, remittance, t, cost, FOREIGN_FAILURE)
        payer = rail.payout_bank(remittance, rng)
        paisa = credited_paisa(self.lab, remittance, cost)
        domestic = await raast_leg(t, rail, payer, remittance, paisa, rng)
        return finish(self.name, remittance, t, cost, payer, paisa, domestic)
