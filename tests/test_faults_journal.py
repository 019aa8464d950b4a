"""A damaged journal under a real `rail serve`: recovery never guesses, and no acknowledged payment is lost.

One journal is made once: 120 payments answered ACSC by a `rail serve` that is then SIGKILLed. Each test damages
a copy the way a disk or an operator can, and restarts the real process on it: either the rail refuses to start,
naming the file, the offset and what it found, and changes nothing on disk; or the damage was a torn tail (a
write that never completed) and every acknowledged payment is there. `rail journal verify` and `salvage` are
run as an operator would, with the commands docs/operations.md gives.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import aiohttp
import pytest
from conftest import REPO
from faults import DEBTOR, DEBTOR_IBAN, Client, RailProcess, accept_now_iban, rail_command, serve_command
from test_rail_e2e import credit_transfer

from rail.settlement.journal_format import HIGHWATER_EVERY_S, encode_frame, iter_frames
from rail.settlement.journal_scan import inspect_journal

PAYMENTS = 120

pytestmark = pytest.mark.slow


class Acknowledged:
    """The journal template and what its rail acknowledged."""

    def __init__(self, data: Path, token: str, uetrs: list[str]) -> None:
        self.data = data
        self.token = token
        self.uetrs = uetrs


@pytest.fixture(scope="module")
def acknowledged(tmp_path_factory) -> Acknowledged:
    data = tmp_path_factory.mktemp("template") / "data"
    rail = RailProcess(data).start()

    async def pay() -> tuple[str, list[str]]:
        async with aiohttp.ClientSession() as session:
            client = Client(session, rail.url)
            await client.join()
            uetrs = []
            for index in range(PAYMENTS):
                if index == PAYMENTS - 1:
                    await asyncio.sleep(HIGHWATER_EVERY_S)  # the last payment's batch moves the mark up
                message = credit_transfer(DEBTOR, "MEZNPKKA", DEBTOR_IBAN, accept_now_iban(), 10_000)
                status, answer = await client.send(message, wait_s=5)
                assert (status, answer.tx.tx_sts) == (200, "ACSC")
                uetrs.append(message.tx.uetr)
            return client.token, uetrs

    try:
        token, uetrs = asyncio.run(pay())
    finally:
        rail.kill()  # no clean stop: no final snapshot, the journal ends where the last batch did
    return Acknowledged(data, token, uetrs)


def copy_of(acknowledged: Acknowledged, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(acknowledged.data, data)
    return data


def wal_of(data: Path) -> Path:
    (wal,) = sorted((data / "journal").glob("wal-*.log"))
    return wal


def frames(wal: Path) -> list[tuple[int, int]]:
    """(offset, end) of every frame."""
    return [(offset, frame.end) for offset, frame in iter_frames(wal.read_bytes())]


def refused_start(data: Path) -> str:
    """Start `rail serve` on a damaged journal: it must exit at once, non-zero; returns what it printed."""
    before = {p.name: p.read_bytes() for p in (data / "journal").iterdir() if p.name != "LOCK"}
    result = rail_command(*serve_command(data)[3:], timeout_s=30)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "listening" not in result.stdout
    after = {p.name: p.read_bytes() for p in (data / "journal").iterdir() if p.name != "LOCK"}
    assert after == before  # recovery changed nothing
    assert f"rail journal verify --data {data}" in result.stderr
    return result.stderr


async def all_present(rail: RailProcess, token: str, uetrs: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        client = Client(session, rail.url, token)
        for uetr in uetrs:
            status, view = await client.payment(uetr)
            assert (status, view.get("status")) == (200, "ACSC"), uetr


def zero(path: Path, start: int, end: int) -> None:
    data = bytearray(path.read_bytes())
    data[start:end] = bytes(end - start)
    path.write_bytes(bytes(data))


def test_zeroed_frames_in_the_middle_stop_the_start_and_salvage_keeps_the_rest(acknowledged, tmp_path):
    """The issue's case: frames 11-80 zeroed; the rail used to start and lose 118 of 120 payments."""
    data = copy_of(acknowledged, tmp_path)
    wal = wal_of(data)
    spans = frames(wal)
    assert len(spans) > 80
    zero(wal, spans[10][0], spans[79][1])
    stderr = refused_start(data)
    assert f"{wal} at offset {spans[10][0]}" in stderr and "zero bytes" in stderr
    # The operator's way out, as docs/operations.md gives it.
    verify = rail_command("journal", "verify", "--data", str(data))
    assert verify.returncode == 1 and f"offset {spans[10][0]}" in verify.stdout
    command = re.search(r"rail journal salvage --data \S+ --upto (\d+)", verify.stdout)
    assert command and int(command.group(1)) == 10
    salvage = rail_command("journal", "salvage", "--data", str(data), "--upto", command.group(1))
    assert salvage.returncode == 0, salvage.stderr
    (aside,) = data.glob("journal.damaged-*")
    assert (aside / wal.name).read_bytes()[spans[10][0] : spans[79][1]] == bytes(spans[79][1] - spans[10][0])
    assert rail_command("journal", "verify", "--data", str(data)).returncode == 0
    rail = RailProcess(data).start()
    try:  # what the kept batches hold is there (the first payments); the rest was set aside, as salvage said
        asyncio.run(all_present(rail, acknowledged.token, acknowledged.uetrs[:2]))
    finally:
        output = rail.stop()
    assert re.search(r"replayed (\d+) journaled commands", output)
    assert "set aside: batches 11.." in salvage.stdout


