"""The ledger against a deliberately simple reference model, under random sequences of events.

The model keeps plain dicts and implements linked chains by deep-copying its whole state and restoring
it on failure: slow and obviously right. After every step the ledger must agree with the model on every
result code and every balance, conserve money, and never overdraw a participant.
"""

from __future__ import annotations

import copy

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from rail.settlement.ledger import (
    AMOUNT_MAX,
    NS_PER_S,
    U128_MAX,
    Account,
    AccountFlags,
    CreateAccountResult,
    CreateTransferResult,
    Ledger,
    Transfer,
    TransferFlags,
)

R = CreateTransferResult
LINKED = int(TransferFlags.LINKED)
PENDING = int(TransferFlags.PENDING)
POST = int(TransferFlags.POST_PENDING_TRANSFER)
VOID = int(TransferFlags.VOID_PENDING_TRANSFER)
DMNEC = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)

CENTRAL_BANK = 1
PARTICIPANTS = [2, 3, 4, 5]
UNKNOWN_ACCOUNT = 9
TRANSFER_IDS = st.integers(1, 150)
AMOUNTS = st.one_of(
    st.integers(1, 2_000),
    st.sampled_from([0, -5, 2**128, AMOUNT_MAX, 2**127]),
)

STATE_DEPENDENT = {
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


class Model:
    """Reference semantics, written for clarity only."""

    def __init__(self) -> None:
        self.accounts: dict[int, dict] = {}  # id -> balances + flags
        self.transfers: dict[int, Transfer] = {}
        self.status: dict[int, str] = {}  # pending id -> pending/posted/voided/expired
        self.expires: dict[int, int] = {}  # pending id -> expiry ns (only with a timeout)
        self.failed: dict[int, R] = {}
        self.last_ts = 0

    def create_account(self, account_id: int, flags: int) -> CreateAccountResult:
        if account_id in self.accounts:
            if self.accounts[account_id]["flags"] != flags:
                return CreateAccountResult.exists_with_different_flags
            return CreateAccountResult.exists
        self.accounts[account_id] = {"flags": flags, "dp": 0, "dpo": 0, "cp": 0, "cpo": 0}
        return CreateAccountResult.ok

    def transfer(self, t: Transfer, ts: int) -> R:
        if t.id in self.transfers:
            old = self.transfers[t.id]
            for field, code in [
                ("flags", R.exists_with_different_flags),
                ("pending_id", R.exists_with_different_pending_id),
                ("timeout_s", R.exists_with_different_timeout),
                ("debit_account_id", R.exists_with_different_debit_account_id),
                ("credit_account_id", R.exists_with_different_credit_account_id),
                ("amount", R.exists_with_different_amount),
                ("user_data", R.exists_with_different_user_data),
                ("code", R.exists_with_different_code),
            ]:
                if getattr(old, field) != getattr(t, field):
                    return code
            return R.exists
        if t.id in self.failed:
            return R.id_already_failed
        if t.flags & (POST | VOID):
            return self.post_or_void(t, ts)
        if t.debit_account_id == t.credit_account_id:
            return R.accounts_must_be_different
        if t.pending_id != 0:
            return R.pending_id_must_be_zero
        if t.timeout_s != 0 and not t.flags & PENDING:
            return R.timeout_reserved_for_pending_transfer
        if t.amount == 0:
            return R.amount_must_not_be_zero
        if t.amount < 0:
            return R.amount_must_not_be_negative
        if t.amount > U128_MAX:
            return R.overflows_amount
        if t.debit_account_id not in self.accounts:
            return R.debit_account_not_found
        if t.credit_account_id not in self.accounts:
            return R.credit_account_not_found
        d = self.accounts[t.debit_account_id]
        c = self.accounts[t.credit_account_id]
        a = t.amount
        if t.flags & PENDING:
            if d["dp"] + a > U128_MAX:
                return R.overflows_debits_pending
            if c["cp"] + a > U128_MAX:
                return R.overflows_credits_pending
        else:
            if d["dpo"] + a > U128_MAX:
                return R.overflows_debits_posted
            if c["cpo"] + a > U128_MAX:
                return R.overflows_credits_posted
        if d["dp"] + d["dpo"] + a > U128_MAX:
            return R.overflows_debits
        if c["cp"] + c["cpo"] + a > U128_MAX:
            return R.overflows_credits
        if d["flags"] & DMNEC and d["dp"] + d["dpo"] + a > d["cpo"]:
            return R.exceeds_credits
        if t.flags & PENDING:
            d["dp"] += a
            c["cp"] += a
            self.status[t.id] = "pending"
            if t.timeout_s:
                self.expires[t.id] = ts + t.timeout_s * NS_PER_S
        else:
            d["dpo"] += a
            c["cpo"] += a
        self.transfers[t.id] = t
        return R.ok

    def post_or_void(self, t: Transfer, ts: int) -> R:
        if t.flags & PENDING or (t.flags & POST and t.flags & VOID):
            return R.flags_are_mutually_exclusive
        if t.pending_id == 0:
            return R.pending_id_must_not_be_zero
        if t.pending_id == t.id:
            return R.pending_id_must_be_different
        if t.timeout_s != 0:
            return R.timeout_reserved_for_pending_transfer
        if t.amount < 0:
            return R.amount_must_not_be_negative
        if t.amount > U128_MAX:
            return R.overflows_amount
        p = self.transfers.get(t.pending_id)
        if p is None:
            return R.pending_transfer_not_found
        if not p.flags & PENDING:
            return R.pending_transfer_not_pending
        if t.debit_account_id not in (0, p.debit_account_id):
            return R.pending_transfer_has_different_debit_account_id
        if t.credit_account_id not in (0, p.credit_account_id):
            return R.pending_transfer_has_different_credit_account_id
        if t.code not in (0, p.code):
            return R.pending_transfer_has_different_code
        amount = p.amount if t.amount in (0, AMOUNT_MAX) else t.amount
        if t.flags & POST and amount > p.amount:
            return R.exceeds_pending_transfer_amount
        if t.flags & VOID and amount != p.amount:
            return R.pending_transfer_has_different_amount
        status = self.status[p.id]
        if status != "pending":
            return {
                "posted": R.pending_transfer_already_posted,
                "voided": R.pending_transfer_already_voided,
                "expired": R.pending_transfer_expired,
            }[status]
        if p.id in self.expires and self.expires[p.id] <= ts:
            return R.pending_transfer_expired
        d = self.accounts[p.debit_account_id]
        c = self.accounts[p.credit_account_id]
        if t.flags & POST:
            if d["dpo"] + amount > U128_MAX:
                return R.overflows_debits_posted
            if c["cpo"] + amount > U128_MAX:
                return R.overflows_credits_posted
        d["dp"] -= p.amount
        c["cp"] -= p.amount
        if t.flags & POST:
            d["dpo"] += amount
            c["cpo"] += amount
            self.status[p.id] = "posted"
        else:
            self.status[p.id] = "voided"
        self.transfers[t.id] = t
        return R.ok

    def create_transfers(self, transfers: list[Transfer], now_ns: int) -> list[R]:
        first = max(now_ns, self.last_ts + 1)
        if transfers:
            self.last_ts = first + len(transfers) - 1
        results: list[R] = []
        i = 0
        while i < len(transfers):
            end = i
            while end < len(transfers) and transfers[end].flags & LINKED:
                end += 1
            if end == len(transfers):  # chain left open
                results += [R.linked_event_failed] * (end - 1 - i) + [R.linked_event_chain_open]
                break
            if end == i:
                result = self.transfer(transfers[i], first + i)
                if result in STATE_DEPENDENT:
                    self.failed[transfers[i].id] = result
                results.append(result)
            else:
                saved = copy.deepcopy(self.__dict__)
                chain = []
                for k in range(i, end + 1):
                    result = self.transfer(transfers[k], first + k)
                    chain.append(result)
                    if result not in (R.ok, R.exists):
                        self.__dict__.update(saved)
                        chain = [R.linked_event_failed] * (end + 1 - i)
                        chain[k - i] = result
                        break
                results += chain
            i = end + 1
        return results

    def expire(self, now_ns: int) -> list[int]:
        due = sorted(
            (expiry, pid)
            for pid, expiry in self.expires.items()
            if expiry <= now_ns and self.status[pid] == "pending"
        )
        for _, pid in due:
            p = self.transfers[pid]
            self.accounts[p.debit_account_id]["dp"] -= p.amount
            self.accounts[p.credit_account_id]["cp"] -= p.amount
            self.status[pid] = "expired"
        return [pid for _, pid in due]


@st.composite
def transfer_events(draw, known_ids: list[int], pending_ids: list[int]) -> Transfer:
    kind = draw(st.sampled_from(["simple", "simple", "pending", "pending", "post", "post", "void", "resend"]))
    linked = LINKED if draw(st.integers(0, 5)) == 0 else 0
    accounts = st.sampled_from([CENTRAL_BANK, CENTRAL_BANK, *PARTICIPANTS, *PARTICIPANTS, UNKNOWN_ACCOUNT])
    if kind in ("resend", "resend_changed") and known_ids:
        original = draw(st.sampled_from(known_ids))
        return Transfer(
            id=original,
            debit_account_id=draw(accounts),
            credit_account_id=draw(accounts),
            amount=draw(AMOUNTS),
            flags=draw(st.sampled_from([0, PENDING])) | linked,
        )
    if kind in ("post", "void") and pending_ids:
        return Transfer(
            id=draw(TRANSFER_IDS),
            debit_account_id=draw(st.sampled_from([0, 0, 0, CENTRAL_BANK, *PARTICIPANTS])),
            credit_account_id=0,
            amount=draw(st.one_of(st.just(0), st.integers(1, 2_000), st.just(AMOUNT_MAX))),
            pending_id=draw(st.sampled_from(pending_ids)),
            flags=(POST if kind == "post" else VOID) | linked,
        )
    pending = kind == "pending"
    return Transfer(
        id=draw(TRANSFER_IDS),
        debit_account_id=draw(accounts),
        credit_account_id=draw(accounts),
        amount=draw(AMOUNTS),
        timeout_s=draw(st.sampled_from([0, 1, 2, 5])) if pending else 0,
        code=draw(st.sampled_from([0, 7])),
        flags=(PENDING if pending else 0) | linked,
    )


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger()
        self.model = Model()
        self.now_ns = 1_000 * NS_PER_S

    @initialize()
    def open_accounts(self) -> None:
        accounts = [Account(id=CENTRAL_BANK, code=1)] + [
            Account(id=p, code=2, flags=DMNEC) for p in PARTICIPANTS
        ]
        results = self.ledger.create_accounts(accounts, self.now_ns)
        assert results == [self.model.create_account(a.id, a.flags) for a in accounts]
        # Accounts and transfers share one clock: each account took a timestamp, as in TigerBeetle.
        self.model.last_ts = max(self.now_ns, self.model.last_ts + 1) + len(accounts) - 1

    @rule(participant=st.sampled_from(PARTICIPANTS), amount=st.integers(1, 5_000))
    def fund_participant(self, participant: int, amount: int) -> None:
        # Liquidity from the central bank, ids outside the random pool so funding always applies.
        transfer = Transfer(
            id=10_000 + len(self.model.transfers),
            debit_account_id=CENTRAL_BANK,
            credit_account_id=participant,
            amount=amount,
        )
        assert self.ledger.create_transfers([transfer], self.now_ns) == self.model.create_transfers(
            [transfer], self.now_ns
        )

    @rule(data=st.data())
    def submit_batch(self, data: st.DataObject) -> None:
        known = sorted(self.model.transfers)
        pending = sorted(self.model.status) or [1]
        batch = data.draw(st.lists(transfer_events(known, pending), min_size=1, max_size=8))
        if batch[-1].flags & LINKED and data.draw(st.integers(0, 3)):
            # Mostly close the last chain: open chains are tested, but should not dominate.
            batch[-1] = msgspec.structs.replace(batch[-1], flags=batch[-1].flags & ~LINKED)
        expected = self.model.create_transfers(batch, self.now_ns)
        assert self.ledger.create_transfers(batch, self.now_ns) == expected

    @rule(seconds=st.integers(0, 4))
    def time_passes_and_expire(self, seconds: int) -> None:
        live = [e for pid, e in self.model.expires.items() if self.model.status[pid] == "pending"]
        assert self.ledger.next_expiry_ns() == (min(live) if live else None)
        self.now_ns += seconds * NS_PER_S
        assert self.ledger.expire_pending(self.now_ns) == self.model.expire(self.now_ns)

    @precondition(lambda self: len(self.model.transfers) > 0)
    @rule()
    def snapshot_round_trip(self) -> None:
        self.ledger = Ledger.from_snapshot(self.ledger.to_snapshot())

    @invariant()
    def agrees_with_model_and_conserves(self) -> None:
        self.ledger.check_conservation()
        balances = self.ledger.balances()
        for account_id, m in self.model.accounts.items():
            b = balances[account_id]
            assert (b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted) == (
                m["dp"],
                m["dpo"],
                m["cp"],
                m["cpo"],
            )
            if m["flags"] & DMNEC:  # a participant is never overdrawn
                assert b.debits_posted + b.debits_pending <= b.credits_posted
        total_posted = sum(b.credits_posted - b.debits_posted for b in balances.values())
        assert total_posted == 0


LedgerMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerAgainstModel = LedgerMachine.TestCase
