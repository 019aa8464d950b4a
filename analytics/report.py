"""Reports: one self-contained HTML page (inline CSS, inline SVG), plus the same tables as CSV and JSON.

Every number a reader sees in the HTML is the ``str`` of the same Decimal that goes into the JSON and the
CSV, so the three never disagree (a test checks it). Every figure names its source and date, and any
input below VERIFIED/RECOMPUTED is flagged with its status where it is used.

:func:`build_cost_report` assembles the remittance cost comparison; :func:`write_report` writes any
:class:`Report` (the run report in ``analytics.run_report`` reuses it).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

import msgspec

from analytics import charts, costs
from analytics.costs import Assumptions, CostBreakdown, InputRef
from analytics.datasets import Datasets

REPORT_HTML = "report.html"
REPORT_JSON = "report.json"
TABLES_DIR = "tables"
MILLION = Decimal(1_000_000)
BILLION = Decimal(1_000_000_000)
MONEY_M_QUANTUM = Decimal("0.01")
SHORT_TEXT_CHARS_MAX = 24

ATTRIBUTION = (
    "RPW data: The World Bank: Remittance Prices Worldwide (CC BY 4.0, "
    "https://datacatalog.worldbank.org/search/dataset/0037898/remittance-prices-worldwide), via "
    "viji-saravanan/remittance-watch (Q3 2025 per-quote export) and jonsmirl/thesis (2016-2025 Q1 means). "
    "Flows: State Bank of Pakistan as reported in the press. Chain and ramp fees: protocol docs and "
    "third-party snapshots, cited per row."
)


class Column(msgspec.Struct, frozen=True):
    key: str
    label: str


class Table(msgspec.Struct):
    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    source: str
    note: str = ""


class Figure(msgspec.Struct, frozen=True):
    title: str
    svg: str
    source: str  # names the data source and its date
    flags: tuple[str, ...] = ()


class Section(msgspec.Struct):
    title: str
    paragraphs: list[str] = msgspec.field(default_factory=list)  # plain text, escaped on render
    figures: list[Figure] = msgspec.field(default_factory=list)
    tables: list[Table] = msgspec.field(default_factory=list)


class Report(msgspec.Struct):
    title: str
    generated_at: str
    meta: dict[str, str]
    findings: list[str]
    sections: list[Section]

    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]


def money_m(value: Decimal | None) -> Decimal | None:
    """USD -> USD millions, to the cent of a million (what the tables show)."""
    return None if value is None else (value / MILLION).quantize(MONEY_M_QUANTUM)


def bn(value: Decimal) -> Decimal:
    return (value / BILLION).quantize(Decimal("0.001"))


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------------
# Rendering


def cell_text(value: Any) -> str:
    """The one textual form of a table value, shared by HTML and CSV."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _badge_class(label: str) -> str:
    return {
        "UNVERIFIED": "low",
        "PLACEHOLDER": "low",
        "PROXY": "low",
        "UNRATED": "low",
    }.get(label, "medium")


def _cell_html(key: str, value: Any) -> str:
    text = cell_text(value)
    if key == "flags" and isinstance(value, (list, tuple)):
        inner = " ".join(f'<span class="flag {_badge_class(v)}">{escape(str(v))}</span>' for v in value)
        return f'<td data-key="{key}">{inner}</td>'
    numeric = isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
    if numeric:
        css = ' class="num neg"' if value < 0 else ' class="num"'
    else:
        # Codes and labels (SAU->PAK, BICs) stay on one line; prose (sources, notes) wraps.
        css = "" if len(text) > SHORT_TEXT_CHARS_MAX else ' class="code"'
    return f'<td data-key="{key}"{css}>{escape(text)}</td>'


def _table_html(table: Table) -> str:
    head = "".join(f'<th data-key="{c.key}">{escape(c.label)}</th>' for c in table.columns)
    body = "".join(
        "<tr>" + "".join(_cell_html(c.key, row.get(c.key)) for c in table.columns) + "</tr>"
        for row in table.rows
    )
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (
        f'<div class="table-wrap"><table data-table="{escape(table.name)}"><caption>{escape(table.title)}'
        f"</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f'<p class="source">Source: {escape(table.source)} · CSV: {TABLES_DIR}/{escape(table.name)}.csv</p>{note}</div>'
    )


