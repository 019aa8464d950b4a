"""docs/certify.md works as written, and so does `rail certify` as a bank runs it: real processes (`rail
serve`, `rail bank`, `rail certify`), a restart command that SIGKILLs the bank and starts it again, the sender
hook over HTTP. The doc's ```sh blocks run in one bash session against a real `rail serve` (its own console
line, on a port the OS picks); each `# expect: TEXT` must appear in its block's output. Then the evidence
pack the walk-through wrote is checked file by file, and the doc's list of cases against the case files."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from conftest import REPO
from test_sandbox_doc import BLOCK_MARK, fenced_blocks

from rail.certify.suite import load_suite, markdown

DOC = REPO / "docs" / "certify.md"
HOOK_PORT_IN_DOC = "9000"


def _doc_admin_and_serve(text: str) -> tuple[str, list[str]]:
    lines = [line[2:] for block in fenced_blocks(text, "console") for line in block.splitlines()
             if line.startswith("$ ")]
    admin = next(line.split("=", 1)[1] for line in lines if line.startswith("export ADMIN="))
    serve = next(shlex.split(line) for line in lines if line.startswith("rail serve "))
    return admin, serve


def _free_port() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def test_the_doc_lists_exactly_the_shipped_cases():
    text = DOC.read_text()
    generated = text.split("<!-- cases:begin -->\n", 1)[1].split("<!-- cases:end -->", 1)[0]
    assert generated == markdown(load_suite()), "regenerate it: rail certify --list-cases --markdown"


def test_the_walk_through_certifies_the_simulated_bank_and_shows_a_failing_one(tmp_path: Path):
    text = DOC.read_text()
    admin, serve_argv = _doc_admin_and_serve(text)
    env = {**os.environ, "ADMIN": admin, "PYTHONUNBUFFERED": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for name in ("RAIL_ADMIN_TOKEN", "RAIL_PARTICIPANT_TOKEN"):
        env.pop(name, None)
    argv = [admin if a == "$ADMIN" else a for a in serve_argv] + ["--port", "0"]
    serve = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = serve.stdout.readline()
        assert "listening on http://127.0.0.1:" in first, first + serve.stderr.read()
        env["RAIL"] = first.split("listening on ")[1].split()[0]
        hook_port = _free_port()
        blocks = [b.replace(HOOK_PORT_IN_DOC, hook_port) for b in fenced_blocks(text, "sh")]
        script = "set -euo pipefail\n" + "\n".join(
            f"echo; echo '{BLOCK_MARK.format(i)}'\n{block}" for i, block in enumerate(blocks))
        proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        outputs = re.split(r"^@@ block (\d+) @@$", proc.stdout, flags=re.MULTILINE)
        ran = {int(outputs[i]): outputs[i + 1] for i in range(1, len(outputs), 2)}
        logs = "".join(f"\n{p.name}: {p.read_text()[-1500:]}" for p in tmp_path.glob("*.log"))
        assert proc.returncode == 0, f"stdout: {proc.stdout[-4000:]}\nstderr: {proc.stderr[-3000:]}{logs}"
        assert sorted(ran) == list(range(len(blocks)))
        for i, block in enumerate(blocks):
            for expected in re.findall(r"^# expect: (.+)$", block, flags=re.MULTILINE):
                assert expected in ran[i], f"block {i}: expected {expected!r} in:\n{ran[i][-3000:]}"
    finally:
        pid_file = tmp_path / "bank.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=30)
    _check_pack(tmp_path / "certify-pack")
    failures = ElementTree.parse(tmp_path / "failing-pack" / "junit.xml").getroot().findall(".//failure")
    assert len(failures) == 1 and "expected RJCT AC01" in failures[0].get("message")


def _check_pack(out: Path) -> None:
    manifest = (out / "SHA256SUMS").read_text().splitlines()
    for line in manifest:  # as `sha256sum -c` reads it
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    names = {line.split("  ", 1)[1] for line in manifest}
    assert {"report.html", "junit.xml", "results.json"} <= names
    assert any(n.startswith("messages/R01-answers-in-time/") and n.endswith("pacs.008.001.08.xml") for n in names)
    suites = ElementTree.parse(out / "junit.xml").getroot()
    assert sum(int(s.get("failures")) for s in suites) == 0
    assert sum(int(s.get("tests")) for s in suites) == len(load_suite().cases)
    assert sum(int(s.get("skipped")) for s in suites) == 1  # X02: no webhook declared
    results = json.loads((out / "results.json").read_text())
    assert results["passed"] is True and {r["outcome"] for r in results["results"]} == {"passed", "not applicable"}
    restart = next(r for r in results["results"] if r["id"] == "R08")
    assert restart["outcome"] == "passed" and restart["timings"]["restart_s"] > 0
    report = (out / "report.html").read_text()
    assert "READY: every required case passed" in report and "&lt;FIToFICstmrCdtTrf&gt;" in report
