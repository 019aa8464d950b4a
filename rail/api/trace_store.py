"""The message traces on disk: segments of CRC'd frames in DATA/traces/, an index by UETR in memory, a bounded
retention (bytes and age), and the last refusals nobody could key by a UETR, per participant.

A frame is what one flush of the trace writer wrote (at most FRAME_RECORDS_MAX records):

    header  <u32 index length><u32 records length><u32 crc32 of both><u64 seq of the first record>
    index   msgpack [[uetr or "", participant, unmatched?], ...]   one per record: what a start reads to
    records msgpack [TraceRecord, ...]                              rebuild the index, skipping the records

A start reads every header and index (not the records) to rebuild the in-memory index; an incomplete last frame
(the process died mid-write) is cut off. Traces are diagnostics, not the books: a damaged frame elsewhere is
reported in the log and the rest of its segment ignored, and the rail starts. Frames are written by the trace
writer (rail/api/traces.py) in a worker thread; fsync'd when a segment is closed and every FSYNC_EVERY_S, so a
killed process loses at most what was not yet written (one flush interval), a crashed machine a few seconds.

Retention: segments of SEGMENT_BYTES at most; the oldest go when the total exceeds `bytes_max`, when their
newest record is older than `age_s`, or when the index holds INDEX_UETRS_MAX payments.
"""

from __future__ import annotations

import logging
import os
import struct
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)

TRACES_BYTES_MAX_DEFAULT = 256 << 20
TRACES_AGE_S_DEFAULT = 7 * 86_400.0
SEGMENT_BYTES_MAX = 16 << 20
SEGMENT_BYTES_MIN = 64 << 10
FRAME_RECORDS_MAX = 1_024
INDEX_UETRS_MAX = 2_000_000  # payments the index knows at most (~150 bytes each)
UNMATCHED_PER_PARTICIPANT = 100  # refusals kept per participant that no UETR could be read from
FSYNC_EVERY_S = 5.0
_HEADER = struct.Struct("<IIIQ")
_SUFFIX = ".trace"


class TraceRecord(msgspec.Struct, array_like=True, gc=False):
    """One message in or out of the rail, as the participant's side saw it."""

    at_ns: int
    participant: str  # the participant that sent it (direction in) or received it (out)
    direction: str  # "in": to the rail; "out": from the rail
    channel: str  # "request" | "inbox" | "webhook" | "in-process"
    msg_type: str  # "pacs.008", ... ("unknown" when unreadable)
    rendering: str  # "xml" | "json" | "msgpack" (a struct the sender handed over) | "" (no body)
    http_status: int  # 0: none (not reached)
    duration_us: int  # of the exchange it travelled in; -1: not measured
    uetr: str  # "" when none could be read
    body: bytes | None  # exactly as sent or received; None: there were no bytes
    status: str | None = None  # known without a body (an in-process struct's TxSts)
    reason: str | None = None
    error: str | None = None  # a delivery that failed to reach the participant
    inbox_seq: int = 0  # the inbox sequence of a delivered message


_RECORDS = msgspec.msgpack.Decoder(list[TraceRecord])
_INDEX = msgspec.msgpack.Decoder(list[tuple[str, str, bool]])
_ENCODE = msgspec.msgpack.Encoder().encode


@dataclass
class _Segment:
    number: int
    path: Path
    size: int = 0
    last_ns: int = 0
    uetrs: set[str] = field(default_factory=set)


@dataclass
class TraceSettings:
    """Where and how much: `rail serve --traces-max-mb N --traces-days D` (0 MB: keep no traces)."""

    bytes_max: int = TRACES_BYTES_MAX_DEFAULT
    age_s: float = TRACES_AGE_S_DEFAULT

    @property
    def enabled(self) -> bool:
        return self.bytes_max > 0


def frame_bytes(first_seq: int, records: list[TraceRecord], index: list[tuple[str, str, bool]]) -> bytes:
    keys = _ENCODE(index)
    body = _ENCODE(records)
    return _HEADER.pack(len(keys), len(body), zlib.crc32(body, zlib.crc32(keys)), first_seq) + keys + body


