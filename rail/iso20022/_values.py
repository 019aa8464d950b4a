"""Lexical forms of the XSD built-in types ISO 20022 uses, and their Python values (shared by XML and JSON).

Two jobs, kept side by side so they cannot drift:
  - ``check_*``: is ``text`` in the lexical space of the XSD type (with its facets)? Returns None or a short
    reason. The XML rendering is checked by libxml2 itself (``schema.py``); the JSON rendering, whose leaves are
    the same strings, is checked with these, and tests prove the two agree (tests/test_iso_fidelity.py). Where
    libxml2 departs from XML Schema 1.0 the checks follow libxml2, the validator a participant's message meets
    first: dates and date-times take no surrounding whitespace, times take leading whitespace only, and base64
    skips any character outside its alphabet.
  - ``parse_*``: the value of an XSD-valid text. Every valid form is read (``+51.74``, ``.50``, ``-0``, dates
    with an offset ``2026-12-07+05:00``, ``T24:00:00``, nine fraction digits of a second ...); a value the rail
    cannot hold (a year outside 1-9999) raises ``OutOfRange`` carrying a clamped stand-in, so the decoder can
    keep the struct whole and let the profile refuse the message (DT01) instead of calling it unreadable.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

# Pakistan Standard Time, the scheme's local time: an ISODateTime written without offset is read in it.
PKT = dt.timezone(dt.timedelta(hours=5), "PKT")


class OutOfRange(ValueError):  # noqa: N818 - a ValueError the decoders treat specially, named for what it is
    """An XSD-valid date or date-time outside the years Python (and the rail) can represent."""

    def __init__(self, reason: str, clamped: object) -> None:
        super().__init__(reason)
        self.clamped = clamped


# --------------------------------------------------------------------------- decimal (amounts, rates, counts)

# xs:decimal: optional sign, digits with an optional point; at least one digit. Whitespace collapses.
_DECIMAL_RE = re.compile(r"[ \t\r\n]*([+-]?)([0-9]*)(?:\.([0-9]*))?[ \t\r\n]*\Z")


def _decimal_parts(text: str) -> tuple[str, str, str] | None:
    """(sign, integer digits, fraction digits) of a lexically valid xs:decimal, else None."""
    match = _DECIMAL_RE.match(text)
    if match is None:
        return None
    sign, units, fraction = match.group(1), match.group(2), match.group(3) or ""
    if not units and not fraction:
        return None
    return sign, units, fraction


def decimal_checker(total_digits: int | None, fraction_digits: int | None, min_inclusive: str | None):
    """A check for one restriction of xs:decimal. Digits are counted on the value, as XML Schema does: leading
    zeros of the units and trailing zeros of the fraction are not digits of the value."""
    minimum = Decimal(min_inclusive) if min_inclusive is not None else None
    non_negative = min_inclusive is not None and minimum == 0  # the amounts' case, without a Decimal each time

    def check(text: str) -> str | None:
        parts = _decimal_parts(text)
        if parts is None:
            return "not a decimal number"
        sign, units, fraction = parts
        fraction = fraction.rstrip("0")
        if fraction_digits is not None and len(fraction) > fraction_digits:
            return f"more than {fraction_digits} fraction digits"
        if total_digits is not None and len(units.lstrip("0")) + len(fraction) > total_digits:
            return f"more than {total_digits} digits"
        if non_negative:
            if sign == "-" and (units.strip("0") or fraction):
                return f"less than {min_inclusive}"
        elif minimum is not None and Decimal(f"{sign}{units or '0'}.{fraction or '0'}") < minimum:
            return f"less than {min_inclusive}"
        return None

    return check


# ActiveOrHistoricCurrencyAndAmount: xs:decimal, fractionDigits 5, totalDigits 18, minInclusive 0.
check_amount = decimal_checker(18, 5, "0")


def parse_amount(text: str) -> tuple[int, bool]:
    """'2500.00' -> (250000, False). The flag is True when there are significant digits below a paisa."""
    units, _, fraction = text.partition(".")
    if (
        len(fraction) == 2  # the usual form, 'units.cc': no regex, no digit counting beyond the limit
        and 0 < len(units) <= 16
        and units.isascii()
        and units.isdigit()
        and fraction.isascii()
        and fraction.isdigit()
    ):
        return int(units) * 100 + int(fraction), False
    return parse_amount_general(text)


def parse_amount_general(text: str) -> tuple[int, bool]:
    """parse_amount for every lexical form of the XSD amount types (whitespace, a sign, '.50', '5.', up to five
    significant fraction digits, leading zeros); tests prove that parse_amount's shortcut agrees with it."""
    reason = check_amount(text)
    if reason is not None:
        raise ValueError("not a non-negative decimal amount" if reason.startswith("not") else reason)
    _sign, units, fraction = _decimal_parts(text)  # type: ignore[misc] - checked above
    significant = fraction.rstrip("0")
    paisa = int(units or "0") * 100 + int(fraction[:2].ljust(2, "0"))
    return paisa, len(significant) > 2


