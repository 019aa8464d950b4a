"""An instant cross-border link into RAAST: the sender's instant payment system sends a pacs.008 in AED, SAR or
GBP to a link (Buna for the Gulf; a Nexus-style hop for the UK); an FX provider that is a RAAST participant
quotes, converts and pays the rupees out through the rail within seconds.

Cost: the link's scheme fee (a PROXY: Buna's and a UAE-Pakistan link's prices are not published) and the FX
provider's margin, DERIVED from the corridor's RPW FX margins (it prices like the market it enters). Time: the
sender's instant payment, the hop and conversion (Nexus: most payments within 60 s), then the RAAST payment,
measured on the rail. Liquidity: the FX provider pays rupees before its foreign currency is converted, so its
PKR prefunding is what the run measures (analytics/corridor/liquidity.py).
"""

from __future__ import annotations

import random
from decimal import Decimal

from analytics.corridor.clock import Timeline
from analytics.corridor.model import Cost, DomesticLeg, LiquidityUse, Remittance, RouteResult
from analytics.corridor.params import LabData
from analytics.corridor.routes.common import credited_paisa, dec, finish, pct_of, raast_leg
from analytics.pricing.services import nearest_basket

GULF_LINK = "Buna (Arab Monetary Fund) to RAAST"
OTHER_LINK = "a Nexus-style hop to RAAST (Pakistan is not a Nexus member)"
GULF_SOURCES = ("ARE", "SAU", "KWT", "QAT", "BHR", "OMN")


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class InstantLink:
    name = "instant_link"
    label = "Instant link: the sender's instant payment, an FX provider on RAAST"
    short = "Instant link (Buna / Nexus-style)"
    bic = "LINKPKKA"
    participant_name = "Instant-link FX provider (simulated RAAST participant)"
    desk = "Instant-link FX provider"

    def __init__(self, lab: LabData, sources: dict[str, str]) -> None:
        self.lab = lab
        self.sources = dict(sources)
        self.source_ips = lab.param("link_source_ips_s")
        self.hop = lab.param("link_hop_s")
        self.fee = lab.param("link_scheme_fee_usd")
        self.quantiles = lab.param("link_fx_margin_quantile")
        self._margins: dict[tuple[str, int], tuple[float, float]] = {}

    def not_offered(self, corridor: str) -> str | None:
        source = corridor.split("->")[0]
        if source not in self.sources:
            return f"no instant link from this country in the scenario (links from {', '.join(self.sources)})"
        if not self.lab.services(corridor, True) + self.lab.services(corridor, False):
            return "no RPW quotes to derive the FX provider's margin from"
        return None

    def margin_range(self, corridor: str, amount: Decimal) -> tuple[float, float]:
        """The FX margins (%) a payment draws from: the corridor's RPW margins between the two quantiles."""
        basket = nearest_basket(amount)
        key = (corridor, basket)
        if key not in self._margins:
            lines = self.lab.services(corridor, True) + self.lab.services(corridor, False)
            margins = [float(line.fx_pct(Decimal(basket))) for line in lines]
            self._margins[key] = (percentile(margins, self.quantiles.low), percentile(margins, self.quantiles.high))
        return self._margins[key]

    def hop_name(self, source: str) -> str:
        link = GULF_LINK if source in GULF_SOURCES else OTHER_LINK
        return f"{link}: FX provider quotes and converts"

    async def send(self, remittance: Remittance, rng: random.Random, rail: DomesticLeg) -> RouteResult:
        low, high = self.margin_range(remittance.corridor, remittance.amount_usd)
        amount = remittance.amount_usd
        cost = Cost.of(fee=dec(self.fee.draw(rng)), fx_margin=pct_of(rng.uniform(low, high), amount))
        t = Timeline(remittance.sent_at)
        currency = self.sources[remittance.source_iso3]
        await t.take(f"sender's instant payment system ({currency})", self.source_ips.draw(rng))
        await t.take(self.hop_name(remittance.source_iso3), self.hop.draw(rng))
        return await pay_out(self, remittance, t, cost, rng, rail)


async def pay_out(link: InstantLink, remittance: Remittance, t: Timeline, cost: Cost, rng: random.Random,
                  rail: DomesticLeg) -> RouteResult:
    """The FX provider pays the rupees through RAAST, out of its prefunded settlement account."""
    paisa = credited_paisa(link.lab, remittance, cost)
    domestic = await raast_leg(t, rail, link.bic, remittance, paisa, rng)
    use = LiquidityUse(link.desk, "PKR", "PAK", t.now, Decimal(paisa) / 100)
    return finish(link.name, remittance, t, cost, link.bic, paisa, domestic, (use,))
