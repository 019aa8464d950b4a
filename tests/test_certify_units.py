"""The pieces of `rail certify` around the cases: the sender hook as a command, the declaration's checks, the
CLI's refusals (exit 2, with a message saying what to give), and a verdict counting only required cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from rail.certify.declaration import read_declaration
from rail.certify.evidence import junit_xml
from rail.certify.hooks import HookFailed, SenderHook
from rail.certify.runner import CaseResult, Certification, Outcome

GOOD = """
[accounts]
accept = "PK97TEST0001000000005000"
invalid = "PK46TEST0001000000000001"
closed = "PK62TEST0001000000000004"
blocked = "PK08TEST0001000000000006"
"""


async def test_a_sender_hook_command_reads_the_instruction_and_answers_a_report(tmp_path):
    script = tmp_path / "hook.py"
    script.write_text("import json, sys\ni = json.load(sys.stdin)\n"
                      "print(json.dumps({'uetr': i['uetr'], 'exchanges': [{'message': i['action'], 'status': 202}]}))")
    report = await SenderHook(f"{sys.executable} {script}").instruct({"action": "pay", "uetr": "u-1"})
    assert report.uetr == "u-1" and report.exchanges[0].message == "pay" and report.exchanges[0].status == 202
    with pytest.raises(HookFailed, match="exited 3"):
        await SenderHook(f"{sys.executable} -c 'import sys; sys.exit(3)'").instruct({})
    with pytest.raises(HookFailed, match="not JSON"):
        await SenderHook("echo hello").instruct({})
    with pytest.raises(HookFailed, match="took longer"):
        await SenderHook("sleep 5", timeout_s=0.2).instruct({})


def test_a_declaration_names_what_is_wrong(tmp_path):
    path = tmp_path / "accounts.toml"
    path.write_text(GOOD)
    assert read_declaration(path).accounts.closed.endswith("0004")
    path.write_text(GOOD.replace("PK62TEST0001000000000004", "PK00TEST0001000000000004"))
    with pytest.raises(ValueError, match="closed = 'PK00TEST0001000000000004' is not a valid Pakistani IBAN"):
        read_declaration(path)
    path.write_text(GOOD.replace("blocked", "frozen"))
    with pytest.raises(ValueError, match="frozen"):
        read_declaration(path)
    json_path = tmp_path / "accounts.json"
    json_path.write_text(json.dumps({"accounts": {k: v for k, v in (
        ("accept", "PK97TEST0001000000005000"), ("invalid", "PK97TEST0001000000005000"),
        ("closed", "PK62TEST0001000000000004"), ("blocked", "PK08TEST0001000000000006"))}}))
    with pytest.raises(ValueError, match="different IBAN"):
        read_declaration(json_path)


@pytest.mark.parametrize(("extra", "message"), [
    ([], "give --admin-token"),
    (["--admin-token", "A", "--param", "R09.speed=3"], "no such parameter"),
    (["--admin-token", "A", "--cases", "R99"], "no such case: R99"),
    (["--admin-token", "A"], "cannot use the rail at http://127.0.0.1:9"),
])
def test_the_cli_refuses_what_it_cannot_run_with_exit_code_2(tmp_path, extra, message):
    path = tmp_path / "accounts.toml"
    path.write_text(GOOD)
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "rail", "certify", "--target", "http://127.0.0.1:9",
                           "--participant", "TESTPKKA", "--accounts", str(path), "--out", str(tmp_path / "p"),
                           *extra], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "p").exists()


def _result(case_id: str, required: bool, outcome: Outcome) -> CaseResult:
    return CaseResult(id=case_id, slug="x", role="receiver", title="t", requirement="mandatory", condition=None,
                      required=required, outcome=outcome, reason="why", details=[], seconds=0.1, timings={},
                      iso_basis="", rule="", messages=[])


def test_only_required_cases_decide_the_verdict_and_junit_says_which_failed():
    results = [_result("R01", True, Outcome.PASSED), _result("R07", False, Outcome.NOT_APPLICABLE)]
    run = Certification("1.0.0", "http://rail", "TESTPKKA", "XMNRPKKA", "2026-01-01T00:00:00+00:00", 1.0, results)
    assert run.passed
    not_run = msgspec.structs.replace(run, results=[*results, _result("S01", True, Outcome.NOT_RUN)])
    assert not not_run.passed
    xml = junit_xml(not_run).decode()
    assert 'failures="1"' in xml and 'skipped="1"' in xml and 'message="not run: why"' in xml
    stopped = msgspec.structs.replace(run, interrupted=True)  # Ctrl-C: what ran is kept, never as a pass
    assert not stopped.passed and "interrupted before every selected case ran" in junit_xml(stopped).decode()


async def test_a_webhook_that_takes_an_unsigned_push_fails_x02_and_one_that_refuses_it_passes():
    """X02 applies to a participant declaring a webhook: it forges a push (unsigned, wrongly signed, replayed)
    and reads the answers; one that checks the rail's signature refuses all three."""
    import itertools

    from aiohttp import web
    from test_participants_fakes import serve

    from rail.certify.checks_security import refuses_unsigned_webhook
    from rail.certify.context import CaseFailed, Context, Options
    from rail.certify.declaration import Declaration, Features
    from rail.certify.examiner import Examiner

    received: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        refused = request.path == "/refuses" or (request.path == "/checks_presence" and not request.headers.get(
            "Rail-Signature"))
        return web.Response(status=401 if refused else 204)

    app = web.Application()
    app.router.add_post("/refuses", hook)
    app.router.add_post("/takes", hook)
    app.router.add_post("/checks_presence", hook)  # a header is there, but nobody checks it
    runner, url = await serve(app)
    declaration = read_declaration_text(GOOD)
    try:
        for path, passes in (("/refuses", True), ("/takes", False), ("/checks_presence", False)):
            features = Features(webhook_url=url + path)
            ctx = Context(examiner=Examiner("http://127.0.0.1:9", "admin"), participant="TESTPKKA", token=None,
                          declaration=msgspec.structs.replace(declaration, features=features), options=Options(),
                          params={}, restart=None, sender_hook=None, accounts=itertools.count(), earlier=[])
            if passes:
                await refuses_unsigned_webhook(ctx)
            else:
                with pytest.raises(CaseFailed, match="HTTP 204, not 401/403"):
                    await refuses_unsigned_webhook(ctx)
    finally:
        await runner.cleanup()
    assert len(received) == 3 + 1 + 2 and received[0]["messages"][0]["msg_type"] == "pacs.008.001.08"
    assert isinstance(declaration, Declaration)


def read_declaration_text(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "accounts.toml"
        path.write_text(text)
        return read_declaration(path)
