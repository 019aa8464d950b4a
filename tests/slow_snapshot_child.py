"""Child process for tests/test_snapshot_background.py: a rail whose snapshot writer is slow, killed mid-write.

Usage: python tests/slow_snapshot_child.py DIRECTORY
Opens RailService on DIRECTORY with a snapshot every 3 commands and the state's encoding slowed down by a minute
(standing for millions of payments; it runs in the forked writer, not in this process), settles liquidity
transfers until a writer process exists, prints `WRITING <writer pid> <acknowledged paisa>` (flushed), then goes
on settling, printing `ACK <total paisa>` after each acknowledged transfer, until it is killed (or says
`NOWRITER` if no writer appears within NO_WRITER_AFTER_S).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rail.settlement.core as core_module
from rail.api.service import RailService

BANK = "TESTPKKA"
AMOUNT_PAISA = 1_000
WRITER_SLOW_S = 60.0
NO_WRITER_AFTER_S = 20.0


def _writer_pid() -> int | None:
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    return int(children[0]) if children else None


async def main(directory: Path) -> None:
    core_module.SNAPSHOT_EVERY_COMMANDS = 3
    encode = core_module.settlement_to_state

    def slow(settlement):
        time.sleep(WRITER_SLOW_S)
        return encode(settlement)

    core_module.settlement_to_state = slow
    service = await RailService.open(directory, fsync=True)
    await service.add_participant(BANK, "Test bank")
    total = 0
    writer = None
    started = time.monotonic()
    while True:
        if writer is None and time.monotonic() - started > NO_WRITER_AFTER_S:
            print("NOWRITER: no snapshot writer process appeared", flush=True)
            return
        await service.liquidity(BANK, AMOUNT_PAISA, "in")
        total += AMOUNT_PAISA
        if writer is None and (writer := _writer_pid()) is not None:
            print(f"WRITING {writer} {total}", flush=True)
        elif writer is not None:
            print(f"ACK {total}", flush=True)
        await asyncio.sleep(0.01)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
