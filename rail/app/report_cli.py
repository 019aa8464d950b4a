"""`rail report`: the analytics reports (analytics/cli.py), with one thing only the application can do: when
`rail report costs` is given no corridor-lab run, it runs a small one of the default scenario first (a rail in
this process, simulated banks), so the cost report shows measured figures beside the survey's.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from analytics import cli as analytics_cli
from analytics import datasets
from analytics.corridor.scenario import load_scenario, with_remittances
from rail.app.corridor_cli import Stop, measure

SMALL_RUN_REMITTANCES = 400  # a few seconds: enough for the route medians, not for every corridor and band
LAB_DIR = "corridor-lab"


def configure(parser: argparse.ArgumentParser) -> None:
    costs = analytics_cli.configure(parser)
    costs.add_argument(
        "--corridor-remittances", type=int, default=SMALL_RUN_REMITTANCES, metavar="N",
        help="without --corridor-run: first run the corridor lab's default scenario with N remittances (into "
             f"OUT/{LAB_DIR}) and add its measured figures (default {SMALL_RUN_REMITTANCES}; 0: no lab run)",
    )


def run(args: argparse.Namespace) -> int:
    if args.report_command == "costs" and args.corridor_run is None and args.corridor_remittances > 0:
        code = small_lab_run(args)
        if code:
            return code
    return analytics_cli.run(args)


def small_lab_run(args: argparse.Namespace) -> int:
    """Run the default scenario small into OUT/corridor-lab and point the cost report at it."""
    stop = Stop()
    out = args.out / LAB_DIR
    try:
        scenario = with_remittances(load_scenario("default"), args.corridor_remittances)
        measure(scenario, 1, datasets.load(args.data_dir), out, stop)
    except (ValueError, datasets.DataError) as exc:
        print(f"rail report: corridor lab: {exc}", file=sys.stderr)
        return analytics_cli.EXIT_USAGE
    except asyncio.CancelledError:
        return stop.exit_code
    except OSError as exc:
        print(f"rail report: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return analytics_cli.EXIT_USAGE
    if stop.signal is not None:
        return stop.exit_code
    args.corridor_run = out
    return 0
