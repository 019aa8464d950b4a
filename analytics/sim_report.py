"""The report of a simulated day (`rail simulate`; `rail report run RUN_DIR` on a simulated run).

One HTML page (analytics/htmlkit), its JSON twin and CSV tables: what happened to the day's payments, each
bank's intraday balance curve against its lower and upper bound of liquidity (BoF-PSS2), the payments refused
AM04 or delayed, the what-if prefunding sweep when one ran, deferred net settlement against RTGS, and the run's
determinism digest. The figures come from analytics/sim_analysis.py (payments.csv, one pass) and balances.csv.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from analytics.htmlkit import Column, Figure, Report, Section, Table, charts, utc_now, write_report
from analytics.sim_analysis import SimAnalysis, analyse
from rail import rundir

REPORT_HTML = "report.html"
CURVE_POINTS_MAX = 1_440  # one a minute over a day: the chart thins beyond that
BILLIONS_FROM_PAISA = 100 * 10**9 * 10  # a day worth Rs 10 bn or more is reported in billions


class Money:
    """Rupees in the report's one unit: billions for a national-scale day, millions for a small one."""

    def __init__(self, scale_paisa: int) -> None:
        big = scale_paisa >= BILLIONS_FROM_PAISA
        self.unit = "bn" if big else "m"
        self._divisor = Decimal(100 * (10**9 if big else 10**6))

    def __call__(self, paisa: int) -> Decimal:
        return (Decimal(paisa) / self._divisor).quantize(Decimal("0.001"))


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "-"


def _hhmm(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}"


def _source(s: rundir.SimSummary, files: str) -> str:
    return f"{files} of the simulated day {s.day} (scenario {s.scenario}, seed {s.seed}), run {s.started_at}"


# ---- sections


def _outcomes_section(s: rundir.SimSummary, a: SimAnalysis, m: Money) -> Section:
    t = a.total
    section = Section("Payments: settled, refused, delayed", [
        f"{t.planned:,} payments planned over the day; {t.settled:,} settled (ACSC, {_pct(t.settled, t.planned)}), "
        f"{t.am04:,} refused AM04 (insufficient funds in the debtor agent's settlement account), {t.ab05:,} refused "
        f"AB05 (the creditor agent did not answer within the scheme's timeout), {t.other_rejected:,} refused by the "
        f"creditor agent (account closed, blocked...), {t.unsent:,} never sent (their bank was down). "
        f"{t.delayed:,} were final more than {s.delayed_after_s:g} s after their intended time (delayed).",
        "Rows by debtor agent. A payment held during its bank's outage counts as delayed once sent.",
    ])
    columns = [Column("bic", "bank"), Column("planned", "planned"), Column("settled", "settled"),
               Column("settled_rs", f"settled (Rs {m.unit})"), Column("am04", "AM04"), Column("ab05", "AB05"),
               Column("other_rejected", "other refusals"), Column("unsent", "never sent"), Column("delayed", "delayed")]
    rows = [{"bic": bic, **_counts(o, m)} for bic, o in a.banks.items()]
    rows.append({"bic": "all banks", **_counts(t, m)})
    section.tables.append(Table("outcomes_by_bank", "Outcomes by debtor agent", columns, rows,
                                _source(s, rundir.PAYMENTS_CSV)))
    hours = [{"hour": f"{h:02d}:00", **_counts(o, m)} for h, o in enumerate(a.hours)]
    section.tables.append(Table("outcomes_by_hour", "Outcomes by intended hour (PKT)",
                                [Column("hour", "hour"), *columns[1:]], hours, _source(s, rundir.PAYMENTS_CSV)))
    series = [
        charts.Series("planned", [(h, o.planned) for h, o in enumerate(a.hours)], charts.PALETTE[0]),
        charts.Series("refused AM04", [(h, o.am04) for h, o in enumerate(a.hours)], charts.PALETTE[1]),
        charts.Series("refused AB05", [(h, o.ab05) for h, o in enumerate(a.hours)], charts.PALETTE[2]),
        charts.Series("delayed", [(h, o.delayed) for h, o in enumerate(a.hours)], charts.PALETTE[3], dashed=True),
    ]
    section.figures.append(Figure(
        "The day's profile: payments per hour, refused and delayed",
        charts.line_chart("Payments per hour (PKT): planned, refused AM04 / AB05, delayed", series, "hour of day",
                          "payments", x_format=lambda v: f"{int(v):02d}:00"),
        _source(s, rundir.PAYMENTS_CSV)))
    return section


