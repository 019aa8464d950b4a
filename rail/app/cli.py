"""The `rail` command line.

Each subcommand lives in the module that owns its feature; this file only knows their names, so
`rail --help` is instant and a newcomer can find where a command is implemented. A command module
exposes `configure(parser)` (adds its options) and `run(args) -> int` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader went away

# name -> (module, one-line help). Order is the order `rail --help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("rail.app.demo", "run the whole system on this machine: rail, simulated banks, load, report"),
    "serve": ("rail.app.server", "start the participant sandbox endpoint (HTTP, ISO 20022 XML or JSON)"),
    "scheme": ("rail.app.scheme_cli", "list the default scheme's banks, customers' IBANs and Raast IDs, and test accounts"),
    "message": ("rail.app.message_cli", "print a ready-to-send ISO 20022 message (fresh ids, today's dates), XML or JSON"),
    "iban": ("rail.app.iban_cli", "make a valid Pakistani IBAN for a bank code and account, or explain what is wrong with one"),
    "load": ("participants.cli", "load-test a rail with simulated bank participants (open-loop, HDR latency)"),
    "certify": ("rail.certify.cli", "certify a bank's RAAST integration against a rail: receiver, sender and security cases"),
    "bank": ("rail.app.bank_cli", "run one simulated bank as an external participant (e.g. to try rail certify)"),
    "simulate": ("rail.sim.cli", "simulate a whole RAAST day in minutes: real settlement core, simulated time, deterministic"),
    "replay": ("rail.sim.replay_cli", "re-apply a simulated day's journal and check every balance and outcome"),
    "report": ("rail.app.report_cli", "remittance cost comparison and run reports (HTML, CSV, JSON)"),
    "corridor": ("rail.app.corridor_cli", "the corridor lab: the same remittances over every route into Pakistan, "
                 "the RAAST leg on the rail; cost, time to credit, failures, liquidity"),
    "webhook": ("rail.app.webhook_cli", "check that a webhook push is signed by the rail, unaltered and recent"),
    "journal": ("rail.app.journal_cli", "check a stopped rail's journal (verify) or keep it up to a batch (salvage)"),
}

DESCRIPTION = """\
A RAAST-like real-time payment rail emulator.

The rail settles ISO 20022 credit transfers between simulated Pakistani banks in an in-memory,
journaled ledger; simulated banks generate remittance load; the analytics compare what a
remittance into Pakistan costs over banks, money transfer operators, RAAST and stablecoin rails.
"""


def _parser(command: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rail",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'rail COMMAND --help' for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            # Only the chosen command's module is imported: `rail --help` stays fast.
            importlib.import_module(module_name).configure(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()  # inside the try: a reader gone before the last bytes is handled here too
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _reader_went_away()


def _main(argv: list[str]) -> int:
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = _parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[args.command][0])
    return int(module.run(args) or 0)


def _reader_went_away() -> int:
    """The reader of our output went away (`rail scheme --json | head`): stop quietly, as Unix tools do.
    stdout now points at /dev/null, so the interpreter's own flush at exit finds nothing left to complain
    about (Python's documented recipe for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
