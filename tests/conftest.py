"""Shared test settings.

Everything the tests read is inside the repository (a clone runs them as it is): the official XSDs ship with
the product (rail/iso20022/xsd/), samples and code sets are in tests/data/iso20022/ (with their sources).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
XSD_DIR = REPO / "rail" / "iso20022" / "xsd"
ISO_DATA = REPO / "tests" / "data" / "iso20022"
SAMPLES_DIR = ISO_DATA / "samples"

# CI runs on 2 shared cores: keep property tests meaningful but bounded. HYPOTHESIS_PROFILE=thorough for more.
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
async def bench(tmp_path):
    """The workbench tests' rail (tests/workbench.py): simulated banks, two external participants, a client."""
    from workbench import Workbench

    bench = await Workbench.open(tmp_path / "data")
    try:
        yield bench
    finally:
        await bench.close()
