"""`rail demo` end to end: the whole system in one command, as a newcomer runs it."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import urllib.request

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


@pytest.mark.slow
def test_demo_open_serves_the_workbench_in_a_browser_until_ctrl_c(tmp_path):
    """`rail demo --open`: the page opened in the user's browser ($BROWSER, as webbrowser honours it, records the
    address here), never with the token in the address; the rail keeps serving after the load until Ctrl-C."""
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    env = {**os.environ, "BROWSER": str(browser)}
    proc = subprocess.Popen([sys.executable, "-m", "rail", "demo", "--open", "--duration", "1", "--rate", "50",
                             "--out", "run-open"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any("keeps serving" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines) + proc.stderr.read()
            lines.append(line)
        url = opened.read_text().strip()
        token = next(line for line in lines if "admin token" in line).rsplit(": ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/") and token not in url
        assert f"workbench: {url}" in "".join(lines)
        with urllib.request.urlopen(url, timeout=5) as page:
            assert page.headers["Content-Type"].startswith("text/html")
        request = urllib.request.Request(url + "admin/balances", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert json.load(answer)["conserved"] is True
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert "reconciliation" in out and "Traceback" not in err
    check_run_dir(tmp_path / "run-open")


def test_demo_open_says_where_the_page_is_when_no_browser_starts(monkeypatch, capsys):
    from rail.app import demo

    monkeypatch.setattr(demo.webbrowser, "open", lambda url, new=0: False)
    assert demo.open_workbench("http://127.0.0.1:8080/", "s3cret", generated=False) is False
    out = capsys.readouterr().out
    assert "open http://127.0.0.1:8080/ in yours" in out and "s3cret" not in out
    assert "--admin-token or RAIL_ADMIN_TOKEN" in out
