"""docs/sandbox.md works as written: its shell blocks run, in order, against a real `rail serve`.

The doc's ```console blocks show how a reader starts the rail and sets $RAIL and $ADMIN; this test starts the
same `rail serve` command line (on a port the OS picks, in a temporary directory) and sets those variables.
Every ```sh block then runs in one bash session (variables carry from block to block, as in one terminal),
with `set -euo pipefail`; each `# expect: TEXT` line must appear in its block's output.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

DOC = REPO / "docs" / "sandbox.md"
BLOCK_MARK = "@@ block {} @@"


def fenced_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def run_blocks(blocks: list[str], cwd: Path, env: dict[str, str], timeout_s: float) -> None:
    """Run a doc's shell blocks in one bash session (`set -euo pipefail`; stderr with stdout) and check each
    block's `# expect: TEXT` lines against its own output."""
    script = "set -euo pipefail\n" + "\n".join(
        f"echo; echo '{BLOCK_MARK.format(i)}'\n{block}" for i, block in enumerate(blocks)
    )
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout_s)
    outputs = re.split(r"^@@ block (\d+) @@$", proc.stdout, flags=re.MULTILINE)
    ran = {int(outputs[i]): outputs[i + 1] for i in range(1, len(outputs), 2)}
    last = max(ran) if ran else None
    assert proc.returncode == 0, (
        f"block {last} failed (exit {proc.returncode}):\n{blocks[last] if last is not None else ''}\n"
        f"output: {proc.stdout[-4000:]}"
    )
    assert sorted(ran) == list(range(len(blocks)))
    for i, block in enumerate(blocks):
        for expected in re.findall(r"^# expect: (.+)$", block, flags=re.MULTILINE):
            assert expected in ran[i], f"block {i}: expected {expected!r} in:\n{ran[i][-3000:]}"


def serve_command(text: str) -> list[str]:
    """The doc's `$ rail serve ...` line, as argv."""
    for block in fenced_blocks(text, "console"):
        for line in block.splitlines():
            if line.startswith("$ rail serve "):
                return shlex.split(line[2:])
    raise AssertionError("docs/sandbox.md shows no `$ rail serve` command")


def doc_variables(text: str) -> dict[str, str]:
    """The doc's `$ export A=... B=...` line."""
    for block in fenced_blocks(text, "console"):
        for line in block.splitlines():
            if line.startswith("$ export "):
                return dict(item.split("=", 1) for item in shlex.split(line[len("$ export "):]))
    raise AssertionError("docs/sandbox.md shows no `$ export` line setting RAIL and ADMIN")


def test_the_doc_has_a_walk_through_with_expectations():
    text = DOC.read_text()
    blocks = fenced_blocks(text, "sh")
    assert len(blocks) >= 8
    assert sum(block.count("# expect:") for block in blocks) >= 12
    assert set(doc_variables(text)) == {"RAIL", "ADMIN"}
    for phrase in ("30 s", "`rendering`", "rm -rf ./rail-data", "python3"):
        assert phrase in text, phrase
    assert "python -c" not in text and "@pacs008.xml" in text


@pytest.mark.slow
def test_every_shell_block_of_the_walk_through_works_against_a_real_rail(tmp_path: Path):
    text = DOC.read_text()
    variables = doc_variables(text)
    argv = serve_command(text)
    assert argv[:2] == ["rail", "serve"]
    argv = [os.path.expandvars(a) if a != '"$ADMIN"' else a for a in argv]
    env = {**os.environ, **variables, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAIL_ADMIN_TOKEN", None)
    # The doc's own command line, on a port the OS picks: `--port 8080` -> `--port 0`.
    port_at = argv.index("--port") + 1
    argv[port_at] = "0"
    serve = subprocess.Popen(
        ["bash", "-c", " ".join(shlex.quote(a) if "$" not in a else a for a in argv)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = serve.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, first + serve.stderr.read()
        env["RAIL"] = first.split("listening on ")[1].split()[0]
        run_blocks(fenced_blocks(text, "sh"), tmp_path, env, timeout_s=240)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=30)
