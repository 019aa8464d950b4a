"""Prometheus metrics of one rail instance (its own registry, so several rails can run in one process).

What an operator of an instant-payment system watches: payments by final status and reason, latency per stage
(edge parse/validate, core batch, journal commit, acceptance -> final status), ledger batch sizes and the depth
of every queue that could grow (core queue, inboxes).
"""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Latency buckets in seconds: instant payments live between 100 µs (in-process core) and the 20 s hard stop.
_LATENCY_BUCKETS_S = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
)
LATENCY_BUCKETS_S = _LATENCY_BUCKETS_S  # the edge workers' histograms use the same (rail/cluster/edge_metrics.py)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Per-message latency histograms observe one message in this many: prometheus-client's observe() costs
# ~5 µs, a noticeable share of a ~150 µs payment, and a 1-in-8 sample keeps the distribution's shape.
LATENCY_SAMPLE_EVERY = 8


class Tally:
    """A labelled Prometheus counter for the per-message hot path: a plain dict increment per event, turned into
    a counter family only when /metrics is scraped. prometheus-client's Counter takes a lock and a few calls per
    inc(), which the rail would pay several times per payment. Single-threaded use (the event loop) only."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...], registry) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.counts: dict[tuple[str, ...], int] = {}
        registry.register(self)

    def inc(self, labels: tuple[str, ...], amount: int = 1) -> None:
        counts = self.counts
        counts[labels] = counts.get(labels, 0) + amount

    def value(self, labels: tuple[str, ...]) -> int:
        return self.counts.get(labels, 0)

    def collect(self):
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for labels, count in list(self.counts.items()):
            family.add_metric(labels, count)
        yield family

    def describe(self):
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)


class Spread:
    """A labelled Prometheus histogram for the hot path (the core reports every batch): an observation is a bisect
    and two additions on plain values, turned into a histogram family only when scraped. prometheus-client's
    observe() takes two locks and walks the buckets in Python (~5 µs), which the core would pay three times per
    batch. Single-threaded use (the event loop) only."""

    def __init__(
        self, name: str, documentation: str, labelnames: tuple[str, ...], buckets: tuple[float, ...], registry
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.bounds = tuple(float(bound) for bound in buckets)
        self.children: dict[tuple[str, ...], SpreadChild] = {}
        registry.register(self)

    def labels(self, *values: str) -> SpreadChild:
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = SpreadChild(self.bounds)
        return child

    def collect(self):
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        names = [*map(floatToGoString, self.bounds), "+Inf"]
        for values, child in list(self.children.items()):
            cumulative, buckets = 0, []
            for name, count in zip(names, child.counts):
                cumulative += count
                buckets.append((name, cumulative))
            family.add_metric(list(values), buckets, child.sum)
        yield family

    def describe(self):
        yield HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)


class SpreadChild:
    """One label set of a Spread: counts per bucket (the last: above every bound) and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bucket whose bound is >= value (`le`)
        self.sum += value


class DecodePoolFigures:
    """The decode pool's figures (rail/iso20022/decode_pool.py), read from it when /metrics is scraped."""

    def __init__(self, pool) -> None:
        self.pool = pool

    def collect(self):
        pool = self.pool
        ready = GaugeMetricFamily(
            "rail_decode_workers_ready", "Decode worker processes ready to take bodies (rail serve --decode-workers)"
        )
        ready.add_metric([], pool.ready_workers)
        restarts = CounterMetricFamily("rail_decode_worker_restarts", "Decode workers that ended and were restarted")
        restarts.add_metric([], pool.restarts)
        bodies = CounterMetricFamily(
            "rail_decode_bodies",
            "Submitted bodies by where they were decoded: by a worker, or in the rail's process (no worker ready, "
            "the bytes-in-flight bound reached, or a worker died holding them)",
            labels=["where"],
        )
        bodies.add_metric(["worker"], pool.taken - pool.handed_back)
        bodies.add_metric(["in_process"], pool.declined + pool.handed_back)
        yield from (ready, restarts, bodies)


