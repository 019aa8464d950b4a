"""docs/examples/ can never rot: current with the builders, decodable, profile-clean and XSD-valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO
from test_iso_codec import assert_xsd_valid

from rail import iso20022 as iso
from rail.app.examples import EXAMPLES, write_examples
from rail.scheme import default_scheme

EXAMPLES_DIR = REPO / "docs" / "examples"
FILES = sorted(p for p in EXAMPLES_DIR.iterdir() if p.suffix in (".xml", ".json"))
KNOWN_BICS = {b.bic for b in default_scheme().banks} | {default_scheme().central_bank_bic}


def test_the_committed_examples_are_what_the_generator_writes(tmp_path: Path):
    written = write_examples(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in EXAMPLES_DIR.iterdir())
    for path in written:
        assert path.read_bytes() == (EXAMPLES_DIR / path.name).read_bytes(), (
            f"{path.name} is stale: run python3 -m rail.app.examples docs/examples"
        )


def test_every_message_a_participant_sends_has_an_example_in_both_renderings():
    kinds = set()
    for path in FILES:
        decoded = iso.decode(path.read_bytes(), None)
        kinds.add((decoded.msg_type, decoded.rendering, decoded.header is not None))
    for msg_type in ("pacs.008", "pacs.002", "pacs.004", "pacs.028", "camt.056", "camt.029", "acmt.023",
                     "pain.013", "pain.014"):
        for rendering in ("xml", "json"):
            assert any(k[0].startswith(msg_type) and k[1] == rendering for k in kinds), (msg_type, rendering)
    assert ("pacs.008.001.08", "xml", True) in kinds and ("pacs.008.001.08", "json", True) in kinds
    statuses = {iso.decode(p.read_bytes(), None).message.tx.tx_sts for p in FILES if "creditor_" in p.name}
    assert statuses == {"ACSP", "RJCT"}
    assert len(FILES) == 2 * len(EXAMPLES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_example_decodes_passes_the_profile_and_is_xsd_valid(path: Path):
    decoded = iso.decode(path.read_bytes(), None)
    assert decoded.rendering == path.suffix[1:]
    assert iso.validate(decoded.message, iso.RAAST_PROFILE, KNOWN_BICS) == []
    if decoded.rendering == "xml":
        assert_xsd_valid(path.read_bytes(), decoded.msg_type)
    # Addressed to the default scheme: every agent named is one of its banks.
    tx = decoded.message.tx
    for field in ("dbtr_agt_bicfi", "cdtr_agt_bicfi", "instg_agt_bicfi", "instd_agt_bicfi"):
        assert getattr(tx, field, None) in (None, *KNOWN_BICS), field
