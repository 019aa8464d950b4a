"""Stablecoin: buy USD stablecoin on a licensed exchange abroad, send it on chain, turn it into rupees in
Pakistan, credit the beneficiary's bank account over RAAST. Only where onramps.csv documents a licensed
on-ramp (the cost report's fairness rule 5).

Each step's cost and time from the cited data: funding the exchange by bank transfer and converting
(onramps.csv: deposit fee, conversion fee, local currency -> USD spread, funding time), the exchange's flat
withdrawal fee on the chain (ramps.csv; it pays the network fee) and its processing time (parameters.csv),
confirmations to finality (chains.csv). Two off-ramps in Pakistan:

* ``exchange``: a licensed Pakistani exchange credits the deposit, sells the USDT for rupees and pays them to
  the beneficiary's account through RAAST. HYPOTHETICAL: no PVARA-licensed off-ramp exists in the data
  (SBP BPRD Circular 03 of 2018); its conversion fee is Binance's spot fee (PROXY).
* ``p2p``: a P2P sale; the buyer pays the rupees from their own bank over RAAST within the order's payment
  window. At the inter-bank rate unless the scenario names a premium (a contested assumption).

Liquidity: the on-ramp sells USDT before it refills its inventory, and the exchange off-ramp pays rupees
before it sells the USDT it received; both are measured (analytics/corridor/liquidity.py).
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

from analytics.corridor.clock import Timeline
from analytics.corridor.model import Cost, DomesticLeg, LiquidityUse, Remittance, RouteResult
from analytics.corridor.params import LabData, Param
from analytics.corridor.routes.common import credited_paisa, dec, finish, pct_of, raast_leg
from analytics.corridor.scenario import Stablecoin as StablecoinSpec
from analytics.datasets import OnrampRow
from analytics.pricing import routes as priced_routes
from analytics.pricing.provenance import chain_ref, chain_row, param_value, ramp, ramp_ref

EXCHANGE_BIC = "VASPPKKA"
EXCHANGE_NAME = "Pakistani exchange off-ramp (hypothetical licensed VASP, simulated)"


def _range_param(lab: LabData, name: str) -> Param:
    low, ref = param_value(lab.data, name, "low")
    high, _ = param_value(lab.data, name, "high")
    value, _ = param_value(lab.data, name)
    lab.note(ref)
    return Param(name, float(value), float(low), float(high), "seconds")


def _uniform(rng: random.Random, low: Decimal | None, high: Decimal | None) -> float:
    assert low is not None and high is not None  # a licensed on-ramp has every range (datasets.py checks)
    return rng.uniform(float(low), float(high))


class Stablecoin:
    bic = EXCHANGE_BIC
    participant_name = EXCHANGE_NAME

    def __init__(self, lab: LabData, spec: StablecoinSpec, offramp: str) -> None:
        self.lab = lab
        self.offramp = offramp
        self.name = f"stablecoin_{offramp}"
        how = "exchange off-ramp (hypothetical licence)" if offramp == "exchange" else "P2P sale"
        self.label = f"Stablecoin ({spec.chain}): licensed on-ramp abroad, {how} in Pakistan, RAAST"
        self.short = "Stablecoin, exchange off-ramp (hypothetical)" if offramp == "exchange" else "Stablecoin, P2P sale"
        data = lab.data
        self.chain = chain_row(data, spec.chain)
        lab.note(chain_ref(data, self.chain, "confirmation to finality", f"{self.chain.finality_seconds} s"))
        venue, _proxy = priced_routes.WITHDRAWAL_VENUE[self.chain.chain]
        self.withdrawal = ramp(data, "CEX withdrawal fee USDT", venue)
        lab.note(ramp_ref(self.withdrawal, self.withdrawal.value_low or Decimal(0)))
        self.withdraw_s = _range_param(lab, "exchange_withdrawal_seconds")
        component = "CEX spot trading fee" if offramp == "exchange" else "P2P platform fee"
        self.offramp_fee = ramp(data, component)
        lab.note(ramp_ref(self.offramp_fee, self.offramp_fee.value_low or Decimal(0)))
        self.premium_pct = spec.p2p_premium_pct if offramp == "p2p" else 0.0
        if self.premium_pct:
            lab.note(ramp_ref(ramp(data, "P2P USDT/PKR premium over SBP interbank"), dec(self.premium_pct)))
        self.payout = lab.param("offramp_exchange_payout_s") if offramp == "exchange" else None
        self.p2p_s = _range_param(lab, "p2p_trade_seconds") if offramp == "p2p" else None

    @property
    def participants(self) -> tuple[tuple[str, str], ...]:
        return ((self.bic, self.participant_name),) if self.offramp == "exchange" else ()

    def onramp(self, corridor: str) -> OnrampRow | None:
        row = priced_routes.onramp_for(self.lab.data, corridor)
        return row if row is not None and row.is_licensed else None

    def not_offered(self, corridor: str) -> str | None:
        if self.onramp(corridor) is None:
            return "no licensed on-ramp for this country in the data (onramps.csv)"
        return None

    def cost(self, row: OnrampRow, amount: Decimal, rng: random.Random) -> Cost:
        return Cost.of(
            fee=pct_of(_uniform(rng, row.deposit_fee_pct_low, row.deposit_fee_pct_high), amount),
            fx_margin=pct_of(_uniform(rng, row.fx_spread_pct_low, row.fx_spread_pct_high), amount),
            network=dec(_uniform(rng, self.withdrawal.value_low, self.withdrawal.value_high)),
            ramps=pct_of(_uniform(rng, row.conversion_fee_pct_low, row.conversion_fee_pct_high), amount)
            + pct_of(_uniform(rng, self.offramp_fee.value_low, self.offramp_fee.value_high), amount),
            premium=-pct_of(self.premium_pct, amount),
        )

    async def send(self, remittance: Remittance, rng: random.Random, rail: DomesticLeg) -> RouteResult:
        row = self.onramp(remittance.corridor)
        assert row is not None and row.funding_seconds_low is not None and row.funding_seconds_high is not None
        cost = self.cost(row, remittance.amount_usd, rng)
        t = Timeline(remittance.sent_at)
        # Log-uniform between the cited bounds (shape ASSUMPTION): most transfers land near the fast end.
        low, high = math.log(max(float(row.funding_seconds_low), 1.0)), math.log(float(row.funding_seconds_high))
        await t.take(f"funding {row.venue} ({row.funding_method}) and converting", math.exp(rng.uniform(low, high)))
        usdt = remittance.amount_usd - cost.fee - cost.fx_margin
        sold = LiquidityUse(f"USDT on-ramp: {row.venue}", "USDT", remittance.source_iso3, t.now, usdt)
        await t.take("exchange: withdrawal processing", self.withdraw_s.draw(rng))
        await t.take(f"{self.chain.chain}: confirmations to finality", float(self.chain.finality_seconds))
        if self.payout is not None:
            await t.take("Pakistani exchange: deposit credited, sold for PKR, payout sent (hypothetical)",
                         self.payout.draw(rng))
            payer = self.bic
        else:
            assert self.p2p_s is not None
            await t.take("P2P sale: the buyer's payment window", self.p2p_s.draw(rng))
            payer = rail.payout_bank(remittance, rng)  # the buyer pays from their own bank
        paisa = credited_paisa(self.lab, remittance, cost)
        domestic = await raast_leg(t, rail, payer, remittance, paisa, rng)
        uses = (sold,)
        if self.payout is not None:
            uses += (LiquidityUse("PKR off-ramp: Pakistani exchange (hypothetical)", "PKR", "PAK", t.now,
                                  Decimal(paisa) / 100),)
        return finish(self.name, remittance, t, cost, payer, paisa, domestic, uses)
