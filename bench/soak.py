"""Soak: `rail load` against `rail serve` for a long while; memory stays bounded, the first minute is remembered.

    python bench/soak.py --rate 1000 --duration 1800          # the full run: 1.8 million payments, ~35 min
    python bench/soak.py --rate 200 --duration 60             # a short proof of the script (~2 min)

Three processes: `rail serve` (journal fsynced, default retention window), `rail load` (the load harness's
simulated banks, open-loop, at --rate for --duration), and this one, which
- samples the server's RSS (/proc/PID/status VmRSS) and the payments it retains (`rail_payments_retained` on
  /metrics) every --sample-s seconds: the RSS curve;
- during the first minute sends its own marker payments (--markers-per-s, as participant SOAKPKKA, to the
  'accepts' and 'rejects' test accounts of the two default banks `rail load` leaves to the rail's own simulated
  banks) and records each one's answer;
- at the end waits for the rail to pack what is final, takes the final RSS, computes the bytes per retained
  payment (RSS growth over retained-payment growth, from the first sample after --baseline-s, so the bounded
  caches that fill in the first minutes are not counted), then resends every marker, byte for byte: each must
  get its original answer (status, reason, clearing reference, acceptance time), and no money may move.

Same-run baseline: the state machine alone (tests/test_retention.py's probe: RSS per packed payment in a fresh
process, 100,000 payments); the ratio says what the rest of the server adds. Prints a table, writes every
figure and the RSS curve to --out (JSON), and the last line is that JSON's summary. Ctrl-C stops the load and
keeps what was measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import aiohttp

from rail import iso20022, rundir
from rail.scheme import default_scheme

ADMIN = "soak-admin-" + uuid.uuid4().hex
MARKER_BIC = "SOAKPKKA"
MARKER_IBAN = iso20022.make_pk_iban("SOAK", "0000000000000001")
MARKER_FUNDS_PAISA = 10**12
MARKERS_WINDOW_S = 60.0
BYTES_PER_PAYMENT_BUDGET = 1_024
PACK_WAIT_S = 15.0  # a final payment is packed 10 s after it became final (rail/settlement/payment_book.py)
START_TIMEOUT_S = 60.0
BASELINE_PAYMENTS = 100_000
# `rail load` takes over the first LOAD_BANKS default banks; the markers go to the others, which the rail's own
# simulated banks answer, so they never disturb the harness's reconciliation of its banks' books.
LOAD_BANKS = 6


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1_000.0, help="offered payments/s of `rail load`")
    parser.add_argument("--duration", type=float, default=1_800.0, help="seconds of load")
    parser.add_argument(
        "--markers-per-s", type=float, default=5.0, help="marker payments/s in the first minute"
    )
    parser.add_argument("--sample-s", type=float, default=5.0, help="RSS sampling period")
    parser.add_argument("--baseline-s", type=float, default=None,
                        help="bytes per payment are counted from the first sample after this (default: a quarter "
                             "of --duration, at most 300 s)")  # fmt: skip
    parser.add_argument(
        "--data", type=Path, default=None, help="the rail's data directory (default: a temp dir)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "soak-result.json", help="JSON results")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def children_rss_bytes(pid: int) -> int:
    """RSS of `pid`'s children: the snapshot writer the journal forks (rail/settlement/snapshot_child.py), while
    it runs. Its copy-on-write pages shared with the rail are counted in both figures."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                total += rss_bytes(int(child))
            except (FileNotFoundError, StopIteration):
                pass  # it ended meanwhile
    return total


def start_rail(data: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "rail", "serve", "--port", "0", "--data", str(data), "--admin-token", ADMIN],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        match = re.search(r"listening on (http://[0-9.]+:\d+)", line)
        if match:
            return process, match.group(1)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise SystemExit("rail serve did not start")


