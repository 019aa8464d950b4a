"""The ledger's vocabulary (TigerBeetle's): accounts, transfers, their flags, the result codes of creating them, and
a balance; plain records, used by the ledger (rail/settlement/ledger.py), the payment state machine and its tests.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

import msgspec

U128_MAX = (1 << 128) - 1
#: Posting a pending transfer with this amount (or 0) posts the full reserved amount, as in TigerBeetle.
AMOUNT_MAX = U128_MAX
#: TigerBeetle's timeout is a u32 number of seconds.
TIMEOUT_S_MAX = (1 << 32) - 1
NS_PER_S = 1_000_000_000


class AccountFlags(IntFlag):
    NONE = 0
    LINKED = 1
    DEBITS_MUST_NOT_EXCEED_CREDITS = 2
    CREDITS_MUST_NOT_EXCEED_DEBITS = 4


class TransferFlags(IntFlag):
    NONE = 0
    LINKED = 1
    PENDING = 2
    POST_PENDING_TRANSFER = 4
    VOID_PENDING_TRANSFER = 8


ACCOUNT_FLAGS_KNOWN = int(
    AccountFlags.LINKED
    | AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
)
TRANSFER_FLAGS_KNOWN = int(
    TransferFlags.LINKED
    | TransferFlags.PENDING
    | TransferFlags.POST_PENDING_TRANSFER
    | TransferFlags.VOID_PENDING_TRANSFER
)


class CreateAccountResult(IntEnum):
    ok = 0
    linked_event_failed = 1
    linked_event_chain_open = 2
    invalid_field_type = 3
    reserved_flag = 4
    id_must_not_be_zero = 5
    id_must_not_be_int_max = 6
    id_out_of_range = 7
    flags_are_mutually_exclusive = 8
    debits_pending_must_be_zero = 9
    debits_posted_must_be_zero = 10
    credits_pending_must_be_zero = 11
    credits_posted_must_be_zero = 12
    exists_with_different_flags = 13
    exists_with_different_user_data = 14
    exists_with_different_code = 15
    exists = 16


class CreateTransferResult(IntEnum):
    ok = 0
    linked_event_failed = 1
    linked_event_chain_open = 2
    invalid_field_type = 3
    reserved_flag = 4
    id_must_not_be_zero = 5
    id_must_not_be_int_max = 6
    id_out_of_range = 7
    exists_with_different_flags = 8
    exists_with_different_pending_id = 9
    exists_with_different_timeout = 10
    exists_with_different_debit_account_id = 11
    exists_with_different_credit_account_id = 12
    exists_with_different_amount = 13
    exists_with_different_user_data = 14
    exists_with_different_code = 15
    exists = 16
    id_already_failed = 17
    flags_are_mutually_exclusive = 18
    debit_account_id_must_not_be_zero = 19
    debit_account_id_must_not_be_int_max = 20
    credit_account_id_must_not_be_zero = 21
    credit_account_id_must_not_be_int_max = 22
    accounts_must_be_different = 23
    pending_id_must_be_zero = 24
    pending_id_must_not_be_zero = 25
    pending_id_must_not_be_int_max = 26
    pending_id_must_be_different = 27
    timeout_reserved_for_pending_transfer = 28
    timeout_must_not_be_negative = 29
    overflows_timeout = 30
    amount_must_not_be_zero = 31
    amount_must_not_be_negative = 32
    overflows_amount = 33
    debit_account_not_found = 34
    credit_account_not_found = 35
    pending_transfer_not_found = 36
    pending_transfer_not_pending = 37
    pending_transfer_has_different_debit_account_id = 38
    pending_transfer_has_different_credit_account_id = 39
    pending_transfer_has_different_code = 40
    exceeds_pending_transfer_amount = 41
    pending_transfer_has_different_amount = 42
    pending_transfer_already_posted = 43
    pending_transfer_already_voided = 44
    pending_transfer_expired = 45
    overflows_debits_pending = 46
    overflows_credits_pending = 47
    overflows_debits_posted = 48
    overflows_credits_posted = 49
    overflows_debits = 50
    overflows_credits = 51
    exceeds_credits = 52
    exceeds_debits = 53


R = CreateTransferResult
A = CreateAccountResult

#: Failures that depend on the ledger's state at the time, not on the event alone: retrying could give a
#: different answer, so (as in TigerBeetle) the id is remembered and a retry answers `id_already_failed`.
TRANSIENT_TRANSFER_FAILURES = frozenset(
    {
        R.debit_account_not_found,
        R.credit_account_not_found,
        R.pending_transfer_not_found,
        R.pending_transfer_not_pending,
        R.pending_transfer_has_different_debit_account_id,
        R.pending_transfer_has_different_credit_account_id,
        R.pending_transfer_has_different_code,
        R.exceeds_pending_transfer_amount,
        R.pending_transfer_has_different_amount,
        R.pending_transfer_already_posted,
        R.pending_transfer_already_voided,
        R.pending_transfer_expired,
        R.overflows_debits_pending,
        R.overflows_credits_pending,
        R.overflows_debits_posted,
        R.overflows_credits_posted,
        R.overflows_debits,
        R.overflows_credits,
        R.exceeds_credits,
        R.exceeds_debits,
    }
)


class Account(msgspec.Struct, array_like=True, gc=False):
    """A settlement account. Balances are paisa; `timestamp` is assigned by the ledger on creation.

    array_like: encoded as a msgpack array, not a map of field names (journal and snapshots are ~6x
    smaller and decode ~2x faster); construct and access by field name as usual. gc=False: the fields are
    ints, so it can never be part of a reference cycle, and millions of them need not be scanned by the
    cyclic garbage collector (Transfer likewise).
    """

    id: int
    code: int = 0
    flags: int = 0
    user_data: int = 0
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0
    timestamp: int = 0


class Transfer(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One transfer event. `amount` is paisa; `timeout_s` only for PENDING; `timestamp` set by the ledger."""

    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    pending_id: int = 0
    timeout_s: int = 0
    code: int = 0
    flags: int = 0
    user_data: int = 0
    timestamp: int = 0


