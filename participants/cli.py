"""`rail load`: load-test a rail (ours, or any that speaks our API) with simulated bank participants.

    rail load --target URL[,STANDBY_URL...] --rate R --duration S [--banks N] [--scenario FILE] [--seed K]
              [--json OUT] [--admin-token T] [--out RUN_DIR] [--warmup S]

The harness takes over the target's default-scheme banks (issuing itself fresh tokens with the admin token),
offers open-loop Poisson load, shows live progress, prints a summary table, writes a run directory and,
with --json, the run summary for CI. Several --target URLs (active rail first, then standbys) make every
simulated bank switch to the next one by itself when the rail in use goes away (participants/transport.py's
HttpTransport; docs/cluster.md). Exit codes: 0 reconciled; 1 reconciliation mismatch; 2 bad arguments
or the target could not be used (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from rich.table import Table

from participants.harness import (
    LoadConfig,
    LoadResult,
    LoadRun,
    Progress,
    default_run_dir,
    http_target,
    load_scenario,
    write_result,
)
from participants.transport import HttpTransport, RailRefused, RailUnreachable, TransportError
from rail import rundir
from rail.runtime import tune_gc_for_long_lived_state
from rail.terminal import LiveProgress
from rail.terminal import console as make_console

PROG = "rail load"
EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_UNUSABLE = 2
PLAIN_PROGRESS_EVERY_S = 5.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True,
                        help="the rail's base URL, e.g. http://127.0.0.1:8080; or several, comma-separated, active "
                             "first then standbys: clients switch over by themselves when the active one goes away")
    parser.add_argument("--rate", type=float, required=True, help="offered payments per second (open model)")
    parser.add_argument("--duration", type=float, required=True, help="seconds of offered load")
    parser.add_argument("--banks", type=int, default=8, help="simulated banks to take over (default 8)")
    parser.add_argument("--bank-bics", default=None,
                        help="comma-separated BICs this process simulates (instead of the first --banks): give "
                             "each process of a split fleet its own disjoint list")
    parser.add_argument("--scenario", default=None,
                        help="scenario TOML file, or a shipped one: default, eid_peak, month_end")
    parser.add_argument("--seed", type=int, default=1, help="load seed: the same seed gives the same payments")
    parser.add_argument("--json", dest="json_out", type=Path, default=None,
                        help="write the run summary (run.json contents) to this file ('-' = stdout)")
    parser.add_argument("--admin-token", default=None,
                        help="the rail's admin token (default: $RAIL_ADMIN_TOKEN)")
    parser.add_argument("--out", type=Path, default=None, help="run directory (default ./runs/load-<timestamp>)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds excluded from the figures at the start (default: 10%% of duration, max 10)")
    parser.add_argument("--rendering", choices=("xml", "json"), default="xml", help="message rendering")
    parser.add_argument("--same-uetrs", action="store_true",
                        help="reuse the seed's UETRs and message ids too (by default each run gets fresh ids, "
                             "so a rerun against the same rail is not answered as a resend)")
    parser.add_argument("--payment-timeout", type=float, default=30.0,
                        help="seconds after its intended time a payment without final status is a timeout")


def codec_factory(rendering: str):
    from participants.codec import Iso20022Codec

    return lambda: Iso20022Codec(rendering)


def run(args: argparse.Namespace) -> int:
    if args.rate <= 0 or args.duration <= 0:
        return _fail(PROG, "--rate and --duration must be positive")
    admin_token = args.admin_token or os.environ.get("RAIL_ADMIN_TOKEN")
    if not admin_token:
        return _fail(PROG, "the harness needs the rail's admin token (--admin-token or RAIL_ADMIN_TOKEN) to take over "
                     "its simulated banks")
    warmup = args.warmup if args.warmup is not None else min(10.0, args.duration * 0.1)
    try:
        HttpTransport(args.target)  # checks the URL list (nothing is opened until the first call)
        scenario = load_scenario(args.scenario)
        config = LoadConfig(
            rate_per_s=args.rate, duration_s=args.duration, warmup_s=max(0.0, min(warmup, args.duration)),
            seed=args.seed, banks=args.banks, payment_timeout_s=args.payment_timeout, scenario=scenario,
            rendering=args.rendering, uetr_salt=0 if args.same_uetrs else secrets.randbits(128),
            bank_bics=[b.strip() for b in args.bank_bics.split(",") if b.strip()] if args.bank_bics else None,
        )
    except ValueError as exc:
        return _fail(PROG, str(exc))
    out_dir = args.out or default_run_dir("load")
    return run_async(lambda stop: _load(config, args.target, admin_token, out_dir, stop), json_out=args.json_out)


async def _load(config: LoadConfig, url: str, admin_token: str, out_dir: Path, stop: Interruption):
    probe = HttpTransport(url, admin_token=admin_token)
    try:
        if not await probe.healthz():
            raise RailUnreachable(f"{url} answered /healthz with an error: is it a rail?")
        await probe.balances()  # proves the admin token before any load is offered
    finally:
        await probe.close()
    target = http_target(url, admin_token)
    try:
        display = ProgressDisplay(config, f"rail load -> {url}")
        with display:
            # The plan and the banks live for the whole run: out of the collector's way, so that a full
            # collection mid-run does not pause the scheduler (a pause would show as late sends); and the
            # collector runs less often: thousands of payments in flight are thousands of young objects, whose
            # collection at Python's default threshold cost ~20-50 us of CPU a payment (measured).
            run = LoadRun(target, config, codec_factory(config.rendering), on_progress=display.update,
                          on_ready=tune_gc_for_long_lived_state)
            stop.watch(run)
            result = await run.run()
    finally:
        await target.admin.close()
    write_result(result, out_dir)
    return result, out_dir, None


class Interruption:
    """Ctrl-C (SIGINT) or SIGTERM during a run: the first stops the load and keeps what was measured (the run
    directory is written, marked interrupted, then the process exits 130 or 143); a second, or one before any
    load was offered, stops at once."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None
        self._run: LoadRun | None = None
        self._task: asyncio.Task | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # NotImplementedError: a platform without loop signal handlers; Ctrl-C then ends the default way.
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self._on_signal, sig)

    def watch(self, run: LoadRun) -> None:
        self._run = run
        if self.signal is not None:
            run.interrupt(self.signal.name)

    def _on_signal(self, sig: signal.Signals) -> None:
        first = self.signal is None
        self.signal = self.signal or sig
        if first and self._run is not None:
            print(f"\n{sig.name}: stopping the load; writing what was measured ({sig.name} again stops at once)",
                  file=sys.stderr, flush=True)
            self._run.interrupt(sig.name)
        elif self._task is not None:
            self._task.cancel()

    @property
    def exit_code(self) -> int:
        assert self.signal is not None
        return 128 + int(self.signal)


