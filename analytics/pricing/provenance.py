"""Where a figure comes from: every value the model uses carries its file, row, status, source and date.

A result's confidence is its weakest input's: a cost resting on one UNVERIFIED fee is flagged UNVERIFIED
wherever it is shown. Rounding lives here too, because provenance and presentation meet here: money is
rounded once to ``USD_QUANTUM``, percentages to ``PCT_QUANTUM``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec

from analytics.datasets import (
    CHAINS_ADDED_CSV,
    CHAINS_CSV,
    CORRIDORS_CSV,
    ONRAMPS_CSV,
    PARAMETERS_CSV,
    RAMPS_CSV,
    ChainRow,
    CorridorRow,
    DataError,
    Datasets,
    OnrampRow,
    ParameterRow,
    RampRow,
)

ATTRIBUTION = (
    "RPW data: The World Bank: Remittance Prices Worldwide (CC BY 4.0, "
    "https://datacatalog.worldbank.org/search/dataset/0037898/remittance-prices-worldwide), via "
    "viji-saravanan/remittance-watch (Q3 2025 per-quote export) and jonsmirl/thesis (2016-2025 Q1 means). "
    "Flows: State Bank of Pakistan as reported in the press. Chain, ramp and licensing facts: protocol docs, "
    "vendor pages and third-party reports, cited per row (analytics/data/LICENSE-DATA.md)."
)

USD_QUANTUM = Decimal("0.0001")
PCT_QUANTUM = Decimal("0.001")
HUNDRED = Decimal(100)

# Status words, most specific doubt first: the first that appears in a status cell names it (a PROXY or
# PLACEHOLDER row is also UNVERIFIED, but saying which kind of doubt is more useful to a reader).
_STATUS_WORDS = (
    ("PROXY", "low"),
    ("PLACEHOLDER", "low"),
    ("ASSUMPTION", "low"),
    ("UNVERIFIED", "low"),
    ("NOT IN DATA", "low"),
    ("THIRD-PARTY", "medium"),
    ("PARTLY VERIFIED", "medium"),
    ("DERIVED", "medium"),
    ("SECONDARY", "medium"),
    ("RECOMPUTED", "high"),
    ("VERIFIED", "high"),
)
CONFIDENCE_RANK = {"low": 0, "medium": 1, "high": 2}


def status_label(status: str) -> tuple[str, str]:
    """(short label, confidence) for a data status cell, e.g. ('UNVERIFIED', 'low')."""
    upper = status.upper()
    for word, confidence in _STATUS_WORDS:
        if word in upper:
            return word, confidence
    return "UNRATED", "low"


def status_flags(statuses: Iterable[str]) -> tuple[str, ...]:
    """The flag labels (below high confidence) of a set of status cells, most doubtful first."""
    labels = {status_label(st) for st in statuses}
    doubtful = [(conf, label) for label, conf in labels if conf != "high"]
    return tuple(label for _, label in sorted(doubtful, key=lambda cl: (cl[0] != "low", cl[1])))


class InputRef(msgspec.Struct, frozen=True):
    """One data value a result used, with its provenance."""

    file: str
    item: str
    value: str
    status: str
    source: str
    date: str

    @property
    def label(self) -> str:
        return status_label(self.status)[0]

    @property
    def confidence(self) -> str:
        return status_label(self.status)[1]


def worst_confidence(inputs: Iterable[InputRef]) -> str:
    ranks = [CONFIDENCE_RANK[ref.confidence] for ref in inputs]
    if not ranks:
        return "high"
    return {v: k for k, v in CONFIDENCE_RANK.items()}[min(ranks)]


def flags_of(inputs: Iterable[InputRef]) -> tuple[str, ...]:
    """Status labels of the inputs below high confidence, most doubtful first, deduplicated."""
    seen: dict[str, str] = {}
    for ref in inputs:
        if ref.confidence != "high":
            seen.setdefault(ref.label, ref.confidence)
    return tuple(sorted(seen, key=lambda label: (CONFIDENCE_RANK[seen[label]], label)))


def usd(value: Decimal) -> Decimal:
    return value.quantize(USD_QUANTUM, rounding=ROUND_HALF_EVEN)


def pct(value: Decimal) -> Decimal:
    return value.quantize(PCT_QUANTUM, rounding=ROUND_HALF_EVEN)


def median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


_DATE_TOKEN = re.compile(r"(?<!\d)(20\d\d)(?:[-_](\d\d|[1-4]Q))?(?:-(\d\d))?")


def date_span(values: Iterable[object]) -> str:
    """'2025-08-29 to 2026-03-12' from the date cells of the rows a figure used (their own words)."""
    tokens = sorted({m.group(0) for v in values for m in _DATE_TOKEN.finditer(str(v))})
    if not tokens:
        return "undated"
    return tokens[0] if tokens[0] == tokens[-1] else f"{tokens[0]} to {tokens[-1]}"


def sources_of(inputs: Iterable[InputRef]) -> str:
    """Every file a set of inputs came from, with the dates of the rows behind it."""
    dates: dict[str, set[str]] = {}
    for ref in inputs:
        dates.setdefault(ref.file, set()).add(ref.date)
    return "; ".join(f"{name} ({date_span(d)})" for name, d in sorted(dates.items()))


# ---------------------------------------------------------------------------------------------------
# Lookups that return a value with its reference: the model never reads a number without its source.


def param_ref(row: ParameterRow) -> InputRef:
    return InputRef(PARAMETERS_CSV, row.name, f"{row.value} {row.unit}", row.status, row.source, row.date)


def param_value(data: Datasets, name: str, level: str = "typical") -> tuple[Decimal, InputRef]:
    row = data.parameter(name)
    value = {"low": row.value_low, "high": row.value_high}.get(level, row.value)
    return value, param_ref(row)


def corridor_ref(row: CorridorRow, item: str) -> InputRef:
    return InputRef(
        CORRIDORS_CSV,
        f"{row.corridor} {row.firm_class} ${row.send_amount_usd} {row.period}: {item}",
        f"fee {row.fee_pct}% + FX {row.fx_margin_pct}% = {row.total_cost_pct}%",
        row.status,
        row.source,
        row.period,
    )


def ramp(data: Datasets, component: str, venue: str | None = None) -> RampRow:
    for row in data.ramps:
        if row.component == component and (venue is None or row.venue_or_type == venue):
            return row
    raise DataError(f"{RAMPS_CSV}: no row for component {component!r} venue {venue!r}")


def ramp_value(row: RampRow, level: str) -> Decimal:
    if row.value_low is None or row.value_high is None:
        raise DataError(f"{RAMPS_CSV}: {row.component} ({row.venue_or_type}) has no value range")
    return level_of(row.value_low, row.value_high, level)


def level_of(low: Decimal, high: Decimal, level: str) -> Decimal:
    """The low or high end of a range, or its midpoint for 'typical'."""
    if level == "low":
        return low
    if level == "high":
        return high
    return (low + high) / 2


def ramp_ref(row: RampRow, value: Decimal) -> InputRef:
    return InputRef(
        RAMPS_CSV, f"{row.component} ({row.venue_or_type})", f"{value} {row.unit}", row.status, row.source, row.date
    )


def chain_row(data: Datasets, chain: str) -> ChainRow:
    for row in data.chains:
        if row.chain == chain:
            return row
    raise DataError(f"{CHAINS_CSV}: no row for chain {chain!r}")


def chain_ref(data: Datasets, row: ChainRow, item: str, value: str) -> InputRef:
    file = CHAINS_ADDED_CSV if row.chain in data.added_chains else CHAINS_CSV
    return InputRef(file, f"{row.chain}: {item}", value, row.status, row.source, row.date)


def onramp_ref(row: OnrampRow, item: str, value: str) -> InputRef:
    status = row.licence_status if item == "licence" else row.fee_status
    source = row.licence_source if item == "licence" else row.fee_source
    date = row.licence_date if item == "licence" else row.fee_date
    return InputRef(ONRAMPS_CSV, f"{row.source_iso3} {row.venue or 'no venue'}: {item}", value, status, source, date)


def raast_row(data: Datasets) -> CorridorRow:
    for row in data.corridors:
        if row.firm_class == "IPS":
            return row
    raise DataError(f"{CORRIDORS_CSV}: no RAAST (firm_class IPS) row")


def pri_row(data: Datasets) -> CorridorRow:
    for row in data.corridors:
        if row.firm_class == "policy":
            return row
    raise DataError(f"{CORRIDORS_CSV}: no PRI policy (firm_class policy) row")


def pkr_per_usd(data: Datasets) -> tuple[Decimal, InputRef]:
    row = data.parameter("pkr_per_usd")
    return row.value, param_ref(row)
