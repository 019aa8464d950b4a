"""The cost report: its figures recomputed from the CSVs, HTML, JSON and CSV agreeing, no negative cost
by default, the premium apart, and the page laid out for reading in a real browser."""

from __future__ import annotations

import csv
import json
import re
import shlex
import shutil
import struct
import subprocess
import zlib
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from conftest import REPO
from lxml import html as lxml_html

from analytics import cost_report, datasets
from analytics.cli import configure, run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_TIMEOUT_S = 45
DATA_DIR = datasets.packaged_data_dir()
SCREEN_PX = (1280, 800)
SCREENS_MAX = 12

# Appended to a COPY of the page (the product page has no script). Runs in the browser at 1280 px and
# writes into the DOM, which --dump-dom then shows us: script errors, each chart's size, charts with
# nothing drawn, text outside its SVG, tables or elements wider than their room, and the page's height.
PROBE = """<script>
window.addEventListener('error', e => document.body.setAttribute('data-error', String(e.message)));
window.addEventListener('load', () => {
  const problems = [];
  const charts = [...document.querySelectorAll('svg.chart')];
  for (const svg of charts) {
    const box = svg.getBoundingClientRect();
    const name = (svg.getAttribute('aria-label') || '').slice(0, 50);
    for (const t of svg.querySelectorAll('text')) {
      const b = t.getBoundingClientRect();
      if (b.width > 0 && (b.left < box.left - 0.5 || b.top < box.top - 0.5 || b.right > box.right + 0.5 || b.bottom > box.bottom + 0.5))
        problems.push(name + ': text outside the chart: ' + t.textContent.slice(0, 50));
    }
    if (box.right > svg.parentElement.getBoundingClientRect().right + 0.5) problems.push(name + ': chart wider than its figure');
  }
  for (const wrap of document.querySelectorAll('.table-wrap'))
    if (wrap.scrollWidth > wrap.clientWidth + 1) problems.push('table wider than the page: ' + wrap.querySelector('table').dataset.table);
  for (const el of document.querySelectorAll('main *'))
    if (el.getBoundingClientRect().right > window.innerWidth + 0.5) { problems.push('wider than the window: ' + el.tagName); break; }
  const b = document.body;
  b.setAttribute('data-problems', JSON.stringify(problems));
  b.setAttribute('data-height', String(document.documentElement.scrollHeight));
  b.setAttribute('data-chart-sizes', charts.map(s => { const r = s.getBoundingClientRect(); return Math.round(r.width) + 'x' + Math.round(r.height); }).join(' '));
  b.setAttribute('data-empty-charts', String(charts.filter(s => s.querySelectorAll('rect.bar, rect.segment, path.series').length === 0).length));
});
</script>"""


@pytest.fixture(scope="module")
def default_report(tmp_path_factory) -> Path:
    """Exactly what `rail report costs` writes with no options."""
    out = tmp_path_factory.mktemp("costs")
    data = datasets.load()
    cost_report.write_report(cost_report.build_cost_report(data), out)
    return out


def _json(path: Path) -> dict:
    return msgspec.json.Decoder(float_hook=Decimal).decode(path.read_bytes())


def _table(report_dir: Path, name: str) -> list[dict]:
    return _json(report_dir / "report.json")["tables"][name]["rows"]


