"""Talk to a running local stack: invoke the backup and drill functions, read the notification inboxes."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smart_vault.local.emulator import FAKE_CREDENTIALS
from smart_vault.local.lambda_service import ACCOUNT_ID
from smart_vault.local.stack import StackState


class StackError(Exception):
    """A local-stack problem to show the user in one line."""


def load_state(path: Path) -> StackState:
    if not path.exists():
        raise StackError(f"no local stack is running (no {path}): start one with `smart-vault local up`")
    state = StackState.from_json(path.read_text(encoding="utf-8"))
    try:
        os.kill(state.pid, 0)
    except ProcessLookupError:
        raise StackError(
            f"the local stack recorded in {path} is gone (pid {state.pid}); start a new one"
        ) from None
    except PermissionError:
        pass  # alive, owned by someone else
    return state


def boto_client(state: StackState, service: str, region: str, **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    endpoint = state.lambda_endpoint_url if service == "lambda" else state.aws_endpoint_url
    # The stubs type client() per literal service name; this one takes the name as a parameter.
    return boto3.session.Session().client(  # type: ignore[call-overload]
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        config=Config(**config) if config else None,
    )


def scheduled_event(region: str, rule_name: str, now: datetime | None = None) -> dict[str, Any]:
    """The EventBridge schedule event the backup rule sends (a fresh id: a new run)."""
    now = now or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule_name}"],
        "detail": {},
    }


def invoke_backup(state: StackState, event: dict[str, Any]) -> dict[str, Any]:
    """Run the backup function once (RequestResponse) through the local Lambda endpoint; its report."""
    # One attempt: a retried invocation would be a second run. The read timeout covers the function's.
    client = boto_client(
        state,
        "lambda",
        state.primary_region,
        read_timeout=960,
        retries={"max_attempts": 1, "mode": "standard"},
    )
    answer = client.invoke(FunctionName=state.backup_function, Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        raise StackError(
            f"the backup function failed: {message} (log: {state.log_dir}/{state.backup_function}.log)"
        )
    return payload


def invoke_drill(
    state: StackState, event: dict[str, Any] | None = None, region: str | None = None
) -> dict[str, Any]:
    """Run the drill function of `region` (default: the DR region) once, synchronously, through the local
    Lambda endpoint, and return its report. `event` defaults to a scheduled run; `{"instance_ids": [...]}`
    drills those. For `make demo`: `report = invoke_drill(state)`, then `cli.drills.report_text(report)`."""
    region = region or state.dr_region
    function = state.provisioned.drill_functions.get(region)
    if function is None:
        raise StackError(
            f"no drill function in {region} (the local stack drills {sorted(state.provisioned.drill_functions)})"
        )
    # One attempt: a retried invocation would be a second drill run. The read timeout covers the function's.
    client = boto_client(
        state, "lambda", region, read_timeout=960, retries={"max_attempts": 1, "mode": "standard"}
    )
    event = (
        event
        if event is not None
        else scheduled_event(region, function.removesuffix("-drill") + "-drill-schedule")
    )
    answer = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        raise StackError(f"the drill function failed: {message} (log: {state.log_dir}/{function}.log)")
    return payload


def read_notifications(state: StackState) -> list[dict[str, Any]]:
    """Every notification in the inbox queues, oldest first; the messages stay in the queues."""
    notes = []
    for region, queue_url in state.provisioned.queues.items():
        sqs = boto_client(state, "sqs", region)
        seen: set[str] = set()
        while True:
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=2, WaitTimeSeconds=0
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                notes.append(parse_notification(region, message["Body"]))
    return sorted(notes, key=lambda n: n["timestamp"])


def parse_notification(region: str, body: str) -> dict[str, Any]:
    """An SQS-delivered SNS notification: subject, event type and the JSON document."""
    envelope = json.loads(body)
    try:
        document = json.loads(envelope.get("Message", ""))
    except ValueError:
        document = envelope.get("Message")
    attributes = envelope.get("MessageAttributes") or {}
    return {
        "region": region,
        "timestamp": envelope.get("Timestamp", ""),
        "subject": envelope.get("Subject"),
        "event_type": (attributes.get("event_type") or {}).get("Value"),
        "document": document,
    }
