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
from analytics.corridor.model import Remittance
from analytics.corridor.params import LabData
from analytics.corridor.routes.formal import FormalRoute

HOUR_S = 3600.0
FAST_MIN_S = 60.0  # paying in and screening take at least a minute


class Mto(FormalRoute):
    name = "mto"
    label = "Money transfer operator: the MTO, its Pakistani payout bank, RAAST"
    short = "Money transfer operator"
    bank = False

    def __init__(self, lab: LabData, failure_pct: float | None = None) -> None:
        super().__init__(lab, failure_pct)
        self.within_hour = lab.param("mto_within_1h_pct").value / 100
        self.within_day = lab.param("mto_within_1bd_pct").value / 100
        self.slow_days = lab.param("mto_slow_business_days")

    async def foreign_leg(self, t: Timeline, remittance: Remittance, rng: random.Random) -> None:
        speed = rng.random()
        if speed < self.within_hour:
            await t.take("MTO: paid in, screened, payout released (speed: less than one hour)",
                         rng.uniform(FAST_MIN_S, HOUR_S - FAST_MIN_S))
            return
        if speed < self.within_day:
            await t.take("MTO: screening and funding the payout bank (over an hour)", HOUR_S)
        else:
            days = round(self.slow_days.draw(rng))
            later = self.lab.pakistan.add_working_days(t.now, days) + dt.timedelta(hours=self.window.open_h)
            await t.until(f"MTO: a slower service ({days} working days)", later)
        await self.window.process(t, rng)
