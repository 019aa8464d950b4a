"""`rail report run RUN_DIR`: what a load run did, as one self-contained HTML page (+ JSON and CSV).

Reads the run directory through rail.rundir (the structs the load harness writes) and shows:
throughput over time, latency percentiles per stage, outcomes by status and reason code, each bank's
liquidity use set against the simulator indicators (upper/lower bound from the settled payments, see
analytics.liquidity), and what the run's simulated remittances would have cost their senders over each
channel (analytics.costs applied ticket by ticket, PKR converted to USD at the cited parameter).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from analytics import costs, datasets, liquidity
from analytics.costs import source_for
from analytics.htmlkit import Column, Figure, Report, Section, Table, charts, utc_now, write_report
from rail import rundir

RUN_REPORT_HTML = "report.html"
PAISA_PER_RUPEE = Decimal(100)
USD_CENT = Decimal("0.01")
# Pricing every ticket is exact; past this many remittances a systematic sample (every k-th ticket in
# intended-send order) is priced and scaled up, and the report says so.
RUN_TICKETS_PRICED_MAX = 20_000
# A run directory's payments.csv is read whole (~200 B a row): refuse more than an hour at ~500/s.
RUN_PAYMENTS_MAX = 2_000_000
TIMESERIES_TABLE_ROWS_MAX = 3_600
# Channels priced for the run's tickets: the RPW references and one route per chain where the corridor has
# a licensed on-ramp (exchange funded by bank transfer): the same routes the cost report compares.
RUN_CHANNEL_KEYS = (
    "rpw_average",
    "bank",
    "mto",
    *(f"stablecoin:{chain}:bank" for chain in costs.ROUTE_CHAINS),
)
REMITTANCE_KIND = "remittance"


class RunDirError(Exception):
    """The run directory is missing, incomplete or malformed; the message names the file (and row)."""


class RunData(msgspec.Struct):
    run_dir: str
    summary: rundir.RunSummary
    payments: list[rundir.PaymentRow]
    timeseries: list[rundir.TimeseriesRow]
    liquidity: dict[str, rundir.LiquidityRecord]


def _rows(path: Path, reader, limit: int) -> list:
    rows = []
    iterator = reader(path.parent)
    while True:
        try:
            row = next(iterator)
        except StopIteration:
            return rows
        except (ValueError, KeyError, TypeError) as exc:
            raise RunDirError(f"{path}: row {len(rows) + 1}: {type(exc).__name__}: {exc}") from None
        rows.append(row)
        if len(rows) > limit:
            raise RunDirError(f"{path}: more than {limit} rows")


def read_run(run_dir: Path) -> RunData:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: run directory not found")
    for name in (rundir.RUN_JSON, rundir.PAYMENTS_CSV, rundir.TIMESERIES_CSV, rundir.LIQUIDITY_JSON):
        if not (run_dir / name).is_file():
            raise RunDirError(
                f"{run_dir / name}: missing (is this a directory written by `rail load --out`?)"
            )
    try:
        summary = rundir.read_run_summary(run_dir)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RunDirError(f"{run_dir / rundir.RUN_JSON}: {exc}") from None
    major = summary.schema_version.split(".")[0]
    if major != rundir.RUNDIR_SCHEMA_VERSION.split(".")[0]:
        raise RunDirError(
            f"{run_dir / rundir.RUN_JSON}: schema version {summary.schema_version}; this reader understands "
            f"{rundir.RUNDIR_SCHEMA_VERSION}"
        )
    try:
        observed = rundir.read_liquidity(run_dir)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RunDirError(f"{run_dir / rundir.LIQUIDITY_JSON}: {exc}") from None
    payments = _rows(run_dir / rundir.PAYMENTS_CSV, rundir.read_payments, RUN_PAYMENTS_MAX)
    for index, p in enumerate(payments, start=1):
        # Checked at the edge so the indicators and the cost model only ever see well-formed payments.
        if p.amount_paisa <= 0 or p.final_status not in rundir.FINAL_STATUSES:
            raise RunDirError(
                f"{run_dir / rundir.PAYMENTS_CSV}: row {index}: amount_paisa {p.amount_paisa} must be positive and "
                f"final_status {p.final_status!r} one of {', '.join(rundir.FINAL_STATUSES)}"
            )
    series = _rows(run_dir / rundir.TIMESERIES_CSV, rundir.read_timeseries, RUN_PAYMENTS_MAX)
    return RunData(str(run_dir), summary, payments, series, observed)


def pkr(paisa: int) -> Decimal:
    return Decimal(paisa) / PAISA_PER_RUPEE


def cents(value: Decimal) -> Decimal:
    """Run-level USD sums are shown to the cent (tickets are priced to 1/100 cent, then summed)."""
    return value.quantize(USD_CENT)


def _ms(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))


# ---------------------------------------------------------------------------------------------------
# Sections


def _throughput_section(run: RunData) -> Section:
    # long: one section of the report page: its words, tables and chart in the order the page shows them.
    ts = run.timeseries
    section = Section(
        "Throughput over time",
        [
            "Per second of the run: payments offered by the open-model schedule, actually sent, and reaching a "
            "final status (ACSC settled, RJCT rejected, timeouts). 'Late' counts sends more than the harness's "
            "lateness threshold after their intended time: the load generator's own saturation signal.",
        ],
    )
    source = f"{rundir.TIMESERIES_CSV} of run {Path(run.run_dir).name} (started {run.summary.started_at})"
    names = (
        ("offered", 0, True),
        ("sent", 1, False),
        ("acsc", 2, False),
        ("rjct", 3, False),
        ("timeouts", 4, False),
        ("late", 5, True),
    )
    series = [
        charts.Series(
            name, [(float(r.t_s), float(getattr(r, name))) for r in ts], charts.PALETTE[i], dashed=dashed
        )
        for name, i, dashed in names
    ]
    window = run.summary.steady_state
    section.figures.append(
        Figure(
            "Payments per second",
            charts.line_chart(
                "Payments per second", series, "seconds since first intended send", "payments / s"
            ),
            f"{source}; steady-state window {window.start_s:g}-{window.end_s:g} s",
        )
    )
    latency = [
        charts.Series(
            name,
            [(float(r.t_s), float(getattr(r, name))) for r in ts if getattr(r, name) is not None],
            charts.PALETTE[i],
        )
        for name, i in (("p50_ms", 0), ("p99_ms", 3))
    ]
    section.figures.append(
        Figure(
            "End-to-end latency per second (p50, p99)",
            charts.line_chart(
                "End-to-end latency of payments finishing each second (ms)",
                latency,
                "seconds since first intended send",
                "ms",
            ),
            source,
        )
    )
    section.tables.append(
        Table(
            "timeseries",
            "Per-second counts",
            [Column(k, k) for k in rundir.TIMESERIES_COLUMNS],
            [
                {k: (_ms(v) if isinstance(v, float) else v) for k, v in msgspec.structs.asdict(r).items()}
                for r in ts[:TIMESERIES_TABLE_ROWS_MAX]
            ],
            source,
            f"First {TIMESERIES_TABLE_ROWS_MAX} seconds shown."
            if len(ts) > TIMESERIES_TABLE_ROWS_MAX
            else "",
        )
    )
    return section


def _latency_section(run: RunData) -> Section:
    section = Section(
        "Latency percentiles per stage",
        [
            "Measured from each payment's intended send time (open model: no coordinated omission), over the "
            f"steady-state window {run.summary.steady_state.start_s:g}-{run.summary.steady_state.end_s:g} s "
            "(warm-up and drain excluded). submit_to_actc: to the rail's synchronous answer; end_to_end: to the "
            "final pacs.002 at the debtor agent.",
        ],
    )
    rows = []
    for stage, stats in run.summary.latency_ms.items():
        row: dict[str, Any] = {"stage": stage, "count": stats.count}
        for name in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms"):
            row[name] = _ms(getattr(stats, name))
        rows.append(row)
    bars = [
        charts.Bar(f"{r['stage']} {name.removesuffix('_ms')}", float(r[name]), charts.PALETTE[i % 2])
        for i, r in enumerate(rows)
        for name in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms")
    ]
    source = f"{rundir.RUN_JSON} latency_ms (HDR histogram, 3 significant digits), run started {run.summary.started_at}"
    section.figures.append(
        Figure(
            "Latency percentiles per stage (ms)",
            charts.bar_chart("Latency percentiles per stage (ms)", bars, " ms"),
            source,
        )
    )
    section.tables.append(
        Table(
            "latency",
            "Latency percentiles per stage (ms)",
            [
                Column(k, k)
                for k in ("stage", "count", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms")
            ],
            rows,
            source,
        )
    )
    return section


def _outcomes_section(run: RunData) -> Section:
    # long: one section of the report page: its words, tables and chart in the order the page shows them.
    s = run.summary
    section = Section(
        "Outcomes by status and reason code",
        [
            f"Counted over the {_counts_base(s)}: "
            f"{s.payments_offered} payments offered, {s.payments_sent} sent; {s.timeouts} harness timeouts, "
            f"{s.late_sends} late sends. Reconciliation: {'OK' if s.reconciliation.ok else 'FAILED'} "
            f"({s.reconciliation.acsc_payments} ACSC payments, {s.reconciliation.credited_in_books} credited in the "
            f"creditor banks' books; rail conserved: {s.reconciliation.rail_conserved})."
            + (
                f" Mismatches: {'; '.join(s.reconciliation.mismatches[:5])}"
                if s.reconciliation.mismatches
                else ""
            ),
        ],
    )
    source = (
        f"{rundir.RUN_JSON} counts_by_status / counts_by_reason ({_counts_base(s)}), run started {s.started_at}"
    )
    status_bars = [
        charts.Bar(k, float(v), charts.PALETTE[i % len(charts.PALETTE)])
        for i, (k, v) in enumerate(sorted(s.counts_by_status.items(), key=lambda kv: -kv[1]))
    ]
    reason_bars = [
        charts.Bar(k, float(v), charts.PALETTE[3])
        for k, v in sorted(s.counts_by_reason.items(), key=lambda kv: -kv[1])
    ]
    section.figures.append(
        Figure("Payments by final status", charts.bar_chart("Payments by final status", status_bars), source)
    )
    if reason_bars:
        section.figures.append(
            Figure(
                "Rejections by ISO 20022 reason code",
                charts.bar_chart("Rejections by reason code", reason_bars),
                source,
            )
        )
    total = sum(s.counts_by_status.values()) or 1
    section.tables.append(
        Table(
            "outcomes",
            f"Final status and reason codes ({_counts_base(s)}; shares of those payments)",
            [
                Column("kind", "Kind"),
                Column("code", "Code"),
                Column("count", "Payments"),
                Column("share_pct", "Share (%)"),
            ],
            [
                {
                    "kind": "status",
                    "code": k,
                    "count": v,
                    "share_pct": (Decimal(100 * v) / total).quantize(Decimal("0.01")),
                }
                for k, v in sorted(s.counts_by_status.items())
            ]
            + [
                {
                    "kind": "reason",
                    "code": k,
                    "count": v,
                    "share_pct": (Decimal(100 * v) / total).quantize(Decimal("0.01")),
                }
                for k, v in sorted(s.counts_by_reason.items())
            ],
            source,
        )
    )
    by_kind = Counter((p.kind, p.final_status) for p in run.payments)
    section.tables.append(
        Table(
            "outcomes_by_kind",
            "Final status by payment kind (every payment of the run)",
            [Column("kind", "Kind"), Column("final_status", "Final status"), Column("count", "Payments")],
            [{"kind": k, "final_status": st, "count": n} for (k, st), n in sorted(by_kind.items())],
            f"{rundir.PAYMENTS_CSV}",
        )
    )
    return section


def _liquidity_section(run: RunData) -> tuple[Section, liquidity.SystemLiquidity]:
    # long: one section of the report page: its words, tables and chart in the order the page shows them.
    system = liquidity.indicators(run.payments, run.summary.banks)
    lines = liquidity.usage(system, run.liquidity)
    section = Section(
        "Liquidity against the simulator indicators",
        [
            "Upper bound (UB): liquidity a bank needs to settle all its payments immediately with no queuing, its "
            "largest intraday cumulative net debit. Lower bound (LB): its end-of-day multilateral net debit. Both are "
            "computed from the settled (ACSC) payments in payments.csv, in intended-send order (BoF-PSS2 "
            "definitions, ANCHORS.md s.3.1). Used: opening settlement balance minus the lowest balance the bank "
            "reached (liquidity.json); it includes reservations of payments later rejected or timed out, so it can "
            "exceed UB. Position: (used - LB) / (UB - LB), 0 at LB and 1 at UB.",
            f"System: UB {pkr(system.upper_bound_paisa):,} PKR, LB {pkr(system.lower_bound_paisa):,} PKR, gross "
            f"settled value {pkr(system.settled_value_paisa):,} PKR over {system.settled_payments} payments.",
        ],
    )
    records = run.liquidity
    rows = []
    for bank, line in zip(system.banks, lines):
        rec = records.get(bank.bic)
        rows.append(
            {
                "bic": bank.bic,
                "settled_sent": bank.settled_sent,
                "settled_received": bank.settled_received,
                "gross_sent_pkr": pkr(bank.gross_sent_paisa),
                "gross_received_pkr": pkr(bank.gross_received_paisa),
                "net_position_pkr": pkr(bank.net_position_paisa),
                "upper_bound_pkr": pkr(bank.upper_bound_paisa),
                "lower_bound_pkr": pkr(bank.lower_bound_paisa),
                "used_pkr": pkr(line.used_paisa) if line.used_paisa is not None else None,
                "usage_position": line.usage_position,
                "opening_balance_pkr": pkr(rec.opening_balance_paisa) if rec else None,
                "min_balance_pkr": pkr(rec.min_balance_paisa) if rec else None,
                "closing_balance_pkr": pkr(rec.closing_balance_paisa) if rec else None,
                "topups": rec.topups_count if rec else None,
                "topups_pkr": pkr(rec.topups_paisa) if rec else None,
                "treasury_gross_sent_pkr": pkr(rec.gross_sent_paisa) if rec else None,
            }
        )
    million = Decimal(1_000_000)
    bars = []
    for bank, line in zip(system.banks, lines):
        bars.append(
            charts.Bar(
                f"{bank.bic} upper bound", float(pkr(bank.upper_bound_paisa) / million), charts.PALETTE[0]
            )
        )
        bars.append(
            charts.Bar(
                f"{bank.bic} lower bound", float(pkr(bank.lower_bound_paisa) / million), charts.PALETTE[5]
            )
        )
        if line.used_paisa is not None:
            bars.append(
                charts.Bar(f"{bank.bic} used", float(pkr(line.used_paisa) / million), charts.PALETTE[1])
            )
    source = f"{rundir.PAYMENTS_CSV} (settled payments) and {rundir.LIQUIDITY_JSON}, run started {run.summary.started_at}"
    section.figures.append(
        Figure(
            "Liquidity per bank: upper bound, lower bound, used (PKR m)",
            charts.bar_chart("Liquidity per bank (PKR m): upper bound, lower bound, used", bars, " m"),
            source,
        )
    )
    section.tables.append(
        Table(
            "liquidity",
            "Per-bank liquidity (PKR)",
            [Column(k, k) for k in rows[0]] if rows else [Column("bic", "bic")],
            rows,
            source,
        )
    )
    return section, system


def _remittance_section(run: RunData, data: datasets.Datasets) -> Section:
    # long: one section of the report page: its words, tables and chart in the order the page shows them.
    rate, rate_ref = costs.pkr_per_usd(data)
    # Only settled remittances moved money and cost their senders anything: rejected or timed-out ones are
    # counted in the outcomes section, never priced.
    tickets = [
        p
        for p in run.payments
        if p.kind == REMITTANCE_KIND and p.corridor.endswith("->PAK") and p.final_status == liquidity.SETTLED_STATUS
    ]
    step = max(1, -(-len(tickets) // RUN_TICKETS_PRICED_MAX))  # ceil division
    sample = sorted(tickets, key=lambda p: (p.intended_at_ms, p.uetr))[::step]
    scale = Decimal(len(tickets)) / Decimal(len(sample)) if sample else Decimal(1)
    by_corridor: dict[str, list[Decimal]] = defaultdict(list)
    for p in sample:
        amount = (pkr(p.amount_paisa) / rate).quantize(USD_CENT)
        if amount >= costs.AMOUNT_USD_MIN:
            by_corridor[p.corridor].append(min(amount, costs.AMOUNT_USD_MAX))
    rows = []
    examples: list[costs.CostBreakdown] = []  # one priced ticket per corridor and channel: provenance
    for corridor in sorted(by_corridor):
        amounts = by_corridor[corridor]
        volume = sum(amounts, Decimal(0)) * scale
        # Corridors without an RPW series (EU, rest of world) have only the stablecoin routes.
        keys = {ch.key for ch in costs.channels_for(data, corridor)}
        for key in RUN_CHANNEL_KEYS:
            if key not in keys:
                continue
            price = costs.pricer(data, corridor, key)
            examples.append(price.breakdown(amounts[0]))
            paid = sum((price.total_usd(a) for a in amounts), Decimal(0)) * scale
            subsidy = sum((costs.usd(price.subsidy(a)) for a in amounts), Decimal(0)) * scale
            rows.append(
                {
                    "corridor": corridor,
                    "channel_key": key,
                    "tickets": int(len(amounts) * scale),
                    "volume_usd": cents(volume),
                    "cost_usd": cents(paid),
                    "cost_pct": costs.pct(paid / volume * 100) if volume else None,
                    "pri_rebate_usd": cents(subsidy),
                    "flags": list(examples[-1].flags),
                }
            )
    # Like for like: the totals cover only corridors where the status quo (RPW average) is priced, and each
    # channel's saving is taken corridor by corridor against that status quo.
    status_quo = {r["corridor"]: r for r in rows if r["channel_key"] == "rpw_average"}
    total_rows = []
    for key in RUN_CHANNEL_KEYS:
        mine = [r for r in rows if r["channel_key"] == key and r["corridor"] in status_quo]
        if not mine:
            continue
        volume = sum((r["volume_usd"] for r in mine), Decimal(0))
        paid = sum((r["cost_usd"] for r in mine), Decimal(0))
        base = sum((status_quo[r["corridor"]]["cost_usd"] for r in mine), Decimal(0))
        total_rows.append(
            {
                "channel_key": key,
                "corridors": [r["corridor"] for r in mine],
                "volume_usd": volume,
                "cost_usd": paid,
                "cost_pct": costs.pct(paid / volume * 100) if volume else None,
                "saving_vs_rpw_average_usd": base - paid,
                "flags": sorted({f for r in mine for f in r["flags"]}),
            }
        )
    sampled = (
        f" Priced a systematic sample of {len(sample)} of {len(tickets)} tickets (every {step}th) and scaled up."
        if step > 1
        else ""
    )
    section = Section(
        "The run's remittances under each channel",
        [
            f"Each settled (ACSC) remittance ticket ({len(tickets)} in the run; rejected and timed-out ones moved no "
            f"money and are not priced) is converted from PKR to USD at {rate} PKR/USD ({rate_ref.source}; "
            f"{rate_ref.status}) and priced with the cost model for its corridor. Stablecoin routes are priced only "
            "where a licensed on-ramp is documented, without any P2P premium; corridors with neither an RPW series "
            "nor such a route (EU, rest of world) are not priced. 'Other GCC' uses the equal-weight mean of Kuwait, "
            "Qatar, Oman and Bahrain. The PRI rebate is the public subsidy the state would pay on fee-free formal "
            "transactions, kept separate." + sampled,
        ],
    )
    bars = [
        charts.Bar(
            r["channel_key"].removeprefix("stablecoin:").replace(":", " · "),
            float(r["cost_pct"] or 0),
            charts.FAMILY_COLOURS["stablecoin" if r["channel_key"].startswith("stablecoin") else "rpw"],
            "⚑" if r["flags"] else "",
        )
        for r in sorted(total_rows, key=lambda r: r["cost_pct"] or 0)
    ]
    source = (
        f"{rundir.PAYMENTS_CSV} remittance tickets (run started {run.summary.started_at}), priced from "
        f"{source_for(examples)}; PKR/USD from parameters.csv ({rate_ref.date})"
    )
    section.figures.append(
        Figure(
            "Cost of the run's remittances by channel (% of value, corridors with an RPW average)",
            charts.bar_chart(
                "Run's remittances: total cost by channel (% of value)",
                bars,
                "%",
                reference_lines=[(3.0, "3%"), (5.0, "5%")],
            ),
            source,
            tuple(sorted({f for r in total_rows for f in r["flags"]})),
        )
    )
    section.tables.append(
        Table(
            "run_remittance_costs_total",
            "Run's remittances by channel, like for like: corridors with an RPW average only",
            [
                Column(k, k)
                for k in (
                    "channel_key",
                    "corridors",
                    "volume_usd",
                    "cost_usd",
                    "cost_pct",
                    "saving_vs_rpw_average_usd",
                    "flags",
                )
            ],
            total_rows,
            source,
        )
    )
    section.tables.append(
        Table(
            "run_remittance_costs",
            "Run's remittances by corridor and channel",
            [
                Column(k, k)
                for k in (
                    "corridor",
                    "channel_key",
                    "tickets",
                    "volume_usd",
                    "cost_usd",
                    "cost_pct",
                    "pri_rebate_usd",
                    "flags",
                )
            ],
            rows,
            source,
        )
    )
    return section


def _counts_base(s: rundir.RunSummary) -> str:
    """What the run's counts are counted over, named as the terminal summary names it."""
    if s.counts_base == rundir.COUNTS_AFTER_WARMUP:
        return f"payments intended after the {s.warmup_s:g} s warm-up"
    return s.counts_base