class Soak:
    def __init__(self, args: argparse.Namespace, rail: subprocess.Popen, url: str) -> None:
        self.args = args
        self.rail = rail
        self.url = url
        self.started = time.monotonic()
        self.curve: list[dict] = []  # {t_s, rss_bytes, retained, packed}
        self.markers: list[dict] = []  # {body, answer}
        self.token = ""

    # ---- sampling

    async def retained(self, session: aiohttp.ClientSession) -> tuple[int, int]:
        async with session.get(f"{self.url}/metrics") as response:
            text = await response.text()
        values = dict(re.findall(r'rail_payments_retained\{form="(\w+)"\} ([0-9.e+]+)', text))
        whole, packed = int(float(values.get("whole", 0))), int(float(values.get("packed", 0)))
        return whole + packed, packed

    async def sample(self, session: aiohttp.ClientSession) -> dict:
        retained, packed = await self.retained(session)
        point = {"t_s": round(time.monotonic() - self.started, 1), "rss_bytes": rss_bytes(self.rail.pid),
                 "writer_rss_bytes": children_rss_bytes(self.rail.pid),
                 "retained": retained, "packed": packed}  # fmt: skip
        self.curve.append(point)
        return point

    async def sampler(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            point = await self.sample(session)
            print(f"  t={point['t_s']:7.1f} s  RSS {point['rss_bytes'] / 2**20:8.1f} MiB  "
                  f"retained {point['retained']:>10,}  (packed {point['packed']:,})", flush=True)  # fmt: skip
            try:
                await asyncio.wait_for(stop.wait(), self.args.sample_s)
            except TimeoutError:
                pass

    # ---- markers

    async def admin(self, session, method: str, path: str, **kwargs) -> dict:
        async with session.request(method, self.url + path, headers={"Authorization": f"Bearer {ADMIN}"},
                                   **kwargs) as response:  # fmt: skip
            assert response.status in (200, 201), (path, response.status, await response.text())
            return await response.json()

    async def join(self, session) -> None:
        self.token = (await self.admin(session, "POST", "/admin/participants",
                                       json={"bic": MARKER_BIC, "name": "Soak markers"}))["token"]  # fmt: skip
        await self.admin(session, "POST", "/admin/liquidity",
                         json={"bic": MARKER_BIC, "amount": MARKER_FUNDS_PAISA, "direction": "in"})  # fmt: skip

    async def post(self, session, body: bytes) -> tuple[int, tuple]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/xml",
            "Prefer": "wait=15",
        }
        async with session.post(f"{self.url}/v1/messages", data=body, headers=headers) as response:
            raw = await response.read()
            tx = iso20022.decode(raw, response.headers["Content-Type"]).message.tx
            return response.status, (
                tx.tx_sts,
                tx.sts_rsn_cd,
                tx.clr_sys_ref,
                tx.accptnc_dt_tm,
                tx.orgnl_uetr,
            )

    async def send_markers(self, session) -> None:
        from test_rail_e2e import credit_transfer

        creditors = default_scheme().banks[LOAD_BANKS:]
        accept = {b.bic: next(c.iban for c in b.customers if c.iban.endswith("0099")) for b in creditors}
        reject = {b.bic: next(c.iban for c in b.customers if c.iban.endswith("0001")) for b in creditors}
        count = int(MARKERS_WINDOW_S * self.args.markers_per_s)
        pending = []
        for index in range(count):
            bank = creditors[index % len(creditors)].bic
            iban = reject[bank] if index % 10 == 9 else accept[bank]  # one in ten: a creditor's RJCT AC01
            body = iso20022.encode(
                credit_transfer(MARKER_BIC, bank, MARKER_IBAN, iban, 10_000 + index), "xml"
            )
            pending.append(asyncio.create_task(self._marker(session, body)))
            await asyncio.sleep(1 / self.args.markers_per_s)
        await asyncio.gather(*pending)

    async def _marker(self, session, body: bytes) -> None:
        status, answer = await self.post(session, body)
        self.markers.append({"body": body, "status": status, "answer": answer})

    async def resend_markers(self, session) -> dict:
        before = (await self.admin(session, "GET", "/admin/balances"))["accounts"][MARKER_BIC]["posted_paisa"]
        same = different = 0
        examples = []
        for marker in self.markers:
            status, answer = await self.post(session, marker["body"])
            original = marker["answer"]
            if marker["status"] == 202:  # answered while in flight: the resend must show its final status now
                ok = status == 200 and answer[2:] == original[2:] and answer[0] in ("ACSC", "RJCT")
            else:
                ok = (status, answer) == (marker["status"], original)
            same += ok
            different += not ok
            if not ok and len(examples) < 5:
                examples.append(
                    {
                        "original": [marker["status"], *map(str, original)],
                        "resend": [status, *map(str, answer)],
                    }
                )
        after = (await self.admin(session, "GET", "/admin/balances"))["accounts"][MARKER_BIC]["posted_paisa"]
        return {"markers": len(self.markers), "original_answer": same, "different": different,
                "money_moved_by_resends_paisa": after - before, "examples": examples}  # fmt: skip


