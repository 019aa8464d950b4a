"""The default scheme: who is in the rail on first start, with what money, and the scheme's parameters.

An integrator who starts `rail serve` gets the central bank (SBPPPKKA, the operator) and eight simulated banks
under real Pakistani BICs (ISO20022.md §5.4), each prefunded in its settlement account and holding simulated
customers with valid IBANs (ISO 7064 check digits) and Raast IDs, so there are counterparties from the first
minute. The simulated banks answer as creditor agents by the TEST ACCOUNT table below, the way card networks'
sandboxes document test cards.

Everything here is data and pure functions; the running simulated banks are participants/bank.py, started by
the application wiring (participants/sandbox.py).
"""

from __future__ import annotations

import zlib

import msgspec

from rail.money import MONEY_ISSUED_MAX_PAISA, amount_problem

CENTRAL_BANK_BIC = "SBPPPKKA"
CENTRAL_BANK_NAME = "State Bank of Pakistan (Raast operator)"
CURRENCY = "PKR"

# Rs 10 billion per simulated bank: enough that a load test measures the rail, not a bank running dry.
DEFAULT_PREFUND_PAISA = 10_000_000_000 * 100


class SchemeParams(msgspec.Struct, frozen=True, kw_only=True):
    """Scheme parameters a real operator would set in its rulebook; every one can be overridden at open()."""

    # The creditor agent must answer within this (ISO20022.md §2.3: suggested 10 s).
    creditor_timeout_ms: int = 10_000
    # Hard stop from acceptance: after this no answer (not even ACWP 'more time') can settle it (SCT Inst: 20 s).
    hard_stop_ms: int = 20_000
    # A pacs.004 return is accepted this long after settlement.
    return_window_s: int = 30 * 24 * 3600
    # Every payment is remembered this long after its final status (duplicate check: a resend gets its original
    # answer; returns; status queries), then forgotten; never shorter than the return window.
    retention_days: float = 30.0
    # At most this many payments are remembered (~0.7 KB of memory each, docs/operations.md); a new payment
    # beyond it is refused (503, retry later) rather than one forgotten inside the retention window.
    payments_retained_max: int = 10_000_000
    # Per-participant request rate limit (token bucket); the default must not throttle a ~3,000 payment/s
    # load harness, whose one bank may send several messages per payment.
    requests_per_s: float = 50_000.0
    requests_burst: float = 100_000.0
    # Alias lookups (acmt.023) per participant: anti-scanning, as Pix's directory does.
    alias_lookups_per_s: float = 50.0
    alias_lookups_burst: float = 200.0
    # Simulated creditor banks accept after a short realistic delay in this range.
    sandbox_accept_delay_ms_min: int = 20
    sandbox_accept_delay_ms_max: int = 150
    # Undelivered messages held per participant inbox before the rail sheds new work towards it.
    inbox_messages_max: int = 200_000


def check_params(params: SchemeParams) -> None:
    """Refuse parameters the rail cannot honour (ValueError saying which and why)."""
    if not params.retention_days > 0:
        raise ValueError("retention_days must be positive")
    if params.return_window_s > params.retention_days * 86_400:
        raise ValueError(
            f"return_window_s ({params.return_window_s}) exceeds retention_days ({params.retention_days:g}): a "
            "return must find the payment it returns"
        )
    if params.payments_retained_max < 1:
        raise ValueError("payments_retained_max must be at least 1")


def check_scheme(scheme: Scheme) -> None:
    """Refuse a scheme the rail cannot run: its parameters, and prefunding within the money bounds."""
    check_params(scheme.params)
    for bank in scheme.banks:
        problem = amount_problem(bank.prefund_paisa) if bank.prefund_paisa else None
        if problem is not None:
            raise ValueError(f"prefunding of {bank.bic}: {problem}")
    if sum(bank.prefund_paisa for bank in scheme.banks) > MONEY_ISSUED_MAX_PAISA:
        raise ValueError(
            f"the banks' prefunding exceeds the rail's issuance bound of {MONEY_ISSUED_MAX_PAISA} paisa"
        )


class Customer(msgspec.Struct, frozen=True, array_like=True):
    name: str
    iban: str
    raast_id: str | None  # +92 3NN NNNNNNN (E.164), or None for a test account without an alias
    behaviour: str  # what the simulated bank does when this account is the creditor (see TEST_ACCOUNTS)


class Bank(msgspec.Struct, frozen=True, array_like=True):
    bic: str
    name: str
    bank_code: str  # IBAN positions 5-8 (= the first 4 letters of the BIC)
    prefund_paisa: int
    customers: list[Customer]


class Scheme(msgspec.Struct, frozen=True):
    central_bank_bic: str
    central_bank_name: str
    currency: str
    banks: list[Bank]
    params: SchemeParams = SchemeParams()

    def bank(self, bic: str) -> Bank | None:
        return next((b for b in self.banks if b.bic == bic), None)


# ---- test accounts -------------------------------------------------------------------------------------------


class TestAccount(msgspec.Struct, frozen=True):
    suffix: str  # the last 4 characters of the IBAN
    kind: str  # accept | reject | late | silent
    reason: str | None
    description: str


