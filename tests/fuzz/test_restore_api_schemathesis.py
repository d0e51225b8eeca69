"""schemathesis against `openapi.yaml`: requests generated from the spec (valid and invalid ones) sent to the
restore API's Lambda in-process through an API Gateway emulation (gateway.py, as a WSGI application).

Every answer must conform to the spec (status documented, JSON content type, body schema, headers), no
answer may be a 5xx, invalid requests must be rejected, and a 202 must be one the contract allows
(oracle.py): schemathesis knows the schema, not the AWS world behind it.
"""

from __future__ import annotations

import json
from pathlib import Path

import schemathesis
from gateway import API_KEY
from hypothesis import HealthCheck, settings
from oracle import allowed_statuses
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"
EXAMPLES_PER_OPERATION = 600

schema = schemathesis.openapi.from_path(OPENAPI)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=EXAMPLES_PER_OPERATION,
    deterministic=True,
    database="none",
)


def _check(name: str):
    return next(check for check in CHECKS.get_all() if check.__name__ == name)


EXCLUDED = [
    # API Gateway, not the Lambda, answers methods the API does not have (403 "Missing Authentication
    # Token", as gateway.py does); the spec documents no 405.
    _check("unsupported_method"),
    # A schema-valid body may rightly be refused: allowlists, conditional fields and the AWS pre-checks are
    # beyond what draft 4 can say. The contract oracle judges those answers instead (below).
    _check("positive_data_acceptance"),
    # Re-sent "without" auth, the case still carries the key this test adds to every call, so a 200 (GET
    # /recovery-points answers 200 with an empty list for any well-formed name) looks like ignored auth.
    # The key check itself is the gateway's and has its own tests (tests/local/test_local_gateway.py).
    _check("ignored_auth"),
]


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_conforms_to_its_openapi_document(case, fuzz_world, gateway):
    world, facts = fuzz_world
    before = len(world.lambda_client.invocations)

    # The spec's x-api-key header is any string to schemathesis: where the case sends one, it is the world's
    # key; a negative case that leaves the header out goes without (the gateway refuses it, as API Gateway
    # does). Adding the key to such a case made it a valid request that schemathesis still counted as
    # invalid: "Schema-violating request accepted" for GET /recovery-points.
    sends_key = any(name.lower() == "x-api-key" for name in (case.headers or {}))
    response = case.call(app=gateway.as_wsgi(), headers={"x-api-key": API_KEY} if sends_key else None)

    case.validate_response(response, excluded_checks=EXCLUDED)
    assert response.status_code < 500, response.text
    if case.method.upper() == "POST":
        body = case.body
        if response.status_code == 202:
            assert 202 in allowed_statuses(body, facts), f"accepted what the contract forbids: {body!r}"
            assert len(world.lambda_client.invocations) == before + 1
        else:
            assert len(world.lambda_client.invocations) == before, "a rejected request started a worker"
    json.loads(response.text)  # always a JSON body
