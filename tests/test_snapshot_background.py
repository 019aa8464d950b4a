"""Snapshots are written in the background (rail/settlement/snapshot_child.py): the settlement core answers while
a large state is being written, and a rail killed mid-write leaves no writer behind and starts again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rail.settlement.core as core_module
from rail.api.service import RailService
from rail.settlement import snapshot_child
from rail.settlement.journal_format import TEMP_NAME

pytestmark = pytest.mark.skipif(not snapshot_child.available(), reason="background snapshots need Linux's fork")

BANK = "TESTPKKA"
WRITER_SLOW_S = 2.0  # the state's encoding, slowed down: it stands for millions of payments
CHILD = Path(__file__).with_name("slow_snapshot_child.py")


async def test_the_core_answers_while_a_large_snapshot_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(core_module, "SNAPSHOT_EVERY_COMMANDS", 3)
    encode = core_module.settlement_to_state

    def slow(settlement):  # runs in the forked writer; in the core's process it would stop the core this long
        time.sleep(WRITER_SLOW_S)
        return encode(settlement)

    monkeypatch.setattr(core_module, "settlement_to_state", slow)
    service = await RailService.open(tmp_path, fsync=True)
    try:
        await service.add_participant(BANK, "Test bank")
        for _ in range(4):  # enough commands for a snapshot to start
            await service.liquidity(BANK, 1_000, "in")
        started = time.perf_counter()
        latencies = []
        while service.journal.snapshot_seq == 0 and time.perf_counter() - started < WRITER_SLOW_S + 20:
            sent = time.perf_counter()
            await service.liquidity(BANK, 1_000, "in")
            latencies.append(time.perf_counter() - sent)
        assert service.journal.snapshot_seq > 0, "the snapshot was never written"
        assert time.perf_counter() - started >= WRITER_SLOW_S * 0.9, "the snapshot did not wait for its writer"
        assert len(latencies) >= 10 and max(latencies) < WRITER_SLOW_S / 4, latencies
        posted = (await service.balances())["accounts"][BANK]["posted_paisa"]
    finally:
        await service.close()
    monkeypatch.setattr(core_module, "settlement_to_state", encode)
    reopened = await RailService.open(tmp_path, fsync=True)
    try:
        assert (await reopened.balances())["accounts"][BANK]["posted_paisa"] == posted
        assert reopened.core.replayed_commands < len(latencies) + 6  # recovery started from the snapshot
    finally:
        await reopened.close()


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # ended (a zombie waits for a reaper that may not exist in a container)


def test_a_rail_killed_while_its_writer_runs_leaves_no_writer_and_starts_again(tmp_path):
    child = subprocess.Popen([sys.executable, str(CHILD), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line[:1] == ["WRITING"], f"the child said {line!r}"
        writer, acknowledged = int(line[1]), int(line[2])
        for _ in range(5):  # it settles on while the writer runs
            acknowledged = int(child.stdout.readline().split()[1])
        assert not _gone(writer)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    deadline = time.monotonic() + 10
    while not _gone(writer) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(writer), "the snapshot writer outlived the rail"
    asyncio.run(_starts_again_with(tmp_path, acknowledged))


async def _starts_again_with(directory: Path, acknowledged_paisa: int) -> None:
    reopened = await RailService.open(directory, fsync=True)  # the data directory's lock is free again
    try:
        assert (await reopened.balances())["accounts"][BANK]["posted_paisa"] >= acknowledged_paisa
        assert reopened.journal.snapshot_seq == 0  # the half-written snapshot never counted
        assert not [name for name in os.listdir(directory) if TEMP_NAME.match(name)]
    finally:
        await reopened.close()
