"""The scenario's scripted events: slow creditors (a creditor policy), outages and scheduled top-ups (timed).

Each runs in simulated time through the same interfaces a real bank or operator uses: a slow creditor is the
one simulated bank with a slower answer (participants/creditor.py's CreditorPolicy seam), an outage stops the
bank (its inbox unread, its answers unsent) and holds its customers' payments, a top-up is the operator's
liquidity call (POST /admin/liquidity through the in-process transport, a journaled command).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable

import msgspec

from participants.creditor import CreditorPolicy, CreditorVerdict, Decision, RecallVerdict
from rail.sim.scenario import SimScenario, TopUp, seconds_of_day

PAISA_PER_RUPEE = 100
SLOW_ANSWER_S_MAX = 60.0  # a slow creditor still answers within a minute (after the rail's 20 s hard stop)


class SlowWindow(msgspec.Struct, frozen=True):
    start_s: float
    end_s: float
    mu: float  # of the log-normal delay, in ms
    sigma: float


class ScriptedCreditor:
    """`inner` (the load model), answering after a slow delay inside the bank's slow windows."""

    def __init__(self, inner: CreditorPolicy, windows: list[SlowWindow], rng: random.Random) -> None:
        self.inner = inner
        self.windows = windows
        self.rng = rng

    def payment(self, creditor_iban: str, now_s: float) -> CreditorVerdict:
        verdict = self.inner.payment(creditor_iban, now_s)
        if verdict.decision is Decision.SILENT:
            return verdict
        for window in self.windows:
            if window.start_s <= now_s < window.end_s:
                delay_ms = self.rng.lognormvariate(window.mu, window.sigma)
                return msgspec.structs.replace(verdict, delay_s=min(delay_ms / 1000.0, SLOW_ANSWER_S_MAX))
        return verdict

    def recall(self, creditor_iban: str) -> RecallVerdict:
        return self.inner.recall(creditor_iban)

    def request_to_pay(self, payer_iban: str) -> str | None:
        return self.inner.request_to_pay(payer_iban)


def slow_windows(scenario: SimScenario, bic: str) -> list[SlowWindow]:
    return [
        SlowWindow(seconds_of_day(w.start), seconds_of_day(w.end), math.log(max(w.latency_ms_median, 0.001)),
                   w.latency_sigma)
        for w in scenario.sim.slow_creditors
        if w.bic == bic
    ]


def top_up_amounts(top_up: TopUp, prefunding: dict[str, int]) -> list[tuple[str, int]]:
    """(bic, paisa) for each bank a scheduled top-up credits."""
    bics = list(prefunding) if top_up.bic == "*" else [top_up.bic]
    out = []
    for bic in bics:
        if top_up.amount_pkr is not None:
            amount = top_up.amount_pkr * PAISA_PER_RUPEE
        else:
            amount = int(prefunding[bic] * (top_up.share_of_prefund or 0.0))
        if amount > 0:
            out.append((bic, amount))
    return out


async def sleep_until(now_s: Callable[[], float], at_s: float) -> None:
    """Sleep (in the loop's time, simulated or real) until `now_s()` reaches `at_s`."""
    delay = at_s - now_s()
    if delay > 0:
        await asyncio.sleep(delay)
