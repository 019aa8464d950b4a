"""Append-only write-ahead journal of batches, with snapshots and crash recovery that never guesses.

Generic: it stores lists of msgpack-encodable records and knows nothing about what they mean.

The on-disk format is rail/settlement/journal_format.py's; the checks recovery runs, rail/settlement/journal_scan.py's.

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
import errno
import fcntl
import logging
import os
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future as ThreadFuture
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Protocol, Self, runtime_checkable

log = logging.getLogger(__name__)

from rail.settlement import snapshot_child
from rail.settlement.journal_format import (
    CHAINS_KEPT,
    FORMAT_VERSION,
    FRAME_PAYLOAD_BYTES_MAX,
    FRAME_SEAL,
    HIGHWATER_EVERY_S,
    HIGHWATER_NAME,
    JOURNAL_ID_BYTES,
    LOCK_NAME,
    SEGMENT_BYTES_DEFAULT,
    SEGMENT_HEADER,
    SEGMENT_MAGIC,
    SNAPSHOT_NAME,
    TEMP_NAME,
    Frame,
    JournalCorruption,
    JournalError,
    JournalLocked,
    PayloadCodec,
    decode_snapshot,
    encode_snapshot,
    frame_chain,
    frame_header,
    highwater_slot,
    read_identity,
    segment_name,
    snapshot_header,
    snapshot_name,
)
from rail.settlement.journal_scan import (
    JournalReport,
    inspect_journal,
)


@runtime_checkable
class Journal(Protocol):
    """What the settlement core needs from a durable log (a file today, a replicated log later)."""

    def append(self, records: list) -> Awaitable[int]:
        """Make one batch durable; awaited, its sequence number (1, 2, 3, ...). Batches keep call order. A
        coroutine or a future: the file journal returns its loop's future, the replicated one is a coroutine."""
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

    def start_snapshot(self, encode_state: Callable[[], bytes], seq: int) -> Awaitable[None]:
        """Begin storing the state `encode_state()` gives as of batch `seq`, now durable; the caller may change
        its state as soon as this returns (the state is encoded before, or in an image of the process taken
        now). Awaited: done once the snapshot is durable."""
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


# ---- the journal ----------------------------------------------------------------------------------------------


class _Segment:
    __slots__ = ("first_seq", "last_seq", "path", "size")

    def __init__(self, path: Path, first_seq: int, last_seq: int, size: int) -> None:
        self.path = path
        self.first_seq = first_seq
        self.last_seq = last_seq  # first_seq - 1: no batch yet
        self.size = size


def fsync_directory(directory: Path) -> None:
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


