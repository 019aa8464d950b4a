"""Benchmark: the whole rail over real HTTP with XML, driven by the load harness, on this machine.

    python bench/load.py [--rates 1000,2000] [--duration 15] [--warmup 3] [--instant-rate 5000]
    python bench/load.py --baseline ../baseline-13 --rates 2000 --duration 20 --rounds 3   # same run, both designs
    python bench/load.py --against-in-process --rates 1000,2000 --duration 15 --rounds 3   # decode workers or not

1. `rail serve` (journal fsynced) runs as its own process; the harness (8 simulated banks + the open-loop
   load generator) runs in this one, over HTTP with XML messages, at each offered rate. Figures: achieved vs
   offered rate, end-to-end p50/p99 measured from each payment's intended send time, late sends, timeouts,
   and the reconciliation (every ACSC settled at the rail and credited in the banks' books).
2. Same run, baseline: the harness against a trivial fake rail that answers every pacs.008 instantly with a
   final pacs.002 ACSC (no inbox, no settlement), to show what the harness alone can offer, with its lean
   HTTP client and again with aiohttp's client (the ratio is why the lean client exists). Reconciliation
   does not apply there (nothing settles); the figures are the final-status rate and late sends.

Prints a rich table, then as its LAST line one JSON object with every figure and its same-run ratio.
The machine has 2 cores shared with the rail and other work: runs are short and bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from participants.cli import codec_factory  # noqa: E402
from bench.baseline import Side, compare, medians, print_comparison  # noqa: E402
from participants.harness import LoadConfig, LoadRun, Scenario, http_target, load_scenario  # noqa: E402
from rail.runtime import thaw, tune_gc_for_long_lived_state  # noqa: E402
from rail import rundir  # noqa: E402

TARGET_RATE_PER_S = 1_000
# Figures the comparison with the previous design shows (the JSON has them all).
COMPARED = ("rail_payments_per_cpu_s", "rail_cpu_us_per_payment", "rail_process_cpu_us_per_payment", "achieved_per_s", "e2e_p50_ms", "e2e_p99_ms",
            "e2e_p999_ms", "timeouts", "late_sends")
TARGET_P99_MS = 250.0
STRETCH_RATE_PER_S = 2_000
HARNESS_TARGET_RATE_PER_S = 5_000
# The harness's share of the 2 cores it shares with the rail at STRETCH_RATE_PER_S (8 banks + the generator).
HARNESS_CPU_US_TARGET = 250.0
SERVER_START_TIMEOUT_S = 20.0
WARMUP_RATE_PER_S = 200.0
WARMUP_RUN_S = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_healthy(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    """Until `url` answers /healthz, or `proc` (the server) has exited, or `timeout_s` has passed."""
    import aiohttp

    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{url}: the server exited before it was healthy")
            try:
                async with session.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy within {timeout_s} s")


def own_cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s(pid: int, children: bool = False) -> float:
    """user + system CPU seconds of another process (Linux /proc); with `children`, plus its children's, ended
    (reaped: cutime + cstime) and running (its decode workers, a snapshot writer): the rail's whole CPU."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    seconds = ticks / os.sysconf("SC_CLK_TCK")
    if children:
        seconds += sum(process_cpu_s(child) for child in _children(pid))
    return seconds


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def start(cmd: list[str], cwd: Path | None = None, log: Path | None = None) -> subprocess.Popen:
    """A server process. Its stderr goes to `log` (read when it fails to start), never to an unread pipe, whose
    64 KB buffer would stall a process that writes more."""
    stderr = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - the child holds it
    try:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True, cwd=cwd)
    finally:
        if log is not None:
            stderr.close()


def tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text("utf-8", "replace").strip().splitlines()[-lines:]) or "(nothing on stderr)"
    except OSError:
        return "(no stderr log)"


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def run_load(url: str, admin_token: str, rate: float, duration: float, warmup: float,
                   scenario: Scenario, client: str = "lean", books_settle_s: float = 5.0) -> rundir.RunSummary:
    target = http_target(url, admin_token, client=client)
    cfg = LoadConfig(rate_per_s=rate, duration_s=duration, warmup_s=warmup, seed=int(rate), banks=8,
                     payment_timeout_s=25.0, scenario=scenario, rendering="xml",
                     uetr_salt=secrets.randbits(128), books_settle_s=books_settle_s)
    try:
        # As `rail load` does: a collector tuned for a process with much long-lived state (rail/runtime.py), the
        # run's plan and banks out of its way for the run, then back.
        result = await LoadRun(target, cfg, codec_factory("xml"), on_ready=tune_gc_for_long_lived_state).run()
    finally:
        thaw()
        await target.admin.close()
    return result.summary


