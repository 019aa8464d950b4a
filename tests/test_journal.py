"""The write-ahead journal: ordering, durability format, snapshots, torn tails and corruption."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import msgspec
import pytest

from rail.journal import (
    FileJournal,
    Journal,
    JournalCorruption,
    JournalError,
    PayloadCodec,
    encode_frame,
)


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("wal-*.log"))


def append_bytes(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def batches(journal: FileJournal, after_seq: int = 0) -> list[tuple[int, list]]:
    return list(journal.replay(after_seq=after_seq))


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


async def test_torn_tail_partial_frame_is_truncated(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        for i in range(3):
            await journal.append([i])
    wal = segments(tmp_path)[-1]
    good_size = wal.stat().st_size
    append_bytes(wal, encode_frame(4, msgspec.msgpack.encode([3]))[:-3])  # the write never completed
    with FileJournal.open(tmp_path) as journal:
        assert journal.truncated_bytes > 0
        assert wal.stat().st_size == good_size
        assert [r for _, r in batches(journal)] == [[0], [1], [2]]
        assert await journal.append(["after"]) == 4
    with FileJournal.open(tmp_path) as journal:
        assert [r for _, r in batches(journal)][-1] == ["after"]


async def test_torn_tail_full_length_but_zeroed_payload_is_truncated(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        await journal.append(["keep"])
    wal = segments(tmp_path)[-1]
    frame = bytearray(encode_frame(2, msgspec.msgpack.encode(["lost"] * 10)))
    frame[20:] = bytes(len(frame) - 20)  # size extended but data never reached the disk
    append_bytes(wal, bytes(frame))
    with FileJournal.open(tmp_path) as journal:
        assert [r for _, r in batches(journal)] == [["keep"]]
        assert journal.last_seq == 1


async def test_corrupted_middle_record_is_refused_with_file_and_offset(tmp_path: Path) -> None:
    with FileJournal.open(tmp_path) as journal:
        for i in range(5):
            await journal.append([f"batch-{i}" * 10])
    wal = segments(tmp_path)[-1]
    data = bytearray(wal.read_bytes())
    frame_size = len(data) // 5
    data[2 * frame_size + 30] ^= 0x01  # one bit flips inside batch 3's payload
    wal.write_bytes(bytes(data))
    with pytest.raises(JournalCorruption) as caught:
        FileJournal.open(tmp_path)
    assert caught.value.path == wal
    assert caught.value.offset == 2 * frame_size
    assert str(wal) in str(caught.value) and f"offset {2 * frame_size}" in str(caught.value)
    assert wal.read_bytes() == bytes(data)  # nothing was truncated


async def test_corrupted_length_field_in_the_middle_is_refused_not_taken_for_a_torn_tail(
    tmp_path: Path,
) -> None:
    with FileJournal.open(tmp_path) as journal:
        for i in range(4):
            await journal.append([i] * 20)
    wal = segments(tmp_path)[-1]
    data = bytearray(wal.read_bytes())
    frame_size = len(data) // 4
    data[frame_size + 3] = 0x7F  # batch 2 now claims to be ~2 GB long, running past the end of the file
    wal.write_bytes(bytes(data))
    with pytest.raises(JournalCorruption, match="valid batches follow"):
        FileJournal.open(tmp_path)


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


async def test_missing_segment_is_refused(tmp_path: Path) -> None:
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
    with pytest.raises(JournalCorruption, match="later segment"):
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
