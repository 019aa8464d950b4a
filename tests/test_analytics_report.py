"""The cost report: HTML, JSON and CSV agree; the page renders its charts in a real browser."""

from __future__ import annotations

import csv
import re
import shutil
import struct
import subprocess
import zlib
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from lxml import html as lxml_html

from analytics import datasets, report
from analytics.cli import configure, run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_TIMEOUT_S = 45

# Appended to a COPY of the report (the product page has no script): records any script error and
# each chart's rendered size into the DOM, which --dump-dom then shows us.
PROBE = """<script>
window.addEventListener('error', e => document.body.setAttribute('data-error', String(e.message)));
const sizes = [...document.querySelectorAll('svg.chart')].map(s => {
  const r = s.getBoundingClientRect(); return Math.round(r.width) + 'x' + Math.round(r.height); });
const empty = [...document.querySelectorAll('svg.chart')].filter(s =>
  s.querySelectorAll('rect.bar, rect.segment, path.series').length === 0).length;
document.body.setAttribute('data-chart-sizes', sizes.join(' '));
document.body.setAttribute('data-empty-charts', String(empty));
</script>"""


@pytest.fixture(scope="module")
def cost_report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("costs")
    data = datasets.load()
    built = report.build_cost_report(data, ["SAU->PAK", "GBR->PAK", "GCC->PAK"], [Decimal(200), Decimal(500)])
    report.write_report(built, out)
    return out


def _json(path: Path) -> dict:
    return msgspec.json.Decoder(float_hook=Decimal).decode(path.read_bytes())


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


def test_html_tables_equal_the_json(cost_report_dir):
    doc = _json(cost_report_dir / "report.json")
    page = lxml_html.parse(str(cost_report_dir / "report.html")).getroot()
    tables = page.xpath("//table[@data-table]")
    assert {t.get("data-table") for t in tables} == set(doc["tables"])
    compared = 0
    for table in tables:
        spec = doc["tables"][table.get("data-table")]
        keys = [c["key"] for c in spec["columns"]]
        assert [th.get("data-key") for th in table.xpath("./thead/tr/th")] == keys
        rows = table.xpath("./tbody/tr")
        assert len(rows) == len(spec["rows"])
        for tr, expected in zip(rows, spec["rows"]):
            for td in tr.xpath("./td"):
                key = td.get("data-key")
                assert _same(td.text_content(), expected[key]), (table.get("data-table"), key)
                compared += 1
    assert compared > 1000


def test_csv_tables_equal_the_json(cost_report_dir):
    doc = _json(cost_report_dir / "report.json")
    for name, spec in doc["tables"].items():
        with (cost_report_dir / "tables" / f"{name}.csv").open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == len(spec["rows"])
        for got, expected in zip(rows, spec["rows"]):
            for key, value in expected.items():
                assert _same(got[key].replace(",", " ") if isinstance(value, list) else got[key], value), (
                    name,
                    key,
                )


def test_every_figure_names_source_and_flags_low_confidence(cost_report_dir):
    page = lxml_html.parse(str(cost_report_dir / "report.html")).getroot()
    figures = page.xpath("//figure")
    assert len(figures) >= 10
    for fig in figures:
        caption = fig.xpath("./figcaption")[0].text_content()
        assert "Source:" in caption and any(ch.isdigit() for ch in caption.split("Source:")[1])
        assert fig.xpath("./svg[@class='chart']")
    flagged = page.xpath("//span[contains(@class,'flag') and contains(@class,'low')]")
    assert {f.text_content() for f in flagged} >= {"UNVERIFIED", "PROXY", "PLACEHOLDER"}
    assert "The World Bank: Remittance Prices Worldwide" in page.text_content()


def test_report_json_reproduces_published_uk_figure(cost_report_dir):
    rows = _json(cost_report_dir / "report.json")["tables"]["costs_by_channel"]["rows"]
    gbr = next(
        r
        for r in rows
        if r["corridor"] == "GBR->PAK" and r["amount_usd"] == 200 and r["channel_key"] == "rpw_average"
    )
    assert gbr["total_pct"] == Decimal("2.392")


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
    """Dump the DOM of the page (with PROBE appended) and take a screenshot of the page as shipped."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    probed = work / "probed.html"
    probed.write_text(
        html_path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
    )
    common = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]
    dom = subprocess.run(
        [*common, f"--user-data-dir={work / 'profile-dom'}", "--dump-dom", probed.as_uri()],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT_S,
        check=True,
    ).stdout
    shot = work / "shot.png"
    subprocess.run(
        [
            *common,
            f"--user-data-dir={work / 'profile-shot'}",
            "--window-size=1200,1800",
            f"--screenshot={shot}",
            html_path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT_S,
        check=True,
    )
    return lxml_html.fromstring(dom), shot


def assert_renders(html_path: Path, work: Path, charts_min: int) -> None:
    dom, shot = render_in_chromium(html_path, work)
    body = dom.xpath("//body")[0]
    assert body.get("data-error") is None, body.get("data-error")
    sizes = (body.get("data-chart-sizes") or "").split()
    assert len(sizes) >= charts_min
    for size in sizes:
        width, height = (int(v) for v in size.split("x"))
        assert width > 300 and height > 60, size  # a one-bar chart is short, never empty
    assert body.get("data-empty-charts") == "0"
    assert shot.stat().st_size > 20_000
    assert png_distinct_bytes(shot) > 32  # text, bars and colours, not a blank page


@pytest.mark.slow
def test_cost_report_renders_its_charts_in_headless_chromium(cost_report_dir, tmp_path):
    assert_renders(cost_report_dir / "report.html", tmp_path, charts_min=10)


# ---------------------------------------------------------------------------------------------------
# CLI


def _args(argv: list[str]):
    import argparse

    parser = argparse.ArgumentParser(prog="rail report")
    configure(parser)
    return parser.parse_args(argv)


def test_cli_costs_writes_html_csv_json_and_prints_summary(tmp_path, capsys):
    rc = run(_args(["costs", "--corridor", "USA->PAK", "--amount", "200", "--out", str(tmp_path / "out")]))
    assert rc == 0
    out = capsys.readouterr().out
    assert "USA->PAK" in out and "3.808" in out
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "report.json").is_file()
    assert (tmp_path / "out" / "tables" / "costs_by_channel.csv").is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["costs", "--corridor", "DEU->PAK"], "no RPW data for corridor(s) DEU->PAK"),
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