def format_amount(paisa: int) -> str:
    if paisa < 0:
        raise ValueError("negative amount")
    return f"{paisa // 100}.{paisa % 100:02d}"


_CCY_RE = re.compile(r"[A-Z]{3}\Z")


def parse_currency(text: str) -> str:
    if _CCY_RE.match(text) is None:
        raise ValueError("currency must be 3 upper-case letters")
    return text


# --------------------------------------------------------------------------- dates and times

_TZ = r"(Z|[+-][0-9]{2}:[0-9]{2})?"
_YEAR = r"(-?)([0-9]{4,})"
_DATE_RE = re.compile(_YEAR + r"-([0-9]{2})-([0-9]{2})" + _TZ + r"\Z")
_TIME = r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
_DATETIME_RE = re.compile(_YEAR + r"-([0-9]{2})-([0-9]{2})T" + _TIME + _TZ + r"\Z")
_TIME_RE = re.compile(r"[ \t\r\n]*" + _TIME + _TZ + r"\Z")
_YEAR_MONTH_RE = re.compile(_YEAR + r"-([0-9]{2})" + _TZ + r"\Z")
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _year_error(digits: str) -> str | None:
    if len(digits) > 4 and digits[0] == "0":
        return "a year of more than four digits has no leading zero"
    if int(digits) == 0:
        return "year 0000 does not exist"
    return None


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _date_error(sign: str, year: str, month: str, day: str) -> str | None:
    reason = _year_error(year)
    if reason:
        return reason
    m, d = int(month), int(day)
    if not 1 <= m <= 12:
        return "month outside 01-12"
    signed_year = -int(year) if sign else int(year)
    last = 29 if m == 2 and _leap(signed_year) else _DAYS[m - 1]
    if not 1 <= d <= last:
        return "no such day in that month"
    return None


def _tz_error(tz: str | None) -> str | None:
    if tz is None or tz == "Z":
        return None
    hours, minutes = int(tz[1:3]), int(tz[4:6])
    if minutes > 59 or hours > 14 or (hours == 14 and minutes):
        return "time zone offset outside -14:00..+14:00"
    return None


def _time_error(hh: str, mm: str, ss: str, fraction: str | None) -> str | None:
    h, m, s = int(hh), int(mm), int(ss)
    if h == 24:
        if m or s or (fraction and fraction.strip("0")):
            return "24 is an hour only as 24:00:00"
        return None
    if h > 23 or m > 59 or s > 59:
        return "hour, minute or second out of range"
    return None


# The forms nearly every message uses (a four-digit year, hours below 24, at most microseconds), checked and
# read by the C parser of the datetime module; everything else takes the general path.
_COMMON_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_COMMON_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})?\Z"
)


def _common_date(text: str) -> dt.date | None:
    if _COMMON_DATE_RE.match(text) is None or text.startswith("0000"):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _common_datetime(text: str) -> dt.datetime | None:
    match = _COMMON_DATETIME_RE.match(text)
    if match is None or text.startswith("0000"):
        return None
    tz = match.group(1)
    if tz is not None and tz != "Z" and not (tz[1:3] < "14" and tz[4:6] < "60" or tz[1:] == "14:00"):
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=PKT)


def _check_date(text: str) -> str | None:
    if _common_date(text) is not None:
        return None
    match = _DATE_RE.match(text)
    if match is None:
        return "not an ISODate (YYYY-MM-DD, optionally with Z or an offset)"
    sign, year, month, day, tz = match.groups()
    return _date_error(sign, year, month, day) or _tz_error(tz)


_BLANKS = " \t\r\n"


def _without_blanks_after_zone(text: str) -> str:
    """libxml2, which validates every XML message at the edge, takes blanks after a dateTime's explicit time zone
    (`...Z\t`, `...+05:00 `) and nowhere else in a dateTime (measured: tests/test_iso_fidelity.py). The JSON path
    must answer as the XML path does, and the decoder must read what libxml2 let through: drop them there."""
    if text and text[-1] in _BLANKS:
        core = text.rstrip(_BLANKS)
        if core.endswith("Z") or (len(core) > 6 and core[-6] in "+-" and core[-3] == ":"):
            return core
    return text


def _check_datetime(text: str) -> str | None:
    text = _without_blanks_after_zone(text)
    if _common_datetime(text) is not None:
        return None
    match = _DATETIME_RE.match(text)
    if match is None:
        return "not an ISODateTime (YYYY-MM-DDThh:mm:ss[.s][Z|+hh:mm])"
    sign, year, month, day, hh, mm, ss, fraction, tz = match.groups()
    return _date_error(sign, year, month, day) or _time_error(hh, mm, ss, fraction) or _tz_error(tz)


def check_time(text: str) -> str | None:
    match = _TIME_RE.match(text)
    if match is None:
        return "not an ISOTime (hh:mm:ss[.s][Z|+hh:mm])"
    hh, mm, ss, fraction, tz = match.groups()
    return _time_error(hh, mm, ss, fraction) or _tz_error(tz)


