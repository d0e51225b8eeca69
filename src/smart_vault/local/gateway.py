"""A local API Gateway: REST API (v1) Lambda proxy integration with API keys, on 127.0.0.1.

It serves one stage of one REST API of the emulated API Gateway (moto), as API Gateway serves
`https://{api}.execute-api.{region}.amazonaws.com/{stage}`: it loads the API's resources, methods and
integrations when it starts (a deployment), matches each request to a resource, enforces `apiKeyRequired`
with the keys and usage plans that are in the emulator at the time of the request (403
`{"message": "Forbidden"}`, as API Gateway answers), turns the request into the REST v1 proxy event and
invokes the integration's Lambda function. moto stores all of that but serves none of it.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from smart_vault.local.edge import EdgeRule, check_request
from smart_vault.local.http_thread import BackendServer, Endpoint
from smart_vault.local.lambda_service import ACCOUNT_ID, InvokeResult

INTEGRATION_FUNCTION = re.compile(r"/functions/(?P<arn>arn:[^/]+)/invocations$")

InvokeFunction = Callable[[str, bytes], InvokeResult]


@dataclass(frozen=True)
class Route:
    """One method of one resource, as deployed."""

    resource_path: str  # e.g. /restore/{restore_id}
    http_method: str
    api_key_required: bool
    function_arn: str | None  # None when the integration is not a Lambda proxy

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters when `path` fits this resource, else None."""
        want = [p for p in self.resource_path.split("/") if p]
        got = [p for p in path.split("/") if p]
        params: dict[str, str] = {}
        for index, part in enumerate(want):
            if part.startswith("{") and part.endswith("+}"):
                if index >= len(got):
                    return None
                params[part[1:-2]] = "/".join(got[index:])
                return params
            if index >= len(got):
                return None
            if part.startswith("{") and part.endswith("}"):
                params[part[1:-1]] = unquote(got[index])
            elif part != got[index]:
                return None
        return params if len(want) == len(got) else None

    @property
    def specificity(self) -> tuple[int, int]:
        """Literal segments beat parameters, as in API Gateway's route selection."""
        parts = [p for p in self.resource_path.split("/") if p]
        return (sum(not p.startswith("{") for p in parts), len(parts))


def routes_from_resources(resources: list[dict[str, Any]]) -> list[Route]:
    """Routes from `GetResources(embed=methods)` items."""
    routes = []
    for resource in resources:
        for verb, method in (resource.get("resourceMethods") or {}).items():
            integration = method.get("methodIntegration") or {}
            match = INTEGRATION_FUNCTION.search(integration.get("uri") or "")
            is_proxy = str(integration.get("type")).upper() == "AWS_PROXY" and match is not None
            routes.append(
                Route(
                    resource_path=resource["path"],
                    http_method=verb.upper(),
                    api_key_required=bool(method.get("apiKeyRequired")),
                    function_arn=match.group("arn") if is_proxy and match else None,
                )
            )
    return routes