class RailMetrics:
    def __init__(self) -> None:
        # long: one declaration per metric (name, help, labels), read as the list of what the rail exposes.
        self.registry = registry = CollectorRegistry()
        self.messages_received = Tally(
            "rail_messages_received_total",
            "ISO 20022 messages received, by type and rendering",
            ("msg_type", "rendering"),
            registry,
        )
        self.requests = Tally(
            "rail_requests_total",
            "Requests the API layer answered (any transport), by route template and HTTP status",
            ("route", "status"),
            registry,
        )
        self.messages_rejected = Counter(
            "rail_messages_rejected_total",
            "Messages refused at the edge (admi.002 or rule failure), by code",
            ["code"],
            registry=registry,
        )
        self.payments_final = Tally(
            "rail_payments_final_total",
            "Payments reaching a final status, by status and reason",
            ("status", "reason"),
            registry,
        )
        self.stage_latency = Spread(
            "rail_stage_latency_seconds", "Latency per stage", ("stage",), _LATENCY_BUCKETS_S, registry
        )
        self.batch_commands = Spread(
            "rail_core_batch_commands",
            "Commands applied per core batch (one journal append each)",
            (),
            _BATCH_BUCKETS,
            registry,
        ).labels()
        self.ledger_transfers = Tally(
            "rail_ledger_transfers_total", "Ledger transfer events submitted (applied or refused)", (), registry
        )
        self.ledger_transfers.inc((), 0)  # shown from the start, as a plain counter is
        self.core_queue_depth = Gauge(
            "rail_core_queue_depth", "Commands waiting for the core", registry=registry
        )
        self.payments_retained = Gauge(
            "rail_payments_retained",
            "Payments remembered (in flight, or final within the retention window), by form",
            ["form"],
            registry=registry,
        )
        self.payments_forgotten = Gauge(
            "rail_payments_forgotten",
            "Payments that left the retention window since this start",
            registry=registry,
        )
        self.inbox_depth = Gauge(
            "rail_inbox_depth",
            "Unacknowledged messages per participant inbox",
            ["bic"],
            registry=registry,
        )
        self.traces = Gauge(
            "rail_trace_entries",
            "Message-trace entries since this start, written to DATA/traces or dropped (buffer full, disk error)",
            ["outcome"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "rail_rate_limited_total",
            "Requests refused with 429, by limit",
            ["limit"],
            registry=registry,
        )
        # Pre-bound children: .labels() costs a dict lookup and a lock per call; the hot path avoids it.
        self.latency_edge = self.stage_latency.labels("edge_decode_validate")
        self.latency_batch = self.stage_latency.labels("core_batch_apply")
        self.latency_journal = self.stage_latency.labels("journal_commit")
        self.latency_settlement = self.stage_latency.labels("acceptance_to_final")
        self._edge_samples = 0
        self._settlement_samples = 0

    def batch_durable(
        self, commands: int, transfers: int, apply_s: float, journal_s: float, queue_depth: int
    ) -> None:
        """The settlement core's report of one durable batch (rail/settlement/core.py's CoreMetrics)."""
        self.batch_commands.observe(commands)
        self.ledger_transfers.inc((), transfers)
        self.latency_batch.observe(apply_s)
        self.latency_journal.observe(journal_s)
        self.core_queue_depth.set(queue_depth)

    def payment_final(self, status: str, reason: str, accepted_to_final_s: float | None) -> None:
        """The settlement core's report of a durable final status (CoreMetrics)."""
        self.payments_final.inc((status, reason))
        if accepted_to_final_s is not None:
            self.observe_settlement(accepted_to_final_s)

    def observe_edge(self, seconds: float) -> None:
        self._edge_samples += 1
        if self._edge_samples % LATENCY_SAMPLE_EVERY == 0:
            self.latency_edge.observe(seconds)

    def observe_settlement(self, seconds: float) -> None:
        self._settlement_samples += 1
        if self._settlement_samples % LATENCY_SAMPLE_EVERY == 0:
            self.latency_settlement.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
