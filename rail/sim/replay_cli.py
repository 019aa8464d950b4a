"""`rail replay RUN_DIR`: re-apply a simulated day's journal and check every balance and outcome it recorded.

Exit status: 0 everything matches; 1 something differs (the first differences are printed); 2 the run
directory cannot be replayed (not a simulated run, a file missing or unreadable, the journal damaged).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.table import Table

from rail.sim.replay import ReplayError, ReplayResult, replay
from rail.terminal import console as make_console

PROG = "rail replay"
EXIT_DIFFERS = 1
EXIT_CANNOT = 2


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Re-apply the journal of a simulated day (`rail simulate`) through the settlement core's state machine and "
        "check it against what the run recorded: the journal's checksums and digest, every balance sample "
        "(balances.csv), every payment's final status and reason (payments.csv), the closing balances "
        "(liquidity.json), the counts (simulation.json) and conservation. Exit status: 0 all match, 1 something "
        "differs (the first differences are printed), 2 the run directory cannot be replayed."
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory written by rail simulate")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")


def run(args: argparse.Namespace) -> int:
    console = make_console(stderr=True)
    last = [0]

    def progress(seq: int, last_seq: int) -> None:
        if seq - last[0] >= max(last_seq // 10, 1):
            last[0] = seq
            console.print(f"  replayed batch {seq:,} of {last_seq:,}", highlight=False)

    try:
        result = replay(args.run_dir, on_batch=progress)
    except ReplayError as exc:
        print(f"{PROG}: FAILED: {exc}", file=sys.stderr)
        return EXIT_CANNOT
    _print(result)
    if args.json:
        print(json.dumps({"ok": result.ok, "digest_matches": result.digest_matches,
                          "journal_digest": result.journal_digest, "batches": result.batches,
                          "commands": result.commands, "samples_checked": result.samples_checked,
                          "payments_checked": result.payments_checked, "differences": result.differences}))
    return 0 if result.ok else EXIT_DIFFERS


def _print(r: ReplayResult) -> None:
    console = make_console()
    table = Table(title=f"replay of {r.run_dir}: {'OK' if r.ok else 'DIFFERS'}")
    table.add_column("check")
    table.add_column("result", justify="right")
    table.add_row("journal digest", f"sha256:{r.journal_digest} "
                                    f"{'matches' if r.digest_matches else 'DIFFERS from simulation.json'}")
    table.add_row("batches / commands re-applied", f"{r.batches:,} / {r.commands:,}")
    table.add_row("balance samples checked", f"{r.samples_checked:,}")
    table.add_row("payments checked", f"{r.payments_checked:,}")
    table.add_row("differences", f"{r.differences:,}")
    console.print(table)
    for line in r.shown:
        console.print(f"differs: {line}", highlight=False)
    if r.differences > len(r.shown):
        console.print(f"... and {r.differences - len(r.shown):,} more", highlight=False)
