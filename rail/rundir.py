"""The run directory: what `rail load --out DIR` and `rail demo` leave behind, and what
`rail report run DIR` reads.

Layout (schema version ``RUNDIR_SCHEMA_VERSION``; a reader should refuse a higher major version):

``run.json``
    One :class:`RunSummary` (JSON object); ``latency_ms`` holds one :class:`LatencyStats` per stage
    (``submit_to_actc``, ``end_to_end``), steady-state window only, like the rates. Counts
    (``payments_offered``, ``counts_by_status``, ``timeouts``, the reconciliation) are over ``counts_base``:
    the whole run (runs written before it was recorded counted statuses after the warm-up only).
    ``interrupted``: the run was stopped early (Ctrl-C, SIGTERM) at ``interrupted_at_s``; everything in the
    directory covers what was offered until then. Times are UTC ISO 8601 strings; rates are per second;
    latencies are milliseconds (floats, HDR histogram resolution); money is integer paisa.
``timeseries.csv``
    One row per second of the run (:data:`TIMESERIES_COLUMNS`): ``t_s`` (seconds since the first
    intended send), ``offered`` (payments whose intended send time fell in that second), ``sent``
    (actually handed to the rail), ``acsc``, ``rjct``, ``timeouts`` (final outcome known in that second),
    ``late`` (sent more than ``LATE_SEND_MS`` after the intended time: the harness's saturation signal),
    ``p50_ms``, ``p99_ms`` (end-to-end latency of payments that reached a final status in that second,
    empty when none did).
``payments.csv``
    One row per payment (:data:`PAYMENT_COLUMNS`): ``uetr``, ``kind`` (remittance | p2p | merchant),
    ``corridor`` (``SAU->PAK``..., or ``PAK domestic``), ``debtor_bic``, ``creditor_bic``,
    ``amount_paisa`` (int), ``intended_at_ms`` (ms since the first intended send), ``final_status``
    (ACSC | RJCT | TIMEOUT | UNSENT), ``reason`` (ISO reason code for RJCT, empty otherwise),
    ``latency_ms`` (intended send -> final status; empty when no final status was seen).
``liquidity.json``
    Object ``{"banks": {BIC: LiquidityRecord, ...}}`` per simulated bank: opening settlement balance,
    top-ups (count and paisa), minimum and closing settlement balance, gross sent/received paisa.
``metrics.prom``
    Text scrape of the rail's ``/metrics`` at the end of the run, when reachable (absent otherwise).
``journal/``
    (``rail demo`` only) the rail's data directory: journal and snapshots of the run.

Everything is written with :func:`write_run_dir` and read back with :func:`read_run_summary`,
:func:`read_liquidity`, :func:`read_payments` and :func:`read_timeseries`.

A **simulated day** (``rail simulate``, rail/sim/) writes a run directory of its own kind: ``simulation.json``
(one :class:`SimSummary` instead of run.json), ``payments.csv`` and ``liquidity.json`` as above (times in
payments.csv are milliseconds since midnight PKT of the simulated day; ``final_status`` UNSENT: never offered,
its bank was down), ``balances.csv`` (:data:`BALANCE_COLUMNS`: each bank's settlement account per sampling
instant, after the journal batch ``batch_seq``), ``journal/`` (every segment from the genesis, no snapshot:
the digest covers them), ``sweep.json`` (:class:`SweepFile`, what-if reruns, each in ``sweep/<position>/``).
Read back with :func:`read_sim_summary`, :func:`read_balances` and :func:`read_sweep`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

RUNDIR_SCHEMA_VERSION = "1.0"

RUN_JSON = "run.json"
TIMESERIES_CSV = "timeseries.csv"
PAYMENTS_CSV = "payments.csv"
LIQUIDITY_JSON = "liquidity.json"
METRICS_PROM = "metrics.prom"
JOURNAL_DIR = "journal"
SIMULATION_JSON = "simulation.json"
BALANCES_CSV = "balances.csv"
SWEEP_JSON = "sweep.json"
SWEEP_DIR = "sweep"
SIM_SCHEMA_VERSION = "1.0"

TIMESERIES_COLUMNS = ("t_s", "offered", "sent", "acsc", "rjct", "timeouts", "late", "p50_ms", "p99_ms")
PAYMENT_COLUMNS = (
    "uetr",
    "kind",
    "corridor",
    "debtor_bic",
    "creditor_bic",
    "amount_paisa",
    "intended_at_ms",
    "final_status",
    "reason",
    "latency_ms",
)

# Keys of RunSummary.latency_ms. Both are measured from the payment's INTENDED send time (open-loop:
# no coordinated omission): to the rail's synchronous answer (202 + pacs.002 ACTC, or an immediate RJCT),
# and to the final pacs.002 (ACSC or RJCT) received by the debtor agent.
STAGE_SUBMIT_ACTC = "submit_to_actc"
STAGE_END_TO_END = "end_to_end"

# What RunSummary's counts are counted over (rates and latency percentiles: always the steady window).
COUNTS_WHOLE_RUN = "whole run"
COUNTS_AFTER_WARMUP = "after warm-up"  # runs written before counts_base was recorded

# Final statuses a payment can end a run with. TIMEOUT: the harness saw no final pacs.002 within its
# own deadline (distinct from a rail RJCT AB05, which is counted as RJCT with reason AB05).
FINAL_STATUSES = ("ACSC", "RJCT", "TIMEOUT", "UNSENT")
UNSENT = "UNSENT"
TIMEOUT = "TIMEOUT"
BALANCE_COLUMNS = (
    "t_s",
    "batch_seq",
    "bic",
    "posted_paisa",
    "available_paisa",
    "min_available_paisa",
    "max_reserved_paisa",
    "funded_paisa",
)


class LatencyStats(msgspec.Struct, frozen=True):
    """Percentiles of one latency stage in milliseconds (HDR histogram, 3 significant digits)."""

    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float


class SteadyWindow(msgspec.Struct, frozen=True):
    """The window the headline figures are computed over, in seconds since the first intended send.

    Payments intended before ``start_s`` (warm-up) or after ``end_s`` (drain) are excluded from
    latency percentiles and rates, as Mojaloop's performance method trims its runs."""

    start_s: float
    end_s: float