def check_year_month(text: str) -> str | None:
    match = _YEAR_MONTH_RE.match(text)
    if match is None:
        return "not an ISOYearMonth (YYYY-MM)"
    _sign, year, month, tz = match.groups()
    reason = _year_error(year)
    if reason:
        return reason
    if not 1 <= int(month) <= 12:
        return "month outside 01-12"
    return _tz_error(tz)


def _tzinfo(tz: str | None) -> dt.tzinfo | None:
    if tz is None:
        return None
    if tz == "Z":
        return dt.UTC
    offset = dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
    return dt.timezone(-offset if tz[0] == "-" else offset)


def _parse_date(text: str) -> dt.date:
    """An ISODate's calendar date (an offset, allowed by the XSD, names the zone the date is in: the date as
    written is kept). OutOfRange for years outside 0001-9999."""
    common = _common_date(text)
    if common is not None:
        return common
    match = _DATE_RE.match(text)
    if match is None or _check_date(text) is not None:
        raise ValueError("not an ISODate")
    sign, year, month, day, _tz = match.groups()
    if sign or len(year) > 4:
        raise OutOfRange("year outside 0001-9999", dt.date.min if sign else dt.date.max)
    return dt.date(int(year), int(month), int(day))


def _parse_datetime(text: str) -> dt.datetime:
    """An ISODateTime as an aware datetime (no offset: PKT, the scheme's time). T24:00:00 is midnight at the
    end of the day; more than six fraction digits are cut to microseconds. OutOfRange outside 0001-9999.
    For text the schema (libxml2, or check_datetime) has accepted: the common shape goes straight to the
    datetime module's C parser, which reads every such text exactly."""
    text = _without_blanks_after_zone(text)
    if (
        len(text) >= 19
        and text[10] == "T"
        and text[4] == "-"
        and text[13] == ":"
        and text[16] == ":"
        and text[11:13] != "24"
    ):
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return value if value.tzinfo is not None else value.replace(tzinfo=PKT)
    common = _common_datetime(text)
    if common is not None:
        return common
    match = _DATETIME_RE.match(text)
    if match is None or _check_datetime(text) is not None:
        raise ValueError("not an ISODateTime")
    sign, year, month, day, hh, mm, ss, fraction, tz = match.groups()
    tzinfo = _tzinfo(tz) or PKT
    if sign or len(year) > 4:
        raise OutOfRange("year outside 0001-9999", dt.datetime.min.replace(tzinfo=tzinfo) if sign else
                         dt.datetime.max.replace(tzinfo=tzinfo))
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    if hh == "24":
        try:
            return dt.datetime(int(year), int(month), int(day), tzinfo=tzinfo) + dt.timedelta(days=1)
        except OverflowError:
            raise OutOfRange("year outside 0001-9999", dt.datetime.max.replace(tzinfo=tzinfo)) from None
    return dt.datetime(int(year), int(month), int(day), int(hh), int(mm), int(ss), micro, tzinfo=tzinfo)


# Dates and date-times recur across the messages of a moment (a business date, the same millisecond's
# CreDtTm): checks and values are pure functions of the text, so recent ones are remembered. Bounded: the memo
# is dropped when full, so hostile traffic costs a recomputation, never memory.
_MEMO_MAX = 4_096


def _memoised(function):
    memo: dict = {}
    missing = object()

    def cached(text: str):
        known = memo.get(text, missing)
        if known is not missing:
            if known.__class__ is OutOfRange:
                raise known
            return known
        try:
            value = function(text)
        except OutOfRange as exc:
            value = exc
        except ValueError:
            raise
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[text] = value
        if value.__class__ is OutOfRange:
            raise value
        return value

    cached.__doc__ = function.__doc__
    return cached


check_date = _memoised(_check_date)
check_datetime = _memoised(_check_datetime)
parse_date = _memoised(_parse_date)
parse_datetime = _memoised(_parse_datetime)


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


# --------------------------------------------------------------------------- boolean, binary

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def check_bool(text: str) -> str | None:
    return None if text.strip(" \t\r\n") in _BOOLEANS else "not a boolean (true, false, 1, 0)"


def parse_bool(text: str) -> bool:
    value = _BOOLEANS.get(text.strip(" \t\r\n"))
    if value is None:
        raise ValueError("not a boolean")
    return value


def format_bool(value: bool) -> str:
    return "true" if value else "false"


# libxml2 reads base64 skipping every character outside the alphabet (not only whitespace): so does this.
_NOT_BASE64_RE = re.compile(r"[^A-Za-z0-9+/=]+")
# XML Schema's base64Binary: groups of four, the last one padded; a padded group's last character must not
# carry bits the padding discards.
_BASE64_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?\Z")


def base64_checker(min_octets: int | None, max_octets: int | None):
    def check(text: str) -> str | None:
        compact = _NOT_BASE64_RE.sub("", text)
        if _BASE64_RE.match(compact) is None:
            return "not base64"
        octets = len(compact) // 4 * 3 - compact.count("=")
        if min_octets is not None and octets < min_octets:
            return f"shorter than {min_octets} octets"
        if max_octets is not None and octets > max_octets:
            return f"longer than {max_octets} octets"
        return None

    return check
