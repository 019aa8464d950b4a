"""The corridor lab's run: the same remittance population over every route.

Each (remittance, route) pair is simulated by the route with its own random generator, seeded from the run's
seed, the remittance and the route, so results do not depend on the order in which pairs finish: the same
seed gives the same costs, steps and outcomes (only the rail's measured RAAST latency varies, as any
measurement does). Pairs run concurrently, a bounded number at a time, so their RAAST payments share the
rail's batches as real traffic would. A stop request (Ctrl-C) ends the sending; what finished is kept.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence

import msgspec

from analytics.corridor.model import DomesticLeg, Remittance, Route, RouteResult, Status
from analytics.corridor.routes.common import not_offered

IN_FLIGHT_MAX = 512  # remittance-route pairs in flight at once (each holds at most one RAAST payment)
PROGRESS_EVERY_S = 0.2
DRAIN_TIMEOUT_S = 60.0  # every RAAST payment is final within the scheme's 20 s hard stop


class LabProgress(msgspec.Struct):
    total: int
    done: int = 0
    credited: int = 0
    failed: int = 0
    not_offered: int = 0
    raast_payments: int = 0
    elapsed_s: float = 0.0


class LabRun(msgspec.Struct):
    results: list[RouteResult]
    planned: int
    interrupted: bool
    wall_s: float

    def complete_seqs(self, routes: int) -> set[int]:
        """Remittances every route finished (after an interruption, the like-for-like subset)."""
        count: dict[int, int] = {}
        for r in self.results:
            count[r.seq] = count.get(r.seq, 0) + 1
        return {seq for seq, n in count.items() if n == routes}


def rng_for(seed: int, remittance: Remittance, route: Route) -> random.Random:
    return random.Random(f"{seed}:{remittance.seq}:{route.name}")


class _Runner:
    def __init__(self, routes: Sequence[Route], rail: DomesticLeg, seed: int, total: int,
                 on_progress: Callable[[LabProgress], None] | None) -> None:
        self.routes = list(routes)
        self.rail = rail
        self.seed = seed
        self.progress = LabProgress(total)
        self.on_progress = on_progress
        self.results: dict[tuple[int, int], RouteResult] = {}
        self.started = time.monotonic()
        self._shown = 0.0

    def record(self, key: tuple[int, int], result: RouteResult) -> None:
        self.results[key] = result
        p = self.progress
        p.done += 1
        p.credited += result.status is Status.CREDITED
        p.failed += result.status is Status.FAILED
        p.not_offered += result.status is Status.NOT_OFFERED
        p.raast_payments += bool(result.raast_status)
        self.show()

    def show(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.on_progress is not None and (force or now - self._shown >= PROGRESS_EVERY_S):
            self._shown = now
            self.progress.elapsed_s = now - self.started
            self.on_progress(self.progress)

    async def one(self, key: tuple[int, int], remittance: Remittance, route: Route, slots: asyncio.Semaphore) -> None:
        try:
            self.record(key, await route.send(remittance, rng_for(self.seed, remittance, route), self.rail))
        finally:
            slots.release()


async def run_lab(
    remittances: Sequence[Remittance],
    routes: Sequence[Route],
    rail: DomesticLeg,
    seed: int,
    on_progress: Callable[[LabProgress], None] | None = None,
    stop: asyncio.Event | None = None,
    in_flight_max: int = IN_FLIGHT_MAX,
) -> LabRun:
    """Every remittance over every route; results in (remittance, route) order."""
    runner = _Runner(routes, rail, seed, len(remittances) * len(routes), on_progress)
    slots = asyncio.Semaphore(in_flight_max)
    tasks: set[asyncio.Task] = set()
    interrupted = False
    for remittance in remittances:
        if stop is not None and stop.is_set():
            interrupted = True
            break
        for index, route in enumerate(runner.routes):
            key = (remittance.seq, index)
            reason = route.not_offered(remittance.corridor)
            if reason is not None:
                runner.record(key, not_offered(route.name, remittance, reason))
                continue
            await slots.acquire()
            task = asyncio.create_task(runner.one(key, remittance, route, slots))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait_for(asyncio.gather(*tasks), DRAIN_TIMEOUT_S)
    runner.show(force=True)
    ordered = [runner.results[key] for key in sorted(runner.results)]
    return LabRun(ordered, runner.progress.total, interrupted, time.monotonic() - runner.started)
