"""The cited data behind the cost model, loaded into typed, validated records.

Every CSV keeps all of its source columns (source, URL, date, status, notes), so a figure in a report can
always name where it came from. Files are read from ``analytics/data`` (shipped with the package) or from
a directory the user names with ``--data-dir`` holding CSVs of the same shape. Anything wrong with a file
(missing, missing columns, a cell that is not a number, a row that contradicts itself) raises
:class:`DataError` naming the file and the row, never a traceback from deep inside the model.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, get_args, get_type_hints

import msgspec

CORRIDORS_CSV = "corridors.csv"
CHAINS_CSV = "chains.csv"
RAMPS_CSV = "ramps.csv"
FLOWS_CSV = "flows_pakistan.csv"
BENCHMARKS_CSV = "global_benchmarks.csv"
TIMESERIES_CSV = "rpw_pakistan_timeseries.csv"
PARAMETERS_CSV = "parameters.csv"
RPW_SERVICES_CSV = "rpw_services.csv"
ONRAMPS_CSV = "onramps.csv"
CHAINS_ADDED_CSV = "chains_added.csv"
FX_CSV = "fx_pakistan.csv"
LAB_CSV = "corridor_lab.csv"
CALENDARS_CSV = "business_calendars.csv"
# Copied verbatim from the reference pack: their checksums are recorded in SHA256SUMS.
PACK_FILES = (CORRIDORS_CSV, CHAINS_CSV, RAMPS_CSV, FLOWS_CSV, BENCHMARKS_CSV, TIMESERIES_CSV)
# Added by the analytics package, each row cited (LICENSE-DATA.md says where each comes from).
ADDED_FILES = (PARAMETERS_CSV, RPW_SERVICES_CSV, ONRAMPS_CSV, CHAINS_ADDED_CSV, FX_CSV, LAB_CSV, CALENDARS_CSV)
ALL_FILES = PACK_FILES + ADDED_FILES

# A data file is a small reference table; refuse anything absurdly large instead of reading it whole.
DATA_FILE_BYTES_MAX = 5_000_000
DATA_FILE_ROWS_MAX = 20_000

# RPW prices two baskets (COSTS.md s.1.1): the sender's-currency equivalent of USD 200 and USD 500.
RPW_BASKETS_USD = (200, 500)
# fee_pct + fx_margin_pct must equal total_cost_pct up to the 3-decimal rounding of each published cell.
PCT_SUM_TOLERANCE = Decimal("0.0025")
RPW_FIRM_CLASSES = ("all", "bank", "mto")
OTHER_FIRM_CLASSES = ("IPS", "policy")
CORRIDOR_LABEL = re.compile(r"^[A-Z]{3}->PAK$")
PERIOD_QUARTER = re.compile(r"^\d{4}_[1-4]Q$")
# The per-quote export rounds fee and FX margin to 2 decimals each: their sum may miss the total by 0.01.
SERVICE_SUM_TOLERANCE = Decimal("0.011")
LICENSED_VALUES = ("yes", "no", "unknown")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class DataError(Exception):
    """A data file is missing or malformed; the message names the file and the row."""


class CorridorRow(msgspec.Struct, frozen=True):
    """corridors.csv: one RPW corridor average or subset at one basket, or a policy/RAAST row."""

    corridor: str
    source_iso3: str
    source_country: str
    dest: str
    channel: str
    firm_class: str
    send_amount_usd: str  # "200", "500", ">=200" (policy row) or empty
    n_services: int | None
    fee_pct: Decimal | None
    fx_margin_pct: Decimal | None
    total_cost_pct: Decimal | None
    fee_usd: Decimal | None
    total_cost_usd: Decimal | None
    min_total_cost_pct: Decimal | None
    speed: str
    period: str
    source: str
    source_url: str
    accessed: str
    status: str
    notes: str

    @property
    def basket_usd(self) -> int | None:
        return int(self.send_amount_usd) if self.send_amount_usd.isdigit() else None


class ChainRow(msgspec.Struct, frozen=True):
    """chains.csv: network fee and finality of a stablecoin transfer on one chain."""

    chain: str
    asset: str
    fee_model: str
    network_fee_native: str
    native_unit: str
    usd_price_assumption: str
    network_fee_usd_typical: Decimal
    network_fee_usd_low: Decimal
    network_fee_usd_high: Decimal
    recipient_setup_cost: str
    soft_confirmation_seconds: Decimal
    finality_seconds: Decimal
    finality_basis: str
    source: str
    source_url: str
    date: str
    status: str
    notes: str


class RampRow(msgspec.Struct, frozen=True):
    """ramps.csv: an exchange on/off-ramp fee, the P2P premium, or a constraint."""

    component: str
    venue_or_type: str
    value_low: Decimal | None
    value_high: Decimal | None
    unit: str
    applies_to: str
    source: str
    source_url: str
    date: str
    status: str
    notes: str


class FlowRow(msgspec.Struct, frozen=True):
    """flows_pakistan.csv: SBP workers' remittances for a period and series."""

    period: str
    series: str
    value_usd_bn: Decimal | None
    source: str
    source_url: str
    date_published: str
    status: str
    notes: str


