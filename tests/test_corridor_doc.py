"""docs/corridor.md works as written: its shell blocks run, in order, in one bash session in an empty
directory; each `# expect: TEXT` line must appear in its block's output. Its scenario example loads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from analytics.corridor.scenario import load_scenario

DOC = REPO / "docs" / "corridor.md"
BLOCK_MARK = "@@ block {} @@"


def fenced_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def test_the_scenario_example_is_a_valid_scenario(tmp_path):
    (example,) = fenced_blocks(DOC.read_text(), "toml")
    path = tmp_path / "example.toml"
    path.write_text(example)
    scenario = load_scenario(path)
    assert scenario.name == "my-week" and scenario.foreign_leg_failure_pct == 0.5


@pytest.mark.slow
def test_every_shell_block_runs_as_written(tmp_path: Path):
    blocks = fenced_blocks(DOC.read_text(), "sh")
    assert len(blocks) >= 3 and sum(b.count("# expect:") for b in blocks) >= 5
    script = "set -euo pipefail\n" + "\n".join(f"echo; echo '{BLOCK_MARK.format(i)}'\n{b}" for i, b in enumerate(blocks))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.run(["bash", "-c", script], check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    outputs = re.split(r"^@@ block (\d+) @@$", proc.stdout, flags=re.MULTILINE)
    ran = {int(outputs[i]): outputs[i + 1] for i in range(1, len(outputs), 2)}
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}"
    assert sorted(ran) == list(range(len(blocks)))
    for i, block in enumerate(blocks):
        for expected in re.findall(r"^# expect: (.+)$", block, flags=re.MULTILINE):
            assert expected in ran[i], f"block {i}: expected {expected!r} in:\n{ran[i][-3000:]}"
