"""Shared test settings.

The reference pack (XSDs, samples, code sets) sits beside the repository as ../shared; tests may read it,
the product never does.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# CI runs on 2 shared cores: keep property tests meaningful but bounded. HYPOTHESIS_PROFILE=thorough for more.
settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
