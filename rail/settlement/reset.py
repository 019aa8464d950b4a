"""A sandbox reset as a state change: the books back to the default scheme, journaled like any command.

`POST /admin/reset` journals a Reset; applying it (live, and again on every replay) builds fresh books from the
scheme's genesis (the default banks, prefunded, with their customers' Raast IDs) and moves them in place of the
old ones. Nothing is lost silently: the reset is refused while any payment is in flight (it would end without a
final status), and the journal keeps every batch before it (`rail journal verify` reads them); its answer says
how many payments and undelivered inbox messages it discarded.

Kept: the operator's token; with `keep_tokens`, every participant registered from outside (token, name,
callback URL, rate limit, webhook keys), with an empty settlement account; and every kept inbox's sequence
numbers, so a client that remembers the last sequence it read is not confused: the inbox continues from where
it was, everything in it acknowledged (it leaves once the reset is durable, as any acknowledgement does).
"""

from __future__ import annotations

from rail.settlement.payment_records import IN_FLIGHT, Outcome, OutcomeKind, Participant
from rail.settlement.payments import Settlement


def reset_books(s: Settlement, keep_tokens: bool, now_ns: int) -> Outcome:
    in_flight = sum(1 for p in s.payments.live_payments() if p.status == IN_FLIGHT)
    if in_flight:
        hard_stop_s = s.params.hard_stop_ms / 1000
        return Outcome(OutcomeKind.REJECTED, reason="AB10", text=f"{in_flight} payments are in flight; reset "
                       f"when they are final (at most {hard_stop_s:g} s from their acceptance)")  # fmt: skip
    central = s.scheme.central_bank_bic
    kept = [p for p in s.participants.values() if keep_tokens and p.token_hash and p.bic != central]
    discarded = {
        "payments_discarded": len(s.payments),
        "inbox_messages_discarded": sum(len(inbox) for inbox in s.inboxes.values()),
        "participants_kept": sorted(p.bic for p in kept),
    }
    fresh = Settlement(s.scheme)
    fresh.next_transfer_id = s.next_transfer_id  # a ClrSysRef never names two transfers
    fresh.apply_genesis(now_ns)
    for p in kept:
        fresh.apply_add_participant(p.bic, p.name, p.token_hash, p.callback_url, now_ns,
                                    rate_limit=(p.requests_per_s, p.requests_burst))  # fmt: skip
        _keep_keys(fresh.participants[p.bic], p)
    for bic in fresh.inboxes:
        old = s.inboxes.get(bic)
        if old is not None:  # its numbering goes on; what it held is acknowledged, gone once durable
            old.ack(old.next_seq - 1)
            fresh.inboxes[bic] = old
            s.touched_inboxes.add(bic)
    s.touched_inboxes &= set(fresh.inboxes)  # the core publishes only inboxes that still exist
    s.ledger, s.directory, s.participants = fresh.ledger, fresh.directory, fresh.participants
    s.inboxes, s.payments, s.rtps, s._rtp_payees = fresh.inboxes, fresh.payments, fresh.rtps, fresh._rtp_payees
    s.next_transfer_id = fresh.next_transfer_id
    return Outcome(OutcomeKind.DONE, detail=discarded)


def _keep_keys(new: Participant, old: Participant) -> None:
    """What a kept participant brings through a reset besides its token: its webhook keys, its rendering."""
    new.webhook_secret = old.webhook_secret
    new.webhook_previous_secret = old.webhook_previous_secret
    new.webhook_previous_until_ns = old.webhook_previous_until_ns
    new.rendering = old.rendering
