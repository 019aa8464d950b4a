"""The HTML toolkit: reports as data (sections, tables, figures), rendered as one self-contained page
with inline SVG charts, plus the same tables as CSV and JSON. It knows nothing about remittances: the
cost report and the run report are built with it."""

from analytics.htmlkit import boxplot, charts
from analytics.htmlkit.model import Column, Figure, Report, Section, Table, cell_text, utc_now
from analytics.htmlkit.output import REPORT_HTML, REPORT_JSON, report_json, write_report
from analytics.htmlkit.render import TABLES_DIR, render_html

__all__ = [
    "REPORT_HTML",
    "REPORT_JSON",
    "TABLES_DIR",
    "Column",
    "Figure",
    "Report",
    "Section",
    "Table",
    "boxplot",
    "cell_text",
    "charts",
    "render_html",
    "report_json",
    "utc_now",
    "write_report",
]
