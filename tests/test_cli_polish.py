"""What a user meets at the edges: refused ports, pipes closed early, unwrapped logs, clear argument errors,
Ctrl-C that keeps what was measured, 401s that say why, acknowledgements that say what they did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_rail_e2e import A_IBAN, BANK_A, Rail, bank, credit_transfer, rail  # noqa: F401 - the fixture

from rail import rundir

RAIL = [sys.executable, "-m", "rail"]


def test_serve_refuses_a_port_beyond_65535():
    proc = subprocess.run([*RAIL, "serve", "--port", "99999"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "99999 is not a TCP port" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("argv", "env", "words"), [
    (["--group-commit-ms", "500"], {}, "500 ms: use 0 (each batch at once) to 100"),
    ([], {"RAIL_GROUP_COMMIT_MS": "soon"}, "'soon' is not a number of milliseconds"),
])
def test_serve_refuses_a_group_commit_window_that_would_hold_answers(argv, env, words):
    proc = subprocess.run([*RAIL, "serve", *argv], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **env})
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv", [["scheme", "--json"], ["scheme"], ["message", "acmt023", "--from", "TESTPKKA",
                                                                       "--alias", "+923001234567"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(argv):
    proc = subprocess.Popen([*RAIL, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head` that has read all it wanted, before the command writes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) != 0 and err == ""


def test_output_not_on_a_terminal_is_not_wrapped_at_80_columns():
    out = subprocess.run([*RAIL, "scheme", "--bank", "MEZNPKKA"], capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": "80"}).stdout
    rows = [line for line in out.splitlines() if "PK63MEZN0005000000000001" in line]
    assert len(rows) == 1 and "RJCT AC01: account number invalid" in rows[0] and len(rows[0]) > 80


def test_demo_with_one_bank_fails_before_creating_a_run_directory(tmp_path):
    proc = subprocess.run([*RAIL, "demo", "--banks", "1", "--out", "run"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("rail demo: --banks 1") and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def _start(argv: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_load(proc: subprocess.Popen, timeout_s: float = 60) -> None:
    """Until the harness reports progress under load (its plain progress lines go to stderr)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if line.lstrip().startswith("load "):
            return
    proc.kill()
    raise AssertionError("the run never reported load")


def _check_partial_run(out: Path, duration_s: float, rate: float) -> rundir.RunSummary:
    summary = rundir.read_run_summary(out)
    assert summary.interrupted and summary.interrupted_at_s < duration_s
    assert 0 < summary.payments_offered < rate * duration_s
    assert summary.payments_sent == summary.payments_offered and summary.reconciliation.ok
    assert sum(summary.counts_by_status.values()) == summary.payments_offered  # one base: the whole run
    assert any("interrupted by" in note for note in summary.notes)
    return summary


@pytest.mark.slow
def test_ctrl_c_during_the_demo_writes_the_partial_run_and_exits_130(tmp_path):
    proc = _start([*RAIL, "demo", "--duration", "30", "--rate", "50", "--out", "run"], tmp_path)
    _wait_for_load(proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "interrupted by SIGINT" in err
    summary = _check_partial_run(tmp_path / "run", 30, 50)
    # The terminal table and the report count on the same, named bases.
    assert "payments offered / sent (whole run)" in out and f"INTERRUPTED at {summary.interrupted_at_s:g} s" in out
    report = (tmp_path / "run" / "report.html").read_text()
    assert "INTERRUPTED" in report and "Counted over the whole run" in report


@pytest.mark.slow
def test_sigterm_during_a_load_writes_the_partial_run_and_exits_143(tmp_path):
    serve = _start([*RAIL, "serve", "--port", "0", "--data", "data", "--admin-token", "adm1n"], tmp_path)
    try:
        url = serve.stdout.readline().split("listening on ")[1].split()[0]
        load = _start([*RAIL, "load", "--target", url, "--admin-token", "adm1n", "--rate", "50",
                       "--duration", "30", "--warmup", "0.5", "--out", "run"], tmp_path)
        _wait_for_load(load)
        time.sleep(1.0)
        load.send_signal(signal.SIGTERM)
        _, err = load.communicate(timeout=60)
        assert load.returncode == 143, err[-2000:]
        assert "Traceback" not in err and "interrupted by SIGTERM" in err
        _check_partial_run(tmp_path / "run", 30, 50)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=30)


async def test_401_says_why_and_never_echoes_the_token(rail: Rail):  # noqa: F811 - the fixture
    participant, admin = rail.tokens[BANK_A], rail.service.admin_token
    cases = [
        ("/v1/balance", {}, "no Authorization header"),
        ("/v1/balance", {"Authorization": participant}, "not a Bearer token"),
        ("/v1/balance", {"Authorization": "Basic dXNlcjpwYXNz"}, "not a Bearer token"),
        ("/v1/balance", {"Authorization": "Bearer "}, "the Bearer token is empty"),
        ("/v1/balance", {"Authorization": f"Bearer {admin}"}, "the admin token cannot act as a participant"),
        ("/v1/balance", {"Authorization": f"Bearer {participant}x"}, "unknown token"),
        ("/admin/balances", {"Authorization": f"Bearer {participant}"}, "participant token cannot use /admin"),
        ("/admin/balances", {"Authorization": "Bearer nope-nope"}, "not the admin token"),
        ("/admin/balances", {}, "no Authorization header"),
    ]
    for path, headers, why in cases:
        async with rail.session.get(f"{rail.url}{path}", headers=headers) as response:
            body = await response.text()
            assert response.status == 401, (path, headers, body)
            assert why in json.loads(body)["detail"], (why, body)
            assert participant not in body and admin not in body
    # The payment path answers the same way.
    async with rail.session.post(f"{rail.url}/v1/messages", data=b"<x/>",
                                 headers={"Authorization": f"Bearer {admin}"}) as response:
        assert response.status == 401 and "admin token cannot act" in (await response.json())["detail"]


async def test_inbox_ack_answers_the_sequence_it_acknowledged(rail: Rail):  # noqa: F811 - the fixture
    creditor_iban = bank(rail.service, "MEZNPKKA").customers[0].iban
    for _ in range(2):
        status, _, _ = await rail.send(BANK_A, credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban), wait_s=5)
        assert status == 200
    messages = await rail.inbox(BANK_A, until=2)
    last = messages[-1]["seq"]

    async def ack(upto) -> int:
        async with rail.session.post(f"{rail.url}/v1/inbox/ack", json={"upto": upto},
                                     headers=rail.auth(BANK_A)) as response:
            assert response.status == 200
            return (await response.json())["acked_upto"]

    assert await ack(last - 1) == last - 1
    assert await ack(0) == last - 1  # an older ack changes nothing: the answer says so
    assert await ack(10**9) == last  # beyond the last message: acknowledged up to it, not to 10**9
