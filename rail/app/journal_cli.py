"""`rail journal verify|salvage`: check a stopped rail's journal, and the way out when it is damaged.

    rail journal verify --data ./rail-data
    rail journal salvage --data ./rail-data --upto 4309

`verify` reads every byte (segments, snapshot, high-water mark), checks every checksum, sequence and the chain,
and says what `rail serve` would do: start (perhaps truncating a torn tail, which it names), or refuse, with the
first damage (file, offset, what was found) and the highest batch a salvage can keep. It writes nothing.

`salvage --upto SEQ` is the operator's decision to continue from batch SEQ: it writes a new journal holding
the snapshot and batches up to SEQ (byte for byte, checked again), moves the damaged journal aside to
`<journal>.damaged-<UTC time>` (nothing is deleted) and puts the new one in its place. Batches after SEQ
are no longer in the rail; if any of them was acknowledged, its participants hold the only record of it, so
salvage prints the range it set aside. Both commands refuse while a rail has the journal open.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import sys
from pathlib import Path

from rail.settlement.journal import fsync_directory, lock_directory
from rail.settlement.journal_format import (
    FRAME_SEAL,
    HIGHWATER_NAME,
    SEGMENT_HEADER,
    JournalError,
    highwater_slot,
    iter_frames,
    read_highwater,
)
from rail.settlement.journal_scan import JournalReport, inspect_journal

EXIT_CLEAN = 0
EXIT_DAMAGED = 1
EXIT_REFUSED = 2


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="journal_command", metavar="ACTION", required=True)
    verify = sub.add_parser(
        "verify",
        help="check every byte of a stopped rail's journal; say what `rail serve` would do",
        description="Check every checksum, sequence and the checksum chain of a stopped rail's journal, and "
        "report the first damage (file, offset, what was found) and what a salvage could keep. Writes nothing. "
        "Exit status: 0 the rail would start, 1 damaged, 2 could not check.",
    )
    salvage = sub.add_parser(
        "salvage",
        help="keep the journal up to batch SEQ in a new journal; move the damaged one aside",
        description="Write a new journal with the snapshot and the batches up to --upto (checked again), move "
        "the damaged journal aside (<journal>.damaged-<time>, nothing is deleted) and put the new one in its "
        "place. Batches after SEQ leave the rail: `rail journal verify` first shows what that means.",
    )
    for command in (verify, salvage):
        command.add_argument(
            "--data",
            type=Path,
            required=True,
            help="the rail's data directory (its journal is DIR/journal), or a journal directory itself",
        )
    salvage.add_argument(
        "--upto",
        type=int,
        required=True,
        metavar="SEQ",
        help="the last batch to keep (verify names the highest)",
    )


def run(args: argparse.Namespace) -> int:
    directory = journal_directory(args.data)
    if directory is None:
        print(f"rail journal: no journal in {args.data} (expected {args.data / 'journal'})", file=sys.stderr)
        return EXIT_REFUSED
    try:
        lock_fd = lock_directory(directory)
    except (JournalError, OSError) as error:
        print(f"rail journal: {error}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        if args.journal_command == "verify":
            return verify(directory, args.data)
        return salvage(directory, args.upto)
    finally:
        os.close(lock_fd)


def journal_directory(data: Path) -> Path | None:
    """The journal of a rail data directory (DIR/journal), or DIR itself when it holds one."""
    for candidate in (data / "journal", data):
        if candidate.is_dir() and any(
            name.startswith(("wal-", "snapshot-")) or name == HIGHWATER_NAME for name in os.listdir(candidate)
        ):
            return candidate
    return None


# ---- verify ------------------------------------------------------------------------------------------------


def verify(directory: Path, data: Path) -> int:
    report = inspect_journal(directory)
    print(f"journal {directory} (format 2, id {report.journal_id.hex() if report.journal_id else '?'})")
    if report.snapshot is not None:
        print(f"  snapshot  {report.snapshot_path.name}  batch {report.snapshot.seq}")
    damage = report.damage
    for segment in report.segments:
        batches = (
            f"batches {segment.first_seq}..{segment.last_seq}"
            if segment.last_seq >= segment.first_seq
            else "no batch"
        )
        notes = ("  sealed" if segment.sealed else "") + (
            "  <- damaged" if damage and damage.path == segment.path else ""
        )
        print(f"  segment   {segment.path.name}  {batches}  {segment.size:,} bytes{notes}")
    read = {s.path.name for s in report.segments}
    for name in sorted(os.listdir(directory)):
        if name.startswith("wal-") and name.endswith(".log") and name not in read:
            print(f"  segment   {name}  not read (it comes after the damage)")
    if damage is None:
        print(f"clean: batches up to {report.last_good_seq}; `rail serve` starts and replays them")
        return EXIT_CLEAN
    if damage.torn:
        print(
            f"torn tail: {damage.path} at offset {damage.offset}: {damage.detail}\n"
            f"`rail serve` starts with batches up to {report.last_good_seq} and truncates that tail "
            "(a write that never completed, so never acknowledged)"
        )
        return EXIT_CLEAN
    print(f"DAMAGED: {damage.path} at offset {damage.offset}: {damage.detail}")
    print(_way_out(report, data))
    return EXIT_DAMAGED


def _way_out(report: JournalReport, data: Path) -> str:
    usable = _salvageable(report)
    if usable is None:
        return (
            "nothing can be salvaged automatically (the snapshot is damaged and the batches before it are "
            "gone); restore the data directory from a backup"
        )
    start, last, _ = usable
    keeps = (
        f"batches up to {last}" if last > start else "no batch after the snapshot" if start else "no batch"
    )
    return (
        f"`rail serve` refuses to start. A salvage can keep {'the snapshot and ' if start else ''}{keeps}, "
        f"setting the rest aside:\n  rail journal salvage --data {data} --upto {last}"
    )


def _salvageable(report: JournalReport) -> tuple[int, int, JournalReport] | None:
    """(replay from, highest batch to keep, the report it comes from), or None. A damaged snapshot is
    dropped when the segments still reach back to batch 1."""
    if report.damage is not None and report.damage.path.name.startswith("snapshot-"):
        without = inspect_journal(report.directory, use_snapshot=False)
        if without.segments and without.segments[0].first_seq == 1:
            return 0, without.last_good_seq, without
        return None
    if report.last_good_seq < report.replay_from_seq:
        return None
    return report.replay_from_seq, report.last_good_seq, report


# ---- salvage -----------------------------------------------------------------------------------------------


def salvage(directory: Path, upto: int) -> int:
    usable = _salvageable(inspect_journal(directory))
    if usable is None:
        print("rail journal salvage: nothing can be salvaged (see `rail journal verify`)", file=sys.stderr)
        return EXIT_REFUSED
    start, last, report = usable
    if not start <= upto <= last:
        print(
            f"rail journal salvage: --upto must be between {start} (the snapshot's batch) and {last} (the last "
            "batch that checks)",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    staging = directory.with_name(directory.name + ".salvage.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    _copy_upto(report, staging, upto)
    check = inspect_journal(staging)
    if check.damage is not None or check.last_good_seq != upto:
        shutil.rmtree(staging, ignore_errors=True)
        print(
            f"rail journal salvage: the new journal does not check ({check.damage}); nothing changed",
            file=sys.stderr,
        )
        return EXIT_DAMAGED
    aside = directory.with_name(f"{directory.name}.damaged-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}")
    for attempt in range(2, 100):  # salvaged twice within a second: keep both
        if not aside.exists():
            break
        aside = aside.with_name(f"{aside.name.split('~')[0]}~{attempt}")
    directory.rename(aside)
    staging.rename(directory)
    fsync_directory(directory.parent)
    beyond = _last_batch_known(aside, report)
    print(f"salvaged: {directory} now holds {'the snapshot and ' if start else ''}batches up to {upto}")
    print(f"the damaged journal is kept, unchanged, in {aside}")
    if beyond > upto or report.damage is not None:
        print(
            f"set aside: batches {upto + 1}..{max(beyond, upto + 1)} at least (the damaged journal shows them) are "
            "no longer in the rail; any payment acknowledged in them is known only to its participants now"
        )
    return EXIT_CLEAN


def _last_batch_known(directory: Path, report: JournalReport) -> int:
    """The highest batch the damaged journal shows existed: read, named by a later segment, or marked."""
    known = [report.last_good_seq] + [s.last_seq for s in report.segments]
    for name in os.listdir(directory):
        if name.startswith("wal-") and name.endswith(".log") and name[4:-4].isdigit():
            known.append(int(name[4:-4]) - 1)  # a segment starting at N exists: batch N - 1 did
    with contextlib.suppress(JournalError, OSError):
        known.append(read_highwater(directory / HIGHWATER_NAME)[0])
    return max(known)


def _copy_upto(report: JournalReport, staging: Path, upto: int) -> None:
    """Batches up to `upto` (and the snapshot, when used) into `staging`, byte for byte, synced."""
    chain = 0
    if report.snapshot is not None and report.snapshot.seq <= upto:
        shutil.copyfile(report.snapshot_path, staging / report.snapshot_path.name)
    for segment in report.segments:
        if segment.first_seq > upto:
            break
        data = segment.path.read_bytes()[: segment.valid_bytes]
        end, chain = _end_of_batch(data, segment.first_seq, upto)
        (staging / segment.path.name).write_bytes(data[:end])
    (staging / HIGHWATER_NAME).write_bytes(2 * highwater_slot(upto, chain, report.journal_id))
    for path in staging.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    fsync_directory(staging)


def _end_of_batch(data: bytes, first_seq: int, upto: int) -> tuple[int, int]:
    """(offset after batch `upto`, or after the segment's last batch, without its seal; the chain there)."""
    end, chain = SEGMENT_HEADER.size, SEGMENT_HEADER.unpack_from(data, 0)[4]
    for _offset, frame in iter_frames(data):  # every frame checks: `data` stops at the segment's valid bytes
        if frame.kind == FRAME_SEAL and frame.seq <= upto:
            return frame.end, chain  # the batch after it (upto) is in the next segment: keep the seal
        if frame.kind == FRAME_SEAL or frame.seq > upto:
            break
        end, chain = frame.end, frame.chain
    return end, chain
