"""A corridor-lab run in figures: cost and time-to-credit distributions per route and per corridor and route,
next to RPW's quotes of the same corridor and amount band, the liquidity each instant route needed, the
failures and why, and the G20 targets.

Only credited remittances are priced (a rejected one moved no money to the beneficiary); after an
interruption only remittances every route finished are counted, so each route is compared on the same ones.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

import msgspec

from analytics.corridor.liquidity import DeskFigure, desk_figures
from analytics.corridor.model import COST_PARTS, RailCheck, Remittance, Route, RouteResult, Status
from analytics.corridor.params import LabData
from analytics.corridor.scenario import Band, Scenario
from analytics.datasets import RPW_SERVICES_CSV
from analytics.pricing.provenance import HUNDRED, InputRef
from analytics.pricing.services import quotes

HOUR_S = 3600.0
G20_COST_PCT = 3.0
G20_SPEED_SHARE_PCT = 75.0
RPW_POOL = {"correspondent": "bank", "mto": "non-bank"}  # the other routes are compared with all services
SUMMARY_VERSION = 1


class Stats(msgspec.Struct, frozen=True):
    n: int
    mean: float
    p10: float
    p25: float
    p50: float
    p75: float
    p90: float


def stats(values: Sequence[float]) -> Stats | None:
    if not values:
        return None
    ordered = sorted(values)

    def q(p: float) -> float:
        pos = (len(ordered) - 1) * p
        lo = int(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo), 4)

    return Stats(len(ordered), round(sum(ordered) / len(ordered), 4), q(0.10), q(0.25), q(0.5), q(0.75), q(0.9))


class RpwFigure(msgspec.Struct, frozen=True):
    """RPW's quotes for the same corridor, basket and pool: what a simulated figure stands beside."""

    pool: str
    basket: int
    n_quotes: int
    mean: float
    median: float
    q1: float
    q3: float
    min: float
    max: float
    source: str


class Cell(msgspec.Struct, frozen=True):
    """One route in one corridor (``corridor`` "all": every corridor) and amount band ("all": every amount)."""

    route: str
    corridor: str
    band: str
    offered: int
    credited: int
    failed: int
    cost_pct: Stats | None
    time_s: Stats | None
    within_hour_pct: float | None  # of credited remittances
    within_day_pct: float | None
    split_pct: dict[str, float]  # mean of each cost component, % of the amount (credited remittances)
    rpw: RpwFigure | None = None


class Summary(msgspec.Struct, frozen=True):
    version: int
    scenario: str
    description: str
    contested: list[str]
    seed: int
    remittances: int
    counted_remittances: int
    interrupted: bool
    run_at: str  # when the run was made (UTC): the date every figure of this run carries
    start: str
    days: float
    routes: list[dict[str, str]]
    corridors: list[str]
    by_route: list[Cell]
    cells: list[Cell]
    failures: list[dict]
    not_offered: list[dict]
    liquidity: list[DeskFigure]
    rail: RailCheck
    swift_end_customer_within_hour_pct: float
    raast_latency_ms: Stats | None
    inputs: list[InputRef]


def band_of(amount: Decimal, bands: Sequence[Band]) -> str | None:
    for band in bands:
        if band.low <= float(amount) <= band.high:
            return str(band.basket)
    return None


def rpw_figure(lab: LabData, corridor: str, route: str, basket: int) -> RpwFigure | None:
    pool = RPW_POOL.get(route, "all")
    rows = quotes(lab.data, corridor, basket)
    if pool != "all":
        names = {line.provider for line in lab.services(corridor, pool == "bank")}
        rows = [row for row in rows if row.provider in names]
    totals = sorted(float(row.total_cost_pct) for row in rows)
    s = stats(totals)
    if s is None:
        return None
    return RpwFigure(pool, basket, s.n, s.mean, s.p50, s.p25, s.p75, totals[0], totals[-1],
                     f"{RPW_SERVICES_CSV} ({rows[0].period}, {rows[0].source_repo})")


