"""In-memory settlement ledger with TigerBeetle semantics (accounts, transfers, two-phase, linked chains).

Pure and synchronous: no I/O, no clock. The caller gives the time (`now_ns`) so that replaying the same
batches from the journal rebuilds exactly the same state, timestamps included.

Semantics (after TigerBeetle's `create_accounts` / `create_transfers`, see shared/reference/ANCHORS.md):
- amounts are integer minor units (paisa), 0 < amount < 2**128; balances are u128 and overflow is refused;
- an account with DEBITS_MUST_NOT_EXCEED_CREDITS (a participant's prefunded settlement account) never has
  posted + pending debits above its posted credits; the central bank's account has no such flag and may
  go negative (it issues liquidity);
- PENDING reserves funds; POST_PENDING_TRANSFER (in full, or partially: the rest is released) or
  VOID_PENDING_TRANSFER resolves the reservation; a pending transfer with `timeout_s` expires (is voided)
  by `expire_pending(now_ns)` once `timestamp + timeout` has passed, and can no longer be posted after it;
- LINKED events form a chain that applies all or nothing; a chain left open at the end of a batch fails;
- the transfer id is the idempotency key: resubmitting an identical transfer answers `exists`, one with a
  different field answers `exists_with_different_<field>`, and an id that failed for a reason that depends
  on the ledger's state (not found, exceeds credits, already posted...) answers `id_already_failed`, so a
  resent message always gets its first answer and money never moves twice;
- every event gets exactly one result; bad input never raises and never leaves partial state.
"""

from __future__ import annotations

import heapq

import msgspec

# Only the payload codec (msgpack that also carries u128 integers); the ledger itself does no I/O.
from rail.settlement.journal_format import PayloadCodec
from rail.settlement.ledger_records import (  # noqa: F401 - re-exported: the ledger's vocabulary
    ACCOUNT_FLAGS_KNOWN,
    AMOUNT_MAX,
    NS_PER_S,
    TIMEOUT_S_MAX,
    TRANSFER_FLAGS_KNOWN,
    TRANSIENT_TRANSFER_FAILURES,
    U128_MAX,
    Account,
    AccountBalance,
    AccountFlags,
    ConservationError,
    CreateAccountResult,
    CreateTransferResult,
    Transfer,
    TransferFlags,
    account_problem,
    compare_existing,
    id_problem,
)

SNAPSHOT_FORMAT_VERSION = 2


class _Snapshot(msgspec.Struct, array_like=True):
    # Dicts, not lists of pairs: msgspec rebuilds them in C, which makes restarts several times faster.
    version: int
    currency: str
    timestamp_ns: int
    accounts: dict[int, Account]
    transfers: dict[int, Transfer]
    transfer_timestamps: dict[int, int]
    pending: dict[int, int]  # pending transfer id -> expires_at_ns (0: no timeout)
    pending_outcomes: dict[int, CreateTransferResult]  # resolved pending id -> what a later post/void gets
    failed: dict[int, CreateTransferResult]  # transfer id -> its first (state-dependent) failure
    expiry_heap: list[tuple[int, int]]  # (expires_at_ns, pending id), a heap


_SNAPSHOT_CODEC = PayloadCodec(_Snapshot)
R = CreateTransferResult
A = CreateAccountResult

_LINKED = int(TransferFlags.LINKED)
_PENDING = int(TransferFlags.PENDING)
_POST = int(TransferFlags.POST_PENDING_TRANSFER)
_VOID = int(TransferFlags.VOID_PENDING_TRANSFER)
_POST_OR_VOID = _POST | _VOID
_DMNEC = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
_CMNED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
_BALANCE_NAMES = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
_ACCOUNT_LINKED = int(AccountFlags.LINKED)
_UNKNOWN_TRANSFER_FLAGS = ~TRANSFER_FLAGS_KNOWN
_UNKNOWN_ACCOUNT_FLAGS = ~ACCOUNT_FLAGS_KNOWN
_OK = R.ok
_replace = msgspec.structs.replace


