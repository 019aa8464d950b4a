"""docs/simulate.md works as written: its shell blocks run, in order, in one bash session, in a temporary
directory, and each `# expect: TEXT` line appears in its block's output."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import REPO
from test_sandbox_doc import fenced_blocks, run_blocks

DOC = REPO / "docs" / "simulate.md"


def test_the_doc_shows_simulate_replay_a_tampered_run_and_the_sweep():
    blocks = fenced_blocks(DOC.read_text(), "sh")
    text = "\n".join(blocks)
    for phrase in ("rail simulate", "rail replay", "--sweep", "--from", "replay refused it"):
        assert phrase in text, phrase
    assert sum(block.count("# expect:") for block in blocks) >= 8


@pytest.mark.slow
def test_every_shell_block_of_the_doc_works(tmp_path: Path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run_blocks(fenced_blocks(DOC.read_text(), "sh"), tmp_path, env, timeout_s=300)
