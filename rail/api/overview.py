"""`GET /admin/overview`: the rail live, for the workbench page, from its own metrics and books, not a second
bookkeeping: throughput and accepted-to-final latency over the last seconds (from the Prometheus counters and
histogram the rail keeps anyway, sampled once a second), the core's queue, payments in flight, and every
participant's settlement account.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from rail.api.background import stop_task
from rail.api.metrics import RailMetrics
from rail.api.payment_list import iso_time
from rail.settlement.core import SettlementCore
from rail.settlement.payments import IN_FLIGHT, Settlement

SAMPLE_EVERY_S = 1.0
WINDOWS_S = (10, 60)
LATENCY_WINDOW_S = 60
LATENCY_STAGE = "acceptance_to_final"


class _Sample:
    __slots__ = ("at_s", "buckets", "finals")

    def __init__(self, at_s: float, finals: int, buckets: list[tuple[float, float]]) -> None:
        self.at_s = at_s
        self.finals = finals
        self.buckets = buckets  # (upper bound, cumulative count) of the accepted-to-final histogram


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile of a cumulative histogram, interpolated within its bucket (as Prometheus'
    histogram_quantile does); None without observations."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            width = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / width if width else 1.0)
        lower_bound, lower_count = bound, count
    return lower_bound


class Overview:
    """Samples the rail's metrics once a second (a deque of the last minute) and answers the overview."""

    def __init__(self, core: SettlementCore, metrics: RailMetrics) -> None:
        self.core = core
        self.metrics = metrics
        self._samples: deque[_Sample] = deque(maxlen=int(max(WINDOWS_S) / SAMPLE_EVERY_S) + 2)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._samples.append(self._sample())
        self._task = asyncio.create_task(self._run(), name="overview-sampler")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_EVERY_S)
            self._samples.append(self._sample())

    def _sample(self) -> _Sample:
        finals = sum(self.metrics.payments_final.counts.values())
        buckets = []
        for family in self.metrics.stage_latency.collect():
            for sample in family.samples:
                if sample.name.endswith("_bucket") and sample.labels.get("stage") == LATENCY_STAGE:
                    buckets.append((float(sample.labels["le"]), sample.value))
        return _Sample(time.monotonic(), finals, sorted(buckets))

    def _since(self, now: _Sample, window_s: float) -> _Sample:
        """The oldest sample within `window_s` of `now` (or the oldest there is, early after a start)."""
        for sample in self._samples:
            if now.at_s - sample.at_s <= window_s + SAMPLE_EVERY_S / 2:
                return sample
        return now

    async def view(self) -> dict:
        now = self._sample()
        rates = {}
        for window_s in WINDOWS_S:
            then = self._since(now, window_s)
            elapsed = now.at_s - then.at_s
            rates[f"{window_s}s"] = round((now.finals - then.finals) / elapsed, 1) if elapsed > 0 else 0.0
        then = self._since(now, LATENCY_WINDOW_S)
        window = [(bound, count - dict(then.buckets).get(bound, 0.0)) for bound, count in now.buckets]
        p50, p99 = quantile(0.5, window), quantile(0.99, window)
        health = self.core.health()

        def read(s: Settlement) -> tuple[int, list[dict]]:
            in_flight = sum(1 for p in s.payments.live_payments() if p.status == IN_FLIGHT)
            accounts = s.balances()["accounts"]
            rows = [
                {"bic": bic, "posted_paisa": a["posted_paisa"], "reserved_paisa": a["pending_debits_paisa"],
                 "available_paisa": a["available_paisa"], "inbox_depth": len(s.inboxes[bic])}
                for bic, a in sorted(accounts.items()) if bic != s.scheme.central_bank_bic
            ]  # fmt: skip
            return in_flight, rows

        in_flight, participants = await self.core.query(read)
        return {
            "at": iso_time(time.time_ns()),
            "serving": health.serving,
            "payments_per_s": rates,
            "latency_ms": {
                "p50": None if p50 is None else round(p50 * 1000, 3),
                "p99": None if p99 is None else round(p99 * 1000, 3),
                "window_s": LATENCY_WINDOW_S,
                "samples": int(window[-1][1]) if window else 0,
            },
            "queue_depth": health.queue_depth,
            "in_flight": in_flight,
            "journal_seq": health.journal_seq,
            "finals": _finals_by_status(self.metrics),
            "participants": participants,
        }


def _finals_by_status(metrics: RailMetrics) -> dict[str, int]:
    out: dict[str, int] = {}
    for (status, _reason), count in list(metrics.payments_final.counts.items()):
        out[str(status)] = out.get(str(status), 0) + count
    return out
