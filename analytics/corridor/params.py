"""The corridor lab's inputs, each with its provenance: route parameters (corridor_lab.csv), business calendars
(business_calendars.csv) and the cost model's own data (RPW quotes, chains, ramps, on-ramps, parameters).

Every value a route reads goes through :class:`LabData`, which remembers it: the report lists exactly the
inputs a run used, with their source, date and status.
"""

from __future__ import annotations

import random
from decimal import Decimal

import msgspec

from analytics.corridor.clock import BusinessCalendar
from analytics.corridor.rpw_lines import ServiceLine, lines_ref, service_lines
from analytics.datasets import CALENDARS_CSV, LAB_CSV, Datasets, LabParameterRow
from analytics.pricing.provenance import InputRef, param_value

PAKISTAN = "PAK"


class Param(msgspec.Struct, frozen=True):
    """A numeric parameter: its central value and the range a simulation draws from."""

    name: str
    value: float
    low: float
    high: float
    unit: str

    def draw(self, rng: random.Random) -> float:
        """Uniform in [low, high] (the value itself when the range is a point)."""
        return self.value if self.low == self.high else rng.uniform(self.low, self.high)


def lab_ref(row: LabParameterRow) -> InputRef:
    span = f" ({row.value_low}-{row.value_high})" if row.value_low != row.value_high else ""
    return InputRef(LAB_CSV, f"{row.route}: {row.name}", f"{row.value} {row.unit}{span}", row.status, row.source,
                    row.date)


class LabData:
    """Typed access to the lab's inputs; remembers every one read (``used``) for the report."""

    def __init__(self, data: Datasets) -> None:
        self.data = data
        self.used: dict[str, InputRef] = {}
        self._calendars: dict[str, BusinessCalendar] = {}
        self._lines: dict[tuple[str, bool], list[ServiceLine]] = {}
        pkr, ref = param_value(data, "pkr_per_usd")
        self.pkr_per_usd = pkr
        self.note(ref)

    def note(self, ref: InputRef) -> InputRef:
        self.used.setdefault(f"{ref.file}|{ref.item}", ref)
        return ref

    def param(self, name: str) -> Param:
        row = self.data.lab_parameter(name)
        self.note(lab_ref(row))
        return Param(row.name, float(row.value), float(row.value_low), float(row.value_high), row.unit)

    def calendar(self, iso3: str) -> BusinessCalendar:
        known = self._calendars.get(iso3)
        if known is not None:
            return known
        row = self.data.calendar(iso3)
        self.note(InputRef(CALENDARS_CSV, f"{iso3}: time zone and weekend",
                           f"UTC{row.utc_offset_hours:+} · weekend {row.weekend}", row.status, row.source, row.date))
        calendar = self._calendars[iso3] = BusinessCalendar.of(row)
        return calendar

    def services(self, corridor: str, bank: bool) -> list[ServiceLine]:
        """The corridor's RPW services that are banks (``bank``) or not (money transfer operators)."""
        key = (corridor, bank)
        if key not in self._lines:
            lines = [line for line in service_lines(self.data, corridor) if line.bank == bank]
            self._lines[key] = lines
            if lines:
                self.note(lines_ref(self.data, corridor, "bank" if bank else "non-bank (MTO)", lines))
        return self._lines[key]

    @property
    def pakistan(self) -> BusinessCalendar:
        return self.calendar(PAKISTAN)

    def inputs(self) -> list[InputRef]:
        return sorted(self.used.values(), key=lambda ref: (ref.file, ref.item))

    def usd_to_paisa(self, amount_usd: Decimal) -> int:
        """USD at the reference rate, in whole paisa (rounded down: never more than was sent)."""
        return int(amount_usd * self.pkr_per_usd * 100)
