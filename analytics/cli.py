"""`rail report`: the remittance cost comparison (`costs`) and the load-run report (`run`).

Bad input (an unknown corridor, an amount out of range, a malformed data file, a missing run directory)
gets a one-line answer on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from analytics import costs, datasets

DEFAULT_COSTS_OUT = Path("rail-report-costs")
CORRIDORS_MAX = 40
AMOUNTS_MAX = 12
EXIT_USAGE = 2


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `report` subcommands to ``parser``; returns the `costs` parser (the application adds to it)."""
    sub = parser.add_subparsers(dest="report_command", metavar="REPORT", title="reports")
    p_costs = sub.add_parser(
        "costs",
        help="compare what a remittance into Pakistan costs over each channel (HTML, CSV, JSON)",
        description="Compare formal services (World Bank RPW, service by service) with stablecoin routes behind a "
        "licensed on-ramp, like for like: best vs best, typical vs typical, no P2P premium. Adds the SDG/G20 "
        "scorecard, time to funds, FY2025 flows and the PRI rebate, and the P2P premium as a separate scenario. "
        "Writes report.html, report.json and tables/*.csv, and prints a summary. Quote corridors in the shell: "
        "--corridor 'SAU->PAK'.",
    )
    p_costs.add_argument(
        "--corridor",
        action="append",
        metavar="SRC->PAK",
        help="corridor to report (repeatable), quoted: --corridor 'SAU->PAK'; 'GCC->PAK' stands for Kuwait, "
        "Qatar, Oman and Bahrain; default: the FY2025 sources RPW covers",
    )
    p_costs.add_argument(
        "--amount",
        action="append",
        metavar="USD",
        help="ticket size in USD (repeatable); default 200 and 500, the RPW baskets (formal services are "
        "quoted at those two amounts only)",
    )
    p_costs.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_COSTS_OUT,
        metavar="DIR",
        help=f"output directory (default: {DEFAULT_COSTS_OUT})",
    )
    p_costs.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="read the CSVs from DIR instead of the packaged data (same file names and columns)",
    )
    p_costs.add_argument(
        "--p2p-premium",
        metavar="PCT",
        help="a P2P USDT/PKR premium over inter-bank, in percent, to add to the premium scenario (never to "
        "the headline); the scenario always shows the cited evidence",
    )
    p_costs.add_argument(
        "--shift-share",
        default="10",
        metavar="PCT",
        help="share of FY2025 flows (corridors with a licensed on-ramp) moved to P2P in the premium "
        "scenario's market-depth table (default 10)",
    )
    p_costs.add_argument(
        "--corridor-run",
        type=Path,
        metavar="DIR",
        help="a `rail corridor` run directory: its measured figures get their own section (docs/corridor.md)",
    )
    p_run = sub.add_parser(
        "run",
        help="report a load run: throughput, latency, outcomes, liquidity, remittance costs",
        description="Read a run directory written by `rail load --out`, `rail demo` or `rail simulate` and write an "
        "HTML report.",
    )
    p_run.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p_run.add_argument(
        "--out", type=Path, metavar="FILE", help="HTML file to write (default: RUN_DIR/report.html)"
    )
    p_run.add_argument("--data-dir", type=Path, metavar="DIR", help="cost data directory (as for `costs`)")
    return p_costs


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{what} {text!r} is not a finite number")
    return value