class BenchmarkRow(msgspec.Struct, frozen=True):
    """global_benchmarks.csv: an RPW benchmark or an SDG/G20 target, in percent."""

    period: str
    metric: str
    value_pct: Decimal
    source: str
    source_url: str
    status: str


class TimeseriesRow(msgspec.Struct, frozen=True):
    """rpw_pakistan_timeseries.csv: corridor-quarter means (third-party aggregate of RPW)."""

    period: str
    source_iso3: str
    source_country: str
    avg_total_cost_pct_200: Decimal
    avg_total_cost_pct_500: Decimal
    avg_fx_margin_pct_200: Decimal
    avg_fx_margin_pct_500: Decimal
    n_rows: int
    source: str
    status: str


class ParameterRow(msgspec.Struct, frozen=True):
    """parameters.csv: a model constant not present as a column elsewhere, cited like the data."""

    name: str
    value: Decimal
    value_low: Decimal
    value_high: Decimal
    unit: str
    source: str
    source_url: str
    date: str
    status: str
    notes: str


class ServiceRow(msgspec.Struct, frozen=True):
    """rpw_services.csv: one RPW service's published quote at one basket (the per-quote export)."""

    corridor: str
    source_iso3: str
    source_country: str
    amount_usd: int
    rank: int
    provider: str
    payment_instrument: str  # how the sender pays: cash, bank account, debit/credit card, mobile money
    access_point: str  # where the sender starts: agent, bank branch, internet, mobile phone, call centre
    fee_pct: Decimal
    fx_margin_pct: Decimal
    total_cost_pct: Decimal
    transparent: str
    period: str
    source: str
    source_repo: str
    source_path: str
    source_commit: str
    source_generated_utc: str
    accessed: str
    status: str


class OnrampRow(msgspec.Struct, frozen=True):
    """onramps.csv: whether a licensed exchange sells USD stablecoin for a sending country's currency, and
    what funding it by bank transfer and converting costs (ranges, in percent of the amount)."""

    source_iso3: str
    currency: str
    venue: str
    licensed: str
    licence: str
    licence_source: str
    licence_url: str
    licence_date: str
    licence_status: str
    funding_method: str
    deposit_fee_pct_low: Decimal | None
    deposit_fee_pct_high: Decimal | None
    conversion_fee_pct_low: Decimal | None
    conversion_fee_pct_high: Decimal | None
    fx_spread_pct_low: Decimal | None
    fx_spread_pct_high: Decimal | None
    funding_seconds_low: Decimal | None
    funding_seconds_high: Decimal | None
    fee_source: str
    fee_url: str
    fee_date: str
    fee_status: str
    notes: str

    @property
    def is_licensed(self) -> bool:
        return self.licensed == "yes"


class FxPointRow(msgspec.Struct, frozen=True):
    """fx_pakistan.csv: a dated USD/PKR or USDT/PKR rate (or a policy bound on their gap), cited."""

    date: str
    series: str
    value: Decimal
    unit: str
    source: str
    source_url: str
    status: str
    notes: str


