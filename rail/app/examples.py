"""docs/examples/: one example of every message a participant sends the rail, XML and JSON, regenerated here.

    python3 -m rail.app.examples docs/examples

Each example is a `rail message` command (rail/app/message_cli.py) run with a fixed clock and seeded ids, so the
files change only when the builders do; tests/test_examples.py checks that the committed files are what this
writes, that each decodes, passes the RAAST profile and (XML) validates against the official XSDs. They are
addressed to the default scheme's banks and customers (`rail scheme`). Their dates are fixed: to send one, make
a fresh one with the command shown in docs/examples/README.md (the rail refuses a pacs.008 accepted more than
20 s ago with AB06).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from rail.app.message_cli import Ids, build, configure
from rail.iso20022._values import PKT

EXAMPLES_AT = dt.datetime(2026, 1, 15, 10, 30, 0, 123000, tzinfo=PKT)
EXAMPLES_SEED = 20_260_115
PAYMENT = "pacs.008.001.08_credit_transfer"
PAYMENT_TO_AC04 = "pacs.008.001.08_to_test_account_AC04"
RECALL = "camt.056.001.08_recall_DUPL"
REQUEST_TO_PAY = "pain.013.001.07_request_to_pay"


def _ref(name: str) -> str:
    """An argument naming the XML example ``name`` (the message an answer is made from)."""
    return "{" + name + "}"


# (file name without extension, `rail message` arguments, what it is). "{NAME}" is the XML example NAME (an
# answer is made from the message it answers). Order matters: an answer comes after what it answers.
EXAMPLES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (PAYMENT, ("pacs008", "--from", "HABBPKKA", "--to", "MEZNPKKA", "--amount", "2500.00",
               "--creditor-iban", "PK17MEZN0005000000005000", "--remittance", "Family support January"),
     "Habib Bank pays Rs 2,500.00 to a Meezan Bank customer (ordinary account: accepted)"),
    ("head.001.001.02_pacs.008.001.08_with_header",
     ("pacs008", "--from", "HABBPKKA", "--to", "MEZNPKKA", "--amount", "2500.00", "--header"),
     "the same kind of payment inside a head.001 business application header addressed to SBPPPKKA"),
    ("pacs.002.001.10_creditor_ACSP", ("pacs002", "--answer", _ref(PAYMENT), "--status", "ACSP"),
     "Meezan Bank, the creditor agent, accepts the payment: the rail settles it"),
    (PAYMENT_TO_AC04, ("pacs008", "--from", "HABBPKKA", "--to", "MEZNPKKA", "--amount", "1000.00",
                       "--creditor-iban", "PK79MEZN0005000000000004"),
     "a payment to Meezan Bank's test account ...0004 (account closed)"),
    ("pacs.002.001.10_creditor_RJCT_AC04",
     ("pacs002", "--answer", _ref(PAYMENT_TO_AC04), "--status", "RJCT", "--reason", "AC04",
      "--info", "Account closed"),
     "the creditor agent rejects it: RJCT AC04 (account closed)"),
    ("pacs.028.001.03_status_request", ("pacs028", "--original", _ref(PAYMENT)),
     "Habib Bank asks the rail what became of its payment"),
    ("pacs.004.001.09_return_FOCR", ("pacs004", "--original", _ref(PAYMENT), "--reason", "FOCR"),
     "Meezan Bank returns the settled payment in full, following a recall"),
    (RECALL, ("camt056", "--original", _ref(PAYMENT), "--reason", "DUPL"),
     "Habib Bank recalls the settled payment: a duplicate"),
    ("camt.029.001.09_recall_refused_CUST", ("camt029", "--answer", _ref(RECALL), "--reason", "CUST"),
     "Meezan Bank refuses the recall: RJCR CUST (the customer declined)"),
    ("acmt.023.001.03_alias_lookup", ("acmt023", "--from", "HABBPKKA", "--alias", "+923041004000"),
     "Habib Bank asks who holds the Raast ID +923041004000 (answered with acmt.024)"),
    (REQUEST_TO_PAY, ("pain013", "--from", "HABBPKKA", "--to", "BAHLPKKA", "--amount", "450.00",
                      "--payee-name", "Karachi Books", "--end-to-end-id", "INV-2026-0001",
                      "--remittance", "Invoice INV-2026-0001"),
     "a shop banking with Habib Bank asks a Bank Al Habib customer to pay Rs 450.00"),
    ("pain.014.001.07_request_accepted_ACCP", ("pain014", "--answer", _ref(REQUEST_TO_PAY), "--status", "ACCP"),
     "Bank Al Habib, the payer's agent, accepts the request (its pacs.008 follows)"),
)

RENDERINGS = (("xml", ()), ("json", ("--json",)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rail message")
    configure(parser)
    return parser


def _arguments(args: tuple[str, ...], folder: Path) -> list[str]:
    return [str(folder / f"{a[1:-1]}.xml") if a.startswith("{") else a for a in args]


def _shown(args: tuple[str, ...]) -> str:
    return " ".join(f"{a[1:-1]}.xml" if a.startswith("{") else (f"'{a}'" if " " in a else a) for a in args)


def write_examples(folder: Path) -> list[Path]:
    """Write every example (and README.md, the index) into ``folder``; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = Ids(EXAMPLES_SEED)
    parser = _parser()
    written = []
    for name, args, _ in EXAMPLES:
        for extension, flags in RENDERINGS:
            namespace = parser.parse_args([*_arguments(args, folder), *flags])
            path = folder / f"{name}.{extension}"
            path.write_bytes(build(namespace, ids, EXAMPLES_AT))
            written.append(path)
    readme = folder / "README.md"
    readme.write_text(_index(), encoding="utf-8")
    return [*written, readme]


def _index() -> str:
    rows = "\n".join(
        f"| `{name}.xml` / `.json` | {what} | `rail message {_shown(args)}` |" for name, args, what in EXAMPLES
    )
    return f"""# Examples of every message a participant sends

Generated by `python3 -m rail.app.examples docs/examples` (rail/app/examples.py) from the rail's own builders; a test
checks they are current, decode, pass the RAAST profile and validate against the official XSDs. They use the
default scheme's banks and customers (`rail scheme`): Habib Bank `HABBPKKA`, Meezan Bank `MEZNPKKA`, Bank Al
Habib `BAHLPKKA`, and Meezan Bank's test account `...0004` (README.md, Test accounts).

Their dates are fixed ({EXAMPLES_AT.isoformat()}), so the rail would refuse them as stale (a pacs.008
accepted more than 20 s ago gets `RJCT AB06`). To send one, make a fresh one with the command beside it
(fresh ids, today's date; add `--json` for JSON, `--header` for a head.001 header; an answer is made from the
message it answers, or from an inbox page saved from `GET /v1/inbox`). docs/sandbox.md walks through sending
them.

| files | what | make a fresh one |
|---|---|---|
{rows}
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python3 -m rail.app.examples FOLDER   (e.g. docs/examples)", file=sys.stderr)
        return 2
    for path in write_examples(Path(argv[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
