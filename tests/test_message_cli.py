"""`rail message` and `rail iban`: ready-to-send messages and valid IBANs without writing Python."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import orjson
import pytest
from test_iso_codec import assert_xsd_valid

from rail import iso20022 as iso
from rail.app.cli import main
from rail.app.message_cli import MessageError, parse_amount
from rail.iso20022._values import PKT
from rail.scheme import default_scheme

KNOWN_BICS = {b.bic for b in default_scheme().banks} | {"SBPPPKKA", "TESTPKKA"}


def rail(capsysbinary, *argv: str) -> tuple[int, bytes, str]:
    code = main(list(argv))
    out, err = capsysbinary.readouterr()
    return code, out, err.decode()


@pytest.mark.parametrize(("text", "paisa"), [("1500.00", 150_000), ("1500", 150_000), ("0.01", 1),
                                             ("2500.5", 250_050), ("007.10", 710)])
def test_amounts_are_decimal_text_to_integer_paisa(text, paisa):
    assert parse_amount(text) == paisa


@pytest.mark.parametrize("text", ["1,500.00", "1500.001", "0", "0.00", "-5", "1e3", "Rs 100", "", "nan",
                                  "100000001.00"])
def test_bad_amounts_are_refused_with_a_reason(text):
    with pytest.raises(MessageError, match="--amount"):
        parse_amount(text)


def test_pacs008_has_fresh_ids_and_todays_dates_and_is_valid():
    command = [sys.executable, "-m", "rail", "message", "pacs008", "--from", "TESTPKKA", "--to", "MEZNPKKA",
               "--amount", "1500.00"]
    first, second = (subprocess.run(command, capture_output=True, check=True).stdout for _ in range(2))
    assert_xsd_valid(first, "pacs.008.001.08")
    a, b = (iso.decode(body, "application/xml").message for body in (first, second))
    assert iso.validate(a, iso.RAAST_PROFILE, KNOWN_BICS) == []
    assert a.msg_id != b.msg_id and a.tx.uetr != b.tx.uetr and a.tx.tx_id != b.tx.tx_id
    today = dt.datetime.now(PKT).date()
    assert a.tx.intr_bk_sttlm_dt == today and a.cre_dt_tm.date() == today
    assert abs((dt.datetime.now(PKT) - a.tx.accptnc_dt_tm).total_seconds()) < 30
    assert (a.tx.amount_paisa, a.tx.currency, a.tx.dbtr_agt_bicfi, a.tx.cdtr_agt_bicfi) == (
        150_000, "PKR", "TESTPKKA", "MEZNPKKA")
    assert iso.pk_iban_is_valid(a.tx.dbtr_acct_iban) and a.tx.dbtr_acct_iban[4:8] == "TEST"
    # The creditor is a default-scheme customer of MEZNPKKA (an ordinary account: accepted).
    meezan = default_scheme().bank("MEZNPKKA")
    assert a.tx.cdtr_acct_iban in {c.iban for c in meezan.customers if c.behaviour == "accept"}


def test_answers_are_made_from_a_saved_inbox_page(capsysbinary, tmp_path):
    code, payment, _ = rail(capsysbinary, "message", "pacs008", "--from", "HABBPKKA", "--to", "MEZNPKKA",
                            "--amount", "10", "--json")
    assert code == 0
    page = {"messages": [{"seq": 7, "msg_type": "pacs.002.001.10", "message": {"x": 1}},
                         {"seq": 8, "msg_type": "pacs.008.001.08", "message": orjson.loads(payment)}],
            "acked_upto": 6, "rendering": "json"}
    inbox = tmp_path / "inbox.json"
    inbox.write_bytes(orjson.dumps(page))
    code, body, err = rail(capsysbinary, "message", "pacs002", "--answer", str(inbox), "--seq", "8",
                           "--status", "RJCT", "--reason", "AC04")
    assert code == 0, err
    assert_xsd_valid(body, "pacs.002.001.10")
    report = iso.decode(body, None).message
    original = iso.decode(payment, None).message
    assert (report.tx.tx_sts, report.tx.sts_rsn_cd, report.tx.orgnl_uetr) == ("RJCT", "AC04", original.tx.uetr)
    assert report.tx.instg_agt_bicfi == "MEZNPKKA"  # the creditor agent answers, as itself
    assert iso.validate(report, iso.RAAST_PROFILE, KNOWN_BICS) == []


@pytest.mark.parametrize(("argv", "needle"), [
    (("pacs008", "--from", "TESTPKKA", "--to", "NOSUCHBK", "--amount", "1"), "--creditor-iban"),
    (("pacs008", "--from", "TEST", "--to", "MEZNPKKA", "--amount", "1"), "is not a BIC"),
    (("pacs008", "--from", "TESTPKKA", "--to", "MEZNPKKA", "--amount", "1", "--creditor-iban", "PK00MEZN1"),
     "rail iban --check"),
    (("pacs002", "--answer", "/no/such/file", "--status", "ACSP"), "cannot read /no/such/file"),
    (("acmt023", "--from", "TESTPKKA", "--alias", "12345"), "Pakistani mobile number"),
])
def test_mistakes_get_one_line_saying_what_to_change(capsysbinary, argv, needle):
    code, out, err = rail(capsysbinary, "message", *argv)
    assert code == 2 and out == b""
    assert err.startswith(f"rail message {argv[0]}: ") and needle in err and len(err.splitlines()) == 1


def test_rjct_needs_a_reason(capsysbinary, tmp_path):
    code, payment, _ = rail(capsysbinary, "message", "pacs008", "--from", "HABBPKKA", "--to", "MEZNPKKA",
                            "--amount", "10")
    (tmp_path / "p.xml").write_bytes(payment)
    code, _, err = rail(capsysbinary, "message", "pacs002", "--answer", str(tmp_path / "p.xml"), "--status", "RJCT")
    assert code == 2 and "needs --reason" in err


def test_iban_makes_valid_ibans_and_explains_bad_ones(capsysbinary):
    code, out, err = rail(capsysbinary, "iban", "MEZN", "0005000000005000")
    assert (code, out) == (0, b"PK17MEZN0005000000005000\n") and "MEZNPKKA" in err
    code, out, _ = rail(capsysbinary, "iban", "TESTPKKA", "1234")  # a BIC works too; the account is padded
    assert code == 0 and iso.pk_iban_is_valid(out.decode().strip()) and out.startswith(b"PK") and b"TEST" in out
    code, out, _ = rail(capsysbinary, "iban", "--check", "PK17MEZN0005000000005000")
    assert code == 0 and b"valid" in out
    code, out, _ = rail(capsysbinary, "iban", "--check", "PK18MEZN0005000000005000")
    assert code == 1 and b"they are 17, i.e. PK17MEZN0005000000005000" in out
    code, out, _ = rail(capsysbinary, "iban", "--check", "GB17MEZN00050000")
    assert code == 1 and b"starts with 'GB'" in out and b"16 characters" in out
    code, _, err = rail(capsysbinary, "iban", "MEZN")
    assert code == 2 and err.startswith("rail iban: ")