def figures(s: rundir.RunSummary) -> dict:
    e2e = s.latency_ms[rundir.STAGE_END_TO_END]
    ans = s.latency_ms[rundir.STAGE_SUBMIT_ACTC]
    return {
        "offered_per_s": s.offered_rate_per_s, "achieved_per_s": s.achieved_rate_per_s,
        "achieved_vs_offered": round(s.achieved_rate_per_s / s.offered_rate_per_s, 3) if s.offered_rate_per_s else 0,
        "e2e_p50_ms": e2e.p50_ms, "e2e_p99_ms": e2e.p99_ms, "e2e_p999_ms": e2e.p999_ms, "e2e_max_ms": e2e.max_ms,
        "answer_p99_ms": ans.p99_ms, "late_sends": s.late_sends,
        "late_fraction": round(s.late_sends / max(1, s.payments_sent), 4), "timeouts": s.timeouts,
        "payments": s.payments_offered, "counts_by_status": s.counts_by_status, "counts_by_reason": s.counts_by_reason,
        "reconciled": s.reconciliation.ok, "mismatches": len(s.reconciliation.mismatches),
    }


# ---- the instant-answer fake rail (baseline) ------------------------------------------------------------


def instant_server(port: int) -> None:
    """A rail that answers instantly: every pacs.008 gets 200 + a final pacs.002 ACSC; nothing settles."""
    from aiohttp import web

    from rail import iso20022

    canned = iso20022.encode(iso20022.status_report(
        msg_id="INSTANT0000000000000000001", tx_sts="ACSC", orgnl_msg_id="X", orgnl_end_to_end_id="X",
        orgnl_uetr="00000000-0000-4000-8000-000000000000"), "xml")
    balances = {"accounts": {}, "conserved": True}

    async def messages(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200, body=canned, content_type="application/xml")

    async def inbox(request: web.Request) -> web.Response:
        await asyncio.sleep(min(float(request.query.get("wait", "1")), 1.0))
        return web.json_response({"messages": []})

    async def participant(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"bic": body["bic"], "token": "instant-" + body["bic"]})

    async def ok(request: web.Request) -> web.Response:
        return web.json_response(balances)

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    app.router.add_get("/v1/inbox", inbox)
    app.router.add_post("/v1/inbox/ack", ok)
    app.router.add_post("/admin/participants", participant)
    app.router.add_post("/admin/liquidity", ok)
    app.router.add_get("/admin/balances", ok)
    app.router.add_get("/healthz", ok)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# ---- main -----------------------------------------------------------------------------------------------


async def measure_rail(side: Side, rate: float, args: argparse.Namespace, scenario: Scenario) -> dict:
    """`side`'s `rail serve` (a fresh one, an empty dataset, as Mojaloop's method records it) under `rate`,
    warmed up by a short unreported run so one-time costs (imports, encoder compilation, first connections) are
    not counted."""
    rail_port, admin_token = free_port(), secrets.token_urlsafe(16)
    data_dir = tempfile.mkdtemp(prefix="bench-load-")
    log = Path(tempfile.mkstemp(prefix="bench-load-rail-", suffix=".log")[1])
    rail = start(side.rail_serve("--port", str(rail_port), "--data", data_dir, "--admin-token", admin_token),
                 cwd=side.root, log=log)  # fmt: skip
    url = f"http://127.0.0.1:{rail_port}"
    try:
        try:
            await wait_healthy(url, SERVER_START_TIMEOUT_S, rail)
        except RuntimeError as exc:
            raise RuntimeError(f"{side.name}: {exc} (exit {rail.poll()}; stderr: {tail(log)})") from None
        await run_load(url, admin_token, WARMUP_RATE_PER_S, WARMUP_RUN_S, 0.0, scenario, books_settle_s=1.0)
        harness_cpu0, rail_cpu0 = own_cpu_s(), process_cpu_s(rail.pid, children=True)
        loop_cpu0 = process_cpu_s(rail.pid)
        summary = await run_load(url, admin_token, rate, args.duration, args.warmup, scenario)
        f = figures(summary)
        # CPU per payment is robust to other work on a shared machine, unlike rates and latencies.
        sent = max(1, summary.payments_sent)
        rail_cpu_s = process_cpu_s(rail.pid, children=True) - rail_cpu0
        f["harness_cpu_us_per_payment"] = round((own_cpu_s() - harness_cpu0) / sent * 1e6, 1)
        # The rail's whole CPU (its decode workers included), and its own process's alone: the settlement
        # core's event loop is there, and its one thread is what saturates first.
        f["rail_cpu_us_per_payment"] = round(rail_cpu_s / sent * 1e6, 1)
        f["rail_process_cpu_us_per_payment"] = round((process_cpu_s(rail.pid) - loop_cpu0) / sent * 1e6, 1)
        f["rail_payments_per_cpu_s"] = round(sent / rail_cpu_s, 1) if rail_cpu_s else 0.0
        return f
    finally:
        stop(rail)
        shutil.rmtree(data_dir, ignore_errors=True)
        log.unlink(missing_ok=True)


