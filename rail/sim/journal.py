"""The simulator's journal: the rail's own file journal, written so that the same run writes the same bytes.

* The same frames as `rail serve` writes (rail/settlement/journal.py's FileJournal, format 2, chained
  checksums), appended inline on the event loop's thread: no writer thread decides when a batch is done, so
  batch composition depends on simulated events only. No fdatasync: the simulation is about decisions and
  liquidity, not durability; the journal is still written in full, since determinism is proven on it.
* A journal id derived from the scenario and seed (a new journal's id is otherwise random and sits in every
  segment header).
* No snapshots: every segment from the genesis stays, for the digest and for `rail replay`.

After each batch it calls `after_batch(seq, records)` (rail/sim/books.py reads the balances there).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from rail.settlement.journal import JOURNAL_ID_BYTES, FileJournal, JournalError

_SEGMENT = re.compile(r"^wal-\d{20}\.log$")
DIGEST_CHUNK_BYTES = 8 * 1024 * 1024


def journal_id_for(*parts: object) -> bytes:
    """A journal id that is a function of what determines the run."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:JOURNAL_ID_BYTES]


class SimJournal:
    """A `Journal` (rail/settlement/journal.py's protocol) for one simulated run."""

    def __init__(self, journal: FileJournal) -> None:
        self._journal = journal
        self.after_batch: Callable[[int, list], None] | None = None
        self.last_batch_ns = 0  # the timestamp of the last batch written
        self.commands = 0  # written, over every batch

    @classmethod
    def create(cls, directory: Path, journal_id: bytes) -> SimJournal:
        directory = Path(directory)
        if directory.exists() and any(directory.iterdir()):
            raise JournalError(f"{directory} is not empty: a simulation writes a new journal")
        return cls(FileJournal.open(directory, fsync=False, journal_id=journal_id))

    def append(self, records: list) -> asyncio.Future:
        """Written now; the returned future is already done (the core awaits it like a synced append)."""
        future = asyncio.get_running_loop().create_future()
        future.set_result(self.append_blocking(records))
        return future

    def append_blocking(self, records: list) -> int:
        seq = self._journal.append_inline(records)
        self.last_batch_ns = records[0]
        self.commands += len(records) - 1
        if self.after_batch is not None:
            self.after_batch(seq, records)
        return seq

    def replay(self, after_seq: int = 0) -> Iterator[tuple[int, list]]:
        return self._journal.replay(after_seq)

    def write_snapshot(self, state: bytes, seq: int) -> None:
        raise JournalError("a simulation keeps no snapshots (its core is opened with snapshots=False)")

    def start_snapshot(self, encode_state: Callable[[], bytes], seq: int) -> asyncio.Future[None]:
        raise JournalError("a simulation keeps no snapshots (its core is opened with snapshots=False)")

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        return None

    @property
    def last_seq(self) -> int:
        return self._journal.last_seq

    @property
    def snapshot_seq(self) -> int:
        return 0

    def close(self) -> None:
        self._journal.close()


def segments(directory: Path) -> list[Path]:
    """The journal's segment files in sequence order."""
    return sorted(p for p in Path(directory).iterdir() if _SEGMENT.match(p.name))


def journal_digest(directory: Path) -> tuple[str, int]:
    """(SHA-256 hex of the segments' bytes, in sequence order, total bytes): the run's fingerprint."""
    digest = hashlib.sha256()
    total = 0
    for path in segments(directory):
        with path.open("rb") as handle:
            while chunk := handle.read(DIGEST_CHUNK_BYTES):
                digest.update(chunk)
                total += len(chunk)
    return digest.hexdigest(), total
