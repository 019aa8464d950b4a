"""Writing a report: report.html, report.json and tables/<name>.csv side by side."""

from __future__ import annotations

import csv
from pathlib import Path

import msgspec

from analytics.htmlkit.model import Report, cell_text
from analytics.htmlkit.render import TABLES_DIR, render_html

REPORT_HTML = "report.html"
REPORT_JSON = "report.json"


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
                "inline": t.inline,
                "columns": [{"key": c.key, "label": c.label} for c in t.columns],
                "rows": [{c.key: row.get(c.key) for c in t.columns} for row in t.rows],
            }
            for t in report.tables()
        },
        "figures": [{"title": f.title, "source": f.source, "flags": list(f.flags)} for f in report.figures()],
    }
    encoder = msgspec.json.Encoder(decimal_format="number")
    return msgspec.json.format(encoder.encode(doc), indent=1)


def write_report(report: Report, out_dir: Path, html_name: str = REPORT_HTML) -> Path:
    """Write the HTML page, its JSON twin and one CSV per table into ``out_dir``; returns the HTML path."""
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
