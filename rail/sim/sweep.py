"""What-if prefunding: the same day (scenario, seed, payments) rerun with other opening balances.

The levels come from the day itself, as BoF-PSS2 studies do: each bank's lower bound of liquidity (LB, what it
needs to settle everything by the end of the day with netting) and upper bound (UB, what it needs for every
payment to settle at once), from the main run's demand (analytics/sim_analysis.py). A position of 0 opens every
bank at its LB, 100 at its UB, 50 halfway; a rerun has no scheduled top-ups, so the level is all a bank has.

RAAST has no queue: a payment its debtor agent cannot cover is refused at once, AM04. Below UB some payments
are refused; at UB the bound still assumes each payment settles the moment it is sent, while the real rail
holds a payment's amount reserved until the creditor agent answers, so a few AM04 can remain at 100: that is
what the sweep shows against the bounds.

Reruns are independent simulations, each deterministic: they run side by side, one process each, on up to
`workers` cores, and land in `RUN_DIR/sweep/<position>/` (a run directory of its own that `rail replay`
checks like the main one).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Callable
from pathlib import Path

import msgspec

from analytics.liquidity import SystemLiquidity
from rail import rundir
from rail.sim.run import SimConfig, simulate

WORKERS_DEFAULT = 2


def levels(bounds: SystemLiquidity, bics: list[str], position: int) -> tuple[int, ...]:
    """Each bank's opening balance at `position` percent of the way from its LB to its UB (whole rupees)."""
    by_bic = {b.bic: b for b in bounds.banks}
    out = []
    for bic in bics:
        bank = by_bic.get(bic)
        lower, upper = (bank.lower_bound_paisa, bank.upper_bound_paisa) if bank else (0, 0)
        level = lower + (upper - lower) * position // 100
        out.append(-(-level // 100) * 100)  # up to a whole rupee: never below the level
    return tuple(out)


def _rerun(config: SimConfig, out_dir: Path) -> rundir.SimSummary:
    return simulate(config, out_dir)


def point_of(position: int, run_dir: Path, sub_dir: str) -> rundir.SweepPoint:
    """A rerun's figures, read back from its run directory."""
    summary = rundir.read_sim_summary(run_dir / sub_dir)
    liquidity = rundir.read_liquidity(run_dir / sub_dir)
    return rundir.SweepPoint(
        position=position, run_dir=sub_dir, prefund_paisa={b.bic: b.prefund_paisa for b in summary.banks},
        planned=summary.payments_offered, settled=summary.counts_by_status.get("ACSC", 0),
        settled_paisa=sum(r.gross_sent_paisa for r in liquidity.values()),
        am04=summary.counts_by_reason.get("AM04", 0), ab05=summary.counts_by_reason.get("AB05", 0),
        delayed=summary.payments_delayed,
        lowest_available_paisa={bic: r.min_balance_paisa for bic, r in sorted(liquidity.items())},
        journal_digest=summary.journal_digest,
    )


def run_sweep(config: SimConfig, run_dir: Path, bounds: SystemLiquidity, positions: list[int],
              workers: int = WORKERS_DEFAULT,
              on_point: Callable[[rundir.SweepPoint], None] | None = None) -> rundir.SweepFile:
    """Rerun `config`'s day at each position; writes and returns sweep.json. Ctrl-C stops the reruns (each
    keeps what it simulated, marked interrupted); the finished points are kept."""
    run_dir = Path(run_dir)
    bics = [b.bic for b in rundir.read_sim_summary(run_dir).banks]
    sweep = rundir.SweepFile(
        lower_bound_paisa={b.bic: b.lower_bound_paisa for b in bounds.banks},
        upper_bound_paisa={b.bic: b.upper_bound_paisa for b in bounds.banks}, points=[],
    )
    # spawn: a clean interpreter per worker (no event loop, thread or lock inherited from this process)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max(1, min(workers, len(positions))), mp_context=context) as pool:
        futures = {}
        for position in sorted(set(positions)):
            sub_dir = f"{rundir.SWEEP_DIR}/{position}"
            rerun = msgspec.structs.replace(config, prefund_paisa=levels(bounds, bics, position),
                                            prefund_percent=100.0, scripted_topups=False)
            futures[pool.submit(_rerun, rerun, run_dir / sub_dir)] = (position, sub_dir)
        pending = set(futures)
        while pending:
            try:
                done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            except KeyboardInterrupt:
                continue  # the workers got the same Ctrl-C: they stop offering and write what they have
            for future in done:
                future.result()  # a rerun that failed fails the sweep, with its error
                position, sub_dir = futures[future]
                point = point_of(position, run_dir, sub_dir)
                sweep.points.append(point)
                if on_point is not None:
                    on_point(point)
    sweep.points.sort(key=lambda p: p.position)
    rundir.write_json(run_dir / rundir.SWEEP_JSON, sweep)
    return sweep
