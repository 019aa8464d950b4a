"""What each edge worker counts, and how the core exposes every edge's figures on its own GET /metrics.

An edge (rail/cluster/edge.py) counts its own work in its own registry: requests by route and status, the RAAST
decode/profile refusals by reason code and the messages it accepted (its RailService half's counters), its
decode+validate latency, the hand-off latency to the core and the hand-offs in flight. Every
EDGE_METRICS_PUSH_S it publishes a snapshot of them to the core over NATS (`rail.NAME.edge.metrics`); the
core keeps the latest snapshot of each edge and adds them to its exposition with an `edge` label. A scrape
through any edge is relayed to the core, so one scrape shows every edge. An edge that stopped pushing drops out
after EDGE_METRICS_STALE_S, as a vanished target's series do.

Names follow Prometheus conventions: `rail_edge_` prefix, base units (seconds), `_total` for counters:

    rail_edge_requests_total{edge, route, status}
    rail_edge_messages_received_total{edge, msg_type, rendering}
    rail_edge_messages_rejected_total{edge, code}          decode (admi.002) and profile (pacs.002 RJCT) refusals
    rail_edge_stage_latency_seconds{edge, stage}           stage="edge_decode_validate"
    rail_edge_handoff_latency_seconds{edge}                submit handed to the core -> its answer back
    rail_edge_handoffs_in_flight{edge}                     submits waiting for the core's answer
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable

import msgspec
from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import Metric

from rail.api.metrics import LATENCY_BUCKETS_S, Tally

#: An edge publishes its figures this often.
EDGE_METRICS_PUSH_S = 1.0
#: An edge whose last snapshot is older than this is left out of the core's exposition.
EDGE_METRICS_STALE_S = 10.0
#: Edges whose snapshots the core keeps; beyond it a new edge's snapshot is dropped (and logged by the caller).
EDGE_METRICS_EDGES_MAX = 256
#: Samples one snapshot may carry (a bound on what an edge can make the core hold).
EDGE_METRICS_SAMPLES_MAX = 20_000
#: Families of the edge's RailService half (RailService.for_edge) that describe edge work, exported renamed.
_SERVICE_FAMILIES = ("rail_messages_received", "rail_messages_rejected", "rail_stage_latency_seconds")
#: Of the stage latencies, only the edge's own stage (the others are the core's, empty at an edge).
_EDGE_STAGE = "edge_decode_validate"
_PREFIX, _EDGE_PREFIX = "rail_", "rail_edge_"
_KINDS = frozenset({"counter", "gauge", "histogram"})
_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class Sample(msgspec.Struct, array_like=True):
    name: str
    labels: dict[str, str]
    value: float


class Family(msgspec.Struct, array_like=True):
    name: str
    kind: str  # Prometheus type: counter, gauge, histogram
    documentation: str
    samples: list[Sample]


class EdgeSnapshot(msgspec.Struct, array_like=True):
    """One edge's figures at one moment (cumulative: a lost push costs nothing)."""

    edge: str
    families: list[Family]