def build_run_report(run: RunData, data: datasets.Datasets) -> Report:
    s = run.summary
    e2e = s.latency_ms.get(rundir.STAGE_END_TO_END)
    liquidity_section, system = _liquidity_section(run)
    acsc = s.counts_by_status.get("ACSC", 0)
    window = f"steady window {s.steady_state.start_s:g}-{s.steady_state.end_s:g} s"
    findings = [
        f"Offered {s.offered_rate_per_s:.1f}/s, achieved {s.achieved_rate_per_s:.1f}/s ({window}).",
        f"{_counts_base(s).capitalize()}: {s.payments_sent} of {s.payments_offered} payments sent "
        f"({s.late_sends} late), {acsc} settled (ACSC), {s.counts_by_status.get('RJCT', 0)} rejected, "
        f"{s.timeouts} timed out; reconciliation {'OK' if s.reconciliation.ok else 'FAILED'}.",
    ]
    if s.interrupted:
        findings.insert(0, f"INTERRUPTED at {s.interrupted_at_s:g} s of {s.duration_s:g} s: a partial run; every "
                           "figure covers the load offered until then.")
    if e2e is not None:
        findings.append(
            f"End-to-end latency p50 {e2e.p50_ms:.1f} ms, p99 {e2e.p99_ms:.1f} ms, max {e2e.max_ms:.1f} ms "
            f"({e2e.count} payments in the steady-state window)."
        )
    findings.append(
        f"Liquidity: settling every payment immediately needed PKR {pkr(system.upper_bound_paisa):,} across banks "
        f"(upper bound) against PKR {pkr(system.lower_bound_paisa):,} with end-of-day netting (lower bound); gross "
        f"settled value PKR {pkr(system.settled_value_paisa):,}."
    )
    meta = {
        "Run directory": run.run_dir,
        "Started": s.started_at,
        "Target": f"{s.target} ({s.transport}, {s.rendering})",
        "Scenario / seed": f"{s.scenario} / {s.seed}",
        "Banks": ", ".join(s.banks),
        "Duration / warm-up": f"{s.duration_s:g} s / {s.warmup_s:g} s",
        "Tool": f"{s.tool_version} (run directory schema {s.schema_version})",
    }
    interrupted = f" (INTERRUPTED at {s.interrupted_at_s:g} s)" if s.interrupted else ""
    return Report(
        title=f"Load run report: {s.scenario}, {s.offered_rate_per_s:.1f} payments/s offered{interrupted}",
        attribution=costs.ATTRIBUTION,
        generated_at=utc_now(),
        meta=meta,
        findings=findings,
        sections=[
            _throughput_section(run),
            _latency_section(run),
            _outcomes_section(run),
            liquidity_section,
            _remittance_section(run, data),
        ],
    )


def write_run_report(run_dir: Path, out: Path | None = None, data_dir: Path | None = None) -> Path:
    """Write the run report (HTML, plus JSON and CSV tables beside it); returns the HTML path.

    ``rail demo`` calls this at the end of a run with the run directory alone."""
    run = read_run(Path(run_dir))
    data = datasets.load(data_dir)
    built = build_run_report(run, data)
    target = Path(out) if out is not None else Path(run_dir) / RUN_REPORT_HTML
    return write_report(built, target.parent, target.name)
