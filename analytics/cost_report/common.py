"""Small helpers every cost-report section shares."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from analytics.htmlkit import Column, charts

MILLION = Decimal(1_000_000)
BILLION = Decimal(1_000_000_000)
TARGET_LINES = [(3.0, "3% SDG average"), (5.0, "5% corridor cap")]

FORMAL_COLOUR = charts.FAMILY_COLOURS["rpw"]
FORMAL_TYPICAL_COLOUR = "#56B4E9"
ROUTE_COLOUR = charts.FAMILY_COLOURS["stablecoin"]
ROUTE_TYPICAL_COLOUR = "#CC79A7"


def columns(*pairs: tuple[str, str]) -> list[Column]:
    return [Column(key, label) for key, label in pairs]


def money_m(value: Decimal | None) -> Decimal | None:
    """USD -> USD millions, to the cent of a million."""
    return None if value is None else (value / MILLION).quantize(Decimal("0.01"))


def bn(value: Decimal) -> Decimal:
    return (value / BILLION).quantize(Decimal("0.001"))


def two(value: Decimal) -> Decimal:
    """A percentage as a reader compares it: two decimals."""
    return value.quantize(Decimal("0.01"))


def pct_range(values: Iterable[Decimal], unit: str = "%") -> str:
    ordered = sorted(two(v) for v in values)
    if not ordered:
        return "n/a"
    return f"{ordered[0]}{unit}" if ordered[0] == ordered[-1] else f"{ordered[0]} to {ordered[-1]}{unit}"


def seconds_text(seconds: Decimal | None) -> str:
    return "" if seconds is None else charts.fmt_duration(float(seconds))


def short_corridor(corridor: str) -> str:
    return corridor.removesuffix("->PAK")
