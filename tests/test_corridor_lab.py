"""The corridor lab end to end: `rail corridor` over a real in-process rail, its run directory and report (in
headless Chromium), the domestic leg's money on the rail's books, determinism, Ctrl-C, and the cost report's
section."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import REPO
from test_analytics_report import assert_renders

from analytics import datasets
from analytics.cli import configure as report_configure
from analytics.cli import run as report_run
from analytics.corridor.model import Remittance, Status
from analytics.corridor.params import LabData
from analytics.corridor.routes.instant_link import InstantLink
from analytics.corridor.runfile import MEASURED_COLUMNS
from participants.corridor_rail import RaastLeg
from rail.app import corridor_cli

RAIL = [sys.executable, "-m", "rail"]
DEFAULT_RUN_REMITTANCES = 600  # the default scenario, smaller than its 2,000 to keep the suite lean


def corridor(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="rail corridor")
    corridor_cli.configure(parser)
    return corridor_cli.run(parser.parse_args(argv))


def rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corridor") / "run"
    assert corridor(["--remittances", str(DEFAULT_RUN_REMITTANCES), "--seed", "7", "--out", str(out)]) == 0
    return out


def test_the_run_directory_holds_every_remittance_on_every_route(default_run):
    meta = json.loads((default_run / "run.json").read_text())
    results = rows(default_run / "results.csv")
    routes = [r["name"] for r in meta["routes"]]
    assert meta["scenario"]["name"] == "default" and not meta["interrupted"]
    assert len(rows(default_run / "remittances.csv")) == DEFAULT_RUN_REMITTANCES
    assert len(results) == DEFAULT_RUN_REMITTANCES * len(routes) == meta["pairs_finished"]
    for r in results:
        if r["status"] == "credited":  # the cost split adds up, and a credited remittance went through RAAST
            parts = sum(Decimal(r[f"{p}_usd"]) for p in ("fee", "fx_margin", "network", "ramps", "premium"))
            assert parts == Decimal(r["total_usd"]) and r["raast_status"] == "ACSC"
            assert float(r["time_to_credit_s"]) > 0 and "RAAST" in r["steps"]
        elif r["status"] == "not_offered":
            assert r["reason"] and not r["raast_status"]
    summary = json.loads((default_run / "summary.json").read_text())
    assert {c["route"] for c in summary["by_route"]} == set(routes)
    assert any(c["rpw"] and c["rpw"]["n_quotes"] > 0 for c in summary["cells"])  # RPW figures, with their counts


def test_the_domestic_leg_went_through_the_rail(default_run):
    """The rail's books: conservation held, every participant's balance moved by exactly what settled, the
    instant link's FX provider paid out exactly what its remittances credited, and a beneficiary whose bank
    rejects the account fails on every route with the rail's ISO reason."""
    rail = json.loads((default_run / "run.json").read_text())["rail"]
    results = rows(default_run / "results.csv")
    assert rail["conserved"] and rail["balances_match"] and not rail["mismatches"]
    assert rail["settled"] == sum(r["raast_status"] == "ACSC" for r in results) > 1000
    link_paid = sum(int(r["credited_paisa"]) for r in results if r["route"] == "instant_link" and r["status"] == "credited")
    assert rail["moved_paisa"]["LINKPKKA"] == -link_paid < 0
    bad = {r["seq"] for r in rows(default_run / "remittances.csv") if r["beneficiary_account"] != "ok"}
    assert bad  # the default scenario has some (1%, an ASSUMPTION)
    for r in results:
        if r["seq"] in bad and r["status"] != "not_offered" and r["raast_status"]:
            assert r["status"] == "failed" and r["raast_status"] == "RJCT" and r["reason"].startswith("RAAST RJCT AC0")


