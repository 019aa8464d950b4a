"""The write-ahead journal: ordering, durability format, snapshots, torn tails and corruption."""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import zlib
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rail.settlement.journal import FileJournal, Journal
from rail.settlement.journal_format import (
    FRAME_HEADER,
    SEGMENT_HEADER,
    JournalCorruption,
    JournalError,
    JournalLocked,
    PayloadCodec,
    encode_frame,
)
from rail.settlement.journal_scan import inspect_journal

FRAME_HEADER_BYTES = FRAME_HEADER.size
SEGMENT_HEADER_BYTES = SEGMENT_HEADER.size


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("wal-*.log"))


def append_bytes(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def batches(journal: FileJournal, after_seq: int = 0) -> list[tuple[int, list]]:
    return list(journal.replay(after_seq=after_seq))


def next_frame(directory: Path, seq: int, records: list) -> bytes:
    """The frame a journal (closed) would write next: chained to its last batch."""
    return encode_frame(seq, msgspec.msgpack.encode(records), inspect_journal(directory).chain)


def next_frame_payload_frame(records: list) -> bytes:
    return encode_frame(0, msgspec.msgpack.encode(records))


async def test_append_returns_consecutive_sequences_and_replay_returns_batches_in_order(
    tmp_path: Path,
) -> None:
    journal = FileJournal.open(tmp_path)
    assert isinstance(journal, Journal)
    sequences = [await journal.append([{"n": i}, [i, "x"]]) for i in range(5)]
    assert sequences == [1, 2, 3, 4, 5]
    assert batches(journal) == [(i + 1, [{"n": i}, [i, "x"]]) for i in range(5)]
    assert batches(journal, after_seq=3) == [(4, [{"n": 3}, [3, "x"]]), (5, [{"n": 4}, [4, "x"]])]
    journal.close()


async def test_concurrent_appends_keep_call_order(tmp_path: Path) -> None:
    journal = FileJournal.open(tmp_path)
    sequences = await asyncio.gather(*(journal.append([i]) for i in range(50)))
    assert list(sequences) == list(range(1, 51))
    assert [records for _, records in batches(journal)] == [[i] for i in range(50)]
    assert journal.durable_seq == 50
    journal.close()


async def test_reopen_continues_the_sequence(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        await journal.append(["a"])
        await journal.append(["b"])
    with FileJournal.open(tmp_path) as journal:
        assert journal.last_seq == 2
        assert await journal.append(["c"]) == 3
        assert [r for _, r in batches(journal)] == [["a"], ["b"], ["c"]]


async def test_typed_records_and_u128_integers_round_trip(tmp_path: Path) -> None:
    class Move(msgspec.Struct, array_like=True, tag="move"):
        id: int
        amount: int
        memo: bytes

    huge = 2**128 - 2
    with FileJournal.open(tmp_path, record_type=Move) as journal:
        await journal.append([Move(1, 5, b"\x00\xff")])
        await journal.append([Move(huge, huge, b"bin")])  # beyond msgpack's 64-bit integers
    with FileJournal.open(tmp_path, record_type=Move) as journal:
        assert batches(journal) == [(1, [Move(1, 5, b"\x00\xff")]), (2, [Move(huge, huge, b"bin")])]


def test_payload_codec_uses_msgpack_unless_integers_exceed_64_bits() -> None:
    codec = PayloadCodec(list[int])
    small, big = codec.encode([1, 2]), codec.encode([2**100])
    assert small == msgspec.msgpack.encode([1, 2])
    assert big.startswith(b"[")
    assert codec.decode(small) == [1, 2] and codec.decode(big) == [2**100]


async def test_torn_tail_partial_frame_is_truncated_and_logged(tmp_path: Path, caplog) -> None:
    with FileJournal.open(tmp_path) as journal:
        for i in range(3):
            await journal.append([i])
    wal = segments(tmp_path)[-1]
    good_size = wal.stat().st_size
    append_bytes(wal, next_frame(tmp_path, 4, [3])[:-3])  # the write never completed
    with caplog.at_level(logging.WARNING, logger="rail.settlement.journal"), FileJournal.open(tmp_path) as journal:
        assert journal.truncated_bytes > 0
        assert wal.stat().st_size == good_size
        assert [r for _, r in batches(journal)] == [[0], [1], [2]]
        assert await journal.append(["after"]) == 4
    assert f"truncating {wal} from {good_size + journal.truncated_bytes} to {good_size} bytes" in caplog.text
    with FileJournal.open(tmp_path) as journal:
        assert [r for _, r in batches(journal)][-1] == ["after"]


async def test_torn_tail_shorter_than_a_frame_header_is_truncated(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        await journal.append(["keep"])
    wal = segments(tmp_path)[-1]
    append_bytes(wal, next_frame(tmp_path, 2, ["lost"])[:10])
    with FileJournal.open(tmp_path) as journal:
        assert [r for _, r in batches(journal)] == [["keep"]]
        assert journal.truncated_bytes == 10


async def test_complete_final_frame_with_zeroed_payload_is_damage_not_a_torn_tail(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        await journal.append(["keep"])
    wal = segments(tmp_path)[-1]
    frame = bytearray(next_frame(tmp_path, 2, ["acknowledged?"] * 10))
    frame[FRAME_HEADER_BYTES:] = bytes(len(frame) - FRAME_HEADER_BYTES)  # whole length, payload zeroed
    append_bytes(wal, bytes(frame))
    before = wal.read_bytes()
    with pytest.raises(JournalCorruption, match="batch 2 fails its payload checksum"):
        FileJournal.open(tmp_path)
    assert wal.read_bytes() == before  # nothing was truncated


async def test_one_bit_flipped_in_the_last_complete_frame_stops_the_start(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        for i in range(3):
            await journal.append([f"batch-{i}" * 10])
    wal = segments(tmp_path)[-1]
    data = bytearray(wal.read_bytes())
    data[-5] ^= 0x01
    wal.write_bytes(bytes(data))
    with pytest.raises(JournalCorruption, match="batch 3 fails its payload checksum") as caught:
        FileJournal.open(tmp_path)
    assert caught.value.path == wal
    assert wal.read_bytes() == bytes(data)


async def test_corrupted_middle_record_is_refused_with_file_and_offset(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        for i in range(5):
            await journal.append([f"batch-{i}" * 10])
    wal = segments(tmp_path)[-1]
    data = bytearray(wal.read_bytes())
    frame_size = (len(data) - SEGMENT_HEADER_BYTES) // 5
    third = SEGMENT_HEADER_BYTES + 2 * frame_size
    data[third + FRAME_HEADER_BYTES + 3] ^= 0x01  # one bit flips inside batch 3's payload
    wal.write_bytes(bytes(data))
    with pytest.raises(JournalCorruption) as caught:
        FileJournal.open(tmp_path)
    assert caught.value.path == wal
    assert caught.value.offset == third
    assert str(wal) in str(caught.value) and f"offset {third}" in str(caught.value)
    assert wal.read_bytes() == bytes(data)  # nothing was truncated


async def test_corrupted_length_field_is_refused_not_taken_for_a_torn_tail(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        for i in range(4):
            await journal.append([i] * 20)
    wal = segments(tmp_path)[-1]
    data = bytearray(wal.read_bytes())
    frame_size = (len(data) - SEGMENT_HEADER_BYTES) // 4
    last = SEGMENT_HEADER_BYTES + 3 * frame_size
    data[last + 7] = 0x7F  # the last batch now claims to be ~2 GB long, running past the end of the file
    wal.write_bytes(bytes(data))
    with pytest.raises(JournalCorruption, match=f"offset {last}: frame header fails its checksum"):
        FileJournal.open(tmp_path)


async def test_zeroed_region_in_the_middle_is_refused_naming_what_was_found(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        for i in range(120):
            await journal.append([i, "payment" * 20])
    wal = segments(tmp_path)[-1]
    data = bytearray(wal.read_bytes())
    frame_size = (len(data) - SEGMENT_HEADER_BYTES) // 120
    start = SEGMENT_HEADER_BYTES + 10 * frame_size
    data[start : SEGMENT_HEADER_BYTES + 80 * frame_size] = bytes(70 * frame_size)  # frames 11-80 zeroed
    wal.write_bytes(bytes(data))
    with pytest.raises(JournalCorruption, match=f"offset {start}: .*zero bytes"):
        FileJournal.open(tmp_path)
    assert wal.stat().st_size == len(data)


async def test_zeroed_or_emptied_segment_is_refused(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        for i in range(3):
            await journal.append([i])
    wal = segments(tmp_path)[-1]
    size = wal.stat().st_size
    wal.write_bytes(bytes(size))
    with pytest.raises(JournalCorruption, match="not a journal segment: found 64 zero bytes"):
        FileJournal.open(tmp_path)
    wal.write_bytes(b"")
    with pytest.raises(JournalCorruption, match="shorter than its 64-byte header"):
        FileJournal.open(tmp_path)


async def test_replayed_region_breaks_the_sequence(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        for i in range(4):
            await journal.append([i])
    wal = segments(tmp_path)[-1]
    data = wal.read_bytes()
    frame_size = (len(data) - SEGMENT_HEADER_BYTES) // 4
    second = data[SEGMENT_HEADER_BYTES + frame_size : SEGMENT_HEADER_BYTES + 2 * frame_size]
    wal.write_bytes(data + second)  # batch 2 again after batch 4
    with pytest.raises(JournalCorruption, match="frame has batch 2, expected batch 5"):
        FileJournal.open(tmp_path)


async def test_segment_from_another_journal_is_refused(tmp_path: Path) -> None:
    for name in ("a", "b"):
        with FileJournal.open(tmp_path / name, segment_bytes=100) as journal:
            for i in range(6):
                await journal.append([name * 90, i])
    ours, theirs = segments(tmp_path / "a"), segments(tmp_path / "b")
    theirs[1].replace(ours[1])  # same file name, same batches, another history
    with pytest.raises(JournalCorruption, match="belongs to journal"):
        FileJournal.open(tmp_path / "a")


async def test_deleted_last_segment_is_detected_by_the_seal_of_the_one_before(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path, segment_bytes=100) as journal:
        for i in range(6):
            await journal.append(["y" * 80, i])
    files = segments(tmp_path)
    files[-1].unlink()
    with pytest.raises(JournalCorruption, match=f"sealed at batch .*{files[-1].name}.* is missing"):
        FileJournal.open(tmp_path)


def test_format_1_journal_is_refused_with_what_to_do(tmp_path: Path) -> None:
    payload = msgspec.msgpack.encode([1])
    crc = zlib.crc32(payload, zlib.crc32(struct.pack("<IQ", len(payload), 1)))
    (tmp_path / "wal-00000000000000000001.log").write_bytes(
        struct.pack("<IIQ", len(payload), crc, 1) + payload
    )
    with pytest.raises(JournalCorruption, match="journal format 1.*empty --data"):
        FileJournal.open(tmp_path)


async def test_second_open_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path), pytest.raises(JournalLocked, match=f"process {os.getpid()}"):
        FileJournal.open(tmp_path)
    FileJournal.open(tmp_path).close()  # released on close


async def test_identity_file_refuses_a_journal_that_vanished(tmp_path: Path) -> None:
    identity = tmp_path / "journal.id"
    with FileJournal.open(tmp_path / "journal", identity_file=identity) as journal:
        await journal.append(["participant"])
    for wal in segments(tmp_path / "journal"):
        wal.unlink()
    with pytest.raises(JournalCorruption, match="refusing to start a new, empty history"):
        FileJournal.open(tmp_path / "journal", identity_file=identity)


async def test_snapshot_without_any_segment_is_refused(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        await journal.append([1])
        journal.write_snapshot(b"state", 1)
    for wal in segments(tmp_path):
        wal.unlink()
    with pytest.raises(JournalCorruption, match="no journal segment"):
        FileJournal.open(tmp_path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_any_single_damage_is_refused_or_loses_nothing(tmp_path_factory, data) -> None:
    """Property: after any one damage of the journal (bytes changed, a range zeroed, the file cut short),
    opening either refuses, or replays every batch - all but the last only when the file was cut inside
    the last frame (a torn tail, never acknowledged)."""
    directory = tmp_path_factory.mktemp("journal")
    written = [[i, "x" * (i % 7) * 10] for i in range(12)]
    with FileJournal.open(directory) as journal:
        for records in written:
            journal.append_blocking(records)
    wal = segments(directory)[-1]
    original = wal.read_bytes()
    damaged = bytearray(original)
    kind = data.draw(st.sampled_from(["flip", "zero", "cut"]))
    at = data.draw(st.integers(0, len(original) - 1))
    if kind == "flip":
        damaged[at] ^= data.draw(st.integers(1, 255))
    elif kind == "zero":
        end = data.draw(st.integers(at + 1, len(original)))
        damaged[at:end] = bytes(end - at)
    else:
        del damaged[at:]
    wal.write_bytes(bytes(damaged))
    try:
        journal = FileJournal.open(directory)
    except JournalCorruption:
        return
    with journal:
        replayed = [records for _, records in journal.replay()]
    last_frame_start = len(original) - len(next_frame_payload_frame(written[-1]))
    if kind == "cut" and at > last_frame_start:
        assert replayed in (written, written[:-1])
    else:
        assert replayed == written, (kind, at)


async def test_snapshot_replaces_old_segments_and_replay_starts_after_it(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path, segment_bytes=200) as journal:
        for i in range(30):
            await journal.append([i, "x" * 50])
        assert len(segments(tmp_path)) > 5
        journal.write_snapshot(b"state-at-20", 20)
        assert journal.latest_snapshot() == (20, b"state-at-20")
        assert [seq for seq, _ in batches(journal, after_seq=20)] == list(range(21, 31))
        remaining = segments(tmp_path)
        assert len(remaining) < 10
        journal.write_snapshot(b"state-at-30", 30)
        assert len(list(tmp_path.glob("snapshot-*"))) == 1
    with FileJournal.open(tmp_path, segment_bytes=200) as journal:
        assert journal.latest_snapshot() == (30, b"state-at-30")
        assert batches(journal, after_seq=30) == []
        assert await journal.append(["next"]) == 31
    with FileJournal.open(tmp_path) as journal:
        assert batches(journal, after_seq=30) == [(31, ["next"])]


async def test_snapshot_beyond_appended_batches_is_refused(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        await journal.append([1])
        with pytest.raises(JournalError):
            journal.write_snapshot(b"x", 5)


async def test_corrupted_snapshot_is_refused(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        await journal.append([1])
        journal.write_snapshot(b"precious state", 1)
    snapshot = next(tmp_path.glob("snapshot-*"))
    data = bytearray(snapshot.read_bytes())
    data[-1] ^= 0xFF
    snapshot.write_bytes(bytes(data))
    with pytest.raises(JournalCorruption, match="snapshot"):
        FileJournal.open(tmp_path)


async def test_missing_middle_segment_is_refused(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path, segment_bytes=100) as journal:
        for i in range(10):
            await journal.append(["y" * 80, i])
    files = segments(tmp_path)
    assert len(files) >= 3
    files[1].unlink()
    with pytest.raises(JournalCorruption, match="expected batch"):
        FileJournal.open(tmp_path)


async def test_garbage_at_end_of_a_non_last_segment_is_corruption(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path, segment_bytes=100) as journal:
        for i in range(6):
            await journal.append(["z" * 80, i])
    first = segments(tmp_path)[0]
    append_bytes(first, b"\x01\x02\x03")
    with pytest.raises(JournalCorruption, match="bytes after the segment's seal"):
        FileJournal.open(tmp_path)


async def test_leftover_snapshot_temp_file_is_ignored(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        await journal.append([1])
    (tmp_path / "snapshot-00000000000000000001.snap.tmp").write_bytes(b"half written")
    with FileJournal.open(tmp_path) as journal:
        assert journal.latest_snapshot() is None
        assert not list(tmp_path.glob("*.tmp"))


async def test_no_fsync_mode_still_writes_and_replays(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path, fsync=False) as journal:
        assert journal.fsync is False
        for i in range(3):
            await journal.append([i])
    with FileJournal.open(tmp_path) as journal:
        assert [r for _, r in batches(journal)] == [[0], [1], [2]]


async def test_closed_journal_refuses_appends(tmp_path: Path) -> None:
    journal = FileJournal.open(tmp_path)
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        await journal.append([1])


async def test_failed_write_stops_further_appends(tmp_path: Path) -> None:
    journal = FileJournal.open(tmp_path)
    await journal.append([1])
    os.close(journal._fd)  # the disk goes away under the journal
    with pytest.raises(OSError):
        await journal.append([2])
    with pytest.raises(JournalError, match="reopened"):
        await journal.append([3])
    journal._fd = None
    journal.close()
    with FileJournal.open(tmp_path) as reopened:
        assert [r for _, r in batches(reopened)] == [[1]]


def test_append_blocking_for_synchronous_callers(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        assert journal.append_blocking(["sync"]) == 1
        assert batches(journal) == [(1, ["sync"])]


async def test_high_water_mark_survives_one_torn_slot_but_not_two(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        for i in range(3):
            await journal.append([i])
    mark = tmp_path / "HIGHWATER"
    slots = mark.read_bytes()
    mark.write_bytes(bytes(32) + slots[32:])  # a crash tore the slot being written: the other one holds
    with FileJournal.open(tmp_path) as journal:
        assert journal.last_seq == 3
    mark.write_bytes(bytes(64))
    with pytest.raises(JournalCorruption, match="both high-water mark slots fail"):
        FileJournal.open(tmp_path)