class Ledger:
    """The settlement ledger of one currency. Single-threaded: one owner calls it."""

    __slots__ = (
        "_accounts",
        "_expiry_heap",
        "_failed",
        "_pending",
        "_pending_outcomes",
        "_timestamp_ns",
        "_timestamps",
        "_transfers",
        "currency",
        "history",
    )

    def __init__(self, currency: str = "PKR", history: bool = True) -> None:
        self.currency = currency
        # False: finished transfers (posted, voided, failed) are not kept, only their effect on the balances,
        # so memory does not grow with every transfer. Only for a caller that never resubmits a transfer id
        # (the rail: its ids are a journaled counter), since a resubmitted id is then applied again instead
        # of answering `exists`/`id_already_failed`, and never resolves a reservation twice (a second post or
        # void answers pending_transfer_not_found). Pending transfers are kept until resolved either way.
        self.history = history
        self._accounts: dict[int, Account] = {}
        # The caller's frozen Transfer as submitted (timestamp 0); its timestamp lives beside it, which is
        # ~10x cheaper per event than copying the struct with the timestamp filled in.
        self._transfers: dict[int, Transfer] = {}
        self._timestamps: dict[int, int] = {}
        # Live reservations: pending transfer id -> expires_at_ns (0 when it has no timeout).
        self._pending: dict[int, int] = {}
        # Resolved reservations: pending id -> the answer a later post/void of it gets.
        self._pending_outcomes: dict[int, R] = {}
        self._failed: dict[int, R] = {}
        self._expiry_heap: list[tuple[int, int]] = []
        self._timestamp_ns = 0

    # ------------------------------------------------------------------ accounts

    def create_accounts(self, accounts: list[Account], now_ns: int = 0) -> list[CreateAccountResult]:
        """Create accounts; one result per event; LINKED chains all or nothing. Never raises."""
        count = len(accounts)
        results = [A.ok] * count
        timestamp = self._next_timestamps(now_ns, count)
        index = 0
        while index < count:
            end = index
            while end < count and _account_flags_linked(accounts[end]):
                end += 1
            if end == count:
                # The batch ended with a chain still open: TigerBeetle fails the whole chain.
                for i in range(index, count - 1):
                    results[i] = A.linked_event_failed
                results[count - 1] = A.linked_event_chain_open
                break
            created: list[int] = []
            for i in range(index, end + 1):
                result = self._create_account(accounts[i], timestamp + i)
                results[i] = result
                if result is A.ok:
                    created.append(accounts[i].id)
                elif result is not A.exists and end > index:
                    # One failure undoes the chain; `exists` is not a failure (a retried chain).
                    for account_id in created:
                        del self._accounts[account_id]
                    for j in range(index, end + 1):
                        results[j] = A.linked_event_failed
                    results[i] = result
                    break
            index = end + 1
        return results

    def _create_account(self, account: Account, timestamp: int) -> A:
        try:
            account_id = account.id
            flags = account.flags
            if type(account_id) is not int or not isinstance(flags, int):
                return A.invalid_field_type
            # Stored as a plain int: AccountFlags arithmetic runs in Python, ~60 bytecodes per `&`.
            flags = int(flags)
            if flags & _UNKNOWN_ACCOUNT_FLAGS:
                return A.reserved_flag
            if not 0 < account_id < U128_MAX:
                return id_problem(
                    account_id, A.id_must_not_be_zero, A.id_must_not_be_int_max, A.id_out_of_range
                )
            if flags & _DMNEC and flags & _CMNED:
                return A.flags_are_mutually_exclusive
            if account.debits_pending != 0:
                return A.debits_pending_must_be_zero
            if account.debits_posted != 0:
                return A.debits_posted_must_be_zero
            if account.credits_pending != 0:
                return A.credits_pending_must_be_zero
            if account.credits_posted != 0:
                return A.credits_posted_must_be_zero
            existing = self._accounts.get(account_id)
            if existing is not None:
                if existing.flags != flags:
                    return A.exists_with_different_flags
                if existing.user_data != account.user_data:
                    return A.exists_with_different_user_data
                if existing.code != account.code:
                    return A.exists_with_different_code
                return A.exists
            # A copy: the caller's struct must not alias the ledger's mutable state.
            self._accounts[account_id] = Account(
                id=account_id,
                code=account.code,
                flags=flags,
                user_data=account.user_data,
                timestamp=timestamp,
            )
            return A.ok
        except (TypeError, AttributeError):
            return A.invalid_field_type

    # ----------------------------------------------------------------- transfers

    def create_transfers(self, transfers: list[Transfer], now_ns: int) -> list[CreateTransferResult]:
        """Apply a batch of transfers in order; one result per event. Never raises for bad input.

        Event i gets timestamp max(now_ns, last + 1) + i, so timestamps are unique and increasing.
        """
        count = len(transfers)
        results = [_OK] * count
        timestamp = self._next_timestamps(now_ns, count)
        failed = self._failed
        apply = self._apply
        index = 0
        while index < count:
            transfer = transfers[index]
            try:
                linked = transfer.flags & _LINKED
            except (TypeError, AttributeError):  # not a Transfer, or flags not an int
                results[index] = R.invalid_field_type
                index += 1
                continue
            if not linked:
                result = apply(transfer, timestamp + index, None)
                if result is not _OK:
                    results[index] = result
                    if result in TRANSIENT_TRANSFER_FAILURES and self.history:
                        failed[transfer.id] = result
                index += 1
            else:
                index = self._apply_chain(transfers, index, timestamp, results)
        return results

    def _apply_chain(self, transfers: list[Transfer], start: int, timestamp: int, results: list[R]) -> int:
        """Apply the LINKED chain starting at `start`; returns the index after the chain."""
        count = len(transfers)
        end = start
        while end < count and _transfer_flags_linked(transfers[end]):
            end += 1
        if end == count:
            # The batch ended with the chain still open: TigerBeetle fails the whole chain.
            for i in range(start, count - 1):
                results[i] = R.linked_event_failed
            results[count - 1] = R.linked_event_chain_open
            return count
        undo: list[tuple] = []
        for i in range(start, end + 1):
            result = self._apply(transfers[i], timestamp + i, undo)
            results[i] = result
            # `exists` is not a failure: it is how a retried chain that already applied answers.
            if result is not _OK and result is not R.exists:
                self._rollback(undo)
                for j in range(start, end + 1):
                    results[j] = R.linked_event_failed
                results[i] = result
                # Failures inside a chain are not remembered: the chain is undone entirely and may be
                # retried as a whole.
                return end + 1
        return end + 1

    def _rollback(self, undo: list[tuple]) -> None:
        accounts_restore = {}
        for entry in reversed(undo):
            kind = entry[0]
            if kind == "account":
                accounts_restore[entry[1].id] = entry  # the earliest saved state wins (reversed order)
            elif kind == "transfer":  # (not kept without history: nothing to take back)
                self._transfers.pop(entry[1], None)
                self._timestamps.pop(entry[1], None)
            elif kind == "pending_added":
                del self._pending[entry[1]]
            elif kind == "pending_resolved":
                self._pending[entry[1]] = entry[2]
                self._pending_outcomes.pop(entry[1], None)
                self._transfers[entry[1]] = entry[3]  # (dropped on resolution when history is off)
                self._timestamps[entry[1]] = entry[4]
        for (
            _,
            account,
            debits_pending,
            debits_posted,
            credits_pending,
            credits_posted,
        ) in accounts_restore.values():
            account.debits_pending = debits_pending
            account.debits_posted = debits_posted
            account.credits_pending = credits_pending
            account.credits_posted = credits_posted

    def _apply(self, t: Transfer, timestamp: int, undo: list[tuple] | None) -> R:
        """Validate then apply one transfer. All checks happen before the first mutation."""
        # long: TigerBeetle's validation order, check by check, then the mutation, in one frame: it runs once
        # per transfer on the ledger's hot path (443k transfers/s), where a call per check costs ~10%.
        try:
            transfer_id = t.id
            flags = t.flags
            amount = t.amount
            if type(amount) is not int or type(transfer_id) is not int:
                return R.invalid_field_type
            if type(flags) is not int:
                if not isinstance(flags, int):
                    return R.invalid_field_type
                # TransferFlags (IntFlag) arithmetic runs in Python, ~60 bytecodes per `&`: store a plain int.
                flags = int(flags)
                t = _replace(t, flags=flags)
            if flags & _UNKNOWN_TRANSFER_FLAGS:
                return R.reserved_flag
            if not 0 < transfer_id < U128_MAX:
                return id_problem(
                    transfer_id, R.id_must_not_be_zero, R.id_must_not_be_int_max, R.id_out_of_range
                )
            existing = self._transfers.get(transfer_id)
            if existing is not None:
                return compare_existing(existing, t)
            if transfer_id in self._failed:
                return R.id_already_failed
            if flags & _POST_OR_VOID:
                return self._post_or_void(t, transfer_id, flags, amount, timestamp, undo)
            debit_id = t.debit_account_id
            credit_id = t.credit_account_id
            if type(debit_id) is not int or type(credit_id) is not int:
                return R.invalid_field_type
            if debit_id == credit_id:
                return R.accounts_must_be_different
            if t.pending_id != 0:
                return R.pending_id_must_be_zero
            timeout_s = t.timeout_s
            if timeout_s != 0:
                if type(timeout_s) is not int:
                    return R.invalid_field_type
                if not flags & _PENDING:
                    return R.timeout_reserved_for_pending_transfer
                if timeout_s < 0:
                    return R.timeout_must_not_be_negative
                if timeout_s > TIMEOUT_S_MAX:
                    return R.overflows_timeout
            if not 0 < amount <= U128_MAX:
                if amount == 0:
                    return R.amount_must_not_be_zero
                if amount < 0:
                    return R.amount_must_not_be_negative
                return R.overflows_amount
            # No account has id 0 or 2**128-1 (create_accounts refuses them), so the hot path looks up first
            # and only tells "must not be zero" from "not found" when the lookup failed.
            accounts = self._accounts
            debit = accounts.get(debit_id)
            credit = accounts.get(credit_id)
            if debit is None or credit is None:
                return account_problem(debit_id, credit_id, debit is None, credit is None)
        except (TypeError, AttributeError):
            return R.invalid_field_type

        # One overflow test per side on the total: it bounds both of its parts, so the finer codes are only
        # worked out once something overflowed.
        if flags & _PENDING:
            debits_pending = debit.debits_pending + amount
            debits_total = debits_pending + debit.debits_posted
            credits_pending = credit.credits_pending + amount
            credits_total = credits_pending + credit.credits_posted
            if debits_total > U128_MAX or credits_total > U128_MAX:
                if debits_pending > U128_MAX:
                    return R.overflows_debits_pending
                if credits_pending > U128_MAX:
                    return R.overflows_credits_pending
                return R.overflows_debits if debits_total > U128_MAX else R.overflows_credits
            if debit.flags & _DMNEC and debits_total > debit.credits_posted:
                return R.exceeds_credits
            if credit.flags & _CMNED and credits_total > credit.debits_posted:
                return R.exceeds_debits
            if undo is not None:
                _save_balances(undo, debit)
                _save_balances(undo, credit)
                undo.append(("transfer", transfer_id))
                undo.append(("pending_added", transfer_id))
            debit.debits_pending = debits_pending
            credit.credits_pending = credits_pending
            expires_at_ns = timestamp + timeout_s * NS_PER_S if timeout_s else 0
            self._pending[transfer_id] = expires_at_ns
            if expires_at_ns:
                heapq.heappush(self._expiry_heap, (expires_at_ns, transfer_id))
        else:
            debits_posted = debit.debits_posted + amount
            debits_total = debits_posted + debit.debits_pending
            credits_posted = credit.credits_posted + amount
            credits_total = credits_posted + credit.credits_pending
            if debits_total > U128_MAX or credits_total > U128_MAX:
                if debits_posted > U128_MAX:
                    return R.overflows_debits_posted
                if credits_posted > U128_MAX:
                    return R.overflows_credits_posted
                return R.overflows_debits if debits_total > U128_MAX else R.overflows_credits
            if debit.flags & _DMNEC and debits_total > debit.credits_posted:
                return R.exceeds_credits
            if credit.flags & _CMNED and credits_total > credit.debits_posted:
                return R.exceeds_debits
            if undo is not None:
                _save_balances(undo, debit)
                _save_balances(undo, credit)
                undo.append(("transfer", transfer_id))
            debit.debits_posted = debits_posted
            credit.credits_posted = credits_posted
        if self.history or flags & _PENDING:
            self._transfers[transfer_id] = t
            self._timestamps[transfer_id] = timestamp
        return _OK

    def _post_or_void(
        self, t: Transfer, transfer_id: int, flags: int, amount: int, timestamp: int, undo: list[tuple] | None
    ) -> R:
        # long: the post/void validation order of TigerBeetle, then the mutation, in one frame (as _apply).
        if flags & _PENDING or (flags & _POST and flags & _VOID):
            return R.flags_are_mutually_exclusive
        pending_id = t.pending_id
        if type(pending_id) is not int:
            return R.invalid_field_type
        if pending_id == transfer_id:
            return R.pending_id_must_be_different
        if t.timeout_s != 0:
            return R.timeout_reserved_for_pending_transfer
        if amount < 0:
            return R.amount_must_not_be_negative
        if amount > U128_MAX:
            return R.overflows_amount
        pending = self._transfers.get(pending_id)
        if pending is None:
            # Told apart only on failure: no transfer can have id 0 or 2**128-1.
            if pending_id == 0:
                return R.pending_id_must_not_be_zero
            if pending_id == U128_MAX:
                return R.pending_id_must_not_be_int_max
            return R.pending_transfer_not_found
        if not pending.flags & _PENDING:
            return R.pending_transfer_not_pending
        debit_id = t.debit_account_id
        if debit_id != 0 and debit_id != pending.debit_account_id:
            return R.pending_transfer_has_different_debit_account_id
        credit_id = t.credit_account_id
        if credit_id != 0 and credit_id != pending.credit_account_id:
            return R.pending_transfer_has_different_credit_account_id
        if t.code != 0 and t.code != pending.code:
            return R.pending_transfer_has_different_code
        reserved = pending.amount
        if amount == 0 or amount == AMOUNT_MAX:
            amount = reserved
        elif flags & _POST:
            if amount > reserved:
                return R.exceeds_pending_transfer_amount
        elif amount != reserved:
            return R.pending_transfer_has_different_amount
        expires_at_ns = self._pending.get(pending_id)
        if expires_at_ns is None:
            return self._pending_outcomes[pending_id]
        if expires_at_ns and expires_at_ns <= timestamp:
            # Past its timeout but not yet swept by expire_pending: it is expired all the same.
            return R.pending_transfer_expired
        accounts = self._accounts
        debit = accounts[pending.debit_account_id]
        credit = accounts[pending.credit_account_id]
        if flags & _POST:
            debits_posted = debit.debits_posted + amount
            if debits_posted > U128_MAX:
                return R.overflows_debits_posted
            credits_posted = credit.credits_posted + amount
            if credits_posted > U128_MAX:
                return R.overflows_credits_posted
        if undo is not None:
            _save_balances(undo, debit)
            _save_balances(undo, credit)
            undo.append(("transfer", transfer_id))
            undo.append(
                ("pending_resolved", pending_id, expires_at_ns, pending, self._timestamps[pending_id])
            )
        debit.debits_pending -= reserved
        credit.credits_pending -= reserved
        if flags & _POST:
            debit.debits_posted = debits_posted
            credit.credits_posted = credits_posted
        del self._pending[pending_id]
        if self.history:
            self._pending_outcomes[pending_id] = (
                R.pending_transfer_already_posted if flags & _POST else R.pending_transfer_already_voided
            )
            self._transfers[transfer_id] = t
            self._timestamps[transfer_id] = timestamp
        else:
            del self._transfers[pending_id]
            del self._timestamps[pending_id]
        return _OK

    def expire_pending(self, now_ns: int) -> list[int]:
        """Void every pending transfer whose timeout has passed at `now_ns`; returns their ids in the
        (deterministic) order of expiry time then id. Replaying the same calls gives the same state."""
        heap = self._expiry_heap
        pending = self._pending
        expired: list[int] = []
        while heap and heap[0][0] <= now_ns:
            expires_at_ns, pending_id = heapq.heappop(heap)
            # Stale entries (posted, voided, or a rolled-back chain) are skipped.
            if pending.get(pending_id) != expires_at_ns:
                continue
            transfer = self._transfers[pending_id]
            self._accounts[transfer.debit_account_id].debits_pending -= transfer.amount
            self._accounts[transfer.credit_account_id].credits_pending -= transfer.amount
            del pending[pending_id]
            if self.history:
                self._pending_outcomes[pending_id] = R.pending_transfer_expired
            else:
                del self._transfers[pending_id]
                del self._timestamps[pending_id]
            expired.append(pending_id)
        return expired

    def next_expiry_ns(self) -> int | None:
        """When the earliest live reservation times out (None if none): lets a core sleep until then.

        Drops heap entries of reservations already posted or voided on the way; they have no effect on
        the books (expire_pending skips them too), so this keeps replay deterministic."""
        heap = self._expiry_heap
        pending = self._pending
        while heap and pending.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # ------------------------------------------------------------------- queries

    def account(self, account_id: int) -> Account | None:
        """A copy of the account, or None."""
        account = self._accounts.get(account_id)
        return None if account is None else _replace(account)

    def lookup_transfer(self, transfer_id: int) -> Transfer | None:
        """The transfer as accepted, with the timestamp the ledger gave it; None if unknown."""
        transfer = self._transfers.get(transfer_id)
        if transfer is None:
            return None
        return _replace(transfer, timestamp=self._timestamps[transfer_id])

    def lookup_failure(self, transfer_id: int) -> CreateTransferResult | None:
        """The remembered first failure of a transfer id (what makes a retry answer id_already_failed)."""
        return self._failed.get(transfer_id)

    def pending_state(self, pending_id: int) -> str | None:
        """'pending', 'posted', 'voided', 'expired' for a pending transfer, else None."""
        if pending_id in self._pending:
            return "pending"
        outcome = self._pending_outcomes.get(pending_id)
        if outcome is None:
            return None
        return {
            R.pending_transfer_already_posted: "posted",
            R.pending_transfer_already_voided: "voided",
            R.pending_transfer_expired: "expired",
        }[outcome]

    def balances(self) -> dict[int, AccountBalance]:
        return {
            account_id: AccountBalance(a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
            for account_id, a in self._accounts.items()
        }

    @property
    def account_count(self) -> int:
        return len(self._accounts)

    @property
    def transfer_count(self) -> int:
        return len(self._transfers)

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def timestamp_ns(self) -> int:
        """The last timestamp the ledger assigned."""
        return self._timestamp_ns

    def check_totals(self) -> bool:
        """The O(accounts) part of check_conservation, run before journaling each batch: each balance is read once,
        the flag rules run only for accounts with flags (the messages name what failed)."""
        debits_posted = credits_posted = debits_pending = credits_pending = 0
        for a in self._accounts.values():
            balances = d_pending, d_posted, c_pending, c_posted = (
                a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)  # fmt: skip
            if min(balances) < 0 or max(balances) > U128_MAX:
                name = next(n for n in _BALANCE_NAMES if not 0 <= getattr(a, n) <= U128_MAX)
                raise ConservationError(f"account {a.id}: {name}={getattr(a, name)} outside 0..2**128-1")
            if a.flags:
                if a.flags & _DMNEC and d_posted + d_pending > c_posted:
                    raise ConservationError(f"account {a.id} overdrawn: debits posted {d_posted} + pending "
                                            f"{d_pending} > credits posted {c_posted}")  # fmt: skip
                if a.flags & _CMNED and c_posted + c_pending > d_posted:
                    raise ConservationError(f"account {a.id}: credits exceed debits")
            debits_posted += d_posted
            credits_posted += c_posted
            debits_pending += d_pending
            credits_pending += c_pending
        if debits_posted != credits_posted:
            raise ConservationError(f"posted debits {debits_posted} != posted credits {credits_posted}")
        if debits_pending != credits_pending:
            raise ConservationError(f"pending debits {debits_pending} != pending credits {credits_pending}")
        return True

    def check_conservation(self) -> bool:
        """Raise ConservationError with detail unless the books balance; True otherwise.

        - posted debits equal posted credits, pending debits equal pending credits, over all accounts;
        - no DEBITS_MUST_NOT_EXCEED_CREDITS account is overdrawn (and the mirror rule);
        - no balance is negative or above u128;
        - the live reservations add up to exactly the pending balances, per account.
        """
        self.check_totals()
        reserved_debits: dict[int, int] = {}
        reserved_credits: dict[int, int] = {}
        for pending_id in self._pending:
            t = self._transfers[pending_id]
            reserved_debits[t.debit_account_id] = reserved_debits.get(t.debit_account_id, 0) + t.amount
            reserved_credits[t.credit_account_id] = reserved_credits.get(t.credit_account_id, 0) + t.amount
        for a in self._accounts.values():
            if reserved_debits.get(a.id, 0) != a.debits_pending:
                raise ConservationError(
                    f"account {a.id}: debits_pending {a.debits_pending} != live reservations "
                    f"{reserved_debits.get(a.id, 0)}"
                )
            if reserved_credits.get(a.id, 0) != a.credits_pending:
                raise ConservationError(
                    f"account {a.id}: credits_pending {a.credits_pending} != live reservations "
                    f"{reserved_credits.get(a.id, 0)}"
                )
        return True

    # ------------------------------------------------------------------ snapshot

    def to_snapshot(self) -> bytes:
        return _SNAPSHOT_CODEC.encode(
            _Snapshot(
                version=SNAPSHOT_FORMAT_VERSION,
                currency=self.currency,
                timestamp_ns=self._timestamp_ns,
                accounts=self._accounts,
                transfers=self._transfers,
                transfer_timestamps=self._timestamps,
                pending=self._pending,
                pending_outcomes=self._pending_outcomes,
                failed=self._failed,
                expiry_heap=self._expiry_heap,
            )
        )

    @classmethod
    def from_snapshot(cls, data: bytes) -> Ledger:
        snapshot = _SNAPSHOT_CODEC.decode(data)
        if snapshot.version != SNAPSHOT_FORMAT_VERSION:
            raise ValueError(f"ledger snapshot format {snapshot.version}, expected {SNAPSHOT_FORMAT_VERSION}")
        ledger = cls(snapshot.currency)
        ledger._timestamp_ns = snapshot.timestamp_ns
        ledger._accounts = snapshot.accounts
        ledger._transfers = snapshot.transfers
        ledger._timestamps = snapshot.transfer_timestamps
        ledger._pending = snapshot.pending
        ledger._pending_outcomes = snapshot.pending_outcomes
        ledger._failed = snapshot.failed
        ledger._expiry_heap = snapshot.expiry_heap
        return ledger

    # ------------------------------------------------------------------- helpers

    def _next_timestamps(self, now_ns: int, count: int) -> int:
        """Reserve `count` unique increasing timestamps, the first >= now_ns; returns the first."""
        first = now_ns if now_ns > self._timestamp_ns else self._timestamp_ns + 1
        if count:
            self._timestamp_ns = first + count - 1
        return first


def _save_balances(undo: list[tuple], account: Account) -> None:
    undo.append(
        (
            "account",
            account,
            account.debits_pending,
            account.debits_posted,
            account.credits_pending,
            account.credits_posted,
        )
    )


def _transfer_flags_linked(t: Transfer) -> bool:
    flags = getattr(t, "flags", 0)
    return isinstance(flags, int) and bool(flags & _LINKED)


def _account_flags_linked(a: Account) -> bool:
    flags = getattr(a, "flags", 0)
    return isinstance(flags, int) and bool(flags & _ACCOUNT_LINKED)
