"""`rail demo` end to end: the whole system in one command, as a newcomer runs it."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from rail import rundir


def run_demo(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rail", "demo", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)


def check_run_dir(out) -> rundir.RunSummary:
    summary = rundir.read_run_summary(out)
    assert summary.reconciliation.ok, summary.reconciliation.mismatches
    assert summary.reconciliation.rail_conserved is True
    assert summary.payments_sent == summary.payments_offered > 0
    assert summary.counts_by_status.get("ACSC", 0) > 0
    assert summary.timeouts == 0
    for name in (rundir.TIMESERIES_CSV, rundir.PAYMENTS_CSV, rundir.LIQUIDITY_JSON, rundir.METRICS_PROM):
        assert (out / name).exists(), name
    assert any((out / rundir.JOURNAL_DIR).rglob("*")), "the rail's journal is part of the run directory"
    with (out / rundir.PAYMENTS_CSV).open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == summary.payments_offered
    assert {r["kind"] for r in rows} <= {"remittance", "p2p", "merchant"}
    assert "rail_messages_received_total" in (out / rundir.METRICS_PROM).read_text()
    return summary


@pytest.mark.slow
def test_demo_runs_the_whole_system_and_writes_a_run_directory(tmp_path):
    proc = run_demo(tmp_path, "--duration", "3", "--out", "run1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    summary = check_run_dir(tmp_path / "run1")
    assert summary.transport == "inprocess" and summary.rendering == "xml"
    assert "headline:" in proc.stdout and "reconciliation OK" in proc.stdout
    assert "run directory: run1" in proc.stdout


def test_demo_default_output_directory_is_under_runs(tmp_path):
    proc = run_demo(tmp_path, "--duration", "1", "--rate", "100", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = list((tmp_path / "runs").glob("demo-*"))
    assert len(runs) == 1
    data = json.loads(proc.stdout[proc.stdout.index("{\n"):])
    assert data["schema_version"] == rundir.RUNDIR_SCHEMA_VERSION


@pytest.mark.slow
def test_demo_over_the_real_http_server(tmp_path):
    proc = run_demo(tmp_path, "--duration", "2", "--rate", "200", "--http", "--out", "run-http")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = check_run_dir(tmp_path / "run-http")
    assert summary.transport == "http" and summary.target.startswith("http://127.0.0.1:")


def test_demo_rejects_bad_arguments_clearly(tmp_path):
    proc = run_demo(tmp_path, "--duration", "0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "positive" in proc.stderr
