"""The calls the Lambda service makes with a function's execution role (Lambda developer guide):
- each invocation writes the function's logs: `logs:CreateLogStream` and `logs:PutLogEvents` on a stream of
  its log group ("Lambda execution role": the role must allow them);
- an environment encrypted with a customer managed key is decrypted with the role at start-up
  (`kms:Decrypt`, `kms:ViaService` `lambda.<region>.amazonaws.com`, "Securing environment variables");
- a failed asynchronous invocation is sent to the on-failure destination with the role ("the execution
  role needs permission to send to the destination": `sqs:SendMessage`), and SQS then needs
  `kms:GenerateDataKey` and `kms:Decrypt` for an encrypted queue.
The function's settings (name, key, destination) are rendered from its Terraform. Where the Terraform names
a resource the deployment does not bind (the key of the stack, the queue), the request uses the concrete
ARN Terraform would create: the queue's rendered name, and for the key a stand-in id (`key/environment`)
in the function's region, which every statement naming `aws_kms_key.*` matches as the real key would.
"""

from __future__ import annotations

import re
from typing import Any

from smart_vault.authz import terraform
from smart_vault.authz.policy import Request
from smart_vault.authz.requests import Authorization
from smart_vault.authz.tf_parse import RENDERING

_QUEUE_REF = "${aws_sqs_queue."


def _settings(function: str, region: str, deployment: terraform.Deployment) -> dict[str, Any]:
    with RENDERING:  # the scope's evaluator is shared between threads (tf_parse.py)
        return _settings_rendered(function, region, deployment)


def _settings_rendered(function: str, region: str, deployment: terraform.Deployment) -> dict[str, Any]:
    directory, _, resource = terraform.FUNCTIONS[function]
    scope = terraform.scope_for(function, region, deployment)
    body = terraform.labelled(directory, "resource", "aws_lambda_function")[resource]
    name = scope.evaluator.value(body["function_name"])
    key = scope.evaluator.value(body.get("kms_key_arn")) if body.get("kms_key_arn") else None
    queue_name, queue_key = None, None
    for config in terraform.labelled(
        directory, "resource", "aws_lambda_function_event_invoke_config"
    ).values():
        if config["function_name"] != f"${{aws_lambda_function.{resource}.function_name}}":
            continue
        on_failure = (config.get("destination_config") or [{}])[0].get("on_failure") or [{}]
        destination = on_failure[0].get("destination", "")
        if not destination.startswith(_QUEUE_REF):
            continue
        queue = terraform.labelled(directory, "resource", "aws_sqs_queue")[
            re.split(r"[.\[]", destination[len(_QUEUE_REF) :])[0]
        ]
        queue_name = scope.evaluator.value(queue["name"])
        queue_key = scope.evaluator.value(queue.get("kms_master_key_id"))
    return {"name": name, "key": key, "queue": queue_name, "queue_key": queue_key}


def _concrete_key(value: str | None, region: str, account: str) -> str | None:
    if not value:
        return None
    return value if "*" not in value else f"arn:aws:kms:{region}:{account}:key/environment"


def _kms(
    action: str, key: str, via: str, region: str, account: str, extra: dict | None = None
) -> Authorization:
    context = {
        "kms:ViaService": f"{via}.{region}.amazonaws.com",
        "kms:CallerAccount": account,
        **(extra or {}),
    }
    return Authorization(action, (Request(action, key, context),), key_arn=key, via=via)


def invocation_authorizations(
    function: str, region: str, deployment: terraform.Deployment, *, failed_async: bool = False
) -> list[Authorization]:
    """What Lambda does with the role for one invocation (and, when it failed, for its destination)."""
    account = deployment.account
    settings = _settings(function, region, deployment)
    stream = f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{settings['name']}:log-stream:2026/12/07/[$LATEST]0"
    found = [
        Authorization(a, (Request(a, stream, {}),)) for a in ("logs:CreateLogStream", "logs:PutLogEvents")
    ]
    if key := _concrete_key(settings["key"], region, account):
        function_arn = f"arn:aws:lambda:{region}:{account}:function:{settings['name']}"
        context = {"kms:EncryptionContext:aws:lambda:FunctionArn": function_arn}
        found.append(_kms("kms:Decrypt", key, "lambda", region, account, context))
    if failed_async and settings["queue"]:
        queue = f"arn:aws:sqs:{region}:{account}:{settings['queue']}"
        found.append(Authorization("sqs:SendMessage", (Request("sqs:SendMessage", queue, {}),)))
        if key := _concrete_key(settings["queue_key"], region, account):
            found += [_kms(a, key, "sqs", region, account) for a in ("kms:GenerateDataKey", "kms:Decrypt")]
    return found
