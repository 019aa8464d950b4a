"""`rail simulate`: a whole RAAST day of the real rail in simulated time; its digest, its report.

    rail simulate --payments 50000 --seed 7 --out runs/day
    rail simulate --scenario raast_day --day 2025-04-01 --seed 1 --sweep

Progress shows as simulated time advances; the run directory gets the journal, payments, balances, liquidity
and report.html; the journal's digest is printed (the same scenario and seed print the same digest). Ctrl-C
stops offering payments, lets those in flight finish, and keeps what was simulated (exit 130).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table

from rail import rundir
from rail.sim.run import Progress, SimConfig, simulate
from rail.sim.scenario import PAYMENTS_PER_DAY_MAX, SECONDS_PER_DAY, load_sim_scenario, seconds_of_day
from rail.terminal import LiveProgress
from rail.terminal import console as make_console

PROG = "rail simulate"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
PLAIN_PROGRESS_EVERY_S = 3_600.0  # simulated seconds between progress lines when not on a terminal


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Simulate a whole RAAST day with the real settlement core and payment state machine, the default scheme's "
        "eight banks (Zipf-like sizes) as simulated banks over the in-process transport, the load model's intraday "
        "profile (salary days, Eid, night trough) and mix (P2P, P2M, remittance credits), and the scenario's "
        "events (an outage, a slow creditor, top-ups). Deterministic: the same scenario and seed write the same "
        "journal, byte for byte (its digest is printed); `rail replay RUN_DIR` checks it. Writes a run directory "
        "with report.html (balance curves, BoF-PSS2 liquidity bounds, AM04 and delays, net settlement). "
        "Scenario format: docs/simulate.md."
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = ("examples:\n  rail simulate --payments 50000 --seed 7 --out runs/day\n"
                     "  rail simulate --day 2025-03-28 --seed 1 --sweep        # before Eid ul-Fitr, national scale\n"
                     "  rail replay runs/day")
    parser.add_argument("--scenario", default="raast_day", metavar="S",
                        help="a shipped scenario name (raast_day, or a `rail load` scenario) or a TOML file "
                             "(default: raast_day)")
    parser.add_argument("--day", metavar="YYYY-MM-DD",
                        help="the calendar day to simulate (its salary-day or Eid uplift applies); default: the "
                             "scenario's")
    parser.add_argument("--payments", type=int, metavar="N",
                        help="expected payments over the day (the day's profile scaled to N); default: the "
                             "scenario's national volume for that day (~5.9M on an average day)")
    parser.add_argument("--seed", type=int, default=1, metavar="K", help="random seed (default: 1)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="run directory to create (default: runs/simulate-...)")
    parser.add_argument("--prefund", type=float, default=100.0, metavar="PCT",
                        help="every bank's opening balance as a percent of the scenario's prefunding (default 100)")
    parser.add_argument("--from", dest="from_time", metavar="HH:MM",
                        help="offer only the payments intended from this time of day (the same payments as the "
                             "whole day's: a slice at full density, e.g. the peak hours)")
    parser.add_argument("--until", dest="until_time", metavar="HH:MM", help="... and before this time of day")
    parser.add_argument("--sweep", nargs="?", const="scenario", metavar="POSITIONS",
                        help="then rerun the day at other opening balances, each bank at POSITIONS percent of the way "
                             "from its lower (0) to its upper (100) bound of liquidity, e.g. 0,50,100 (default: "
                             "the scenario's [sim] sweep_positions)")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="sweep reruns side by side, one process each (default 2)")
    parser.add_argument("--no-report", action="store_true", help="do not write report.html")
    parser.add_argument("--json", action="store_true", help="print simulation.json's summary as one JSON line")


def _config(args: argparse.Namespace) -> SimConfig:
    scenario = load_sim_scenario(args.scenario, args.day)
    if args.payments is not None and not 1 <= args.payments <= PAYMENTS_PER_DAY_MAX:
        raise ValueError(f"--payments must be between 1 and {PAYMENTS_PER_DAY_MAX:,}")
    if not 0 < args.prefund <= 10_000:
        raise ValueError("--prefund must be a percent between 0 (excluded) and 10000")
    from_s = float(seconds_of_day(args.from_time)) if args.from_time else 0.0
    until_s = float(seconds_of_day(args.until_time)) if args.until_time else float(SECONDS_PER_DAY)
    if from_s >= until_s:
        raise ValueError(f"--from {args.from_time} is not before --until {args.until_time or '24:00'}")
    return SimConfig(scenario, seed=args.seed, payments=args.payments, prefund_percent=args.prefund,
                     from_s=from_s, until_s=until_s)


def _positions(args: argparse.Namespace, config: SimConfig) -> list[int] | None:
    if args.sweep is None:
        return None
    if args.sweep == "scenario":
        return list(config.scenario.sim.sweep_positions)
    try:
        positions = [int(p) for p in args.sweep.split(",") if p.strip()]
    except ValueError:
        raise ValueError(f"--sweep {args.sweep!r}: give positions as whole percents, e.g. 0,50,100") from None
    if not positions or any(p < 0 or p > 1_000 for p in positions):
        raise ValueError("--sweep: each position between 0 (the lower bound) and 1000")
    return positions


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
        positions = _positions(args, config)
    except ValueError as exc:
        return _fail(str(exc))
    if args.workers < 1:
        return _fail("--workers must be at least 1")
    from participants.harness import default_run_dir

    out_dir = args.out or default_run_dir("simulate")
    if out_dir.exists() and any(out_dir.iterdir()):
        return _fail(f"{out_dir} is not empty: give a new directory with --out")
    with SimProgressDisplay(config, out_dir) as display:
        summary = simulate(config, out_dir, on_progress=display.update)
    print_summary(summary, out_dir)
    if positions and not summary.interrupted:
        _sweep(config, out_dir, positions, args.workers)
    if not args.no_report:
        from analytics.sim_report import write_sim_report

        make_console().print(f"report: {write_sim_report(out_dir)}")
    if args.json:
        print(json.dumps({"run_dir": str(out_dir), "journal_digest": summary.journal_digest,
                          "payments": summary.payments_offered, "wall_s": summary.wall_s,
                          "payments_per_wall_s": summary.payments_per_wall_s, "sim_to_real": summary.sim_to_real,
                          "peak_rss_mb": summary.peak_rss_mb, "interrupted": summary.interrupted}))
    return EXIT_INTERRUPTED if summary.interrupted else 0


def _sweep(config: SimConfig, out_dir: Path, positions: list[int], workers: int) -> None:
    from analytics.sim_analysis import analyse
    from rail.sim.sweep import run_sweep

    console = make_console()
    bounds = analyse(out_dir).demand
    console.print(f"what-if sweep: {len(positions)} reruns at positions {positions} between each bank's lower and "
                  f"upper bound, {min(workers, len(positions))} at a time")

    def done(point: rundir.SweepPoint) -> None:
        console.print(f"  position {point.position:>4}: {point.settled:,} settled, {point.am04:,} AM04, "
                      f"{point.delayed:,} delayed  ({out_dir / point.run_dir})")

    run_sweep(config, out_dir, bounds, positions, workers, on_point=done)


class SimProgressDisplay(LiveProgress):
    """Simulated time as a bar with the running counts: rich on a terminal, a line an hour otherwise."""

    def __init__(self, config: SimConfig, out_dir: Path) -> None:
        self.title = (f"{PROG}: {config.scenario.name}, {config.scenario.sim.day}, seed {config.seed}, "
                      f"{'~' + format(config.payments, ',') if config.payments else 'national volume'} payments "
                      f"-> {out_dir}")
        super().__init__(self.title)
        self._last_plain = -PLAIN_PROGRESS_EVERY_S

    def plain(self, p: Progress) -> str | None:
        if p.simulated_s - self._last_plain < PLAIN_PROGRESS_EVERY_S:
            return None
        self._last_plain = p.simulated_s
        return (f"  {_clock(p.simulated_s)} offered={p.offered:,} settled={p.settled:,} AM04={p.am04:,} "
                f"AB05={p.ab05:,} wall={p.wall_s:,.1f}s")

    def render(self, p: Progress | None) -> Group:
        table = Table(title=self.title, show_header=True, header_style="bold")
        for column in ("simulated time", "offered", "final", "settled", "AM04", "AB05", "wall", "x real time"):
            table.add_column(column, justify="right")
        if p is None:
            table.add_row("00:00:00", "0", "0", "0", "0", "0", "0.0 s", "-")
            done = 0.0
        else:
            speed = f"{p.simulated_s / p.wall_s:,.0f}" if p.wall_s > 0 else "-"
            table.add_row(_clock(p.simulated_s), f"{p.offered:,}", f"{p.final:,}", f"{p.settled:,}", f"{p.am04:,}",
                          f"{p.ab05:,}", f"{p.wall_s:,.1f} s", speed)
            done = min(p.simulated_s, SECONDS_PER_DAY)
        return Group(table, ProgressBar(total=SECONDS_PER_DAY, completed=done))


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def print_summary(s: rundir.SimSummary, out_dir: Path) -> None:
    console = make_console()
    table = Table(title=f"simulated day {s.day}: {s.scenario}, seed {s.seed}"
                        f"{' (INTERRUPTED)' if s.interrupted else ''}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    settled = s.counts_by_status.get("ACSC", 0)
    table.add_row("payments planned / final", f"{s.payments_offered:,} / {s.payments_final:,}")
    table.add_row("settled (ACSC)", f"{settled:,}")
    for reason, count in s.counts_by_reason.items():
        table.add_row(f"refused {reason}", f"{count:,}")
    table.add_row("delayed / held during an outage", f"{s.payments_delayed:,} / {s.payments_held:,}")
    table.add_row("journal", f"{s.journal_batches:,} batches, {s.journal_commands:,} commands, "
                             f"{s.journal_bytes / 1e6:,.1f} MB")
    table.add_row("wall time", f"{s.wall_s:,.1f} s ({s.payments_per_wall_s:,.0f} payments/s, "
                               f"{s.sim_to_real:,.0f}x real time)")
    table.add_row("peak memory", f"{s.peak_rss_mb:,.0f} MB")
    console.print(table)
    for note in s.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"journal digest: sha256:{s.journal_digest}", highlight=False)
    console.print(f"run directory: {out_dir}  (check it: rail replay {out_dir})", highlight=False)
