"""Append-only write-ahead journal of batches, with snapshots and crash recovery.

Generic: it stores lists of msgpack-encodable records and knows nothing about what they mean.

On disk (one directory):
- `wal-<first sequence, 20 digits>.log` segments of frames. A frame is one batch:
  `<u32 payload length><u32 CRC32><u64 sequence><payload: msgpack list of records>`; the CRC covers the
  length, the sequence and the payload (see PayloadCodec for batches holding u128 integers). Sequences
  start at 1 and increase by exactly one per batch.
- `snapshot-<sequence, 20 digits>.snap`: the caller's state after batch `sequence`
  (`<magic><u32 version><u64 sequence><u64 length><u32 CRC32>` then the state bytes), written atomically
  (temp file, fsync, rename, directory fsync). Segments wholly covered by the newest snapshot are deleted.

Recovery on open: check the newest snapshot, scan every segment, verify each frame. Bytes after the last
valid frame of the last segment that are not followed by any valid later frame are a torn tail (a batch
whose write never completed, so it was never acknowledged): they are truncated. A bad frame with valid
frames after it is corruption of acknowledged data: opening fails with `JournalCorruption` naming the file
and offset; nothing is skipped silently.

Durability: `append` returns only after the frame is written and fdatasync'ed. The write and the sync run
in one dedicated worker thread, so the event loop keeps accepting work while the disk syncs, and batches
reach the disk in the order `append` was called. `fsync=False` is the benchmark-only mode that skips the
per-batch fdatasync (a crash may then lose acknowledged batches).
"""

from __future__ import annotations

import asyncio
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import msgspec

SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024
#: One batch of 8,192 transfers is about 1.2 MB; anything near this limit is a bug upstream.
FRAME_PAYLOAD_BYTES_MAX = 128 * 1024 * 1024
#: How many later batches recovery looks for after a bad frame to tell corruption from a torn tail.
RECOVERY_LOOKAHEAD_BATCHES = 64
#: Candidate positions examined per looked-for sequence (false matches of 8 bytes inside payloads).
RECOVERY_CANDIDATES_MAX = 10_000
SNAPSHOT_MAGIC = b"RSNP"
SNAPSHOT_FORMAT_VERSION = 1

_FRAME_HEADER = struct.Struct("<IIQ")  # payload length, crc32, sequence
_CRC_PREFIX = struct.Struct("<IQ")  # what the CRC covers before the payload: length, sequence
_SEQUENCE = struct.Struct("<Q")
_SNAPSHOT_HEADER = struct.Struct("<4sIQQI")  # magic, version, sequence, length, crc32
_SEGMENT_NAME = re.compile(r"^wal-(\d{20})\.log$")
_SNAPSHOT_NAME = re.compile(r"^snapshot-(\d{20})\.snap$")


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
    """Acknowledged data on disk is damaged; recovery refuses to guess."""

    def __init__(self, path: Path, offset: int, detail: str) -> None:
        super().__init__(f"journal corrupted: {path} at offset {offset}: {detail}")
        self.path = path
        self.offset = offset
        self.detail = detail


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


def _frame_crc(length: int, seq: int, payload: bytes | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(_CRC_PREFIX.pack(length, seq)))


def encode_frame(seq: int, payload: bytes) -> bytes:
    """One frame as written to disk (exposed for tests that build journals by hand)."""
    return _FRAME_HEADER.pack(len(payload), _frame_crc(len(payload), seq, payload), seq) + payload


def _frame_at(data: bytes, offset: int) -> tuple[int, int] | None:
    """(sequence, end offset) of a valid frame starting at `offset`, else None."""
    header_end = offset + _FRAME_HEADER.size
    if offset < 0 or header_end > len(data):
        return None
    length, crc, seq = _FRAME_HEADER.unpack_from(data, offset)
    end = header_end + length
    if length > FRAME_PAYLOAD_BYTES_MAX or end > len(data):
        return None
    if _frame_crc(length, seq, memoryview(data)[header_end:end]) != crc:
        return None
    return seq, end


def _valid_frame_after(data: bytes, offset: int, seq_from: int) -> int | None:
    """Offset of a valid frame after `offset` whose sequence is one of the next few, else None."""
    sequence_field = _FRAME_HEADER.size - _SEQUENCE.size
    for seq in range(seq_from, seq_from + RECOVERY_LOOKAHEAD_BATCHES):
        needle = _SEQUENCE.pack(seq)
        position = data.find(needle, offset + 1)
        for _ in range(RECOVERY_CANDIDATES_MAX):
            if position < 0:
                break
            start = position - sequence_field
            if start > offset:
                frame = _frame_at(data, start)
                if frame is not None and frame[0] == seq:
                    return start
            position = data.find(needle, position + 1)
    return None


