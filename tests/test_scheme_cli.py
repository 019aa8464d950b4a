"""`rail scheme` lists the counterparties an integrator can pay: valid IBANs, Raast IDs, test accounts."""

from __future__ import annotations

import json

from rail.app.cli import main
from rail.iso20022 import iban_is_valid, normalise_pk_mobile
from rail.scheme import TEST_ACCOUNTS


def test_scheme_json_lists_valid_ibans_raast_ids_and_every_test_account(capsys):
    assert main(["scheme", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(iban_is_valid(r["iban"]) for r in rows)
    assert all(normalise_pk_mobile(r["raast_id"]) == r["raast_id"] for r in rows if r["raast_id"])
    suffixes = {r["iban"][-4:] for r in rows if r["behaviour"] != "accept"}
    assert {t.suffix for t in TEST_ACCOUNTS} <= suffixes


def test_scheme_unknown_bank_is_a_clear_error(capsys):
    assert main(["scheme", "--bank", "NOPEPKKA"]) == 2
    assert "known BICs" in capsys.readouterr().err  # errors go to stderr, like every command's
