"""The read calls of the Lambda control plane, in botocore's shapes: what `aws lambda list-functions`,
`get-function`, `get-function-configuration`, `list-tags` and `get-policy` ask the local endpoint.

Routes (Lambda's REST API, version 2015-03-31 and 2017-03-31 for tags):
  GET /2015-03-31/functions/                         ListFunctions (Marker, MaxItems)
  GET /2015-03-31/functions/{name}                   GetFunction
  GET /2015-03-31/functions/{name}/configuration     GetFunctionConfiguration
  GET /2015-03-31/functions/{name}/policy            GetPolicy (404 when the function has no permission)
  GET /2017-03-31/tags/{arn}                         ListTags
The answers are pure functions of the registered `FunctionSpec`s; `tests/local/test_local_lambda_control.py`
checks every answer against botocore's output shape (required members, types, no unknown member).

Guesses, where the local stack has nothing to say: `CodeSize` and `CodeSha256` describe the source tree of the
`smart_vault` package (Terraform zips the same tree, but not byte for byte alike), and `Code.Location` is a
file URL of that tree instead of a presigned S3 URL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from smart_vault.local.lambda_service import FunctionSpec, LambdaService

LIST_PATH = re.compile(r"^/2015-03-31/functions/?$")
FUNCTION_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)(?P<what>/configuration|/policy)?/?$")
TAGS_PATH = re.compile(r"^/2017-03-31/tags/(?P<arn>.+)$")
MAX_ITEMS = 50  # Lambda's page size for ListFunctions
PACKAGE_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ControlAnswer:
    status: int
    body: dict[str, Any]
    error_type: str | None = None


@lru_cache(maxsize=1)
def code_digest() -> tuple[int, str]:
    """(size, base64 SHA-256) of the package's Python sources, the code every function runs."""
    digest, size = hashlib.sha256(), 0
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        data = path.read_bytes()
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + data)
        size += len(data)
    return size, base64.b64encode(digest.digest()).decode()


def function_configuration(spec: FunctionSpec) -> dict[str, Any]:
    """FunctionConfiguration as Lambda answers it for a zip function on python3.12."""
    size, sha = code_digest()
    return {
        "FunctionName": spec.name,
        "FunctionArn": spec.arn,
        "Runtime": "python3.12",
        "Role": spec.role_arn,
        "Handler": spec.handler,
        "CodeSize": size,
        "Description": spec.description,
        "Timeout": spec.timeout_seconds,
        "MemorySize": spec.memory_mb,
        "LastModified": spec.last_modified,
        "CodeSha256": sha,
        "Version": "$LATEST",
        "Environment": {"Variables": dict(spec.environment)},
        "TracingConfig": {"Mode": "Active"},
        "RevisionId": spec.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": spec.log_group},
    }


def function_policy(spec: FunctionSpec) -> dict[str, Any] | None:
    """The resource policy Terraform's aws_lambda_permission resources build, or None without any."""
    if not spec.permissions:
        return None
    statements = [
        {
            "Sid": permission.sid,
            "Effect": "Allow",
            "Principal": {"Service": permission.principal},
            "Action": "lambda:InvokeFunction",
            "Resource": spec.arn,
            "Condition": {"ArnLike": {"AWS:SourceArn": permission.source_arn}},
        }
        for permission in spec.permissions
    ]
    return {"Version": "2012-10-17", "Id": "default", "Statement": statements}


def not_found(what: str) -> ControlAnswer:
    return ControlAnswer(
        404,
        {"Type": "User", "Message": f"Function not found: {what}", "message": f"Function not found: {what}"},
        "ResourceNotFoundException",
    )


def list_functions(specs: list[FunctionSpec], region: str, query: dict[str, list[str]]) -> ControlAnswer:
    """One page of the region's functions, by name; `NextMarker` is the name to start after."""
    try:
        max_items = min(int((query.get("MaxItems") or [str(MAX_ITEMS)])[0]), MAX_ITEMS)
    except ValueError:
        return ControlAnswer(
            400, {"Type": "User", "message": "MaxItems must be a number"}, "InvalidParameterValueException"
        )
    names = sorted((s for s in specs if s.region == region), key=lambda s: s.name)
    marker = (query.get("Marker") or [""])[0]
    after = [s for s in names if s.name > marker] if marker else names
    page = after[: max(max_items, 1)]
    body: dict[str, Any] = {"Functions": [function_configuration(s) for s in page]}
    if len(after) > len(page):
        body["NextMarker"] = page[-1].name
    return ControlAnswer(200, body)


def answer_get(service: LambdaService, path: str, region: str) -> ControlAnswer | None:
    """The answer to a GET of the control plane, or None when `path` is none of its read routes."""
    from smart_vault.local.lambda_service import FunctionNotFound

    parts = urlsplit(path)
    if LIST_PATH.match(parts.path):
        return list_functions(list(service.functions.values()), region, parse_qs(parts.query))
    tags = TAGS_PATH.match(parts.path)
    match = FUNCTION_PATH.match(parts.path)
    identifier = unquote(tags.group("arn") if tags else match.group("name") if match else "")
    if not identifier:
        return None
    try:
        spec = service.resolve(identifier, region)
    except FunctionNotFound as exc:
        return not_found(str(exc))
    if tags:
        return ControlAnswer(200, {"Tags": dict(spec.tags)})
    what = match.group("what") if match else None
    if what == "/configuration":
        return ControlAnswer(200, function_configuration(spec))
    if what == "/policy":
        policy = function_policy(spec)
        if policy is None:
            message = "The resource you requested does not exist."
            return ControlAnswer(404, {"Type": "User", "message": message}, "ResourceNotFoundException")
        return ControlAnswer(200, {"Policy": json.dumps(policy), "RevisionId": spec.revision_id})
    return ControlAnswer(
        200,
        {
            "Configuration": function_configuration(spec),
            "Code": {"RepositoryType": "S3", "Location": PACKAGE_DIR.as_uri()},
            "Tags": dict(spec.tags),
        },
    )
