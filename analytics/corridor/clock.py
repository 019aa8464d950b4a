"""Simulated time: business calendars (time zone, weekend, windows) and a remittance's timeline on a route.

A route advances its :class:`Timeline` step by step (``await timeline.take(...)``, ``await
timeline.until(...)``). Today nothing sleeps: the timeline adds each step's seconds to the remittance's own
simulated clock, so a week of remittances runs in seconds of real time. The steps are awaited so that a
virtual clock (a later `rail simulate`) can drive the same route code by sleeping on it instead.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from analytics.corridor.model import Step, StepKind
from analytics.datasets import CalendarRow

DAY = dt.timedelta(days=1)
WORKING_DAYS_SEARCH_MAX = 14  # no calendar has two weeks without a working day


class BusinessCalendar(msgspec.Struct, frozen=True):
    """When a country's banks work: its UTC offset and its weekend (public holidays are not modelled)."""

    iso3: str
    utc_offset_hours: float
    weekend: frozenset[int]  # weekday numbers, Monday 0

    @classmethod
    def of(cls, row: CalendarRow) -> BusinessCalendar:
        return cls(row.iso3, float(row.utc_offset_hours), row.weekend_days)

    @property
    def zone(self) -> dt.timezone:
        return dt.timezone(dt.timedelta(hours=self.utc_offset_hours), self.iso3)

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.zone)

    def is_working_day(self, moment: dt.datetime) -> bool:
        return self.local(moment).weekday() not in self.weekend

    def at_hour(self, moment: dt.datetime, hour: float) -> dt.datetime:
        """The same local day as ``moment``, at ``hour`` local time."""
        day = self.local(moment).replace(hour=0, minute=0, second=0, microsecond=0)
        return day + dt.timedelta(hours=hour)

    def next_working_day(self, moment: dt.datetime) -> dt.datetime:
        """Local midnight of the first working day after ``moment``'s local day."""
        day = self.at_hour(moment, 0)
        for _ in range(WORKING_DAYS_SEARCH_MAX):
            day += DAY
            if self.is_working_day(day):
                return day
        raise ValueError(f"{self.iso3}: no working day within {WORKING_DAYS_SEARCH_MAX} days")

    def add_working_days(self, moment: dt.datetime, days: int) -> dt.datetime:
        """Local midnight ``days`` working days after ``moment``'s day."""
        for _ in range(days):
            moment = self.next_working_day(moment)
        return self.at_hour(moment, 0)

    def window_start(self, moment: dt.datetime, open_hour: float, close_hour: float) -> dt.datetime:
        """``moment`` if it falls inside a working day's [open, close) window, else the next window's opening."""
        if self.is_working_day(moment):
            opens, closes = self.at_hour(moment, open_hour), self.at_hour(moment, close_hour)
            if moment < opens:
                return opens
            if moment < closes:
                return moment
        return self.next_working_day(moment) + dt.timedelta(hours=open_hour)

    def in_window(self, moment: dt.datetime, open_hour: float, close_hour: float) -> bool:
        return self.window_start(moment, open_hour, close_hour) == moment


class Timeline:
    """One remittance's simulated clock on one route, and the steps that moved it."""

    def __init__(self, start: dt.datetime) -> None:
        self.start = start
        self.now = start
        self.steps: list[Step] = []

    async def take(self, name: str, seconds: float, kind: StepKind = StepKind.SIMULATED) -> None:
        """A step that lasts ``seconds``."""
        seconds = max(0.0, float(seconds))
        self.steps.append(Step(name, seconds, kind))
        self.now += dt.timedelta(seconds=seconds)

    async def until(self, name: str, moment: dt.datetime) -> None:
        """Wait for ``moment`` (a window opening, a cut-off passing); nothing if it is not later than now."""
        if moment > self.now:
            await self.take(name, (moment - self.now).total_seconds(), StepKind.WAIT)

    @property
    def elapsed_s(self) -> float:
        return (self.now - self.start).total_seconds()
