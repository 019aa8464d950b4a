"""Child process for the crash-recovery test: applies batches through LedgerService until it is killed.

Usage: python tests/crash_child.py DIRECTORY RUN_ID
Prints `ACK <run_id> <request_index>` (flushed) after each submission's batch is durable, i.e. after the
journal append returned. The parent SIGKILLs it at a random point and checks the journal afterwards.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: bench.ledger_service

from bench.ledger_service import LedgerService
from rail.settlement.ledger import Account, AccountFlags, CreateTransferResult, Transfer, TransferFlags

CENTRAL_BANK = 1
PARTICIPANTS = [2, 3, 4, 5, 6, 7]
GROUPS_PER_REQUEST = 50  # 4 events each
SUBMITTERS = 4
REQUESTS_MAX = 5_000  # bound on the child's work if nobody kills it
SNAPSHOT_EVERY_BATCHES = 7  # small, so kills land before, during and after snapshots

FUNDING_PAISA = 1_000
PENDING_PAISA = 500
ONWARD_PAISA = 300


def accounts() -> list[Account]:
    return [Account(id=CENTRAL_BANK, code=1)] + [
        Account(id=p, code=2, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS) for p in PARTICIPANTS
    ]


def request_transfers(run_id: int, index: int) -> list[Transfer]:
    """Deterministic request: groups that always succeed whatever else was applied before.

    Each group: the central bank funds A (1,000), A reserves 500 for B, the reservation is posted, B pays
    300 on to C. Odd requests use ids above 2**64 so the journal's u128 path is crashed too.
    """
    rng = random.Random(run_id * 1_000_003 + index)
    base = 1 + (run_id * 100_000 + index) * 1_000 + (2**100 if index % 2 else 0)
    events: list[Transfer] = []
    for group in range(GROUPS_PER_REQUEST):
        a, b, c = rng.sample(PARTICIPANTS, 3)
        first = base + group * 4
        events += [
            Transfer(id=first, debit_account_id=CENTRAL_BANK, credit_account_id=a, amount=FUNDING_PAISA),
            Transfer(
                id=first + 1,
                debit_account_id=a,
                credit_account_id=b,
                amount=PENDING_PAISA,
                flags=TransferFlags.PENDING,
            ),
            Transfer(
                id=first + 2,
                debit_account_id=0,
                credit_account_id=0,
                amount=0,
                pending_id=first + 1,
                flags=TransferFlags.POST_PENDING_TRANSFER,
            ),
            Transfer(id=first + 3, debit_account_id=b, credit_account_id=c, amount=ONWARD_PAISA),
        ]
    return events


def request_effect(run_id: int, index: int) -> dict[int, int]:
    """Net posted change per account (credits - debits) if the request applied."""
    rng = random.Random(run_id * 1_000_003 + index)
    effect = {CENTRAL_BANK: 0, **{p: 0 for p in PARTICIPANTS}}
    for _ in range(GROUPS_PER_REQUEST):
        a, b, c = rng.sample(PARTICIPANTS, 3)
        effect[CENTRAL_BANK] -= FUNDING_PAISA
        effect[a] += FUNDING_PAISA - PENDING_PAISA
        effect[b] += PENDING_PAISA - ONWARD_PAISA
        effect[c] += ONWARD_PAISA
    return effect


async def main(directory: str, run_id: int) -> int:
    service = await LedgerService.open(directory, snapshot_every_batches=SNAPSHOT_EVERY_BATCHES)
    await service.create_accounts(accounts())
    next_index = 0

    async def submitter() -> None:
        nonlocal next_index
        while next_index < REQUESTS_MAX:
            index = next_index
            next_index += 1
            results = await service.submit_transfers(request_transfers(run_id, index))
            if any(r is not CreateTransferResult.ok for r in results):
                print(f"BAD {run_id} {index} {sorted({r.name for r in results})}", flush=True)
                raise SystemExit(1)
            print(f"ACK {run_id} {index}", flush=True)

    print("READY", flush=True)
    await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
    await service.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]))))
