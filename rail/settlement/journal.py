"""Append-only write-ahead journal of batches, with snapshots and crash recovery that never guesses.

Generic: it stores lists of msgpack-encodable records and knows nothing about what they mean.

On disk (one directory, format version 2; every integer little-endian):
- `LOCK`: flock'ed (exclusive) by the one process that has the journal open, for the life of that process;
  it holds that process's pid, so a second opener is told who holds it (see `JournalLocked`).
- `wal-<first sequence, 20 digits>.log` segments. Each starts with a 64-byte segment header
  `<magic "RWAL"><u32 format version><16 bytes journal id><u64 first sequence><u32 chain in><24 zero bytes>
  <u32 CRC32 of the 60 bytes before>`, written whole before the file gets its name (temp file, fsync,
  rename, directory fsync), so a segment is never shorter than its header. Then frames, one per batch:
  `<u32 chain><u32 payload length><u64 sequence><u32 payload CRC32><u32 previous chain><u32 kind><u32 0>`
  and the payload (a msgpack list of records; see PayloadCodec for u128 integers). `chain` is the CRC32 of
  the 28 header bytes after it, and each frame names the chain of the frame before it (the segment header's
  `chain in` for its first frame; 0 for the journal's very first batch): the chain covers every batch since
  the first, so a missing, replayed, reordered or foreign region is detected, not only a damaged frame.
  Sequences start at 1 and increase by exactly one per batch. The last frame of a full segment is a seal
  (kind 2, no payload, the sequence the next segment starts at), written after the next segment exists: a
  sealed last segment means a later one was lost.
- `snapshot-<sequence, 20 digits>.snap`: the caller's state after batch `sequence`, with the chain at that
  batch and the journal id, `<magic "RSNP"><u32 version><16 bytes journal id><u64 sequence><u32 chain>
  <u64 length><u32 CRC32 of the state><12 zero bytes><u32 CRC32 of the 60 bytes before>` then the state,
  written atomically. Segments wholly covered by the newest snapshot are deleted.
- Format 1 (frames without a segment header or chain, before this version) is refused with a clear message:
  no journal of it was ever deployed, so there is nothing to migrate; start such a rail on an empty directory.

Recovery on open checks everything and repairs exactly one thing: an incomplete final frame (fewer bytes than
its header, or than its header's length field, at the physical end of the last segment) is a torn tail, a
batch whose write never completed and so was never acknowledged: it is truncated, and the truncation is
logged. Anything else (a checksum mismatch before the end or on a complete frame, zeroed bytes, a header
from another journal, a missing or unexpected sequence, a broken chain, a snapshot the journal does not
reach, no segment at all beside a snapshot) stops the open with `JournalCorruption` naming the file, the
offset and what was found. The way out is an operator's decision, with `rail journal verify` and
`rail journal salvage --upto SEQ` (rail/app/journal_cli.py, docs/operations.md).

Durability: `append` returns only after the frame is written and fdatasync'ed. The checksums, the write and the
sync run in one dedicated worker thread, so the event loop keeps accepting work while the disk syncs, and
batches reach the disk in the order `append` was called. `fsync=False` is the benchmark-only mode that skips
the per-batch fdatasync (a crash may then lose acknowledged batches).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import re
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, Protocol, Self, runtime_checkable

import msgspec

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024
#: One batch of 8,192 transfers is about 1.2 MB; anything near this limit is a bug upstream.
FRAME_PAYLOAD_BYTES_MAX = 128 * 1024 * 1024
SEGMENT_MAGIC = b"RWAL"
SNAPSHOT_MAGIC = b"RSNP"
SNAPSHOT_FORMAT_VERSION = FORMAT_VERSION
JOURNAL_ID_BYTES = 16
FRAME_BATCH = 1
FRAME_SEAL = 2
#: Chains of recent batches kept to stamp a snapshot with the chain at its batch.
CHAINS_KEPT = 4_096
LOCK_NAME = "LOCK"
HIGHWATER_NAME = "HIGHWATER"
#: The high-water mark (the last durable batch, kept outside the segments) is rewritten at most this often, by
#: the writer thread between batches, and at close: a segment later cut short at a frame boundary, which looks
#: exactly like fewer batches written, is detected for every batch older than this.
HIGHWATER_EVERY_S = 1.0

_SEGMENT_HEADER = struct.Struct("<4sI16sQI24xI")  # magic, version, journal id, first seq, chain in, crc
_FRAME_HEADER = struct.Struct("<IIQIIII")  # chain, length, seq, payload crc, previous chain, kind, reserved
_FRAME_CHECKED = struct.Struct("<IQIIII")  # the 28 bytes the chain (header CRC) covers
_SNAPSHOT_HEADER = struct.Struct("<4sI16sQIQI12xI")  # magic, version, id, seq, chain, length, state crc, crc
_HIGHWATER_SLOT = struct.Struct("<QI16sI")  # seq, chain, journal id, crc32 of the 28 bytes before
_V1_FRAME_HEADER = struct.Struct("<IIQ")  # format 1: length, crc32, sequence (recognised only to refuse it)
_SEGMENT_NAME = re.compile(r"^wal-(\d{20})\.log$")
_SNAPSHOT_NAME = re.compile(r"^snapshot-(\d{20})\.snap$")
_TEMP_NAME = re.compile(r"^(wal-\d{20}\.log|snapshot-\d{20}\.snap)\.tmp$")


class PayloadCodec:
    """msgpack for journal frames and snapshots, with a JSON fallback for integers beyond 64 bits.

    msgpack cannot represent integers outside -2**63..2**64-1, but ids and amounts are u128. A payload
    that holds such an integer is written as JSON instead (msgspec encodes and decodes big integers in
    JSON natively, typed, at ~0.5-1 us per record); the first byte tells the two apart: a msgpack
    array or map starts with 0x80-0x9f or 0xdc-0xdf, never with JSON's '[' (0x5b) or '{' (0x7b).
    The top-level value must therefore be a list, a dict or a Struct. With a typed decoder (a msgspec
    type), values round-trip identically through either form.
    """

    __slots__ = ("_json_decode", "_json_encode", "_msgpack_decode", "_msgpack_encode")

    def __init__(self, decode_type: Any = Any) -> None:
        self._msgpack_encode = msgspec.msgpack.Encoder().encode
        self._json_encode = msgspec.json.Encoder().encode
        self._msgpack_decode = msgspec.msgpack.Decoder(decode_type).decode
        self._json_decode = msgspec.json.Decoder(decode_type).decode

    def encode(self, value: Any) -> bytes:
        try:
            return self._msgpack_encode(value)
        except OverflowError:
            return self._json_encode(value)

    def decode(self, payload: bytes | memoryview) -> Any:
        if payload[0] in _JSON_FIRST_BYTES:
            return self._json_decode(payload)
        return self._msgpack_decode(payload)


_JSON_FIRST_BYTES = frozenset(b"[{")


class JournalError(Exception):
    """The journal cannot do what was asked (closed, failed write, oversized batch)."""


class JournalCorruption(JournalError):
    """Data on disk is damaged or incomplete in a way that is not a torn tail; recovery refuses to guess."""

    def __init__(self, path: Path | str, offset: int, detail: str) -> None:
        super().__init__(f"journal corrupted: {path} at offset {offset}: {detail}")
        self.path = path
        self.offset = offset
        self.detail = detail


class JournalLocked(JournalError):
    """Another process has this journal open (one process per journal directory)."""

    def __init__(self, directory: Path, pid: int | None) -> None:
        holder = f"process {pid}" if pid else "another process"
        super().__init__(
            f"{directory} is in use by {holder} (one rail per data directory): stop it first, "
            "or give this one another --data"
        )
        self.directory = directory
        self.pid = pid


@runtime_checkable
class Journal(Protocol):
    """What the settlement core needs from a durable log (a file today, a replicated log later)."""

    async def append(self, records: list) -> int:
        """Make one batch durable; returns its sequence number (1, 2, 3, ...). Batches keep call order."""
        ...

    def append_blocking(self, records: list) -> int:
        """`append` for synchronous callers (start-up, tools)."""
        ...

    def replay(self, after_seq: int = 0) -> Iterator[tuple[int, list]]:
        """The durable batches with sequence > after_seq, in order."""
        ...

    def write_snapshot(self, state: bytes, seq: int) -> None:
        """Durably store the caller's state as of batch `seq` (older batches may then be dropped)."""
        ...

    async def snapshot_async(self, state: bytes, seq: int) -> None:
        """write_snapshot without blocking the event loop."""
        ...

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        """(sequence, state) of the newest snapshot, or None."""
        ...

    @property
    def last_seq(self) -> int:
        """Sequence of the last batch appended (0 when none)."""
        ...

    @property
    def snapshot_seq(self) -> int:
        """Sequence of the newest snapshot (0 when none)."""
        ...

    def close(self) -> None: ...


# ---- frames and snapshots as bytes (also the replicated journal's message format, rail/cluster/nats_journal.py) --------


def _frame_header(seq: int, payload: bytes | memoryview, prev_chain: int, kind: int = FRAME_BATCH) -> bytes:
    checked = _FRAME_CHECKED.pack(len(payload), seq, zlib.crc32(payload), prev_chain, kind, 0)
    return struct.pack("<I", zlib.crc32(checked)) + checked


def encode_frame(seq: int, payload: bytes, prev_chain: int = 0) -> bytes:
    """One batch frame as written to disk (and published by the replicated journal)."""
    return _frame_header(seq, payload, prev_chain) + payload


def frame_chain(frame: bytes | memoryview) -> int:
    """The chain value of a frame (what the next frame names as its previous chain)."""
    return _FRAME_HEADER.unpack_from(frame, 0)[0]


def frame_at(data: bytes | memoryview, offset: int) -> tuple[int, int] | None:
    """(sequence, end offset) of a complete, checksum-valid batch frame at `offset`, else None (its chain is
    not checked: the replicated journal orders messages by the stream's own sequence)."""
    frame = _Frame.parse(data, offset)
    if frame is None or frame.problem is not None or frame.kind != FRAME_BATCH:
        return None
    return frame.seq, frame.end


def encode_snapshot(
    state: bytes, seq: int, chain: int = 0, journal_id: bytes = bytes(JOURNAL_ID_BYTES)
) -> bytes:
    """A snapshot's header and state, as written to a file (or to the replicated journal's object store)."""
    head = _SNAPSHOT_HEADER.pack(
        SNAPSHOT_MAGIC, SNAPSHOT_FORMAT_VERSION, journal_id, seq, chain, len(state), zlib.crc32(state), 0
    )
    return head[:-4] + struct.pack("<I", zlib.crc32(head[:-4])) + state


class Snapshot(NamedTuple):
    seq: int
    chain: int
    journal_id: bytes
    state: bytes


def decode_snapshot(data: bytes, where: Path | str) -> Snapshot:
    """A snapshot's fields, checked; JournalCorruption naming `where` when anything is wrong."""
    size = _SNAPSHOT_HEADER.size
    if len(data) < size:
        raise JournalCorruption(
            where, 0, f"snapshot of {len(data)} bytes is shorter than its {size}-byte header"
        )
    magic, version, journal_id, seq, chain, length, state_crc, crc = _SNAPSHOT_HEADER.unpack_from(data, 0)
    if magic != SNAPSHOT_MAGIC:
        raise JournalCorruption(where, 0, f"not a snapshot: found {_describe(data[:size])}")
    if version != SNAPSHOT_FORMAT_VERSION:
        raise JournalCorruption(where, 4, _version_refusal("snapshot", version))
    if zlib.crc32(memoryview(data)[: size - 4]) != crc:
        raise JournalCorruption(where, 0, "snapshot header fails its checksum")
    state = data[size:]
    if len(state) != length or zlib.crc32(state) != state_crc:
        raise JournalCorruption(
            where, size, f"snapshot state fails its length/checksum check ({len(state)} of {length} bytes)"
        )
    return Snapshot(seq, chain, journal_id, state)


def _version_refusal(what: str, version: int) -> str:
    if version == 1:
        return (
            f"{what} is in journal format 1, which this rail no longer reads (format {FORMAT_VERSION} adds "
            "segment headers and a checksum chain); no format-1 journal was ever deployed, so there is no "
            "migration: start this rail on an empty --data directory"
        )
    return (
        f"{what} is in journal format {version}; this rail reads format {FORMAT_VERSION} only (a newer rail?)"
    )


def _describe(raw: bytes | memoryview) -> str:
    """What was found where a header should be, for a message an operator can act on."""
    raw = bytes(raw)
    if not raw.strip(b"\x00"):
        return f"{len(raw)} zero bytes (a zeroed region)"
    return f"bytes {raw[:16].hex()}{'...' if len(raw) > 16 else ''}"


class _Frame(NamedTuple):
    """One frame as found on disk: its fields, where it ends, and what is wrong with it (None: valid)."""

    chain: int
    length: int
    seq: int
    prev_chain: int
    kind: int
    end: int
    problem: str | None
    torn: bool  # incomplete at the end of the data: cut short by a write that never completed
    header_ok: bool = True  # the header is whole and checks (its seq and chain can be trusted)

    @classmethod
    def parse(cls, data: bytes | memoryview, offset: int) -> _Frame | None:
        """The frame at `offset`; None when no byte is left."""
        remaining = len(data) - offset
        if remaining <= 0:
            return None
        size = _FRAME_HEADER.size
        if remaining < size:
            return cls(0, 0, 0, 0, 0, len(data), f"{remaining} bytes, less than a frame header", True, False)
        chain, length, seq, payload_crc, prev_chain, kind, reserved = _FRAME_HEADER.unpack_from(data, offset)
        if zlib.crc32(memoryview(data)[offset + 4 : offset + size]) != chain or reserved != 0:
            found = _describe(memoryview(data)[offset : offset + size])
            return cls(
                0, 0, 0, 0, 0, offset + size, f"frame header fails its checksum: found {found}", False, False
            )
        if kind not in (FRAME_BATCH, FRAME_SEAL) or length > FRAME_PAYLOAD_BYTES_MAX:
            return cls(
                chain, length, seq, prev_chain, kind, offset + size, f"frame of unknown kind {kind}", False
            )
        end = offset + size + length
        if end > len(data):
            problem = f"batch {seq} needs {length} payload bytes, only {len(data) - offset - size} remain"
            return cls(chain, length, seq, prev_chain, kind, len(data), problem, True)
        if zlib.crc32(memoryview(data)[offset + size : end]) != payload_crc:
            return cls(
                chain, length, seq, prev_chain, kind, end, f"batch {seq} fails its payload checksum", False
            )
        return cls(chain, length, seq, prev_chain, kind, end, None, False)


def iter_frames(data: bytes | memoryview) -> Iterator[tuple[int, _Frame]]:
    """(offset, frame) of a segment's frames after its header, up to the first one with a problem (included)."""
    offset = _SEGMENT_HEADER.size
    while (frame := _Frame.parse(data, offset)) is not None:
        yield offset, frame
        if frame.problem is not None:
            return
        offset = frame.end


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
        sorted(int(m.group(1)) for m in map(_SNAPSHOT_NAME.match, names) if m) if use_snapshot else []
    )
    segment_seqs = sorted(int(m.group(1)) for m in map(_SEGMENT_NAME.match, names) if m)
    scan = _Scan(directory)
    if snapshot_seqs:
        scan.read_snapshot(directory / _snapshot_name(snapshot_seqs[-1]), snapshot_seqs[-1])
    highwater_damage = None
    if segment_seqs or snapshot_seqs:
        if HIGHWATER_NAME in names:
            highwater_damage = scan.read_highwater(directory / HIGHWATER_NAME)
        else:
            highwater_damage = Damage(directory / HIGHWATER_NAME, 0, "the high-water mark is missing "
                                      "(it is created with the journal)")  # fmt: skip
    elif HIGHWATER_NAME in names:  # a journal whose creation a crash interrupted: only its id matters
        with contextlib.suppress(JournalCorruption):
            scan.highwater_id = _read_highwater(directory / HIGHWATER_NAME)[2]
    if not segment_seqs and scan.snapshot is not None:
        scan.fail(directory, 0, f"a snapshot at batch {scan.snapshot.seq} exists but no journal segment does")
    for index, first_seq in enumerate(segment_seqs):
        if scan.damage is not None and not scan.damage.torn:
            break
        scan.segment(directory / _segment_name(first_seq), first_seq, is_last=index == len(segment_seqs) - 1)
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
            seq, chain, self.highwater_id = _read_highwater(path)
        except JournalCorruption as error:
            return Damage(path, error.offset, error.detail)
        if seq:
            self.checkpoints.append(_Checkpoint(seq, chain, path, f"the high-water mark {path.name}"))
        return None

    def segment(self, path: Path, first_seq: int, is_last: bool) -> None:
        data = path.read_bytes()
        if not self._segment_header(path, first_seq, data):
            return
        offset, seq, sealed = _SEGMENT_HEADER.size, first_seq - 1, False
        while self.damage is None or self.damage.torn:
            frame = _Frame.parse(data, offset)
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
                f"sealed at batch {seq}, but the segment that continues it ({_segment_name(seq + 1)}) is missing",
            )

    def _segment_header(self, path: Path, first_seq: int, data: bytes) -> bool:
        """Check a segment's header against everything verified before it; False (damage recorded) if bad."""
        size = _SEGMENT_HEADER.size
        if len(data) >= _V1_FRAME_HEADER.size and data[:4] != SEGMENT_MAGIC:
            length, crc, seq = _V1_FRAME_HEADER.unpack_from(data, 0)
            v1_end = _V1_FRAME_HEADER.size + length
            if seq == first_seq and v1_end <= len(data):
                payload = memoryview(data)[_V1_FRAME_HEADER.size : v1_end]
                if zlib.crc32(payload, zlib.crc32(struct.pack("<IQ", length, seq))) == crc:
                    self.fail(path, 0, _version_refusal("segment", 1))
                    return False
        if len(data) < size:
            self.fail(path, 0, f"segment of {len(data)} bytes is shorter than its {size}-byte header "
                               f"(found {_describe(data)}; segments are created whole)")  # fmt: skip
            return False
        magic, version, journal_id, stored_first, chain_in, crc = _SEGMENT_HEADER.unpack_from(data, 0)
        if magic != SEGMENT_MAGIC:
            self.fail(path, 0, f"not a journal segment: found {_describe(data[:size])}")
        elif version != FORMAT_VERSION:
            self.fail(path, 4, _version_refusal("segment", version))
        elif zlib.crc32(memoryview(data)[: size - 4]) != crc:
            self.fail(path, 0, f"segment header fails its checksum: found {_describe(data[:size])}")
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

    def _out_of_order(self, frame: _Frame, expected_seq: int) -> str | None:
        if frame.seq != expected_seq:
            return (
                f"frame has batch {frame.seq}, expected batch {expected_seq} (a missing or replayed region)"
            )
        if frame.prev_chain != self.chain:
            return f"batch {frame.seq} does not follow batch {expected_seq - 1} (the checksum chain breaks)"
        return None

    def _verified(self, frame: _Frame) -> None:
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