def cell(route: str, corridor: str, band: str, results: list[RouteResult]) -> Cell:
    offered = [r for r in results if r.status is not Status.NOT_OFFERED]
    ok = [r for r in offered if r.status is Status.CREDITED]
    times = [r.time_to_credit_s for r in ok if r.time_to_credit_s is not None]
    return Cell(route, corridor, band, len(offered), len(ok), len(offered) - len(ok),
                stats([float(r.total_pct) for r in ok if r.total_pct is not None]), stats(times),
                share_within(times, HOUR_S), share_within(times, 24 * HOUR_S), split_pct(ok))


def split_pct(results: Sequence[RouteResult]) -> dict[str, float]:
    """The mean of each cost component as a percentage of each remittance's amount."""
    priced = [r for r in results if r.cost is not None]
    if not priced:
        return {}
    return {part: round(float(sum((getattr(r.cost, part) / r.amount_usd * HUNDRED for r in priced), Decimal(0)))
                        / len(priced), 4) for part in COST_PARTS}


def share_within(times: Sequence[float], limit_s: float) -> float | None:
    """% of the times at or under ``limit_s`` (None without any)."""
    return round(100 * sum(t <= limit_s for t in times) / len(times), 1) if times else None


def _grouped(results: Iterable[RouteResult], remittances: dict[int, Remittance], bands: Sequence[Band]):
    groups: dict[tuple[str, str, str], list[RouteResult]] = defaultdict(list)
    for r in results:
        band = band_of(remittances[r.seq].amount_usd, bands)
        for corridor in (r.corridor, "all"):
            groups[(r.route, corridor, "all")].append(r)
            if band is not None:
                groups[(r.route, corridor, band)].append(r)
    return groups


def summarise(lab: LabData, scenario: Scenario, seed: int, routes: Sequence[Route], remittances: Sequence[Remittance],
              results: Sequence[RouteResult], counted: set[int], interrupted: bool, rail: RailCheck,
              run_at: str) -> Summary:
    by_seq = {r.seq: r for r in remittances}
    kept = [r for r in results if r.seq in counted]
    groups = _grouped(kept, by_seq, scenario.bands)
    order = {route.name: i for i, route in enumerate(routes)}
    corridors = sorted({r.corridor for r in remittances})
    cells = []
    for (route, corridor, band), group in sorted(groups.items(), key=lambda kv: (kv[0][1], order[kv[0][0]], kv[0][2])):
        if corridor == "all" or all(r.status is Status.NOT_OFFERED for r in group):
            continue
        rpw = rpw_figure(lab, corridor, route, int(band)) if band != "all" else None
        cells.append(msgspec.structs.replace(cell(route, corridor, band, group), rpw=rpw))
    by_route = [cell(route.name, "all", band, groups.get((route.name, "all", band), []))
                for route in routes for band in ["all", *(str(b.basket) for b in scenario.bands)]]
    latencies = [r.raast_latency_ms for r in kept if r.raast_latency_ms is not None]
    desks = desk_figures(lab, kept, scenario.start, scenario.population.days)  # notes the flows it read
    return Summary(
        SUMMARY_VERSION, scenario.name, scenario.description, scenario.contested, seed, len(remittances),
        len(counted), interrupted, run_at, scenario.start.isoformat(), scenario.population.days,
        [{"name": route.name, "label": route.label, "short": route.short} for route in routes], corridors, by_route, cells,
        _reasons(kept, Status.FAILED), _reasons(kept, Status.NOT_OFFERED),
        desks, rail, lab.param("swift_end_customer_within_1h_pct").value, stats(latencies), lab.inputs(),
    )


def _reasons(results: Iterable[RouteResult], status: Status) -> list[dict]:
    counts = Counter((r.route, r.corridor, r.reason) for r in results if r.status is status)
    return [{"route": route, "corridor": corridor, "reason": reason, "count": n}
            for (route, corridor, reason), n in sorted(counts.items())]


def read_summary(raw: bytes) -> Summary:
    return msgspec.json.decode(raw, type=Summary)


def encode_summary(summary: Summary) -> bytes:
    return msgspec.json.format(msgspec.json.encode(summary), indent=1)