class TraceStore:
    """Segments, the index by UETR, retention. Not thread-safe: the writer's thread appends, the event loop
    reads and indexes only between appends (rail/api/traces.py serialises them)."""

    def __init__(self, directory: Path, settings: TraceSettings) -> None:
        self.directory = directory
        self.settings = settings
        self.segment_bytes = max(SEGMENT_BYTES_MIN, min(SEGMENT_BYTES_MAX, settings.bytes_max // 8))
        self.segments: deque[_Segment] = deque()
        self.by_uetr: dict[str, list[tuple[int, int]]] = {}  # uetr -> [(segment, frame offset)]
        self.unmatched: dict[str, deque[tuple[int, int, int]]] = {}  # bic -> (segment, offset, record index)
        self.next_seq = 1
        self._fd: int | None = None
        self._synced_s = time.monotonic()
        directory.mkdir(parents=True, exist_ok=True)
        self._load()

    # ---- opening

    def _load(self) -> None:
        paths = sorted(self.directory.glob("*" + _SUFFIX))
        for position, path in enumerate(paths):
            try:
                number = int(path.stem)
            except ValueError:
                log.warning("traces: %s is not a trace segment (ignored)", path)
                continue
            segment = _Segment(number, path)
            self._scan(segment, last=position == len(paths) - 1)
            self.segments.append(segment)

    def _scan(self, segment: _Segment, last: bool) -> None:
        """Index one segment from its headers and index parts; cut an incomplete last frame off."""
        with open(segment.path, "rb") as file:
            data_size = os.fstat(file.fileno()).st_size
            offset = 0
            while offset < data_size:
                header = file.read(_HEADER.size)
                bad = len(header) < _HEADER.size
                if not bad:
                    keys_len, body_len, _crc, first_seq = _HEADER.unpack(header)
                    end = offset + _HEADER.size + keys_len + body_len
                    bad = end > data_size
                if bad:
                    if last:  # the process died while writing it: a torn tail
                        os.truncate(segment.path, offset)
                    else:
                        log.warning("traces: %s is damaged at offset %d: the rest of it is ignored",
                                    segment.path, offset)
                    break
                try:
                    index = _INDEX.decode(file.read(keys_len))
                except msgspec.DecodeError:
                    log.warning("traces: %s: unreadable frame at offset %d: the rest is ignored",
                                segment.path, offset)
                    break
                self._index_frame(segment, offset, first_seq, index)
                file.seek(end)
                offset = end
            segment.size = offset
            segment.last_ns = int(os.stat(segment.path).st_mtime_ns)

    def _index_frame(self, segment: _Segment, offset: int, first_seq: int, index: list) -> None:
        where = (segment.number, offset)
        for position, (uetr, participant, unmatched) in enumerate(index):
            if uetr:
                entries = self.by_uetr.get(uetr)
                if entries is None:
                    self.by_uetr[uetr] = [where]
                    segment.uetrs.add(uetr)
                elif entries[-1] != where:
                    entries.append(where)
                    segment.uetrs.add(uetr)
            elif unmatched:
                kept = self.unmatched.get(participant)
                if kept is None:
                    kept = self.unmatched[participant] = deque(maxlen=UNMATCHED_PER_PARTICIPANT)
                kept.append((segment.number, offset, position))
        self.next_seq = max(self.next_seq, first_seq + len(index))

    # ---- writing (the writer's thread)

    def append(self, records: list[TraceRecord], index: list[tuple[str, str, bool]], now_ns: int) -> tuple:
        """Write one frame; returns (segment number, offset, first seq) for `indexed` on the event loop."""
        if self._fd is None or self.segments[-1].size >= self.segment_bytes:
            self._open_segment()
        segment = self.segments[-1]
        first_seq = self.next_seq
        data = frame_bytes(first_seq, records, index)
        os.write(self._fd, data)
        offset = segment.size
        segment.size += len(data)
        segment.last_ns = now_ns
        self.next_seq += len(records)
        if time.monotonic() - self._synced_s > FSYNC_EVERY_S:
            self.sync()
        return segment, offset, first_seq

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
        self._synced_s = time.monotonic()

    def _open_segment(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
        number = self.segments[-1].number + 1 if self.segments else 1
        path = self.directory / f"{number:08d}{_SUFFIX}"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.segments.append(_Segment(number, path))

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    # ---- the event loop's side

    def indexed(self, where: tuple, index: list[tuple[str, str, bool]], now_ns: int) -> None:
        """Index a frame `append` wrote, then apply retention."""
        segment, offset, first_seq = where
        self._index_frame(segment, offset, first_seq, index)
        self.retain(now_ns)

    def retain(self, now_ns: int) -> None:
        """Drop the oldest segments beyond the byte, age and index bounds (never the one being written)."""
        oldest_ns = now_ns - int(self.settings.age_s * 1e9)
        while len(self.segments) > 1:
            first = self.segments[0]
            total = sum(segment.size for segment in self.segments)
            if total <= self.settings.bytes_max and first.last_ns >= oldest_ns and (
                len(self.by_uetr) <= INDEX_UETRS_MAX
            ):
                break
            self._drop(self.segments.popleft())

    def _drop(self, segment: _Segment) -> None:
        for uetr in segment.uetrs:
            entries = self.by_uetr.get(uetr)
            if entries is None:
                continue
            entries[:] = [where for where in entries if where[0] != segment.number]
            if not entries:
                del self.by_uetr[uetr]
        try:
            segment.path.unlink()
        except FileNotFoundError:
            pass

    def clear(self) -> None:
        """Every trace gone (a sandbox reset)."""
        self.close()
        for segment in self.segments:
            segment.path.unlink(missing_ok=True)
        self.segments.clear()
        self.by_uetr.clear()
        self.unmatched.clear()

    # ---- reading (any thread; frames never change once written)

    def read_frame(self, segment_number: int, offset: int) -> tuple[int, list[TraceRecord]] | None:
        """(seq of its first record, records) of one frame; None when it is gone or damaged."""
        path = self.directory / f"{segment_number:08d}{_SUFFIX}"
        try:
            with open(path, "rb") as file:
                file.seek(offset)
                header = file.read(_HEADER.size)
                keys_len, body_len, crc, first_seq = _HEADER.unpack(header)
                keys, body = file.read(keys_len), file.read(body_len)
        except (OSError, struct.error):
            return None
        if zlib.crc32(body, zlib.crc32(keys)) != crc:
            log.warning("traces: %s: frame at offset %d fails its checksum: not shown", path, offset)
            return None
        return first_seq, _RECORDS.decode(body)

    def locations(self, uetr: str) -> list[tuple[int, int]]:
        """Where the messages about `uetr` are (on the event loop, which alone changes the index)."""
        return list(self.by_uetr.get(uetr, ()))

    def unmatched_locations(self, bic: str) -> list[tuple[int, int, int]]:
        return list(self.unmatched.get(bic, ()))

    def records_of(self, uetr: str, locations: list[tuple[int, int]]) -> list[tuple[int, TraceRecord]]:
        """(seq, record) of every kept message about `uetr` at `locations`, in the order written."""
        out = []
        for segment_number, offset in locations:
            frame = self.read_frame(segment_number, offset)
            if frame is None:
                continue
            first_seq, records = frame
            out += [(first_seq + i, r) for i, r in enumerate(records) if r.uetr == uetr]
        return out

    def unmatched_of(self, locations: list[tuple[int, int, int]]) -> list[tuple[int, TraceRecord]]:
        """Refusals without a UETR at `locations`, each (seq, record) with the answer after it, oldest first."""
        out = []
        for segment_number, offset, position in locations:
            frame = self.read_frame(segment_number, offset)
            if frame is None:
                continue
            first_seq, records = frame
            out += [(first_seq + i, records[i]) for i in (position, position + 1) if i < len(records)]
        return out