class EdgeMetrics:
    """The counters of one edge process. Single-threaded use (the edge's event loop)."""

    def __init__(self, edge: str, in_flight: Callable[[], int]) -> None:
        self.edge = edge
        self.registry = registry = CollectorRegistry()
        self.requests = Tally(
            "rail_edge_requests_total", "HTTP requests an edge answered, by route and status",
            ("route", "status"), registry,
        )  # fmt: skip
        self.handoff_latency = Histogram(
            "rail_edge_handoff_latency_seconds",
            "Latency of a submit handed to the settlement core, until its answer is back at the edge",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.handoffs_in_flight = Gauge(
            "rail_edge_handoffs_in_flight",
            "Submits handed to the core and not yet answered",
            registry=registry,
        )
        self.handoffs_in_flight.set_function(in_flight)

    def snapshot(self, service_registry: CollectorRegistry | None) -> EdgeSnapshot:
        families = _families(self.registry.collect())
        if service_registry is not None:
            wanted = [m for m in service_registry.collect() if m.name in _SERVICE_FAMILIES]
            for family in _families(wanted):
                family.samples = [
                    s for s in family.samples if s.labels.get("stage", _EDGE_STAGE) == _EDGE_STAGE
                ]
                if family.samples:
                    families.append(_renamed(family))
        return EdgeSnapshot(self.edge, families)


def _families(metrics: Iterable[Metric]) -> list[Family]:
    out = []
    for metric in metrics:
        samples = [
            Sample(s.name, dict(s.labels), float(s.value))
            for s in metric.samples
            if not s.name.endswith("_created")
        ]
        out.append(Family(metric.name, metric.type, metric.documentation, samples))
    return out


def _renamed(family: Family) -> Family:
    def edge_name(name: str) -> str:
        return _EDGE_PREFIX + name[len(_PREFIX) :] if name.startswith(_PREFIX) else name

    samples = [Sample(edge_name(s.name), s.labels, s.value) for s in family.samples]
    return Family(edge_name(family.name), family.kind, f"{family.documentation} (at the edge)", samples)


class EdgeMetricsCollector:
    """Core side: the latest snapshot of every edge, exposed with an `edge` label (a prometheus-client custom
    collector registered in the core's RailMetrics registry)."""

    def __init__(self) -> None:
        self._snapshots: dict[str, tuple[float, EdgeSnapshot]] = {}

    def record(self, snapshot: EdgeSnapshot) -> bool:
        """Keep an edge's snapshot; False when it is refused (too many edges or samples)."""
        self._drop_stale()
        if snapshot.edge not in self._snapshots and len(self._snapshots) >= EDGE_METRICS_EDGES_MAX:
            return False
        if sum(len(f.samples) for f in snapshot.families) > EDGE_METRICS_SAMPLES_MAX:
            return False
        self._snapshots[snapshot.edge] = (time.monotonic(), snapshot)
        return True

    @property
    def edges(self) -> list[str]:
        self._drop_stale()
        return sorted(self._snapshots)

    def _drop_stale(self) -> None:
        oldest = time.monotonic() - EDGE_METRICS_STALE_S
        for edge in [e for e, (at, _) in self._snapshots.items() if at < oldest]:
            del self._snapshots[edge]

    def collect(self):
        self._drop_stale()
        merged: dict[str, Metric] = {}
        for edge, (_at, snapshot) in sorted(self._snapshots.items()):
            for family in snapshot.families:
                if not family.name.startswith(_EDGE_PREFIX):
                    continue  # only the edge's own families: an edge cannot shadow the core's series
                if family.kind not in _KINDS or not _NAME.fullmatch(family.name):
                    continue
                metric = merged.get(family.name)
                if metric is None:
                    metric = merged[family.name] = Metric(family.name, family.documentation, family.kind)
                elif metric.type != family.kind:
                    continue  # an edge of another version disagreeing on a type: keep the first
                for sample in family.samples:
                    if not sample.name.startswith(family.name) or not all(
                        map(_NAME.fullmatch, sample.labels)
                    ):
                        continue
                    labels = {"edge": edge, **{k: v for k, v in sample.labels.items() if k != "edge"}}
                    metric.add_sample(sample.name, labels, sample.value)
        yield from merged.values()

    def describe(self):
        return []  # collected on each scrape only (the families depend on what the edges sent)


_SNAPSHOT_DECODER = msgspec.msgpack.Decoder(EdgeSnapshot)
_SNAPSHOT_ENCODER = msgspec.msgpack.Encoder()


def encode_snapshot(snapshot: EdgeSnapshot) -> bytes:
    return _SNAPSHOT_ENCODER.encode(snapshot)


def decode_snapshot(data: bytes) -> EdgeSnapshot:
    return _SNAPSHOT_DECODER.decode(data)
