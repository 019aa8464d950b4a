"""A simulation scenario: the load model and bank behaviour of a load scenario, plus the day's `[sim]` table.

A scenario file is a load scenario (participants/harness.py's `Scenario`: `[load]` and `[bank]`, docs/load.md)
with a `[sim]` table for what only a simulated day has: the date, the day's volume, the settlement core's
tick, each bank's prefunding, and scripted events (outages, slow creditors, scheduled top-ups). Every key is
optional; docs/simulate.md lists them with their defaults and sources. Times of day are Pakistan time (PKT).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec

from participants.harness import SCENARIOS_DIR as LOAD_SCENARIOS_DIR
from participants.harness import Scenario, load_scenario
from participants.remittance import PKT, bank_weights
from rail import scenario_file

SIM_SCENARIOS_DIR = Path(__file__).with_name("scenarios")
SCENARIO_DIRS = (SIM_SCENARIOS_DIR, LOAD_SCENARIOS_DIR)  # `rail simulate` runs its own and `rail load`'s
PAISA_PER_RUPEE = 100
SECONDS_PER_DAY = 86_400
# RAILS.md s.2.7: 544M RAAST transactions in Q1 FY26 (Jul-Sep 2025, 92 days): ~5.9M a day (DERIVED).
AVERAGE_DAY_PAYMENTS = 5_900_000
DEFAULT_DAY = "2025-09-17"  # an ordinary Wednesday of Q1 FY26, mid-month (no salary or Eid uplift)
DEFAULT_TICK_MS = 100
# Prefunding of the whole system (split by bank size): enough that an average day rarely runs a bank dry.
# ASSUMPTION (RAAST's prefunding is not published); the what-if sweep's levels come from the day's own bounds.
DEFAULT_PREFUND_TOTAL_PKR = 40_000_000_000
DAYS_SIMULATED_MAX = 1  # one calendar day per run
PAYMENTS_PER_DAY_MAX = 30_000_000  # a 5x Eid peak of an average day; memory ~0.8 KB a payment (docs/simulate.md)


class Outage(msgspec.Struct, frozen=True):
    """`bic` is down from `start` to `end` (HH:MM[:SS] PKT): it neither reads its inbox nor answers (the rail
    times its payments out, AB05), and what its customers start meanwhile waits (`sends = "hold"`, released
    when it is back) or is lost (`"drop"`)."""

    bic: str
    start: str
    end: str
    sends: str = "hold"


class SlowCreditor(msgspec.Struct, frozen=True):
    """`bic` answers the payments it receives slowly between `start` and `end`: log-normal delay with this
    median and sigma (the 20-second rule: past the scheme's timeout the rail rejects them, AB05)."""

    bic: str
    start: str
    end: str
    latency_ms_median: float = 4_000.0
    latency_sigma: float = 1.0


class TopUp(msgspec.Struct, frozen=True):
    """At `at` the central bank credits `bic`'s settlement account ("*": every bank): `amount_pkr`, or
    `share_of_prefund` times the bank's opening prefunding."""

    at: str
    bic: str = "*"
    amount_pkr: int | None = None
    share_of_prefund: float | None = None


class SimTable(msgspec.Struct, frozen=True):
    """The `[sim]` table."""

    day: str = DEFAULT_DAY
    # The volume of an ordinary day at this scenario's mix (the load shape then raises a salary or Eid day above
    # it); `rail simulate --payments N` gives an exact expected count instead.
    payments_per_day: int = AVERAGE_DAY_PAYMENTS
    tick_ms: int = DEFAULT_TICK_MS
    prefund_total_pkr: int = DEFAULT_PREFUND_TOTAL_PKR
    # Deferred net settlement comparison: settlement cycles per day (24 = hourly; 10 = NPCI's UPI; 3 = UK FPS).
    dns_cycles_per_day: list[int] = msgspec.field(default_factory=lambda: [24, 10, 3])
    # What-if prefunding levels (rail simulate --sweep): each bank opens with this percent of the way from its
    # lower bound of liquidity (0) to its upper bound (100), as the day's own payments define them.
    sweep_positions: list[int] = msgspec.field(default_factory=lambda: [0, 50, 100, 150])
    treasury: bool = False  # run the [bank.treasury] desk (threshold top-ups) besides the scheduled top-ups
    sample_every_s: int = 60  # balance curve resolution
    delayed_after_s: float = 5.0  # a payment final later than this after its intended time counts as delayed
    outages: list[Outage] = msgspec.field(default_factory=list)
    slow_creditors: list[SlowCreditor] = msgspec.field(default_factory=list)
    topups: list[TopUp] = msgspec.field(default_factory=list)


class SimScenario(msgspec.Struct, frozen=True):
    name: str
    description: str
    scenario: Scenario  # [load] and [bank]
    sim: SimTable
    path: str = ""


def scenario_path(name_or_path: str | Path | None) -> Path:
    """A scenario file: a path, or the name of one shipped for `rail simulate` (rail/sim/scenarios/) or for
    `rail load` (participants/scenarios/)."""
    return scenario_file.find(name_or_path if name_or_path is not None else "raast_day", SCENARIO_DIRS)


def load_sim_scenario(name_or_path: str | Path | None, day: str | None = None) -> SimScenario:
    """Read and check a scenario; `day` (YYYY-MM-DD) replaces its `[sim] day`. ValueError names the problem."""
    path = scenario_path(name_or_path)
    data = scenario_file.read(path, SCENARIO_DIRS)
    scenario = load_scenario(path)  # [load] and [bank] exactly as `rail load` reads them
    try:
        sim = msgspec.convert(data.get("sim", {}), SimTable, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"scenario {path}: [sim] {exc}") from None
    if day is not None:
        sim = msgspec.structs.replace(sim, day=day)
    result = SimScenario(scenario.name, data.get("description", scenario.load.description), scenario, sim, str(path))
    check(result)
    return result


def check(s: SimScenario) -> None:
    sim = s.sim
    day_start(sim.day)
    if not 1 <= sim.tick_ms <= 10_000:
        raise ValueError(f"[sim] tick_ms {sim.tick_ms}: give 1..1000 (the core's batch period, simulated)")
    if not 0 < sim.payments_per_day <= PAYMENTS_PER_DAY_MAX:
        raise ValueError(f"[sim] payments_per_day must be 1..{PAYMENTS_PER_DAY_MAX:,}")
    if sim.prefund_total_pkr <= 0:
        raise ValueError("[sim] prefund_total_pkr must be positive")
    if any(c < 1 or c > 1_440 for c in sim.dns_cycles_per_day):
        raise ValueError("[sim] dns_cycles_per_day: each between 1 and 1440 (one a minute)")
    if any(p < 0 or p > 1_000 for p in sim.sweep_positions):
        raise ValueError("[sim] sweep_positions: each between 0 (the lower bound) and 1000 (10x the upper bound)")
    for window in [*sim.outages, *sim.slow_creditors]:
        if seconds_of_day(window.start) >= seconds_of_day(window.end):
            raise ValueError(f"[sim] {window.bic}: start {window.start} is not before end {window.end}")
    for outage in sim.outages:
        if outage.sends not in ("hold", "drop"):
            raise ValueError(f"[sim] outage of {outage.bic}: sends must be hold or drop")
    for top_up in sim.topups:
        seconds_of_day(top_up.at)
        if (top_up.amount_pkr is None) == (top_up.share_of_prefund is None):
            raise ValueError(f"[sim] top-up at {top_up.at}: give exactly one of amount_pkr, share_of_prefund")


def day_start(day: str) -> dt.datetime:
    """Midnight PKT of `day` (YYYY-MM-DD)."""
    try:
        date = dt.date.fromisoformat(day)
    except ValueError:
        raise ValueError(f"day {day!r}: give a date as YYYY-MM-DD") from None
    return dt.datetime.combine(date, dt.time(), PKT)


def seconds_of_day(hhmm: str) -> int:
    """'14:20' or '14:20:30' (PKT) -> seconds since midnight."""
    try:
        parts = [int(p) for p in hhmm.split(":")]
    except ValueError:
        parts = []
    if len(parts) not in (2, 3) or not (0 <= parts[0] <= 24 and 0 <= parts[1] < 60):
        raise ValueError(f"time of day {hhmm!r}: give HH:MM or HH:MM:SS (Pakistan time)")
    seconds = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) == 3 else 0)
    if seconds > SECONDS_PER_DAY:
        raise ValueError(f"time of day {hhmm!r} is after midnight")
    return seconds


def prefunding_paisa(s: SimScenario, n_banks: int, percent: float = 100.0) -> list[int]:
    """Each bank's opening prefunding: the scenario's total split by bank size (the load model's weights),
    times `percent`/100."""
    weights = bank_weights(n_banks, s.scenario.load.bank_size_exponent)
    total = s.sim.prefund_total_pkr * PAISA_PER_RUPEE * percent / 100.0
    return [int(total * w / sum(weights)) // PAISA_PER_RUPEE * PAISA_PER_RUPEE for w in weights]
