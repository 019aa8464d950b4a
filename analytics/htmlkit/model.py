"""What a report is made of: sections of paragraphs, tables and figures, plus a one-screen summary.

A report is data first: the same :class:`Table` rows become an HTML table, a CSV file and a JSON array,
through one formatting function (:func:`cell_text`), so the three never disagree.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import msgspec


class Column(msgspec.Struct, frozen=True):
    key: str
    label: str


class Table(msgspec.Struct):
    name: str  # also the CSV file name: tables/<name>.csv
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    source: str
    note: str = ""
    inline: bool = True  # False: a long table, written as a CSV file and linked, not printed on the page


class Figure(msgspec.Struct, frozen=True):
    title: str
    svg: str
    source: str  # names the data source and its date
    flags: tuple[str, ...] = ()


class Section(msgspec.Struct):
    title: str
    paragraphs: list[str] = msgspec.field(default_factory=list)  # plain text, escaped on render
    figures: list[Figure] = msgspec.field(default_factory=list)  # drawn after the tables: a section ends in its chart
    tables: list[Table] = msgspec.field(default_factory=list)
    id: str = ""  # the anchor the table of contents links to (default: from the title)
    scenario: bool = False  # a named scenario, set apart from the default findings

    @property
    def anchor(self) -> str:
        return self.id or re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


class Report(msgspec.Struct):
    title: str
    generated_at: str
    meta: dict[str, str]
    findings: list[str]  # the answer, first thing on the page
    sections: list[Section]
    summary_figure: Figure | None = None  # the cross-section chart beside the answer
    attribution: str = ""

    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]

    def figures(self) -> list[Figure]:
        lead = [self.summary_figure] if self.summary_figure else []
        return lead + [f for s in self.sections for f in s.figures]


def cell_text(value: Any) -> str:
    """The one textual form of a table value, shared by HTML and CSV. Decimals print as themselves (a year
    is 2018, a sub-cent fee 0.0010), never through a float."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
