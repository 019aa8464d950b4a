"""The OpenAPI document is complete enough to build a client from: valid, every operation named, every error
status of every route documented with a typed body, XML bodies described, and a common generator
(openapi-python-client) makes a client that imports and talks to a real rail."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from rail.api.routes import ROUTES, openapi_document

PARTICIPANT_ERRORS = {"401", "429", "500"}
JSON_BODY_ERRORS = {"400", "413"}


def test_the_document_is_valid_openapi_with_servers_and_an_operation_id_everywhere():
    document = openapi_document()
    validate(document)
    assert document["servers"]
    operations = [op for path in document["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)) == len(ROUTES) == 27


def test_every_route_documents_its_errors_with_a_typed_body():
    document = openapi_document()
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            statuses = set(op["responses"])
            assert "500" in statuses, (path, method)
            if op.get("security") == [{"participantToken": []}]:
                assert PARTICIPANT_ERRORS <= statuses, (path, method)
            if op.get("security") == [{"adminToken": []}]:
                assert "401" in statuses, (path, method)
            body = op.get("requestBody", {}).get("content", {})
            if "application/json" in body and "application/xml" not in body:
                assert JSON_BODY_ERRORS <= statuses, (path, method)
            for status, answer in op["responses"].items():
                content = answer.get("content")
                assert content, (path, method, status)
                for media in content.values():
                    assert "schema" in media, (path, method, status)
    schemas = document["components"]["schemas"]
    for name in ("Payment", "Balances", "OwnBalance", "InboxPage", "Error", "AckResult"):
        assert name in schemas
    get = document["paths"]
    assert get["/v1/payments/{uetr}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Payment"}
    assert "rendering" in schemas["InboxPage"]["properties"]


def test_xml_request_bodies_are_described_with_an_example_the_rail_accepts():
    from rail import iso20022 as iso

    body = openapi_document()["paths"]["/v1/messages"]["post"]["requestBody"]["content"]
    xml = body["application/xml"]
    assert xml["schema"]["type"] == "string" and "head.001" in xml["schema"]["description"]
    assert iso.decode(xml["example"].encode(), "application/xml").msg_type == "pacs.008.001.08"
    assert iso.decode(json.dumps(body["application/json"]["example"]).encode(), "application/json").msg_type


@pytest.mark.slow
def test_a_generated_client_imports_and_talks_to_a_real_rail(tmp_path: Path):
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(openapi_document()))
    (tmp_path / "config.yaml").write_text("post_hooks: []\npackage_name_override: rail_client\n")
    generator = Path(sys.executable).with_name("openapi-python-client")
    generated = subprocess.run(
        [str(generator), "generate", "--path", str(spec), "--config", "config.yaml", "--meta", "none",
         "--output-path", "rail_client"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    for route in ROUTES:  # one module per operation: nothing was skipped
        module = "".join(f"_{c.lower()}" if c.isupper() else c for c in route.operation.operation_id)
        assert (tmp_path / "rail_client" / "api" / "default" / f"{module}.py").exists(), module
    serve = subprocess.Popen([sys.executable, "-m", "rail", "serve", "--port", "0", "--data", "data",
                              "--admin-token", "adm1n"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        url = serve.stdout.readline().split("listening on ")[1].split()[0]
        script = textwrap.dedent(f"""
            from rail_client import AuthenticatedClient
            from rail_client.api.default import add_participant, get_health, get_own_balance
            from rail_client.models import NewParticipant

            admin = AuthenticatedClient(base_url="{url}", token="adm1n")
            assert get_health.sync(client=admin).ok
            issued = add_participant.sync(client=admin, body=NewParticipant(bic="TESTPKKA", name="Test Bank"))
            bank = AuthenticatedClient(base_url="{url}", token=issued.token)
            balance = get_own_balance.sync(client=bank)
            print(balance.bic, balance.posted_paisa)
        """)
        ran = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                             timeout=60, env={**os.environ, "PYTHONPATH": str(tmp_path)})
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.split() == ["TESTPKKA", "0"]
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=30)