class AccountBalance(msgspec.Struct, frozen=True):
    """Read-only view of one account's balances (paisa)."""

    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int

    @property
    def posted_net_paisa(self) -> int:
        """Posted credits minus posted debits: what the participant holds at the central bank."""
        return self.credits_posted - self.debits_posted

    @property
    def available_paisa(self) -> int:
        """What a DEBITS_MUST_NOT_EXCEED_CREDITS account can still send (reservations deducted)."""
        return self.credits_posted - self.debits_posted - self.debits_pending


class ConservationError(AssertionError):
    """The ledger's books do not balance: a bug in the ledger, never a user error."""


# ---- rules of single events (pure)


def id_problem(value: int, zero: R, int_max: R, out_of_range: R) -> R:
    """The result for an id that is 0, the u128 maximum, or otherwise out of range."""
    if value == 0:
        return zero
    if value == U128_MAX:
        return int_max
    return out_of_range


def account_problem(debit_id: int, credit_id: int, debit_missing: bool, credit_missing: bool) -> R:
    """Why a transfer's accounts are refused: a reserved id, or one that does not exist."""
    if debit_id == 0:
        return R.debit_account_id_must_not_be_zero
    if debit_id == U128_MAX:
        return R.debit_account_id_must_not_be_int_max
    if credit_id == 0:
        return R.credit_account_id_must_not_be_zero
    if credit_id == U128_MAX:
        return R.credit_account_id_must_not_be_int_max
    return R.debit_account_not_found if debit_missing else R.credit_account_not_found


def compare_existing(existing: Transfer, t: Transfer) -> R:
    """A resent transfer id: `exists` when every field matches the first, else the first field that differs."""
    if existing.flags != t.flags:
        return R.exists_with_different_flags
    if existing.pending_id != t.pending_id:
        return R.exists_with_different_pending_id
    if existing.timeout_s != t.timeout_s:
        return R.exists_with_different_timeout
    if existing.debit_account_id != t.debit_account_id:
        return R.exists_with_different_debit_account_id
    if existing.credit_account_id != t.credit_account_id:
        return R.exists_with_different_credit_account_id
    if existing.amount != t.amount:
        return R.exists_with_different_amount
    if existing.user_data != t.user_data:
        return R.exists_with_different_user_data
    if existing.code != t.code:
        return R.exists_with_different_code
    return R.exists