def run_async(start: Callable[[Interruption], Awaitable], json_out: Any = None, prog: str = "rail load") -> int:
    """Run a load coroutine, ``start(interruption)``, returning (LoadResult, out_dir, report_path); print the
    summary; the exit code (130/143 when a signal cut the run short, its partial run written)."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    stop = Interruption()

    async def main():
        stop.install()
        return await start(stop)

    try:
        result, out_dir, report = runner(main())
    except asyncio.CancelledError:
        print(f"{prog}: interrupted before any load was offered: no run to write", file=sys.stderr)
        return stop.exit_code if stop.signal is not None else EXIT_UNUSABLE
    except RailRefused as exc:
        if exc.status in (401, 403):
            return _fail(prog, f"the rail refused the admin token ({exc.status}): check --admin-token / "
                               "RAIL_ADMIN_TOKEN")
        return _fail(prog, str(exc))
    except (TransportError, ValueError, OSError) as exc:
        return _fail(prog, str(exc))
    print_summary(result, out_dir, report)
    if json_out is not None:
        data = msgspec.json.format(msgspec.json.encode(result.summary), indent=2)
        if str(json_out) == "-":
            sys.stdout.write(data.decode() + "\n")
        else:
            Path(json_out).write_bytes(data)
    if stop.signal is not None:
        print(f"{prog}: interrupted by {stop.signal.name}: the partial run is in {out_dir}", file=sys.stderr)
        return stop.exit_code
    return EXIT_OK if result.ok else EXIT_MISMATCH


def _fail(prog: str, message: str) -> int:
    print(f"{prog}: {message}", file=sys.stderr)
    return EXIT_UNUSABLE


class ProgressDisplay(LiveProgress):
    """Live progress with rich on a terminal; a plain line every few seconds otherwise (CI logs)."""

    def __init__(self, config: LoadConfig, title: str):
        super().__init__(f"{title}: {config.rate_per_s:g}/s for {config.duration_s:g} s, "
                         f"scenario {config.scenario.name}, seed {config.seed}")
        self.config = config
        self.title = title
        self._last_plain = -PLAIN_PROGRESS_EVERY_S

    def plain(self, p: Progress) -> str | None:
        if p.elapsed_s - self._last_plain < PLAIN_PROGRESS_EVERY_S and p.phase != "reconcile":
            return None
        self._last_plain = p.elapsed_s
        p99 = f"{p.p99_ms_last_s:.1f} ms" if p.p99_ms_last_s is not None else "-"
        return (f"  {p.phase:9} t={p.elapsed_s:6.1f}s sent={p.sent} in-flight={p.in_flight} "
                f"ACSC={p.acsc} RJCT={p.rjct} late={p.late} p99(last s)={p99}")

    def render(self, p: Progress | None) -> Table:
        table = Table(title=self.title, show_header=True, header_style="bold")
        for col in ("phase", "t (s)", "offered", "sent", "in flight", "ACSC", "RJCT", "late", "p99 last s"):
            table.add_column(col, justify="right")
        if p is None:
            table.add_row("setup", "0", "0", "0", "0", "0", "0", "0", "-")
        else:
            p99 = f"{p.p99_ms_last_s:.1f} ms" if p.p99_ms_last_s is not None else "-"
            table.add_row(p.phase, f"{p.elapsed_s:.1f}/{p.duration_s:g}", str(p.offered), str(p.sent),
                          str(p.in_flight), str(p.acsc), str(p.rjct), str(p.late), p99)
        return table


def print_summary(result: LoadResult, out_dir: Path, report: Path | None = None) -> None:
    s = result.summary
    console = make_console()
    interrupted = f", INTERRUPTED at {s.interrupted_at_s:g} s" if s.interrupted else ""
    table = Table(title=f"run summary: {s.target} ({s.transport}, {s.rendering}), scenario {s.scenario}, "
                        f"seed {s.seed}{interrupted}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    # Two counting bases, each named: rates and latencies over the steady window, counts over the whole run
    # (the same figures, on the same bases, as the run report).
    steady = f"steady window {s.steady_state.start_s:g}-{s.steady_state.end_s:g} s"
    table.add_row("steady window", f"{s.steady_state.start_s:g}-{s.steady_state.end_s:g} s (warm-up {s.warmup_s:g} s)")
    table.add_row(f"offered / achieved rate ({steady})",
                  f"{s.offered_rate_per_s:,.1f} / {s.achieved_rate_per_s:,.1f} per s")
    for stage, st in s.latency_ms.items():
        table.add_row(f"{stage} p50/p90/p99/p99.9/max ms ({steady}, {st.count:,} payments)",
                      f"{st.p50_ms:.1f} / {st.p90_ms:.1f} / {st.p99_ms:.1f} / {st.p999_ms:.1f} / {st.max_ms:.1f}")
    table.add_row(f"payments offered / sent ({s.counts_base})", f"{s.payments_offered:,} / {s.payments_sent:,}")
    for status, n in s.counts_by_status.items():
        table.add_row(f"  {status}", f"{n:,}")
    if s.counts_by_reason:
        table.add_row("  RJCT reasons", ", ".join(f"{r} {n}" for r, n in s.counts_by_reason.items()))
    table.add_row(f"timeouts (no final status; {s.counts_base})", f"{s.timeouts:,}")
    table.add_row(f"late sends (> 10 ms; {s.counts_base})", f"{s.late_sends:,}")
    for gap in s.rail_gaps:
        table.add_row("rail unreachable", f"{gap['start_s']:.1f}-{gap['end_s']:.1f} s")
    rec = s.reconciliation
    verdict = "[green]OK[/green]" if rec.ok else "[bold red]MISMATCH[/bold red]"
    table.add_row("reconciliation", f"{verdict}: {rec.acsc_payments:,} ACSC, Rs {rec.acsc_amount_paisa / 100:,.0f}, "
                                    f"{rec.credited_in_books:,} credited in books, conserved={rec.rail_conserved}")
    console.print(table)
    for mismatch in rec.mismatches:
        console.print(f"[bold red]RECONCILIATION MISMATCH:[/bold red] {mismatch}")
    for note in s.notes:
        console.print(f"note: {note}")
    console.print(headline(s))
    console.print(f"run directory: {out_dir}" + (f"   report: {report}" if report else ""))


def headline(s: rundir.RunSummary) -> str:
    """One line with the figures that matter."""
    e2e = s.latency_ms.get(rundir.STAGE_END_TO_END)
    rec = s.reconciliation
    p99 = f"p99 end-to-end {e2e.p99_ms:.1f} ms" if e2e and e2e.count else "no completed payments"
    interrupted = f"INTERRUPTED at {s.interrupted_at_s:g} s: " if s.interrupted else ""
    return (f"headline: {interrupted}{rec.acsc_payments:,} payments settled (Rs {rec.acsc_amount_paisa / 100:,.0f}, "
            f"{s.counts_base}); steady window: {s.achieved_rate_per_s:,.0f}/s of {s.offered_rate_per_s:,.0f}/s "
            f"offered, {p99}; {s.timeouts} timeouts, {s.late_sends} late sends, "
            f"reconciliation {'OK' if rec.ok else 'MISMATCH'}")


__all__ = ["ProgressDisplay", "codec_factory", "configure", "print_summary", "run", "run_async", "rundir"]
