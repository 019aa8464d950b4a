"""Benchmark of the rail beyond one process: the replicated journal (NATS JetStream, 3 nodes) against the local
file journal, and the failover time of an active/standby pair.

    python bench/cluster.py [--payments 2000] [--failovers 1] [--http-payments 3000]

Starts its own 3-node nats-server cluster on loopback ports (Debian package `nats-server`), so every replica
shares this machine's 2 cores and disk with the rail: the figures are a floor for a real 3-machine cluster.

1. Journal alone: sequential appends of 64-record batches (~1 KB records), FileJournal with fdatasync per
   batch vs NatsJournal (acknowledged once stored by a majority of the 3 replicas). Batches/s and the ratio.
2. The rail in-process (RailService, JSON pacs.008 from one external debtor agent to a simulated creditor bank
   that accepts at once, `Prefer: wait` until ACSC, 128 concurrent submitters): payments/s with each journal,
   the ratio replicated/local, and the conservation check.
3. Failover: `rail serve --journal nats://...` active + `--standby` in subprocesses; the active one is
   SIGKILLed and the time until the first payment settles (ACSC) through the standby is measured.
4. Edge workers: `rail serve` (file journal) in-process, `--workers 1` and `--workers 2` (hand-off over a
   single-node nats-server); one client (participants/transport.py's lean HTTP client, 64 connections) sends
   XML pacs.008 to a simulated creditor bank without waiting, then waits until every one has settled
   (the debtor's posted balance); payments/s = payments / (last settled - first sent), best of
   WORKER_ROUNDS interleaved rounds; also the CPU the core process spends a payment (/proc).

Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp
from rich.console import Console
from rich.table import Table

from participants.transport import HttpTransport
from rail import iso20022
from rail.journal import FileJournal
from rail.nats_journal import NatsJournal
from rail.nats_local import LocalNatsCluster, nats_server_path
from rail.scheme import default_scheme
from rail.service import RailService


def _bench_rail_module():
    """bench/rail.py (its pacs.008 builder): loaded by path, its name would shadow the rail package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_rail", Path(__file__).with_name("rail.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_BENCH_RAIL = _bench_rail_module()
pacs008 = _BENCH_RAIL.pacs008
DEBTOR = _BENCH_RAIL.DEBTOR  # taken over by the benchmark (an external participant)
CREDITOR = _BENCH_RAIL.CREDITOR  # left to the rail: a simulated bank that answers ACSP itself
SUBMITTERS = 128
JOURNAL_RUN_S = 2.0
JOURNAL_BATCH_RECORDS = 64
RUN_S_MAX = 40.0  # hard bound on one rail run
ADMIN = "bench-cluster-admin"
HTTP_CONNECTIONS = 64
WORKER_ROUNDS = 2
FAST_BANKS = {"sandbox_accept_delay_ms_min": 1, "sandbox_accept_delay_ms_max": 2}


def journal_batches_per_s(journal, seconds: float = JOURNAL_RUN_S) -> float:
    async def run() -> float:
        records = [time.time_ns()] + [os.urandom(1000) for _ in range(JOURNAL_BATCH_RECORDS)]
        count = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            await journal.append(records)
            count += 1
        return count / (time.perf_counter() - started)

    try:
        return asyncio.run(run())
    finally:
        journal.close()


async def rail_payments_per_s(payments: int, journal_url: str | None) -> dict:
    journal = NatsJournal.open(journal_url) if journal_url else None
    with tempfile.TemporaryDirectory(prefix="rail-bench-cluster-") as data_dir:
        service = await RailService.open(Path(data_dir), journal=journal, **FAST_BANKS)
        try:
            await service.add_participant(DEBTOR, "bench debtor")
            debtor_iban = service.scheme.bank(DEBTOR).customers[0].iban
            creditor_iban = service.scheme.bank(CREDITOR).customers[0].iban
            bodies = [
                iso20022.encode(pacs008(i, debtor_iban, creditor_iban), "json") for i in range(payments)
            ]
            statuses: dict[int, int] = {}

            async def submitter(offset: int) -> None:
                for index in range(offset, payments, SUBMITTERS):
                    reply = await service.submit(DEBTOR, bodies[index], "application/json", wait_s=10)
                    statuses[reply.status] = statuses.get(reply.status, 0) + 1

            async def drain_debtor_inbox() -> None:
                while sum(statuses.values()) < payments:
                    page = await service.inbox_structs(DEBTOR, 0.2, 1000)
                    if page:
                        await service.ack(DEBTOR, page[-1][0])

            started = time.perf_counter()
            drainer = asyncio.create_task(drain_debtor_inbox())
            await asyncio.wait_for(asyncio.gather(*(submitter(i) for i in range(SUBMITTERS))), RUN_S_MAX)
            elapsed = time.perf_counter() - started
            await drainer
            return {
                "payments": payments,
                "seconds": elapsed,
                "payments_per_s": payments / elapsed,
                "settled": statuses.get(200, 0),
                "conserved": service.balances()["conserved"],
                "commands_per_batch": service.core.commands_applied / max(1, service.core.batches),
            }
        finally:
            await service.close()