def _figure_html(figure: Figure) -> str:
    flags = "".join(f' <span class="flag {_badge_class(f)}">{escape(f)}</span>' for f in figure.flags)
    return (
        f"<figure>{figure.svg}<figcaption><b>{escape(figure.title)}</b>. Source: {escape(figure.source)}"
        f"{(' · inputs flagged:' + flags) if flags else ''}</figcaption></figure>"
    )


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:24px 28px;background:#fff}
h1{font-size:26px;margin:0 0 6px} h2{font-size:20px;margin:34px 0 8px;border-bottom:2px solid #0072B2;padding-bottom:4px}
.meta{color:#555;font-size:13px} .meta dt{font-weight:600;float:left;clear:left;width:190px} .meta dd{margin:0 0 2px 200px}
.findings{background:#f2f7fb;border-left:4px solid #0072B2;padding:10px 16px 10px 30px}
.findings li{margin:4px 0}
figure{margin:18px 0;padding:8px;border:1px solid #e3e3e3;border-radius:6px;overflow-x:auto}
figcaption{font-size:12px;color:#444;margin-top:4px}
.table-wrap{overflow-x:auto;margin:14px 0}
table{border-collapse:collapse;font-size:12px;width:100%}
caption{text-align:left;font-weight:600;font-size:14px;padding:4px 0}
th,td{border:1px solid #ddd;padding:3px 6px;vertical-align:top} th{background:#f0f0f0;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap} td.neg{color:#007a58}
td.code{white-space:nowrap}
.source,.note{font-size:12px;color:#555;margin:4px 0}
.flag{display:inline-block;font-size:10px;font-weight:700;border-radius:3px;padding:0 4px;margin:1px;white-space:nowrap}
.flag.low{background:#fde2d4;color:#8a2a00;border:1px solid #D55E00}
.flag.medium{background:#fff3cd;color:#6b5200;border:1px solid #E69F00}
.legend-flags{font-size:12px}
footer{font-size:12px;color:#555;margin-top:30px;border-top:1px solid #ddd;padding-top:8px}
"""


def render_html(report: Report) -> str:
    meta = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in report.meta.items())
    findings = "".join(f"<li>{escape(f)}</li>" for f in report.findings)
    sections = []
    for section in report.sections:
        paragraphs = "".join(f"<p>{escape(p)}</p>" for p in section.paragraphs)
        figures = "".join(_figure_html(f) for f in section.figures)
        tables = "".join(_table_html(t) for t in section.tables)
        sections.append(f"<section><h2>{escape(section.title)}</h2>{paragraphs}{figures}{tables}</section>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(report.title)}</title>'
        f'<style>{CSS}</style></head><body><main id="report" data-generated-at="{escape(report.generated_at)}">'
        f'<h1>{escape(report.title)}</h1><dl class="meta">{meta}</dl>'
        f'<h2>Key findings</h2><ul class="findings">{findings}</ul>'
        '<p class="legend-flags">Flags mark inputs below VERIFIED/RECOMPUTED: '
        '<span class="flag low">UNVERIFIED</span> <span class="flag low">PROXY</span> '
        '<span class="flag low">PLACEHOLDER</span> low confidence; <span class="flag medium">THIRD-PARTY</span> '
        '<span class="flag medium">DERIVED</span> <span class="flag medium">SECONDARY</span> '
        '<span class="flag medium">PARTLY VERIFIED</span> medium confidence.</p>'
        f"{''.join(sections)}<footer>{escape(ATTRIBUTION)} Generated {escape(report.generated_at)}.</footer>"
        "</main></body></html>"
    )


def report_json(report: Report) -> bytes:
    doc = {
        "title": report.title,
        "generated_at": report.generated_at,
        "meta": report.meta,
        "findings": report.findings,
        "tables": {
            t.name: {
                "title": t.title,
                "source": t.source,
                "note": t.note,
                "columns": [{"key": c.key, "label": c.label} for c in t.columns],
                "rows": [{c.key: row.get(c.key) for c in t.columns} for row in t.rows],
            }
            for t in report.tables()
        },
        "figures": [
            {"title": f.title, "source": f.source, "flags": list(f.flags)}
            for s in report.sections
            for f in s.figures
        ],
    }
    encoder = msgspec.json.Encoder(decimal_format="number")
    return msgspec.json.format(encoder.encode(doc), indent=1)


def write_report(report: Report, out_dir: Path, html_name: str = REPORT_HTML) -> Path:
    """Write report.html, report.json and tables/*.csv into ``out_dir``; returns the HTML path."""
    out_dir = Path(out_dir)
    (out_dir / TABLES_DIR).mkdir(parents=True, exist_ok=True)
    for table in report.tables():
        with (out_dir / TABLES_DIR / f"{table.name}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow([c.key for c in table.columns])
            for row in table.rows:
                writer.writerow([cell_text(row.get(c.key)) for c in table.columns])
    stem = Path(html_name).stem
    json_name = REPORT_JSON if html_name == REPORT_HTML else f"{stem}.json"
    (out_dir / json_name).write_bytes(report_json(report))
    html_path = out_dir / html_name
    html_path.write_text(render_html(report), encoding="utf-8")
    return html_path


# ---------------------------------------------------------------------------------------------------
# The cost report

DEFAULT_AMOUNTS_USD = (Decimal(200), Decimal(500))


def default_corridors(data: Datasets) -> list[str]:
    """The corridors behind the FY2025 flows that RPW covers (SAU, ARE, GBR, USA, other GCC)."""
    available = costs.available_corridors(data)
    return [g.corridor for g in costs.fy2025_flow_groups(data) if g.corridor in available]


def _cost_row(r: CostBreakdown) -> dict[str, Any]:
    row: dict[str, Any] = {
        "corridor": r.corridor,
        "amount_usd": r.amount_usd,
        "channel_key": r.channel.key,
        "channel": r.channel.label,
        "family": r.channel.family,
    }
    row.update({f"{name}_usd": value for name, value in r.components_usd.items()})
    row.update(
        {
            "total_usd": r.total_usd,
            "total_pct": r.total_pct,
            "total_ex_p2p_premium_pct": r.total_ex_premium_pct,
            "subsidy_usd": r.subsidy_usd,
            "social_cost_usd": r.social_cost_usd,
            "time_to_funds_s": r.time_to_funds_s,
            "period": r.period,
            "confidence": r.confidence,
            "flags": list(r.flags),
        }
    )
    return row


COST_COLUMNS = [
    Column("corridor", "Corridor"),
    Column("amount_usd", "Amount (USD)"),
    Column("channel_key", "Channel key"),
    Column("channel", "Channel"),
    Column("family", "Family"),
    *[Column(f"{name}_usd", f"{costs.COMPONENT_LABELS[name]} (USD)") for name in costs.COMPONENTS],
    Column("total_usd", "Total cost (USD)"),
    Column("total_pct", "Total cost (% of amount)"),
    Column("total_ex_p2p_premium_pct", "Total excl. P2P premium (%)"),
    Column("subsidy_usd", "Public subsidy, PRI rebate (USD, separate)"),
    Column("social_cost_usd", "Social cost (USD)"),
    Column("time_to_funds_s", "Time to funds (s)"),
    Column("period", "Data period"),
    Column("confidence", "Confidence"),
    Column("flags", "Input status flags"),
]


def source_for(results: Sequence[CostBreakdown]) -> str:
    """Name every file a set of results used, with the dates of the rows behind it."""
    periods = sorted({r.period for r in results if r.channel.family == costs.FAMILY_RPW})
    dates: dict[str, set[str]] = {}
    for r in results:
        for ref in r.inputs:
            dates.setdefault(ref.file, set()).add(ref.date)
    parts = [f"World Bank RPW corridors.csv ({', '.join(periods)})"] if periods else []
    parts += [f"{name} ({date_span(d)})" for name, d in sorted(dates.items()) if name != "corridors.csv"]
    return "; ".join(parts)


def _family_colour(result: CostBreakdown) -> str:
    return charts.FAMILY_COLOURS[result.channel.family]


def _flag_note(result: CostBreakdown) -> str:
    return f"⚑ {result.flags[0]}" if result.flags and result.confidence == "low" else ""


def _short_label(channel: costs.Channel) -> str:
    if channel.family == costs.FAMILY_STABLECOIN:
        return f"{channel.chain} · {costs.ONRAMP_LABELS[channel.onramp or '']} on-ramp"
    return channel.label


def _cost_section(data: Datasets, corridors: Sequence[str], amounts: Sequence[Decimal], assume: Assumptions):
    results = [
        r
        for corridor in corridors
        for amount in amounts
        for r in costs.compare(data, corridor, amount, assume)
    ]
    targets_ref = [(3.0, "3% SDG average"), (5.0, "5% corridor cap")]
    section = Section(
        "Cost by channel",
        [
            "Total cost to sender and recipient = sending fee + FX margin + on-ramp + network fee + exchange "
            "withdrawal fee + off-ramp/P2P premium + receiving fee, as % of the amount sent. Negative values are "
            "genuine: Gulf exchange houses beat the World Bank reference rate, and a P2P USDT/PKR premium pays the "
            "recipient more rupees than the interbank rate. The PRI rebate (SAR 20 per formal transaction of USD "
            "200 or more, paid by the state) is a separate public-subsidy column, never netted into consumer cost.",
            "Stablecoin routes assume the P2P premium stated at the top of the report; the column 'Total excl. P2P "
            "premium' shows what the route costs at the interbank rate. Crypto off-ramps are restricted in "
            "Pakistan (SBP BPRD Circular 03 of 2018) and not eligible for PRI rebates.",
        ],
    )
    for corridor in corridors:
        amount = amounts[0]
        subset = [r for r in results if r.corridor == corridor and r.amount_usd == amount]
        ordered = sorted(subset, key=lambda r: (r.channel.family == costs.FAMILY_RAAST, r.total_pct))
        bars = [
            charts.Bar(_short_label(r.channel), float(r.total_pct), _family_colour(r), _flag_note(r))
            for r in ordered
        ]
        flags = tuple(dict.fromkeys(f for r in subset for f in r.flags))
        section.figures.append(
            Figure(
                f"{corridor}: total cost by channel at USD {amount} (% of amount)",
                charts.bar_chart(
                    f"{corridor}, USD {amount}: total cost (% of amount)",
                    bars,
                    "%",
                    reference_lines=targets_ref,
                ),
                source_for(subset),
                flags,
            )
        )
        shown = [r for r in ordered if r.channel.family != costs.FAMILY_RAAST]
        segments = [
            charts.Segment(costs.COMPONENT_LABELS[name], charts.PALETTE[i])
            for i, name in enumerate(costs.COMPONENTS)
        ]
        section.figures.append(
            Figure(
                f"{corridor}: component breakdown at USD {amount} (USD)",
                charts.stacked_bar_chart(
                    f"{corridor}, USD {amount}: cost components (USD, signed)",
                    [_short_label(r.channel) for r in shown],
                    segments,
                    [[float(r.components_usd[name]) for name in costs.COMPONENTS] for r in shown],
                    " USD",
                ),
                source_for(shown),
                flags,
            )
        )
    section.tables.append(
        Table(
            "costs_by_channel",
            "Cost per channel, corridor and amount",
            COST_COLUMNS,
            [_cost_row(r) for r in results],
            source_for(results),
            "Time to funds: RAAST leg 20 s (SBP rule); stablecoin routes = on-chain finality + RAAST, excluding "
            "exchange processing and P2P trade time; RPW speed is not in the export.",
        )
    )
    applies: dict[str, dict[str, None]] = {}
    for r in results:
        for note in r.notes:
            applies.setdefault(note, {})[f"{r.corridor} {r.channel.key}"] = None
    section.tables.append(
        Table(
            "model_notes",
            "Model notes: assumptions and data gaps behind the figures above",
            [
                Column("note", "Note"),
                Column("count", "Results"),
                Column("applies_to", "Applies to (first 6)"),
            ],
            [
                {"note": note, "count": len(where), "applies_to": list(where)[:6]}
                for note, where in sorted(applies.items(), key=lambda kv: -len(kv[1]))
            ],
            "analytics/costs.py (each note is attached to the results it concerns)",
        )
    )
    return section, results


_DATE_TOKEN = re.compile(r"(?<!\d)(20\d\d)(?:[-_](\d\d|[1-4]Q))?(?:-(\d\d))?")


def date_span(values) -> str:
    """'2025-08-29 to 2026-03-12' from the date cells of the rows a figure used (their own words)."""
    tokens = sorted({m.group(0) for v in values for m in _DATE_TOKEN.finditer(str(v))})
    if not tokens:
        return "undated"
    return tokens[0] if tokens[0] == tokens[-1] else f"{tokens[0]} to {tokens[-1]}"


def status_flags(statuses) -> tuple[str, ...]:
    """The flag labels (below high confidence) of a set of status cells, most doubtful first."""
    labels = {costs.status_label(st) for st in statuses}
    doubtful = [(conf, label) for label, conf in labels if conf != "high"]
    return tuple(label for _, label in sorted(doubtful, key=lambda cl: (cl[0] != "low", cl[1])))


def _result_flags(results) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f for r in results for f in r.flags))


def _sweep_series(data, corridor, points) -> list[charts.Series]:
    """One line per channel of a sweep (cost in % against the swept value); stablecoin rails dashed."""
    return [
        charts.Series(
            _short_label(channel),
            [(float(p.x), float(p.total_pct)) for p in points if p.channel_key == channel.key],
            _sweep_colour(channel),
            dashed=channel.family == costs.FAMILY_STABLECOIN,
        )
        for channel in costs.sweep_channels(data, corridor)
    ]


def _sweep_colour(channel: costs.Channel) -> str:
    """One colour per channel across every corridor's chart, so curves can be compared between charts."""
    index = costs.SWEEP_CHANNEL_KEYS.index(channel.key) if channel.key in costs.SWEEP_CHANNEL_KEYS else 0
    return charts.PALETTE[index % len(charts.PALETTE)]


def _sensitivity_section(
    data: Datasets, corridors: Sequence[str], amounts: Sequence[Decimal], assume: Assumptions
):
    section = Section(
        "Sensitivity",
        [
            "Ticket size: flat fees dominate small tickets, so % cost falls with the amount wherever a fee is flat "
            "(exchange withdrawal fees, network fees, Saudi banks' flat SAR fee). Between the RPW baskets (USD 200, "
            "500) fees are interpolated linearly; outside them a rising fee keeps its slope and a falling one is "
            "held flat.",
            "P2P premium: the apparent advantage of stablecoin routes comes mainly from the informal USDT/PKR "
            "premium (single low-quality source, UNVERIFIED), not from network costs.",
        ],
    )
    sweep_rows = []
    for corridor in corridors:
        points = costs.ticket_sweep(data, corridor, assume=assume)
        sweep_rows.extend(points)
        swept = [
            costs.cost(data, corridor, ch, amounts[0], assume) for ch in costs.sweep_channels(data, corridor)
        ]
        series = _sweep_series(data, corridor, points)
        section.figures.append(
            Figure(
                f"{corridor}: total cost vs ticket size",
                charts.line_chart(
                    f"{corridor}: total cost (% of amount) vs ticket size (USD, log scale)",
                    series,
                    "ticket size (USD)",
                    "total cost (% of amount)",
                    log_x=True,
                    x_ticks=[50, 100, 200, 500, 1000, 2000],
                    reference_lines=[(3.0, "3%"), (5.0, "5%")],
                    y_unit="%",
                ),
                "RPW baskets USD 200/500, interpolated; " + source_for(swept),
                _result_flags(swept),
            )
        )
    section.tables.append(
        Table(
            "ticket_sweep",
            "Total cost vs ticket size",
            [
                Column("corridor", "Corridor"),
                Column("channel_key", "Channel"),
                Column("amount_usd", "Amount (USD)"),
                Column("total_usd", "Total (USD)"),
                Column("total_pct", "Total (%)"),
            ],
            [
                {
                    "corridor": p.corridor,
                    "channel_key": p.channel_key,
                    "amount_usd": p.x,
                    "total_usd": p.total_usd,
                    "total_pct": p.total_pct,
                }
                for p in sweep_rows
            ],
            "costs.ticket_sweep over corridors.csv, chains.csv, ramps.csv, parameters.csv",
        )
    )
    corridor, amount = corridors[0], amounts[0]
    premium_points = costs.premium_sweep(data, corridor, amount, assume=assume)
    series = _sweep_series(data, corridor, premium_points)
    premium_row = next(r for r in data.ramps if r.component.startswith("P2P USDT/PKR premium"))
    section.figures.append(
        Figure(
            f"{corridor}: total cost vs P2P USDT/PKR premium at USD {amount}",
            charts.line_chart(
                f"{corridor}, USD {amount}: total cost (%) vs P2P premium over interbank (%)",
                series,
                "P2P USDT/PKR premium over SBP interbank (%; negative = discount)",
                "total cost (% of amount)",
                reference_lines=[(3.0, "3%"), (5.0, "5%")],
                y_unit="%",
                x_unit="%",
            ),
            f"ramps.csv P2P premium {premium_row.value_low}-{premium_row.value_high}% ({premium_row.source}, "
            f"{premium_row.date}); RPW corridors.csv",
            status_flags([premium_row.status]),
        )
    )
    section.tables.append(
        Table(
            "p2p_premium_sweep",
            f"Total cost vs P2P premium ({corridor}, USD {amount})",
            [
                Column("corridor", "Corridor"),
                Column("channel_key", "Channel"),
                Column("premium_pct", "P2P premium (%)"),
                Column("total_usd", "Total (USD)"),
                Column("total_pct", "Total (%)"),
            ],
            [
                {
                    "corridor": p.corridor,
                    "channel_key": p.channel_key,
                    "premium_pct": p.x,
                    "total_usd": p.total_usd,
                    "total_pct": p.total_pct,
                }
                for p in premium_points
            ],
            f"ramps.csv ({premium_row.status}); corridors.csv",
        )
    )
    lines = costs.chain_fee_range(data, corridor, amount, assume)
    section.figures.append(
        Figure(
            f"Network fee per transfer by chain (typical, USD; {corridor} USD {amount})",
            charts.bar_chart(
                "Network fee per stablecoin transfer, typical (USD)",
                [
                    charts.Bar(
                        f"{ln.chain} ({ln.asset[:28]})", float(ln.network_fee_usd_typical), charts.PALETTE[1]
                    )
                    for ln in lines
                ],
                " USD",
            ),
            f"chains.csv (fee snapshots dated per row, {date_span(ln.date for ln in lines)}; USD at dated price "
            "assumptions)",
            status_flags([ln.status for ln in lines]),
        )
    )
    section.tables.append(
        Table(
            "chain_fee_range",
            f"Chain fee range and its effect on route cost ({corridor}, USD {amount})",
            [
                Column(k, label)
                for k, label in (
                    ("chain", "Chain"),
                    ("asset", "Asset / case"),
                    ("network_fee_usd_low", "Network fee low (USD)"),
                    ("network_fee_usd_typical", "typical"),
                    ("network_fee_usd_high", "high"),
                    ("network_fee_pct_typical", "typical (% of amount)"),
                    ("finality_seconds", "Finality (s)"),
                    ("withdrawal_venue", "Exchange withdrawal row"),
                    ("withdrawal_fee_usd_low", "Withdrawal low (USD)"),
                    ("withdrawal_fee_usd_high", "Withdrawal high (USD)"),
                    ("card_route_pct_low", "Card route % (low fee)"),
                    ("card_route_pct_high", "Card route % (high fee)"),
                    ("bank_route_pct_low", "Bank route % (low withdrawal)"),
                    ("bank_route_pct_high", "Bank route % (high withdrawal)"),
                    ("status", "Status"),
                    ("date", "Date"),
                )
            ],
            [msgspec.structs.asdict(ln) for ln in lines],
            "chains.csv; ramps.csv (withdrawal fees UNVERIFIED third-party copies)",
        )
    )
    return section


def _annual_section(data: Datasets, amounts: Sequence[Decimal], shift_share: Decimal, assume: Assumptions):
    section = Section(
        "FY2025 totals: what senders paid and what a shift would change",
        [
            "SBP FY2025 workers' remittances by source, priced at each source's RPW corridor average (a simple "
            "mean over services, not market-share weighted: it overstates what senders paid where volume sits with "
            "cheap exchange houses). Every transaction is assumed to be of the stated ticket size; SBP publishes no "
            "average ticket (the DERIVED bound is USD 340-590). EU and residual flows have no RPW corridor and are "
            "left blank rather than invented. 'Other GCC' is an equal-weight mean of Kuwait, Qatar, Oman, Bahrain.",
            f"Shift: {shift_share * 100}% of every covered source's flow moves from the status quo to the "
            "alternative. A positive saving means senders pay less. Moving flows out of formal channels also "
            "removes the PRI rebate the state pays on them (negative subsidy change).",
        ],
    )
    group_rows, alt_rows, summaries = [], [], []
    for amount in amounts:
        lines, alternatives, summary = costs.annual_totals(data, amount, shift_share, assume)
        summaries.append(summary)
        for ln in lines:
            group_rows.append(
                {
                    "amount_usd": amount,
                    "series": ln.series,
                    "corridor": ln.corridor,
                    "flow_usd_bn": bn(ln.flow_usd),
                    "transactions_m": (ln.transactions / MILLION).quantize(Decimal("0.01")),
                    "status_quo_pct": ln.status_quo_pct,
                    "status_quo_paid_usd_m": money_m(ln.status_quo_paid_usd),
                    "subsidy_usd_m": money_m(ln.subsidy_usd),
                    "flow_status": ln.flow_status,
                }
            )
        for alt in alternatives:
            alt_rows.append(
                {
                    "amount_usd": amount,
                    "channel_key": alt.channel_key,
                    "channel": alt.channel_label,
                    "covered_flow_usd_bn": bn(alt.covered_flow_usd),
                    "cost_pct_weighted": alt.cost_pct_weighted,
                    "paid_if_all_usd_m": money_m(alt.paid_if_all_usd),
                    "status_quo_paid_usd_m": money_m(alt.status_quo_paid_usd),
                    "shift_share_pct": alt.shift_share * 100,
                    "consumer_saving_usd_m": money_m(alt.consumer_saving_usd),
                    "subsidy_change_usd_m": money_m(alt.subsidy_change_usd),
                    "flags": list(alt.flags),
                }
            )
        covered = [ln for ln in lines if ln.status_quo_paid_usd is not None]
        section.figures.append(
            Figure(
                f"FY2025 consumer cost by source at USD {amount} tickets (USD m)",
                charts.bar_chart(
                    f"FY2025 consumer cost by source, USD {amount} tickets (USD m)",
                    [
                        charts.Bar(
                            ln.series[:40], float(money_m(ln.status_quo_paid_usd) or 0), charts.PALETTE[0]
                        )
                        for ln in covered
                    ]
                    + [
                        charts.Bar(
                            "PRI rebate paid by the state (all covered)",
                            float(money_m(summary.subsidy_usd) or 0),
                            charts.PALETTE[8],
                        )
                    ],
                    " m",
                ),
                f"flows_pakistan.csv (SBP {costs.FLOW_PERIOD} via press, "
                f"{date_span(g.date for g in costs.fy2025_flow_groups(data))}); "
                + source_for(
                    [costs.cost(data, ln.corridor, "rpw_average", amount, assume) for ln in covered]
                ),
                tuple(
                    dict.fromkeys(
                        status_flags([ln.flow_status for ln in covered])
                        + _result_flags(
                            costs.cost(data, ln.corridor, "rpw_average", amount, assume) for ln in covered
                        )
                    )
                ),
            )
        )
        best = sorted(alternatives, key=lambda a: -a.consumer_saving_usd)
        section.figures.append(
            Figure(
                f"Consumer saving from shifting {shift_share * 100}% of covered FY2025 flows, USD {amount} tickets (USD m)",
                charts.bar_chart(
                    f"Saving if {shift_share * 100}% of flows shift, USD {amount} tickets (USD m; negative = costs more)",
                    [
                        charts.Bar(
                            (a.channel_key.replace("stablecoin:", "").replace(":", " · ")),
                            float(money_m(a.consumer_saving_usd) or 0),
                            charts.FAMILY_COLOURS[
                                "stablecoin" if a.channel_key.startswith("stablecoin") else "rpw"
                            ],
                            "⚑" if a.flags else "",
                        )
                        for a in best
                    ],
                    " m",
                ),
                f"flows_pakistan.csv (SBP {costs.FLOW_PERIOD}); "
                + source_for(
                    [
                        costs.cost(data, ln.corridor, ch, amount, assume)
                        for ln in covered
                        for ch in costs.channels_for(data, ln.corridor)
                        if ch.family != costs.FAMILY_RAAST
                    ]
                ),
                tuple(dict.fromkeys(f for a in alternatives for f in a.flags)),
            )
        )
    section.tables.append(
        Table(
            "annual_by_source",
            "FY2025 flows by source priced at the RPW corridor average",
            [
                Column(k, label)
                for k, label in (
                    ("amount_usd", "Ticket (USD)"),
                    ("series", "Source (SBP series)"),
                    ("corridor", "Corridor"),
                    ("flow_usd_bn", "Flow (USD bn)"),
                    ("transactions_m", "Transactions (m)"),
                    ("status_quo_pct", "RPW average cost (%)"),
                    ("status_quo_paid_usd_m", "Consumer cost (USD m)"),
                    ("subsidy_usd_m", "PRI rebate, public (USD m)"),
                    ("flow_status", "Flow status"),
                )
            ],
            group_rows,
            f"flows_pakistan.csv (SBP {costs.FLOW_PERIOD} by source country, as reported "
            f"{date_span(g.date for g in costs.fy2025_flow_groups(data))}); corridors.csv (RPW)",
        )
    )
    section.tables.append(
        Table(
            "annual_alternatives",
            "Alternatives: cost if all covered flows used them, and the saving from a partial shift",
            [
                Column(k, label)
                for k, label in (
                    ("amount_usd", "Ticket (USD)"),
                    ("channel_key", "Channel key"),
                    ("channel", "Channel"),
                    ("covered_flow_usd_bn", "Covered flow (USD bn)"),
                    ("cost_pct_weighted", "Flow-weighted cost (%)"),
                    ("paid_if_all_usd_m", "Paid if all switched (USD m)"),
                    ("status_quo_paid_usd_m", "Status quo on same flows (USD m)"),
                    ("shift_share_pct", "Shift (%)"),
                    ("consumer_saving_usd_m", "Consumer saving at shift (USD m)"),
                    ("subsidy_change_usd_m", "PRI rebate change (USD m)"),
                    ("flags", "Input status flags"),
                )
            ],
            alt_rows,
            "costs.annual_totals over flows_pakistan.csv, corridors.csv, chains.csv, ramps.csv, parameters.csv",
        )
    )
    summary_rows = [
        {
            "amount_usd": s.amount_usd,
            "total_flow_usd_bn": bn(s.total_flow_usd),
            "covered_flow_usd_bn": bn(s.covered_flow_usd),
            "status_quo_pct_weighted": s.status_quo_pct_weighted,
            "status_quo_paid_usd_m": money_m(s.status_quo_paid_usd),
            "subsidy_usd_m": money_m(s.subsidy_usd),
        }
        for s in summaries
    ]
    section.tables.append(
        Table(
            "annual_summary",
            "FY2025 summary over sources with an RPW corridor",
            [
                Column(k, label)
                for k, label in (
                    ("amount_usd", "Ticket (USD)"),
                    ("total_flow_usd_bn", "All sources (USD bn)"),
                    ("covered_flow_usd_bn", "Covered (USD bn)"),
                    ("status_quo_pct_weighted", "Flow-weighted cost (%)"),
                    ("status_quo_paid_usd_m", "Consumer cost (USD m)"),
                    ("subsidy_usd_m", "PRI rebate, public (USD m)"),
                )
            ],
            summary_rows,
            "flows_pakistan.csv; corridors.csv; parameters.csv",
        )
    )
    return section, summaries


def _targets_section(data: Datasets):
    lines, summary = costs.targets(data)
    section = Section(
        "Against the G20 / SDG 10.c targets",
        [
            f"Targets: global average cost of sending USD 200 at most {summary.average_target_pct}% by 2030, no "
            f"corridor above {summary.corridor_cap_pct}%, and {summary.speed_share_pct}% of remittances credited "
            f"within {summary.speed_limit_seconds} s (one hour) by end-2027 (FSB, 13 Oct 2021).",
            f"Pakistan's inflows: flow-weighted RPW average at USD 200 = {summary.flow_weighted_pct}% "
            f"(simple mean over {len(lines)} RPW corridors = {summary.simple_mean_pct}%). Corridors above the "
            f"{summary.corridor_cap_pct}% cap: {', '.join(summary.corridors_above_cap) or 'none'}.",
            f"Speed: RPW's speed field is not in the export, so the one-hour target cannot be assessed for banks "
            f"and MTOs. The RAAST domestic leg credits within {summary.raast_leg_seconds} s. On-chain finality plus "
            f"RAAST is within one hour on {', '.join(summary.chains_within_limit) or 'no chain'}"
            f"{'; beyond it on ' + ', '.join(summary.chains_beyond_limit) if summary.chains_beyond_limit else ''}; "
            "exchange processing and P2P trade time are not in the data.",
        ],
    )
    bars = [
        charts.Bar(
            f"{ln.corridor} ({ln.period})",
            float(ln.rpw_total_pct_200),
            charts.PALETTE[3] if ln.above_corridor_cap else charts.PALETTE[0],
        )
        for ln in sorted(lines, key=lambda ln: -ln.rpw_total_pct_200)
    ]
    section.figures.append(
        Figure(
            "RPW average cost of sending USD 200 into Pakistan, by corridor (latest period)",
            charts.bar_chart(
                "RPW average total cost at USD 200 (%), latest period",
                bars,
                "%",
                reference_lines=[
                    (float(summary.average_target_pct), "3% target"),
                    (float(summary.corridor_cap_pct), "5% cap"),
                ],
            ),
            f"World Bank RPW via corridors.csv ({', '.join(sorted({ln.period for ln in lines}))}); FSB G20 targets "
            "(13 Oct 2021) via global_benchmarks.csv",
        )
    )
    trend = {}
    for row in data.timeseries:
        trend.setdefault(row.source_iso3, []).append((row.period, float(row.avg_total_cost_pct_200)))
    main = ["SAU", "ARE", "GBR", "USA", "CAN", "KWT"]
    series = []
    for i, iso in enumerate(c for c in main if c in trend):
        pts = sorted(trend[iso])
        series.append(
            charts.Series(
                f"{iso}->PAK", [(int(p[:4]) + (int(p[5]) - 1) / 4, v) for p, v in pts], charts.PALETTE[i]
            )
        )
    section.figures.append(
        Figure(
            f"RPW average cost at USD 200, {date_span(row.period for row in data.timeseries)}",
            charts.line_chart(
                "RPW average total cost at USD 200 (%), by quarter",
                series,
                "year",
                "% of USD 200",
                reference_lines=[(3.0, "3% target"), (5.0, "5% cap")],
                y_unit="%",
            ),
            "rpw_pakistan_timeseries.csv (World Bank RPW corridor-quarter means via jonsmirl/thesis, "
            f"{date_span(row.period for row in data.timeseries)})",
            status_flags({row.status for row in data.timeseries}),
        )
    )
    section.tables.append(
        Table(
            "targets",
            "Corridors against the 5% cap (USD 200, latest RPW period)",
            [
                Column(k, label)
                for k, label in (
                    ("corridor", "Corridor"),
                    ("period", "Period"),
                    ("rpw_total_pct_200", "RPW average at USD 200 (%)"),
                    ("above_corridor_cap", "Above 5% cap"),
                    ("cheapest_service_pct", "Cheapest service (%)"),
                    ("speed", "Speed"),
                    ("status", "Status"),
                )
            ],
            [msgspec.structs.asdict(ln) for ln in lines],
            "corridors.csv (World Bank RPW); global_benchmarks.csv (FSB targets)",
        )
    )
    return section, summary


def _inputs_section(results: Sequence[CostBreakdown]) -> Section:
    refs: dict[InputRef, None] = {}
    for r in results:
        refs.update(dict.fromkeys(r.inputs))
        refs.update(dict.fromkeys(r.subsidy_inputs))
    rows = [
        {
            "file": ref.file,
            "item": ref.item,
            "value": ref.value,
            "status_label": ref.label,
            "confidence": ref.confidence,
            "status": ref.status,
            "source": ref.source,
            "date": ref.date,
        }
        for ref in sorted(refs, key=lambda ref: (ref.confidence != "low", ref.file, ref.item))
    ]
    return Section(
        "Inputs and their provenance",
        ["Every data value the cost table used, lowest confidence first."],
        tables=[
            Table(
                "inputs",
                "Inputs used",
                [
                    Column(k, k.replace("_", " ").capitalize())
                    for k in (
                        "file",
                        "item",
                        "value",
                        "status_label",
                        "confidence",
                        "status",
                        "source",
                        "date",
                    )
                ],
                rows,
                "analytics/data/*.csv (see LICENSE-DATA.md)",
            )
        ],
    )


def build_cost_report(
    data: Datasets,
    corridors: Sequence[str] | None = None,
    amounts: Sequence[Decimal] | None = None,
    assume: Assumptions = costs.DEFAULT_ASSUMPTIONS,
    shift_share: Decimal = costs.SHIFT_SHARE_DEFAULT,
) -> Report:
    corridors = list(dict.fromkeys(corridors)) if corridors else default_corridors(data)
    amounts = list(dict.fromkeys(Decimal(str(a)) for a in amounts)) if amounts else list(DEFAULT_AMOUNTS_USD)
    cost_section, results = _cost_section(data, corridors, amounts, assume)
    annual_section, summaries = _annual_section(data, amounts, shift_share, assume)
    targets_section, target_summary = _targets_section(data)
    sensitivity = _sensitivity_section(data, corridors, amounts, assume)
    premium_row = next(r for r in data.ramps if r.component.startswith("P2P USDT/PKR premium"))
    premium = assume.p2p_premium_pct if assume.p2p_premium_pct is not None else premium_row.value_low
    findings = []
    rebate, rebate_min, _ = costs.rebate_usd(data)
    pri_cost = next((row for row in data.flows if "PRI incentive cost" in row.series), None)
    for s in summaries:
        rebate_text = (
            f"at this ticket size the PRI rebate would cost the state a further USD {money_m(s.subsidy_usd)} m "
            f"(USD {rebate.quantize(Decimal('0.01'))} per transaction of USD {rebate_min} or more"
            f"{'; reported: ' + pri_cost.source if pri_cost else ''})"
            if s.subsidy_usd
            else f"no PRI rebate applies below USD {rebate_min}"
        )
        findings.append(
            f"At USD {s.amount_usd} tickets, FY2025 senders from sources with an RPW corridor "
            f"(USD {bn(s.covered_flow_usd)} bn of {bn(s.total_flow_usd)} bn) paid about USD "
            f"{money_m(s.status_quo_paid_usd)} m ({s.status_quo_pct_weighted}% flow-weighted, RPW averages); "
            f"{rebate_text}."
        )
    findings.append(
        f"Against the SDG/G20 targets: flow-weighted average at USD 200 = {target_summary.flow_weighted_pct}% vs "
        f"{target_summary.average_target_pct}% target; corridors above the {target_summary.corridor_cap_pct}% cap: "
        f"{', '.join(target_summary.corridors_above_cap) or 'none'}."
    )
    for corridor in corridors:
        subset = [r for r in results if r.corridor == corridor and r.amount_usd == amounts[0]]
        formal = costs.cheapest(subset, costs.FAMILY_RPW)
        average = next((r for r in subset if r.channel.key == "rpw_average"), None)
        if formal and average:
            findings.append(
                f"{corridor} at USD {amounts[0]}: RPW average {average.total_pct}%; cheapest formal channel "
                f"{formal.channel.label} {formal.total_pct}%"
                + (f" (flagged {', '.join(formal.flags)})." if formal.flags else ".")
            )
    crypto = costs.cheapest([r for r in results if r.amount_usd == amounts[0]], costs.FAMILY_STABLECOIN)
    if crypto:
        # The stablecoin legs have no corridor-specific data (on-ramp fees are not quoted per sending country).
        findings.append(
            f"Cheapest stablecoin route at USD {amounts[0]}, the same in every corridor: "
            f"{_short_label(crypto.channel)} {crypto.total_pct}% with a {premium}% P2P premium, "
            f"{crypto.total_ex_premium_pct}% without it (inputs flagged {', '.join(crypto.flags)})."
        )
    first = [r for r in results if r.amount_usd == amounts[0]]
    crypto_ex = [r for r in first if r.channel.family == costs.FAMILY_STABLECOIN]
    formal_best = [costs.cheapest([r for r in first if r.corridor == c], costs.FAMILY_RPW) for c in corridors]
    formal_best = [f for f in formal_best if f is not None]
    if crypto_ex and formal_best:
        best_ex = min(crypto_ex, key=lambda r: r.total_ex_premium_pct)
        beaten = [f.corridor for f in formal_best if f.total_pct < best_ex.total_ex_premium_pct]
        findings.append(
            f"Without the P2P premium (the informal USDT/PKR rate gap, a single UNVERIFIED source; crypto off-ramps "
            f"are outside PRI and restricted for banks) the cheapest stablecoin route costs "
            f"{best_ex.total_ex_premium_pct}% at USD {amounts[0]} ({_short_label(best_ex.channel)}); the cheapest "
            f"formal channel is cheaper than that in {len(beaten)} of {len(formal_best)} corridors"
            f"{' (' + ', '.join(beaten) + ')' if beaten else ''}."
        )
    meta = {
        "Corridors": ", ".join(corridors),
        "Amounts (USD)": ", ".join(str(a) for a in amounts),
        "P2P premium assumed": f"{premium}% over interbank (ramps.csv range {premium_row.value_low}-"
        f"{premium_row.value_high}%, {premium_row.status})",
        "Fee levels": f"network {assume.network_fee_level}, exchange withdrawal {assume.withdrawal_fee_level} "
        f"(midpoint of range), on-ramp {assume.onramp_level}",
        "Shift share": f"{shift_share * 100}%",
        "Data": f"{data.data_dir} (World Bank RPW CC BY 4.0; SBP; chain docs; see LICENSE-DATA.md)",
    }
    return Report(
        title="Remittances into Pakistan: cost by channel",
        generated_at=utc_now(),
        meta=meta,
        findings=findings,
        sections=[cost_section, annual_section, targets_section, sensitivity, _inputs_section(results)],
    )