class Reconciliation(msgspec.Struct, frozen=True):
    """End-of-run check that what the harness saw matches the rail and the banks' own books.

    ``ok`` is true only when every payment seen ACSC is both settled at the rail (the per-bank net
    movement of the rail's settlement balances equals the harness's ACSC flows plus the treasury
    top-ups) and credited in the creditor bank's core-banking books, the rail conserves money, and
    nothing was lost (every sent payment reached a final status or a counted timeout)."""

    ok: bool
    acsc_payments: int
    acsc_amount_paisa: int
    credited_in_books: int
    rail_conserved: bool | None
    rail_checked: bool
    mismatches: list[str] = msgspec.field(default_factory=list)


class RunSummary(msgspec.Struct):
    """Contents of run.json."""

    schema_version: str
    tool_version: str
    started_at: str
    target: str
    seed: int
    scenario: str
    banks: list[str]
    offered_rate_per_s: float
    achieved_rate_per_s: float
    duration_s: float
    warmup_s: float
    steady_state: SteadyWindow
    payments_offered: int
    payments_sent: int
    counts_by_status: dict[str, int]
    counts_by_reason: dict[str, int]
    timeouts: int
    late_sends: int
    latency_ms: dict[str, LatencyStats]
    reconciliation: Reconciliation
    rail_gaps: list[dict[str, float]] = msgspec.field(default_factory=list)
    transport: str = "http"
    rendering: str = "xml"
    notes: list[str] = msgspec.field(default_factory=list)
    counts_base: str = COUNTS_AFTER_WARMUP
    interrupted: bool = False
    interrupted_at_s: float | None = None