class LabParameterRow(ParameterRow, frozen=True):
    """corridor_lab.csv: one parameter of the corridor lab's routes (analytics/corridor), cited like the data:
    a parameters.csv row that also names the route it belongs to."""

    route: str


class CalendarRow(msgspec.Struct, frozen=True):
    """business_calendars.csv: a country's time zone and weekend (when its banks work)."""

    iso3: str
    country: str
    utc_offset_hours: Decimal
    weekend: str  # e.g. "Fri Sat"
    source: str
    source_url: str
    date: str
    status: str
    notes: str

    @property
    def weekend_days(self) -> frozenset[int]:
        """Weekday numbers (Monday 0) of the weekend."""
        return frozenset(WEEKDAYS.index(day) for day in self.weekend.split())


class Datasets(msgspec.Struct, frozen=True):
    """Every file, validated. ``data_dir`` is where they were read from (cited in reports)."""

    data_dir: str
    corridors: tuple[CorridorRow, ...]
    chains: tuple[ChainRow, ...]
    ramps: tuple[RampRow, ...]
    flows: tuple[FlowRow, ...]
    benchmarks: tuple[BenchmarkRow, ...]
    timeseries: tuple[TimeseriesRow, ...]
    parameters: tuple[ParameterRow, ...]
    services: tuple[ServiceRow, ...] = ()
    onramps: tuple[OnrampRow, ...] = ()
    fx_points: tuple[FxPointRow, ...] = ()
    added_chains: frozenset[str] = frozenset()  # chains.csv-shaped rows from chains_added.csv
    lab_parameters: tuple[LabParameterRow, ...] = ()
    calendars: tuple[CalendarRow, ...] = ()

    def parameter(self, name: str) -> ParameterRow:
        for row in self.parameters:
            if row.name == name:
                return row
        raise DataError(f"{PARAMETERS_CSV}: no row named {name!r} (required by the cost model)")

    def lab_parameter(self, name: str) -> LabParameterRow:
        for row in self.lab_parameters:
            if row.name == name:
                return row
        raise DataError(f"{LAB_CSV}: no row named {name!r} (required by the corridor lab)")

    def calendar(self, iso3: str) -> CalendarRow:
        for row in self.calendars:
            if row.iso3 == iso3:
                return row
        raise DataError(f"{CALENDARS_CSV}: no row for {iso3!r} (required by the corridor lab)")


# ---------------------------------------------------------------------------------------------------
# Row checks beyond types: each returns an error message or None. They guard the arithmetic the model
# relies on, so a hand-edited CSV cannot silently produce nonsense.


def _check_corridor(row: CorridorRow) -> str | None:
    if row.firm_class not in RPW_FIRM_CLASSES + OTHER_FIRM_CLASSES:
        return f"firm_class {row.firm_class!r} is not one of {RPW_FIRM_CLASSES + OTHER_FIRM_CLASSES}"
    if row.firm_class not in RPW_FIRM_CLASSES:
        return None
    if not CORRIDOR_LABEL.match(row.corridor):
        return f"corridor {row.corridor!r} is not of the form 'SRC->PAK'"
    if row.basket_usd not in RPW_BASKETS_USD:
        return f"send_amount_usd {row.send_amount_usd!r} is not an RPW basket {RPW_BASKETS_USD}"
    if row.total_cost_pct is None:
        return "total_cost_pct is empty"
    if not PERIOD_QUARTER.match(row.period):
        return f"period {row.period!r} is not of the form 'YYYY_nQ'"
    if (row.fee_pct is None) != (row.fx_margin_pct is None):
        return "fee_pct and fx_margin_pct must both be given or both be empty"
    if row.fee_pct is not None and row.fx_margin_pct is not None:
        gap = abs(row.fee_pct + row.fx_margin_pct - row.total_cost_pct)
        if gap > PCT_SUM_TOLERANCE:
            return (
                f"fee_pct {row.fee_pct} + fx_margin_pct {row.fx_margin_pct} != total_cost_pct "
                f"{row.total_cost_pct}"
            )
        if row.fee_pct < 0:
            return f"fee_pct {row.fee_pct} is negative (only FX margins may be negative)"
    return None