class _Segment:
    __slots__ = ("first_seq", "last_seq", "path", "size")

    def __init__(self, path: Path, first_seq: int) -> None:
        self.path = path
        self.first_seq = first_seq
        self.last_seq = first_seq - 1  # no batch yet
        self.size = 0


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileJournal:
    """A `Journal` in a local directory. Create with `FileJournal.open(directory)`."""

    def __init__(self, directory: Path, *, fsync: bool, segment_bytes: int, record_type: Any) -> None:
        self.directory = directory
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self._codec = PayloadCodec(list if record_type is None else list[record_type])
        self._segments: list[_Segment] = []
        self._fd: int | None = None  # the last segment, open for appending
        self._snapshot_seq = 0
        self._next_seq = 1
        self._durable_seq = 0
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
    ) -> FileJournal:
        """Open (creating if needed) and recover the journal in `directory`.

        `record_type` (a msgspec type, e.g. a tagged union of Structs) makes replay decode typed records.
        Raises JournalCorruption when acknowledged data is damaged.
        """
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        journal = cls(path, fsync=fsync, segment_bytes=segment_bytes, record_type=record_type)
        journal._recover()
        return journal

    def _recover(self) -> None:
        for leftover in self.directory.glob("*.tmp"):
            leftover.unlink()  # a snapshot whose rename never happened
        snapshots = sorted(
            int(m.group(1)) for m in map(_SNAPSHOT_NAME.match, os.listdir(self.directory)) if m
        )
        if snapshots:
            self._snapshot_seq = snapshots[-1]
            # Verified now rather than at the first read; kept for the latest_snapshot() that usually follows.
            self._recovered_snapshot = self._read_snapshot(self._snapshot_seq)
        segment_seqs = sorted(
            int(m.group(1)) for m in map(_SEGMENT_NAME.match, os.listdir(self.directory)) if m
        )
        expected_seq = segment_seqs[0] if segment_seqs else self._snapshot_seq + 1
        if expected_seq > self._snapshot_seq + 1:
            raise JournalCorruption(
                self.directory / _segment_name(expected_seq),
                0,
                f"batches {self._snapshot_seq + 1}..{expected_seq - 1} are missing "
                f"(newest snapshot is at batch {self._snapshot_seq})",
            )
        for index, first_seq in enumerate(segment_seqs):
            segment = _Segment(self.directory / _segment_name(first_seq), first_seq)
            if first_seq != expected_seq:
                raise JournalCorruption(
                    segment.path, 0, f"segment starts at batch {first_seq}, expected batch {expected_seq}"
                )
            is_last = index == len(segment_seqs) - 1
            self._scan_segment(segment, is_last=is_last)
            if is_last and segment.size == 0:
                # Nothing durable in it (created, then the first write was torn): the next append creates
                # a segment named after its own first batch.
                segment.path.unlink()
                _fsync_directory(self.directory)
                continue
            self._segments.append(segment)
            expected_seq = segment.last_seq + 1
        self._next_seq = max(expected_seq, self._snapshot_seq + 1)
        self._durable_seq = self._next_seq - 1
        if self._segments:
            self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)

    def _scan_segment(self, segment: _Segment, *, is_last: bool) -> None:
        data = segment.path.read_bytes()
        offset = 0
        expected_seq = segment.first_seq
        while offset < len(data):
            frame = _frame_at(data, offset)
            if frame is not None and frame[0] == expected_seq:
                segment.last_seq = expected_seq
                expected_seq += 1
                offset = frame[1]
                continue
            if frame is not None:
                raise JournalCorruption(
                    segment.path, offset, f"batch has sequence {frame[0]}, expected {expected_seq}"
                )
            later = _valid_frame_after(data, offset, expected_seq + 1)
            if later is not None or not is_last:
                where = (
                    f"valid batches follow at offset {later}"
                    if later is not None
                    else "a later segment exists"
                )
                raise JournalCorruption(
                    segment.path,
                    offset,
                    f"batch {expected_seq} fails its length/CRC check and {where}: refusing to skip it",
                )
            # Torn tail: the last write never completed, so its batch was never acknowledged.
            self.truncated_bytes = len(data) - offset
            with open(segment.path, "r+b") as handle:
                handle.truncate(offset)
                handle.flush()
                os.fsync(handle.fileno())
            break
        segment.size = offset

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
        seq, frame = self._prepare(records)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write, seq, frame)
        return seq

    def append_blocking(self, records: list) -> int:
        """`append` for synchronous callers (scripts, tools): same ordering and durability."""
        seq, frame = self._prepare(records)
        self._executor.submit(self._write, seq, frame).result()
        return seq

    def _prepare(self, records: list) -> tuple[int, list[bytes]]:
        if self._closed:
            raise JournalError("journal is closed")
        if self._failure is not None:
            raise JournalError(f"journal failed earlier and must be reopened: {self._failure!r}")
        if not isinstance(records, list):
            raise JournalError(f"a batch is a list of records, not {type(records).__name__}")
        payload = self._codec.encode(records)
        length = len(payload)
        if length > FRAME_PAYLOAD_BYTES_MAX:
            raise JournalError(
                f"batch of {length} bytes exceeds FRAME_PAYLOAD_BYTES_MAX={FRAME_PAYLOAD_BYTES_MAX}"
            )
        seq = self._next_seq
        self._next_seq += 1
        header = _FRAME_HEADER.pack(length, _frame_crc(length, seq, payload), seq)
        return seq, [header, payload]

    def _write(self, seq: int, frame: list[bytes]) -> None:
        with self._lock:
            if self._failure is not None:
                raise JournalError(f"journal failed earlier and must be reopened: {self._failure!r}")
            try:
                segment = self._segments[-1] if self._segments else None
                if segment is None or (segment.size >= self.segment_bytes and segment.size > 0):
                    segment = self._start_segment(seq)
                total = len(frame[0]) + len(frame[1])
                written = os.writev(self._fd, frame)
                if written != total:  # short write: finish the rest byte-exactly
                    rest = (frame[0] + frame[1])[written:]
                    while rest:
                        rest = rest[os.write(self._fd, rest) :]
                if self.fsync:
                    os.fdatasync(self._fd)
                segment.size += total
                segment.last_seq = seq
                self._durable_seq = seq
            except BaseException as error:
                # The file may now end in a partial frame: recovery on reopen truncates it. Until then no
                # further batch may be written after it.
                self._failure = error
                raise

    def _start_segment(self, first_seq: int) -> _Segment:
        if self._fd is not None:
            if self.fsync:
                os.fdatasync(self._fd)
            os.close(self._fd)
            self._fd = None
        segment = _Segment(self.directory / _segment_name(first_seq), first_seq)
        self._fd = os.open(segment.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        _fsync_directory(self.directory)  # the new file's name must survive a crash too
        self._segments.append(segment)
        return segment

    # ------------------------------------------------------------------ reading

    def replay(self, after_seq: int = 0) -> Iterator[tuple[int, list]]:
        """Yield (sequence, records) for every durable batch with sequence > after_seq, in order."""
        decode = self._codec.decode
        with self._lock:
            segments = [(s.path, s.first_seq, s.last_seq, s.size) for s in self._segments]
        for path, first_seq, last_seq, size in segments:
            if last_seq <= after_seq:
                continue
            with open(path, "rb") as handle:
                data = handle.read(size)
            view = memoryview(data)
            offset = 0
            expected_seq = first_seq
            while offset < size:
                frame = _frame_at(data, offset)
                if frame is None or frame[0] != expected_seq:
                    raise JournalCorruption(
                        path, offset, f"batch {expected_seq} changed on disk since recovery"
                    )
                seq, end = frame
                if seq > after_seq:
                    yield seq, decode(view[offset + _FRAME_HEADER.size : end])
                offset = end
                expected_seq += 1

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
        final = self.directory / _snapshot_name(seq)
        temporary = final.with_name(final.name + ".tmp")
        header = _SNAPSHOT_HEADER.pack(
            SNAPSHOT_MAGIC, SNAPSHOT_FORMAT_VERSION, seq, len(state), zlib.crc32(state)
        )
        with open(temporary, "wb") as handle:
            handle.write(header)
            handle.write(state)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        _fsync_directory(self.directory)
        with self._lock:
            previous = self._snapshot_seq
            self._snapshot_seq = max(previous, seq)
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
        return self._snapshot_seq, state if state is not None else self._read_snapshot(self._snapshot_seq)

    def _read_snapshot(self, seq: int) -> bytes:
        path = self.directory / _snapshot_name(seq)
        data = path.read_bytes()
        if len(data) < _SNAPSHOT_HEADER.size:
            raise JournalCorruption(path, 0, "snapshot shorter than its header")
        magic, version, stored_seq, length, crc = _SNAPSHOT_HEADER.unpack_from(data, 0)
        state = data[_SNAPSHOT_HEADER.size :]
        if magic != SNAPSHOT_MAGIC or version != SNAPSHOT_FORMAT_VERSION or stored_seq != seq:
            raise JournalCorruption(path, 0, "snapshot header is not valid")
        if len(state) != length or zlib.crc32(state) != crc:
            raise JournalCorruption(path, _SNAPSHOT_HEADER.size, "snapshot length/CRC check failed")
        return state

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Wait for in-flight batches, then release the file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _segment_name(first_seq: int) -> str:
    return f"wal-{first_seq:020d}.log"


def _snapshot_name(seq: int) -> str:
    return f"snapshot-{seq:020d}.snap"
