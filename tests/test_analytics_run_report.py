"""The run report and the liquidity indicators, over a small run directory written with the harness's
own structs (rail.rundir), so the report reads exactly what `rail load` / `rail demo` write."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import html as lxml_html
from test_analytics_report import _json, _same, assert_renders

from analytics import costs, datasets, liquidity, run_report
from analytics.liquidity import PaymentEvent
from rail import rundir

BANKS = ("BANKAPKA", "BANKBPKA", "BANKCPKA", "BANKDPKA")
OPENING_PAISA = 50_000_000 * 100
CORRIDORS = ("SAU->PAK", "ARE->PAK", "GBR->PAK", "EUR->PAK", "GCC->PAK", "USA->PAK")


def make_run_dir(path: Path, n_payments: int = 240, seed: int = 7) -> Path:
    """A coherent small run: balances follow the settled payments, counts match the rows."""
    rng = random.Random(seed)
    payments = []
    for i in range(n_payments):
        debtor, creditor = rng.sample(BANKS, 2)
        kind = "remittance" if i % 3 else "p2p"
        status = "ACSC" if i % 17 else ("RJCT" if i % 2 else "TIMEOUT")
        payments.append(
            rundir.PaymentRow(
                uetr=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                kind=kind,
                corridor=CORRIDORS[(i // 3) % len(CORRIDORS)] if kind == "remittance" else "PAK domestic",
                debtor_bic=debtor,
                creditor_bic=creditor,
                amount_paisa=rng.randint(10_000, 300_000) * 100,
                intended_at_ms=i * 25,
                final_status=status,
                reason="AM04" if status == "RJCT" else "",
                latency_ms=None if status == "TIMEOUT" else round(rng.uniform(5, 80), 3),
            )
        )
    balance = dict.fromkeys(BANKS, OPENING_PAISA)
    lowest = dict(balance)
    sent = dict.fromkeys(BANKS, 0)
    received = dict.fromkeys(BANKS, 0)
    for p in payments:
        if p.final_status == "ACSC":
            balance[p.debtor_bic] -= p.amount_paisa
            balance[p.creditor_bic] += p.amount_paisa
            sent[p.debtor_bic] += p.amount_paisa
            received[p.creditor_bic] += p.amount_paisa
            lowest[p.debtor_bic] = min(lowest[p.debtor_bic], balance[p.debtor_bic])
    records = {
        b: rundir.LiquidityRecord(OPENING_PAISA, 0, 0, lowest[b], balance[b], sent[b], received[b])
        for b in BANKS
    }
    seconds = n_payments * 25 // 1000 + 1
    series = [
        rundir.TimeseriesRow(t, 40, 40, 38, 1, 1 if t == 2 else 0, 0, 20.0 + t, 60.0 + t)
        for t in range(seconds)
    ]
    statuses = {s: sum(1 for p in payments if p.final_status == s) for s in ("ACSC", "RJCT", "TIMEOUT")}
    stats = rundir.LatencyStats(
        count=200, p50_ms=21.5, p90_ms=40.1, p99_ms=75.2, p999_ms=79.9, max_ms=80.0, mean_ms=25.3
    )
    summary = rundir.RunSummary(
        schema_version=rundir.RUNDIR_SCHEMA_VERSION,
        tool_version="test",
        started_at="2026-11-28T07:00:00Z",
        target="in-process",
        seed=seed,
        scenario="default",
        banks=list(BANKS),
        offered_rate_per_s=40.0,
        achieved_rate_per_s=39.5,
        duration_s=float(seconds),
        warmup_s=1.0,
        steady_state=rundir.SteadyWindow(1.0, float(seconds - 1)),
        payments_offered=n_payments,
        payments_sent=n_payments,
        counts_by_status=statuses,
        counts_by_reason={"AM04": statuses["RJCT"]},
        timeouts=statuses["TIMEOUT"],
        late_sends=0,
        latency_ms={rundir.STAGE_SUBMIT_ACTC: stats, rundir.STAGE_END_TO_END: stats},
        reconciliation=rundir.Reconciliation(True, statuses["ACSC"], 0, statuses["ACSC"], True, True),
    )
    return rundir.write_run_dir(path, summary, payments, series, records)


# ---------------------------------------------------------------------------------------------------
# Liquidity indicators


def _p(debtor: str, creditor: str, amount: int, t: int, status: str = "ACSC") -> PaymentEvent:
    return PaymentEvent(debtor, creditor, amount, t, status)


def test_upper_and_lower_bound_by_hand():
    # A pays B 100, B pays A 70, A pays B 50; a rejected payment moves nothing.
    system = liquidity.indicators(
        [
            _p("A", "B", 100, 1),
            _p("B", "A", 70, 2),
            _p("A", "B", 50, 3),
            _p("A", "B", 999, 4, "RJCT"),
        ]
    )
    a, b = system.banks
    # A's worst point is right after its first payment (-100); at the end it is -80.
    assert (a.bic, a.upper_bound_paisa, a.lower_bound_paisa, a.gross_sent_paisa) == ("A", 100, 80, 150)
    assert (b.bic, b.upper_bound_paisa, b.lower_bound_paisa, b.gross_sent_paisa) == ("B", 0, 0, 70)
    assert a.net_position_paisa == -80 and b.net_position_paisa == 80
    assert system.upper_bound_paisa == 100 and system.lower_bound_paisa == 80 and system.settled_payments == 3


def test_upper_bound_is_the_worst_intraday_point_not_the_end_of_day():
    # A sends 100 first and only later receives 100 back: UB 100, LB 0.
    system = liquidity.indicators([_p("A", "B", 100, 1), _p("B", "A", 100, 5)])
    a = system.banks[0]
    assert a.upper_bound_paisa == 100 and a.lower_bound_paisa == 0


def test_same_millisecond_counts_outflows_first():
    system = liquidity.indicators([_p("B", "A", 100, 1), _p("A", "B", 100, 1)])
    assert system.banks[0].upper_bound_paisa == 100


@given(
    st.lists(
        st.tuples(
            st.sampled_from("ABCD"),
            st.sampled_from("ABCD"),
            st.integers(1, 10**9),
            st.integers(0, 1000),
            st.sampled_from(["ACSC", "ACSC", "RJCT"]),
        ),
        max_size=60,
    )
)
def test_bounds_are_ordered_and_money_is_conserved(rows):
    system = liquidity.indicators([_p(*row) for row in rows])
    for bank in system.banks:
        assert 0 <= bank.lower_bound_paisa <= bank.upper_bound_paisa <= bank.gross_sent_paisa
    assert sum(b.net_position_paisa for b in system.banks) == 0


def test_usage_position_between_bounds(tmp_path):
    run = run_report.read_run(make_run_dir(tmp_path / "run"))
    system = liquidity.indicators(run.payments, run.summary.banks)
    for line in liquidity.usage(system, run.liquidity):
        # The fixture's balances follow the settled payments exactly, so "used" is the upper bound.
        assert line.used_paisa == line.upper_bound_paisa
        assert line.usage_position in (None, Decimal("1.000"))


# ---------------------------------------------------------------------------------------------------
# The report


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run_dir(tmp_path_factory.mktemp("run") / "run")


@pytest.fixture(scope="module")
def written(run_dir) -> Path:
    return run_report.write_run_report(run_dir)


def test_run_report_writes_html_json_and_tables(written, run_dir):
    assert written == run_dir / "report.html"
    doc = _json(run_dir / "report.json")
    assert {
        "timeseries",
        "latency",
        "outcomes",
        "liquidity",
        "run_remittance_costs",
        "run_remittance_costs_total",
    } <= set(doc["tables"])
    assert (run_dir / "tables" / "liquidity.csv").is_file()


def test_run_report_html_equals_json(written, run_dir):
    doc = _json(run_dir / "report.json")
    page = lxml_html.parse(str(written)).getroot()
    for table in page.xpath("//table[@data-table]"):
        spec = doc["tables"][table.get("data-table")]
        rows = table.xpath("./tbody/tr")
        assert len(rows) == len(spec["rows"])
        for tr, expected in zip(rows, spec["rows"]):
            for td in tr.xpath("./td"):
                assert _same(td.text_content(), expected[td.get("data-key")])


def test_run_report_liquidity_matches_the_indicators(written, run_dir):
    rows = _json(run_dir / "report.json")["tables"]["liquidity"]["rows"]
    run = run_report.read_run(run_dir)
    system = liquidity.indicators(run.payments, run.summary.banks)
    assert [r["bic"] for r in rows] == sorted(BANKS)
    for row, bank in zip(rows, system.banks):
        assert row["upper_bound_pkr"] == Decimal(bank.upper_bound_paisa) / 100
        assert row["lower_bound_pkr"] == Decimal(bank.lower_bound_paisa) / 100


def test_run_remittance_costs_are_the_cost_model_per_ticket(written, run_dir):
    rows = _json(run_dir / "report.json")["tables"]["run_remittance_costs"]["rows"]
    data = datasets.load()
    run = run_report.read_run(run_dir)
    sau = [p for p in run.payments if p.kind == "remittance" and p.corridor == "SAU->PAK"]
    settled = [(Decimal(p.amount_paisa) / 100 / 280).quantize(Decimal("0.01")) for p in sau if p.final_status == "ACSC"]
    # Rejected and timed-out remittances moved no money: only settled ones are priced.
    remittances = [p for p in run.payments if p.kind == "remittance"]
    priced = {r["corridor"] for r in rows if r["channel_key"] == "rpw_average"}
    unsettled = [p for p in remittances if p.corridor in priced and p.final_status != "ACSC"]
    assert unsettled and sum(r["tickets"] for r in rows if r["channel_key"] == "rpw_average") == sum(
        1 for p in remittances if p.corridor in priced and p.final_status == "ACSC"
    )
    expected = sum((costs.cost(data, "SAU->PAK", "mto", a).total_usd for a in settled), Decimal(0))
    row = next(r for r in rows if r["corridor"] == "SAU->PAK" and r["channel_key"] == "mto")
    assert row["cost_usd"] == expected.quantize(Decimal("0.01")) and row["tickets"] == len(settled)
    # No RPW corridor and no licensed on-ramp documented for the EU: nothing is priced there, never invented.
    assert not [r for r in rows if r["corridor"] == "EUR->PAK"]
    # Saudi Arabia has RPW figures but no licensed on-ramp: formal channels only.
    assert {r["channel_key"] for r in rows if r["corridor"] == "SAU->PAK"} == {"rpw_average", "bank", "mto"}


@pytest.mark.slow
def test_run_report_renders_its_charts_in_headless_chromium(written, tmp_path):
    assert_renders(written, tmp_path, charts_min=6)


def test_missing_or_malformed_run_dir_is_a_clear_error(tmp_path, run_dir):
    with pytest.raises(run_report.RunDirError, match="run directory not found"):
        run_report.read_run(tmp_path / "nope")
    broken = make_run_dir(tmp_path / "broken", n_payments=30)
    (broken / "liquidity.json").unlink()
    with pytest.raises(run_report.RunDirError, match=r"liquidity\.json: missing"):
        run_report.read_run(broken)
    bad_rows = make_run_dir(tmp_path / "badrows", n_payments=30)
    lines = (bad_rows / "payments.csv").read_text().splitlines()
    lines[5] = lines[5].replace(",ACSC,", ",ACSC,").rsplit(",", 5)[0] + ",lots,0,ACSC,,1.0"
    (bad_rows / "payments.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(run_report.RunDirError, match=r"payments\.csv: row 5"):
        run_report.read_run(bad_rows)
    negative = make_run_dir(tmp_path / "negative", n_payments=30)
    text = (negative / "payments.csv").read_text()
    first = text.splitlines()[3]
    amount = first.split(",")[5]
    (negative / "payments.csv").write_text(text.replace(first, first.replace(f",{amount},", ",-5,", 1)))
    with pytest.raises(
        run_report.RunDirError, match=r"payments\.csv: row 3: amount_paisa -5 must be positive"
    ):
        run_report.read_run(negative)
    future = make_run_dir(tmp_path / "future", n_payments=30)
    doc = msgspec.json.decode((future / "run.json").read_bytes())
    doc["schema_version"] = "9.0"
    (future / "run.json").write_bytes(msgspec.json.encode(doc))
    with pytest.raises(run_report.RunDirError, match="schema version 9.0"):
        run_report.read_run(future)


def test_cli_run_writes_the_report(tmp_path, capsys):
    from test_analytics_report import _args

    from analytics.cli import run

    path = make_run_dir(tmp_path / "run", n_payments=60)
    out = tmp_path / "elsewhere" / "run.html"
    assert run(_args(["run", str(path), "--out", str(out)])) == 0
    assert out.is_file() and (tmp_path / "elsewhere" / "run.json").is_file()
    assert str(out) in capsys.readouterr().out


def test_run_totals_are_like_for_like_against_the_rpw_average(written, run_dir):
    tables = _json(run_dir / "report.json")["tables"]
    per_corridor = tables["run_remittance_costs"]["rows"]
    totals = {r["channel_key"]: r for r in tables["run_remittance_costs_total"]["rows"]}
    covered = set(totals["rpw_average"]["corridors"])
    assert "EUR->PAK" not in covered and "SAU->PAK" in covered
    tron = totals["stablecoin:Tron:bank"]
    assert set(tron["corridors"]) == {"ARE->PAK", "GBR->PAK", "USA->PAK"}  # the covered corridors with a route
    quo = sum(
        r["cost_usd"] for r in per_corridor if r["channel_key"] == "rpw_average" and r["corridor"] in tron["corridors"]
    )
    assert tron["saving_vs_rpw_average_usd"] == quo - tron["cost_usd"]
    assert totals["rpw_average"]["saving_vs_rpw_average_usd"] == 0


def test_demo_entry_point_writes_the_report(tmp_path):
    from rail.app.demo import _write_report

    path = make_run_dir(tmp_path / "demo", n_payments=40)
    assert _write_report(path) == path / "report.html"
    assert (path / "report.html").stat().st_size > 0
