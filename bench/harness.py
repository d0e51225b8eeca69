"""Bench helpers: the environment, a fleet on moto, call counting, a simulated EC2 token bucket, Lambda fakes."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PRIMARY_REGION = "eu-west-1"
DR_REGION = "eu-central-1"
ACCOUNT_ID = "123456789012"
TOPIC_NAME = "smart-vault-bench"
LEDGER_TABLE = "smart-vault-bench-copy-ledger"
FUNCTION_ARN = f"arn:aws:lambda:{PRIMARY_REGION}:{ACCOUNT_ID}:function:smart-vault-backup"

ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": PRIMARY_REGION,
    "AWS_DEFAULT_REGION": PRIMARY_REGION,
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "SNS_TOPIC_ARN": f"arn:aws:sns:{PRIMARY_REGION}:{ACCOUNT_ID}:{TOPIC_NAME}",
    "DR_REGION": DR_REGION,
    "COPY_LEDGER_TABLE": LEDGER_TABLE,
    "DR_KMS_KEY_ID": f"arn:aws:kms:{DR_REGION}:{ACCOUNT_ID}:key/11111111-2222-3333-4444-555555555555",
}


def setup_environment() -> None:
    """Before smart_vault or moto are imported: fake credentials, quiet logs, `src` importable."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            del os.environ[name]
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT / "src"))


class LambdaContext:
    """The parts of the Lambda context the backup function uses; its time runs out `budget_s` after creation."""

    def __init__(self, budget_s: float = 900.0, request_id: str = "bench") -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = FUNCTION_ARN
        self.function_name = "smart-vault-backup"
        self.memory_limit_in_mb = 512
        self._end = time.monotonic() + budget_s

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._end - time.monotonic()) * 1000), 0)


def speed_up_moto_tag_lookups() -> None:
    """moto looks up a resource's tags by scanning every tag of the region (`describe_tags` with a
    resource-id filter), which makes each describe quadratic in the number of snapshots: hours at the bench's
    sizes. Replace that lookup with a direct one. Same answers, same AWS calls; only the emulator is faster."""
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    def get_tags(self: Any) -> list[dict[str, str]]:
        if not self.id:
            return []
        tags = self.ec2_backend.tags.get(self.id) or {}
        resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
        return [
            {"resource_id": self.id, "key": k, "value": v, "resource_type": resource_type}
            for k, v in tags.items()
        ]

    TaggedEC2Resource.get_tags = get_tags


def scheduled_event(event_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": "2026-11-27T02:00:00Z",
        "region": PRIMARY_REGION,
        "resources": [f"arn:aws:events:{PRIMARY_REGION}:{ACCOUNT_ID}:rule/smart-vault-backup"],
        "detail": {},
    }


def seed_fleet(ec2: Any, count: int, volumes: int) -> list[str]:
    """`count` tagged instances with `volumes` EBS volumes each (launched 1000 at a time)."""
    image = ec2.register_image(
        Name="bench-image",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
    )["ImageId"]
    devices = ["/dev/xvda"] + [f"/dev/sd{chr(ord('f') + i)}" for i in range(volumes - 1)]
    ids: list[str] = []
    while len(ids) < count:
        batch = min(1000, count - len(ids))
        reply = ec2.run_instances(
            ImageId=image,
            MinCount=batch,
            MaxCount=batch,
            InstanceType="t3.micro",
            BlockDeviceMappings=[{"DeviceName": d, "Ebs": {"VolumeSize": 8}} for d in devices],
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Backup-Tier", "Value": "Gold"}]}
            ],
        )
        ids += [i["InstanceId"] for i in reply["Instances"]]
    return ids


def create_topic_and_ledger(sns: Any, dynamodb: Any) -> None:
    """The backup's notification topic and its copy ledger (COPY_LEDGER_TABLE), as Terraform creates them."""
    from smart_vault.local.deployment import DeploymentConfig, create_table_arguments, ledger_table_definition

    sns.create_topic(Name=TOPIC_NAME)
    definition = ledger_table_definition(DeploymentConfig())
    dynamodb.create_table(**create_table_arguments(definition | {"TableName": LEDGER_TABLE}))


class CallCounter:
    """Counts every AWS operation made through the clients it is attached to."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[model.name] += 1

    def total(self) -> int:
        return sum(self.calls.values())


class SimulatedBucket:
    """EC2's token bucket for one operation: answers `RequestLimitExceeded` (before the request reaches
    moto) when empty. Registered on `before-send`, so botocore's retry mode sees a real throttling answer."""

    BODY = (
        b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
        b"</Message></Error></Errors><RequestID>bench</RequestID></Response>"
    )

    def __init__(self, operation: str, refill_per_s: float, capacity: int) -> None:
        self.operation = operation
        self.refill = refill_per_s
        self.capacity = capacity
        self._tokens = float(capacity)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()
        self.accepted: list[float] = []
        self.throttled = 0

    def attach(self, client: Any) -> None:
        client.meta.events.register_first(f"before-send.ec2.{self.operation}", self._before_send)

    def _before_send(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from moto.core.botocore_stubber import MockRawResponse

        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.refill)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                self.accepted.append(now)
                return None  # on to moto
            self.throttled += 1
        return AWSResponse(request.url, 503, {"Content-Type": "text/xml"}, MockRawResponse(self.BODY))

    def achieved_rate(self) -> float:
        if len(self.accepted) < 2:
            return 0.0
        return (len(self.accepted) - 1) / (self.accepted[-1] - self.accepted[0])


class SelfInvocations:
    """Captures the function's asynchronous invocations of itself (moto runs no Lambda code)."""

    def __init__(self, client: Any) -> None:
        self.payloads: list[dict[str, Any]] = []
        client.meta.events.register("provide-client-params.lambda.Invoke", self._record)
        client.meta.events.register("before-call.lambda.Invoke", self._accept)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.payloads.append(json.loads(params["Payload"]))

    @staticmethod
    def _accept(**_: Any) -> Any:
        http = type("Http", (), {"status_code": 202, "headers": {}, "content": b""})()
        return http, {"StatusCode": 202, "ResponseMetadata": {"HTTPStatusCode": 202}}


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