# ---- the journal ----------------------------------------------------------------------------------------------


class _Segment:
    __slots__ = ("first_seq", "last_seq", "path", "size")

    def __init__(self, path: Path, first_seq: int, last_seq: int, size: int) -> None:
        self.path = path
        self.first_seq = first_seq
        self.last_seq = last_seq  # first_seq - 1: no batch yet
        self.size = size


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_directory(directory: Path) -> int:
    """Take the directory's exclusive lock for the life of this process (or until the fd is closed); writes
    our pid into it. Raises JournalLocked naming the holder."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise JournalLocked(directory, int(text) if text.isdigit() else None) from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _write_whole(path: Path, data: bytes) -> None:
    """A file that exists with all of `data` or not at all: temp file, fsync, rename, directory fsync."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_directory(path.parent)


class FileJournal:
    """A `Journal` in a local directory. Create with `FileJournal.open(directory)`."""

    def __init__(self, directory: Path, *, fsync: bool, segment_bytes: int, record_type: Any) -> None:
        self.directory = directory
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self._codec = PayloadCodec(list if record_type is None else list[record_type])
        self._segments: list[_Segment] = []
        self._fd: int | None = None  # the last segment, open for appending
        self._lock_fd: int | None = None
        self._highwater_fd: int | None = None
        self._highwater_writes = 0
        self._highwater_s = 0.0  # monotonic time of the last high-water mark
        self.journal_id = b""
        self._snapshot_seq = 0
        self._next_seq = 1
        self._durable_seq = 0
        self._chain = 0  # the chain at the last batch written (the writer thread's)
        self._chains: deque[tuple[int, int]] = deque(maxlen=CHAINS_KEPT)
        self._failure: BaseException | None = None
        self._closed = False
        # Guards the segment list and the file descriptor between the writer thread and callers.
        self._lock = threading.Lock()
        # One thread: frames are written and synced strictly in the order append() was called.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-writer")
        self.truncated_bytes = 0  # size of the torn tail dropped by recovery (0 if none)
        self._recovered_snapshot: bytes | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike,
        *,
        fsync: bool = True,
        segment_bytes: int = SEGMENT_BYTES_DEFAULT,
        record_type: Any = None,
        identity_file: Path | None = None,
        journal_id: bytes | None = None,
    ) -> FileJournal:
        """Open (creating if needed), lock and recover the journal in `directory`.

        `record_type` (a msgspec type, e.g. a tagged union of Structs) makes replay decode typed records.
        `identity_file`: a file outside the directory recording the journal's id (the rail's data directory
        keeps one): if it names a journal and the directory holds none, or another one, opening fails
        instead of starting a new, empty history. `journal_id`: the id a NEW journal gets (default: random), so
        that a deterministic run (the simulator) writes the same segment headers every time. Raises
        JournalCorruption when data on disk is damaged, JournalLocked when another process has the journal open.
        """
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        journal = cls(path, fsync=fsync, segment_bytes=segment_bytes, record_type=record_type)
        if journal_id is not None and len(journal_id) != JOURNAL_ID_BYTES:
            raise ValueError(f"journal_id must be {JOURNAL_ID_BYTES} bytes")
        journal._lock_fd = lock_directory(path)
        try:
            journal._recover(identity_file, journal_id)
        except BaseException:
            journal.close()
            raise
        return journal

    def _recover(self, identity_file: Path | None, journal_id: bytes | None = None) -> None:
        for name in os.listdir(self.directory):
            if _TEMP_NAME.match(name):  # a segment or snapshot whose rename never happened
                log.warning("journal: removing %s (a file whose creation a crash interrupted)", name)
                (self.directory / name).unlink()
        expected_id = _read_identity(identity_file)
        report = inspect_journal(self.directory)
        if report.damage is not None and not report.damage.torn:
            raise report.damage.error()
        if expected_id is not None and report.journal_id != expected_id:
            found = f"journal {report.journal_id.hex()}" if report.journal_id else "no journal at all"
            raise JournalCorruption(
                self.directory, 0, f"{identity_file} names journal {expected_id.hex()}, the directory holds {found} "
                "(deleted or replaced?): refusing to start a new, empty history in its place",
            )  # fmt: skip
        if report.damage is not None:  # a torn tail: the one repair recovery makes on its own
            self._truncate_torn_tail(report)
        if report.snapshot is not None:
            self._snapshot_seq = report.snapshot.seq
            # Verified now rather than at the first read; kept for the latest_snapshot() that usually follows.
            self._recovered_snapshot = report.snapshot.state
        self._segments = [_Segment(s.path, s.first_seq, s.last_seq, s.valid_bytes) for s in report.segments]
        self._next_seq = report.last_good_seq + 1
        self._durable_seq = report.last_good_seq
        self._chain = report.chain
        self._chains.append((report.last_good_seq, report.chain))
        self._highwater_fd = os.open(self.directory / HIGHWATER_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        if self._segments:
            self.journal_id = report.journal_id
            self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)
        else:
            # The mark first (with the id a crash between the two left there, if any), then the first segment.
            self.journal_id = report.highwater_id or journal_id or os.urandom(JOURNAL_ID_BYTES)
            self._mark_highwater(sync=True)
            self._mark_highwater(sync=True)  # both slots valid from the start
            self._start_segment(1)
        if identity_file is not None and expected_id is None:
            _write_whole(identity_file, self.journal_id.hex().encode() + b"\n")

    def _truncate_torn_tail(self, report: JournalReport) -> None:
        damage = report.damage
        segment = report.segments[-1]
        self.truncated_bytes = segment.size - segment.valid_bytes
        log.warning(
            "journal: truncating %s from %d to %d bytes: %s at offset %d; batches 1..%d are intact and batch %d, "
            "whose write never completed, was never acknowledged",
            damage.path, segment.size, segment.valid_bytes, damage.detail, damage.offset,
            report.last_good_seq, report.last_good_seq + 1,
        )  # fmt: skip
        with open(segment.path, "r+b") as handle:
            handle.truncate(segment.valid_bytes)
            handle.flush()
            os.fsync(handle.fileno())

    # ------------------------------------------------------------------ appending

    @property
    def last_seq(self) -> int:
        """Sequence of the last batch appended (it may still be syncing)."""
        return self._next_seq - 1

    @property
    def durable_seq(self) -> int:
        """Sequence of the last batch known to be on disk."""
        return self._durable_seq

    @property
    def snapshot_seq(self) -> int:
        return self._snapshot_seq

    async def append(self, records: list) -> int:
        """Write one batch as one frame and fdatasync it; returns its sequence once durable."""
        seq, payload = self._prepare(records)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write, seq, payload)
        return seq

    def append_blocking(self, records: list) -> int:
        """`append` for synchronous callers (scripts, tools): same ordering and durability."""
        seq, payload = self._prepare(records)
        self._executor.submit(self._write, seq, payload).result()
        return seq

    def append_inline(self, records: list) -> int:
        """`append` written on the caller's own thread, for a single-threaded caller that must not let a thread
        decide when a batch is done (the simulator, rail/sim/journal.py): same frames, same durability."""
        seq, payload = self._prepare(records)
        self._write(seq, payload)
        return seq

    def _prepare(self, records: list) -> tuple[int, bytes]:
        if self._closed:
            raise JournalError("journal is closed")
        if self._failure is not None:
            raise JournalError(f"journal failed earlier and must be reopened: {self._failure!r}")
        if not isinstance(records, list):
            raise JournalError(f"a batch is a list of records, not {type(records).__name__}")
        payload = self._codec.encode(records)
        if len(payload) > FRAME_PAYLOAD_BYTES_MAX:
            raise JournalError(
                f"batch of {len(payload)} bytes exceeds FRAME_PAYLOAD_BYTES_MAX={FRAME_PAYLOAD_BYTES_MAX}"
            )
        seq = self._next_seq
        self._next_seq += 1
        return seq, payload

    def _write(self, seq: int, payload: bytes) -> None:
        """On the writer thread: checksums (zlib releases the GIL for large buffers), write, sync."""
        with self._lock:
            if self._failure is not None:
                raise JournalError(f"journal failed earlier and must be reopened: {self._failure!r}")
            segment = self._segments[-1]
            try:
                if segment.size >= self.segment_bytes and segment.last_seq >= segment.first_seq:
                    segment = self._rotate(seq)
                header = _frame_header(seq, payload, self._chain)
                self._write_all([header, payload])
                if self.fsync:
                    os.fdatasync(self._fd)
            except BaseException as error:
                # Never acknowledged: take the partial frame back off the file if the disk lets us (a torn tail
                # recovery would truncate anyway); no further batch may be written after it.
                self._failure = error
                _truncate_quietly(self._fd, segment.size)
                raise
            segment.size += len(header) + len(payload)
            segment.last_seq = seq
            self._chain = frame_chain(header)
            self._chains.append((seq, self._chain))
            self._durable_seq = seq
            if time.monotonic() - self._highwater_s >= HIGHWATER_EVERY_S:
                self._mark_highwater(sync=self.fsync)

    def _mark_highwater(self, sync: bool) -> None:
        """Record the last durable batch outside the segments, in the older of two slots (a torn write of one
        leaves the other)."""
        slot = _highwater_slot(self._durable_seq, self._chain, self.journal_id)
        os.pwrite(self._highwater_fd, slot, (self._highwater_writes % 2) * len(slot))
        if sync:
            os.fdatasync(self._highwater_fd)
        self._highwater_writes += 1
        self._highwater_s = time.monotonic()

    def _write_all(self, parts: list[bytes]) -> None:
        total = sum(map(len, parts))
        written = os.writev(self._fd, parts)
        if written != total:  # short write: finish the rest byte-exactly
            rest = b"".join(parts)[written:]
            while rest:
                rest = rest[os.write(self._fd, rest) :]

    def _rotate(self, next_seq: int) -> _Segment:
        """Start the segment for `next_seq`, then seal the current one: a sealed segment always has a successor
        on disk, so a sealed last segment tells recovery that one was lost."""
        old = self._segments[-1]
        old_fd = self._fd
        new = self._start_segment(next_seq)
        seal = _frame_header(next_seq, b"", self._chain, FRAME_SEAL)
        try:
            if os.write(old_fd, seal) != len(seal):
                raise OSError(errno.ENOSPC, "short write of a segment seal")
            os.fdatasync(old_fd)
        except BaseException:
            # Back to the state before the rotation: the old segment, unsealed, is the last one again.
            _truncate_quietly(old_fd, old.size)
            os.close(self._fd)
            self._fd = old_fd
            self._segments.pop()
            new.path.unlink(missing_ok=True)
            raise
        os.close(old_fd)
        old.size += len(seal)
        return new

    def _start_segment(self, first_seq: int) -> _Segment:
        path = self.directory / _segment_name(first_seq)
        head = _SEGMENT_HEADER.pack(SEGMENT_MAGIC, FORMAT_VERSION, self.journal_id, first_seq, self._chain, 0)
        _write_whole(path, head[:-4] + struct.pack("<I", zlib.crc32(head[:-4])))
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        segment = _Segment(path, first_seq, first_seq - 1, _SEGMENT_HEADER.size)
        self._segments.append(segment)
        return segment

    # ------------------------------------------------------------------ reading

    def replay(self, after_seq: int = 0) -> Iterator[tuple[int, list]]:
        """Yield (sequence, records) for every durable batch with sequence > after_seq, in order; every frame
        is checked again (seq, chain, checksums) as it is read."""
        decode = self._codec.decode
        with self._lock:
            segments = [(s.path, s.first_seq, s.last_seq, s.size) for s in self._segments]
        chain = None
        for path, first_seq, last_seq, size in segments:
            if last_seq <= after_seq:
                chain = None  # taken from the next segment's header (recovery checked they continue)
                continue
            with open(path, "rb") as handle:
                data = handle.read(size)
            chain = _SEGMENT_HEADER.unpack_from(data, 0)[4] if chain is None else chain
            offset, seq = _SEGMENT_HEADER.size, first_seq - 1
            while seq < last_seq:
                frame = _Frame.parse(data, offset)
                if frame is None or frame.problem or frame.seq != seq + 1 or frame.prev_chain != chain:
                    raise JournalCorruption(path, offset, f"batch {seq + 1} changed on disk since recovery")
                seq, chain, offset = frame.seq, frame.chain, frame.end
                if seq > after_seq:
                    yield seq, decode(memoryview(data)[frame.end - frame.length : frame.end])

    # ------------------------------------------------------------------ snapshots

    def write_snapshot(self, state: bytes, seq: int) -> None:
        """Atomically store `state` as of batch `seq`, then drop what it makes redundant.

        Call it once batch `seq` is durable (after its append returned); blocking, see snapshot_async.
        """
        # A snapshot ahead of the durable log would let recovery continue the sequence past a gap.
        if seq > self._durable_seq:
            raise JournalError(
                f"snapshot at batch {seq}, but only batches up to {self._durable_seq} are durable"
            )
        with self._lock:
            chain = next((c for s, c in reversed(self._chains) if s == seq), None)
        if chain is None:
            raise JournalError(f"snapshot at batch {seq}: too old, its chain is no longer known")
        _write_whole(
            self.directory / _snapshot_name(seq), encode_snapshot(state, seq, chain, self.journal_id)
        )
        with self._lock:
            self._snapshot_seq = max(self._snapshot_seq, seq)
            self._recovered_snapshot = None
            # A segment can go once every batch in it is covered by the snapshot and it is not the one
            # being appended to.
            keep_from = 0
            while (
                keep_from < len(self._segments) - 1
                and self._segments[keep_from].last_seq <= self._snapshot_seq
            ):
                keep_from += 1
            obsolete, self._segments = self._segments[:keep_from], self._segments[keep_from:]
        for segment in obsolete:
            segment.path.unlink(missing_ok=True)
        for match in map(_SNAPSHOT_NAME.match, os.listdir(self.directory)):
            if match and int(match.group(1)) < self._snapshot_seq:
                (self.directory / match.group(0)).unlink(missing_ok=True)

    async def snapshot_async(self, state: bytes, seq: int) -> None:
        """write_snapshot on the writer thread: the event loop keeps running meanwhile."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self.write_snapshot, state, seq)

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        if self._snapshot_seq == 0:
            return None
        state, self._recovered_snapshot = self._recovered_snapshot, None
        if state is None:
            path = self.directory / _snapshot_name(self._snapshot_seq)
            state = decode_snapshot(path.read_bytes(), path).state
        return self._snapshot_seq, state

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Wait for in-flight batches, then release the files and the lock. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        with self._lock:
            if self._highwater_fd is not None:
                if self._failure is None and self.journal_id:
                    try:
                        self._mark_highwater(sync=True)
                    except OSError as error:  # a failing disk: the mark only guards, the batches are synced
                        log.warning("journal: final high-water mark not written: %r", error)
                os.close(self._highwater_fd)
                self._highwater_fd = None
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _truncate_quietly(fd: int | None, size: int) -> None:
    """Take a failed write back off the file (to `size`): logged, as every truncation is."""
    if fd is None:
        return
    try:
        written = os.fstat(fd).st_size
        os.ftruncate(fd, size)
    except OSError as error:  # the disk is failing: recovery will see the torn tail instead
        log.warning("journal: could not take a failed write back off the file: %r", error)
        return
    if written != size:
        log.warning(
            "journal: truncated a failed write from %d back to %d bytes (never acknowledged)", written, size
        )


def _highwater_slot(seq: int, chain: int, journal_id: bytes) -> bytes:
    body = _HIGHWATER_SLOT.pack(seq, chain, journal_id, 0)[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def _read_highwater(path: Path) -> tuple[int, int, bytes]:
    """(seq, chain, journal id) of the newest valid slot of the two. A crash can tear the slot being written,
    never both: two bad slots are damage."""
    data = path.read_bytes()
    size = _HIGHWATER_SLOT.size
    valid = []
    for offset in (0, size):
        slot = data[offset : offset + size]
        if len(slot) == size and zlib.crc32(slot[:-4]) == _HIGHWATER_SLOT.unpack(slot)[3]:
            valid.append(_HIGHWATER_SLOT.unpack(slot)[:3])
    if not valid:
        raise JournalCorruption(
            path, 0, f"both high-water mark slots fail their checksum: found {_describe(data[: 2 * size])}"
        )
    return max(valid)


def _read_identity(identity_file: Path | None) -> bytes | None:
    if identity_file is None or not identity_file.exists():
        return None
    text = identity_file.read_text(encoding="ascii", errors="replace").strip()
    try:
        journal_id = bytes.fromhex(text)
    except ValueError:
        journal_id = b""
    if len(journal_id) != JOURNAL_ID_BYTES:
        raise JournalCorruption(identity_file, 0, f"not a journal id: found {_describe(text.encode()[:64])}")
    return journal_id


def _segment_name(first_seq: int) -> str:
    return f"wal-{first_seq:020d}.log"


def _snapshot_name(seq: int) -> str:
    return f"snapshot-{seq:020d}.snap"
