"""Real `rail serve` processes against the machine's limits: two on one data directory, and a full disk."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from faults import DEBTOR, DEBTOR_IBAN, Client, RailProcess, accept_now_iban, rail_command, serve_command
from test_rail_e2e import credit_transfer

pytestmark = pytest.mark.slow

DISK_BYTES = 4 * 1024 * 1024
DISK_FREE_BYTES = 96 * 1024  # left after the filler: a few dozen payments' batches


def test_second_rail_on_one_data_directory_exits_at_once_naming_the_holder(tmp_path):
    first = RailProcess(tmp_path / "data").start()
    try:
        started = time.monotonic()
        second = rail_command(*serve_command(tmp_path / "data")[3:], timeout_s=30)
        assert time.monotonic() - started < 15
        assert second.returncode == 1 and "listening" not in second.stdout
        assert f"in use by process {first.pid}" in second.stderr
        verify = rail_command("journal", "verify", "--data", str(tmp_path / "data"))
        assert verify.returncode == 2 and f"in use by process {first.pid}" in verify.stderr  # tools too
        assert first.process.poll() is None  # the first one serves on, untouched
    finally:
        first.kill()
    # The kernel releases the lock with the process, however it ended: the next start recovers.
    RailProcess(tmp_path / "data").start().stop()


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs (the machine's own 'disk full'); skipped where mounting is not allowed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}); the injected ENOSPC "
                    "test in test_faults_answers.py covers the same path")  # fmt: skip
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path, leave_bytes: int) -> Path:
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    filler = disk / "filler"
    filler.write_bytes(b"\xff" * max(0, free - leave_bytes))
    return filler


async def _pay_until_refused(rail: RailProcess, disk: Path) -> tuple[str, dict[str, str], list[int]]:
    acknowledged: dict[str, str] = {}
    statuses: list[int] = []
    async with aiohttp.ClientSession() as session:
        client = Client(session, rail.url)
        await client.join()
        fill(disk, DISK_FREE_BYTES)
        for _ in range(400):
            message = credit_transfer(DEBTOR, "MEZNPKKA", DEBTOR_IBAN, accept_now_iban(), 10_000)
            status, answer = await client.send(message, wait_s=5)
            statuses.append(status)
            if status in (200, 202):
                acknowledged[message.tx.uetr] = answer.tx.tx_sts
            if statuses[-3:] == [503, 503, 503]:
                break
        # Every route now answers 503 (the core stopped on the failed write), never 500.
        for method, path, body in (
            ("GET", "/admin/balances", None),
            ("POST", "/admin/liquidity", {"bic": DEBTOR, "amount": 1, "direction": "in"}),
            ("POST", "/admin/participants", {"bic": "LATEPKKA", "name": "late"}),
            ("GET", "/healthz", None),
        ):
            status, _ = await client.admin(method, path, json=body)
            assert status == 503, (method, path, status)
        async with session.get(
            f"{rail.url}/v1/inbox?ack=1", headers={"Authorization": f"Bearer {client.token}"}
        ) as r:
            assert r.status == 503
    return client.token, acknowledged, statuses


def test_full_disk_stops_the_core_cleanly_and_loses_nothing_acknowledged(small_disk):
    data = small_disk / "data"
    rail = RailProcess(data).start()
    try:
        token, acknowledged, statuses = asyncio.run(_pay_until_refused(rail, small_disk))
    finally:
        rail.kill()
    assert statuses[-1] == 503 and 5 <= len(acknowledged) < len(statuses), statuses
    (small_disk / "filler").unlink()
    assert rail_command("journal", "verify", "--data", str(data)).returncode == 0
    again = RailProcess(data).start()

    async def check() -> None:
        async with aiohttp.ClientSession() as session:
            client = Client(session, again.url, token)
            for uetr, told in acknowledged.items():
                status, view = await client.payment(uetr)
                assert status == 200, f"acknowledged payment {uetr} lost"
                assert told == "ACTC" or view["status"] == told
            status, balances = await client.admin("GET", "/admin/balances")
            assert status == 200 and balances["conserved"] is True

    try:
        asyncio.run(check())
    finally:
        again.stop()
