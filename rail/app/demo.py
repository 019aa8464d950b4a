"""`rail demo`: the whole system on this machine in one command.

Starts the rail in-process with its default scheme (journal fsynced in the run directory), a fleet of
simulated banks over the in-process transport (or, with --http, the rail's real HTTP listener on a loopback
port and the banks over HTTP), runs ~30 s of seeded remittance load with a live progress display, writes
the run directory (rail/rundir.py) and the analytics run report when available, and prints the
headline figures and where everything is.

With --open the rail's HTTP listener also serves the workbench page (docs/workbench.md), opened in the user's
browser before the load starts; after the load the rail keeps serving it, so every payment of the run can be
looked at, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import sys
import time
import webbrowser
from pathlib import Path
from typing import NamedTuple

from participants import cli as load_cli
from participants.harness import (
    LoadConfig,
    LoadRun,
    checked_config,
    http_target,
    inprocess_target,
    load_scenario,
    write_result,
)
from rail import rundir
from rail.app.server import ADMIN_TOKEN_ENV, tcp_port, workbench_url
from rail.runtime import freeze_long_lived, tune_gc_for_long_lived_state
from rail.scheme import default_scheme

PROG = "rail demo"
DEFAULT_DURATION_S = 30.0
DEFAULT_RATE_PER_S = 300.0  # what this 2-core machine sustains in-process with room to spare
DEFAULT_WARMUP_S = 2.0
DEMO_PAYMENT_TIMEOUT_S = 30.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, help="seconds of load (default 30)")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE_PER_S,
                        help=f"offered payments per second (default {DEFAULT_RATE_PER_S:g})")
    parser.add_argument("--seed", type=int, default=1, help="seed of the load model (same seed, same payments)")
    parser.add_argument("--out", type=Path, default=None, help="run directory (default ./runs/demo-<timestamp>)")
    parser.add_argument("--scenario", default=None, help="scenario file or shipped name (default: default)")
    parser.add_argument("--banks", type=int, default=8, help="simulated banks taking part (2..8, default 8)")
    parser.add_argument("--http", action="store_true",
                        help="run the rail's real HTTP server on a loopback port and the banks over HTTP")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON at the end")
    parser.add_argument("--open", dest="open_page", action="store_true",
                        help="serve the workbench page (watch the payments live, read each one's messages) and "
                             "open it in your browser; after the load the rail keeps serving it until Ctrl-C")
    parser.add_argument("--port", type=tcp_port, default=0,
                        help="with --open or --http: the loopback port of the rail's HTTP listener (default 0: a "
                             "free one)")
    parser.add_argument("--admin-token", default=None,
                        help=f"the operator token to sign in with (default: ${ADMIN_TOKEN_ENV}, else generated and "
                             "printed)")


def run(args: argparse.Namespace) -> int:
    if args.duration <= 0 or args.rate <= 0:
        return _fail("--duration and --rate must be positive")
    out_dir = args.out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    try:
        scenario = load_scenario(args.scenario)
        config = LoadConfig(
            rate_per_s=args.rate, duration_s=args.duration, warmup_s=min(DEFAULT_WARMUP_S, args.duration / 4),
            seed=args.seed, banks=args.banks, payment_timeout_s=DEMO_PAYMENT_TIMEOUT_S, scenario=scenario,
        )
        # Checked against the scheme the demo's rail starts with, before the run directory exists.
        config = checked_config(config, [bank.bic for bank in default_scheme().banks])
    except ValueError as exc:
        return _fail(str(exc))
    http = Http(args.http, args.open_page, args.port, args.admin_token or os.environ.get(ADMIN_TOKEN_ENV) or None)
    return load_cli.run_async(lambda stop: _demo(config, Path(out_dir), http, stop),
                              json_out="-" if args.json else None, prog=PROG)


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


class Http(NamedTuple):
    """What the demo serves over HTTP: the banks' traffic (--http), the workbench page (--open), or neither."""

    banks: bool
    page: bool
    port: int
    admin_token: str | None  # given by the user; None: generated and printed

    @property
    def listening(self) -> bool:
        return self.banks or self.page


async def _demo(config: LoadConfig, out_dir: Path, http: Http, stop: load_cli.Interruption):
    from participants.sandbox import start_sandbox_banks
    from rail.api.listener import Listener
    from rail.api.routes import RailApi
    from rail.api.service import RailService

    out_dir.mkdir(parents=True, exist_ok=True)
    journal_dir = out_dir / rundir.JOURNAL_DIR
    admin_token = http.admin_token or secrets.token_urlsafe(24)
    service = await RailService.open(journal_dir, fsync=True, admin_token=admin_token)
    await start_sandbox_banks(service)  # the default banks the load does not take over keep answering
    api = RailApi(service)
    listener = None
    try:
        if http.listening:  # the rail's real HTTP listener on a loopback port, in this process
            listener = Listener(api)
            try:
                await listener.start("127.0.0.1", http.port)
            except OSError as exc:
                raise ValueError(f"cannot listen on 127.0.0.1:{http.port}: {exc}") from None
        if http.page:
            open_workbench(workbench_url("127.0.0.1", listener.port), admin_token, generated=not http.admin_token)
        if http.banks:
            target = http_target(listener.url, admin_token, service.scheme)
        else:
            target = inprocess_target(api)
        tune_gc_for_long_lived_state()  # what recovery and start-up built lives as long as the rail
        display = load_cli.ProgressDisplay(config, f"rail demo: {target.label}, journal {journal_dir}")
        with display:
            run = LoadRun(target, config, load_cli.codec_factory(config.rendering), on_progress=display.update,
                          on_ready=freeze_long_lived)
            stop.watch(run)
            result = await run.run()
        write_result(result, out_dir)
        if http.banks:
            await target.admin.close()
        report = _write_report(out_dir)
        if http.page and stop.signal is None:
            print(f"{PROG}: the load is done ({result.summary.payments_sent:,} payments, run directory {out_dir}); "
                  f"the workbench keeps serving at {workbench_url('127.0.0.1', listener.port)}: Ctrl-C stops "
                  "the rail and prints the summary", flush=True)
            await _until_stopped()
    finally:
        if listener is not None:
            await listener.close()
        await service.close()
    return result, out_dir, report


def open_workbench(url: str, admin_token: str, generated: bool) -> bool:
    """Open the workbench in the user's browser (the token never goes in the URL: it is typed on the page)."""
    print(f"{PROG}: workbench: {url}", flush=True)
    if generated:
        print(f"{PROG}: sign in with the admin token (generated for this run): {admin_token}", flush=True)
    else:
        print(f"{PROG}: sign in with the admin token you gave (--admin-token or {ADMIN_TOKEN_ENV})", flush=True)
    try:
        opened = webbrowser.open(url, new=2)
    except webbrowser.Error:
        opened = False
    if not opened:
        print(f"{PROG}: no browser could be started from here: open {url} in yours", flush=True)
    return opened


async def _until_stopped() -> None:
    """Until Ctrl-C or SIGTERM (the run is complete: a signal now only ends the serving)."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no loop signal handlers here: Ctrl-C ends the default way
            loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    print(f"{PROG}: stopping the rail", file=sys.stderr, flush=True)


def _write_report(out_dir: Path) -> Path | None:
    """The analytics run report (analytics/run_report.py) of the run directory just written."""
    from analytics.run_report import write_run_report

    try:
        return Path(write_run_report(out_dir))
    except Exception as exc:  # the run directory is already complete: a report failure must not hide it
        print(f"{PROG}: the run report could not be written ({exc}); "
              f"retry with 'rail report run {out_dir}'", file=sys.stderr)
        return None

