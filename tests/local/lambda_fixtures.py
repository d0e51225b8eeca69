"""Tiny Lambda handlers for testing the local Lambda service and gateway (run in the service's subprocesses)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import boto3


def echo(event, context):
    print("this line goes to the function log, not into the payload")
    return {
        "event": event,
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
        "env": {name: os.environ.get(name) for name in ("AWS_REGION", "SETTING", "AWS_LAMBDA_FUNCTION_NAME")},
    }


def fail(event, context):
    raise RuntimeError("boom: " + str(event.get("why")))


def sleep(event, context):
    time.sleep(float(event["seconds"]))
    return "slept"


def record(event, context):
    Path(event["path"]).write_text(json.dumps({"event": event, "region": os.environ["AWS_REGION"]}))


def invoke_async(event, context):
    """Invokes another function with InvocationType=Event, as the restore API invokes the worker."""
    client = boto3.client("lambda", region_name=os.environ["AWS_REGION"])  # AWS_ENDPOINT_URL_LAMBDA applies
    answer = client.invoke(
        FunctionName=event["target"], InvocationType="Event", Payload=json.dumps(event["payload"])
    )
    return answer["StatusCode"]


def proxy(event, context):
    """An API Gateway proxy integration that answers with what it received."""
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-Seen-Resource": event["resource"]},
        "body": json.dumps(event),
    }


def bad_proxy(event, context):
    return "not a proxy response"


INVOCATIONS = 0


def count(event, context):
    """Module state survives between invocations of a warm environment, as in Lambda."""
    global INVOCATIONS
    INVOCATIONS += 1
    return {"pid": os.getpid(), "invocations": INVOCATIONS}


def crash(event, context):
    os._exit(3)
