"""The Invoke API of a `LambdaService` over HTTP on 127.0.0.1 (`LambdaEndpoint`, in a background thread):
`POST /2015-03-31/functions/{name}/invocations` with its invocation types, log tail and error answers, as
`lambda_service`'s docstring lists them.
"""

from __future__ import annotations

import json
import re
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from smart_vault.local.http_thread import BackendServer, Endpoint
from smart_vault.local.lambda_service import (
    CREDENTIAL_REGION,
    FunctionNotFound,
    InvokeResult,
    LambdaService,
    error_result,
)

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


class _InvokeHandler(BaseHTTPRequestHandler):
    server: BackendServer[LambdaService]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the stack's own output is the place for progress; requests are in the function logs

    def do_GET(self) -> None:
        from smart_vault.local.lambda_control import answer_get, not_found

        region_match = CREDENTIAL_REGION.search(self.headers.get("Authorization", ""))
        region = region_match.group("region") if region_match else self.server.backend.default_region
        answer = answer_get(self.server.backend, self.path, region) or not_found(urlsplit(self.path).path)
        payload = json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if answer.error_type:
            self.send_header("x-amzn-ErrorType", answer.error_type)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        service = self.server.backend
        parts = urlsplit(self.path)
        match = INVOKE_PATH.match(parts.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not match:
            self._answer(error_result(404, "UnknownOperationException", f"Unknown operation {parts.path}"))
            return
        region_match = CREDENTIAL_REGION.search(self.headers.get("Authorization", ""))
        try:
            spec = service.resolve(
                unquote(match.group("name")), region_match and region_match.group("region")
            )
        except FunctionNotFound as exc:
            self._answer(error_result(404, "ResourceNotFoundException", f"Function not found: {exc}"))
            return
        invocation_type = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            self._answer(InvokeResult(204))
        elif invocation_type == "Event":
            try:
                json.loads(body or b"{}")
            except ValueError:
                self._answer(
                    error_result(
                        400, "InvalidRequestContentException", "Could not parse request body into json"
                    )
                )
                return
            service.invoke_async(spec, body)
            self._answer(InvokeResult(202, request_id=str(uuid.uuid4())))
        elif invocation_type == "RequestResponse":
            self._answer(service.invoke(spec, body, tail=self.headers.get("X-Amz-Log-Type") == "Tail"))
        else:
            self._answer(
                error_result(400, "InvalidParameterValueException", f"bad invocation type {invocation_type}")
            )

    def _answer(self, result: InvokeResult) -> None:
        self.send_response(result.status_code)
        self.send_header("x-amzn-RequestId", result.request_id or str(uuid.uuid4()))
        if result.status_code >= HTTPStatus.BAD_REQUEST:
            self.send_header("x-amzn-ErrorType", result.function_error or "ServiceException")
        else:
            self.send_header("X-Amz-Executed-Version", "$LATEST")
            if result.function_error:
                self.send_header("X-Amz-Function-Error", result.function_error)
            if result.log_tail:
                self.send_header("X-Amz-Log-Result", result.log_tail)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(result.payload)))
        self.end_headers()
        self.wfile.write(result.payload)


class LambdaEndpoint(Endpoint[LambdaService]):
    """The Invoke API of a `LambdaService` on 127.0.0.1, in a background thread."""

    handler = _InvokeHandler
    thread_name = "lambda-endpoint"
