"""`rail replay RUN_DIR`: re-apply a simulated day's journal and check every balance and outcome it recorded.

The journal is the rail's own (rail/settlement/journal.py): replay reads it the way a restarting rail does
(every batch through the same `apply_*` code, with the batch's own timestamp) and checks, in order:

1. the journal's bytes: every checksum and the chain (a damaged byte is named with its file and offset), and
   their SHA-256 against the digest simulation.json recorded;
2. every balance sample of balances.csv, after the batch it names: posted, available, and the lowest available
   and highest reservation since the previous sample (rail/sim/books.py computes them the same way, live and
   here);
3. every payment of payments.csv: a final status (ACSC, or RJCT with its reason), amount and agents that the
   replayed payment book holds; a payment never sent is not in it;
4. each bank's closing balance in liquidity.json, the counts in simulation.json, and conservation (settlement
   balances sum to the central bank's funding).

Any difference fails the replay, with the first differences spelled out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

from rail import rundir
from rail.scheme import default_scheme
from rail.settlement.core import replay_batch
from rail.settlement.journal import FileJournal, JournalError, inspect_journal
from rail.settlement.payments import Settlement
from rail.sim.books import BalanceSample, BankBooks, BookWatch
from rail.sim.journal import journal_digest
from rail.sim.scenario import day_start

DIFFERENCES_SHOWN = 20
FINAL_STATUSES = ("ACSC", "RJCT")


class ReplayError(Exception):
    """The run directory cannot be replayed at all (not a simulation, files missing, journal damaged)."""


class ReplayResult(msgspec.Struct):
    run_dir: str
    journal_digest: str
    digest_matches: bool
    batches: int
    commands: int
    samples_checked: int
    payments_checked: int
    differences: int
    shown: list[str]  # the first DIFFERENCES_SHOWN differences

    @property
    def ok(self) -> bool:
        return self.digest_matches and self.differences == 0


class _Differences:
    def __init__(self) -> None:
        self.count = 0
        self.shown: list[str] = []

    def add(self, text: str) -> None:
        self.count += 1
        if len(self.shown) < DIFFERENCES_SHOWN:
            self.shown.append(text)


def replay(run_dir: Path, on_batch: Callable[[int, int], None] | None = None) -> ReplayResult:
    """Replay and check `run_dir`; raises ReplayError when it cannot. `on_batch(seq, last_seq)`: progress."""
    run_dir = Path(run_dir)
    summary = _summary(run_dir)
    journal_dir = run_dir / rundir.JOURNAL_DIR
    report = inspect_journal(journal_dir)
    if report.damage is not None:
        d = report.damage
        raise ReplayError(f"the journal is damaged: {d.path.name} at byte {d.offset}: {d.detail} "
                          f"(batches 1-{report.last_good_seq} are intact)")
    if report.last_good_seq == 0:
        raise ReplayError(f"{journal_dir} holds no journal")
    digest, _size = journal_digest(journal_dir)
    differences = _Differences()
    settlement = Settlement(default_scheme())  # the genesis batch brings the run's own scheme
    bics = [b.bic for b in summary.banks]
    recorded = rundir.read_balances(run_dir)
    samples = [0]

    def check_sample(sample: BalanceSample) -> None:
        samples[0] += 1
        _check_sample(sample, next(recorded, None), differences)

    watch = BookWatch(BankBooks(settlement, bics), int(day_start(summary.day).timestamp()) * 10**9,
                      int(summary.events.get("sample_every_s", 60)), check_sample,
                      [b.prefund_paisa for b in summary.banks])
    batches, commands, last_ns = _apply_journal(journal_dir, settlement, watch, report.last_good_seq, on_batch)
    watch.sample(report.last_good_seq, last_ns)  # the end-of-day sample the run took after its last batch
    for row in recorded:
        differences.add(f"balances.csv: a sample after the journal's end (batch {row.batch_seq}, {row.bic})")
    payments = _check_payments(run_dir, settlement, summary, differences)
    _check_closing(run_dir, settlement, bics, differences)
    try:
        settlement.ledger.check_conservation()
    except AssertionError as exc:
        differences.add(f"conservation fails after replay: {exc}")
    return ReplayResult(
        run_dir=str(run_dir), journal_digest=digest, digest_matches=digest == summary.journal_digest,
        batches=batches, commands=commands, samples_checked=samples[0], payments_checked=payments,
        differences=differences.count, shown=differences.shown,
    )


def _summary(run_dir: Path) -> rundir.SimSummary:
    try:
        return rundir.read_sim_summary(run_dir)
    except FileNotFoundError:
        raise ReplayError(f"{run_dir} is not a simulated run (no {rundir.SIMULATION_JSON}: "
                          "`rail replay` checks what `rail simulate` wrote)") from None
    except msgspec.DecodeError as exc:
        raise ReplayError(f"{run_dir / rundir.SIMULATION_JSON} is not readable: {exc}") from None


def _apply_journal(journal_dir: Path, settlement: Settlement, watch: BookWatch, last_seq: int,
                   on_batch: Callable[[int, int], None] | None) -> tuple[int, int, int]:
    """Every batch through the state machine, the watch after each. Returns (batches, commands, last batch ns)."""
    try:
        journal = FileJournal.open(journal_dir, fsync=False)
    except JournalError as exc:
        raise ReplayError(f"cannot open the journal: {exc}") from None
    batches = commands = last_ns = 0
    try:
        for seq, records in journal.replay(0):
            commands += replay_batch(settlement, records)
            batches += 1
            last_ns = records[0]
            watch.after_batch(seq, records)
            if on_batch is not None and seq % 1024 == 0:
                on_batch(seq, last_seq)
    finally:
        journal.close()
    return batches, commands, last_ns


def _check_sample(got: BalanceSample, want: rundir.BalanceRow | None, differences: _Differences) -> None:
    if want is None:
        differences.add(f"balances.csv ends before the sample after batch {got.batch_seq} ({got.bic})")
        return
    for field in rundir.BALANCE_COLUMNS:
        if getattr(got, field) != getattr(want, field):
            differences.add(f"balances.csv, {want.bic} after batch {want.batch_seq}: {field} recorded "
                            f"{getattr(want, field)}, replay gives {getattr(got, field)}")
            return


def _check_payments(run_dir: Path, settlement: Settlement, summary: rundir.SimSummary,
                    differences: _Differences) -> int:
    book = settlement.payments
    counts: Counter[str] = Counter()
    checked = 0
    for row in _rows(run_dir):
        counts[row.final_status] += 1
        payment = book.get(row.uetr)
        checked += 1
        if row.final_status in FINAL_STATUSES:
            if payment is None:
                differences.add(f"payment {row.uetr}: recorded {row.final_status}, the journal never had it")
                continue
            want = (row.final_status, row.reason or None, row.amount_paisa, row.debtor_bic, row.creditor_bic)
            got = (payment.status, payment.reason, payment.amount_paisa, payment.debtor_agent,
                   payment.creditor_agent)
            if got != want:
                differences.add(f"payment {row.uetr}: recorded {_outcome(want)}, replay gives {_outcome(got)}")
        elif row.final_status == rundir.UNSENT and payment is not None:
            differences.add(f"payment {row.uetr}: recorded as never sent, the journal has it ({payment.status})")
        elif payment is not None and payment.status in FINAL_STATUSES:
            differences.add(f"payment {row.uetr}: recorded without a final status, replay gives {payment.status}")
    if dict(sorted(counts.items())) != summary.counts_by_status:
        differences.add(f"{rundir.SIMULATION_JSON} counts {summary.counts_by_status}, "
                        f"payments.csv holds {dict(sorted(counts.items()))}")
    return checked


def _rows(run_dir: Path) -> Iterator[rundir.PaymentRow]:
    try:
        yield from rundir.read_payments(run_dir)
    except (KeyError, ValueError) as exc:
        raise ReplayError(f"{run_dir / rundir.PAYMENTS_CSV} is not readable: {exc}") from None


def _outcome(t: tuple) -> str:
    status, reason, amount, debtor, creditor = t
    return f"{status}{' ' + reason if reason else ''} of {amount} paisa {debtor}->{creditor}"


def _check_closing(run_dir: Path, settlement: Settlement, bics: list[str], differences: _Differences) -> None:
    recorded = rundir.read_liquidity(run_dir)
    for bic, (posted, _reserved) in zip(bics, BankBooks(settlement, bics).balances(), strict=True):
        record = recorded.get(bic)
        if record is None or record.closing_balance_paisa != posted:
            want = None if record is None else record.closing_balance_paisa
            differences.add(f"liquidity.json: {bic} closing balance recorded {want}, replay gives {posted}")