def _check_chain(row: ChainRow) -> str | None:
    if not row.network_fee_usd_low <= row.network_fee_usd_typical <= row.network_fee_usd_high:
        return "network fee must satisfy low <= typical <= high"
    if row.network_fee_usd_low < 0 or row.finality_seconds < 0:
        return "network fee and finality must not be negative"
    return None


def _check_ramp(row: RampRow) -> str | None:
    if row.value_low is not None and row.value_high is not None and row.value_low > row.value_high:
        return f"value_low {row.value_low} > value_high {row.value_high}"
    return None


def _check_service(row: ServiceRow) -> str | None:
    if not CORRIDOR_LABEL.match(row.corridor):
        return f"corridor {row.corridor!r} is not of the form 'SRC->PAK'"
    if row.amount_usd not in RPW_BASKETS_USD:
        return f"amount_usd {row.amount_usd} is not an RPW basket {RPW_BASKETS_USD}"
    if not PERIOD_QUARTER.match(row.period):
        return f"period {row.period!r} is not of the form 'YYYY_nQ'"
    if row.transparent not in ("yes", "no"):
        return f"transparent {row.transparent!r} is not yes/no"
    if row.fee_pct < 0:
        return f"fee_pct {row.fee_pct} is negative (only FX margins may be negative)"
    if abs(row.fee_pct + row.fx_margin_pct - row.total_cost_pct) > SERVICE_SUM_TOLERANCE:
        return f"fee_pct {row.fee_pct} + fx_margin_pct {row.fx_margin_pct} != total_cost_pct {row.total_cost_pct}"
    return None


def _check_onramp(row: OnrampRow) -> str | None:
    if row.licensed not in LICENSED_VALUES:
        return f"licensed {row.licensed!r} is not one of {LICENSED_VALUES}"
    ranges = (
        ("deposit_fee_pct", row.deposit_fee_pct_low, row.deposit_fee_pct_high),
        ("conversion_fee_pct", row.conversion_fee_pct_low, row.conversion_fee_pct_high),
        ("fx_spread_pct", row.fx_spread_pct_low, row.fx_spread_pct_high),
        ("funding_seconds", row.funding_seconds_low, row.funding_seconds_high),
    )
    for name, low, high in ranges:
        if row.is_licensed and (low is None or high is None):
            return f"a licensed ramp needs {name}_low and {name}_high"
        if low is not None and high is not None and not 0 <= low <= high:
            return f"{name} must satisfy 0 <= low <= high"
    return None


def _check_flow(row: FlowRow) -> str | None:
    if row.value_usd_bn is not None and row.value_usd_bn < 0:
        return f"value_usd_bn {row.value_usd_bn} is negative"
    return None


# Exchange rates divide amounts: zero or negative would be a silent nonsense result, so refuse them here.
POSITIVE_PARAMETER_SUFFIX = "_per_usd"


def _check_parameter(row: ParameterRow) -> str | None:
    if not row.value_low <= row.value <= row.value_high:
        return "value must satisfy value_low <= value <= value_high"
    if row.name.endswith(POSITIVE_PARAMETER_SUFFIX) and row.value_low <= 0:
        return f"{row.name} is an exchange rate and must be positive"
    return None


def _check_calendar(row: CalendarRow) -> str | None:
    days = row.weekend.split()
    unknown = [d for d in days if d not in WEEKDAYS]
    if unknown or not 1 <= len(days) <= 3:
        return f"weekend {row.weekend!r} is not one to three of {' '.join(WEEKDAYS)}"
    if not -12 <= row.utc_offset_hours <= 14:
        return f"utc_offset_hours {row.utc_offset_hours} is not a time zone (-12..14)"
    return None


def _no_check(_row: object) -> None:
    return None


# ---------------------------------------------------------------------------------------------------

R = TypeVar("R", bound=msgspec.Struct)


def _optional_fields(struct_type: type) -> set[str]:
    hints = get_type_hints(struct_type)
    return {name for name, hint in hints.items() if type(None) in get_args(hint)}


