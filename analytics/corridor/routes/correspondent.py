"""Correspondent banking: the sender's own bank sends a Swift payment to a Pakistani bank, which pays the
beneficiary over RAAST.

Cost: a bank service of the corridor drawn from RPW's quotes (rpw_services.csv, name-based bank subset), priced
at the remittance's amount. Time: the sending bank's working day and cut-off (business_calendars.csv;
corridor_lab.csv sender_bank_*), Swift in flight (log-normal through Swift's median and 90th percentile), the
Pakistani bank's inward window (SBP PSD CL 04/2015), then the RAAST payment, measured on the rail.
"""

from __future__ import annotations

import math
import random

from analytics.corridor.clock import Timeline
from analytics.corridor.model import Remittance
from analytics.corridor.params import LabData
from analytics.corridor.routes.formal import FormalRoute

Z_90 = 1.2815515655446004  # the standard normal's 90th percentile


class Correspondent(FormalRoute):
    name = "correspondent"
    label = "Correspondent banking: the sender's bank, Swift, a Pakistani bank, RAAST"
    short = "Correspondent banking"
    bank = True

    def __init__(self, lab: LabData, failure_pct: float | None = None) -> None:
        super().__init__(lab, failure_pct)
        median = lab.param("swift_inflight_median_s").value
        p90 = lab.param("swift_inflight_p90_s").value
        self.mu = math.log(median)
        self.sigma = (math.log(p90) - self.mu) / Z_90
        self.open_h = lab.param("sender_bank_open_hour").value
        self.cutoff = lab.param("sender_bank_cutoff_hour")
        lab.param("swift_end_customer_within_1h_pct")  # not an input: the report shows it beside the result

    async def foreign_leg(self, t: Timeline, remittance: Remittance, rng: random.Random) -> None:
        sender = self.lab.calendar(remittance.source_iso3)
        await t.until("sending bank: after its cut-off or not a working day",
                      sender.window_start(t.now, self.open_h, self.cutoff.draw(rng)))
        await t.take("Swift: in flight to the Pakistani bank", rng.lognormvariate(self.mu, self.sigma))
        await self.window.process(t, rng)
