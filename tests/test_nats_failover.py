"""Active/standby settlement cores on the replicated journal: real `rail serve` processes, SIGKILL, a real
3-node NATS JetStream cluster on loopback (skipped, with the reason, only when nats-server is not installed).
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time

import aiohttp
import pytest
from test_rail_e2e import (
    A_IBAN,
    B_IBAN,
    BANK_A,
    BANK_B,
    credit_transfer,
    creditor_answer,
    parse_inbox_message,
)
from test_rail_restart import ADMIN, Client

from participants.sandbox import start_sandbox_banks
from rail import iso20022
from rail.cluster.failover import LEASE_TTL_S, LeaderLease, LeaseHeld
from rail.cluster.nats_journal import JournalFenced, NatsJournal
from rail.cluster.nats_local import LocalNatsCluster, nats_server_path

pytestmark = pytest.mark.skipif(
    nats_server_path() is None, reason="nats-server is not installed (apt-get install nats-server)"
)


CREDITOR_TIMEOUT_MS = 6_000  # longer than a takeover, so some in-flight payments can still be answered
PREFUND_PAISA = 10_000_000
FAILOVER_S_MAX = 5.0
SETTLED_BEFORE_KILL = 60  # the load test kills the active core once this many payments settled on it  # the target: active core killed -> first settled payment on the standby
_names = itertools.count(1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with LocalNatsCluster(tmp_path_factory.mktemp("nats"), nodes=3) as running:
        running.wait_jetstream_ready()
        yield running


class CoreProcess:
    """One `rail serve --journal nats://...` process (active or standby)."""

    def __init__(self, journal_url: str, data_dir, *, standby: bool, port: int = 0) -> None:
        self.url = ""
        self.lines: list[str] = []
        command = [
            sys.executable, "-m", "rail", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--data", str(data_dir), "--journal", journal_url, "--admin-token", ADMIN,
            "--creditor-timeout-ms", str(CREDITOR_TIMEOUT_MS), "--hard-stop-ms", str(2 * CREDITOR_TIMEOUT_MS),
        ]  # fmt: skip
        if standby:
            command.append("--standby")
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match:
        """Read the process's output until a line matches (blocking; output is line-buffered)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r}; output so far:\n{''.join(self.lines)}")

    def wait_listening(self, timeout_s: float = 20) -> None:
        self.url = self.wait_for(r"listening on (http://[0-9.]+:\d+)", timeout_s).group(1)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.mark.slow