class LiquidityRecord(msgspec.Struct, frozen=True):
    """One simulated bank's treasury over the run (all paisa)."""

    opening_balance_paisa: int
    topups_count: int
    topups_paisa: int
    min_balance_paisa: int
    closing_balance_paisa: int
    gross_sent_paisa: int
    gross_received_paisa: int


class LiquidityFile(msgspec.Struct):
    banks: dict[str, LiquidityRecord]


class PaymentRow(msgspec.Struct, frozen=True):
    uetr: str
    kind: str
    corridor: str
    debtor_bic: str
    creditor_bic: str
    amount_paisa: int
    intended_at_ms: int
    final_status: str
    reason: str
    latency_ms: float | None


class TimeseriesRow(msgspec.Struct, frozen=True):
    t_s: int
    offered: int
    sent: int
    acsc: int
    rjct: int
    timeouts: int
    late: int
    p50_ms: float | None
    p99_ms: float | None


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _write_csv(path: Path, columns: tuple[str, ...], rows: Iterable[msgspec.Struct]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(getattr(row, name)) for name in columns])


def write_run_dir(
    out_dir: Path,
    summary: RunSummary,
    payments: Iterable[PaymentRow],
    timeseries: Iterable[TimeseriesRow],
    liquidity: dict[str, LiquidityRecord],
    metrics_text: str | None = None,
) -> Path:
    """Write every file of a run directory (creating it); returns the directory."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RUN_JSON).write_bytes(msgspec.json.format(msgspec.json.encode(summary), indent=2))
    _write_csv(out_dir / PAYMENTS_CSV, PAYMENT_COLUMNS, payments)
    _write_csv(out_dir / TIMESERIES_CSV, TIMESERIES_COLUMNS, timeseries)
    write_liquidity(out_dir, liquidity)
    if metrics_text is not None:
        (out_dir / METRICS_PROM).write_text(metrics_text, encoding="utf-8")
    return out_dir


def write_liquidity(out_dir: Path, liquidity: dict[str, LiquidityRecord]) -> None:
    (Path(out_dir) / LIQUIDITY_JSON).write_bytes(
        msgspec.json.format(msgspec.json.encode(LiquidityFile(banks=dict(sorted(liquidity.items())))), indent=2)
    )


def read_run_summary(run_dir: Path) -> RunSummary:
    return msgspec.json.decode((Path(run_dir) / RUN_JSON).read_bytes(), type=RunSummary)


def read_liquidity(run_dir: Path) -> dict[str, LiquidityRecord]:
    return msgspec.json.decode((Path(run_dir) / LIQUIDITY_JSON).read_bytes(), type=LiquidityFile).banks


def _optional_float(text: str) -> float | None:
    return float(text) if text else None


def read_payments(run_dir: Path) -> Iterator[PaymentRow]:
    with (Path(run_dir) / PAYMENTS_CSV).open(newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            yield PaymentRow(
                uetr=rec["uetr"],
                kind=rec["kind"],
                corridor=rec["corridor"],
                debtor_bic=rec["debtor_bic"],
                creditor_bic=rec["creditor_bic"],
                amount_paisa=int(rec["amount_paisa"]),
                intended_at_ms=int(rec["intended_at_ms"]),
                final_status=rec["final_status"],
                reason=rec["reason"],
                latency_ms=_optional_float(rec["latency_ms"]),
            )


def read_timeseries(run_dir: Path) -> Iterator[TimeseriesRow]:
    with (Path(run_dir) / TIMESERIES_CSV).open(newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            yield TimeseriesRow(
                t_s=int(rec["t_s"]),
                offered=int(rec["offered"]),
                sent=int(rec["sent"]),
                acsc=int(rec["acsc"]),
                rjct=int(rec["rjct"]),
                timeouts=int(rec["timeouts"]),
                late=int(rec["late"]),
                p50_ms=_optional_float(rec["p50_ms"]),
                p99_ms=_optional_float(rec["p99_ms"]),
            )


# ---- a simulated day (rail simulate) ---------------------------------------------------------------------------


class SimBank(msgspec.Struct, frozen=True):
    bic: str
    name: str
    size_share: float  # its share of domestic payments (as debtor and as creditor)
    prefund_paisa: int  # opening settlement balance


class SimSummary(msgspec.Struct):
    """Contents of simulation.json. Wall-clock figures (started_at, wall_s and what derives from it, peak memory)
    describe the machine's run; everything else is a function of the scenario and seed."""

    schema_version: str
    tool_version: str
    scenario: str
    scenario_file: str
    description: str
    seed: int
    day: str
    tick_ms: int
    payments_requested: int | None  # --payments; None: the scenario's day volume
    prefund_percent: float
    scripted_topups: bool  # False: the scenario's scheduled top-ups were left out (a what-if rerun)
    banks: list[SimBank]
    events: dict  # the scenario's [sim] table (outages, slow creditors, top-ups...)
    dns_cycles_per_day: list[int]
    delayed_after_s: float
    payments_offered: int
    payments_final: int
    counts_by_status: dict[str, int]
    counts_by_reason: dict[str, int]
    payments_delayed: int
    payments_held: int
    journal_digest: str  # SHA-256 of the journal's segments in sequence order
    journal_bytes: int
    journal_batches: int
    journal_commands: int
    simulated_s: float
    started_at: str
    wall_s: float
    payments_per_wall_s: float
    offering_wall_s: float  # wall time from the first payment offered (no set-up, no plan skipped before --from)
    sim_to_real: float  # simulated seconds per wall-clock second
    peak_rss_mb: float
    interrupted: bool = False
    notes: list[str] = msgspec.field(default_factory=list)