def _counts(o, m: Money) -> dict:
    return {"planned": o.planned, "settled": o.settled, "settled_rs": m(o.settled_paisa), "am04": o.am04,
            "ab05": o.ab05, "other_rejected": o.other_rejected, "unsent": o.unsent, "delayed": o.delayed}


def _curves(run_dir: Path, m: Money) -> tuple[dict, dict]:
    """Each bank's available balance, and the liquidity it has drawn (what the central bank funded it with so
    far, opening balance and top-ups, minus what is available: what its payments out net of those in, and its
    reservations, took), at each sample, in `m`'s unit, by hours since midnight."""
    available: dict[str, list[tuple[float, float]]] = defaultdict(list)
    drawn: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for row in rundir.read_balances(run_dir):
        hour = row.t_s / 3600
        available[row.bic].append((hour, float(m(row.available_paisa))))
        drawn[row.bic].append((hour, float(m(row.funded_paisa - row.available_paisa))))
    return available, drawn


def _curve_figures(s: rundir.SimSummary, curves: tuple[dict, dict], m: Money) -> list[Figure]:
    figures = []
    for points_by_bic, title in zip(curves, (
            f"Available settlement balance per bank (Rs {m.unit}), by hour of the day (PKT)",
            f"Liquidity drawn per bank (Rs {m.unit}): funded so far (opening + top-ups) - available")):
        series = [charts.Series(bic, points[:: max(1, len(points) // CURVE_POINTS_MAX)], charts.PALETTE[i % 8])
                  for i, (bic, points) in enumerate(points_by_bic.items())]
        figures.append(Figure(title, charts.line_chart(title, series, "hour of day", f"Rs {m.unit}",
                                                       x_format=lambda v: _hhmm(v * 3600)),
                              _source(s, rundir.BALANCES_CSV)))
    return figures


def _liquidity_section(run_dir: Path, s: rundir.SimSummary, a: SimAnalysis,
                       liquidity: dict[str, rundir.LiquidityRecord], m: Money) -> Section:
    d = a.demand
    section = Section("Liquidity: intraday balances against the lower and upper bounds", [
        "Upper bound (UB): what a bank needs for every one of its payments to settle the moment it is sent, its "
        "largest intraday cumulative net debit. Lower bound (LB): what it needs to settle everything by the end of "
        "the day with multilateral netting, its end-of-day net debit (BoF-PSS2 definitions, Leinonen & Soramaki "
        "2003). Both over the day's demand: the payments that settled plus those refused AM04, in intended-time "
        "order.",
        f"All banks: LB Rs {m(d.lower_bound_paisa)} {m.unit}, UB Rs {m(d.upper_bound_paisa)} {m.unit}, against Rs "
        f"{m(sum(b.prefund_paisa for b in s.banks))} {m.unit} of opening balances and Rs "
        f"{m(sum(r.topups_paisa for r in liquidity.values()))} {m.unit} of top-ups; gross value Rs "
        f"{m(d.settled_value_paisa)} {m.unit}.",
        "Lowest available: the lowest settlement balance net of reservations (payments sent, their creditor's "
        "answer awaited) after any journal batch of the day, as recorded and as `rail replay` checks. Liquidity "
        "drawn: the opening balance plus the top-ups credited so far, minus what is available; its highest point "
        "is the liquidity the bank actually used, to compare with its bounds.",
    ])
    section.figures += _curve_figures(s, _curves(run_dir, m), m)
    by_bic = {b.bic: b for b in d.banks}
    rows, groups = [], []
    for bank in s.banks:
        bounds, record, out = by_bic[bank.bic], liquidity[bank.bic], a.banks[bank.bic]
        rows.append({"bic": bank.bic, "size_share": bank.size_share, "opening_rs": m(bank.prefund_paisa),
                     "topups_rs": m(record.topups_paisa), "lowest_available_rs": m(record.min_balance_paisa),
                     "closing_rs": m(record.closing_balance_paisa), "lb_rs": m(bounds.lower_bound_paisa),
                     "ub_rs": m(bounds.upper_bound_paisa), "gross_sent_rs": m(bounds.gross_sent_paisa),
                     "am04": out.am04, "delayed": out.delayed})
        groups.append(charts.Group(bank.bic, [float(m(v)) for v in (
            bounds.lower_bound_paisa, bounds.upper_bound_paisa, bank.prefund_paisa, record.min_balance_paisa)]))
    segments = [charts.Segment(n, charts.PALETTE[i]) for i, n in enumerate(
        ("lower bound", "upper bound", "opening balance", "lowest available"))]
    section.figures.append(Figure(
        f"Bounds against what each bank held (Rs {m.unit})",
        charts.grouped_bar_chart(f"Per bank: LB, UB, opening balance, lowest available (Rs {m.unit})", groups, segments),
        _source(s, f"{rundir.PAYMENTS_CSV}, {rundir.LIQUIDITY_JSON}")))
    columns = [Column(k, label) for k, label in (
        ("bic", "bank"), ("size_share", "share of payments"), ("opening_rs", f"opening (Rs {m.unit})"),
        ("topups_rs", f"top-ups (Rs {m.unit})"), ("lowest_available_rs", f"lowest available (Rs {m.unit})"),
        ("closing_rs", f"closing (Rs {m.unit})"), ("lb_rs", f"LB (Rs {m.unit})"), ("ub_rs", f"UB (Rs {m.unit})"),
        ("gross_sent_rs", f"gross sent (Rs {m.unit})"), ("am04", "AM04"), ("delayed", "delayed"))]
    section.tables.append(Table("liquidity_by_bank", "Liquidity by bank", columns, rows,
                                _source(s, f"{rundir.PAYMENTS_CSV}, {rundir.LIQUIDITY_JSON}")))
    return section


def _sweep_section(s: rundir.SimSummary, sweep: rundir.SweepFile, m: Money) -> Section:
    section = Section("What if the banks held other balances? (prefunding sweep)", [
        "The same day (scenario, seed, payments) rerun with every bank opening at a level between its lower bound "
        "(position 0) and upper bound (100) of liquidity, and no scheduled top-ups. RAAST has no queue: a payment "
        "its bank cannot cover is refused AM04 at once. The upper bound assumes each payment settles the moment "
        "it is sent; the rail holds its amount reserved until the creditor agent answers, so at 100 a few can "
        "still be refused. Each rerun is a run directory of its own (replayable).",
    ])
    rows = [{"position": p.position, "prefund_rs": m(sum(p.prefund_paisa.values())), "planned": p.planned,
             "settled": p.settled, "settled_share": _pct(p.settled, p.planned), "settled_rs": m(p.settled_paisa),
             "am04": p.am04, "ab05": p.ab05, "delayed": p.delayed, "run_dir": p.run_dir,
             "digest": p.journal_digest[:16]} for p in sweep.points]
    columns = [Column(k, label) for k, label in (
        ("position", "position (0 = LB, 100 = UB)"), ("prefund_rs", f"opening, all banks (Rs {m.unit})"),
        ("planned", "planned"), ("settled", "settled"), ("settled_share", "settled share"),
        ("settled_rs", f"settled (Rs {m.unit})"), ("am04", "AM04"), ("ab05", "AB05"), ("delayed", "delayed"),
        ("run_dir", "run directory"), ("digest", "journal digest (start)"))]
    section.tables.append(Table("sweep", "What-if prefunding levels", columns, rows,
                                _source(s, rundir.SWEEP_JSON)))
    lower, upper = sum(sweep.lower_bound_paisa.values()), sum(sweep.upper_bound_paisa.values())
    series = [charts.Series("payments refused AM04",
                            [(float(m(sum(p.prefund_paisa.values()))), p.am04) for p in sweep.points])]
    section.figures.append(Figure(
        "AM04 refusals against the liquidity the banks held",
        charts.line_chart(f"Payments refused AM04 by total opening balance (Rs {m.unit}); dashed: LB and UB",
                          series, f"opening balances, all banks (Rs {m.unit})", "payments refused AM04"),
        _source(s, rundir.SWEEP_JSON), flags=(f"LB Rs {m(lower)} {m.unit}", f"UB Rs {m(upper)} {m.unit}")))
    return section


def _netting_section(s: rundir.SimSummary, a: SimAnalysis, m: Money) -> Section:
    ub = a.demand.upper_bound_paisa
    section = Section("Deferred net settlement against RAAST's gross settlement", [
        "RAAST settles every payment gross and at once (RTGS): banks need up to the upper bound, and no bank "
        "ever owes another for a payment already credited. A deferred net settlement (DNS) credits customers at "
        "once but settles between banks only at the end of each cycle, each bank paying its net position: less "
        "liquidity, at a risk. Largest exposure: the largest net debit one bank ran up within a cycle (what the "
        "others lose if it fails before the cycle settles). Peak pending: the most value awaiting settlement at "
        "once. Delay: value-weighted time from payment to settlement. Same demand as the bounds.",
    ])
    rows = [{"mode": "RTGS (RAAST)", "needed_rs": m(ub), "saved_rs": m(0), "saved_share": "0.00%",
             "exposure_rs": m(0), "exposure_bic": "", "pending_rs": m(0), "delay_min": 0.0}]
    for c in a.netting:
        rows.append({"mode": f"DNS, {c.cycles_per_day} cycles a day", "needed_rs": m(c.liquidity_needed_paisa),
                     "saved_rs": m(c.liquidity_saved_paisa), "saved_share": _pct(c.liquidity_saved_paisa, ub),
                     "exposure_rs": m(c.largest_exposure_paisa), "exposure_bic": c.largest_exposure_bic,
                     "pending_rs": m(c.peak_pending_paisa), "delay_min": c.mean_delay_min})
    columns = [Column(k, label) for k, label in (
        ("mode", "settlement"), ("needed_rs", f"liquidity needed (Rs {m.unit})"), ("saved_rs", f"saved vs RTGS (Rs {m.unit})"),
        ("saved_share", "saved (% of UB)"), ("exposure_rs", f"largest exposure (Rs {m.unit})"),
        ("exposure_bic", "to bank"), ("pending_rs", f"peak pending (Rs {m.unit})"), ("delay_min", "mean delay (min)"))]
    section.tables.append(Table("netting", "Deferred net settlement vs RTGS", columns, rows,
                                _source(s, rundir.PAYMENTS_CSV)))
    bars = [charts.Bar(r["mode"], float(r["needed_rs"]), charts.PALETTE[i % 8], f"exposure Rs {r['exposure_rs']} {m.unit}")
            for i, r in enumerate(rows)]
    section.figures.append(Figure(
        f"Liquidity needed by settlement mode (Rs {m.unit})",
        charts.bar_chart(f"Liquidity needed, all banks (Rs {m.unit}), with each mode's largest single-bank exposure",
                         bars, f" {m.unit}"),
        _source(s, rundir.PAYMENTS_CSV)))
    return section


def _run_section(run_dir: Path, s: rundir.SimSummary) -> Section:
    rows = [
        {"figure": "journal digest (SHA-256 of its segments)", "value": s.journal_digest},
        {"figure": "journal", "value": f"{s.journal_batches:,} batches, {s.journal_commands:,} commands, "
                                       f"{s.journal_bytes:,} bytes"},
        {"figure": "simulated time", "value": f"{s.simulated_s:,.0f} s ({s.tick_ms} ms core tick)"},
        {"figure": "wall time", "value": f"{s.wall_s:,.1f} s: {s.payments_per_wall_s:,.0f} payments per wall "
                                         f"second, {s.sim_to_real:,.0f}x real time"},
        {"figure": "peak memory (RSS)", "value": f"{s.peak_rss_mb:,.0f} MB"},
    ]
    return Section("The run, and how to check it", [
        "Everything in this report except wall time and memory is a function of the scenario and seed: the same "
        f"command writes the same journal, byte for byte. `rail replay {run_dir}` re-applies the journal through "
        "the settlement core's state machine and checks every balance sample and every payment's outcome.",
        *s.notes,
    ], tables=[Table("run", "Run", [Column("figure", "figure"), Column("value", "value")], rows,
                     _source(s, rundir.SIMULATION_JSON))])


def build_sim_report(run_dir: Path) -> Report:
    run_dir = Path(run_dir)
    s = rundir.read_sim_summary(run_dir)
    a = analyse(run_dir, s)
    liquidity = rundir.read_liquidity(run_dir)
    sweep = rundir.read_sweep(run_dir)
    t, d = a.total, a.demand
    m = Money(d.settled_value_paisa)
    dns = a.netting[0] if a.netting else None
    findings = [
        f"{t.planned:,} payments on {s.day}: {t.settled:,} settled ({_pct(t.settled, t.planned)}), {t.am04:,} "
        f"refused AM04, {t.ab05:,} AB05, {t.delayed:,} delayed more than {s.delayed_after_s:g} s.",
        f"The day's payments need Rs {m(d.lower_bound_paisa)} {m.unit} (lower bound) to Rs {m(d.upper_bound_paisa)} "
        f"{m.unit} (upper bound) of liquidity across the banks, which opened with Rs "
        f"{m(sum(b.prefund_paisa for b in s.banks))} {m.unit}.",
    ]
    if dns is not None:
        findings.append(
            f"Net settlement in {dns.cycles_per_day} cycles a day would need Rs {m(dns.liquidity_needed_paisa)} "
            f"{m.unit} ({_pct(dns.liquidity_saved_paisa, d.upper_bound_paisa)} less than gross settlement's upper "
            f"bound), leaving up to Rs {m(dns.largest_exposure_paisa)} {m.unit} unsettled to one bank "
            f"({dns.largest_exposure_bic}).")
    if sweep is not None and sweep.points:
        first = sweep.points[0]
        findings.append(f"What-if: opening at position {first.position} between LB and UB, {first.am04:,} payments "
                        f"are refused AM04 (sweep of {len(sweep.points)} levels below).")
    findings.append(f"Journal digest {s.journal_digest[:16]}...: `rail replay {run_dir}` checks it.")
    if s.interrupted:
        findings.insert(0, "INTERRUPTED: a partial day; every figure covers the part simulated.")
    sections = [_outcomes_section(s, a, m), _liquidity_section(run_dir, s, a, liquidity, m)]
    if sweep is not None and sweep.points:
        sections.append(_sweep_section(s, sweep, m))
    sections += [_netting_section(s, a, m), _run_section(run_dir, s)]
    meta = {"Run directory": str(run_dir), "Scenario": f"{s.scenario}: {s.description}", "Day / seed":
            f"{s.day} / {s.seed}", "Banks": ", ".join(b.bic for b in s.banks),
            "Tool": f"{s.tool_version} (simulation schema {s.schema_version})"}
    return Report(title=f"Simulated RAAST day {s.day}: {s.scenario}, seed {s.seed}", generated_at=utc_now(),
                  meta=meta, findings=findings, sections=sections)


def is_sim_run(run_dir: Path) -> bool:
    return (Path(run_dir) / rundir.SIMULATION_JSON).exists()


def write_sim_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write report.html (plus report.json and tables/) for a simulated run; returns the HTML path."""
    target = Path(out) if out is not None else Path(run_dir) / REPORT_HTML
    return write_report(build_sim_report(run_dir), target.parent, target.name)
