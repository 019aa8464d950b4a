"""`rail certify`: is a bank's RAAST integration ready? A conformance suite run against a rail (our sandbox).

    rail certify --target http://127.0.0.1:8080 --participant TESTPKKA --token T --admin-token A \\
                 --accounts accounts.toml --role all --sender-hook http://127.0.0.1:9000/hook --out pack/

The certifier is a client of a running rail: with the operator's token it registers and funds its own
examiner participant (default XMNRPKKA), which pays the participant under test (receiver cases), is paid by it
(sender cases, cued through --sender-hook), and watches what the rail makes of its answers. Exit code 0 only
if every required case passed (mandatory ones, and conditional ones whose condition holds); 1 otherwise; 2
when the run could not start. docs/certify.md has the cases, the hooks and the CI recipe.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from rich.table import Table

from rail.certify.context import FINAL_WAIT_S, HOOK_TIMEOUT_S, Options
from rail.certify.declaration import read_declaration
from rail.certify.evidence import JUNIT_XML, MANIFEST, REPORT_HTML, write_pack
from rail.certify.examiner import EXAMINER_BIC
from rail.certify.hooks import restart_command
from rail.certify.runner import Certification, CertifyError, Outcome, Run, certify
from rail.certify.suite import ROLES, load_suite, markdown
from rail.terminal import console

PROG = "rail certify"
ADMIN_TOKEN_ENV = "RAIL_ADMIN_TOKEN"
TOKEN_ENV = "RAIL_PARTICIPANT_TOKEN"
EXIT_NOT_READY = 1
EXIT_CANNOT_RUN = 2
_STYLE = {Outcome.PASSED: "green", Outcome.FAILED: "red", Outcome.NOT_RUN: "red", Outcome.ERROR: "red",
          Outcome.NOT_APPLICABLE: "dim"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--target", help="the rail's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--participant", metavar="BIC", help="the participant under test")
    parser.add_argument("--token", help=f"the participant's own token (default ${TOKEN_ENV}): read-only checks "
                                        "(R10, X01) and a check that it is the participant's")
    parser.add_argument("--admin-token", help=f"the operator's token (default ${ADMIN_TOKEN_ENV}): registers "
                                              "and funds the examiner, asks for a redelivery (R05)")
    parser.add_argument("--accounts", type=Path, metavar="FILE",
                        help="the participant's declaration: test accounts, aliases, features (TOML or JSON)")
    parser.add_argument("--role", choices=(*ROLES, "all"), default="all", help="which cases (default all)")
    parser.add_argument("--cases", default=None, help="only these cases, by id or slug, comma separated")
    parser.add_argument("--sender-hook", metavar="URL|COMMAND",
                        help="how to cue the participant to send (sender cases): an http(s) URL it serves, "
                             "or a command reading the instruction on stdin")
    parser.add_argument("--restart-cmd", metavar="COMMAND",
                        help="a command that restarts the participant (R08); without it R08 does not apply")
    parser.add_argument("--out", type=Path, default=None, help="evidence pack directory "
                                                               "(default ./certify-BIC-TIMESTAMP)")
    parser.add_argument("--examiner", default=EXAMINER_BIC, metavar="BIC",
                        help=f"the certifier's own participant (default {EXAMINER_BIC}; re-keyed each run)")
    parser.add_argument("--final-wait", type=float, default=FINAL_WAIT_S, metavar="S",
                        help="longest wait for a payment's final status (default 30 s: above the 20 s hard stop)")
    parser.add_argument("--answer-within-ms", type=int, default=None, metavar="MS",
                        help="also fail an answer slower than this (default: the rail's own timeout decides)")
    parser.add_argument("--param", action="append", default=[], metavar="CASE.NAME=VALUE",
                        help="override a case's parameter, e.g. R09.rate_per_s=50 (the case files list them)")
    parser.add_argument("--hook-timeout", type=float, default=HOOK_TIMEOUT_S, metavar="S",
                        help="longest a sender hook call or the restart command may take (default 30 s)")
    parser.add_argument("--list-cases", action="store_true", help="list the cases and exit")
    parser.add_argument("--markdown", action="store_true", help="with --list-cases: as docs/certify.md shows them")


def run(args: argparse.Namespace) -> int:
    suite = load_suite()
    if args.list_cases:
        return _list(suite, args.markdown)
    try:
        job, cases, restart = _job(args, suite)
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    out = args.out or Path(f"certify-{job.participant}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}")
    return _certify(job, suite, cases, restart, out)


def _job(args: argparse.Namespace, suite) -> tuple[Run, list, object]:
    missing = [name for name in ("target", "participant", "accounts") if not getattr(args, name)]
    if missing:
        raise ValueError(f"give --{' --'.join(missing)} (rail certify --help)")
    admin_token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV)
    if not admin_token:
        raise ValueError(f"give --admin-token (or ${ADMIN_TOKEN_ENV}): the examiner is registered with it")
    declaration = read_declaration(args.accounts)
    if declaration.bic and declaration.bic != args.participant:
        raise ValueError(f"{args.accounts} declares {declaration.bic}, not --participant {args.participant}")
    roles = set(ROLES) if args.role == "all" else {args.role}
    ids = {c.strip() for c in args.cases.split(",") if c.strip()} if args.cases else None
    cases = suite.select(roles, ids)
    options = Options(final_wait_s=args.final_wait, answer_within_ms=args.answer_within_ms,
                      hook_timeout_s=args.hook_timeout, params=_params(args.param, suite))
    job = Run(target=args.target.rstrip("/"), participant=args.participant, admin_token=admin_token,
              declaration=declaration, token=args.token or os.environ.get(TOKEN_ENV), options=options,
              examiner_bic=args.examiner, sender_hook=args.sender_hook)
    restart = restart_command(args.restart_cmd, args.hook_timeout) if args.restart_cmd else None
    return job, cases, restart


def _params(given: list[str], suite) -> dict[str, dict[str, float]]:
    """--param CASE.NAME=VALUE, checked against the cases' own parameters."""
    params: dict[str, dict[str, float]] = {}
    cases = {c.id: c for c in suite.cases}
    for text in given:
        name, _, value = text.partition("=")
        case_id, _, key = name.partition(".")
        case = cases.get(case_id)
        if case is None or key not in case.params:
            known = ", ".join(f"{c.id}.{k}" for c in suite.cases for k in c.params)
            raise ValueError(f"--param {text}: no such parameter (there are: {known})")
        try:
            params.setdefault(case_id, {})[key] = float(value)
        except ValueError:
            raise ValueError(f"--param {text}: {value!r} is not a number") from None
    return params


