"""`rail load` as a user meets it: bad targets give one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

RAIL = [sys.executable, "-m", "rail"]


def rail_load(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("RAIL_ADMIN_TOKEN", None) if env is None else None
    return subprocess.run([*RAIL, "load", *args], capture_output=True, text=True, timeout=timeout, env=full_env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_clear_failure(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_down_target_is_one_clear_line_and_exit_2():
    port = free_port()
    proc = rail_load("--target", f"http://127.0.0.1:{port}", "--rate", "10", "--duration", "1",
                     "--admin-token", "x")
    assert_clear_failure(proc, f"127.0.0.1:{port}", "cannot reach")


def test_malformed_target_url_is_a_clear_error():
    proc = rail_load("--target", "not a url", "--rate", "10", "--duration", "1", "--admin-token", "x")
    assert_clear_failure(proc, "not a url")


class _NotARail(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        body = b"<html>hello</html>"
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        return


def test_a_target_that_is_not_a_rail_is_a_clear_error():
    server = HTTPServer(("127.0.0.1", 0), _NotARail)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        proc = rail_load("--target", url, "--rate", "10", "--duration", "1", "--admin-token", "x")
        assert_clear_failure(proc, "is it a rail")
    finally:
        server.shutdown()


def test_missing_admin_token_is_a_clear_error():
    proc = rail_load("--target", "http://127.0.0.1:9", "--rate", "10", "--duration", "1")
    assert_clear_failure(proc, "admin token")


def test_unknown_scenario_is_a_clear_error():
    proc = rail_load("--target", "http://127.0.0.1:9", "--rate", "10", "--duration", "1", "--admin-token", "x",
                     "--scenario", "no_such_scenario")
    assert_clear_failure(proc, "scenario not found: no_such_scenario", "eid_peak")


@pytest.mark.parametrize("name", ["default", "eid_peak", "month_end"])
def test_shipped_scenarios_load(name):
    from participants.harness import load_scenario

    scenario = load_scenario(name)
    assert scenario.name == name and scenario.load.name == name
    json.dumps(scenario.load.mix)