# Documented in README.md (Test accounts). Any valid PK IBAN whose last four characters match behaves this way
# when a simulated bank is its creditor agent, so an integrator can also use its own generated IBANs.
TEST_ACCOUNTS: tuple[TestAccount, ...] = (
    TestAccount("0001", "reject", "AC01", "RJCT AC01: account number invalid"),
    TestAccount("0004", "reject", "AC04", "RJCT AC04: account closed"),
    TestAccount("0006", "reject", "AC06", "RJCT AC06: account blocked"),
    TestAccount("0011", "reject", "AG01", "RJCT AG01: transaction forbidden on this type of account"),
    TestAccount("0021", "reject", "BE01", "RJCT BE01: name does not match the account"),
    TestAccount("0044", "reject", "RR04", "RJCT RR04: regulatory (sanctions/AML) block"),
    TestAccount("0070", "accept_refuse_recall", None, "accepts; refuses any recall (camt.029 RJCR CUST)"),
    TestAccount("0080", "late", None, "answers ACSP only after the scheme timeout: the rail sends RJCT AB05"),
    TestAccount("0090", "silent", None, "never answers: the rail times out with RJCT AB05"),
    TestAccount("0099", "accept_now", None, "accepts immediately, with no simulated delay"),
)
_TEST_BY_SUFFIX = {t.suffix: t for t in TEST_ACCOUNTS}


class CreditorDecision(msgspec.Struct, frozen=True):
    """What a simulated creditor agent does with an inbound pacs.008."""

    kind: str  # accept | reject | late | silent
    reason: str | None = None  # ISO reason for a reject
    delay_ms: int = 0  # answer after this long ('late': after the scheme timeout; computed by the bank)
    refuses_recall: bool = False


def sandbox_creditor_decision(
    creditor_iban: str, *, accept_delay_ms_min: int = 20, accept_delay_ms_max: int = 150
) -> CreditorDecision:
    """The test-account table as a pure function of the creditor's IBAN.

    Ordinary accounts accept after a short delay that is stable per IBAN (a crc32 spread over the range), so a
    test re-run sees the same timing and a load sees a realistic spread.
    """
    test = _TEST_BY_SUFFIX.get(creditor_iban[-4:])
    if test is not None:
        if test.kind == "reject":
            return CreditorDecision("reject", reason=test.reason, delay_ms=accept_delay_ms_min)
        if test.kind == "late":
            return CreditorDecision("late")
        if test.kind == "silent":
            return CreditorDecision("silent")
        if test.kind == "accept_now":
            return CreditorDecision("accept", delay_ms=0)
        if test.kind == "accept_refuse_recall":
            return CreditorDecision("accept", delay_ms=accept_delay_ms_min, refuses_recall=True)
    spread = max(0, accept_delay_ms_max - accept_delay_ms_min)
    delay_ms = accept_delay_ms_min + (zlib.crc32(creditor_iban.encode()) % (spread + 1))
    return CreditorDecision("accept", delay_ms=delay_ms)


# ---- the default scheme --------------------------------------------------------------------------------------

# (BIC, name) from ISO20022.md §5.4; the IBAN bank code is the BIC's first four letters.
DEFAULT_BANKS: tuple[tuple[str, str], ...] = (
    ("HABBPKKA", "Habib Bank Limited"),
    ("UNILPKKA", "United Bank Limited"),
    ("MUCBPKKA", "MCB Bank Limited"),
    ("ABPAPKKA", "Allied Bank Limited"),
    ("MEZNPKKA", "Meezan Bank Limited"),
    ("ALFHPKKA", "Bank Alfalah Limited"),
    ("NBPAPKKA", "National Bank of Pakistan"),
    ("BAHLPKKA", "Bank Al Habib Limited"),
)

_NAMES = (
    "Ali Raza",
    "Ayesha Khan",
    "Muhammad Usman",
    "Fatima Siddiqui",
    "Bilal Ahmed",
    "Sana Malik",
    "Hamza Qureshi",
    "Zainab Hussain",
    "Imran Sheikh",
    "Hira Baig",
    "Omar Farooq",
    "Maryam Javed",
)
REGULAR_CUSTOMERS_PER_BANK = 6


def _regular_customer(bank_index: int, i: int, bank_code: str) -> Customer:
    from rail.iso20022 import make_pk_iban

    # 16-digit account numbers ending in 5xxx never collide with a test-account suffix.
    account = f"{bank_index + 1:04d}{i:07d}{5000 + i:05d}"
    # Mobile numbers 03NN-NNNNNNN: operator prefix 300-345, the rest derived from bank and customer.
    mobile = f"+923{bank_index:02d}{1000000 + bank_index * 1000 + i:07d}"
    name = _NAMES[(bank_index * REGULAR_CUSTOMERS_PER_BANK + i) % len(_NAMES)]
    return Customer(name=name, iban=make_pk_iban(bank_code, account), raast_id=mobile, behaviour="accept")


def _test_customer(bank_index: int, test: TestAccount, bank_code: str) -> Customer:
    from rail.iso20022 import make_pk_iban

    account = f"{bank_index + 1:04d}{0:08d}{test.suffix}"
    return Customer(
        name=f"Test {test.kind} {test.reason or test.suffix}",
        iban=make_pk_iban(bank_code, account),
        raast_id=None,
        behaviour=test.description,
    )


def bank_customers(bank_index: int, bank_code: str) -> list[Customer]:
    """A simulated bank's customers: regular ones (accounts ending 5xxx), then one per test account."""
    customers = [_regular_customer(bank_index, i, bank_code) for i in range(REGULAR_CUSTOMERS_PER_BANK)]
    return customers + [_test_customer(bank_index, t, bank_code) for t in TEST_ACCOUNTS]


def default_scheme(params: SchemeParams | None = None, prefund_paisa: int = DEFAULT_PREFUND_PAISA) -> Scheme:
    banks = []
    for index, (bic, name) in enumerate(DEFAULT_BANKS):
        code = bic[:4]
        banks.append(
            Bank(bic=bic, name=name, bank_code=code, prefund_paisa=prefund_paisa,
                 customers=bank_customers(index, code))
        )
    return Scheme(
        central_bank_bic=CENTRAL_BANK_BIC,
        central_bank_name=CENTRAL_BANK_NAME,
        currency=CURRENCY,
        banks=banks,
        params=params or SchemeParams(),
    )