class BalanceRow(msgspec.Struct, frozen=True):
    t_s: int
    batch_seq: int
    bic: str
    posted_paisa: int
    available_paisa: int
    min_available_paisa: int
    max_reserved_paisa: int
    funded_paisa: int  # opening balance + the central bank's top-ups so far


class SweepPoint(msgspec.Struct, frozen=True):
    """One what-if rerun: the same scenario and seed, every bank opening with `position` percent of the way from
    its lower (0) to its upper (100) bound of liquidity, and no scheduled top-ups."""

    position: int
    run_dir: str  # relative to the main run directory
    prefund_paisa: dict[str, int]
    planned: int
    settled: int
    settled_paisa: int
    am04: int
    ab05: int
    delayed: int
    lowest_available_paisa: dict[str, int]
    journal_digest: str


class SweepFile(msgspec.Struct):
    """sweep.json: the what-if reruns, and the bounds (of the main run's demand) their levels come from."""

    lower_bound_paisa: dict[str, int]
    upper_bound_paisa: dict[str, int]
    points: list[SweepPoint]


def write_json(path: Path, value: msgspec.Struct) -> None:
    path.write_bytes(msgspec.json.format(msgspec.json.encode(value), indent=2))


def read_sim_summary(run_dir: Path) -> SimSummary:
    return msgspec.json.decode((Path(run_dir) / SIMULATION_JSON).read_bytes(), type=SimSummary)


def read_sweep(run_dir: Path) -> SweepFile | None:
    path = Path(run_dir) / SWEEP_JSON
    return msgspec.json.decode(path.read_bytes(), type=SweepFile) if path.exists() else None


def read_balances(run_dir: Path) -> Iterator[BalanceRow]:
    with (Path(run_dir) / BALANCES_CSV).open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        if next(reader, None) != list(BALANCE_COLUMNS):
            raise ValueError(f"{Path(run_dir) / BALANCES_CSV}: not a balance file (header differs)")
        for t_s, seq, bic, posted, available, low, reserved, funded in reader:
            yield BalanceRow(int(t_s), int(seq), bic, int(posted), int(available), int(low), int(reserved),
                             int(funded))
