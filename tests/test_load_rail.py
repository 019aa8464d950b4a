"""The harness and simulated banks against the REAL rail: in-process, and `rail serve` killed mid-run."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time

import msgspec
import pytest

from participants.bank import BankBehaviour, Outage
from participants.cli import codec_factory
from participants.harness import LoadConfig, LoadRun, Scenario, http_target, inprocess_target
from participants.treasury import Treasury
from rail import rundir
from rail.api.routes import RailApi
from rail.api.service import RailService

FAST = BankBehaviour(accept_latency_ms_median=3.0, accept_latency_sigma=0.4, reject_rate=0.02, inbox_wait_s=0.5)


def cfg(rate, duration, behaviour=FAST, banks=4, timeout=10.0, **kw) -> LoadConfig:
    return LoadConfig(rate_per_s=rate, duration_s=duration, seed=11, banks=banks, payment_timeout_s=timeout,
                      scenario=Scenario(bank=behaviour), **kw)


async def test_real_rail_in_process_settles_reconciles_and_records_liquidity():
    service = await RailService.open(None, fsync=True)
    try:
        treasury = Treasury(opening_balance_paisa=3_000_000_00, threshold_paisa=2_000_000_00,
                            topup_paisa=5_000_000_00, check_interval_ms=50)
        behaviour = msgspec.structs.replace(FAST, treasury=treasury)
        result = await LoadRun(inprocess_target(RailApi(service)), cfg(200, 2.0, behaviour), codec_factory("xml")).run()
    finally:
        await service.close()
    s = result.summary
    assert s.reconciliation.ok, s.reconciliation.mismatches
    assert s.reconciliation.rail_conserved is True and s.timeouts == 0
    assert s.counts_by_status["ACSC"] > 300
    assert set(s.counts_by_reason) <= {"AC01", "AC04", "AC06", "AG01", "BE01", "RR04", "AM04"}
    assert any(rec.topups_count for rec in result.liquidity.values()), "lean treasuries must have needed top-ups"
    assert "rail_messages_received_total" in (result.metrics_text or "")


async def test_real_rail_times_out_a_silent_bank_with_ab05_and_the_rest_settle():
    service = await RailService.open(None, fsync=True, creditor_timeout_ms=1_000, hard_stop_ms=3_000)
    try:
        silent = service.scheme.banks[1].bic
        behaviour = msgspec.structs.replace(
            FAST, reject_rate=0.0, outages=[Outage(start_s=0.5, end_s=60, bic=silent, mode="no_answer")])
        result = await LoadRun(inprocess_target(RailApi(service)), cfg(150, 1.5, behaviour), codec_factory("xml")).run()
    finally:
        await service.close()
    to_silent = [p for p in result.payments if p.creditor_bic == silent and p.intended_at_ms > 600]
    assert to_silent and all(p.final_status == "RJCT" and p.reason == "AB05" for p in to_silent)
    others = [p for p in result.payments if p.creditor_bic != silent]
    assert others and all(p.final_status == "ACSC" for p in others)
    assert result.summary.timeouts == 0
    assert result.summary.reconciliation.ok, result.summary.reconciliation.mismatches


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, data_dir, token: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rail", "serve", "--port", str(port), "--data", str(data_dir), "--admin-token", token,
         "--creditor-timeout-ms", "1000", "--hard-stop-ms", "3000", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )


async def wait_up(url: str, timeout_s: float = 20.0) -> None:
    from participants.transport import HttpTransport, RailUnreachable

    probe = HttpTransport(url)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            try:
                if await probe.healthz():
                    return
            except RailUnreachable:
                pass
            await asyncio.sleep(0.05)
    finally:
        await probe.close()
    raise AssertionError(f"rail at {url} did not come up")


@pytest.mark.slow
async def test_rail_killed_and_restarted_mid_run_gap_reported_and_settled_payments_reconcile(tmp_path):
    port, token = free_port(), "admin-token-for-test"
    url = f"http://127.0.0.1:{port}"
    proc = serve(port, tmp_path / "data", token)
    procs = [proc]
    try:
        await wait_up(url)
        run = LoadRun(http_target(url, token), cfg(150, 4.0, timeout=12.0), codec_factory("xml"))

        async def crash_and_restart() -> None:
            await asyncio.sleep(1.5)
            os.killpg(proc.pid, signal.SIGKILL)  # no clean shutdown: the journal alone must carry the state
            proc.wait()
            await asyncio.sleep(0.5)
            procs.append(serve(port, tmp_path / "data", token))
            await wait_up(url)

        restarter = asyncio.create_task(crash_and_restart())
        result = await run.run()
        await restarter
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(10)
    s = result.summary
    assert s.rail_gaps, "the outage must be reported as a gap"
    assert s.rail_gaps[0]["start_s"] >= 1.0
    assert s.payments_sent == s.payments_offered
    # Every payment ends ACSC or RJCT (in-flight ones time out AB05 after the restart, or resume); nothing is
    # lost: the rail's balances moved exactly by what the harness saw settle, and the banks' books agree.
    assert s.timeouts == 0, s.notes
    assert s.reconciliation.ok, s.reconciliation.mismatches
    assert s.reconciliation.rail_conserved is True
    assert s.counts_by_status.get("ACSC", 0) > 0
    rows = list(result.payments)
    assert all(r.final_status in ("ACSC", "RJCT") for r in rows)
    assert rundir.STAGE_END_TO_END in s.latency_ms


def _metric(text: str, name: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " ")]
    assert values, f"{name} not in /metrics"
    return values[0]


def _decode_workers(rail_pid: int) -> list[int]:
    children = open(f"/proc/{rail_pid}/task/{rail_pid}/children").read().split()
    return [int(pid) for pid in children if b"decode_worker" in open(f"/proc/{pid}/cmdline", "rb").read()]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the worker")
async def test_rail_serve_settles_through_a_decode_worker_killed_mid_run(tmp_path):
    """`rail serve --decode-workers 1` under the harness over HTTP; the worker SIGKILLed mid-run: the bodies it
    held are decoded by the rail itself, a new worker takes over, and the run reconciles with no timeout."""
    from participants.transport import HttpTransport

    port, token = free_port(), "admin-token-for-test"
    url = f"http://127.0.0.1:{port}"
    proc = serve(port, tmp_path / "data", token, "--decode-workers", "1")
    admin = HttpTransport(url, token)
    try:
        await wait_up(url)
        while not (workers := _decode_workers(proc.pid)) or "rail_decode_workers_ready 1.0" not in (
            await admin.metrics() or ""
        ):
            await asyncio.sleep(0.1)
        run = LoadRun(http_target(url, token), cfg(150, 3.0), codec_factory("xml"))

        async def kill_the_worker() -> None:
            await asyncio.sleep(1.2)
            os.kill(workers[0], signal.SIGKILL)

        killer = asyncio.create_task(kill_the_worker())
        result = await run.run()
        await killer
        text = await admin.metrics() or ""
        assert _metric(text, "rail_decode_worker_restarts_total") == 1
        assert _metric(text, "rail_decode_workers_ready") == 1  # the new one
        assert _metric(text, 'rail_decode_bodies_total{where="worker"}') > 300
        assert _decode_workers(proc.pid) != workers
    finally:
        await admin.close()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    s = result.summary
    assert s.timeouts == 0, s.notes
    assert s.reconciliation.ok, s.reconciliation.mismatches
    assert s.counts_by_status.get("ACSC", 0) > 300
