"""The drill's own check of a restored instance: the validation function, invoked synchronously."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from smart_vault import aws

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_lambda import LambdaClient


class ValidationFailed(Exception):
    pass


def validate(
    lambda_client: LambdaClient, function: str, payload: dict[str, Any], wait_seconds: float
) -> dict[str, Any]:
    """Invoke the validation function synchronously; its answer `{"passed": bool, "detail": str}`.

    Waits at most `wait_seconds` (the drill's time left): a function still running then is a failure of the
    drill, which goes on to its teardown. The invoke is not cancelled (Lambda cannot stop it) but its answer
    no longer matters; were the drill to wait for it, Lambda could end the drill's invocation first and no
    teardown would run. Raises ValidationFailed with a readable reason when the function fails, answers
    something else or does not answer in time.
    """
    answered: list[Any] = []
    failed: list[BaseException] = []

    def invoke() -> None:
        try:
            with aws.aws_errors("Invoke"):
                answered.append(
                    lambda_client.invoke(
                        FunctionName=function,
                        InvocationType="RequestResponse",
                        Payload=json.dumps(payload).encode("utf-8"),
                    )
                )
        except Exception as exc:  # noqa: BLE001 - as a thread pool: raised again in the drill's thread
            failed.append(exc)

    # A daemon thread: one left waiting on a function that never answers does not hold the process.
    caller = threading.Thread(target=invoke, name="drill-validation", daemon=True)
    caller.start()
    caller.join(max(wait_seconds, 0.0))
    if failed:
        raise failed[0]
    if not answered:
        raise ValidationFailed(
            f"the validation function {function} did not answer within {wait_seconds:.1f} s, the drill's time left"
        )
    response = answered[0]
    raw: Any = response.get("Payload")  # a StreamingBody from boto3; bytes from the simulation
    body = raw.read() if hasattr(raw, "read") else (raw or b"")
    try:
        answer = json.loads(body or b"null")
    except ValueError:
        answer = None
    if response.get("FunctionError"):
        if isinstance(answer, dict) and answer.get("errorMessage"):
            reason = f"{answer.get('errorType', 'Error')}: {answer['errorMessage']}"
        else:
            reason = str(response["FunctionError"])
        raise ValidationFailed(f"the validation function {function} failed: {reason}"[:1000])
    if (
        not isinstance(answer, dict)
        or not isinstance(answer.get("passed"), bool)
        or not isinstance(answer.get("detail", ""), str)
    ):
        raise ValidationFailed(
            f'the validation function {function} answered {str(answer)[:200]!r}, not {{"passed": bool, "detail": str}}'
        )
    return {"passed": answer["passed"], "detail": str(answer.get("detail", ""))[:1000]}


def private_ip(ec2: EC2Client, instance_id: str) -> str | None:
    reservations = aws.retry_not_found(
        lambda: ec2.describe_instances(InstanceIds=[instance_id])["Reservations"], "DescribeInstances"
    )
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            return instance.get("PrivateIpAddress")
    return None