def _sides(args: argparse.Namespace) -> list[Side]:
    """This design (with its `--decode-workers`), then what it is compared with, if anything: the previous design
    (--baseline), or this one decoding in-process (--against-in-process)."""
    serve_args = ("--decode-workers", args.decode_workers) if args.decode_workers is not None else ()
    sides = [Side.this(serve_args)]
    if args.baseline is not None:
        sides.append(Side.baseline(args.baseline))
    elif args.against_in_process:
        sides.append(Side.this(("--decode-workers", "0"), name="in_process"))
    return sides


async def bench(args: argparse.Namespace) -> dict:
    scenario = load_scenario(None)
    out: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                             "load_average_at_start": round(os.getloadavg()[0], 2)}}
    sides = _sides(args)
    for rate in args.rates:
        runs: dict[str, list[dict]] = {side.name: [] for side in sides}
        for round_ in range(max(1, args.rounds)):
            for side in sides if round_ % 2 == 0 else sides[::-1]:  # alternate who goes first
                print(f"{rate:g}/s round {round_ + 1}: {side.name}", file=sys.stderr, flush=True)
                try:
                    runs[side.name].append(await measure_rail(side, rate, args, scenario))
                except RuntimeError as exc:  # one rail that did not start: keep the other rounds' figures
                    print(f"  round skipped: {exc}", file=sys.stderr, flush=True)
                    out.setdefault("skipped_rounds", []).append(f"{rate:g}/s round {round_ + 1}: {exc}")
        for name, side_runs in runs.items():
            prefix = "" if name == "this" else f"{name}_"
            if side_runs:
                out[f"{prefix}http_xml_{int(rate)}"] = _median_run(side_runs)
        if len(sides) > 1 and all(runs.values()):
            out[f"comparison_http_xml_{int(rate)}"] = compare(
                medians(runs["this"]), medians(runs[sides[1].name])
            )
    if len(sides) > 1:
        return out  # the comparison is what was asked for; the harness's own limits are another run
    fake_port = free_port()
    fake = start([sys.executable, str(Path(__file__).resolve()), "--instant-server", str(fake_port)])
    fake_url = f"http://127.0.0.1:{fake_port}"
    try:
        await wait_healthy(fake_url, SERVER_START_TIMEOUT_S)
        for key, client in (("harness_instant", "lean"), ("harness_instant_aiohttp_client", "aiohttp")):
            # Nothing settles at the fake, so no creditor book will ever be credited: do not wait for them.
            harness_cpu0 = own_cpu_s()
            summary = await run_load(fake_url, "instant", args.instant_rate, args.instant_duration, 1.0, scenario,
                                     client=client, books_settle_s=0.0)
            f = figures(summary)
            out[key] = {
                "offered_per_s": f["offered_per_s"], "finals_per_s": f["achieved_per_s"],
                "late_sends": f["late_sends"], "late_fraction": f["late_fraction"],
                "answer_p99_ms": f["answer_p99_ms"], "e2e_p99_ms": f["e2e_p99_ms"],
                # One exchange a payment here (no creditor answer, no inbox): the harness's floor.
                "harness_cpu_us_per_payment": round(
                    (own_cpu_s() - harness_cpu0) / max(1, summary.payments_sent) * 1e6, 1),
            }
    finally:
        stop(fake)
    main_key = f"http_xml_{TARGET_RATE_PER_S}"
    if main_key in out:
        m = out[main_key]
        out["ratios"] = {
            "achieved_vs_target_rate": round(m["achieved_per_s"] / TARGET_RATE_PER_S, 3),
            "p99_vs_target_p99": round(m["e2e_p99_ms"] / TARGET_P99_MS, 3),
            "harness_capacity_vs_rail_rate": round(out["harness_instant"]["finals_per_s"] / max(1, m["achieved_per_s"]), 2),
        }
    out["ratios"] = {
        **out.get("ratios", {}),
        "harness_vs_target_5000": round(out["harness_instant"]["finals_per_s"] / HARNESS_TARGET_RATE_PER_S, 3),
        "lean_client_vs_aiohttp_client": round(
            out["harness_instant"]["finals_per_s"] / max(1.0, out["harness_instant_aiohttp_client"]["finals_per_s"]), 2),
    }
    stretch_key = f"http_xml_{STRETCH_RATE_PER_S}"
    out["targets_met"] = {
        "rail_1000_per_s_p99_250ms_reconciled": bool(
            main_key in out and out[main_key]["achieved_vs_offered"] >= 0.98 and out[main_key]["e2e_p99_ms"] <= TARGET_P99_MS
            and out[main_key]["reconciled"] and out[main_key]["timeouts"] == 0),
        "harness_cpu_at_2000_per_s_le_250_us": (
            stretch_key in out and out[stretch_key]["harness_cpu_us_per_payment"] <= HARNESS_CPU_US_TARGET),
        "harness_offers_5000_per_s": (out["harness_instant"]["finals_per_s"] >= 0.98 * HARNESS_TARGET_RATE_PER_S
                                      and out["harness_instant"]["late_fraction"] <= 0.05),
    }
    return out


