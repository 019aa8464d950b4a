"""Property tests: hypothesis-generated messages of every type round-trip in both renderings and encode to
XML that is valid against the official XSD; identifiers behave as specified."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

import rail.iso20022 as iso
from conftest import SAMPLES_DIR, XSD_DIR
from rail.iso20022 import _spec
from rail.iso20022 import schema as iso_schema


# XML-safe text with markup characters, quotes, CR/LF and Urdu letters; ISO texts have minLength 1.
TEXT_CHARS = st.sampled_from(list("abcXYZ019 &<>\"'-/.+:\r\n\t") + ["\u0639", "\u0644", "\u06cc", "\u00e9"])


def text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(TEXT_CHARS, min_size=1, max_size=max_size)


UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ALNUM = UPPER + "0123456789"
bic = st.builds(
    lambda a, b, c, d: a + b + c + d,
    st.text(ALNUM, min_size=4, max_size=4),
    st.text(UPPER, min_size=2, max_size=2),
    st.text(ALNUM, min_size=2, max_size=2),
    st.sampled_from(["", "KHI", "036"]),
)
pk_iban = st.builds(
    iso.make_pk_iban, st.text(UPPER, min_size=4, max_size=4), st.text("0123456789", min_size=1, max_size=16)
)
uetr = st.uuids(version=4).map(str)
code4 = st.text(ALNUM, min_size=1, max_size=4)
offsets = st.sampled_from([dt.timezone(dt.timedelta(hours=5)), dt.UTC, dt.timezone(dt.timedelta(hours=-3.5))])
aware = st.builds(
    lambda d, tz: d.replace(tzinfo=tz),
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)),
    offsets,
)
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))
paisa = st.integers(min_value=0, max_value=10**15)

# Attribute name -> strategy, for values whose XSD type is a pattern or an enumeration.
BY_ATTR = {
    "currency": st.sampled_from(["PKR", "USD", "AED"]),
    "orgnl_currency": st.just("PKR"),
    "nb_of_txs": st.integers(0, 10**6).map(str),
    "sttlm_mtd": st.sampled_from(["CLRG", "INDA", "INGA", "COVE"]),
    "chrg_br": st.sampled_from(["SLEV", "DEBT", "CRED", "SHAR"]),
    "cdt_dbt_ind": st.sampled_from(["CRDT", "DBIT"]),
    "tx_cxl_sts": st.sampled_from(["RJCR", "ACCR", "PDCR"]),
    "pmt_mtd": st.sampled_from(["TRF", "CHK"]),
    "clr_sys_cd": st.text(ALNUM, min_size=1, max_size=3),  # ExternalCashClearingSystem1Code is Max3
    "evt_cd": st.text(ALNUM + "abc", min_size=1, max_size=4),
    "sts_rsn_addtl_inf": text(105),
    "rtr_rsn_addtl_inf": text(105),
    "cxl_rsn_addtl_inf": text(105),
    "cxl_sts_rsn_addtl_inf": text(105),
    "err_lctn": text(350),
    "rsn_desc": text(350),
    "addtl_data": text(500),
    "rjctg_pty_rsn": text(35),
}
# XSD choices (exactly one alternative may be present): the second of each pair is dropped if both are set.
CHOICES = [
    ("svc_lvl_cd", "svc_lvl_prtry"),
    ("lcl_instrm_cd", "lcl_instrm_prtry"),
    ("clr_sys_cd", "clr_sys_prtry"),
    ("sts_rsn_cd", "sts_rsn_prtry"),
    ("rtr_rsn_cd", "rtr_rsn_prtry"),
    ("cxl_rsn_cd", "cxl_rsn_prtry"),
    ("cxl_sts_rsn_cd", "cxl_sts_rsn_prtry"),
    ("rsn_cd", "rsn_prtry"),
    ("dbtr_acct_iban", "dbtr_acct_othr_id"),
    ("cdtr_acct_iban", "cdtr_acct_othr_id"),
    ("acct_iban", "acct_othr_id"),
    ("sts_cd", "sts_prtry"),
    ("fr_clr_sys_cd", "fr_clr_sys_prtry"),
    ("to_clr_sys_cd", "to_clr_sys_prtry"),
]


def leaf_strategy(attr: str, kind: str, simple=None) -> st.SearchStrategy:
    if attr in BY_ATTR:
        return BY_ATTR[attr]
    if simple is not None and simple.enumeration is not None:
        return st.sampled_from(simple.enumeration)
    if kind == "DT":
        return aware
    if kind == "D":
        return dates
    if kind == "B":
        return st.booleans()
    if attr.endswith(("bicfi", "any_bic")):
        return bic
    if attr.endswith("iban"):
        return pk_iban
    if attr.endswith("uetr"):
        return uetr
    if attr.endswith(("_cd", "_sts", "sts_conf", "grp_sts")) or attr in ("tx_sts",):
        return code4
    if attr.endswith(("_nm", "ustrd", "prxy_id")):
        return text(140)
    if simple is not None and simple.max_length is not None:  # e.g. an account's Othr/Id is Max34Text
        return text(min(simple.max_length, 140))
    return text(35)


def declared_at(ctype, path: str):
    """The XSD declaration (schema.Child) at ``path`` below complex type ``ctype``."""
    child = None
    for name in path.split("/"):
        child = ctype.by_name[name]
        ctype = child.type
    return child


def struct_strategy(cls: type, items: tuple, ctype=None) -> st.SearchStrategy:
    if ctype is None:
        spec = _spec.SPEC_BY_CLASS.get(cls) or _spec.HEAD001
        ctype = iso_schema.message_schema(spec.msg_type).root.type
    fields: dict[str, st.SearchStrategy] = {}
    for item in items:
        if isinstance(item, _spec.B):
            fields[item.attr] = st.lists(
                struct_strategy(item.cls, item.items, declared_at(ctype, item.path).type),
                min_size=max(item.min_occurs, 0),
                max_size=2,
            )
        elif item.kind == "C":
            continue
        elif item.kind == "A":
            amount_attr, ccy_attr = _spec.amount_attrs(item.attr)
            fields[amount_attr] = paisa if item.req else st.none() | paisa
            fields[ccy_attr] = leaf_strategy(ccy_attr, "T")
        else:
            strategy = leaf_strategy(item.attr, item.kind, declared_at(ctype, item.path).type)
            fields[item.attr] = strategy if item.req else st.none() | strategy
    return st.fixed_dictionaries(fields).map(lambda values: cls(**_fix_choices(values)))


def _fix_choices(values: dict) -> dict:
    """Make generated values respect the XSD's co-occurrence rules, which the encoder leaves to its caller
    (and ``validate`` checks on inbound messages). Only keys the struct has are touched."""

    def clear(*keys: str) -> None:
        for key in keys:
            if key in values:
                values[key] = None

    for prefix in ("dbtr_acct_", "cdtr_acct_", "acct_", "orgnl_acct_"):
        if values.get(prefix + "prxy_id") is None:
            clear(prefix + "prxy_tp_cd")  # ProxyAccountIdentification1/Id is mandatory
    for prefix in ("dbtr_acct_", "cdtr_acct_"):  # CashAccount38/Id is mandatory when the account is given
        if values.get(prefix + "iban") is None and values.get(prefix + "othr_id") is None:
            clear(prefix + "prxy_id", prefix + "prxy_tp_cd")
    if values.get("dbtr_prvt_id_othr_id") is None:
        clear("dbtr_prvt_id_othr_schme_nm_cd")
    if "acct_othr_id" in values and values.get("acct_iban") is None and values.get("acct_othr_id") is None:
        values["acct_othr_id"] = "ACCOUNT-1"  # camt.054 Ntfctn/Acct/Id is mandatory
    # OrgnlGrpInf needs OrgnlMsgId + OrgnlMsgNmId; acmt.024 OrgnlAssgnmt needs MsgId + CreDtTm.
    partner = "orgnl_cre_dt_tm" if "orgnl_msg_nm_id" not in values else "orgnl_msg_nm_id"
    if values.get("orgnl_msg_id") is None:
        clear("orgnl_msg_nm_id", "orgnl_cre_dt_tm")
    elif partner in values and values.get(partner) is None and "orgnl_pmt_inf_and_sts" not in values:
        values[partner] = (
            "pacs.008.001.08" if partner == "orgnl_msg_nm_id" else dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        )
    for side in ("fr_", "to_"):  # ClrSysMmbId/MmbId is mandatory when ClrSysMmbId is given
        if f"{side}mmb_id" in values and values[f"{side}mmb_id"] is None:
            clear(f"{side}clr_sys_cd", f"{side}clr_sys_prtry")
    # pain.013: ReqdExctnDt and XpryDt are choices of Dt and DtTm; Amt is InstdAmt (EqvtAmt needs elements
    # the structs do not model).
    for choice in (("reqd_exctn_dt", "reqd_exctn_dt_tm"), ("xpry_dt", "xpry_dt_tm")):
        if choice[0] in values and values[choice[0]] is not None:
            clear(choice[1])
    if "reqd_exctn_dt" in values and values["reqd_exctn_dt"] is None and values["reqd_exctn_dt_tm"] is None:
        values["reqd_exctn_dt"] = dt.date(2025, 1, 15)
    if "eqvt_amount_paisa" in values:
        clear("eqvt_amount_paisa", "eqvt_currency")
        if values["amount_paisa"] is None:
            values["amount_paisa"], values["currency"] = 100, "PKR"
    if "sts_assgnmt_cxl_conf" in values:  # camt.029 Sts is a choice: exactly one branch
        chosen = next((k for k in ("sts_conf", "sts_assgnmt_cxl_conf") if values[k] is not None), None)
        for key in ("sts_conf", "sts_assgnmt_cxl_conf"):
            if key != chosen:
                values[key] = None
        if chosen is None:
            values["sts_conf"] = "CNCL"
    if "bk_tx_cd_prtry_cd" in values:  # camt.054: an entry has its amount, sign, status and code, or is absent
        if values["amount_paisa"] is None:
            clear(*[k for k in values if k.startswith(("cdt_dbt_ind", "sts_", "bookg_dt", "val_dt", "bk_tx_cd", "ntry_ref", "msg_id", "instr_id", "end_to_end_id", "uetr", "tx_id", "clr_sys_ref", "rmt_inf_ustrd"))])
        else:
            values["cdt_dbt_ind"] = values["cdt_dbt_ind"] or "CRDT"
            if values["sts_cd"] is None and values["sts_prtry"] is None:
                values["sts_cd"] = "BOOK"
            if values["sts_cd"] is not None:
                values["sts_prtry"] = None
            if values["bk_tx_cd_prtry_cd"] is None or values["bk_tx_cd_domn_cd"] is not None or values["bk_tx_cd_fmly_cd"] is not None or values["bk_tx_cd_sub_fmly_cd"] is not None:
                values["bk_tx_cd_domn_cd"] = values["bk_tx_cd_domn_cd"] or "PMNT"
                values["bk_tx_cd_fmly_cd"] = values["bk_tx_cd_fmly_cd"] or "RCDT"
                values["bk_tx_cd_sub_fmly_cd"] = values["bk_tx_cd_sub_fmly_cd"] or "DMCT"
            if values["bk_tx_cd_prtry_cd"] is None:
                clear("bk_tx_cd_prtry_issr")
    for first, second in CHOICES:
        if values.get(first) is not None and values.get(second) is not None:
            values[second] = None
    for attr in [a for a in values if a.endswith("amount_paisa")]:
        if values[attr] is None:  # an absent optional amount has no currency either
            values[attr.replace("amount_paisa", "currency")] = None
    return values


@cache
def schema(msg_type: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / f"{msg_type}.xsd")))


def check_round_trip_and_xsd(msg) -> None:
    msg_type = _spec.SPEC_BY_CLASS[msg.__class__].msg_type
    xml = iso.encode(msg, "xml")
    xsd = schema(msg_type)
    assert xsd.validate(etree.fromstring(xml)), f"{msg_type}: {xsd.error_log}\n{xml[:2000]!r}"
    for rendering, body in (("xml", xml), ("json", iso.encode(msg, "json"))):
        decoded = iso.decode(body, iso.CONTENT_TYPES[rendering])
        assert decoded.msg_type == msg_type
        assert decoded.message == msg, rendering


@pytest.mark.parametrize("spec", _spec.MESSAGE_SPECS, ids=lambda spec: spec.msg_type)
def test_generated_messages_round_trip_and_are_xsd_valid(spec):
    @given(struct_strategy(spec.cls, spec.items))
    def run(msg) -> None:
        check_round_trip_and_xsd(msg)

    run()


@given(struct_strategy(iso.AppHdr, _spec.HEAD001.items), struct_strategy(iso.Pacs002, _spec.PACS002.items))
def test_generated_header_round_trips_with_its_document(header, msg):
    header = msgspec.structs.replace(header, msg_def_idr="pacs.002.001.10")
    for rendering in ("xml", "json"):
        decoded = iso.decode(iso.encode(msg, rendering, header=header), None)
        assert (decoded.header, decoded.message) == (header, msg)
    root = etree.fromstring(iso.encode(msg, "xml", header=header))
    assert schema("head.001.001.02").validate(etree.ElementTree(root[0]))


# --------------------------------------------------------------------------- identifiers


@given(st.text(UPPER, min_size=4, max_size=4), st.text("0123456789", min_size=1, max_size=16))
def test_made_pk_ibans_are_valid_and_any_single_digit_change_is_caught(bank, account):
    iban = iso.make_pk_iban(bank, account)
    assert (
        len(iban) == 24 and iban.startswith("PK") and iso.pk_iban_is_valid(iban) and iso.iban_is_valid(iban)
    )
    for position in range(2, 24):
        if iban[position].isdigit():
            changed = iban[:position] + str((int(iban[position]) + 1) % 10) + iban[position + 1 :]
            assert not iso.pk_iban_is_valid(changed)


def test_known_pk_ibans_from_the_reference():
    assert iso.make_pk_iban("SCBL", "1123456702") == "PK36SCBL0000001123456702"
    for iban in (
        "PK66HABB0000001234567890",
        "PK07UNIL0000001234567890",
        "PK70MUCB0000001234567890",
        "PK49ABPA0000001234567890",
        "PK93MEZN0000001234567890",
        "PK04NBPA0000001234567890",
    ):
        assert iso.pk_iban_is_valid(iban)
        assert iso.make_pk_iban(iban[4:8], iban[8:]) == iban
    assert iso.iban_is_valid("GB82WEST12345698765432") and not iso.pk_iban_is_valid("GB82WEST12345698765432")
    with pytest.raises(ValueError):
        iso.make_pk_iban("HAB1", "1")
    with pytest.raises(ValueError):
        iso.make_pk_iban("HABB", "1" * 17)


@given(st.text("0123456789", min_size=9, max_size=9))
def test_mobile_numbers_normalise_to_e164(rest):
    expected = "+923" + rest
    for form in (
        "03" + rest,
        "3" + rest,
        "923" + rest,
        "+923" + rest,
        "00923" + rest,
        f"03{rest[:2]} {rest[2:]}",
        f"+92-3{rest[:2]}-{rest[2:]}",
    ):
        assert iso.normalise_pk_mobile(form) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "02001234567",
        "0300123456",
        "+14155550100",
        "0300-123456x",
        "+9230012345678",
        "\u0660\u0663\u0660\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667",
    ],
)
def test_non_pakistani_mobile_numbers_are_refused(bad):
    with pytest.raises(ValueError):
        iso.normalise_pk_mobile(bad)


def test_bic_uetr_and_cnic_formats():
    assert iso.bic_is_valid("HABBPKKA") and iso.bic_is_valid("MPBLPKKA036")
    for bad in ("HABBPKK", "habbpkka", "HABB12KA", "HABBPKKA03"):
        assert not iso.bic_is_valid(bad)
    assert iso.uetr_is_valid("3f2b7c9e-8a41-4d6b-9c3e-1a2b3c4d5e6f")
    for bad in (
        "3F2B7C9E-8A41-4D6B-9C3E-1A2B3C4D5E6F",
        "3f2b7c9e-8a41-3d6b-9c3e-1a2b3c4d5e6f",
        "3f2b7c9e-8a41-4d6b-7c3e-1a2b3c4d5e6f",
        "3f2b7c9e8a414d6b9c3e1a2b3c4d5e6f",
    ):
        assert not iso.uetr_is_valid(bad)
    assert iso.cnic_is_valid("34201-0891231-8") and iso.cnic_is_valid("4220103976408")
    for bad in ("84201-0891231-8", "3420108912318x", "342010891231"):
        assert not iso.cnic_is_valid(bad)


# --------------------------------------------------------------------------- profile fast gate


def _pacs008_variant_strategy() -> st.SearchStrategy:
    """The sample pacs.008 with profile-relevant fields drawn from valid, borderline and bad values."""
    sample = iso.decode(
        (SAMPLES_DIR / "pacs.008.001.08_raast_p2p.xml").read_bytes(), "application/xml"
    ).message
    tx = sample.tx
    ids = st.sampled_from(["E2E-1", "x" * 35, "x" * 36, " ", "\t"])
    bics = st.sampled_from([None, "HABBPKKA", "MEZNPKKA", "MEZNPKKA036", "ZZZZPKKA", "HABB1", "habbpkka"])
    names = st.sampled_from([None, "Ali Raza", " ", "n" * 140, "n" * 141])
    ibans = st.sampled_from(
        [
            None,
            tx.dbtr_acct_iban,
            tx.cdtr_acct_iban,
            "PK94MEZN0000001234567890",
            "GB82WEST12345698765432",
            "PK93MEZN000000123456789",
        ]
    )
    proxies = st.sampled_from(
        [
            (None, None),
            ("MBNO", "+923001234567"),
            ("MBNO", "03001234567"),
            ("EMAL", "a@b.pk"),
            ("ZZZZ", "1"),
            ("MBNO", None),
            (None, "+923001234567"),
        ]
    )
    ids_person = st.sampled_from(
        [(None, None), ("3520112345671", "NIDN"), ("352011234567", "NIDN"), (None, "NIDN"), ("X1", "CCPT")]
    )
    fields = st.fixed_dictionaries(
        {
            "end_to_end_id": ids,
            "tx_id": st.none() | ids,
            "instr_id": st.none() | ids,
            "uetr": st.sampled_from([None, tx.uetr, tx.uetr.upper()]),
            "amount_paisa": st.sampled_from([0, 1, 250_000, 10_000_000_00, 10_000_000_01]),
            "currency": st.sampled_from(["PKR", "USD"]),
            "intr_bk_sttlm_dt": st.sampled_from([None, tx.intr_bk_sttlm_dt]),
            "accptnc_dt_tm": st.sampled_from([None, tx.accptnc_dt_tm]),
            "chrg_br": st.sampled_from(["SLEV", "DEBT"]),
            "instg_agt_bicfi": bics,
            "instd_agt_bicfi": bics,
            "dbtr_agt_bicfi": bics,
            "cdtr_agt_bicfi": bics,
            "dbtr_nm": names,
            "cdtr_nm": names,
            "dbtr_acct_iban": ibans,
            "cdtr_acct_iban": ibans,
            "rmt_inf_ustrd": st.sampled_from([None, "r", "r" * 141]),
        }
    )
    sub_paisa = st.sampled_from([(), ("FIToFICstmrCdtTrf/CdtTrfTxInf/IntrBkSttlmAmt",)])
    group_header = st.fixed_dictionaries(
        {
            "msg_id": st.sampled_from(["M-1", "m" * 35, "m" * 36, " "]),
            "nb_of_txs": st.sampled_from(["1", "2", "01", "x"]),
            "sttlm_mtd": st.sampled_from(["CLRG", "INDA"]),
            "clr_sys_prtry": st.sampled_from(["RAAST", "OTHER", None]),
        }
    )

    def build(f, dp, cp, person, sp, keep, gh):
        # Perturb only the fields named in ``keep`` (at most three), so clean and nearly clean messages,
        # where the gate matters, are as common as badly broken ones.
        changes = {k: v for k, v in f.items() if k in keep}
        if "dbtr_acct_prxy" in keep:
            changes.update(dbtr_acct_prxy_tp_cd=dp[0], dbtr_acct_prxy_id=dp[1])
        if "cdtr_acct_prxy" in keep:
            changes.update(cdtr_acct_prxy_tp_cd=cp[0], cdtr_acct_prxy_id=cp[1])
        if "dbtr_prvt_id" in keep:
            changes.update(dbtr_prvt_id_othr_id=person[0], dbtr_prvt_id_othr_schme_nm_cd=person[1])
        return msgspec.structs.replace(
            sample,
            **{k: v for k, v in gh.items() if k in keep},
            sub_paisa_amounts=sp if "sub_paisa" in keep else (),
            cdt_trf_tx_inf=[msgspec.structs.replace(tx, **changes)],
        )

    perturbable = [
        "dbtr_acct_prxy",
        "cdtr_acct_prxy",
        "dbtr_prvt_id",
        "sub_paisa",
        "end_to_end_id",
        "tx_id",
        "instr_id",
        "uetr",
        "amount_paisa",
        "currency",
        "intr_bk_sttlm_dt",
        "accptnc_dt_tm",
        "chrg_br",
        "instg_agt_bicfi",
        "instd_agt_bicfi",
        "dbtr_agt_bicfi",
        "cdtr_agt_bicfi",
        "dbtr_nm",
        "cdtr_nm",
        "dbtr_acct_iban",
        "cdtr_acct_iban",
        "rmt_inf_ustrd",
        "msg_id",
        "nb_of_txs",
        "sttlm_mtd",
        "clr_sys_prtry",
    ]
    keep = st.sets(st.sampled_from(perturbable), min_size=1, max_size=2)
    return st.builds(build, fields, proxies, proxies, ids_person, sub_paisa, keep, group_header)


@settings(max_examples=600)  # cheap; nearly clean messages are where a gate can be wrong
@given(
    _pacs008_variant_strategy(),
    st.sampled_from(
        [
            iso.RAAST_PROFILE,
            iso.Profile(require_uetr=False, require_tx_id=False, require_names=False),
            iso.Profile(service_level="RAAST"),
        ]
    ),
    st.sampled_from([None, frozenset({"HABBPKKA", "MEZNPKKA"})]),
)
def test_pacs008_fast_gate_agrees_with_the_detailed_rules(msg, profile, known_bics):
    from rail.iso20022 import profile as profile_module

    detailed = profile_module.Checker(profile, known_bics)
    profile_module._pacs008(msg, detailed, gate=False)
    assert iso.validate(msg, profile, known_bics) == detailed.out
    if profile_module._pacs008_tx_clean(msg, msg.tx, profile, known_bics):
        assert detailed.out == [] or {v.path.split("/")[0] for v in detailed.out} == {"GrpHdr"}
    if profile_module._pacs008_clean(msg, profile, known_bics):
        assert detailed.out == []


def test_pacs008_fast_gate_passes_the_clean_sample():
    from rail.iso20022 import profile as profile_module

    sample = iso.decode(
        (SAMPLES_DIR / "pacs.008.001.08_raast_p2p.xml").read_bytes(), "application/xml"
    ).message
    assert profile_module._pacs008_tx_clean(
        sample, sample.tx, iso.RAAST_PROFILE, frozenset({"HABBPKKA", "MEZNPKKA"})
    )


def _pacs002_variant_strategy() -> st.SearchStrategy:
    """The sample pacs.002 ACSC with the fields the profile checks drawn from valid, borderline and bad values."""
    sample = iso.decode(
        (SAMPLES_DIR / "pacs.002.001.10_ACSC.xml").read_bytes(), "application/xml"
    ).message
    tx = sample.tx_inf_and_sts[0]
    ids = st.sampled_from([None, "ID-1", "x" * 35, "x" * 36, " "])
    bics = st.sampled_from([None, "HABBPKKA", "MEZNPKKA036", "ZZZZPKKA", "HABB1"])
    choices = {
        "orgnl_msg_id": ids,
        "orgnl_msg_nm_id": st.sampled_from([None, "pacs.008.001.08"]),
        "orgnl_instr_id": ids,
        "orgnl_end_to_end_id": ids,
        "orgnl_tx_id": ids,
        "orgnl_uetr": st.sampled_from([None, tx.orgnl_uetr, (tx.orgnl_uetr or "").upper()]),
        "tx_sts": st.sampled_from(["ACSP", "ACSC", "RJCT", "ACWP", "XXXX"]),
        "sts_rsn_cd": st.sampled_from([None, "AC04", "ZZ99"]),
        "sts_rsn_prtry": st.sampled_from([None, "LOCAL1"]),
        "sts_rsn_addtl_inf": st.sampled_from([None, "why", "w" * 105, "w" * 106, " "]),
        "instg_agt_bicfi": bics,
        "instd_agt_bicfi": bics,
    }
    fields = st.fixed_dictionaries(choices)
    header = st.fixed_dictionaries({"msg_id": ids.filter(lambda v: v is not None), "instg_agt_bicfi": bics})

    def build(f, h, keep, extra_tx):
        changes = {k: v for k, v in f.items() if k in keep}
        tx_changed = msgspec.structs.replace(tx, **changes)
        return msgspec.structs.replace(
            sample,
            **{k: v for k, v in h.items() if k in keep},
            tx_inf_and_sts=[tx_changed] * extra_tx,
        )

    keep = st.sets(st.sampled_from(sorted({*choices, "msg_id"})), min_size=1, max_size=2)
    return st.builds(build, fields, header, keep, st.sampled_from([1, 1, 1, 0, 2]))


@settings(max_examples=1000)  # cheap (~1 ms an example); nearly clean messages are where a gate can be wrong
@given(
    _pacs002_variant_strategy(),
    st.sampled_from([iso.RAAST_PROFILE, iso.Profile(require_uetr=False)]),
    st.sampled_from([None, frozenset({"HABBPKKA", "MEZNPKKA"})]),
)
def test_pacs002_fast_gate_agrees_with_the_detailed_rules(msg, profile, known_bics):
    from rail.iso20022 import profile as profile_module

    detailed = profile_module.Checker(profile, known_bics)
    profile_module._pacs002(msg, detailed)
    assert iso.validate(msg, profile, known_bics) == detailed.out
    if profile_module._pacs002_clean(msg, profile, known_bics):
        assert detailed.out == []


def test_pacs002_fast_gate_passes_the_clean_samples():
    from rail.iso20022 import profile as profile_module

    for name in ("pacs.002.001.10_ACSC.xml", "pacs.002.001.10_RJCT_AC03.xml"):
        sample = iso.decode((SAMPLES_DIR / name).read_bytes(), "application/xml").message
        assert profile_module._pacs002_clean(sample, iso.RAAST_PROFILE, None), name


def _parse_or_error(parse, text: str):
    try:
        return parse(text)
    except ValueError as exc:
        return ("error", str(exc))


@given(
    st.one_of(
        st.builds(lambda units, cents: f"{units}.{cents:02d}", st.integers(0, 10**19), st.integers(0, 99)),
        st.from_regex(r"\A[ 0-9０-９²+\-]{0,20}\.?[0-9٠-٩]{0,6} ?\Z", fullmatch=True),
        st.text(max_size=24),
    )
)
def test_amount_shortcut_agrees_with_the_general_parser(text):
    from rail.iso20022 import _values

    assert _parse_or_error(_values.parse_amount, text) == _parse_or_error(_values.parse_amount_general, text)


@given(
    st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=5)), iso._values.PKT])),
    st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=5)), dt.timezone(dt.timedelta(hours=-3))]),
)
def test_remembered_datetime_renderings_match_isoformat(value, other_zone):
    from rail.iso20022 import _values

    same_instant = value.astimezone(other_zone)  # equal (and equally hashed) to value, rendered differently
    for moment in (value, same_instant, value, same_instant):
        spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
        assert _values.format_datetime(moment) == moment.isoformat(timespec=spec)
