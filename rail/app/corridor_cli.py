"""`rail corridor`: the corridor lab. The same remittances over every route into Pakistan, the domestic legs
as real RAAST payments through a rail opened in this process; a run directory and its report.

Bad input (an unknown scenario, a malformed scenario or data file) gets one line on stderr and exit code 2.
Ctrl-C (or SIGTERM) stops sending and writes what was measured, marked interrupted (exit 130/143); a second
one stops at once. Exit 1 if the rail's books disagree with what the lab saw settle.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Self

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from analytics import datasets
from analytics.corridor.lab import LabProgress
from analytics.corridor.report import write_corridor_report
from analytics.corridor.runfile import write_run
from analytics.corridor.scenario import REMITTANCES_MAX, Scenario, load_scenario, shipped, with_remittances
from analytics.corridor.summary import Summary
from analytics.htmlkit.charts import fmt_duration
from participants.corridor_run import run_corridor_lab
from participants.harness import default_run_dir
from rail.terminal import console as make_console

PROG = "rail corridor"
EXIT_OK, EXIT_MISMATCH, EXIT_USAGE = 0, 1, 2
PLAIN_PROGRESS_EVERY_S = 5.0

DESCRIPTION = """\
The corridor lab: send the same remittance population over every route into Pakistan and measure what each
costs, how long it takes to credit, what fails and why, and the liquidity the instant routes need.

Routes: correspondent banking and money transfer operators (their foreign leg from RPW's per-service quotes of
the corridor), an instant cross-border link (Buna / a Nexus-style hop: an FX provider on RAAST pays out within
seconds), stablecoin (licensed on-ramp abroad, chain transfer, exchange or P2P off-ramp in Pakistan) and a
hypothetical Central Asia link. Every route's last step is a real RAAST payment through a rail opened in this
process: its outcome (ACSC/RJCT) and its measured settlement time are the lab's, not assumptions.

The population: corridors weighted by SBP's FY2025 flows, tickets from the load model, send times over the
scenario's simulated days (cut-offs and weekends count). Same seed, same results (but the measured RAAST time).
Writes run.json, remittances.csv, results.csv, liquidity.csv, inputs.csv, summary.json and report.html into
--out. More in docs/corridor.md.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--scenario", default="default", metavar="NAME|FILE",
                        help=f"a shipped scenario ({', '.join(shipped())}) or a TOML file of the same shape "
                             "(default: default)")
    parser.add_argument("--remittances", type=int, metavar="N",
                        help=f"population size, 1..{REMITTANCES_MAX} (default: the scenario's, 2,000 in default)")
    parser.add_argument("--seed", type=int, default=1, metavar="K", help="random seed (default 1)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="run directory to write (default: runs/corridor-<time>-<pid>)")
    parser.add_argument("--data-dir", type=Path, metavar="DIR",
                        help="read the cited CSVs from DIR instead of the packaged data (same names and columns)")


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return EXIT_USAGE


def prepare(args: argparse.Namespace) -> tuple[Scenario, datasets.Datasets]:
    """The scenario (with --remittances) and the data; ValueError / DataError say what is wrong."""
    scenario = load_scenario(args.scenario)
    if args.remittances is not None:
        if not 1 <= args.remittances <= REMITTANCES_MAX:
            raise ValueError(f"--remittances {args.remittances} is outside 1..{REMITTANCES_MAX}")
        scenario = with_remittances(scenario, args.remittances)
    return scenario, datasets.load(args.data_dir)


def run(args: argparse.Namespace) -> int:
    try:
        scenario, data = prepare(args)
    except datasets.DataError as exc:
        return _fail(f"data error: {exc}")
    except ValueError as exc:
        return _fail(str(exc))
    out_dir = args.out or default_run_dir("corridor")
    stop = Stop()
    try:
        summary, html = measure(scenario, args.seed, data, out_dir, stop)
    except asyncio.CancelledError:
        print(f"{PROG}: stopped at once: nothing written", file=sys.stderr)
        return stop.exit_code
    except OSError as exc:
        return _fail(f"cannot write {out_dir}: {exc.strerror or exc}")
    print_summary(summary, out_dir, html)
    if stop.signal is not None:
        print(f"{PROG}: interrupted by {stop.signal.name}: what was measured is in {out_dir}", file=sys.stderr)
        return stop.exit_code
    return EXIT_OK if summary.rail.balances_match else EXIT_MISMATCH


def measure(scenario: Scenario, seed: int, data: datasets.Datasets, out_dir: Path, stop: Stop) -> tuple[Summary, Path]:
    """Run the lab (progress on stderr; ``stop`` handles Ctrl-C), write the run directory and its report."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # uvloop is not built for every platform (Windows)
        runner = asyncio.run
    lab_run = runner(_main(scenario, seed, data, stop))
    summary = write_run(out_dir, lab_run)
    return summary, write_corridor_report(out_dir, summary)


async def _main(scenario: Scenario, seed: int, data: datasets.Datasets, stop: Stop):
    stop.install()
    with ProgressDisplay(scenario, seed) as display:
        return await run_corridor_lab(scenario, seed, data, display.update, stop.event)


class Stop:
    """The first Ctrl-C/SIGTERM ends the sending (what finished is written); a second cancels at once."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.signal: signal.Signals | None = None
        self._task: asyncio.Task | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        self.event = asyncio.Event()
        self._task = asyncio.current_task()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.signal is None:
            self.signal = sig
            print(f"\n{sig.name}: finishing the remittances in flight, then writing what was measured "
                  f"({sig.name} again stops at once)", file=sys.stderr, flush=True)
            self.event.set()
        elif self._task is not None:
            self._task.cancel()

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signal or signal.SIGINT)


