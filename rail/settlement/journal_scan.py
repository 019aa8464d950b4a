"""Inspecting a journal directory, byte by byte: what recovery checks before it opens a journal, what
`rail journal verify` shows and what `rail journal salvage` keeps (rail/app/journal_cli.py). Nothing here writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

from rail.settlement.journal_format import (
    FORMAT_VERSION,
    FRAME_SEAL,
    HIGHWATER_NAME,
    SEGMENT_HEADER,
    SEGMENT_MAGIC,
    SEGMENT_NAME,
    SNAPSHOT_NAME,
    V1_FRAME_HEADER,
    Frame,
    JournalCorruption,
    Snapshot,
    decode_snapshot,
    describe_bytes,
    read_highwater,
    segment_name,
    snapshot_name,
    version_refusal,
)

# ---- inspecting a journal directory (recovery, `rail journal verify`, `rail journal salvage`) -------------------


class Damage(NamedTuple):
    """The first thing wrong in a journal: where, what, and whether it is an (allowed) torn tail."""

    path: Path
    offset: int
    detail: str
    torn: bool = False

    def error(self) -> JournalCorruption:
        return JournalCorruption(self.path, self.offset, self.detail)


class SegmentReport(NamedTuple):
    path: Path
    first_seq: int
    last_seq: int  # first_seq - 1 when it holds no batch
    valid_bytes: int  # header and every valid frame (where a torn tail would be truncated)
    size: int
    sealed: bool


class JournalReport(NamedTuple):
    """Everything `inspect_journal` found. `damage` is None for a clean journal."""

    directory: Path
    journal_id: bytes | None
    snapshot: Snapshot | None
    snapshot_path: Path | None
    segments: list[SegmentReport]
    damage: Damage | None
    # Replay would start after this batch (the snapshot's, or 0) and can read up to `last_good_seq`.
    replay_from_seq: int
    last_good_seq: int
    chain: int  # the chain at last_good_seq
    highwater_id: bytes | None


def inspect_journal(directory: Path, use_snapshot: bool = True) -> JournalReport:
    """Read a journal directory and check every byte of it; never writes. `use_snapshot=False`: as if there
    were no snapshot (a salvage that drops a damaged one, when the segments still reach batch 1)."""
    names = os.listdir(directory) if directory.is_dir() else []
    snapshot_seqs = (
        sorted(int(m.group(1)) for m in map(SNAPSHOT_NAME.match, names) if m) if use_snapshot else []
    )
    segment_seqs = sorted(int(m.group(1)) for m in map(SEGMENT_NAME.match, names) if m)
    scan = _Scan(directory)
    if snapshot_seqs:
        scan.read_snapshot(directory / snapshot_name(snapshot_seqs[-1]), snapshot_seqs[-1])
    highwater_damage = None
    if segment_seqs or snapshot_seqs:
        if HIGHWATER_NAME in names:
            highwater_damage = scan.read_highwater(directory / HIGHWATER_NAME)
        else:
            highwater_damage = Damage(directory / HIGHWATER_NAME, 0, "the high-water mark is missing "
                                      "(it is created with the journal)")  # fmt: skip
    elif HIGHWATER_NAME in names:  # a journal whose creation a crash interrupted: only its id matters
        with contextlib.suppress(JournalCorruption):
            scan.highwater_id = read_highwater(directory / HIGHWATER_NAME)[2]
    if not segment_seqs and scan.snapshot is not None:
        scan.fail(directory, 0, f"a snapshot at batch {scan.snapshot.seq} exists but no journal segment does")
    for index, first_seq in enumerate(segment_seqs):
        if scan.damage is not None and not scan.damage.torn:
            break
        scan.segment(directory / segment_name(first_seq), first_seq, is_last=index == len(segment_seqs) - 1)
    if highwater_damage is not None and (scan.damage is None or scan.damage.torn):
        scan.damage = (
            highwater_damage  # after the segments' damage, which says more; never hidden by a torn tail
        )
    scan.finish()
    return JournalReport(
        directory,
        scan.journal_id,
        scan.snapshot,
        scan.snapshot_path,
        scan.segments,
        scan.damage,
        scan.snapshot.seq if scan.snapshot is not None else 0,
        scan.last_seq,
        scan.chain,
        scan.highwater_id,
    )


class _Scan:
    """The state of one inspection: what has been verified so far, and the first damage found."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.journal_id: bytes | None = None
        self.snapshot: Snapshot | None = None
        self.snapshot_path: Path | None = None
        self.segments: list[SegmentReport] = []
        self.damage: Damage | None = None
        self.last_seq = 0  # last verified batch
        self.chain = 0  # the chain at last_seq
        self.checkpoints: list[_Checkpoint] = []  # the snapshot's batch, the high-water mark
        self.checked: list[_Checkpoint] = []  # those whose batch was reached with the right chain
        self.highwater_id: bytes | None = None

    def fail(self, path: Path, offset: int, detail: str, torn: bool = False) -> None:
        if self.damage is None:
            self.damage = Damage(path, offset, detail, torn)

    def read_snapshot(self, path: Path, seq: int) -> None:
        try:
            snapshot = decode_snapshot(path.read_bytes(), path)
        except JournalCorruption as error:
            self.fail(path, error.offset, error.detail)
            return
        if snapshot.seq != seq:
            self.fail(path, 8, f"snapshot names batch {snapshot.seq}, its file name batch {seq}")
            return
        self.snapshot, self.snapshot_path, self.journal_id = snapshot, path, snapshot.journal_id
        self.checkpoints.append(_Checkpoint(seq, snapshot.chain, path, f"the snapshot {path.name}"))

    def read_highwater(self, path: Path) -> Damage | None:
        try:
            seq, chain, self.highwater_id = read_highwater(path)
        except JournalCorruption as error:
            return Damage(path, error.offset, error.detail)
        if seq:
            self.checkpoints.append(_Checkpoint(seq, chain, path, f"the high-water mark {path.name}"))
        return None

    def segment(self, path: Path, first_seq: int, is_last: bool) -> None:
        data = path.read_bytes()
        if not self._segment_header(path, first_seq, data):
            return
        offset, seq, sealed = SEGMENT_HEADER.size, first_seq - 1, False
        while self.damage is None or self.damage.torn:
            frame = Frame.parse(data, offset)
            if frame is None:
                break
            if sealed:
                self.fail(path, offset, "bytes after the segment's seal")
                break
            # A header that checks but names the wrong batch is damage even when its payload is cut short.
            problem = self._out_of_order(frame, seq + 1) if frame.header_ok else None
            torn = problem is None and frame.torn and is_last
            problem = problem or frame.problem
            if problem is not None:
                self.fail(path, offset, f"torn tail: {problem}" if torn else problem, torn)
                break
            if frame.kind == FRAME_SEAL:
                sealed = True
            else:
                seq = frame.seq
                self._verified(frame)
            offset = frame.end
        self.segments.append(SegmentReport(path, first_seq, seq, offset, len(data), sealed))
        if sealed and is_last and self.damage is None:
            self.fail(
                path,
                offset,
                f"sealed at batch {seq}, but the segment that continues it ({segment_name(seq + 1)}) is missing",
            )

    def _segment_header(self, path: Path, first_seq: int, data: bytes) -> bool:
        """Check a segment's header against everything verified before it; False (damage recorded) if bad."""
        size = SEGMENT_HEADER.size
        if len(data) >= V1_FRAME_HEADER.size and data[:4] != SEGMENT_MAGIC:
            length, crc, seq = V1_FRAME_HEADER.unpack_from(data, 0)
            v1_end = V1_FRAME_HEADER.size + length
            if seq == first_seq and v1_end <= len(data):
                payload = memoryview(data)[V1_FRAME_HEADER.size : v1_end]
                if zlib.crc32(payload, zlib.crc32(struct.pack("<IQ", length, seq))) == crc:
                    self.fail(path, 0, version_refusal("segment", 1))
                    return False
        if len(data) < size:
            self.fail(path, 0, f"segment of {len(data)} bytes is shorter than its {size}-byte header "
                               f"(found {describe_bytes(data)}; segments are created whole)")  # fmt: skip
            return False
        magic, version, journal_id, stored_first, chain_in, crc = SEGMENT_HEADER.unpack_from(data, 0)
        if magic != SEGMENT_MAGIC:
            self.fail(path, 0, f"not a journal segment: found {describe_bytes(data[:size])}")
        elif version != FORMAT_VERSION:
            self.fail(path, 4, version_refusal("segment", version))
        elif zlib.crc32(memoryview(data)[: size - 4]) != crc:
            self.fail(path, 0, f"segment header fails its checksum: found {describe_bytes(data[:size])}")
        elif stored_first != first_seq:
            self.fail(
                path, 24, f"segment header says it starts at batch {stored_first}, its name {first_seq}"
            )
        elif self.journal_id is not None and journal_id != self.journal_id:
            self.fail(path, 8, f"segment belongs to journal {journal_id.hex()}, not {self.journal_id.hex()}")
        else:
            self.journal_id = journal_id
            return self._continues(path, first_seq, chain_in)
        return False

    def _continues(self, path: Path, first_seq: int, chain_in: int) -> bool:
        """Does a segment starting at `first_seq` with `chain_in` continue what came before it?"""
        snapshot = self.snapshot
        if not self.segments:  # the first segment on disk: it must reach back to the snapshot (or to batch 1)
            start = snapshot.seq + 1 if snapshot is not None else 1
            if first_seq > start:
                self.fail(path, 0, f"batches {start}..{first_seq - 1} are missing (the journal starts at batch "
                                   f"{first_seq}{f', the snapshot is at batch {snapshot.seq}' if snapshot else ''})")  # fmt: skip
                return False
            if first_seq == 1 and chain_in != 0:
                self.fail(path, 28, "the journal's first segment does not start a chain")
                return False
            self.last_seq, self.chain = first_seq - 1, chain_in
            self._check_checkpoints()
            return self.damage is None
        if first_seq != self.last_seq + 1:
            self.fail(path, 0, f"segment starts at batch {first_seq}, expected batch {self.last_seq + 1}")
        elif chain_in != self.chain:
            self.fail(path, 28, f"segment does not continue the chain of batch {self.last_seq} "
                                "(a segment from another history?)")  # fmt: skip
        return self.damage is None

    def _out_of_order(self, frame: Frame, expected_seq: int) -> str | None:
        if frame.seq != expected_seq:
            return (
                f"frame has batch {frame.seq}, expected batch {expected_seq} (a missing or replayed region)"
            )
        if frame.prev_chain != self.chain:
            return f"batch {frame.seq} does not follow batch {expected_seq - 1} (the checksum chain breaks)"
        return None

    def _verified(self, frame: Frame) -> None:
        self.last_seq, self.chain = frame.seq, frame.chain
        self._check_checkpoints()

    def _check_checkpoints(self) -> None:
        for checkpoint in self.checkpoints:
            if checkpoint.seq == self.last_seq and checkpoint not in self.checked:
                self.checked.append(checkpoint)
                if self.chain != checkpoint.chain:
                    self.fail(checkpoint.path, 0, f"{checkpoint.what} does not match the journal's chain at batch "
                                                  f"{checkpoint.seq} (from another history?)")  # fmt: skip

    def finish(self) -> None:
        """Every checkpoint (snapshot, high-water mark) names a batch that was durable: the journal must reach
        it. A torn tail cannot explain a journal that ends before one."""
        if (
            self.highwater_id is not None
            and self.journal_id is not None
            and self.highwater_id != self.journal_id
        ):
            self.fail(self.directory / HIGHWATER_NAME, 0, f"high-water mark belongs to journal "
                                                          f"{self.highwater_id.hex()}, not {self.journal_id.hex()}")  # fmt: skip
        missed = [c for c in self.checkpoints if c not in self.checked and c.seq > self.last_seq]
        if missed and (self.damage is None or self.damage.torn):
            checkpoint = max(missed, key=lambda c: c.seq)
            where = self.segments[-1] if self.segments else None
            self.damage = Damage(
                where.path if where else self.directory,
                where.valid_bytes if where else 0,
                f"the journal ends at batch {self.last_seq}, but {checkpoint.what} shows batch "
                f"{checkpoint.seq} was durable: batches {self.last_seq + 1}..{checkpoint.seq} are missing",
            )


class _Checkpoint(NamedTuple):
    """A batch known durable from outside the segments, with the chain the journal must have there."""

    seq: int
    chain: int
    path: Path
    what: str