def run_load(args: argparse.Namespace, url: str, run_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "rail", "load", "--target", url, "--rate", str(args.rate), "--duration",
         str(args.duration), "--admin-token", ADMIN, "--out", str(run_dir), "--seed", str(args.seed),
         "--banks", str(LOAD_BANKS),
         "--json", str(run_dir / "summary.json")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def baseline_bytes_per_payment() -> float:
    result = subprocess.run(
        [sys.executable, str(REPO / "tests" / "test_retention.py"), str(BASELINE_PAYMENTS)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return float(result.stdout.split()[0])


def bytes_per_payment(curve: list[dict], baseline_s: float) -> tuple[float | None, dict | None]:
    start = next((p for p in curve if p["t_s"] >= baseline_s), None)
    end = curve[-1] if curve else None
    if start is None or end is None or end["retained"] <= start["retained"]:
        return None, start
    return (end["rss_bytes"] - start["rss_bytes"]) / (end["retained"] - start["retained"]), start


async def soak(args: argparse.Namespace, rail: subprocess.Popen, url: str, run_dir: Path) -> dict:
    state = Soak(args, rail, url)
    result: dict = {"rate": args.rate, "duration_s": args.duration, "markers_per_s": args.markers_per_s}
    stop_sampling = asyncio.Event()
    load = None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await state.join(session)
        sampler = asyncio.create_task(state.sampler(session, stop_sampling))
        try:
            load = run_load(args, url, run_dir)
            await state.send_markers(session)
            while load.poll() is None:
                await asyncio.sleep(1.0)
            result["load_exit"] = load.returncode
            if load.returncode != 0:
                result["load_stderr"] = load.stderr.read()[-2_000:]
            await asyncio.sleep(PACK_WAIT_S)  # what became final last is packed at the next batches' start
            await state.admin(session, "POST", "/admin/liquidity",
                              json={"bic": MARKER_BIC, "amount": 1, "direction": "in"})  # fmt: skip
        except asyncio.CancelledError:
            result["interrupted"] = True
        finally:
            if load is not None and load.poll() is None:
                load.send_signal(signal.SIGINT)
                load.wait(timeout=60)
            stop_sampling.set()
            await sampler
        final = await state.sample(session)
        if not result.get("interrupted"):
            result["resend"] = await state.resend_markers(session)
    baseline_s = args.baseline_s if args.baseline_s is not None else min(300.0, args.duration / 4)
    per_payment, start = bytes_per_payment(state.curve, baseline_s)
    summary = run_dir / "summary.json"
    result.update(
        final_rss_bytes=final["rss_bytes"],
        peak_rss_bytes=max(p["rss_bytes"] for p in state.curve),
        peak_writer_rss_bytes=max(p.get("writer_rss_bytes", 0) for p in state.curve),
        retained_payments=final["retained"],
        bytes_per_retained_payment=per_payment,
        counted_from=start,
        load_summary=json.loads(summary.read_text()) if summary.exists() else None,
        rss_curve=state.curve,
    )
    return result


def report(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    per_payment, baseline = result.get("bytes_per_retained_payment"), result.get("baseline_bytes_per_payment")
    resend = result.get("resend") or {}
    load = result.get("load_summary") or {}
    table = Table(
        title=f"soak: rail load at {result['rate']:g}/s for {result['duration_s']:g} s against rail serve"
    )
    for column in ("measure", "value", "same-run baseline / budget", "ratio"):
        table.add_column(column)
    if load:
        settled = load.get("counts_by_status", {}).get("ACSC", 0)
        table.add_row("rail load: payments offered / settled (ACSC)", f"{load['payments_offered']:,} / {settled:,}",
                      f"achieved {load['achieved_rate_per_s']:,.0f}/s", "")  # fmt: skip
        reconciliation = load.get("reconciliation", {})
        table.add_row("rail load: reconciliation (rail = banks' books)", str(reconciliation.get("ok")),
                      "; ".join(reconciliation.get("mismatches", [])[:2]), "")  # fmt: skip
        latency = load.get("latency_ms", {}).get(rundir.STAGE_END_TO_END)
        if latency:
            table.add_row(
                "rail load: end-to-end latency p50 / p99 (ms)",
                f"{latency['p50_ms']:,.0f} / {latency['p99_ms']:,.0f}",
                "",
                "",
            )
        gaps = load.get("rail_gaps") or []
        longest = max((g["end_s"] - g["start_s"] for g in gaps), default=0.0)
        table.add_row("rail load: times the rail was unreachable / longest", f"{len(gaps)} / {longest:.1f} s", "", "")
    table.add_row("retained payments at the end", f"{result['retained_payments']:,}", "", "")
    table.add_row(
        "final / peak RSS",
        f"{result['final_rss_bytes'] / 2**20:,.0f} / {result['peak_rss_bytes'] / 2**20:,.0f} MiB",
        "",
        "",
    )
    table.add_row("snapshot writer: peak RSS seen (shares pages with the rail)",
                  f"{result.get('peak_writer_rss_bytes', 0) / 2**20:,.0f} MiB", "", "")  # fmt: skip
    if per_payment is not None:
        table.add_row("bytes per retained payment (RSS growth)", f"{per_payment:,.0f}",
                      f"state machine alone {baseline:,.0f}; budget {BYTES_PER_PAYMENT_BUDGET}",
                      f"{per_payment / baseline:.2f} / {per_payment / BYTES_PER_PAYMENT_BUDGET:.2f}")  # fmt: skip
    if resend:
        table.add_row("first-minute markers resent: original answer", f"{resend['original_answer']} of {resend['markers']}",
                      "all", "" if not resend["markers"] else f"{resend['original_answer'] / resend['markers']:.3f}")  # fmt: skip
        table.add_row(
            "money moved by the resends", f"{resend['money_moved_by_resends_paisa']} paisa", "0", ""
        )
    Console().print(table)


def main() -> int:
    args = parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="rail-soak-"))
    run_dir = Path(tempfile.mkdtemp(prefix="rail-soak-run-"))
    print(f"soak: rail serve on {data}; rail load at {args.rate:g}/s for {args.duration:g} s", flush=True)
    rail, url = start_rail(data / "data")
    result: dict = {}
    try:
        result = asyncio.run(soak(args, rail, url, run_dir))
    except KeyboardInterrupt:
        print("interrupted: keeping what was measured", file=sys.stderr)
    finally:
        rail.send_signal(signal.SIGTERM)
        try:
            rail.wait(timeout=120)
        except subprocess.TimeoutExpired:
            rail.kill()
    if not result:
        return 130
    result["baseline_bytes_per_payment"] = baseline_bytes_per_payment()
    result["machine"] = {
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "python": sys.version.split()[0],
    }
    args.out.write_text(json.dumps(result, indent=1, default=str))
    report(result)
    summary = {k: v for k, v in result.items() if k not in ("rss_curve", "load_summary")}
    print(json.dumps(summary, default=str))
    if args.data is None:
        shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    resend = result.get("resend") or {}
    passed = resend.get("different", 1) == 0 and not resend.get("money_moved_by_resends_paisa")
    return 0 if passed and result.get("load_exit") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