def select_route(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The most specific route for `method path` (ANY matches every verb)."""
    candidates = []
    for route in routes:
        if route.http_method not in (method, "ANY"):
            continue
        params = route.match(path)
        if params is not None:
            candidates.append((route.specificity, route.http_method == method, route, params))
    if not candidates:
        return None
    _, _, route, params = max(candidates, key=lambda c: (c[0], c[1]))
    return route, params


def key_is_authorised(apigw: Any, api_id: str, stage: str, key_value: str | None) -> tuple[bool, str | None]:
    """Whether `key_value` is an enabled API key in a usage plan of `api_id`/`stage`; also its key id."""
    if not key_value:
        return False, None
    paginator = apigw.get_paginator("get_api_keys")
    for page in paginator.paginate(includeValues=True):
        for key in page.get("items", []):
            if key.get("value") != key_value or not key.get("enabled", False):
                continue
            plans = apigw.get_usage_plans(keyId=key["id"]).get("items", [])
            for plan in plans:
                for api_stage in plan.get("apiStages", []):
                    if api_stage.get("apiId") == api_id and api_stage.get("stage") == stage:
                        return True, key["id"]
    return False, None


def build_proxy_event(
    *,
    route: Route,
    path_parameters: Mapping[str, str],
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    api_id: str,
    stage: str,
    source_ip: str,
    api_key_id: str | None,
    api_key: str | None,
    request_id: str,
    now: float,
) -> dict[str, Any]:
    """The API Gateway REST (v1) Lambda proxy event for one request."""
    single, multi = _header_maps(headers)
    query_multi = parse_qs(query, keep_blank_values=True) if query else {}
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode(), True
    host = next((v for k, v in headers if k.lower() == "host"), "127.0.0.1")
    return {
        "resource": route.resource_path,
        "path": path,
        "httpMethod": method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": {k: v[-1] for k, v in query_multi.items()} or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": route.resource_path,
            "resourcePath": route.resource_path,
            "httpMethod": method,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": host.split(".")[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": _identity(source_ip, headers, api_key_id, api_key),
            "domainName": host,
            "apiId": api_id,
        },
        "body": text if body else None,
        "isBase64Encoded": is_base64,
    }


def _header_maps(headers: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The event's `headers` (the last value of each name) and `multiValueHeaders`."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _identity(
    source_ip: str, headers: list[tuple[str, str]], api_key_id: str | None, api_key: str | None
) -> dict[str, Any]:
    """The request context's `identity` of an unauthenticated caller with an API key."""
    return {
        "sourceIp": source_ip,
        "userAgent": next((v for k, v in headers if k.lower() == "user-agent"), None),
        "apiKey": api_key,
        "apiKeyId": api_key_id,
        "accountId": None,
        "caller": None,
        "user": None,
        "userArn": None,
    }


@dataclass(frozen=True)
class GatewayAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


# API Gateway's own errors: (response type, status, message). A gateway response of that type in the API
# (x-amazon-apigateway-gateway-responses), or else DEFAULT_4XX / DEFAULT_5XX, shapes the answer.
MISSING_AUTHENTICATION_TOKEN = ("MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token")
INVALID_API_KEY = ("INVALID_API_KEY", 403, "Forbidden")
INTEGRATION_FAILURE = ("INTEGRATION_FAILURE", 502, "Internal server error")


def render_gateway_error(
    error: tuple[str, int, str],
    responses: Mapping[str, dict[str, Any]],
    request_id: str,
    validation: str = "",
) -> GatewayAnswer:
    """The answer API Gateway gives for one of its own errors, with the API's gateway responses applied."""
    kind, status, message = error
    response = responses.get(kind) or responses.get("DEFAULT_4XX" if status < 500 else "DEFAULT_5XX") or {}
    status = int(response.get("statusCode") or status)
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", kind),
    ]
    for name, value in (response.get("responseParameters") or {}).items():
        if name.startswith("gatewayresponse.header."):
            header = name.removeprefix("gatewayresponse.header.")
            headers = [h for h in headers if h[0].lower() != header.lower()] + [(header, value.strip("'"))]
    template = (response.get("responseTemplates") or {}).get("application/json")
    if not template:
        return GatewayAnswer(status, headers, json.dumps({"message": message}).encode())
    body = (
        template.replace("$context.error.messageString", json.dumps(message))
        # Escaped so that the body stays JSON whatever quotes the validation message holds.
        .replace("$context.error.validationErrorString", json.dumps(validation or message)[1:-1])
        .replace("$context.error.message", message)
        .replace("$context.requestId", request_id)
    )
    return GatewayAnswer(status, headers, body.encode())