async def test_a_rejection_on_raast_fails_the_remittance_and_moves_no_money():
    lab = LabData(datasets.load())
    link = InstantLink(lab, {"ARE": "AED"})
    rail = await RaastLeg.open([(link.bic, link.participant_name)])
    try:
        sent = dt.datetime(2025, 2, 12, 10, 0, tzinfo=dt.UTC)
        good = Remittance(1, "ARE->PAK", Decimal("300.00"), 8_400_000, sent, 2, "ok")
        closed = Remittance(2, "ARE->PAK", Decimal("300.00"), 8_400_000, sent, 2, "AC04")
        ok = await link.send(good, random.Random(1), rail)
        refused = await link.send(closed, random.Random(2), rail)
        check = await rail.check()
    finally:
        await rail.close()
    assert ok.status is Status.CREDITED and ok.raast_status == "ACSC" and ok.raast_latency_ms > 0
    assert refused.status is Status.FAILED and refused.raast_status == "RJCT" and "AC04" in refused.reason
    assert refused.time_to_credit_s is None and refused.liquidity == ()
    assert check.conserved and check.balances_match and check.settled == 1 and check.rejected == 1
    assert check.moved_paisa["LINKPKKA"] == -ok.credited_paisa and check.moved_paisa["MUCBPKKA"] == ok.credited_paisa


def _seeded(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in MEASURED_COLUMNS} for r in rows(path / "results.csv")]


def test_same_seed_same_results(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert corridor(["--remittances", "120", "--seed", str(seed), "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "a" / "remittances.csv").read_bytes() == (tmp_path / "b" / "remittances.csv").read_bytes()
    assert _seeded(tmp_path / "a") == _seeded(tmp_path / "b")
    assert _seeded(tmp_path / "a") != _seeded(tmp_path / "c")


@pytest.mark.slow
def test_the_report_reads_in_headless_chromium(default_run, tmp_path):
    html = (default_run / "report.html").read_text()
    assert "Corridor lab" in html and "RPW mean of the same corridor" in html and "G20" in html
    assert_renders(default_run / "report.html", tmp_path, charts_min=9)


def test_the_cost_report_gets_the_measured_section(default_run, tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    report_configure(parser)
    out = tmp_path / "costs"
    assert report_run(parser.parse_args(["costs", "--corridor-run", str(default_run), "--out", str(out)])) == 0
    doc = json.loads((out / "report.json").read_text())
    assert {r["route"] for r in doc["tables"]["corridor_lab"]["rows"]} >= {"Correspondent banking", "Instant link (Buna / Nexus-style)"}
    assert any(f.startswith("Corridor lab (600 simulated remittances") for f in doc["findings"])
    assert report_run(parser.parse_args(["costs", "--corridor-run", str(tmp_path), "--out", str(out)])) == 2


def test_a_contested_scenario_stays_out_of_the_cost_report_headline(tmp_path):
    import argparse

    assert corridor(["--scenario", "p2p_premium", "--remittances", "80", "--out", str(tmp_path / "p")]) == 0
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert summary["contested"] and any(float(r["premium_usd"]) < 0 for r in rows(tmp_path / "p" / "results.csv")
                                        if r["route"] == "stablecoin_p2p" and r["status"] == "credited")
    parser = argparse.ArgumentParser()
    report_configure(parser)
    out = tmp_path / "costs"
    assert report_run(parser.parse_args(["costs", "--corridor-run", str(tmp_path / "p"), "--out", str(out)])) == 0
    doc = json.loads((out / "report.json").read_text())
    assert not any(f.startswith("Corridor lab") for f in doc["findings"])
    assert 'class="scenario"' in (out / "report.html").read_text().split('id="corridor-lab"')[1][:40]


def test_help_explains_and_bad_input_is_one_line(capsys):
    help_text = subprocess.run([*RAIL, "corridor", "--help"], capture_output=True, text=True, check=True).stdout
    for phrase in ("--scenario", "--remittances", "--seed", "--out", "real RAAST payment", "p2p_premium"):
        assert phrase in help_text
    assert corridor(["--scenario", "nowhere"]) == 2
    assert corridor(["--remittances", "0"]) == 2
    err = capsys.readouterr().err
    assert "scenario not found: nowhere (shipped: default, p2p_premium)" in err and "outside 1.." in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_ctrl_c_writes_what_was_measured_and_exits_130(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([*RAIL, "corridor", "--remittances", "50000", "--out", "run"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:  # the first progress line: the lab is sending
        if "remittance x route" in line:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted by SIGINT" in err and "Traceback" not in err
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert meta["interrupted"] and summary["interrupted"] and 0 < summary["counted_remittances"] < 50_000
    assert meta["rail"]["balances_match"] and "interrupted" in (tmp_path / "run" / "report.html").read_text()
