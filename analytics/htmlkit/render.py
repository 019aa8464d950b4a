"""A report as one self-contained HTML page: inline CSS and SVG, no script, opens offline.

Layout for readers: the answer and its chart first, then a table of contents, then sections that each end
in their chart and a link to their CSV files. Long tables are files, not pages.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

from analytics.htmlkit.model import Figure, Report, Section, Table, cell_text

TABLES_DIR = "tables"
SHORT_TEXT_CHARS_MAX = 24
LOW_LABELS = ("UNVERIFIED", "PLACEHOLDER", "PROXY", "ASSUMPTION", "UNRATED", "NOT IN DATA")

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:20px 28px;background:#fff;box-sizing:border-box}
h1{font-size:24px;margin:0 0 4px} h2{font-size:19px;margin:26px 0 6px;border-bottom:2px solid #0072B2;padding-bottom:3px}
p{margin:6px 0;line-height:1.4;font-size:14px}
.meta{color:#555;font-size:12px;margin:2px 0 8px}
.answer{background:#f2f7fb;border-left:4px solid #0072B2;padding:6px 14px 6px 28px;margin:8px 0}
.answer li{margin:2px 0;font-size:13px;line-height:1.35}
nav.toc{font-size:13px;margin:8px 0} nav.toc a{margin-right:14px;white-space:nowrap}
figure{margin:12px 0;padding:6px;border:1px solid #e3e3e3;border-radius:6px}
figcaption{font-size:12px;color:#444;margin-top:4px}
.table-wrap{margin:10px 0}
table{border-collapse:collapse;font-size:12px;width:100%;table-layout:auto}
caption{text-align:left;font-weight:600;font-size:13px;padding:4px 0}
th,td{border:1px solid #ddd;padding:2px 5px;vertical-align:top;overflow-wrap:anywhere} th{background:#f0f0f0;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap} td.neg{color:#007a58}
td.code{white-space:nowrap}
.source,.note,.files{font-size:12px;color:#555;margin:3px 0}
.flag{display:inline-block;font-size:10px;font-weight:700;border-radius:3px;padding:0 4px;margin:1px;white-space:nowrap}
.flag.low{background:#fde2d4;color:#8a2a00;border:1px solid #D55E00}
.flag.medium{background:#fff3cd;color:#6b5200;border:1px solid #E69F00}
.scenario{border:2px dashed #CC79A7;padding:2px 12px;margin-top:20px}
footer{font-size:12px;color:#555;margin-top:24px;border-top:1px solid #ddd;padding-top:6px}
"""


def badge_class(label: str) -> str:
    return "low" if label in LOW_LABELS else "medium"


def _cell_html(key: str, value: Any) -> str:
    text = cell_text(value)
    if key == "flags" and isinstance(value, (list, tuple)):
        inner = " ".join(f'<span class="flag {badge_class(str(v))}">{escape(str(v))}</span>' for v in value)
        return f'<td data-key="{key}">{inner}</td>'
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        css = ' class="num neg"' if value < 0 else ' class="num"'
    else:
        # Codes and labels (SAU->PAK) stay on one line; prose (sources, notes) wraps.
        css = "" if len(text) > SHORT_TEXT_CHARS_MAX else ' class="code"'
    return f'<td data-key="{key}"{css}>{escape(text)}</td>'


def _csv_link(table: Table) -> str:
    return f'<a href="{TABLES_DIR}/{escape(table.name)}.csv">{TABLES_DIR}/{escape(table.name)}.csv</a>'


def table_html(table: Table) -> str:
    head = "".join(f'<th data-key="{c.key}">{escape(c.label)}</th>' for c in table.columns)
    body = "".join(
        "<tr>" + "".join(_cell_html(c.key, row.get(c.key)) for c in table.columns) + "</tr>" for row in table.rows
    )
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (
        f'<div class="table-wrap"><table data-table="{escape(table.name)}"><caption>{escape(table.title)}'
        f"</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f'<p class="source">Source: {escape(table.source)}</p>{note}</div>'
    )


def figure_html(figure: Figure) -> str:
    flags = "".join(f' <span class="flag {badge_class(f)}">{escape(f)}</span>' for f in figure.flags)
    return (
        f"<figure>{figure.svg}<figcaption><b>{escape(figure.title)}</b>. Source: {escape(figure.source)}"
        f"{(' · inputs flagged:' + flags) if flags else ''}</figcaption></figure>"
    )


def section_html(section: Section) -> str:
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in section.paragraphs)
    tables = "".join(table_html(t) for t in section.tables if t.inline)
    figures = "".join(figure_html(f) for f in section.figures)
    files = "".join(
        f"<li>{_csv_link(t)}: {escape(t.title)} ({len(t.rows)} rows{'' if t.inline else ', not printed here'})</li>"
        for t in section.tables
    )
    links = f'<div class="files">Data behind this section:<ul>{files}</ul></div>' if files else ""
    css = ' class="scenario"' if section.scenario else ""
    return (
        f'<section id="{escape(section.anchor)}"{css}><h2>{escape(section.title)}</h2>'
        f"{paragraphs}{tables}{figures}{links}</section>"
    )


def render_html(report: Report) -> str:
    meta = " · ".join(f"{escape(k)}: {escape(v)}" for k, v in report.meta.items())
    findings = "".join(f"<li>{escape(f)}</li>" for f in report.findings)
    toc = " ".join(f'<a href="#{escape(s.anchor)}">{escape(s.title)}</a>' for s in report.sections)
    lead = figure_html(report.summary_figure) if report.summary_figure else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(report.title)}</title>'
        f'<style>{CSS}</style></head><body><main id="report" data-generated-at="{escape(report.generated_at)}">'
        f'<h1>{escape(report.title)}</h1><p class="meta">{meta}</p>'
        f'<ul class="answer" id="answer">{findings}</ul>{lead}'
        f'<nav class="toc">Contents: {toc}</nav>'
        '<p class="meta">Flags mark inputs below VERIFIED/RECOMPUTED: <span class="flag low">UNVERIFIED</span> '
        '<span class="flag low">PROXY</span> <span class="flag low">PLACEHOLDER</span> <span class="flag low">ASSUMPTION</span> low confidence; '
        '<span class="flag medium">SECONDARY</span> <span class="flag medium">DERIVED</span> '
        '<span class="flag medium">THIRD-PARTY</span> medium confidence.</p>'
        f"{''.join(section_html(s) for s in report.sections)}"
        f"<footer>{escape(report.attribution)} Generated {escape(report.generated_at)}.</footer>"
        "</main></body></html>"
    )