def answer_from_lambda(
    result: InvokeResult, request_id: str, responses: Mapping[str, dict[str, Any]] | None = None
) -> GatewayAnswer:
    """Map the function's proxy response; a failed or malformed one becomes API Gateway's 502."""
    if result.status_code != 200 or result.function_error:
        return render_gateway_error(INTEGRATION_FAILURE, responses or {}, request_id)
    try:
        response = result.json()
        status = int(response["statusCode"])
    except (ValueError, KeyError, TypeError):
        return render_gateway_error(INTEGRATION_FAILURE, responses or {}, request_id)
    headers = [(k, str(v)) for k, v in (response.get("headers") or {}).items()]
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(v)) for v in values)
    headers.append(("x-amzn-RequestId", request_id))
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode()
    return GatewayAnswer(status, headers, raw)


@dataclass
class Gateway:
    """The request logic, independent of the HTTP server (unit-testable)."""

    apigw: Any  # a boto3 apigateway client on the emulator
    api_id: str
    stage: str
    invoke: InvokeFunction
    edge: Mapping[tuple[str, str], EdgeRule] = field(default_factory=dict)  # request validation per method

    def load(self) -> None:
        resources = self.apigw.get_resources(restApiId=self.api_id, embed=["methods"], limit=500)["items"]
        self.routes = routes_from_resources(resources)
        items = self.apigw.get_gateway_responses(restApiId=self.api_id).get("items", [])
        self.responses = {item["responseType"]: item for item in items}
        self.apigw.get_stage(restApiId=self.api_id, stageName=self.stage)  # fails loudly when not deployed

    def handle(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> GatewayAnswer:
        request_id = str(uuid.uuid4())
        parts = urlsplit(raw_path)
        prefix = f"/{self.stage}"
        if parts.path != prefix and not parts.path.startswith(prefix + "/"):
            return render_gateway_error(MISSING_AUTHENTICATION_TOKEN, self.responses, request_id)
        path = parts.path[len(prefix) :] or "/"
        selected = select_route(self.routes, method, path)
        if selected is None:
            return render_gateway_error(MISSING_AUTHENTICATION_TOKEN, self.responses, request_id)
        route, params = selected
        key_value = next((v for k, v in headers if k.lower() == "x-api-key"), None)
        key_id = None
        if route.api_key_required:
            allowed, key_id = key_is_authorised(self.apigw, self.api_id, self.stage, key_value)
            if not allowed:
                return render_gateway_error(INVALID_API_KEY, self.responses, request_id)
        rule = self.edge.get((route.resource_path, route.http_method))
        failure = rule and check_request(rule, dict(headers), parse_qs(parts.query), body)
        if failure:
            return render_gateway_error(failure[0], self.responses, request_id, validation=failure[1])
        if route.function_arn is None:
            return render_gateway_error(INTEGRATION_FAILURE, self.responses, request_id)
        event = build_proxy_event(
            route=route,
            path_parameters=params,
            method=method,
            path=path,
            query=parts.query,
            headers=headers,
            body=body,
            api_id=self.api_id,
            stage=self.stage,
            source_ip=source_ip,
            api_key_id=key_id,
            api_key=key_value if key_id else None,
            request_id=request_id,
            now=time.time(),
        )
        result = self.invoke(route.function_arn, json.dumps(event).encode())
        return answer_from_lambda(result, request_id, self.responses)


class _GatewayHandler(BaseHTTPRequestHandler):
    server: BackendServer[Gateway]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = self.server.backend.handle(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        self.send_response(answer.status)
        for name, value in answer.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve


class GatewayEndpoint(Endpoint[Gateway]):
    """A stage of the emulated API Gateway on 127.0.0.1, in a background thread."""

    handler = _GatewayHandler
    thread_name = "api-gateway"

    def start(self) -> str:
        self.backend.load()
        return super().start()

    @property
    def url(self) -> str:
        """The invoke URL of the stage, like https://{api}.execute-api.{region}.amazonaws.com/{stage}."""
        return f"{super().url}/{self.backend.stage}"
