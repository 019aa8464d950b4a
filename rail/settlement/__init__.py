"""The settlement layer: the single-writer core and everything only it changes.

ledger (balances, two-phase transfers), journal (the write-ahead log and snapshots), payments (the payment
state machine over payment_book and payment_records), delivery (per-participant inboxes of references),
directory (Raast ID aliases, rate buckets), core (the one task that applies journaled batches). Nothing here
knows HTTP, a transport or a rendering: the API layer (rail/api/) asks the core through `execute()` and
`query()`.
"""
