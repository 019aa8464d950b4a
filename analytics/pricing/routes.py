"""Stablecoin routes, priced per corridor: only where a licensed on-ramp sells USD stablecoin for the
sending country's currency (onramps.csv), and never with a P2P premium unless a scenario asks for one.

A route, step by step (each with its cost and its time):

1. fund an exchange by bank transfer in the local currency (deposit fee; funding time from onramps.csv);
2. convert to USD stablecoin (the venue's conversion fee, plus the local currency -> USD spread);
3. withdraw on ``chain`` (the exchange's flat withdrawal fee, which pays the network fee, so the network
   fee is not counted twice; internal processing time; confirmations to finality);
4. sell the stablecoin for rupees on a P2P market in Pakistan (platform fee; the buyer's payment window)
   at the inter-bank rate: a P2P premium is the named scenario of ``analytics.pricing.premium``;
5. RAAST credits the rupees to the recipient's bank account (free, 20 s).

No licensed off-ramp exists in Pakistan in the data (SBP BPRD Circular 03 of 2018 bars banks from
virtual-asset transactions; PVARA licensing was not operational): step 4 is an unlicensed P2P sale in
every route, and crypto off-ramps earn no PRI rebate.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from analytics.datasets import ChainRow, Datasets, OnrampRow
from analytics.pricing.core import FAMILY_STABLECOIN, Assumptions, Channel, Pricer, zero_components
from analytics.pricing.provenance import (
    HUNDRED,
    InputRef,
    chain_ref,
    chain_row,
    corridor_ref,
    level_of,
    onramp_ref,
    param_value,
    raast_row,
    ramp,
    ramp_ref,
    ramp_value,
)

# Stablecoin networks priced, by their chains.csv / chains_added.csv name. The first row of a chain is
# its standard case (Tron: the recipient already holds USDT); later rows are variants (fee table only).
ROUTE_CHAINS = (
    "Tron",
    "Ethereum L1",
    "Solana",
    "Stellar",
    "Polygon PoS",
    "Base (OP Stack L2)",
    "XRP Ledger",
    "BNB Smart Chain",
)
ONRAMPS = ("bank",)
ONRAMP_LABELS = {"bank": "bank transfer"}

# chains.csv chain -> ramps.csv withdrawal venue, and whether that venue is a stand-in for the chain.
# Base is an OP Stack L2 like Optimism; Stellar and XRPL have no withdrawal-fee row at all, so they take
# the 1 USDT level the exchanges charge on Tron and Solana. Proxies are flagged in every report.
WITHDRAWAL_VENUE = {
    "Tron": ("TRC-20", False),
    "Ethereum L1": ("ERC-20 (Ethereum)", False),
    "Solana": ("Solana", False),
    "Polygon PoS": ("Polygon / Arbitrum / Optimism", False),
    "Arbitrum One": ("Polygon / Arbitrum / Optimism", False),
    "Base (OP Stack L2)": ("Polygon / Arbitrum / Optimism", True),
    "Stellar": ("Solana", True),
    "XRP Ledger": ("Solana", True),
    "BNB Smart Chain": ("BEP-20 (BSC)", False),
}
# ramps.csv withdrawal fees are copies of Binance's schedule: another venue's route uses them as a stand-in.
WITHDRAWAL_FEE_VENUE = "Binance"

OFFRAMP_NOTE = (
    "Off-ramp: an unlicensed P2P sale in Pakistan (SBP BPRD Circular 03 of 2018; no PVARA-licensed "
    "off-ramp in the data), priced at the inter-bank rate; non-PRI, so no TT rebate."
)


def source_iso3(corridor: str) -> str:
    return corridor.split("->")[0]


def onramp_for(data: Datasets, corridor: str) -> OnrampRow | None:
    for row in data.onramps:
        if row.source_iso3 == source_iso3(corridor):
            return row
    return None


def route_channels(data: Datasets, corridor: str, chains: tuple[str, ...] = ROUTE_CHAINS) -> list[Channel]:
    """The routes the data supports for ``corridor``: none without a documented licensed on-ramp."""
    row = onramp_for(data, corridor)
    if row is None or not row.is_licensed:
        return []
    return [
        Channel(
            f"stablecoin:{chain}:bank",
            f"USD stablecoin on {chain} via {row.venue} (bank transfer in, P2P sale out)",
            FAMILY_STABLECOIN,
            chain=chain,
            onramp="bank",
        )
        for chain in chains
    ]


class StablecoinPricer(Pricer):
    def __init__(self, data: Datasets, corridor: str, channel: Channel, assume: Assumptions) -> None:
        assert channel.chain is not None
        ramp_row = onramp_for(data, corridor)
        if ramp_row is None or not ramp_row.is_licensed:
            raise KeyError(f"channel {channel.key!r} is not available for {corridor}: no licensed on-ramp")
        chain = chain_row(data, channel.chain)
        level = assume.onramp_level
        self.deposit_pct = _range(ramp_row.deposit_fee_pct_low, ramp_row.deposit_fee_pct_high, level)
        self.conversion_pct = _range(ramp_row.conversion_fee_pct_low, ramp_row.conversion_fee_pct_high, level)
        self.fx_spread_pct = _range(ramp_row.fx_spread_pct_low, ramp_row.fx_spread_pct_high, level)
        inputs = [
            onramp_ref(ramp_row, "licence", ramp_row.licence),
            onramp_ref(
                ramp_row,
                f"deposit, conversion and FX spread ({level})",
                f"{self.deposit_pct}% + {self.conversion_pct}% + {self.fx_spread_pct}%",
            ),
        ]
        withdrawal, withdrawal_ref, withdrawal_note = _withdrawal(data, chain, ramp_row, assume.withdrawal_fee_level)
        self.withdrawal_fee = withdrawal
        self.premium_pct = assume.p2p_premium_pct
        platform = ramp(data, "P2P platform fee")
        self.offramp_fee_pct = ramp_value(platform, "low")
        raast = raast_row(data)
        self.receiving_pct = raast.fee_pct or Decimal(0)
        inputs += [withdrawal_ref, ramp_ref(platform, self.offramp_fee_pct), corridor_ref(raast, "RAAST P2P fee")]
        if self.premium_pct:
            premium_row = ramp(data, "P2P USDT/PKR premium over SBP interbank")
            inputs.append(ramp_ref(premium_row, self.premium_pct))
        time_range, time_refs = route_time(data, ramp_row, chain)
        notes = [
            f"On-ramp: {ramp_row.venue}, {ramp_row.funding_method}; {ramp_row.notes}",
            "The exchange pays the chain's network fee out of its flat withdrawal fee.",
            OFFRAMP_NOTE,
        ] + withdrawal_note
        super().__init__(
            corridor,
            channel,
            ramp_row.fee_date if ramp_row.fee_date != "n/a" else chain.date,
            inputs + time_refs,
            notes,
            time_range,
            "funding the exchange + withdrawal processing + confirmations to finality + P2P sale + RAAST 20 s",
            False,
        )

    def raw(self, amount: Decimal) -> tuple[dict[str, Decimal], Decimal]:
        raw = zero_components()
        raw["sending_fee"] = self.deposit_pct * amount / HUNDRED
        raw["fx_margin"] = self.fx_spread_pct * amount / HUNDRED
        raw["onramp"] = self.conversion_pct * amount / HUNDRED
        raw["withdrawal_fee"] = self.withdrawal_fee
        premium = -self.premium_pct * amount / HUNDRED
        raw["offramp"] = self.offramp_fee_pct * amount / HUNDRED + premium
        raw["receiving_fee"] = self.receiving_pct * amount / HUNDRED
        return raw, premium


def _range(low: Decimal | None, high: Decimal | None, level: str) -> Decimal:
    assert low is not None and high is not None  # checked when onramps.csv is read (licensed rows)
    return level_of(low, high, level)


def _withdrawal(
    data: Datasets, chain: ChainRow, ramp_row: OnrampRow, level: str
) -> tuple[Decimal, InputRef, list[str]]:
    venue, chain_proxy = WITHDRAWAL_VENUE[chain.chain]
    row = ramp(data, "CEX withdrawal fee USDT", venue)
    fee = ramp_value(row, level)
    ref = ramp_ref(row, fee)
    notes = []
    if chain_proxy:
        notes.append(f"No withdrawal-fee row for {chain.chain}: the {venue} fee stands in (PROXY).")
    if WITHDRAWAL_FEE_VENUE not in ramp_row.venue:
        notes.append(f"{ramp_row.venue}'s own withdrawal schedule is not in the data: Binance's stands in (PROXY).")
    if notes:
        ref = msgspec.structs.replace(ref, item=f"{ref.item} for {chain.chain} at {ramp_row.venue}", status=f"PROXY; {ref.status}")
    return fee, ref, notes


def route_time(data: Datasets, ramp_row: OnrampRow, chain: ChainRow) -> tuple[tuple[Decimal, Decimal], list[InputRef]]:
    """Time to funds over every step, as (fastest, slowest) seconds, and what it rests on."""
    withdraw_low, withdraw_ref = param_value(data, "exchange_withdrawal_seconds", "low")
    withdraw_high, _ = param_value(data, "exchange_withdrawal_seconds", "high")
    p2p_low, p2p_ref = param_value(data, "p2p_trade_seconds", "low")
    p2p_high, _ = param_value(data, "p2p_trade_seconds", "high")
    raast_s, raast_ref = param_value(data, "raast_credit_seconds")
    assert ramp_row.funding_seconds_low is not None and ramp_row.funding_seconds_high is not None
    low = ramp_row.funding_seconds_low + withdraw_low + chain.soft_confirmation_seconds + p2p_low + raast_s
    high = ramp_row.funding_seconds_high + withdraw_high + chain.finality_seconds + p2p_high + raast_s
    refs = [
        onramp_ref(ramp_row, "funding time", f"{ramp_row.funding_seconds_low}-{ramp_row.funding_seconds_high} s"),
        withdraw_ref,
        chain_ref(data, chain, "confirmation to finality", f"{chain.soft_confirmation_seconds}-{chain.finality_seconds} s"),
        p2p_ref,
        raast_ref,
    ]
    return (low, high), refs
