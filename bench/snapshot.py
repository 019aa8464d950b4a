"""Benchmark: what a periodic snapshot costs the settlement core, with millions of payments retained.

    python bench/snapshot.py                          # 500,000 and 2,000,000 payments, 3 rounds each
    python bench/snapshot.py --payments 1000000 --rounds 1

The state: the rail's own books (rail.settlement.payments.Settlement) whose payment book holds N final payments,
each a copy of one real settled payment (its history, ids and IBANs as the state machine records them) under its
own UETR and TxId, packed as the book packs them (~0.7 KB a payment with its indexes); a real FileJournal with
fsync on. Two ways to snapshot it, in the same run:

- baseline, the design before: the state encoded on the event loop, then written on the journal's thread while
  the core waited for the write (`encode(settlement_to_state(s))`, `await journal.snapshot_async(...)`);
- now: `journal.start_snapshot` (rail/settlement/snapshot_child.py), a forked child encodes and writes it.

Figures per way: how long the core could not apply a batch (baseline: encode + write; now: until
start_snapshot returns), the longest stall of the event loop (a 1 ms ticker's largest gap: what every HTTP
request waits), and the time until the snapshot is durable. Ratio: baseline stall / stall now. Prints a table,
then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec  # noqa: E402
from rich.table import Table  # noqa: E402

from rail.scheme import default_scheme  # noqa: E402
from rail.settlement import payment_book  # noqa: E402
from rail.settlement.journal import FileJournal  # noqa: E402
from rail.settlement.payment_records import SETTLED, Payment  # noqa: E402
from rail.settlement.payments import Settlement, settlement_to_state  # noqa: E402
from rail.terminal import console as make_console  # noqa: E402

_ENCODER = msgspec.msgpack.Encoder()
TICK_S = 0.001
NS = 1_758_085_201_000_000_000  # a day's instant, as the sample payment's clock read it


def sample_payment() -> Payment:
    """One settled payment as the state machine records it (its fields as a simulated day's are)."""
    return Payment(
        uetr=str(uuid.UUID(int=1)), tx_id="ALFHPKKA000000000000004", msg_id="ALFHPKKA000000000000004",
        end_to_end_id="ALFHPKKA000000000000004", instructing_agent="ALFHPKKA", debtor_agent="ALFHPKKA",
        creditor_agent="ABPAPKKA", amount_paisa=501_500, debtor_iban="PK21ALFH0006000000405004",
        creditor_iban="PK96ABPA0004000000505005", message=b"", rendering="json", transfer_id=63, status=SETTLED,
        reason=None, reason_text=None, received_ns=NS, accepted_ns=NS, deadline_ns=NS + 10**10,
        final_ns=NS + 10**9, creditor_status="ACSP",
        history=[(NS, "received", "pacs.008"), (NS, "reserved", "501500"), (NS + 10**9, "creditor ACSP", ""),
                 (NS + 10**9, "settled", "")],
    )


def fill(settlement: Settlement, n: int) -> None:
    """`n` final payments in the book, each with its own UETR and TxId, packed and indexed as the book does."""
    book, template = settlement.payments, sample_payment()
    for i in range(n):
        uetr = str(uuid.UUID(int=i + 1))
        tx_id = f"ALFHPKKA{i:015d}"
        payment = msgspec.structs.replace(template, uetr=uetr, tx_id=tx_id, msg_id=tx_id, end_to_end_id=tx_id)
        book.final[uetr] = payment_book._packed(payment)
        book.by_tx[payment_book.tx_key(payment.instructing_agent, tx_id)] = uetr
        book.arrivals.add(uetr, NS + i, payment.debtor_agent, payment.creditor_agent)


class Ticker:
    """The event loop's largest gap between two 1 ms ticks while it runs."""

    def __init__(self) -> None:
        self.max_gap_s = 0.0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            self.max_gap_s = max(self.max_gap_s, now - last)
            last = now

    async def stop(self) -> float:
        await asyncio.sleep(0.05)  # a last tick after the work
        self._task.cancel()
        return self.max_gap_s


async def one_snapshot(settlement: Settlement, journal: FileJournal, seq: int, background: bool) -> dict:
    await asyncio.sleep(0.05)
    ticker = Ticker()
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    if background:
        written = journal.start_snapshot(lambda: _ENCODER.encode(settlement_to_state(settlement)), seq)
        core_blocked = time.perf_counter() - started
        await written
    else:
        state = _ENCODER.encode(settlement_to_state(settlement))
        await journal.snapshot_async(state, seq)
        core_blocked = time.perf_counter() - started
    durable = time.perf_counter() - started
    return {"core_blocked_s": core_blocked, "loop_stall_s": await ticker.stop(), "durable_s": durable,
            "bytes": (journal.directory / f"snapshot-{seq:020d}.snap").stat().st_size}


async def measure(n: int, rounds: int) -> dict:
    settlement = Settlement(default_scheme())
    fill(settlement, n)
    results: dict[str, list[dict]] = {"baseline": [], "background": []}
    with tempfile.TemporaryDirectory(prefix="rail-snapshot-bench-") as directory:
        journal = FileJournal.open(Path(directory), fsync=True)
        try:
            for _ in range(rounds):
                for way in ("baseline", "background"):  # alternated: the machine's drift hits both alike
                    seq = await journal.append([NS, b"\x90"])  # a batch for the snapshot to cover
                    results[way].append(await one_snapshot(settlement, journal, seq, way == "background"))
        finally:
            journal.close()
    return {way: {key: statistics.median(r[key] for r in rows) for key in rows[0]} for way, rows in results.items()}


def table(figures: dict[int, dict]) -> Table:
    out = Table(title="a snapshot with N payments retained (medians)")
    for column in ("payments", "way", "core blocked", "event-loop stall", "durable after", "snapshot"):
        out.add_column(column, justify="right")
    for n, ways in figures.items():
        for way, f in ways.items():
            out.add_row(f"{n:,}", way, f"{f['core_blocked_s'] * 1000:,.1f} ms", f"{f['loop_stall_s'] * 1000:,.1f} ms",
                        f"{f['durable_s']:.2f} s", f"{f['bytes'] / 2**20:,.0f} MiB")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", default="500000,2000000", help="retained payments, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="snapshots of each way per size (medians)")
    args = parser.parse_args()
    sizes = [int(x) for x in args.payments.split(",")]
    figures = {n: asyncio.run(measure(n, args.rounds)) for n in sizes}
    make_console().print(table(figures))
    summary = {
        "sizes": {
            str(n): {**ways, "stall_ratio_baseline_over_background":
                     round(ways["baseline"]["loop_stall_s"] / max(ways["background"]["loop_stall_s"], 1e-9), 1)}
            for n, ways in figures.items()
        },
        "rounds": args.rounds,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
