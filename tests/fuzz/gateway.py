"""The restore API's Lambda driven in-process as API Gateway (REST, proxy integration, stage v1) drives it.

`ApiGateway.request` turns one HTTP request into the proxy event API Gateway builds (resources `/restore`
and `/restore/{restore_id}`, an API key required, headers single- and multi-valued, non-UTF-8 bodies
base64-encoded) and calls the handler. API Gateway's own request validation is deliberately left out: the
Lambda must reject on its own what the edge would (the local stack and misconfigured stages skip the edge).
`as_wsgi` exposes the same thing as a WSGI application, which is how schemathesis calls it.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from smart_vault import restore_api
from support.lambda_context import FakeLambdaContext

API_KEY = "fuzz-api-key-0b8f2c61d4e94f7a9e3c5a7b1d2e4f60"
STAGE = "v1"
_RESTORE_ID_PATH = re.compile(r"^/restore/(?P<restore_id>[^/]+)$")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def _resource(method: str, path: str) -> tuple[str, dict[str, str] | None] | None:
    if method == "POST" and path == "/restore":
        return "/restore", None
    if method == "GET" and path == "/recovery-points":
        return "/recovery-points", None
    match = _RESTORE_ID_PATH.match(path)
    if method == "GET" and match:
        return "/restore/{restore_id}", {"restore_id": match["restore_id"]}
    return None


class ApiGateway:
    """Calls `handler` (the restore API's) with API Gateway REST proxy events; counts what it sends."""

    def __init__(self, handler: Callable[[dict, Any], dict] = restore_api.handler, on_request=None):
        self.handler = handler
        self.on_request = on_request or (lambda: None)
        self.last_context: FakeLambdaContext | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
        query: dict[str, list[str]] | None = None,
    ) -> Answer:
        self.on_request()
        header_pairs = list(headers)
        single = {name: value for name, value in header_pairs}
        key = next((v for n, v in header_pairs if n.lower() == "x-api-key"), None)
        route = _resource(method, path)
        if route is None:
            # API Gateway answers unknown resources and methods itself, before any key check.
            return Answer(
                403, {"Content-Type": "application/json"}, '{"message":"Missing Authentication Token"}'
            )
        if key != API_KEY:
            return Answer(403, {"Content-Type": "application/json"}, '{"message":"Forbidden"}')
        resource, path_parameters = route
        event = self._event(method, path, resource, path_parameters, header_pairs, single, body, query)
        self.last_context = FakeLambdaContext(aws_request_id=str(uuid.uuid4()), remaining_millis=29_000)
        response = self.handler(event, self.last_context)
        answer_headers = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            answer_headers.setdefault(name, values[-1])
        text = response.get("body") or ""
        if response.get("isBase64Encoded"):
            text = base64.b64decode(text).decode("utf-8")
        return Answer(int(response["statusCode"]), answer_headers, text)

    def _event(self, method, path, resource, path_parameters, header_pairs, single, body, query) -> dict:
        multi: dict[str, list[str]] = {}
        for name, value in header_pairs:
            multi.setdefault(name, []).append(value)
        encoded, text = False, None
        if body is not None:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text, encoded = base64.b64encode(body).decode("ascii"), True
        request_id = str(uuid.uuid4())
        return {
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": single or None,
            "multiValueHeaders": multi or None,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": path_parameters,
            "stageVariables": None,
            "requestContext": {
                "resourceId": "fuzz01",
                "resourcePath": resource,
                "httpMethod": method,
                "path": f"/{STAGE}{path}",
                "accountId": "123456789012",
                "protocol": "HTTP/1.1",
                "stage": STAGE,
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTimeEpoch": 1795718402123,
                "identity": {"apiKey": API_KEY, "apiKeyId": "fuzzkey01", "sourceIp": "198.51.100.7"},
                "domainName": "fuzz.execute-api.eu-west-1.amazonaws.com",
                "apiId": "fuzz",
            },
            "body": text,
            "isBase64Encoded": encoded,
        }

    def as_wsgi(self) -> Callable:
        """A WSGI application serving the API the way API Gateway would."""
        from urllib.parse import parse_qs

        def application(environ: dict, start_response: Callable) -> list[bytes]:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else None
            headers = [
                (name[5:].replace("_", "-").lower(), value)
                for name, value in environ.items()
                if name.startswith("HTTP_")
            ]
            if environ.get("CONTENT_TYPE"):
                headers.append(("content-type", environ["CONTENT_TYPE"]))
            path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
            query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            answer = self.request(environ["REQUEST_METHOD"], path, headers=headers, body=body, query=query)
            reason = {200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}
            start_response(
                f"{answer.status} {reason.get(answer.status, 'Status')}", list(answer.headers.items())
            )
            return [answer.text.encode("utf-8")]

        return application
