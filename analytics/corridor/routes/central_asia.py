"""A Central Asia corridor: Uzbekistan to Pakistan through a hypothetical instant link into RAAST.

Pakistan's government has pitched a Central Asia digital corridor; no link operates, and SBP publishes no flow
from Uzbekistan. So every parameter here (the corridor's share, ticket size, fee, FX margin, timing, failure
rate) is an ASSUMPTION in corridor_lab.csv (ca_*), and the report shows this corridor apart, never in a
headline. The mechanics are the instant link's: an FX provider on RAAST pays out of its PKR prefunding.
"""

from __future__ import annotations

import random

from analytics.corridor.clock import Timeline
from analytics.corridor.model import Cost, DomesticLeg, Remittance, RouteResult
from analytics.corridor.params import LabData
from analytics.corridor.routes.common import dec, failed, pct_of
from analytics.corridor.routes.instant_link import InstantLink, pay_out

CORRIDOR = "UZB->PAK"


class CentralAsiaLink(InstantLink):
    name = "central_asia"
    label = "Central Asia link (hypothetical): Uzbekistan's instant payment, an FX provider on RAAST"
    short = "Central Asia link (hypothetical)"
    bic = "CALKPKKA"
    participant_name = "Central Asia link FX provider (hypothetical, simulated)"
    desk = "Central Asia link FX provider (hypothetical)"

    def __init__(self, lab: LabData) -> None:
        super().__init__(lab, {"UZB": "UZS"})
        self.ca_fee = lab.param("ca_fee_usd")
        self.ca_margin = lab.param("ca_fx_margin_pct")
        self.ca_link = lab.param("ca_link_s")
        self.ca_failure_pct = lab.param("ca_failure_pct").value

    def not_offered(self, corridor: str) -> str | None:
        return None if corridor == CORRIDOR else "the hypothetical Central Asia link serves Uzbekistan only"

    async def send(self, remittance: Remittance, rng: random.Random, rail: DomesticLeg) -> RouteResult:
        amount = remittance.amount_usd
        cost = Cost.of(fee=dec(self.ca_fee.draw(rng)), fx_margin=pct_of(self.ca_margin.draw(rng), amount))
        t = Timeline(remittance.sent_at)
        await t.take("sender's instant payment system (UZS)", self.source_ips.draw(rng))
        await t.take("hypothetical Uzbekistan-Pakistan link: FX provider quotes and converts", self.ca_link.draw(rng))
        if rng.random() * 100 < self.ca_failure_pct:
            return failed(self.name, remittance, t, cost, "refused by the link before RAAST (ASSUMPTION rate)")
        return await pay_out(self, remittance, t, cost, rng, rail)