def _write_whole(path: Path, *parts: bytes) -> None:
    """A file that exists with all of `parts` or not at all: temp file, fsync, rename, directory fsync."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.writelines(parts)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_directory(path.parent)


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
        self._writer = _Writer()
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
            if TEMP_NAME.match(name):  # a segment or snapshot whose rename never happened
                log.warning("journal: removing %s (a file whose creation a crash interrupted)", name)
                (self.directory / name).unlink()
        expected_id = read_identity(identity_file)
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

    def append(self, records: list) -> asyncio.Future[int]:
        """Write one batch as one frame and fdatasync it; the future (await it) gives its sequence once durable.

        A plain function returning the loop's future, not a coroutine: the settlement core appends once a batch,
        and a task plus an executor's wrapped future cost more of the event loop's thread than the write itself."""
        seq, payload = self._prepare(records)
        return self._writer.run_async(self._write_returning, seq, payload)

    def append_blocking(self, records: list) -> int:
        """`append` for synchronous callers (scripts, tools): same ordering and durability."""
        seq, payload = self._prepare(records)
        return self._writer.run_blocking(self._write_returning, seq, payload)

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

    def _write_returning(self, seq: int, payload: bytes) -> int:
        self._write(seq, payload)
        return seq

    def _write(self, seq: int, payload: bytes) -> None:
        """On the writer thread: checksums (zlib releases the GIL for large buffers), write, sync."""
        with self._lock:
            if self._failure is not None:
                raise JournalError(f"journal failed earlier and must be reopened: {self._failure!r}")
            segment = self._segments[-1]
            try:
                if segment.size >= self.segment_bytes and segment.last_seq >= segment.first_seq:
                    segment = self._rotate(seq)
                header = frame_header(seq, payload, self._chain)
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
        slot = highwater_slot(self._durable_seq, self._chain, self.journal_id)
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
        seal = frame_header(next_seq, b"", self._chain, FRAME_SEAL)
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
        path = self.directory / segment_name(first_seq)
        head = SEGMENT_HEADER.pack(SEGMENT_MAGIC, FORMAT_VERSION, self.journal_id, first_seq, self._chain, 0)
        _write_whole(path, head[:-4] + struct.pack("<I", zlib.crc32(head[:-4])))
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        segment = _Segment(path, first_seq, first_seq - 1, SEGMENT_HEADER.size)
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
            chain = SEGMENT_HEADER.unpack_from(data, 0)[4] if chain is None else chain
            offset, seq = SEGMENT_HEADER.size, first_seq - 1
            while seq < last_seq:
                frame = Frame.parse(data, offset)
                if frame is None or frame.problem or frame.seq != seq + 1 or frame.prev_chain != chain:
                    raise JournalCorruption(path, offset, f"batch {seq + 1} changed on disk since recovery")
                seq, chain, offset = frame.seq, frame.chain, frame.end
                if seq > after_seq:
                    yield seq, decode(memoryview(data)[frame.end - frame.length : frame.end])

    # ------------------------------------------------------------------ snapshots

    def write_snapshot(self, state: bytes, seq: int) -> None:
        """Atomically store `state` as of batch `seq`, then drop what it makes redundant.

        Call it once batch `seq` is durable (after its append returned); blocking, see start_snapshot.
        """
        chain = self._snapshot_chain(seq)
        _write_whole(self.directory / snapshot_name(seq), encode_snapshot(state, seq, chain, self.journal_id))
        self._snapshot_written(seq)

    def start_snapshot(self, encode_state: Callable[[], bytes], seq: int) -> asyncio.Future[None]:
        """The snapshot written by a forked child (rail/settlement/snapshot_child.py): the caller's loop goes on
        at once, whatever the state's size. Where a process cannot fork so, the state is encoded now and written
        on the writer thread."""
        if not snapshot_child.available():
            return asyncio.ensure_future(self.snapshot_async(encode_state(), seq))
        chain = self._snapshot_chain(seq)
        path, journal_id = self.directory / snapshot_name(seq), self.journal_id

        def write() -> None:  # in the child
            state = encode_state()
            _write_whole(path, snapshot_header(state, seq, chain, journal_id), state)

        return asyncio.ensure_future(self._after_child(snapshot_child.run_in_child(write), seq))

    async def _after_child(self, written: asyncio.Future[None], seq: int) -> None:
        await written
        await self._writer.run_async(self._snapshot_written, seq)  # the segment list changes on the writer thread

    def _snapshot_chain(self, seq: int) -> int:
        # A snapshot ahead of the durable log would let recovery continue the sequence past a gap.
        if seq > self._durable_seq:
            raise JournalError(
                f"snapshot at batch {seq}, but only batches up to {self._durable_seq} are durable"
            )
        with self._lock:
            chain = next((c for s, c in reversed(self._chains) if s == seq), None)
        if chain is None:
            raise JournalError(f"snapshot at batch {seq}: too old, its chain is no longer known")
        return chain

    def _snapshot_written(self, seq: int) -> None:
        """Snapshot `seq` is durable: it is the newest, and what it covers goes."""
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
        for match in map(SNAPSHOT_NAME.match, os.listdir(self.directory)):
            if match and int(match.group(1)) < self._snapshot_seq:
                (self.directory / match.group(0)).unlink(missing_ok=True)

    async def snapshot_async(self, state: bytes, seq: int) -> None:
        """write_snapshot on the writer thread: the event loop keeps running meanwhile."""
        await self._writer.run_async(self.write_snapshot, state, seq)

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        if self._snapshot_seq == 0:
            return None
        state, self._recovered_snapshot = self._recovered_snapshot, None
        if state is None:
            path = self.directory / snapshot_name(self._snapshot_seq)
            state = decode_snapshot(path.read_bytes(), path).state
        return self._snapshot_seq, state

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Wait for in-flight batches, then release the files and the lock. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._writer.stop()
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


class _Writer:
    """The journal's one writer thread: runs what it is given in call order, then tells the caller, on the
    caller's event loop (`run_async`) or by a blocking wait (`run_blocking`). Started at the first use."""

    def __init__(self) -> None:
        self._queue: SimpleQueue = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def run_async(self, function, *args) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put((function, args, loop, future))
        return future

    def run_blocking(self, function, *args):
        future: ThreadFuture = ThreadFuture()
        self._put((function, args, None, future))
        return future.result()

    def _put(self, item: tuple) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
                    self._thread.start()
        self._queue.put(item)

    def stop(self) -> None:
        """Run what is queued, then end the thread (waits for it)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _run(self) -> None:
        get = self._queue.get
        while (item := get()) is not None:
            function, args, loop, future = item
            try:
                result, error = function(*args), None
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, whose await raises it
                result, error = None, exc
            if loop is None:
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(error)
                continue
            try:
                loop.call_soon_threadsafe(_settle, future, result, error)
            except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
                pass


def _settle(future: asyncio.Future, result: object, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


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


