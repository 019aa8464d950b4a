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
    units, _, fraction = text.partition(".")
    if (
        len(fraction) == 2  # the usual form, 'units.cc': no regex, no digit counting beyond the limit
        and len(units) <= _AMOUNT_TOTAL_DIGITS_MAX - 2
        and units.isascii()
        and units.isdigit()
        and fraction.isascii()
        and fraction.isdigit()
    ):
        return int(units) * 100 + int(fraction), False
    return parse_amount_general(text)


def parse_amount_general(text: str) -> tuple[int, bool]:
    """parse_amount for every lexical form (spaces, 0-5 fraction digits, leading zeros); tests prove that
    parse_amount's shortcut agrees with it."""
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


# The rail stamps many messages with the same instant (every report of one core batch, and its acceptance time
# echoed in ACTC and final reports): remember recent renderings rather than call isoformat() each time.
_FORMATTED_DATETIMES_MAX = 4_096
_formatted_datetimes: dict[dt.datetime, tuple[dt.tzinfo, str]] = {}


def format_datetime(value: dt.datetime) -> str:
    # Equal instants in different time zones are equal keys: the entry counts only for the same tzinfo.
    known = _formatted_datetimes.get(value)
    if known is not None and known[0] is value.tzinfo:
        return known[1]
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    text = value.isoformat(timespec="milliseconds" if value.microsecond % 1000 == 0 else "microseconds")
    if len(_formatted_datetimes) >= _FORMATTED_DATETIMES_MAX:
        _formatted_datetimes.clear()
    _formatted_datetimes[value] = (value.tzinfo, text)
    return text


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