async def test_standby_takes_over_after_sigkill_with_everything_acsc_present(cluster, tmp_path):
    journal_url = f"{cluster.url}/F{next(_names)}"
    active = CoreProcess(journal_url, tmp_path / "a", standby=False)
    standby = None
    session = aiohttp.ClientSession()
    try:
        active.wait_listening()
        standby = CoreProcess(journal_url, tmp_path / "b", standby=True)
        standby.wait_for(r"standby: following", 20)
        client = Client(session, active)
        for bic in (BANK_A, BANK_B):
            status, body = await client.admin("POST", "/admin/participants", json={"bic": bic, "name": bic})
            assert status == 201
            client.tokens[bic] = body["token"]
            await client.admin(
                "POST", "/admin/liquidity", json={"bic": bic, "amount": PREFUND_PAISA, "direction": "in"}
            )
        simulated_creditor = iso20022.make_pk_iban("MEZN", "0005000000005000")
        settled = []
        for i in range(20):
            message = credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, simulated_creditor, 1_000 + i)
            status, answer = await client.send(BANK_A, message, wait_s=5)
            assert answer.tx.tx_sts == "ACSC"
            settled.append(message)
        in_flight = [credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, 500 + i) for i in range(4)]
        for message in in_flight:
            assert (await client.send(BANK_A, message))[1].tx.tx_sts == "ACTC"

        active.kill()  # SIGKILL: no lease release, no snapshot; the standby must notice the lease expire
        killed = time.monotonic()
        standby.wait_listening(timeout_s=15)
        client.server = standby  # tokens are in the journal: they work on the new core
        first = credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, simulated_creditor, 777)
        status, answer = await client.send(BANK_A, first, wait_s=5)
        failover_s = time.monotonic() - killed
        assert answer.tx.tx_sts == "ACSC"
        print(f"failover (active core SIGKILLed -> first ACSC on the standby): {failover_s:.2f} s")
        assert failover_s <= FAILOVER_S_MAX, f"failover took {failover_s:.1f} s"

        for message in settled:  # every ACSC'd payment is present, settled
            assert (await client.payment(BANK_A, message.tx.uetr))["status"] == "ACSC"
        # In-flight payments resolve through the normal recovery path: the creditor sees its unacknowledged
        # pacs.008s again on the new core and answers two; the other two time out with AB05.
        redelivered = await client.inbox(BANK_B, until=4)
        assert {parse_inbox_message(m).tx.uetr for m in redelivered} == {m.tx.uetr for m in in_flight}
        for item in redelivered[:2]:
            status, answer = await client.send(
                BANK_B, creditor_answer(parse_inbox_message(item), BANK_B, "ACSP")
            )
            assert answer.tx.tx_sts == "ACSC"
        deadline = time.monotonic() + CREDITOR_TIMEOUT_MS / 1000 + 3
        while True:
            views = [await client.payment(BANK_A, m.tx.uetr) for m in in_flight]
            if all(v["status"] != "ACTC" for v in views) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert sorted(v["status"] for v in views) == ["ACSC", "ACSC", "RJCT", "RJCT"]
        assert {v["reason"] for v in views if v["status"] == "RJCT"} == {"AB05"}
        status, balances = await client.admin("GET", "/admin/balances")
        assert balances["conserved"] is True
        assert balances["accounts"][BANK_A]["pending_debits_paisa"] == 0
        answered = {parse_inbox_message(m).tx.uetr for m in redelivered[:2]}
        moved = sum(1_000 + i for i in range(20)) + 777
        moved += sum(m.tx.amount_paisa for m in in_flight if m.tx.uetr in answered)
        assert balances["accounts"][BANK_A]["posted_paisa"] == PREFUND_PAISA - moved
    finally:
        await session.close()
        active.stop()
        if standby is not None:
            standby.stop()


@pytest.mark.slow
async def test_lease_is_exclusive_and_a_fenced_core_cannot_write(cluster):
    url = f"{cluster.url}/L{next(_names)}"
    first = NatsJournal.open(url)
    second = NatsJournal.open(url)
    try:
        lease = LeaderLease(first)
        await asyncio.get_running_loop().run_in_executor(None, lease.acquire_blocking)
        assert await first.append([1, b"a"]) == 1
        other = LeaderLease(second)
        with pytest.raises(LeaseHeld, match="--standby"):
            other.acquire_blocking(wait_s=LEASE_TTL_S + 1)  # renewed all along: never expires
        assert await first.append([2, b"b"]) == 2
        # The holder stops renewing (as if frozen): the other core takes over after the TTL...
        first.connection.call(lease.stop_renewing())
        await asyncio.get_running_loop().run_in_executor(None, other.acquire_blocking)
        # ...and the frozen one, waking up (its renewal runs again), learns it lost the lease and stops: its
        # writes waited meanwhile, since its lease ran out before the takeover.
        first.connection.call(lease._start_renewing())
        with pytest.raises(JournalFenced, match="lease lost"):
            await asyncio.wait_for(first.append([3, b"stale"]), LEASE_TTL_S)
        # A stale writer without any lease check (paused before its check) is refused by the stream.
        stale = NatsJournal.open(url)
        try:
            second.adopt_stream_end(second.stream_last_seq())
            assert await second.append([3, b"c"]) == 3
            with pytest.raises(JournalFenced, match="another core"):
                await stale.append([4, b"stale"])
        finally:
            stale.close()
        assert [seq for seq, _ in second.replay(0)] == [1, 2, 3]
    finally:
        first.close()
        second.close()


