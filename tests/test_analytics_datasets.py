"""Loading the cited data: every file validates, and a bad file is named with its row."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from analytics import datasets


@pytest.fixture()
def data_copy(tmp_path: Path) -> Path:
    for name in datasets.ALL_FILES:
        shutil.copy(datasets.packaged_data_dir() / name, tmp_path / name)
    return tmp_path


def _replace_line(path: Path, line_no: int, old: str, new: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert old in lines[line_no - 1], lines[line_no - 1]
    lines[line_no - 1] = lines[line_no - 1].replace(old, new, 1)
    path.write_text("".join(lines), encoding="utf-8")


def test_packaged_data_loads_with_every_source_column():
    data = datasets.load()
    assert len(data.corridors) == 73 and len(data.chains) == 9 + 1 and len(data.ramps) == 11
    assert len(data.flows) == 28 and len(data.benchmarks) == 22 and len(data.timeseries) == 464
    assert len(data.services) == 436 and len(data.onramps) == 12 and len(data.fx_points) == 6
    assert data.added_chains == {"BNB Smart Chain"}
    for row in data.corridors:
        assert row.source and row.status  # provenance kept on every row
    for quote in data.services:  # where each quote was read: repository, path, commit, access date
        assert quote.source_repo == "viji-saravanan/remittance-watch" and quote.source_path.endswith("/PAK.json")
        assert len(quote.source_commit) == 40 and quote.accessed and quote.status
    for ramp in data.onramps:
        assert ramp.licence_status and (ramp.licensed == "unknown" or ramp.licence_source)
    assert data.parameter("pkr_per_usd").value == 280


def test_per_service_quotes_reproduce_every_published_corridor_aggregate():
    """rpw_services.csv was transcribed from the per-quote export; corridors.csv was computed from the same
    export by the reference pack: counts, means and cheapest services must agree row for row."""
    data = datasets.load()
    checked = 0
    for row in data.corridors:
        if row.period != "2025_3Q" or row.firm_class != "all":
            continue
        quotes = [q for q in data.services if q.corridor == row.corridor and q.amount_usd == row.basket_usd]
        assert len(quotes) == row.n_services, row.corridor
        mean = sum((q.total_cost_pct for q in quotes), Decimal(0)) / len(quotes)
        assert abs(mean - row.total_cost_pct) <= Decimal("0.005"), (row.corridor, row.basket_usd)
        if row.fee_pct is not None:
            fee = sum((q.fee_pct for q in quotes), Decimal(0)) / len(quotes)
            assert abs(fee - row.fee_pct) <= Decimal("0.005"), (row.corridor, row.basket_usd)
        if row.min_total_cost_pct is not None:
            assert min(q.total_cost_pct for q in quotes) == row.min_total_cost_pct
        checked += 1
    assert checked == 21  # 9 corridors at both baskets, 3 at USD 200 only


def test_quote_that_does_not_add_up_names_file_and_row(data_copy):
    # Line 2 is SAU's first quote: Western Union, fee 0.0 + FX 1.44 = 1.44.
    _replace_line(data_copy / "rpw_services.csv", 2, ",0.0,1.44,1.44,", ",0.5,1.44,1.44,")
    with pytest.raises(datasets.DataError, match=r"rpw_services\.csv: row 1 \(line 2\): fee_pct 0\.5"):
        datasets.load(data_copy)


def test_licensed_ramp_without_fees_is_refused(data_copy):
    _replace_line(data_copy / "onramps.csv", 2, ",0,0,0.2,1.0,", ",,,0.2,1.0,")
    with pytest.raises(datasets.DataError, match=r"onramps\.csv: row 1 \(line 2\): a licensed ramp needs deposit_fee_pct"):
        datasets.load(data_copy)


def test_licence_and_attribution_ship_with_the_data():
    text = (datasets.packaged_data_dir() / "LICENSE-DATA.md").read_text(encoding="utf-8")
    assert "The World Bank: Remittance Prices Worldwide" in text and "CC BY 4.0" in text


def test_non_numeric_cell_names_file_and_row(data_copy):
    # Line 3 is data row 2: SAU->PAK bank subset at $200, fee_pct 10.0.
    _replace_line(data_copy / "corridors.csv", 3, ",10.0,", ",ten,")
    with pytest.raises(datasets.DataError) as err:
        datasets.load(data_copy)
    message = str(err.value)
    assert "corridors.csv" in message and "row 2 (line 3)" in message and "fee_pct" in message


def test_inconsistent_row_names_file_and_row(data_copy):
    # fee + FX no longer equals the total: the row contradicts itself.
    _replace_line(data_copy / "corridors.csv", 2, ",3.547,", ",4.547,")
    with pytest.raises(datasets.DataError, match=r"corridors\.csv: row 1 \(line 2\): fee_pct 4\.547"):
        datasets.load(data_copy)


def test_chain_fee_range_out_of_order_is_refused(data_copy):
    _replace_line(data_copy / "chains.csv", 5, ",0.001,0.00075,0.01,", ",0.001,0.5,0.01,")
    with pytest.raises(datasets.DataError, match=r"chains\.csv: row 4 \(line 5\): network fee must satisfy"):
        datasets.load(data_copy)


def test_missing_file_is_named(data_copy):
    (data_copy / "ramps.csv").unlink()
    with pytest.raises(datasets.DataError, match=r"ramps\.csv: file not found"):
        datasets.load(data_copy)


def test_missing_column_is_named(data_copy):
    path = data_copy / "flows_pakistan.csv"
    text = path.read_text(encoding="utf-8").replace("value_usd_bn", "value_bn", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(datasets.DataError, match=r"missing columns \['value_usd_bn'\]"):
        datasets.load(data_copy)


def test_short_row_is_named(data_copy):
    path = data_copy / "global_benchmarks.csv"
    path.write_text(path.read_text(encoding="utf-8") + "2026_1Q,broken row\n", encoding="utf-8")
    with pytest.raises(
        datasets.DataError, match=r"global_benchmarks\.csv: row 23 \(line 24\): wrong number of cells"
    ):
        datasets.load(data_copy)


def test_not_utf8_is_a_clear_error(data_copy):
    (data_copy / "parameters.csv").write_bytes(b"name,value\n\xff\xfe\x00bad\n")
    with pytest.raises(datasets.DataError, match=r"parameters\.csv: not UTF-8"):
        datasets.load(data_copy)


def test_duplicate_parameter_is_refused(data_copy):
    path = data_copy / "parameters.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines + [lines[1]]), encoding="utf-8")
    with pytest.raises(datasets.DataError, match="duplicate parameter names"):
        datasets.load(data_copy)


def test_non_positive_exchange_rate_is_refused(data_copy):
    _replace_line(data_copy / "parameters.csv", 2, "pkr_per_usd,280,279,280,", "pkr_per_usd,0,0,280,")
    with pytest.raises(
        datasets.DataError, match=r"parameters\.csv: row 1 \(line 2\): pkr_per_usd is an exchange rate"
    ):
        datasets.load(data_copy)
