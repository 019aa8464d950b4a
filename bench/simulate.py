"""Benchmark: a RAAST day in simulated time (`rail simulate`), on this machine.

    python bench/simulate.py                               # the full average day: ~5.9M payments (target <= 10 min)
    python bench/simulate.py --payments 200000             # the whole day's profile, scaled to 200k payments
    python bench/simulate.py --slice 10:00-10:30           # 30 minutes of the national-volume day, full density

Each run is `rail simulate`'s engine (rail/sim/run.py: the real settlement core and state machine, eight
simulated banks over the in-process transport, the journal written in full, its digest computed) in a fresh
process, so its peak memory is its own. Figures: payments per second of wall time (the call as a whole, and from
the first payment offered, without set-up or the plan skipped before a slice), simulated seconds per wall
second, peak RSS, and the projected wall time of a full average day at the measured rate.

Same-run baseline: the load model alone generating the same payments (participants/remittance.py's plan, the
part of the simulation no rail work can speed up): the simulator's rate as a ratio of it. The target is 10,000
payments per wall second (5.9M in <= 10 minutes).

Prints a rich table, then as its LAST line one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.table import Table  # noqa: E402

from rail.sim.run import Day, SimConfig, simulate  # noqa: E402
from rail.sim.scenario import AVERAGE_DAY_PAYMENTS, SECONDS_PER_DAY, load_sim_scenario, seconds_of_day  # noqa: E402
from rail.terminal import console as make_console  # noqa: E402

TARGET_WALL_S = 600.0
TARGET_PER_S = AVERAGE_DAY_PAYMENTS / TARGET_WALL_S


def _config(args: argparse.Namespace) -> SimConfig:
    from_s, until_s = 0.0, float(SECONDS_PER_DAY)
    if args.slice:
        start, _, end = args.slice.partition("-")
        from_s, until_s = float(seconds_of_day(start)), float(seconds_of_day(end))
    return SimConfig(load_sim_scenario(args.scenario, args.day), seed=args.seed, payments=args.payments,
                     from_s=from_s, until_s=until_s)


def _one_run(config: SimConfig, out_dir: str) -> tuple[dict, float, float, float]:
    """In a fresh process: the whole simulate() call, timed from outside. (summary, wall s, CPU s, CPU s of the
    process drawing the plan on the other core, rail/sim/plan_feed.py)"""
    started, cpu = time.perf_counter(), time.process_time()
    summary = simulate(config, Path(out_dir))
    fields = {f: getattr(summary, f) for f in summary.__struct_fields__}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return fields, time.perf_counter() - started, time.process_time() - cpu, children.ru_utime + children.ru_stime


def plan_baseline(config: SimConfig) -> tuple[int, float]:
    """The load model alone: the day's plan generated up to the run's end (a slice's earlier payments are drawn
    too, as the run draws them). (payments generated, seconds)"""
    day = Day.__new__(Day)  # only what plan() reads
    day.config, day.scenario, day.banks = config, config.scenario, [None] * 8
    started = time.perf_counter()
    count = 0
    for p in day.plan():
        if p.intended_s >= config.until_s:
            break
        count += 1
    return count, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, help="expected payments of the day (default: the scenario's "
                                                     "national volume, ~5.9M on an average day)")
    parser.add_argument("--slice", metavar="HH:MM-HH:MM", help="offer only this part of the day (full density)")
    parser.add_argument("--scenario", default="raast_day")
    parser.add_argument("--day", help="YYYY-MM-DD (default: the scenario's, an average Wednesday)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="runs (the median is reported)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the run directories under DIR")
    args = parser.parse_args()
    config = _config(args)
    console = make_console()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-simulate-"))
    runs = []
    context = multiprocessing.get_context("spawn")
    try:
        for i in range(args.repeat):
            out = base / f"run-{i + 1}"
            # Not a multiprocessing.Pool: its workers are daemonic and may not start the plan's process
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                summary, wall_s, cpu_s, plan_cpu_s = pool.submit(_one_run, config, str(out)).result()
            summary["cpu_s"], summary["plan_cpu_s"] = cpu_s, plan_cpu_s
            runs.append((summary, wall_s))
            console.print(f"run {i + 1}: {summary['payments_offered']:,} payments in {wall_s:,.1f} s, digest "
                          f"{summary['journal_digest'][:16]}, peak RSS {summary['peak_rss_mb']:,.0f} MB")
            if args.keep is None:
                shutil.rmtree(out, ignore_errors=True)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    planned, plan_s = plan_baseline(config)  # after the runs: never competing with them for a core
    result = _figures(args, runs, planned, plan_s)
    _print(console, result)
    print(json.dumps(result))
    return 0


def _figures(args: argparse.Namespace, runs: list[tuple[dict, float]], planned: int, plan_s: float) -> dict:
    walls = [w for _, w in runs]
    summary = runs[len(runs) // 2][0]
    payments = summary["payments_offered"]
    rate = payments / statistics.median(walls)
    offering_rate = payments / statistics.median(s["offering_wall_s"] for s, _ in runs)
    return {
        "payments": payments, "payments_requested": args.payments, "slice": args.slice, "runs": len(runs),
        "wall_s": round(statistics.median(walls), 2), "wall_s_runs": [round(w, 2) for w in walls],
        "payments_per_wall_s": round(rate, 1), "payments_per_wall_s_offering": round(offering_rate, 1),
        "payments_per_cpu_s": round(payments / statistics.median(s["cpu_s"] for s, _ in runs), 1),
        "plan_process_cpu_s": round(statistics.median(s["plan_cpu_s"] for s, _ in runs), 2),
        "sim_to_real": round((summary["simulated_s"] - _slice_start(args)) / statistics.median(walls), 1),
        "peak_rss_mb": max(s["peak_rss_mb"] for s, _ in runs),
        "journal_mb": round(summary["journal_bytes"] / 1e6, 1), "batches": summary["journal_batches"],
        "digests_identical": len({s["journal_digest"] for s, _ in runs}) == 1,
        "plan_only_per_s": round(planned / plan_s, 1),
        "ratio_vs_plan_only": round(offering_rate / (planned / plan_s), 3),
        "projected_full_day_s": round(AVERAGE_DAY_PAYMENTS / offering_rate, 1),
        "target_per_s": round(TARGET_PER_S, 1), "ratio_vs_target": round(offering_rate / TARGET_PER_S, 3),
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
                   f"Python {platform.python_version()}",
    }


def _slice_start(args: argparse.Namespace) -> float:
    return float(seconds_of_day(args.slice.partition("-")[0])) if args.slice else 0.0


def _print(console, r: dict) -> None:
    table = Table(title="rail simulate: a RAAST day in simulated time"
                        + (f", slice {r['slice']}" if r["slice"] else ""))
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("payments simulated", f"{r['payments']:,}")
    table.add_row("wall time (median of runs)", f"{r['wall_s']:,.1f} s  {r['wall_s_runs']}")
    table.add_row("payments per wall second (whole call / from first offer)",
                  f"{r['payments_per_wall_s']:,.0f} / {r['payments_per_wall_s_offering']:,.0f}")
    table.add_row("payments per CPU second (the simulating process)", f"{r['payments_per_cpu_s']:,.0f}")
    table.add_row("CPU of the process drawing the plan (the other core)", f"{r['plan_process_cpu_s']:,.1f} s")
    table.add_row("simulated seconds per wall second", f"{r['sim_to_real']:,.0f}")
    table.add_row("peak RSS", f"{r['peak_rss_mb']:,.0f} MB")
    table.add_row("journal", f"{r['journal_mb']:,.1f} MB, {r['batches']:,} batches")
    table.add_row("same digest every run", str(r["digests_identical"]))
    table.add_row("baseline: the load model alone (the same plan)", f"{r['plan_only_per_s']:,.0f}/s (simulator "
                                                                     f"from first offer / it: {r['ratio_vs_plan_only']})")
    table.add_row("projected full average day (5.9M) at this rate", f"{r['projected_full_day_s']:,.0f} s "
                                                                    f"(target <= {TARGET_WALL_S:.0f} s)")
    table.add_row("rate vs target (10,000/s)", str(r["ratio_vs_target"]))
    table.add_row("machine", r["machine"])
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
