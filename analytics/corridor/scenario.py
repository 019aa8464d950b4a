"""Corridor-lab scenarios: TOML files shipped in ``analytics/corridor/scenarios/`` (or your own path).

A scenario says which population to send (how many remittances, over which simulated days, from which
sources), over which routes, and which contested assumptions to switch on. Contested assumptions (a P2P
premium) are off in the default scenario; a scenario that switches one on is named after it, and the report
shows it apart from the default figures (docs/analytics.md, fairness rules).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec

from rail import scenario_file

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"
DEFAULT_SCENARIO = "default"
ROUTE_KINDS = ("correspondent", "mto", "instant_link", "stablecoin", "central_asia")
OFFRAMPS = ("exchange", "p2p")
# The load model's FY2025 sources (participants/remittance.py) the lab can price: EU and "rest of world" have
# no RPW corridor, so no formal route to compare with.
SOURCES = ("SAU", "ARE", "GBR", "USA", "GCC")
REMITTANCES_MAX = 200_000  # every result is kept in memory and written as one CSV row
DAYS_MAX = 31.0


class Population(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    remittances: int = 2_000
    start: str = "2025-02-10T00:00:00+05:00"  # a Monday in an ordinary month, Pakistan time
    days: float = 7.0
    sources: list[str] = msgspec.field(default_factory=lambda: list(SOURCES))
    central_asia: bool = True  # add the hypothetical Uzbekistan corridor (corridor_lab.csv ca_share_pct)


class Band(msgspec.Struct, frozen=True, array_like=True):
    """Remittances between low and high USD are compared with RPW's quotes at ``basket`` USD."""

    basket: int
    low: float
    high: float


class Stablecoin(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain: str = "Tron"  # a chains.csv / chains_added.csv chain with a withdrawal venue
    offramps: list[str] = msgspec.field(default_factory=lambda: list(OFFRAMPS))
    # A contested assumption (ramps.csv: one blog, UNVERIFIED): only a scenario named after it sets it.
    p2p_premium_pct: float = 0.0


class InstantLink(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Sending country -> the currency its instant payment system sends to the link.
    sources: dict[str, str] = msgspec.field(default_factory=lambda: {"ARE": "AED", "SAU": "SAR", "GBR": "GBP"})


class Scenario(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str = DEFAULT_SCENARIO
    description: str = ""
    routes: list[str] = msgspec.field(default_factory=lambda: list(ROUTE_KINDS))
    population: Population = Population()
    bands: list[Band] = msgspec.field(default_factory=lambda: [Band(200, 150, 250), Band(500, 400, 600)])
    stablecoin: Stablecoin = Stablecoin()
    instant_link: InstantLink = InstantLink()
    foreign_leg_failure_pct: float | None = None  # None: corridor_lab.csv's figure
    beneficiary_account_reject_pct: float | None = None  # None: corridor_lab.csv's figure

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.population.start)

    @property
    def contested(self) -> list[str]:
        """The contested assumptions this scenario switches on (none in the default)."""
        out = []
        if self.stablecoin.p2p_premium_pct and "p2p" in self.stablecoin.offramps:
            out.append(f"P2P USDT/PKR premium of {self.stablecoin.p2p_premium_pct:g}% (ramps.csv, UNVERIFIED)")
        return out


def shipped() -> list[str]:
    return scenario_file.shipped([SCENARIOS_DIR])


def load_scenario(name_or_path: str | Path | None = None) -> Scenario:
    """A shipped scenario by name ("default"), or a TOML file; ValueError saying what is wrong."""
    path = scenario_file.find(name_or_path or DEFAULT_SCENARIO, [SCENARIOS_DIR])
    raw = scenario_file.read(path, [SCENARIOS_DIR])
    raw.setdefault("name", path.stem)
    try:
        scenario = msgspec.convert(raw, Scenario)
    except msgspec.ValidationError as exc:
        raise ValueError(f"scenario {path}: {exc}") from None
    problem = check(scenario)
    if problem:
        raise ValueError(f"scenario {path}: {problem}")
    return scenario


def check(s: Scenario) -> str | None:
    """What makes a scenario unusable (None: nothing)."""
    p = s.population
    unknown = [r for r in s.routes if r not in ROUTE_KINDS] + [o for o in s.stablecoin.offramps if o not in OFFRAMPS]
    if unknown:
        return f"unknown routes or off-ramps {unknown} (routes: {', '.join(ROUTE_KINDS)}; off-ramps: {', '.join(OFFRAMPS)})"
    if [c for c in p.sources if c not in SOURCES]:
        return f"population.sources must be among {', '.join(SOURCES)} (the FY2025 sources RPW covers)"
    if not 1 <= p.remittances <= REMITTANCES_MAX or not 0 < p.days <= DAYS_MAX:
        return f"population.remittances must be 1..{REMITTANCES_MAX} and population.days in (0, {DAYS_MAX:g}]"
    try:
        if dt.datetime.fromisoformat(p.start).tzinfo is None:
            return "population.start needs a UTC offset, e.g. 2025-02-10T00:00:00+05:00"
    except ValueError:
        return f"population.start {p.start!r} is not an ISO 8601 date-time"
    if any(not (b.low <= b.basket <= b.high) for b in s.bands):
        return "each band must contain its RPW basket: [basket, low, high] with low <= basket <= high"
    for name, value in (("foreign_leg_failure_pct", s.foreign_leg_failure_pct),
                        ("beneficiary_account_reject_pct", s.beneficiary_account_reject_pct)):
        if value is not None and not 0 <= value <= 100:
            return f"{name} must be a percentage (0..100)"
    if not -50 <= s.stablecoin.p2p_premium_pct <= 50:
        return "stablecoin.p2p_premium_pct must be within -50..50"
    return None


def with_remittances(s: Scenario, remittances: int) -> Scenario:
    return msgspec.structs.replace(s, population=msgspec.structs.replace(s.population, remittances=remittances))