class _Core:
    def __init__(self, url: str, data_dir: Path, standby: bool, args: list[str] | None = None) -> None:
        command = [
            sys.executable, "-m", "rail", "serve", "--port", "0", "--data", str(data_dir),
            "--admin-token", ADMIN,
        ] + (["--journal", url] if url else []) + (["--standby"] if standby else []) + (args or [])  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=REPO,  # not bench/: its rail.py would shadow the rail package for `python -m rail`
        )  # fmt: skip
        self.url = ""

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            match = re.search(pattern, line)
            if match:
                return match
        raise RuntimeError(f"rail serve: no line matching {pattern!r}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def failover_seconds(cluster_url: str, run: int, directory: Path) -> float:
    url = f"{cluster_url}/FAILOVER{run}"
    active = _Core(url, directory / f"a{run}", standby=False)
    standby = None
    try:
        active.url = active.wait_for(r"listening on (http://\S+)", 30).group(1)
        standby = _Core(url, directory / f"b{run}", standby=True)
        standby.wait_for(r"standby: following", 30)
        async with aiohttp.ClientSession() as session:
            admin = {"Authorization": f"Bearer {ADMIN}"}
            async with session.post(
                active.url + "/admin/participants", json={"bic": DEBTOR, "name": "d"}, headers=admin
            ) as response:
                token = (await response.json())["token"]
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                       "Prefer": "wait=5"}  # fmt: skip
            scheme = default_scheme()
            iban = scheme.bank(DEBTOR).customers[0].iban
            creditor_iban = scheme.bank(CREDITOR).customers[0].iban

            async def pay(base: str, index: int) -> str:
                body = iso20022.encode(pacs008(index, iban, creditor_iban), "json")
                async with session.post(base + "/v1/messages", data=body, headers=headers) as response:
                    return iso20022.decode(await response.read(), "application/json").message.tx.tx_sts

            assert await pay(active.url, 0) == "ACSC"
            active.process.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            active.process.wait()
            standby.url = await asyncio.get_running_loop().run_in_executor(
                None, lambda: standby.wait_for(r"listening on (http://\S+)", 30).group(1)
            )
            status = await pay(standby.url, 1)
            elapsed = time.monotonic() - killed
            if status != "ACSC":
                raise RuntimeError(f"first payment on the standby ended {status}")
            return elapsed
    finally:
        active.stop()
        if standby is not None:
            standby.stop()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def http_payments_per_s(payments: int, data_dir: Path, extra: list[str]) -> tuple[float, float]:
    """(payments/s, CPU µs a payment in the core process) of one `rail serve` configuration (see 4. above)."""
    core = _Core("", data_dir, standby=False, args=extra)
    try:
        core.url = core.wait_for(r"listening on (http://\S+)", 30).group(1)
        operator = HttpTransport(core.url, admin_token=ADMIN)
        token = await operator.add_participant(DEBTOR, "bench debtor")
        # A default-scheme bank starts prefunded: its balance after this top-up is the starting point.
        prefund = (await operator.liquidity(DEBTOR, 10**12, "in"))["posted_paisa"]
        scheme = default_scheme()
        iban = scheme.bank(DEBTOR).customers[0].iban
        creditor_iban = scheme.bank(CREDITOR).customers[0].iban
        messages = [pacs008(i, iban, creditor_iban) for i in range(payments)]
        bodies = [iso20022.encode(m, "xml") for m in messages]
        total_paisa = sum(m.cdt_trf_tx_inf[0].amount_paisa for m in messages)
        debtor = HttpTransport(core.url, token, pool_connections_max=HTTP_CONNECTIONS)
        statuses: dict[int, int] = {}

        async def sender(offset: int) -> None:
            for index in range(offset, payments, HTTP_CONNECTIONS):
                status, _content_type, _body = await debtor.send(bodies[index], "application/xml")
                statuses[status] = statuses.get(status, 0) + 1

        started = time.perf_counter()
        core_cpu_started = _cpu_s(core.process.pid)
        await asyncio.wait_for(asyncio.gather(*(sender(i) for i in range(HTTP_CONNECTIONS))), RUN_S_MAX)
        if statuses.get(202, 0) != payments:
            raise RuntimeError(f"not every payment was accepted: {statuses}")
        deadline = time.perf_counter() + RUN_S_MAX
        while True:
            balances = await operator.balances()
            if balances["accounts"][DEBTOR]["posted_paisa"] == prefund - total_paisa:
                break
            if time.perf_counter() > deadline:
                raise RuntimeError("payments did not all settle")
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        core_cpu_us = (_cpu_s(core.process.pid) - core_cpu_started) * 1e6 / payments
        await debtor.close()
        await operator.close()
        return payments / elapsed, core_cpu_us
    finally:
        core.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=2000)
    parser.add_argument("--failovers", type=int, default=1)
    parser.add_argument("--http-payments", type=int, default=3000)
    args = parser.parse_args()
    if nats_server_path() is None:
        print("nats-server is not installed (apt-get install nats-server)", file=sys.stderr)
        return 1
    console = Console()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        tmp_path = Path(tmp)
        with LocalNatsCluster(tmp_path / "nats", nodes=3) as cluster:
            cluster.wait_jetstream_ready()
            file_bps = journal_batches_per_s(FileJournal.open(tmp_path / "fj", fsync=True))
            nats_bps = journal_batches_per_s(NatsJournal.open(f"{cluster.url}/BENCHJ"))
            local = asyncio.run(rail_payments_per_s(args.payments, None))
            replicated = asyncio.run(rail_payments_per_s(args.payments, f"{cluster.url}/BENCHR"))
            failovers = [
                asyncio.run(failover_seconds(cluster.url, run, tmp_path)) for run in range(args.failovers)
            ]
        with LocalNatsCluster(tmp_path / "nats1", nodes=1) as single:
            # Interleaved rounds, best of each: the machine is shared, a single short run swings with the
            # neighbours' load more than the configurations differ.
            runs: dict[int, list[tuple[float, float]]] = {0: [], 1: [], 2: []}
            for round_index in range(WORKER_ROUNDS):
                for workers, measured in runs.items():
                    extra = ["--workers", str(workers), "--nats", single.url] if workers else []
                    directory = tmp_path / f"w{workers}-{round_index}"
                    measured.append(asyncio.run(http_payments_per_s(args.http_payments, directory, extra)))
            by_workers = {workers: max(measured) for workers, measured in runs.items()}
    results = {
        "journal_file_batches_per_s": round(file_bps, 1),
        "journal_nats_r3_batches_per_s": round(nats_bps, 1),
        "journal_nats_over_file_ratio": round(nats_bps / file_bps, 3),
        "rail_file_journal_payments_per_s": round(local["payments_per_s"], 1),
        "rail_nats_journal_payments_per_s": round(replicated["payments_per_s"], 1),
        "rail_nats_over_file_ratio": round(replicated["payments_per_s"] / local["payments_per_s"], 3),
        "rail_settled_all": local["settled"] == args.payments and replicated["settled"] == args.payments,
        "conserved": local["conserved"] and replicated["conserved"],
        "rail_commands_per_batch_nats": round(replicated["commands_per_batch"], 1),
        "failover_s": [round(s, 2) for s in failovers],
        "failover_s_max": round(max(failovers), 2) if failovers else None,
        "failover_target_s": 5.0,
        "http_in_process_payments_per_s": round(by_workers[0][0], 1),
        "http_workers_1_payments_per_s": round(by_workers[1][0], 1),
        "http_workers_2_payments_per_s": round(by_workers[2][0], 1),
        "workers_2_over_1_ratio": round(by_workers[2][0] / by_workers[1][0], 3),
        "workers_2_over_in_process_ratio": round(by_workers[2][0] / by_workers[0][0], 3),
        "core_cpu_us_per_payment_in_process": round(by_workers[0][1]),
        "core_cpu_us_per_payment_workers_2": round(by_workers[2][1]),
        "core_cpu_workers_2_over_in_process_ratio": round(by_workers[2][1] / by_workers[0][1], 3),
    }
    table = Table(title="rail beyond one process (3-node NATS JetStream cluster on this machine)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("journal appends/s, file + fdatasync (64 x 1 KB records)", f"{file_bps:,.0f}")
    table.add_row("journal appends/s, NATS JetStream R3", f"{nats_bps:,.0f}")
    table.add_row("  ratio NATS / file", f"{results['journal_nats_over_file_ratio']:.2f}")
    table.add_row("rail payments/s, file journal (in-process, JSON)", f"{local['payments_per_s']:,.0f}")
    table.add_row("rail payments/s, NATS R3 journal", f"{replicated['payments_per_s']:,.0f}")
    table.add_row("  ratio NATS / file", f"{results['rail_nats_over_file_ratio']:.2f}")
    table.add_row("all settled, conserved", f"{results['rail_settled_all']}, {results['conserved']}")
    for run, seconds in enumerate(failovers):
        table.add_row(f"failover {run + 1}: SIGKILL -> first ACSC on standby", f"{seconds:.2f} s")
    for workers, label in ((0, "in-process edge (default)"), (1, "--workers 1 (NATS hand-off)"),
                           (2, "--workers 2")):  # fmt: skip
        rate, core_cpu_us = by_workers[workers]
        table.add_row(f"HTTP payments/s, {label}; core CPU µs a payment", f"{rate:,.0f}; {core_cpu_us:,.0f}")
    table.add_row("  ratio workers 2 / 1", f"{results['workers_2_over_1_ratio']:.2f}")
    table.add_row("  ratio workers 2 / in-process", f"{results['workers_2_over_in_process_ratio']:.2f}")
    console.print(table)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
