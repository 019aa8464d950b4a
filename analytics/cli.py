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
SUMMARY_WIDTH_PIPED = 120


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="report_command", metavar="REPORT", title="reports")
    p_costs = sub.add_parser(
        "costs",
        help="compare what a remittance into Pakistan costs over each channel (HTML, CSV, JSON)",
        description="Compare bank, MTO, RAAST and stablecoin channels per corridor from cited data; "
        "writes report.html, report.json and tables/*.csv, and prints a summary.",
    )
    p_costs.add_argument(
        "--corridor",
        action="append",
        metavar="SRC->PAK",
        help="corridor to report (repeatable), e.g. SAU->PAK; default: the FY2025 sources RPW covers",
    )
    p_costs.add_argument(
        "--amount",
        action="append",
        metavar="USD",
        help="ticket size in USD (repeatable); default 200 and 500 (the RPW baskets)",
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
        help="P2P USDT/PKR premium over interbank in percent (signed); default: the low end of ramps.csv",
    )
    p_costs.add_argument(
        "--shift-share",
        default="10",
        metavar="PCT",
        help="share of FY2025 flows moved to each alternative in the savings table (default 10)",
    )
    p_run = sub.add_parser(
        "run",
        help="report a load run: throughput, latency, outcomes, liquidity, remittance costs",
        description="Read a run directory written by `rail load --out` or `rail demo` and write an HTML report.",
    )
    p_run.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p_run.add_argument(
        "--out", type=Path, metavar="FILE", help="HTML file to write (default: RUN_DIR/report.html)"
    )
    p_run.add_argument("--data-dir", type=Path, metavar="DIR", help="cost data directory (as for `costs`)")


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
    from analytics import report  # imported here: `rail report run` need not load the cost report

    try:
        data = datasets.load(args.data_dir)
        corridors = args.corridor or report.default_corridors(data)
        amounts = [_decimal(a, "amount") for a in (args.amount or [])] or list(report.DEFAULT_AMOUNTS_USD)
        if len(corridors) > CORRIDORS_MAX or len(amounts) > AMOUNTS_MAX:
            return _fail(f"at most {CORRIDORS_MAX} corridors and {AMOUNTS_MAX} amounts per report")
        known = costs.available_corridors(data)
        unknown = [c for c in corridors if c not in known]
        if unknown:
            return _fail(f"no RPW data for corridor(s) {', '.join(unknown)}; available: {', '.join(known)}")
        for amount in amounts:
            if not costs.AMOUNT_USD_MIN <= amount <= costs.AMOUNT_USD_MAX:
                return _fail(f"amount {amount} USD is outside {costs.AMOUNT_USD_MIN}..{costs.AMOUNT_USD_MAX}")
        premium = _decimal(args.p2p_premium, "--p2p-premium") if args.p2p_premium is not None else None
        if premium is not None and abs(premium) > 50:
            return _fail(f"--p2p-premium {premium} is outside -50..50 percent")
        shift = _decimal(args.shift_share, "--shift-share")
        if not 0 <= shift <= 100:
            return _fail(f"--shift-share {shift} is outside 0..100 percent")
        assume = costs.Assumptions(p2p_premium_pct=premium)
        built = report.build_cost_report(data, corridors, amounts, assume, shift / 100)
        html_path = report.write_report(built, args.out)
    except datasets.DataError as exc:
        return _fail(f"data error: {exc}")
    except ValueError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc.strerror or exc}")
    _print_cost_summary(built, html_path)
    return 0


def _print_cost_summary(built, html_path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table_rows = next(t for t in built.tables() if t.name == "costs_by_channel").rows
    summary = Table(title="Remittance cost into Pakistan, % of amount (⚑ = UNVERIFIED/PROXY input)")
    for name, justify in (
        ("Corridor", "left"),
        ("USD", "right"),
        ("RPW avg", "right"),
        ("Bank", "right"),
        ("MTO", "right"),
        ("Best stablecoin", "left"),
        ("%", "right"),
        ("ex-P2P", "right"),
        ("Rebate $", "right"),
    ):
        summary.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    keys = sorted({(r["corridor"], r["amount_usd"]) for r in table_rows}, key=lambda k: (k[0], k[1]))
    for corridor, amount in keys:
        rows = [r for r in table_rows if r["corridor"] == corridor and r["amount_usd"] == amount]
        by_key = {r["channel_key"]: r for r in rows}
        crypto = min(
            (r for r in rows if r["family"] == costs.FAMILY_STABLECOIN), key=lambda r: r["total_pct"]
        )
        flag = " ⚑" if crypto["confidence"] == "low" else ""
        _, crypto_chain, crypto_onramp = crypto["channel_key"].split(":")
        crypto_channel = costs.Channel(
            crypto["channel_key"], "", costs.FAMILY_STABLECOIN, crypto_chain, crypto_onramp
        )
        summary.add_row(
            corridor,
            str(amount),
            str(by_key["rpw_average"]["total_pct"]) if "rpw_average" in by_key else "-",
            str(by_key["bank"]["total_pct"]) if "bank" in by_key else "-",
            str(by_key["mto"]["total_pct"]) if "mto" in by_key else "-",
            f"{crypto_channel.chain} / {crypto_channel.onramp}{flag}",
            str(crypto["total_pct"]),
            str(crypto["total_ex_p2p_premium_pct"]),
            f"{by_key['rpw_average']['subsidy_usd']:.2f}" if "rpw_average" in by_key else "-",
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=SUMMARY_WIDTH_PIPED)  # a pipe or log file: do not squeeze the table to 80
    console.print(summary)
    for finding in built.findings:
        console.print(f"• {finding}", highlight=False)
    console.print(
        f"report: {html_path}  (tables: {html_path.parent / 'tables'}, JSON: {html_path.with_suffix('.json')})"
    )


def _run_run(args: argparse.Namespace) -> int:
    from analytics import run_report

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