@pytest.mark.parametrize(
    "damage",
    [
        "zeroed_file",
        "emptied_file",
        "bit_flip_in_last_frame",
        "journal_deleted",
        "replayed_region",
        "cut_at_frame",
    ],
)
def test_damage_that_is_not_a_torn_tail_stops_the_start(acknowledged, tmp_path, damage):
    data = copy_of(acknowledged, tmp_path)
    wal = wal_of(data)
    spans = frames(wal)
    expected = {
        "zeroed_file": "not a journal segment: found 64 zero bytes",
        "emptied_file": "shorter than its 64-byte header",
        "bit_flip_in_last_frame": f"batch {len(spans)} fails its payload checksum",
        "journal_deleted": "refusing to start a new, empty history",
        "replayed_region": f"frame has batch 5, expected batch {len(spans) + 1}",
        "cut_at_frame": "the high-water mark HIGHWATER shows batch",
    }[damage]
    if damage == "zeroed_file":
        zero(wal, 0, wal.stat().st_size)
    elif damage == "emptied_file":
        wal.write_bytes(b"")
    elif damage == "bit_flip_in_last_frame":
        raw = bytearray(wal.read_bytes())
        raw[spans[-1][1] - 3] ^= 0x10
        wal.write_bytes(bytes(raw))
    elif damage == "journal_deleted":
        for path in (data / "journal").iterdir():
            path.unlink()
    elif damage == "replayed_region":
        raw = wal.read_bytes()
        wal.write_bytes(raw + raw[spans[4][0] : spans[4][1]])
    else:  # cut cleanly at a frame boundary: it looks like fewer batches written, but the mark knows better
        wal.write_bytes(wal.read_bytes()[: spans[-30][0]])
    assert expected in refused_start(data)


def test_torn_tail_is_truncated_logged_and_every_acknowledged_payment_is_there(acknowledged, tmp_path):
    data = copy_of(acknowledged, tmp_path)
    wal = wal_of(data)
    report = inspect_journal(data / "journal")
    torn = encode_frame(report.last_good_seq + 1, b"\x91\x01" * 300, report.chain)[:-100]
    wal.write_bytes(wal.read_bytes() + torn)
    verify = rail_command("journal", "verify", "--data", str(data))
    assert verify.returncode == 0 and "torn tail" in verify.stdout
    rail = RailProcess(data).start()
    try:
        asyncio.run(all_present(rail, acknowledged.token, acknowledged.uetrs))
    finally:
        output = rail.stop()
    assert f"truncating {wal}" in output and "was never acknowledged" in output


def test_operations_doc_gives_the_commands_the_tests_run():
    doc = (REPO / "docs" / "operations.md").read_text()
    commands = re.findall(r"^rail journal (\w+) --data (\S+)(?: --upto (\S+))?$", doc, re.MULTILINE)
    assert {c[0] for c in commands} == {"verify", "salvage"}
    for name in ("verify", "salvage"):
        help_text = rail_command("journal", name, "--help").stdout
        assert "--data" in help_text
