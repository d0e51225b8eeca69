"""API Gateway's request validation at the edge, as openapi.yaml configures it.

With `x-amazon-apigateway-request-validator(s)`, API Gateway checks, before the Lambda runs, the
required parameters and the JSON body against the method's model (JSON Schema draft 4), and answers
`BAD_REQUEST_PARAMETERS` / `BAD_REQUEST_BODY` through the API's gateway responses. moto stores none of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft4Validator

BAD_REQUEST_BODY = ("BAD_REQUEST_BODY", 400, "Invalid request body")


@dataclass(frozen=True)
class EdgeRule:
    validate_body: bool
    validate_parameters: bool
    body_schema: dict[str, Any] | None
    required_headers: tuple[str, ...] = ()
    required_query: tuple[str, ...] = ()


def resolve_refs(node: Any, document: Mapping[str, Any]) -> Any:
    """Inline the document's local `$ref`s (`#/components/...`)."""
    if isinstance(node, dict):
        if "$ref" in node and str(node["$ref"]).startswith("#/"):
            target: Any = document
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            return resolve_refs(target, document)
        return {key: resolve_refs(value, document) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve_refs(item, document) for item in node]
    return node


def edge_rules(document: Mapping[str, Any]) -> dict[tuple[str, str], EdgeRule]:
    """(path, METHOD) -> what API Gateway checks before invoking the integration."""
    validators = document.get("x-amazon-apigateway-request-validators") or {}
    default_validator = document.get("x-amazon-apigateway-request-validator")
    rules = {}
    for path, item in (document.get("paths") or {}).items():
        shared_parameters = item.get("parameters", [])
        for verb, operation in item.items():
            if not isinstance(operation, dict) or verb.startswith("x-") or verb == "parameters":
                continue
            validator = (
                validators.get(operation.get("x-amazon-apigateway-request-validator", default_validator))
                or {}
            )
            content = ((operation.get("requestBody") or {}).get("content") or {}).get(
                "application/json"
            ) or {}
            parameters = [
                resolve_refs(p, document) for p in [*shared_parameters, *operation.get("parameters", [])]
            ]
            required = [p for p in parameters if p.get("required")]
            rules[(path, verb.upper())] = EdgeRule(
                validate_body=bool(validator.get("validateRequestBody")),
                validate_parameters=bool(validator.get("validateRequestParameters")),
                body_schema=resolve_refs(content["schema"], document) if "schema" in content else None,
                required_headers=tuple(p["name"] for p in required if p.get("in") == "header"),
                required_query=tuple(p["name"] for p in required if p.get("in") == "query"),
            )
    return rules


def check_request(
    rule: EdgeRule, headers: Mapping[str, str], query: Mapping[str, Any], body: bytes
) -> tuple[tuple[str, int, str], str] | None:
    """None when API Gateway lets the request through; else (the gateway error, validationErrorString)."""
    if rule.validate_parameters:
        lowered = {name.lower() for name in headers}
        missing = [h for h in rule.required_headers if h.lower() not in lowered]
        missing += [q for q in rule.required_query if q not in query]
        if missing:
            message = f"Missing required request parameters: [{', '.join(missing)}]"
            return ("BAD_REQUEST_PARAMETERS", 400, message), message
    if rule.validate_body and rule.body_schema is not None:
        content_type = next(
            (v for k, v in headers.items() if k.lower() == "content-type"), "application/json"
        )
        if content_type.split(";")[0].strip().lower() != "application/json":
            return None  # the model is for application/json only; other types pass through (when_no_match)
        try:
            instance = json.loads(body or b"null")
        except ValueError:
            return BAD_REQUEST_BODY, "[Invalid JSON in request body]"
        errors = sorted(Draft4Validator(rule.body_schema).iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            return BAD_REQUEST_BODY, "[" + ", ".join(error.message for error in errors) + "]"
    return None