def _serve(*args: str, timeout_s: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rail", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
    )


def test_serve_with_a_wrong_or_unreachable_nats_url_says_so_in_one_line(tmp_path):
    from rail.cluster.nats_local import free_port

    wrong = _serve("--data", str(tmp_path), "--journal", "http://127.0.0.1:4222")
    assert wrong.returncode == 1
    assert wrong.stderr.strip().count("\n") == 0, wrong.stderr
    assert "is not a NATS URL: expected nats://HOST" in wrong.stderr
    unreachable = _serve("--data", str(tmp_path), "--journal", f"nats://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 1
    assert unreachable.stderr.strip().count("\n") == 0, unreachable.stderr
    assert "cannot reach NATS at nats://127.0.0.1:" in unreachable.stderr
    assert "check the URL and that nats-server runs with -js" in unreachable.stderr
    orphan = _serve("--data", str(tmp_path), "--standby")
    assert orphan.returncode == 2
    assert "--standby needs --journal" in orphan.stderr


@pytest.mark.slow
async def test_clean_stop_hands_the_lease_over_at_once(cluster, tmp_path):
    journal_url = f"{cluster.url}/G{next(_names)}"
    active = CoreProcess(journal_url, tmp_path / "a", standby=False)
    standby = None
    try:
        active.wait_listening()
        standby = CoreProcess(journal_url, tmp_path / "b", standby=True)
        standby.wait_for(r"standby: following", 20)
        stopped = time.monotonic()
        active.stop()  # SIGTERM: final batch, snapshot, lease deleted
        assert active.process.returncode == 0
        standby.wait_listening(timeout_s=LEASE_TTL_S)  # no waiting for the TTL
        assert time.monotonic() - stopped < LEASE_TTL_S
    finally:
        active.stop()
        if standby is not None:
            standby.stop()


@pytest.mark.slow
async def test_rail_keeps_settling_when_the_stream_leader_node_dies(cluster, tmp_path):
    from rail.api.service import RailService
    from rail.settlement.core import load_settlement

    url = f"{cluster.url}/K{next(_names)}"
    journal = NatsJournal.open(url)
    lease = LeaderLease(journal)
    await asyncio.get_running_loop().run_in_executor(None, lease.acquire_blocking)
    service = await RailService.open(
        tmp_path, journal=journal, sandbox_accept_delay_ms_min=1, sandbox_accept_delay_ms_max=2
    )
    await start_sandbox_banks(service)
    killed = None
    settled: list[str] = []
    try:
        await service.add_participant(BANK_A, "A")
        await service.liquidity(BANK_A, PREFUND_PAISA, "in")
        creditor_iban = iso20022.make_pk_iban("MEZN", "0005000000005000")  # simulated bank: accepts

        async def pay(count: int) -> None:
            async def one(index: int) -> None:
                message = credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban, 100 + index)
                reply = await service.submit(BANK_A, iso20022.encode(message, "xml"), "application/xml", 25)
                answer = iso20022.decode(reply.body, reply.content_type).message
                assert answer.tx.tx_sts == "ACSC", reply.body[:400]
                settled.append(message.tx.uetr)

            await asyncio.gather(*(one(index) for index in range(count)))

        await pay(40)
        leader = await asyncio.wrap_future(
            journal.connection.submit(journal.connection.js.stream_info(journal.stream))
        )
        killed = int(leader.cluster.leader.removeprefix("n")) - 1
        under_load = asyncio.create_task(pay(60))
        await asyncio.sleep(0.05)
        cluster.kill(killed)  # the node leading the journal's stream, with payments in flight
        await asyncio.wait_for(under_load, 40)
        await pay(20)  # and the rail goes on
        assert not lease.lost
        assert (await service.balances())["conserved"] is True
    finally:
        await service.close()  # closes the journal (and releases the lease)
        if killed is not None:
            cluster.start(killed)
            cluster.wait_jetstream_ready()  # the rebuilt books are read from the healed cluster
    # Nothing acknowledged lost: the books rebuilt from the replicated journal hold every ACSC'd payment.
    reopened = NatsJournal.open(url)
    try:
        books, _, _ = await asyncio.get_running_loop().run_in_executor(
            None, load_settlement, reopened, service.scheme
        )
        assert len(settled) == 120
        assert all(books.payments[uetr].status == "ACSC" for uetr in settled)
        books.ledger.check_conservation()
    finally:
        reopened.close()
    cluster.wait_jetstream_ready()


