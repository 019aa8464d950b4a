"""A corridor-lab run directory: what `rail corridor` writes, and what the reports read back.

    run.json         the scenario, seed, routes, timings, whether it was interrupted, the rail's own check
    remittances.csv  the population: one row per remittance (the same on every route)
    results.csv      one row per remittance and route: status and why, cost by component, time to credit,
                     each step, the RAAST payment's outcome and the rail's measured latency
    liquidity.csv    every payout a desk made before being paid (what its prefunding or inventory covers)
    inputs.csv       every cited input the run used, with its source, date and status
    summary.json     the figures (analytics/corridor/summary.py)
    report.html      the report, with report.json and tables/*.csv beside it
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import msgspec

from analytics.corridor.lab import LabRun
from analytics.corridor.model import COST_PARTS, RailCheck, Remittance, Route, RouteResult
from analytics.corridor.params import LabData
from analytics.corridor.scenario import Scenario
from analytics.corridor.summary import Summary, encode_summary, read_summary, summarise

RUN_JSON = "run.json"
SUMMARY_JSON = "summary.json"
SCHEMA_VERSION = 1
# Columns whose values are measurements of this machine, not results of the seed: the rest of results.csv is
# identical for the same seed (tests/test_corridor_lab.py checks it).
MEASURED_COLUMNS = ("raast_latency_ms", "time_to_credit_s", "credited_at", "steps")


class CorridorRunError(Exception):
    """A run directory that cannot be read; the message names the file."""


class CorridorRun:
    """Everything one run produced, before it is written."""

    def __init__(self, scenario: Scenario, seed: int, lab: LabData, routes: Sequence[Route],
                 remittances: Sequence[Remittance], run: LabRun, rail: RailCheck, started_at: dt.datetime) -> None:
        self.scenario = scenario
        self.seed = seed
        self.lab = lab
        self.routes = list(routes)
        self.remittances = list(remittances)
        self.run = run
        self.rail = rail
        self.started_at = started_at

    def summary(self) -> Summary:
        counted = self.run.complete_seqs(len(self.routes)) if self.run.interrupted else {r.seq for r in self.remittances}
        return summarise(self.lab, self.scenario, self.seed, self.routes, self.remittances, self.run.results,
                         counted, self.run.interrupted, self.rail,
                         self.started_at.replace(microsecond=0).isoformat().replace("+00:00", "Z"))


def result_row(r: RouteResult) -> dict:
    cost = r.cost
    row = {
        "seq": r.seq, "route": r.route, "corridor": r.corridor, "amount_usd": r.amount_usd, "status": r.status.value,
        "reason": r.reason,
    }
    for part in COST_PARTS:
        row[f"{part}_usd"] = "" if cost is None else getattr(cost, part)
    row |= {
        "total_usd": "" if cost is None else cost.total,
        "total_pct": "" if r.total_pct is None else r.total_pct,
        "time_to_credit_s": "" if r.time_to_credit_s is None else round(r.time_to_credit_s, 3),
        "credited_at": r.credited_at.isoformat() if r.credited_at else "",
        "payer_bic": r.payer_bic, "credited_paisa": r.credited_paisa, "raast_status": r.raast_status,
        "raast_reason": r.raast_reason,
        "raast_latency_ms": "" if r.raast_latency_ms is None else round(r.raast_latency_ms, 3),
        "steps": "; ".join(f"{s.name} [{s.kind.value}] {s.seconds:.3f} s" for s in r.steps),
    }
    return row


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        if not rows:
            return
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_run(out_dir: Path, run: CorridorRun) -> Summary:
    """Write the run's files (not the report) into ``out_dir``; returns its summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remittance_rows = [{
        "seq": r.seq, "corridor": r.corridor, "amount_usd": r.amount_usd, "amount_paisa": r.amount_paisa,
        "sent_at": r.sent_at.isoformat(), "beneficiary_bank": r.beneficiary_bank,
        "beneficiary_account": r.beneficiary_account,
    } for r in run.remittances]
    _write_csv(out_dir / "remittances.csv", remittance_rows)
    _write_csv(out_dir / "results.csv", [result_row(r) for r in run.run.results])
    _write_csv(out_dir / "liquidity.csv", [
        {"seq": r.seq, "route": r.route, "desk": u.desk, "currency": u.currency, "calendar": u.calendar,
         "at": u.at.isoformat(), "amount": u.amount}
        for r in run.run.results for u in r.liquidity
    ])
    _write_csv(out_dir / "inputs.csv", [msgspec.structs.asdict(ref) | {"label": ref.label}
                                        for ref in run.lab.inputs()])
    summary = run.summary()
    (out_dir / SUMMARY_JSON).write_bytes(encode_summary(summary))
    meta = {
        "schema_version": SCHEMA_VERSION, "scenario": msgspec.to_builtins(run.scenario), "seed": run.seed,
        "routes": summary.routes, "started_at": run.started_at.isoformat(), "wall_s": round(run.run.wall_s, 3),
        "pairs_planned": run.run.planned, "pairs_finished": len(run.run.results),
        "interrupted": run.run.interrupted, "rail": msgspec.to_builtins(run.rail),
        "data_dir": run.lab.data.data_dir,
    }
    (out_dir / RUN_JSON).write_bytes(msgspec.json.format(msgspec.json.encode(meta), indent=1))
    return summary


def load_summary(run_dir: Path) -> Summary:
    """A run directory's summary.json, or CorridorRunError naming what is wrong."""
    path = Path(run_dir) / SUMMARY_JSON
    try:
        return read_summary(path.read_bytes())
    except FileNotFoundError:
        raise CorridorRunError(f"{path}: not found (is {run_dir} a `rail corridor` run directory?)") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CorridorRunError(f"{path}: not a corridor-lab summary ({exc})") from None
