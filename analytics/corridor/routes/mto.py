"""A money transfer operator: the sender pays an MTO (online, by card or at an agent); its Pakistani payout
bank pays the beneficiary over RAAST.

Cost: a non-bank service of the corridor drawn from RPW's quotes (rpw_services.csv). Time: RPW's speed
category per service is not in the cited export, so the 2023 global baseline stands in (53% of services
within one hour, 77% within one business day; corridor_lab.csv mto_*): a fast service releases the payout
within the hour; a same/next-day one waits for the Pakistani bank's inward window (SBP PSD CL 04/2015); a slow
one takes 2-5 working days. Then the RAAST payment, measured on the rail.
"""

from __future__ import annotations

import datetime as dt
import random

from analytics.corridor.clock import Timeline
from analytics.corridor.model import DomesticLeg, Remittance, RouteResult
from analytics.corridor.params import LabData
from analytics.corridor.routes.common import InwardWindow, credited_paisa, failed, finish, raast_leg

HOUR_S = 3600.0
FAST_MIN_S = 60.0  # paying in and screening take at least a minute


class Mto:
    name = "mto"
    label = "Money transfer operator: the MTO, its Pakistani payout bank, RAAST"
    short = "Money transfer operator"

    def __init__(self, lab: LabData, failure_pct: float | None = None) -> None:
        self.lab = lab
        self.within_hour = lab.param("mto_within_1h_pct").value / 100
        self.within_day = lab.param("mto_within_1bd_pct").value / 100
        self.slow_days = lab.param("mto_slow_business_days")
        self.window = InwardWindow(lab)
        default_failure = lab.param("foreign_leg_failure_pct").value
        self.failure_pct = default_failure if failure_pct is None else failure_pct

    def not_offered(self, corridor: str) -> str | None:
        if not self.lab.services(corridor, bank=False):
            return "no non-bank service in RPW for this corridor (rpw_services.csv)"
        return None

    async def send(self, remittance: Remittance, rng: random.Random, rail: DomesticLeg) -> RouteResult:
        line = rng.choice(self.lab.services(remittance.corridor, bank=False))
        cost = line.cost(remittance.amount_usd)
        t = Timeline(remittance.sent_at)
        speed = rng.random()
        if speed < self.within_hour:
            await t.take("MTO: paid in, screened, payout released (speed: less than one hour)",
                         rng.uniform(FAST_MIN_S, HOUR_S - FAST_MIN_S))
        elif speed < self.within_day:
            await t.take("MTO: screening and funding the payout bank (over an hour)", HOUR_S)
            await self.window.process(t, rng)
        else:
            days = round(self.slow_days.draw(rng))
            later = self.lab.pakistan.add_working_days(t.now, days) + dt.timedelta(hours=self.window.open_h)
            await t.until(f"MTO: a slower service ({days} working days)", later)
            await self.window.process(t, rng)
        if rng.random() * 100 < self.failure_pct:
            return failed(self.name, remittance, t, cost, "returned on the foreign leg (the scenario's failure rate)")
        payer = rail.payout_bank(remittance, rng)
        paisa = credited_paisa(self.lab, remittance, cost)
        domestic = await raast_leg(t, rail, payer, remittance, paisa, rng)
        return finish(self.name, remittance, t, cost, payer, paisa, domestic)