class ProgressDisplay:
    """A progress bar on a terminal; a plain line every few seconds otherwise (CI logs)."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.console = make_console(stderr=True)
        self.title = (f"{PROG}: scenario {scenario.name}, {scenario.population.remittances:,} remittances x "
                      f"{len(scenario.routes)} route kinds, seed {seed}")
        self.bar: Progress | None = None
        self.task = None
        self._last_plain = 0.0

    def __enter__(self) -> Self:
        self.console.print(self.title, highlight=False)
        if self.console.is_terminal:
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=self.console)
            self.bar.__enter__()
            self.task = self.bar.add_task("remittance x route", total=None, detail="opening the rail")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def update(self, p: LabProgress) -> None:
        detail = f"credited {p.credited:,} failed {p.failed:,} not offered {p.not_offered:,} RAAST {p.raast_payments:,}"
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=p.done, total=p.total, detail=detail)
        elif time.monotonic() - self._last_plain >= PLAIN_PROGRESS_EVERY_S or p.done == p.total:
            self._last_plain = time.monotonic()
            self.console.print(f"  {p.done:,}/{p.total:,} remittance x route, {detail}, {p.elapsed_s:.1f} s",
                               highlight=False)


def print_summary(summary: Summary, out_dir: Path, html: Path) -> None:
    table = Table(title=f"Corridor lab, scenario {summary.scenario}: all corridors and amounts")
    for name in ("Route", "Offered", "Credited", "Failed", "Median cost %", "Cost % @USD 200", "Median time",
                 "Within 1 h %"):
        table.add_column(name, justify="left" if name == "Route" else "right", no_wrap=True)
    for c in (c for c in summary.by_route if c.band == "all"):
        at_200 = next((x for x in summary.by_route if x.route == c.route and x.band == "200"), None)
        cost_200 = at_200.cost_pct.p50 if at_200 and at_200.cost_pct else None
        table.add_row(c.route, f"{c.offered:,}", f"{c.credited:,}", f"{c.failed:,}",
                      _pct(c.cost_pct.p50 if c.cost_pct else None), _pct(cost_200),
                      _duration(c.time_s.p50 if c.time_s else None),
                      "-" if c.within_hour_pct is None else f"{c.within_hour_pct:.1f}")
    console = make_console()
    console.print(table)
    rail = summary.rail
    console.print(f"RAAST: {rail.settled:,} settled, {rail.rejected:,} rejected through the rail; conservation "
                  f"{'held' if rail.conserved else 'FAILED'}; balances {'match' if rail.balances_match else 'DO NOT match'}",
                  highlight=False)
    console.print(f"run: {out_dir}  report: {html}", highlight=False)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else fmt_duration(seconds)