def _fail(message: str) -> int:
    print(f"rail report: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    if args.report_command == "costs":
        return _run_costs(args)
    if args.report_command == "run":
        return _run_run(args)
    print("usage: rail report {costs,run} ... (see rail report --help)", file=sys.stderr)
    return EXIT_USAGE


def _run_costs(args: argparse.Namespace) -> int:
    from analytics import cost_report  # imported here: `rail report run` need not load the cost report
    from analytics.corridor import runfile as corridor_runfile

    try:
        data = datasets.load(args.data_dir)
        corridors = args.corridor or cost_report.default_corridors(data)
        amounts = [_decimal(a, "amount") for a in (args.amount or [])] or list(cost_report.DEFAULT_AMOUNTS_USD)
        if len(corridors) > CORRIDORS_MAX or len(amounts) > AMOUNTS_MAX:
            return _fail(f"at most {CORRIDORS_MAX} corridors and {AMOUNTS_MAX} amounts per report")
        known = costs.available_corridors(data)
        unknown = [c for c in corridors if c not in known]
        if unknown:
            hint = " (quote it: --corridor 'SAU->PAK')" if any("->" not in c for c in unknown) else ""
            return _fail(f"no RPW data for corridor(s) {', '.join(unknown)}{hint}; available: {', '.join(known)}")
        for amount in amounts:
            if not costs.AMOUNT_USD_MIN <= amount <= costs.AMOUNT_USD_MAX:
                return _fail(f"amount {amount} USD is outside {costs.AMOUNT_USD_MIN}..{costs.AMOUNT_USD_MAX}")
        premium = _decimal(args.p2p_premium, "--p2p-premium") if args.p2p_premium is not None else None
        if premium is not None and abs(premium) > 50:
            return _fail(f"--p2p-premium {premium} is outside -50..50 percent")
        shift = _decimal(args.shift_share, "--shift-share")
        if not 0 <= shift <= 100:
            return _fail(f"--shift-share {shift} is outside 0..100 percent")
        lab = corridor_runfile.load_summary(args.corridor_run) if args.corridor_run else None
        built = cost_report.build_cost_report(data, corridors, amounts, premium, shift / 100, lab,
                                              str(args.corridor_run or ""))
        html_path = cost_report.write_report(built, args.out)
    except datasets.DataError as exc:
        return _fail(f"data error: {exc}")
    except corridor_runfile.CorridorRunError as exc:
        return _fail(str(exc))
    except ValueError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc.strerror or exc}")
    _print_cost_summary(built, html_path)
    return 0


def _print_cost_summary(built, html_path: Path) -> None:
    from rich.table import Table

    from rail import terminal

    rows = next(t for t in built.tables() if t.name == "like_for_like").rows
    summary = Table(title="Remittances into Pakistan, like for like, % of amount (no P2P premium)")
    for name, justify in (
        ("Corridor", "left"),
        ("USD", "right"),
        ("Formal pool", "left"),
        ("Best", "right"),
        ("Median", "right"),
        ("RPW avg", "right"),
        ("Chains", "right"),
        ("Route best", "right"),
        ("Route median", "right"),
        ("On-ramp / why none", "left"),
    ):
        summary.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for r in rows:
        cells = [r[k] for k in ("corridor", "amount_usd", "formal_pool", "formal_best_pct", "formal_typical_pct",
                                "rpw_average_pct", "route_n", "route_best_pct", "route_typical_pct", "route_note")]
        summary.add_row(*("-" if v is None else str(v) for v in cells))
    console = terminal.console()  # a pipe or log file: lines whole, not squeezed to 80 columns
    console.print(summary)
    for finding in built.findings:
        console.print(f"• {finding}", highlight=False)
    console.print(
        f"report: {html_path}  (tables: {html_path.parent / 'tables'}, JSON: {html_path.with_suffix('.json')})"
    )


def _run_run(args: argparse.Namespace) -> int:
    from analytics import run_report, sim_report

    if sim_report.is_sim_run(args.run_dir):  # a simulated day (rail simulate): its own report
        try:
            print(f"report: {sim_report.write_sim_report(args.run_dir, args.out)}")
        except OSError as exc:
            return _fail(f"cannot write the report: {exc.strerror or exc}")
        return 0
    try:
        html_path = run_report.write_run_report(args.run_dir, args.out, args.data_dir)
    except run_report.RunDirError as exc:
        return _fail(str(exc))
    except datasets.DataError as exc:
        return _fail(f"data error: {exc}")
    except OSError as exc:
        return _fail(f"cannot write the report: {exc.strerror or exc}")
    print(f"report: {html_path}")
    return 0