@pytest.mark.slow
async def test_load_pointed_at_both_cores_switches_over_by_itself_when_the_active_is_killed(
    cluster, tmp_path
):
    """`rail load --target ACTIVE,STANDBY`: the active core is SIGKILLed mid-run; every simulated bank's
    transport moves to the standby by itself, the run completes and reconciles (every payment the harness saw
    settle is in the standby's books: balances moved by exactly those, conservation holds)."""
    from rail.cluster.nats_local import free_port

    journal_url = f"{cluster.url}/S{next(_names)}"
    active = CoreProcess(journal_url, tmp_path / "a", standby=False)
    standby = None
    load = None
    try:
        active.wait_listening()
        standby_port = free_port()  # a standby listens only once it leads: its address is known in advance
        standby = CoreProcess(journal_url, tmp_path / "b", standby=True, port=standby_port)
        standby.wait_for(r"standby: following", 20)
        summary_path = tmp_path / "summary.json"
        load = _start_load(
            "--target", f"{active.url},http://127.0.0.1:{standby_port}", "--rate", "60", "--duration", "8",
            "--banks", "2", "--admin-token", ADMIN, "--warmup", "0", "--payment-timeout", "20",
            "--json", str(summary_path), "--out", str(tmp_path / "run"),
        )  # fmt: skip
        async with aiohttp.ClientSession() as session:  # kill once payments are settling on the active core
            deadline = time.monotonic() + 20
            while await _payments_settled(session, active.url) < SETTLED_BEFORE_KILL:
                assert time.monotonic() < deadline and load.poll() is None, load.stdout.read()
                await asyncio.sleep(0.1)
        active.kill()
        standby.wait_listening(timeout_s=15)
        output, _ = await asyncio.get_running_loop().run_in_executor(
            None, lambda: load.communicate(timeout=60)
        )
        assert load.returncode == 0, output  # 0: reconciled
        summary = json.loads(summary_path.read_text())
        reconciliation = summary["reconciliation"]
        assert reconciliation["ok"] is True and reconciliation["rail_conserved"] is True, reconciliation
        assert reconciliation["acsc_payments"] == reconciliation["credited_in_books"] > 0
        assert summary["rail_gaps"], "the run never noticed the active core go away"
        with (tmp_path / "run" / "payments.csv").open() as payments:
            rows = list(csv.DictReader(payments))
        settled_late = [r for r in rows if r["final_status"] == "ACSC" and
                        float(r["intended_at_ms"]) / 1000 > summary["rail_gaps"][0]["end_s"]]  # fmt: skip
        assert settled_late, "no payment settled through the standby"
    finally:
        if load is not None and load.poll() is None:
            load.kill()
            load.wait()
        active.stop()
        if standby is not None:
            standby.stop()


def _start_load(*args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "rail", "load", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


async def _payments_settled(session: aiohttp.ClientSession, url: str) -> float:
    """Payments the rail at `url` has settled (ACSC), from its /metrics."""
    try:
        async with session.get(url + "/metrics") as response:
            text = await response.text()
    except aiohttp.ClientError:
        return 0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("rail_payments_final_total{") and 'status="ACSC"' in line)  # fmt: skip
