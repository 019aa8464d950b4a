"""Lexical conversions between ISO 20022 simple types and Python values (shared by XML and JSON codecs).

Each parser raises ValueError with a short reason; the codecs turn it into MessageRejected FF01 with the path.
"""

from __future__ import annotations

import datetime as dt
import re

# Pakistan Standard Time, the scheme's local time: an ISODateTime written without offset is read in it.
PKT = dt.timezone(dt.timedelta(hours=5), "PKT")

# ActiveOrHistoricCurrencyAndAmount: xs:decimal, fractionDigits 5, totalDigits 18, minInclusive 0.
_AMOUNT_RE = re.compile(r"([0-9]+)(?:\.([0-9]*))?\Z")
_AMOUNT_TOTAL_DIGITS_MAX = 18
_AMOUNT_FRACTION_DIGITS_MAX = 5
_CCY_RE = re.compile(r"[A-Z]{3}\Z")
_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?\Z"
)
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def parse_amount(text: str) -> tuple[int, bool]:
    """'2500.00' -> (250000, False). The flag is True when there are significant digits below a paisa."""
    match = _AMOUNT_RE.match(text.strip())
    if match is None:
        raise ValueError("not a non-negative decimal amount")
    units, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > _AMOUNT_FRACTION_DIGITS_MAX:
        raise ValueError("more than 5 fraction digits")
    if len(units.lstrip("0")) + len(fraction) > _AMOUNT_TOTAL_DIGITS_MAX:
        raise ValueError("more than 18 digits")
    significant = fraction.rstrip("0")
    paisa = int(units) * 100 + (int(fraction[:2].ljust(2, "0")) if fraction else 0)
    return paisa, len(significant) > 2


def format_amount(paisa: int) -> str:
    if paisa < 0:
        raise ValueError("negative amount")
    return f"{paisa // 100}.{paisa % 100:02d}"


def parse_currency(text: str) -> str:
    if _CCY_RE.match(text) is None:
        raise ValueError("currency must be 3 upper-case letters")
    return text


def parse_datetime(text: str) -> dt.datetime:
    text = text.strip()
    if _DATETIME_RE.match(text) is None:
        raise ValueError("not an ISODateTime")
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=PKT)
    return value


def format_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.isoformat(timespec="milliseconds" if value.microsecond % 1000 == 0 else "microseconds")


def parse_date(text: str) -> dt.date:
    text = text.strip()
    if _DATE_RE.match(text) is None:
        raise ValueError("not an ISODate")
    return dt.date.fromisoformat(text)


def parse_bool(text: str) -> bool:
    text = text.strip()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValueError("not a boolean")


def format_bool(value: bool) -> str:
    return "true" if value else "false"
