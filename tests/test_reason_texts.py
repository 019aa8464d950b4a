"""Every reason text the rail can put in an AddtlInf (Max105Text) fits whole: shortened at its source, never
cut mid-phrase on the way out.

Two sources: the RAAST profile's violations (reached by breaking every field of an example of every message,
one at a time, with wrong, blank, overlong and missing values) and the rail's own rejections in rail/settlement/payments.py,
rail/api/service.py and rail/settlement/directory.py (read from the source: each literal or f-string given as a reason text,
its placeholders counted at 36 characters, the longest identifier the rail repeats: a UETR).
"""

from __future__ import annotations

import ast

import msgspec
from conftest import REPO
from test_examples import EXAMPLES_DIR, KNOWN_BICS

from rail import iso20022 as iso
from rail.iso20022.profile import ADDTL_INF_MAX, reason_text

BAD_TEXTS = [None, "", " ", "X" * 5000, "ZZZZ", "pk00", "+92", "NOPEPKKA", "PK00MEZN0000000000000001" * 3]
BAD_NUMBERS = [0, -1, 10**17]
BLOCKS = ("cdt_trf_tx_inf", "tx_inf", "tx_inf_and_sts", "pmt_inf", "vrfctn", "orgnl_pmt_inf_and_sts", "rpt")
PLACEHOLDER_CHARS = 36


def _broken_values(struct):
    for field in msgspec.structs.fields(struct):
        kind = repr(field.type)
        current = getattr(struct, field.name)
        values = []
        if kind.startswith("list["):
            values += [[], list(current) * 2] if current else []
        elif "str" in kind:
            values += [v for v in BAD_TEXTS if v is not None or "None" in kind]
        elif "int" in kind:
            values += BAD_NUMBERS + ([None] if "None" in kind else [])
        for value in values:
            yield field.name, value


def _broken_messages(message):
    for name, value in _broken_values(message):
        yield msgspec.structs.replace(message, **{name: value})
    for block_name in BLOCKS:
        blocks = getattr(message, block_name, None)
        if blocks:
            for name, value in _broken_values(blocks[0]):
                yield msgspec.structs.replace(message, **{block_name: [msgspec.structs.replace(blocks[0], **{name: value})]})


def test_every_profile_violation_text_fits_in_addtl_inf():
    seen = 0
    for path in sorted(EXAMPLES_DIR.glob("*.xml")):
        for broken in _broken_messages(iso.decode(path.read_bytes(), None).message):
            violations = iso.validate(broken, iso.RAAST_PROFILE, KNOWN_BICS)
            if not violations:
                continue
            for one in violations:
                text = reason_text([one])
                assert len(text) <= ADDTL_INF_MAX, (path.name, len(text), text)
                assert one.path in text
                seen += 1
            assert len(reason_text(violations)) <= ADDTL_INF_MAX
    assert seen > 500  # the breaking reached the profile's rules, not only a few of them


def _worst_case_length(node: ast.expr) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return len(node.value)
    if isinstance(node, ast.JoinedStr):
        return sum(len(v.value) if isinstance(v, ast.Constant) else PLACEHOLDER_CHARS for v in node.values)
    return None  # a variable: its value is one of the texts checked here, or the sender's own (<= 105 by XSD)


def _reason_texts(tree: ast.AST):
    """(line, node) of every expression given as a reason text."""
    positional = {"_reject": 6, "_reject_early": 2, "_finalise": 3, "DirectoryError": 1}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for keyword in node.keywords:
                if keyword.arg in ("text", "addtl_inf", "reason_text"):
                    yield node.lineno, keyword.value
            at = positional.get(name)
            if at is not None and len(node.args) > at:
                yield node.lineno, node.args[at]
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "text" for t in node.targets):
            yield node.lineno, node.value


def test_every_reason_text_of_the_rail_itself_fits_in_addtl_inf():
    checked = 0
    for name in (
        "settlement/payments.py", "settlement/relays.py", "api/dispatch.py", "api/accounts.py", "settlement/directory.py"
    ):
        tree = ast.parse((REPO / "rail" / name).read_text())
        for line, node in _reason_texts(tree):
            length = _worst_case_length(node)
            if length is not None:
                assert length <= ADDTL_INF_MAX, f"rail/{name}:{line}: up to {length} characters"
                checked += 1
    assert checked > 30


def test_a_long_list_of_violations_drops_the_count_rather_than_cut_the_sentence():
    long = iso.Violation("FF01", "A/B", "A/B " + "x" * 99)
    assert reason_text([long, long]) == long.text
    short = iso.Violation("FF01", "A/B", "A/B is missing")
    assert reason_text([short, short, short]) == "A/B is missing (+2 more)"