def _median_run(runs: list[dict]) -> dict:
    """One run's figures: the run with the median end-to-end p99 (its figures belong together)."""
    ordered = sorted(runs, key=lambda f: f["e2e_p99_ms"])
    return ordered[len(ordered) // 2]


def print_table(out: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="bench/load.py: rail over HTTP + XML, 8 simulated banks, open-loop load")
    for col in ("run", "offered/s", "achieved/s", "p50 ms", "p99 ms", "late", "timeouts", "reconciled",
                "CPU µs/payment harness/rail"):
        table.add_column(col, justify="right")
    for key, f in out.items():
        if key.startswith(("http_xml_", "baseline_http_xml_")):
            table.add_row(key, f"{f['offered_per_s']:,.0f}", f"{f['achieved_per_s']:,.0f}", f"{f['e2e_p50_ms']:.1f}",
                          f"{f['e2e_p99_ms']:.1f}", str(f["late_sends"]), str(f["timeouts"]), str(f["reconciled"]),
                          f"{f['harness_cpu_us_per_payment']:.0f} / {f['rail_cpu_us_per_payment']:.0f}")
    for key, label in (("harness_instant", "harness vs instant fake"),
                       ("harness_instant_aiohttp_client", "same, aiohttp client")):
        h = out.get(key)
        if h is None:
            continue
        table.add_row(label, f"{h['offered_per_s']:,.0f}", f"{h['finals_per_s']:,.0f}", "",
                      f"{h['e2e_p99_ms']:.1f}", str(h["late_sends"]), "", "n/a",
                      f"{h['harness_cpu_us_per_payment']:.0f} / -")
    Console().print(table)
    for skipped in out.get("skipped_rounds", []):
        print(f"skipped (not in the medians): {skipped}")
    for key, comparison in out.items():
        if key.startswith("comparison_"):
            print_comparison(f"{key[len('comparison_'):]}: this design against the other side (medians)", comparison,
                             COMPARED)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default=f"500,{TARGET_RATE_PER_S},{STRETCH_RATE_PER_S}")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--instant-rate", type=float, default=HARNESS_TARGET_RATE_PER_S)
    parser.add_argument("--instant-duration", type=float, default=5.0)
    parser.add_argument("--instant-server", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=Path, default=None, metavar="PATH",
                        help="a checkout of the previous design with its own .venv (bench/baseline.py): its `rail "
                             "serve` is measured beside this one's, by the same harness, rounds alternating")
    parser.add_argument("--rounds", type=int, default=1, help="runs per rate and side (the median is kept)")
    parser.add_argument("--decode-workers", default=None, metavar="N|auto",
                        help="this design's `rail serve --decode-workers` (default: rail serve's own, auto)")
    parser.add_argument("--against-in-process", action="store_true",
                        help="compare with this design decoding in the rail's process (--decode-workers 0), rounds "
                             "alternating")
    args = parser.parse_args()
    if args.instant_server is not None:
        instant_server(args.instant_server)
        return 0
    args.rates = [float(r) for r in str(args.rates).split(",") if r.strip()]
    try:
        import uvloop

        out = uvloop.run(bench(args))
    except ImportError:
        out = asyncio.run(bench(args))
    print_table(out)
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
