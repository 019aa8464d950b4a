"""The journal's bytes: frames, segment headers, snapshots and the high-water mark, and the errors that name
what is wrong with them (rail/settlement/journal.py writes and reads them; rail/settlement/journal_scan.py checks them).

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
"""

from __future__ import annotations

import logging
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

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

SEGMENT_HEADER = struct.Struct("<4sI16sQI24xI")  # magic, version, journal id, first seq, chain in, crc
FRAME_HEADER = struct.Struct("<IIQIIII")  # chain, length, seq, payload crc, previous chain, kind, reserved
_FRAME_CHECKED = struct.Struct("<IQIIII")  # the 28 bytes the chain (header CRC) covers
_SNAPSHOT_HEADER = struct.Struct("<4sI16sQIQI12xI")  # magic, version, id, seq, chain, length, state crc, crc
_HIGHWATER_SLOT = struct.Struct("<QI16sI")  # seq, chain, journal id, crc32 of the 28 bytes before
V1_FRAME_HEADER = struct.Struct("<IIQ")  # format 1: length, crc32, sequence (recognised only to refuse it)
SEGMENT_NAME = re.compile(r"^wal-(\d{20})\.log$")
SNAPSHOT_NAME = re.compile(r"^snapshot-(\d{20})\.snap$")
TEMP_NAME = re.compile(r"^(wal-\d{20}\.log|snapshot-\d{20}\.snap)\.tmp$")


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


# ---- frames and snapshots as bytes (also the replicated journal's message format, rail/cluster/nats_journal.py) --------


def frame_header(seq: int, payload: bytes | memoryview, prev_chain: int, kind: int = FRAME_BATCH) -> bytes:
    checked = _FRAME_CHECKED.pack(len(payload), seq, zlib.crc32(payload), prev_chain, kind, 0)
    return struct.pack("<I", zlib.crc32(checked)) + checked


def encode_frame(seq: int, payload: bytes, prev_chain: int = 0) -> bytes:
    """One batch frame as written to disk (and published by the replicated journal)."""
    return frame_header(seq, payload, prev_chain) + payload


def frame_chain(frame: bytes | memoryview) -> int:
    """The chain value of a frame (what the next frame names as its previous chain)."""
    return FRAME_HEADER.unpack_from(frame, 0)[0]


def frame_at(data: bytes | memoryview, offset: int) -> tuple[int, int] | None:
    """(sequence, end offset) of a complete, checksum-valid batch frame at `offset`, else None (its chain is
    not checked: the replicated journal orders messages by the stream's own sequence)."""
    frame = Frame.parse(data, offset)
    if frame is None or frame.problem is not None or frame.kind != FRAME_BATCH:
        return None
    return frame.seq, frame.end


def encode_snapshot(
    state: bytes, seq: int, chain: int = 0, journal_id: bytes = bytes(JOURNAL_ID_BYTES)
) -> bytes:
    """A snapshot's header and state, as written to a file (or to the replicated journal's object store)."""
    return snapshot_header(state, seq, chain, journal_id) + state


def snapshot_header(
    state: bytes, seq: int, chain: int = 0, journal_id: bytes = bytes(JOURNAL_ID_BYTES)
) -> bytes:
    """The header that precedes `state` in a snapshot (written apart from a large state: no copy of it)."""
    head = _SNAPSHOT_HEADER.pack(
        SNAPSHOT_MAGIC, SNAPSHOT_FORMAT_VERSION, journal_id, seq, chain, len(state), zlib.crc32(state), 0
    )
    return head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))


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
        raise JournalCorruption(where, 0, f"not a snapshot: found {describe_bytes(data[:size])}")
    if version != SNAPSHOT_FORMAT_VERSION:
        raise JournalCorruption(where, 4, version_refusal("snapshot", version))
    if zlib.crc32(memoryview(data)[: size - 4]) != crc:
        raise JournalCorruption(where, 0, "snapshot header fails its checksum")
    state = data[size:]
    if len(state) != length or zlib.crc32(state) != state_crc:
        raise JournalCorruption(
            where, size, f"snapshot state fails its length/checksum check ({len(state)} of {length} bytes)"
        )
    return Snapshot(seq, chain, journal_id, state)


def version_refusal(what: str, version: int) -> str:
    if version == 1:
        return (
            f"{what} is in journal format 1, which this rail no longer reads (format {FORMAT_VERSION} adds "
            "segment headers and a checksum chain); no format-1 journal was ever deployed, so there is no "
            "migration: start this rail on an empty --data directory"
        )
    return (
        f"{what} is in journal format {version}; this rail reads format {FORMAT_VERSION} only (a newer rail?)"
    )


def describe_bytes(raw: bytes | memoryview) -> str:
    """What was found where a header should be, for a message an operator can act on."""
    raw = bytes(raw)
    if not raw.strip(b"\x00"):
        return f"{len(raw)} zero bytes (a zeroed region)"
    return f"bytes {raw[:16].hex()}{'...' if len(raw) > 16 else ''}"


class Frame(NamedTuple):
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
    def parse(cls, data: bytes | memoryview, offset: int) -> Frame | None:
        """The frame at `offset`; None when no byte is left."""
        remaining = len(data) - offset
        if remaining <= 0:
            return None
        size = FRAME_HEADER.size
        if remaining < size:
            return cls(0, 0, 0, 0, 0, len(data), f"{remaining} bytes, less than a frame header", True, False)
        chain, length, seq, payload_crc, prev_chain, kind, reserved = FRAME_HEADER.unpack_from(data, offset)
        if zlib.crc32(memoryview(data)[offset + 4 : offset + size]) != chain or reserved != 0:
            found = describe_bytes(memoryview(data)[offset : offset + size])
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


def iter_frames(data: bytes | memoryview) -> Iterator[tuple[int, Frame]]:
    """(offset, frame) of a segment's frames after its header, up to the first one with a problem (included)."""
    offset = SEGMENT_HEADER.size
    while (frame := Frame.parse(data, offset)) is not None:
        yield offset, frame
        if frame.problem is not None:
            return
        offset = frame.end


def highwater_slot(seq: int, chain: int, journal_id: bytes) -> bytes:
    body = _HIGHWATER_SLOT.pack(seq, chain, journal_id, 0)[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def read_highwater(path: Path) -> tuple[int, int, bytes]:
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
            path, 0, f"both high-water mark slots fail their checksum: found {describe_bytes(data[: 2 * size])}"
        )
    return max(valid)


def read_identity(identity_file: Path | None) -> bytes | None:
    if identity_file is None or not identity_file.exists():
        return None
    text = identity_file.read_text(encoding="ascii", errors="replace").strip()
    try:
        journal_id = bytes.fromhex(text)
    except ValueError:
        journal_id = b""
    if len(journal_id) != JOURNAL_ID_BYTES:
        raise JournalCorruption(identity_file, 0, f"not a journal id: found {describe_bytes(text.encode()[:64])}")
    return journal_id


def segment_name(first_seq: int) -> str:
    return f"wal-{first_seq:020d}.log"


def snapshot_name(seq: int) -> str:
    return f"snapshot-{seq:020d}.snap"
