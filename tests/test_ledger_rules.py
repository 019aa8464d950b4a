"""Each ledger rule and each kind of bad input, with the exact result code it must get."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rail.settlement.ledger import (
    AMOUNT_MAX,
    NS_PER_S,
    U128_MAX,
    Account,
    AccountFlags,
    ConservationError,
    CreateAccountResult,
    CreateTransferResult,
    Ledger,
    Transfer,
    TransferFlags,
)

R = CreateTransferResult
A = CreateAccountResult
LINKED = TransferFlags.LINKED
PENDING = TransferFlags.PENDING
POST = TransferFlags.POST_PENDING_TRANSFER
VOID = TransferFlags.VOID_PENDING_TRANSFER
DMNEC = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS

SBP = 1  # the central bank: no limit flag, may go negative
BANK_A, BANK_B = 2, 3
NOW_NS = 1_700_000_000 * NS_PER_S


@pytest.fixture
def ledger() -> Ledger:
    """Central bank plus two participants; bank A holds 10,000 paisa of liquidity."""
    ledger = Ledger()
    assert (
        ledger.create_accounts(
            [
                Account(id=SBP, code=1),
                Account(id=BANK_A, code=2, flags=DMNEC),
                Account(id=BANK_B, code=2, flags=DMNEC),
            ]
        )
        == [A.ok] * 3
    )
    assert ledger.create_transfers(
        [Transfer(id=1, debit_account_id=SBP, credit_account_id=BANK_A, amount=10_000)], NOW_NS
    ) == [R.ok]
    return ledger


def transfer(id: int, amount: int = 100, debit: int = BANK_A, credit: int = BANK_B, **fields) -> Transfer:
    return Transfer(id=id, debit_account_id=debit, credit_account_id=credit, amount=amount, **fields)


def snapshot_state(ledger: Ledger) -> bytes:
    return ledger.to_snapshot()


BAD_TRANSFERS = [
    (transfer(0), R.id_must_not_be_zero),
    (transfer(U128_MAX), R.id_must_not_be_int_max),
    (transfer(-7), R.id_out_of_range),
    (transfer(U128_MAX + 1), R.id_out_of_range),
    (transfer(50, flags=1 << 9), R.reserved_flag),
    (transfer(50, debit=0), R.debit_account_id_must_not_be_zero),
    (transfer(50, debit=U128_MAX), R.debit_account_id_must_not_be_int_max),
    (transfer(50, credit=0), R.credit_account_id_must_not_be_zero),
    (transfer(50, credit=U128_MAX), R.credit_account_id_must_not_be_int_max),
    (transfer(50, debit=BANK_A, credit=BANK_A), R.accounts_must_be_different),
    (transfer(50, pending_id=9), R.pending_id_must_be_zero),
    (transfer(50, timeout_s=5), R.timeout_reserved_for_pending_transfer),
    (transfer(50, timeout_s=-1, flags=PENDING), R.timeout_must_not_be_negative),
    (transfer(50, timeout_s=2**40, flags=PENDING), R.overflows_timeout),
    (transfer(50, amount=0), R.amount_must_not_be_zero),
    (transfer(50, amount=-100), R.amount_must_not_be_negative),
    (transfer(50, amount=2**128), R.overflows_amount),
    (transfer(50, debit=99), R.debit_account_not_found),
    (transfer(50, credit=99), R.credit_account_not_found),
    (transfer(50, amount=10_001), R.exceeds_credits),
    (transfer(50, amount=10_001, flags=PENDING), R.exceeds_credits),
    (transfer(50, amount=1.5), R.invalid_field_type),
    (transfer(50, amount="100"), R.invalid_field_type),
    (transfer("50"), R.invalid_field_type),
    (transfer(50, flags="x"), R.invalid_field_type),
    (transfer(50, flags=PENDING | POST, pending_id=9), R.flags_are_mutually_exclusive),
    (transfer(50, flags=POST | VOID, pending_id=9), R.flags_are_mutually_exclusive),
    (transfer(50, flags=POST), R.pending_id_must_not_be_zero),
    (transfer(50, flags=POST, pending_id=U128_MAX), R.pending_id_must_not_be_int_max),
    (transfer(50, flags=POST, pending_id=50), R.pending_id_must_be_different),
    (transfer(50, flags=POST, pending_id=9), R.pending_transfer_not_found),
    (transfer(50, flags=POST, pending_id=1), R.pending_transfer_not_pending),
    (transfer(50, flags=VOID, pending_id=9, timeout_s=3), R.timeout_reserved_for_pending_transfer),
    (transfer(50, flags=VOID, pending_id=9, amount=-1), R.amount_must_not_be_negative),
    (transfer(50, flags=VOID, pending_id=9, amount=2**128), R.overflows_amount),
]


@pytest.mark.parametrize(
    ("bad", "expected"), BAD_TRANSFERS, ids=[e.name + str(i) for i, (_, e) in enumerate(BAD_TRANSFERS)]
)
def test_bad_transfer_gets_its_own_code_and_changes_nothing(
    ledger: Ledger, bad: Transfer, expected: R
) -> None:
    before = ledger.to_snapshot()
    results = ledger.create_transfers([bad], NOW_NS)
    assert results == [expected]
    ledger.check_conservation()
    # Only the ledger clock and (for state-dependent failures) the failed-id memory may change.
    assert ledger.balances() == Ledger.from_snapshot(before).balances()
    assert ledger.transfer_count == Ledger.from_snapshot(before).transfer_count


def test_every_transfer_result_code_is_reachable_by_some_test() -> None:
    covered = {code for _, code in BAD_TRANSFERS}
    covered |= {  # codes proven by the dedicated tests below
        R.ok,
        R.exists,
        R.exists_with_different_flags,
        R.exists_with_different_pending_id,
        R.exists_with_different_timeout,
        R.exists_with_different_debit_account_id,
        R.exists_with_different_credit_account_id,
        R.exists_with_different_amount,
        R.exists_with_different_user_data,
        R.exists_with_different_code,
        R.id_already_failed,
        R.linked_event_failed,
        R.linked_event_chain_open,
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
        R.exceeds_debits,
    }
    assert covered == set(R)


def test_resubmitting_identical_transfer_answers_exists_and_moves_money_once(ledger: Ledger) -> None:
    t = transfer(10, amount=700)
    assert ledger.create_transfers([t], NOW_NS) == [R.ok]
    assert ledger.create_transfers([t, t], NOW_NS + 5) == [R.exists, R.exists]
    assert ledger.balances()[BANK_B].credits_posted == 700
    assert ledger.lookup_transfer(10).timestamp > 0


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ({"flags": PENDING}, R.exists_with_different_flags),
        ({"debit": SBP}, R.exists_with_different_debit_account_id),
        ({"credit": SBP}, R.exists_with_different_credit_account_id),
        ({"amount": 701}, R.exists_with_different_amount),
        ({"user_data": 5}, R.exists_with_different_user_data),
        ({"code": 3}, R.exists_with_different_code),
    ],
)
def test_reused_id_with_other_fields_is_refused(ledger: Ledger, changed: dict, expected: R) -> None:
    assert ledger.create_transfers([transfer(10, amount=700)], NOW_NS) == [R.ok]
    fields = {"amount": 700} | changed
    assert ledger.create_transfers([transfer(10, **fields)], NOW_NS) == [expected]
    assert ledger.balances()[BANK_B].credits_posted == 700


def test_reused_pending_and_post_ids_compare_pending_id_and_timeout(ledger: Ledger) -> None:
    assert ledger.create_transfers([transfer(20, flags=PENDING, timeout_s=30)], NOW_NS) == [R.ok]
    assert ledger.create_transfers([transfer(20, flags=PENDING, timeout_s=31)], NOW_NS) == [
        R.exists_with_different_timeout
    ]
    assert ledger.create_transfers([transfer(21, flags=POST, pending_id=20)], NOW_NS) == [R.ok]
    assert ledger.create_transfers([transfer(21, flags=POST, pending_id=1)], NOW_NS) == [
        R.exists_with_different_pending_id
    ]


def test_state_dependent_failure_is_sticky(ledger: Ledger) -> None:
    assert ledger.create_transfers([transfer(30, amount=20_000)], NOW_NS) == [R.exceeds_credits]
    # Bank A gets enough liquidity, but the same payment id must keep its first answer.
    assert ledger.create_transfers([transfer(31, amount=50_000, debit=SBP, credit=BANK_A)], NOW_NS) == [R.ok]
    assert ledger.create_transfers([transfer(30, amount=20_000)], NOW_NS) == [R.id_already_failed]
    assert ledger.lookup_failure(30) is R.exceeds_credits


def test_participant_never_overdrawn_but_central_bank_may_go_negative(ledger: Ledger) -> None:
    assert ledger.create_transfers([transfer(40, amount=10_000)], NOW_NS) == [R.ok]
    assert ledger.create_transfers([transfer(41, amount=1)], NOW_NS) == [R.exceeds_credits]
    sbp = ledger.balances()[SBP]
    assert sbp.posted_net_paisa == -10_000
    assert ledger.balances()[BANK_A].available_paisa == 0
    assert ledger.check_conservation()


def test_pending_reserves_then_post_moves_then_second_post_refused(ledger: Ledger) -> None:
    assert ledger.create_transfers([transfer(50, amount=6_000, flags=PENDING)], NOW_NS) == [R.ok]
    assert ledger.balances()[BANK_A].available_paisa == 4_000
    # The reservation blocks a second payment the funds no longer cover.
    assert ledger.create_transfers([transfer(51, amount=5_000)], NOW_NS) == [R.exceeds_credits]
    assert ledger.create_transfers([transfer(52, amount=0, flags=POST, pending_id=50)], NOW_NS) == [R.ok]
    b = ledger.balances()
    assert (b[BANK_A].debits_posted, b[BANK_A].debits_pending, b[BANK_B].credits_posted) == (6_000, 0, 6_000)
    assert ledger.create_transfers([transfer(53, flags=POST, pending_id=50, amount=0)], NOW_NS) == [
        R.pending_transfer_already_posted
    ]
    assert ledger.create_transfers([transfer(54, flags=VOID, pending_id=50, amount=0)], NOW_NS) == [
        R.pending_transfer_already_posted
    ]
    assert ledger.pending_state(50) == "posted"


def test_partial_post_releases_the_rest(ledger: Ledger) -> None:
    assert ledger.create_transfers([transfer(55, amount=6_000, flags=PENDING)], NOW_NS) == [R.ok]
    assert ledger.create_transfers([transfer(56, amount=6_001, flags=POST, pending_id=55)], NOW_NS) == [
        R.exceeds_pending_transfer_amount
    ]
    assert ledger.create_transfers([transfer(57, amount=2_500, flags=POST, pending_id=55)], NOW_NS) == [R.ok]
    assert ledger.balances()[BANK_A].available_paisa == 7_500


def test_void_releases_and_cannot_be_posted_after(ledger: Ledger) -> None:
    assert ledger.create_transfers([transfer(60, amount=6_000, flags=PENDING)], NOW_NS) == [R.ok]
    assert ledger.create_transfers([transfer(61, amount=5, flags=VOID, pending_id=60)], NOW_NS) == [
        R.pending_transfer_has_different_amount
    ]
    assert ledger.create_transfers([transfer(62, amount=6_000, flags=VOID, pending_id=60)], NOW_NS) == [R.ok]
    assert ledger.balances()[BANK_A].available_paisa == 10_000
    assert ledger.create_transfers([transfer(63, amount=0, flags=POST, pending_id=60)], NOW_NS) == [
        R.pending_transfer_already_voided
    ]


def test_post_must_match_the_pending_transfer(ledger: Ledger) -> None:
    assert ledger.create_transfers([transfer(64, amount=600, flags=PENDING, code=4)], NOW_NS) == [R.ok]
    wrong = [
        (
            transfer(65, amount=0, flags=POST, pending_id=64, debit=SBP),
            R.pending_transfer_has_different_debit_account_id,
        ),
        (
            transfer(66, amount=0, flags=POST, pending_id=64, credit=SBP),
            R.pending_transfer_has_different_credit_account_id,
        ),
        (transfer(67, amount=0, flags=POST, pending_id=64, code=5), R.pending_transfer_has_different_code),
    ]
    for bad, expected in wrong:
        assert ledger.create_transfers([bad], NOW_NS) == [expected]
    assert ledger.create_transfers(
        [transfer(68, amount=AMOUNT_MAX, flags=POST, pending_id=64, code=4)], NOW_NS
    ) == [R.ok]
    assert ledger.balances()[BANK_B].credits_posted == 600


def test_pending_timeout_expires_and_releases_funds(ledger: Ledger) -> None:
    assert ledger.create_transfers([transfer(70, amount=9_000, flags=PENDING, timeout_s=20)], NOW_NS) == [
        R.ok
    ]
    assert ledger.expire_pending(NOW_NS + 19 * NS_PER_S) == []
    # Past the timeout, a post is refused even before the sweep ran.
    assert ledger.create_transfers(
        [transfer(71, amount=0, flags=POST, pending_id=70)], NOW_NS + 21 * NS_PER_S
    ) == [R.pending_transfer_expired]
    assert ledger.balances()[BANK_A].debits_pending == 9_000
    assert ledger.expire_pending(NOW_NS + 21 * NS_PER_S) == [70]
    assert ledger.balances()[BANK_A].debits_pending == 0
    assert ledger.pending_state(70) == "expired"
    assert ledger.create_transfers(
        [transfer(72, amount=0, flags=VOID, pending_id=70)], NOW_NS + 22 * NS_PER_S
    ) == [R.pending_transfer_expired]
    assert ledger.expire_pending(NOW_NS + 100 * NS_PER_S) == []
    ledger.check_conservation()


def test_linked_chain_applies_all_or_nothing(ledger: Ledger) -> None:
    chain = [
        transfer(80, amount=3_000, flags=LINKED),
        transfer(81, amount=3_000, debit=BANK_B, credit=SBP, flags=LINKED | PENDING),
        transfer(82, amount=20_000),  # fails: the chain's earlier events must be undone
        transfer(83, amount=10),
    ]
    assert ledger.create_transfers(chain, NOW_NS) == [
        R.linked_event_failed,
        R.linked_event_failed,
        R.exceeds_credits,
        R.ok,
    ]
    b = ledger.balances()
    assert b[BANK_B].credits_posted == 10 and b[BANK_B].debits_pending == 0
    assert ledger.lookup_transfer(80) is None and ledger.lookup_transfer(81) is None
    assert ledger.pending_count == 0
    # Failures inside a chain are not sticky: the corrected chain applies.
    assert ledger.create_transfers(
        [transfer(80, amount=3_000, flags=LINKED), transfer(82, amount=2_000)], NOW_NS
    ) == [
        R.ok,
        R.ok,
    ]
    ledger.check_conservation()


def test_linked_chain_rolls_back_a_post_inside_it(ledger: Ledger) -> None:
    assert ledger.create_transfers([transfer(90, amount=4_000, flags=PENDING)], NOW_NS) == [R.ok]
    chain = [transfer(91, amount=0, flags=POST | LINKED, pending_id=90), transfer(92, amount=0)]
    assert ledger.create_transfers(chain, NOW_NS) == [R.linked_event_failed, R.amount_must_not_be_zero]
    assert ledger.pending_state(90) == "pending"
    assert ledger.balances()[BANK_A].debits_pending == 4_000
    ledger.check_conservation()


def test_chain_open_at_end_of_batch_fails(ledger: Ledger) -> None:
    results = ledger.create_transfers([transfer(95, flags=LINKED), transfer(96, flags=LINKED)], NOW_NS)
    assert results == [R.linked_event_failed, R.linked_event_chain_open]
    assert ledger.transfer_count == 1


def test_overflow_codes_on_the_unlimited_central_bank_account() -> None:
    ledger = Ledger()
    ledger.create_accounts([Account(id=SBP), Account(id=BANK_A), Account(id=BANK_B)])
    big = U128_MAX - 10
    assert ledger.create_transfers([transfer(1, amount=big, debit=SBP, credit=BANK_A)], NOW_NS) == [R.ok]
    assert ledger.create_transfers([transfer(2, amount=big, debit=SBP, credit=BANK_B)], NOW_NS) == [
        R.overflows_debits_posted
    ]
    assert ledger.create_transfers([transfer(3, amount=big, debit=BANK_B, credit=BANK_A)], NOW_NS) == [
        R.overflows_credits_posted
    ]
    assert ledger.create_transfers(
        [transfer(4, amount=big, debit=SBP, credit=BANK_B, flags=PENDING)], NOW_NS
    ) == [R.overflows_debits]
    assert ledger.create_transfers(
        [transfer(5, amount=big, debit=BANK_B, credit=BANK_A, flags=PENDING)], NOW_NS
    ) == [R.overflows_credits]
    assert ledger.create_transfers(
        [transfer(6, amount=big, debit=BANK_B, credit=SBP, flags=PENDING)], NOW_NS
    ) == [R.ok]
    assert ledger.create_transfers(
        [transfer(7, amount=big, debit=BANK_B, credit=SBP, flags=PENDING)], NOW_NS
    ) == [R.overflows_debits_pending]
    assert ledger.create_transfers(
        [transfer(8, amount=big, debit=BANK_A, credit=SBP, flags=PENDING)], NOW_NS
    ) == [R.overflows_credits_pending]
    ledger.check_conservation()


def test_credits_must_not_exceed_debits_flag() -> None:
    ledger = Ledger()
    ledger.create_accounts(
        [Account(id=SBP), Account(id=BANK_A, flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)]
    )
    assert ledger.create_transfers([transfer(1, debit=SBP, credit=BANK_A)], NOW_NS) == [R.exceeds_debits]


def test_bad_accounts_get_their_own_codes() -> None:
    ledger = Ledger()
    cases = [
        (Account(id=0), A.id_must_not_be_zero),
        (Account(id=U128_MAX), A.id_must_not_be_int_max),
        (Account(id=-1), A.id_out_of_range),
        (Account(id="x"), A.invalid_field_type),
        (Account(id=5, flags=1 << 7), A.reserved_flag),
        (
            Account(id=5, flags=DMNEC | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS),
            A.flags_are_mutually_exclusive,
        ),
        (Account(id=5, debits_pending=1), A.debits_pending_must_be_zero),
        (Account(id=5, debits_posted=1), A.debits_posted_must_be_zero),
        (Account(id=5, credits_pending=1), A.credits_pending_must_be_zero),
        (Account(id=5, credits_posted=1), A.credits_posted_must_be_zero),
    ]
    for account, expected in cases:
        assert ledger.create_accounts([account]) == [expected]
    assert ledger.account_count == 0
    assert ledger.create_accounts([Account(id=5, code=1, user_data=2)]) == [A.ok]
    assert ledger.create_accounts(
        [
            Account(id=5, code=1, user_data=2),
            Account(id=5, flags=DMNEC),
            Account(id=5, user_data=3, code=1),
            Account(id=5, code=9, user_data=2),
        ]
    ) == [
        A.exists,
        A.exists_with_different_flags,
        A.exists_with_different_user_data,
        A.exists_with_different_code,
    ]


def test_linked_accounts_all_or_nothing() -> None:
    ledger = Ledger()
    results = ledger.create_accounts(
        [
            Account(id=1, flags=AccountFlags.LINKED),
            Account(id=2, flags=AccountFlags.LINKED),
            Account(id=0),
            Account(id=4),
        ]
    )
    assert results == [A.linked_event_failed, A.linked_event_failed, A.id_must_not_be_zero, A.ok]
    assert ledger.account(1) is None and ledger.account(4) is not None
    assert ledger.create_accounts([Account(id=7, flags=AccountFlags.LINKED)]) == [A.linked_event_chain_open]


def test_account_returned_is_a_copy(ledger: Ledger) -> None:
    copy = ledger.account(BANK_A)
    copy.credits_posted = 10**9
    assert ledger.balances()[BANK_A].credits_posted == 10_000


def test_timestamps_unique_and_increasing_even_if_clock_goes_back(ledger: Ledger) -> None:
    ledger.create_transfers([transfer(100), transfer(101)], NOW_NS + 50)
    ledger.create_transfers([transfer(102)], NOW_NS)  # an earlier clock reading
    stamps = [ledger.lookup_transfer(i).timestamp for i in (100, 101, 102)]
    assert stamps == sorted(set(stamps)) and stamps[0] >= NOW_NS + 50


def test_u128_ids_and_amounts_survive_a_snapshot(ledger: Ledger) -> None:
    big_id = 2**127 + 12345
    ledger.create_accounts([Account(id=big_id - 1)])
    assert ledger.create_transfers(
        [transfer(big_id, amount=2**100, debit=SBP, credit=big_id - 1)], NOW_NS
    ) == [R.ok]
    restored = Ledger.from_snapshot(ledger.to_snapshot())
    assert restored.lookup_transfer(big_id) == ledger.lookup_transfer(big_id)
    assert restored.balances() == ledger.balances()


def test_conservation_check_detects_tampering(ledger: Ledger) -> None:
    ledger._accounts[BANK_B].credits_posted += 1  # simulate a bug
    with pytest.raises(ConservationError, match="posted debits"):
        ledger.check_conservation()


def test_conservation_check_detects_overdraft(ledger: Ledger) -> None:
    ledger._accounts[BANK_A].debits_posted += 20_000
    ledger._accounts[BANK_B].credits_posted += 20_000
    with pytest.raises(ConservationError, match="overdrawn"):
        ledger.check_conservation()


def test_objects_that_are_not_transfers_or_accounts_are_refused_not_raised(ledger: Ledger) -> None:
    assert ledger.create_transfers([None, "x", transfer(120)], NOW_NS) == [
        R.invalid_field_type,
        R.invalid_field_type,
        R.ok,
    ]
    assert ledger.create_accounts([None, Account(id=77)]) == [A.invalid_field_type, A.ok]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["plain", "pending", "post", "void", "expire", "linked"]),
            st.integers(2, 4),
            st.integers(2, 4),
            st.integers(1, 3_000),
        ),
        max_size=60,
    )
)
def test_a_ledger_without_history_moves_the_same_money_and_keeps_only_live_reservations(ops):
    """The rail's ledger (history=False: it never resubmits an id, nor resolves a reservation twice) must answer
    and balance exactly as the full one, while keeping no finished transfer in memory."""
    full, lean = Ledger(), Ledger(history=False)
    flags = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    for ledger in (full, lean):
        ledger.create_accounts([Account(id=1)] + [Account(id=i, flags=flags) for i in (2, 3, 4)], 1)
        ledger.create_transfers([Transfer(id=i, debit_account_id=1, credit_account_id=i, amount=5_000)
                                 for i in (2, 3, 4)], 1)  # fmt: skip
    next_id, pendings = 10, []
    for step, (kind, debit, credit, amount) in enumerate(ops, start=2):
        now_ns = step * NS_PER_S
        if kind in ("post", "void") and pendings:
            pending_id = pendings.pop(amount % len(pendings))
            flag = (
                TransferFlags.POST_PENDING_TRANSFER if kind == "post" else TransferFlags.VOID_PENDING_TRANSFER
            )
            batch = [Transfer(id=next_id, debit_account_id=0, credit_account_id=0, amount=0, pending_id=pending_id,
                              flags=int(flag))]  # fmt: skip
        elif kind == "expire":
            expired = full.expire_pending(now_ns)
            assert lean.expire_pending(now_ns) == expired
            pendings = [p for p in pendings if p not in expired]  # the rail never resolves one twice
            continue
        elif kind == "linked":
            batch = [Transfer(id=next_id, debit_account_id=debit, credit_account_id=credit, amount=amount,
                              flags=int(TransferFlags.LINKED)),
                     Transfer(id=next_id + 1, debit_account_id=credit, credit_account_id=debit, amount=amount * 2)]  # fmt: skip
        else:
            pending = kind == "pending"
            batch = [Transfer(id=next_id, debit_account_id=debit, credit_account_id=credit, amount=amount,
                              flags=int(TransferFlags.PENDING) if pending else 0, timeout_s=amount % 3 if pending else 0)]  # fmt: skip
        next_id += len(batch)
        results = full.create_transfers(batch, now_ns)
        assert lean.create_transfers(batch, now_ns) == results
        if kind == "pending" and results[0] is R.ok:
            pendings.append(batch[0].id)
        assert lean.balances() == full.balances()
    assert lean.check_conservation()
    assert set(lean._transfers) == set(lean._pending)  # only live reservations are kept
