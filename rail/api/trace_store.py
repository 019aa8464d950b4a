"""The message traces on disk: segments of CRC'd frames in DATA/traces/, an index by UETR in memory, a bounded
retention (bytes and age), and the last refusals nobody could key by a UETR, per participant.

A frame is what one flush of the trace writer wrote (at most ENTRIES_PER_FRAME_MAX entries):

    header  <u32 index length><u32 entries length><u64 number of the first entry><u32 crc32 of the rest>
    index   msgpack FrameIndex: the frame's UETRs, and its refusals    what a start reads to rebuild the
            no UETR could be read from (position, participant)         index, skipping the entries
    entries msgpack [ExchangeEntry | DeliveryEntry, ...]

An entry is what the hot path noted (rail/api/traces.py): an exchange (a message to the rail and the answer it
got), or a delivery (the inbox messages one read or push gave a participant). Reading expands each into the
messages it holds (`TraceRecord`), numbered `entry number * 1024 + position` (a page holds at most 1,000).

A start reads every header and index (not the records) to rebuild the in-memory index; an incomplete last frame
(the process died mid-write) is cut off. The checksum covers the header and the index, not the messages: at
~1 GB/s, checksumming every byte of every message would cost the writer more than writing them; a damaged record
part fails to decode and its frame is skipped when read. Traces are diagnostics, not the books: a damaged frame
is reported in the log and the rest of its segment ignored, and the rail starts. Frames are written by the trace
writer (rail/api/traces.py) in a worker thread; fsync'd when a segment is closed and every FSYNC_EVERY_S, so a
killed process loses at most what was not yet written (one flush interval), a crashed machine a few seconds.

Retention: segments of SEGMENT_BYTES at most; the oldest go when the total exceeds `bytes_max`, when their
newest record is older than `age_s`, or when the index holds INDEX_UETRS_MAX payments.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import time
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import msgspec

from rail.settlement.delivery import InboxRef, StatusReport

log = logging.getLogger(__name__)

TRACES_BYTES_MAX_DEFAULT = 256 << 20
TRACES_AGE_S_DEFAULT = 7 * 86_400.0
SEGMENT_BYTES_MAX = 16 << 20
SEGMENT_BYTES_MIN = 64 << 10
ENTRIES_PER_FRAME_MAX = 1_024
SEQ_SHIFT = 10  # a message's seq: its entry's number << SEQ_SHIFT | its place in the entry
INDEX_UETRS_MAX = 2_000_000  # payments the index knows at most (~150 bytes each)
UNMATCHED_PER_PARTICIPANT = 100  # refusals kept per participant that no UETR could be read from
FSYNC_EVERY_S = 5.0
_HEADER = struct.Struct("<IIQI")
_CHECKED = struct.Struct("<IIQ")  # the header fields the checksum covers, with the index
_SUFFIX = ".trace"


class ExchangeEntry(msgspec.Struct, tag=0, array_like=True, gc=False):
    """A message to the rail and the answer it got (rail/api/traces.py's Tracer.exchange writes the tuple)."""

    started_ns: int
    ended_ns: int
    participant: str
    channel: str  # "request" | "in-process"
    uetr: str  # "" when none could be read
    msg_type: str
    rendering: str  # "xml" | "json" | "" (no bytes: an in-process participant's struct)
    http_status: int
    body: bytes | None
    answer: bytes | None  # None: nobody rendered it (an in-process caller read only its status)
    status: str | None  # what a struct without bytes said
    reason: str | None


class DeliveryEntry(msgspec.Struct, tag=1, array_like=True, gc=False):
    """Inbox messages given to a participant by one read or push (Tracer.delivered)."""

    at_ns: int
    upto: int  # the participant's messages up to this inbox seq were traced before (redeliveries: skipped)
    participant: str
    channel: str  # "inbox" | "webhook" | "in-process"
    rendering: str
    http_status: int  # a webhook: the callback's answer (0: not reached)
    duration_ns: int
    error: str | None
    items: list[list]  # [inbox seq, InboxRef as its tagged array, rendered bytes (absent: read as a struct)]


class TraceRecord(msgspec.Struct, gc=False):
    """One message in or out of the rail, as the participant's side saw it (an entry, expanded)."""

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


class FrameIndex(msgspec.Struct, array_like=True, gc=False):
    """What a frame holds, for the index: each UETR once (a payment's messages of one flush share a frame), and
    the positions of the refusals no UETR could be read from, with their participant."""

    entries: int
    uetrs: list[str]
    unmatched: list[tuple[int, str]]


_ENTRIES = msgspec.msgpack.Decoder(list[ExchangeEntry | DeliveryEntry])
_INDEX = msgspec.msgpack.Decoder(FrameIndex)
_ENCODE = msgspec.msgpack.Encoder().encode


def exchange_records(entry: ExchangeEntry) -> list[TraceRecord]:
    duration_us = (entry.ended_ns - entry.started_ns) // 1_000
    out = [TraceRecord(entry.started_ns, entry.participant, "in", entry.channel, entry.msg_type, entry.rendering,
                       entry.http_status, duration_us, entry.uetr, entry.body, entry.status, entry.reason)]
    if entry.answer is not None:
        out.append(TraceRecord(entry.ended_ns, entry.participant, "out", entry.channel, sniff_type(entry.answer),
                               entry.rendering, entry.http_status, duration_us, entry.uetr, entry.answer))
    return out  # fmt: skip


def delivery_records(entry: DeliveryEntry, uetr: str | None) -> list[tuple[int, TraceRecord]]:
    """(position, record) of the messages of a delivery about `uetr` (None: all)."""
    duration_us = entry.duration_ns // 1_000 if entry.duration_ns >= 0 else -1
    out = []
    for position, item in enumerate(entry.items):
        if item[0] <= entry.upto:
            continue
        ref = msgspec.convert(item[1], InboxRef)
        ref_uetr = ref.uetr
        if uetr is not None and ref_uetr != uetr:
            continue
        status = reason = None
        if len(item) > 2:  # rendered for the participant
            body, kept_as = item[2], entry.rendering
        elif isinstance(ref, StatusReport):
            body, kept_as, status, reason = None, "", str(ref.status), ref.reason
        else:  # the sender's own message, as the rail keeps it
            body, kept_as = ref.message, str(ref.message_format)
        out.append((position, TraceRecord(entry.at_ns, entry.participant, "out", entry.channel, ref.msg_type,
                                          kept_as, entry.http_status, duration_us, ref_uetr, body, status, reason,
                                          entry.error, item[0])))  # fmt: skip
    return out


_XML_TYPE = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:([a-z]{4}\.\d{3})")
_JSON_TYPE = re.compile(rb'"MsgDefIdr"\s*:\s*"([a-z]{4}\.\d{3})')
_UETR = re.compile(rb'(?:<(?:Orgnl)?UETR>|"(?:Orgnl)?UETR"\s*:\s*")\s*([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-'
                   rb'[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})')


def sniff_type(body: bytes | None) -> str:
    """A message's short type (pacs.008) read from its namespace or MsgDefIdr; "unknown" when neither."""
    if not body:
        return "unknown"
    head = body[:4096]
    found = _XML_TYPE.search(head) or _JSON_TYPE.search(head)
    return found.group(1).decode() if found else "unknown"


def sniff_uetr(body: bytes | None) -> str:
    """The UETR (or OrgnlUETR) a message names, read from its bytes: what keys a message refused before it
    could be decoded; "" when none can be read."""
    found = _UETR.search(body) if body else None
    return found.group(1).decode().lower() if found else ""


@dataclass
class _Segment:
    number: int
    path: Path
    size: int = 0
    last_ns: int = 0


@dataclass
class TraceSettings:
    """Where and how much: `rail serve --traces-max-mb N --traces-days D` (0 MB: keep no traces)."""

    bytes_max: int = TRACES_BYTES_MAX_DEFAULT
    age_s: float = TRACES_AGE_S_DEFAULT

    @property
    def enabled(self) -> bool:
        return self.bytes_max > 0


TORN = "is incomplete"


def _frame_indexes(path: Path):
    """(offset, end, first entry number, FrameIndex) of each frame of a segment, reading only headers and index
    parts; a frame that cannot be read ends it, as (offset, offset, 0, why)."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        offset = 0
        while offset < size:
            header = file.read(_HEADER.size)
            if len(header) < _HEADER.size:
                yield offset, offset, 0, TORN
                return
            keys_len, body_len, first_seq, _crc = _HEADER.unpack(header)
            end = offset + _HEADER.size + keys_len + body_len
            if end > size:
                yield offset, offset, 0, TORN
                return
            keys = file.read(keys_len)
            problem = _header_problem(header, keys)
            try:
                index = _INDEX.decode(keys) if problem is None else problem
            except msgspec.DecodeError:
                index = "cannot be read"
            yield offset, end, first_seq, index
            if isinstance(index, str):
                return
            file.seek(end)
            offset = end


def frame_parts(first_seq: int, body: bytes, index: FrameIndex) -> tuple[bytes, bytes, bytes]:
    """A frame of already encoded entries, in its three parts (written with one writev: no copy of the body)."""
    keys = _ENCODE(index)
    crc = zlib.crc32(keys, zlib.crc32(_CHECKED.pack(len(keys), len(body), first_seq)))
    return _HEADER.pack(len(keys), len(body), first_seq, crc), keys, body


def _header_problem(header: bytes, keys: bytes) -> str | None:
    keys_len, body_len, first_seq, crc = _HEADER.unpack(header)
    if zlib.crc32(keys, zlib.crc32(_CHECKED.pack(keys_len, body_len, first_seq))) != crc:
        return "fails its checksum"
    return None


class TraceStore:
    """Segments, the index by UETR, retention. Not thread-safe: the writer's thread appends, the event loop
    reads and indexes only between appends (rail/api/traces.py serialises them)."""

    def __init__(self, directory: Path, settings: TraceSettings) -> None:
        self.directory = directory
        self.settings = settings
        self.segment_bytes = max(SEGMENT_BYTES_MIN, min(SEGMENT_BYTES_MAX, settings.bytes_max // 8))
        self.segments: deque[_Segment] = deque()
        # uetr -> where its frames are: segment << 32 | offset, or a list of them (most payments: one frame)
        self.by_uetr: dict[str, int | list[int]] = {}
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
        end = 0
        for offset, end, first_seq, index in _frame_indexes(segment.path):
            if isinstance(index, str):
                if index == TORN and last:  # the process died while writing it: a torn tail
                    os.truncate(segment.path, offset)
                elif index != TORN or not last:
                    log.warning("traces: %s: the frame at offset %d %s: the rest of the segment is ignored",
                                segment.path, offset, index)
                end = offset
                break
            self._index_frame(segment, offset, first_seq, index)
        segment.size = end
        segment.last_ns = int(os.stat(segment.path).st_mtime_ns)

    def _index_frame(self, segment: _Segment, offset: int, first_seq: int, index: FrameIndex) -> None:
        where = segment.number << 32 | offset
        by_uetr = self.by_uetr
        for uetr in index.uetrs:
            known = by_uetr.get(uetr)
            if known is None:
                by_uetr[uetr] = where
            elif type(known) is int:
                by_uetr[uetr] = [known, where]
            else:
                known.append(where)
        for position, participant in index.unmatched:
            kept = self.unmatched.get(participant)
            if kept is None:
                kept = self.unmatched[participant] = deque(maxlen=UNMATCHED_PER_PARTICIPANT)
            kept.append((segment.number, offset, position))
        self.next_seq = max(self.next_seq, first_seq + index.entries)

    # ---- writing (the writer's thread)

    def append(self, entries: bytes, index: FrameIndex, now_ns: int) -> tuple:
        """Write one frame of encoded entries; returns where, for `indexed` on the event loop."""
        if self._fd is None or self.segments[-1].size >= self.segment_bytes:
            self._open_segment()
        segment = self.segments[-1]
        first_seq = self.next_seq
        parts = frame_parts(first_seq, entries, index)
        size = sum(map(len, parts))
        try:
            if os.writev(self._fd, parts) != size:  # a regular file takes a whole write, or the disk is full
                raise OSError(f"short write to {segment.path}")
        except OSError:
            os.ftruncate(self._fd, segment.size)  # no half frame before the next one
            raise
        offset = segment.size
        segment.size += size
        segment.last_ns = now_ns
        self.next_seq += index.entries
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

    def indexed(self, where: tuple, index: FrameIndex, now_ns: int) -> None:
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
        """Forget a segment: its UETRs (read again from its index parts: no set per segment in memory), then the
        file."""
        number = segment.number
        for _offset, _end, _first, index in _frame_indexes(segment.path):
            if isinstance(index, str):
                break
            for uetr in index.uetrs:
                known = self.by_uetr.get(uetr)
                if known is None:
                    continue
                left = [where for where in ([known] if type(known) is int else known) if where >> 32 != number]
                if not left:
                    del self.by_uetr[uetr]
                else:
                    self.by_uetr[uetr] = left[0] if len(left) == 1 else left
        segment.path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Every trace gone (a sandbox reset)."""
        self.close()
        for segment in self.segments:
            segment.path.unlink(missing_ok=True)
        self.segments.clear()
        self.by_uetr.clear()
        self.unmatched.clear()

    # ---- reading (any thread; frames never change once written)

    def locations(self, uetr: str) -> list[tuple[int, int]]:
        """Where the messages about `uetr` are (on the event loop, which alone changes the index)."""
        known = self.by_uetr.get(uetr)
        wheres = [] if known is None else [known] if type(known) is int else list(known)
        return [(where >> 32, where & 0xFFFF_FFFF) for where in wheres]

    def unmatched_locations(self, bic: str) -> list[tuple[int, int, int]]:
        return list(self.unmatched.get(bic, ()))

    def read_frame(self, segment_number: int, offset: int) -> tuple[int, list] | None:
        """(number of its first entry, entries) of one frame; None when it is gone or damaged."""
        path = self.directory / f"{segment_number:08d}{_SUFFIX}"
        try:
            with open(path, "rb") as file:
                file.seek(offset)
                header = file.read(_HEADER.size)
                keys_len, body_len, first_seq, _crc = _HEADER.unpack(header)
                keys, body = file.read(keys_len), file.read(body_len)
            problem = _header_problem(header, keys)
            entries = _ENTRIES.decode(body) if problem is None else None
        except (OSError, struct.error):
            return None
        except (msgspec.DecodeError, msgspec.ValidationError):
            problem, entries = "cannot be read", None
        if entries is None:
            log.warning("traces: %s: the frame at offset %d %s: not shown", path, offset, problem)
            return None
        return first_seq, entries

    def records_of(self, uetr: str, locations: list[tuple[int, int]]) -> list[tuple[int, TraceRecord]]:
        """(seq, record) of every kept message about `uetr` at `locations`, in the order written."""
        out = []
        for segment_number, offset in locations:
            frame = self.read_frame(segment_number, offset)
            if frame is None:
                continue
            first, entries = frame
            for number, entry in enumerate(entries, first):
                if isinstance(entry, ExchangeEntry):
                    if entry.uetr == uetr:
                        out += [(number << SEQ_SHIFT | i, r) for i, r in enumerate(exchange_records(entry))]
                else:
                    out += [(number << SEQ_SHIFT | i, r) for i, r in delivery_records(entry, uetr)]
        return out

    def unmatched_of(self, locations: list[tuple[int, int, int]]) -> list[tuple[int, TraceRecord]]:
        """Refusals without a UETR at `locations`, each (seq, record) with the answer after it, oldest first."""
        out = []
        for segment_number, offset, position in locations:
            frame = self.read_frame(segment_number, offset)
            if frame is None or position >= len(frame[1]):
                continue
            first, entries = frame
            entry = entries[position]
            if isinstance(entry, ExchangeEntry):
                number = first + position
                out += [(number << SEQ_SHIFT | i, r) for i, r in enumerate(exchange_records(entry))]
        return out