def _csv(name: str) -> list[dict]:
    with (DATA_DIR / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _same(html_text: str, json_value) -> bool:
    if json_value is None:
        return html_text == ""
    if isinstance(json_value, bool):
        return html_text == ("yes" if json_value else "no")
    if isinstance(json_value, (int, Decimal)):
        return Decimal(html_text) == Decimal(json_value)
    if isinstance(json_value, list):
        # Lists render as "a, b" (text) or as badges separated by spaces: compare the items.
        def items(text: str) -> list[str]:
            return [t for t in re.split(r"[,\s]+", text) if t]

        return items(html_text) == [t for v in json_value for t in items(str(v))]
    return html_text == str(json_value)


# ---------------------------------------------------------------------------------------------------
# Must show: the report's numbers recomputed from the CSV files, not from the model


def test_flow_weighted_average_recomputed_from_the_csvs(default_report):
    totals = {
        (r["corridor"], r["send_amount_usd"]): Decimal(r["total_cost_pct"])
        for r in _csv("corridors.csv")
        if r["firm_class"] == "all" and r["period"] == "2025_3Q"
    }
    flows = {r["series"]: Decimal(r["value_usd_bn"]) for r in _csv("flows_pakistan.csv") if r["period"] == "FY2025" and r["value_usd_bn"]}
    gcc = ("KWT->PAK", "QAT->PAK", "OMN->PAK", "BHR->PAK")  # equal weights: SBP's split is not in the data
    sources = {
        "Saudi Arabia": ["SAU->PAK"], "United Arab Emirates": ["ARE->PAK"], "United Kingdom": ["GBR->PAK"],
        "United States": ["USA->PAK"], "Other GCC (Kuwait, Qatar, Oman, Bahrain)": list(gcc),
    }
    benchmarks = {r["metric"]: r["value_pct"] for r in _table(default_report, "benchmarks")}
    for basket, metric in (("200", "pakistan_flow_weighted_200"), ("500", "pakistan_flow_weighted_500")):
        cost = {s: sum(totals[(c, basket)] for c in cs) / len(cs) for s, cs in sources.items()}
        weighted = sum(flows[s] * cost[s] for s in sources) / sum(flows[s] for s in sources)
        assert abs(benchmarks[metric] - weighted) < Decimal("0.001"), (basket, weighted)
    assert benchmarks["pakistan_flow_weighted_200"] == Decimal("3.187")


def test_best_service_figure_recomputed_from_the_csvs(default_report):
    quotes = [
        q for q in _csv("rpw_services.csv")
        if q["corridor"] == "GBR->PAK" and q["amount_usd"] == "200" and q["transparent"] == "yes"
    ]
    digital = [
        Decimal(q["total_cost_pct"]) for q in quotes
        if q["payment_instrument"] in ("Bank account transfer", "Debit card", "Credit card", "Mobile money")
        and q["access_point"] in ("Internet", "Mobile phone")
    ]
    row = next(r for r in _table(default_report, "like_for_like") if r["corridor"] == "GBR->PAK" and r["amount_usd"] == 200)
    assert row["formal_best_pct"] == min(digital) == Decimal("0.46")
    assert row["formal_pool"] == f"digital (n={len(digital)})"
    ordered = sorted(digital)
    middle = len(ordered) // 2
    assert row["formal_typical_pct"] == (ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2)
    every = [Decimal(q["total_cost_pct"]) for q in quotes]
    assert row["rpw_average_pct"] == (sum(every) / len(every)).quantize(Decimal("0.01"))
    assert row["any_best_pct"] == 0 and row["rate_advantage_pct"] == -min(every)  # -1.43% shown as 0, +1.43


def test_rebate_recomputed_from_the_csvs(default_report):
    params = {r["name"]: Decimal(r["value"]) for r in _csv("parameters.csv")}
    pri = {r["item"]: r["value"] for r in _table(default_report, "pri")}
    assert pri["rebate_fy2026_usd"] == (params["pri_rebate_sar"] / params["sar_per_usd"]).quantize(Decimal("0.01"))
    spend = params["pri_tt_spend_fy2025_pkr_bn"] * 10**9 / params["pkr_per_usd"]
    assert pri["spend_fy2025_usd_m"] == (spend / 10**6).quantize(Decimal("0.01"))
    pkr_per_sar = params["pkr_per_usd"] / params["sar_per_usd"]
    rebated = params["pri_tt_spend_fy2025_pkr_bn"] * 10**9 / (params["pri_rebate_fy2025_sar"] * pkr_per_sar)  # at SAR 20
    flows = next(Decimal(r["value_usd_bn"]) for r in _csv("flows_pakistan.csv") if r["period"].startswith("FY2025 ("))
    assert pri["implied_ticket_usd"].split("-")[0] == str((flows * 10**9 / rebated).quantize(Decimal("1"))) == "336"


def test_residual_flow_recomputed_from_the_csvs(default_report):
    flows = [r for r in _csv("flows_pakistan.csv") if r["period"] == "FY2025" and r["value_usd_bn"]]
    residual_name = "All other countries (AUS, CAN, MYS, NOR, etc.)"
    total = next(Decimal(r["value_usd_bn"]) for r in _csv("flows_pakistan.csv")
                 if r["period"].startswith("FY2025 (") and r["series"] == "total workers remittances")
    listed = sum(Decimal(r["value_usd_bn"]) for r in flows if r["series"] != residual_name)
    row = next(r for r in _table(default_report, "flows") if r["series"] == residual_name)
    assert row["flow_usd_bn"] == total - listed == Decimal("3.39")


def _cost_values(report_dir: Path):
    """Every cost figure the default report shows, outside the premium scenario: table cells and chart marks."""
    doc = _json(report_dir / "report.json")
    cost_columns = {
        "like_for_like": ("formal_best_pct", "formal_typical_pct", "any_best_pct", "rpw_average_pct", "route_best_pct", "route_typical_pct"),
        "flows": ("cost_200_pct", "cost_500_pct"),
        "scorecard": ("mean_200_pct", "mean_500_pct", "mean_2018_200_pct"),
    }
    for name, keys in cost_columns.items():
        for row in doc["tables"][name]["rows"]:
            for key in keys:
                if row[key] is not None:
                    yield f"{name}.{key}", Decimal(row[key])
    page = lxml_html.parse(str(report_dir / "report.html")).getroot()
    for svg in page.xpath("//svg[@class='chart'][not(ancestor::section[contains(@class,'scenario')])]"):
        for mark in svg.xpath(".//*[@data-value]"):
            for part in mark.get("data-value").split("-") if svg.get("data-chart") == "range" else [mark.get("data-value")]:
                yield svg.get("aria-label"), Decimal(part)


def test_default_report_shows_no_negative_total_cost(default_report):
    values = list(_cost_values(default_report))
    assert len(values) > 300
    assert [(where, v) for where, v in values if v < 0] == []


def test_premium_stays_out_of_the_headline_and_shows_its_break_even(default_report):
    doc = _json(default_report / "report.json")
    routes = [r for r in doc["tables"]["like_for_like_detail"]["rows"] if r["kind"].startswith("stablecoin")]
    assert len(routes) == 4 * 2 * 2 * 8  # 4 corridors, 2 baskets, low and typical fees, 8 chains
    assert all(r["best_pct"] > 0 for r in routes)  # no premium: a route never pays its sender
    breaks = {(r["corridor"], r["amount_usd"]): r for r in doc["tables"]["premium_break_even"]["rows"]}
    routed = {(r["corridor"], r["amount_usd"]) for r in doc["tables"]["like_for_like"]["rows"] if r["route_n"]}
    assert set(breaks) == routed and len(routed) == 8  # ARE, GBR, USA, BHR at both baskets
    for row in breaks.values():
        assert row["best_pp"] == row["route_best_pct"] - row["formal_best_pct"]
        assert row["typical_pp"] == row["route_typical_pct"] - row["formal_typical_pct"]
    evidence = doc["tables"]["premium_evidence"]["rows"]
    assert [r["status"] for r in evidence][-1].startswith("UNVERIFIED")
    page = lxml_html.parse(str(default_report / "report.html")).getroot()
    scenario = page.xpath("//section[contains(@class,'scenario')]")
    assert len(scenario) == 1 and "Who bears it" in scenario[0].text_content()
    assert page.xpath("//section")[-2] is scenario[0]  # after every default section, before the sources


# ---------------------------------------------------------------------------------------------------
# One report in three forms


def test_html_tables_equal_the_json_and_long_tables_are_files(default_report):
    doc = _json(default_report / "report.json")
    page = lxml_html.parse(str(default_report / "report.html")).getroot()
    tables = {t.get("data-table"): t for t in page.xpath("//table[@data-table]")}
    inline = {name for name, spec in doc["tables"].items() if spec["inline"]}
    assert set(tables) == inline and {"trend", "inputs", "like_for_like_detail"} <= set(doc["tables"]) - inline
    compared = 0
    for name, table in tables.items():
        spec = doc["tables"][name]
        keys = [c["key"] for c in spec["columns"]]
        assert [th.get("data-key") for th in table.xpath("./thead/tr/th")] == keys
        rows = table.xpath("./tbody/tr")
        assert len(rows) == len(spec["rows"]) <= 30, name  # long tables belong in files
        for tr, expected in zip(rows, spec["rows"]):
            for td in tr.xpath("./td"):
                key = td.get("data-key")
                assert _same(td.text_content(), expected[key]), (name, key)
                compared += 1
    assert compared > 500
    links = {a.get("href") for a in page.xpath("//div[@class='files']//a")}
    assert links == {f"tables/{name}.csv" for name in doc["tables"]}


def test_csv_tables_equal_the_json(default_report):
    doc = _json(default_report / "report.json")
    for name, spec in doc["tables"].items():
        with (default_report / "tables" / f"{name}.csv").open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == len(spec["rows"])
        for got, expected in zip(rows, spec["rows"]):
            for key, value in expected.items():
                assert _same(got[key].replace(",", " ") if isinstance(value, list) else got[key], value), (name, key)


def test_answer_first_then_contents_and_sections_ending_in_their_chart(default_report):
    page = lxml_html.parse(str(default_report / "report.html")).getroot()
    main = page.xpath("//main")[0]
    order = [el.tag for el in main if el.tag in ("ul", "figure", "nav", "section")]
    assert order[:3] == ["ul", "figure", "nav"]  # the answer, its chart, then the contents
    sections = page.xpath("//section")
    assert [a.get("href") for a in page.xpath("//nav//a")] == [f"#{s.get('id')}" for s in sections]
    for section in sections:
        blocks = section.xpath("./figure | ./div")
        assert blocks[-2].tag == "figure", section.get("id")  # each section ends in its chart ...
        assert blocks[-1].get("class") == "files"  # ... then the links to its CSV files
    for fig in page.xpath("//figure"):
        caption = fig.xpath("./figcaption")[0].text_content()
        assert "Source:" in caption and any(ch.isdigit() for ch in caption.split("Source:")[1])
    assert "The World Bank: Remittance Prices Worldwide" in page.text_content()


# ---------------------------------------------------------------------------------------------------
# Headless Chromium


def png_distinct_bytes(path: Path) -> int:
    """How many distinct byte values the decompressed image data holds (a blank page has very few)."""
    blob = path.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(blob):
        (length,) = struct.unpack(">I", blob[pos : pos + 4])
        kind = blob[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += blob[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return len(set(zlib.decompress(idat)))


def render_in_chromium(html_path: Path, work: Path) -> tuple[lxml_html.HtmlElement, Path]:
    """Dump the DOM of the page (with PROBE appended) at 1280 x 800 and screenshot the page as shipped."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    probed = work / "probed.html"
    probed.write_text(html_path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    common = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--window-size={SCREEN_PX[0]},{SCREEN_PX[1]}",
    ]
    dom = subprocess.run(
        [*common, f"--user-data-dir={work / 'profile-dom'}", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S, check=True,
    ).stdout
    shot = work / "shot.png"
    subprocess.run(
        [*common, f"--user-data-dir={work / 'profile-shot'}", f"--screenshot={shot}", html_path.as_uri()],
        capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S, check=True,
    )
    return lxml_html.fromstring(dom), shot


def assert_renders(html_path: Path, work: Path, charts_min: int, screens_max: int | None = None) -> None:
    dom, shot = render_in_chromium(html_path, work)
    body = dom.xpath("//body")[0]
    assert body.get("data-error") is None, body.get("data-error")
    assert json.loads(body.get("data-problems") or '["probe did not run"]') == []
    sizes = (body.get("data-chart-sizes") or "").split()
    assert len(sizes) >= charts_min
    for size in sizes:
        width, height = (int(v) for v in size.split("x"))
        assert width > 300 and height > 60, size  # a one-bar chart is short, never empty
    assert body.get("data-empty-charts") == "0"
    if screens_max is not None:
        assert int(body.get("data-height")) <= screens_max * SCREEN_PX[1]
    assert shot.stat().st_size > 20_000
    assert png_distinct_bytes(shot) > 32  # text, bars and colours, not a blank page


@pytest.mark.slow
def test_cost_report_reads_in_headless_chromium_without_clipped_labels(default_report, tmp_path):
    assert_renders(default_report / "report.html", tmp_path, charts_min=6, screens_max=SCREENS_MAX)


# ---------------------------------------------------------------------------------------------------
# CLI and docs


def _args(argv: list[str]):
    import argparse

    parser = argparse.ArgumentParser(prog="rail report")
    configure(parser)
    return parser.parse_args(argv)


def test_cli_costs_writes_html_csv_json_and_prints_summary(tmp_path, capsys):
    rc = run(_args(["costs", "--corridor", "USA->PAK", "--amount", "200", "--out", str(tmp_path / "out")]))
    assert rc == 0
    out = capsys.readouterr().out
    assert "USA->PAK" in out and "3.81" in out and "Kraken" in out
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "report.json").is_file()
    assert (tmp_path / "out" / "tables" / "like_for_like.csv").is_file()


def test_cli_premium_goes_to_the_scenario_only(tmp_path):
    out = tmp_path / "p"
    assert run(_args(["costs", "--corridor", "GBR->PAK", "--p2p-premium", "4", "--shift-share", "50", "--out", str(out)])) == 0
    doc = _json(out / "report.json")
    assert doc["tables"]["premium_evidence"]["rows"][-1]["premium_pct"] == 4
    gbr = next(r for r in doc["tables"]["like_for_like"]["rows"] if r["amount_usd"] == 200)
    default = _json_of_default_gbr(tmp_path)
    assert gbr == default  # the headline is the same with or without a premium


def _json_of_default_gbr(tmp_path: Path) -> dict:
    out = tmp_path / "d"
    assert run(_args(["costs", "--corridor", "GBR->PAK", "--out", str(out)])) == 0
    return next(r for r in _json(out / "report.json")["tables"]["like_for_like"]["rows"] if r["amount_usd"] == 200)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["costs", "--corridor", "DEU->PAK"], "no RPW data for corridor(s) DEU->PAK"),
        (["costs", "--corridor", "SAU-"], "quote it: --corridor 'SAU->PAK'"),
        (["costs", "--amount", "lots"], "amount 'lots' is not a number"),
        (["costs", "--amount", "0"], "outside"),
        (["costs", "--shift-share", "150"], "--shift-share 150 is outside"),
        (["costs", "--data-dir", "/nonexistent-dir"], "data directory not found"),
        (["run", "/nonexistent-run"], "nonexistent-run"),
    ],
)
def test_cli_bad_input_is_a_one_line_error(tmp_path, capsys, argv, message):
    argv = [*argv, "--out", str(tmp_path / "o")] if argv[0] == "costs" else argv
    assert run(_args(argv)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_docs_commands_run_as_written(tmp_path, monkeypatch):
    """Every `rail report costs` line of docs/analytics.md parses as the shell would parse it (a bare
    SAU->PAK would be a redirect) and runs."""
    monkeypatch.chdir(tmp_path)
    text = (REPO / "docs" / "analytics.md").read_text(encoding="utf-8")
    commands = [line.split("#")[0].strip() for line in re.findall(r"^rail report costs.*$", text, re.M)]
    assert len(commands) >= 3
    for command in commands:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        words = list(lexer)
        assert not {">", "<", "|", ";", "&"} & set(words), f"the shell would split or redirect: {command}"
        argv = words[2:]
        if "--data-dir" in argv:
            argv[argv.index("--data-dir") + 1] = str(DATA_DIR)
        assert run(_args(argv)) == 0, command