def _list(suite, as_markdown: bool) -> int:
    if as_markdown:
        sys.stdout.write(markdown(suite))
        return 0
    table = Table(title=f"rail certify: suite version {suite.version}")
    for column in ("case", "role", "required", "title", "catches"):
        table.add_column(column)
    for case in suite.cases:
        table.add_row(case.id, case.role, "mandatory" if case.condition is None else f"when {case.condition}",
                      case.title, ", ".join(case.catches) or "-")
    console().print(table)
    return 0


def _certify(job: Run, suite, cases: list, restart, out: Path) -> int:
    screen = console()
    done = []
    status = screen.status("")

    def progress(case, result) -> None:
        if result is None:
            status.update(f"{case.name}: {case.title} ...")
            return
        done.append(result)
        style = _STYLE[result.outcome]
        why = f"  [dim]{result.reason}[/dim]" if result.reason else ""
        screen.print(f"[{style}]{result.outcome.upper():>14}[/{style}]  {case.name} ({result.seconds:.1f} s){why}",
                     highlight=False)

    screen.print(f"{PROG}: {job.participant} at {job.target}, {len(cases)} cases, suite {suite.version}")
    try:
        with status:
            certification = _run_loop(certify(job, suite, cases, restart, progress))
    except CertifyError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        partial = Certification(suite.version, job.target, job.participant, job.examiner_bic, "", 0.0, done,
                                interrupted=True)
        write_pack(partial, out)
        print(f"{PROG}: interrupted; the {len(done)} finished cases are in {out}", file=sys.stderr)
        return 130
    manifest = write_pack(certification, out)
    _summary(screen, certification, out, manifest)
    return 0 if certification.passed else EXIT_NOT_READY


def _run_loop(coroutine):
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _summary(screen, certification: Certification, out: Path, manifest: Path) -> None:
    counts = {o: sum(1 for r in certification.results if r.outcome is o) for o in Outcome}
    required_failed = [r for r in certification.results if r.required and r.outcome is not Outcome.PASSED]
    verdict = ("[green]READY[/green]: every required case passed" if certification.passed else
               f"[red]NOT READY[/red]: {', '.join(r.id for r in required_failed)} did not pass")
    screen.print(f"{verdict}  ({', '.join(f'{n} {o}' for o, n in counts.items() if n)}; "
                 f"{certification.seconds:.1f} s)")
    screen.print(f"evidence pack: {out}/ ({REPORT_HTML}, {JUNIT_XML}, messages/, {MANIFEST})", highlight=False)