def _open(path: Path):
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected one of {', '.join(ALL_FILES)})")
    if path.stat().st_size > DATA_FILE_BYTES_MAX:
        raise DataError(f"{path}: larger than {DATA_FILE_BYTES_MAX} bytes; not a reference table")
    return path.open(newline="", encoding="utf-8-sig")


def read_table(
    path: Path, struct_type: type[R], check: Callable[[Any], str | None] = _no_check
) -> tuple[R, ...]:
    """Read one CSV into ``struct_type`` records. Columns are matched by name (order free; extra columns
    are refused so that a renamed column cannot be silently ignored)."""
    fields = struct_type.__struct_fields__
    optional = _optional_fields(struct_type)
    rows: list[R] = []
    try:
        with _open(path) as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [f for f in fields if f not in header]
            extra = [h for h in header if h not in fields]
            if missing or extra:
                raise DataError(
                    f"{path}: header does not match {struct_type.__name__}: "
                    f"missing columns {missing}, unexpected columns {extra}"
                )
            for index, record in enumerate(reader, start=1):
                if index > DATA_FILE_ROWS_MAX:
                    raise DataError(f"{path}: more than {DATA_FILE_ROWS_MAX} rows")
                where = f"{path}: row {index} (line {reader.line_num})"
                if None in record or any(v is None for v in record.values()):
                    raise DataError(f"{where}: wrong number of cells")
                cells = {
                    k: (None if (v.strip() == "" and k in optional) else v.strip()) for k, v in record.items()
                }
                try:
                    row = msgspec.convert(cells, struct_type, strict=False)
                except msgspec.ValidationError as exc:
                    raise DataError(f"{where}: {exc}") from None
                problem = check(row)
                if problem:
                    raise DataError(f"{where}: {problem}")
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise DataError(f"{path}: not a valid CSV ({exc})") from None
    if not rows:
        raise DataError(f"{path}: no data rows")
    return tuple(rows)


def read_flows(path: Path | None = None) -> tuple[FlowRow, ...]:
    """flows_pakistan.csv alone (the load model's corridor weights), validated like the rest."""
    return read_table(Path(path) if path else packaged_data_dir() / FLOWS_CSV, FlowRow, _check_flow)


def packaged_data_dir() -> Path:
    """The data shipped inside the package (never ../shared at run time)."""
    return Path(__file__).resolve().parent / "data"


def load(data_dir: Path | None = None) -> Datasets:
    """Load and validate every file from ``data_dir`` (default: the packaged data)."""
    base = Path(data_dir) if data_dir is not None else packaged_data_dir()
    if not base.is_dir():
        raise DataError(f"{base}: data directory not found")
    added_chains = read_table(base / CHAINS_ADDED_CSV, ChainRow, _check_chain)
    data = Datasets(
        data_dir=str(base),
        corridors=read_table(base / CORRIDORS_CSV, CorridorRow, _check_corridor),
        chains=read_table(base / CHAINS_CSV, ChainRow, _check_chain) + added_chains,
        ramps=read_table(base / RAMPS_CSV, RampRow, _check_ramp),
        flows=read_table(base / FLOWS_CSV, FlowRow, _check_flow),
        benchmarks=read_table(base / BENCHMARKS_CSV, BenchmarkRow),
        timeseries=read_table(base / TIMESERIES_CSV, TimeseriesRow),
        parameters=read_table(base / PARAMETERS_CSV, ParameterRow, _check_parameter),
        services=read_table(base / RPW_SERVICES_CSV, ServiceRow, _check_service),
        onramps=read_table(base / ONRAMPS_CSV, OnrampRow, _check_onramp),
        fx_points=read_table(base / FX_CSV, FxPointRow),
        added_chains=frozenset(row.chain for row in added_chains),
        lab_parameters=read_table(base / LAB_CSV, LabParameterRow, _check_parameter),
        calendars=read_table(base / CALENDARS_CSV, CalendarRow, _check_calendar),
    )
    for file, names in ((PARAMETERS_CSV, [p.name for p in data.parameters]),
                        (LAB_CSV, [p.name for p in data.lab_parameters]),
                        (CALENDARS_CSV, [c.iso3 for c in data.calendars])):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DataError(f"{base / file}: duplicate parameter names {duplicates}")
    return data
