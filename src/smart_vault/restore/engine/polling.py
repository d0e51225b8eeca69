"""The engine's one way to wait: `poll` against a `Deadline`, and the waits every restore form needs.

Every wait calls a Describe until the resource is ready, fails at once with EC2's reason when it never will
be, and stops when the time the caller has left runs out (AwsError `WaiterError`). Waits read the clock and
sleep of `aws.clock()`, so a simulation runs them in virtual time. Right after a create, EC2 may answer
NotFound for a while (eventual consistency): such an answer is retried (`aws.retry_not_found`), never taken
as a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.clock import monotonic_clock
from smart_vault.errors import AwsError
from smart_vault.tags import (
    ATTACHED,
    FAILED_INSTANCE_STATES,
    FAILED_VOLUME_STATES,
    INSTANCE_RUNNING,
    STARTING_INSTANCE_STATES,
    STATUS_IMPAIRED,
    STATUS_OK,
    USABLE_VOLUME_STATES,
    VOLUME_IN_USE,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import DescribeInstanceStatusResultTypeDef

# Seconds between two Describe calls of one wait.
POLL_SECONDS = {"image": 5.0, "instance": 5.0, "status": 10.0, "terminated": 5.0, "volume": 3.0}
VOLUME_CREATED_POLL_SECONDS = 5.0
# How long a NotFound of an instance this attempt launched is retried (EC2's eventual consistency).
FRESH_NOT_FOUND_SECONDS = 64.0


@dataclass
class Deadline:
    """Time left in this invocation, minus a reserve kept for rollback and for recording the outcome."""

    seconds_left: float
    reserve_seconds: float
    clock: Callable[[], float] = field(default_factory=monotonic_clock)  # the one clock of durations
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def remaining(self) -> float:
        return self.seconds_left - (self.clock() - self.started)

    def budget(self) -> float:
        """Seconds a wait may take now."""
        return self.remaining() - self.reserve_seconds


def poll(
    describe: Callable[[], Any],
    done: Callable[[Any], bool],
    failed: Callable[[Any], str | None],
    *,
    budget_seconds: float,
    delay: float,
    what: str,
    timed_out: Callable[[Any], str] | None = None,
) -> Any:
    """Call `describe` until `done` (returns its answer) or `failed` gives a reason (AwsError at once), or the
    budget runs out (AwsError WaiterError, `timed_out(answer)` its message). `describe` runs at least once."""
    monotonic, sleep = aws.clock()
    end = monotonic() + budget_seconds
    while True:
        answer = describe()
        if done(answer):
            return answer
        reason = failed(answer)
        if reason:
            raise AwsError("ResourceFailed", reason, f"wait {what}")
        if monotonic() + delay > end:
            message = timed_out(answer) if timed_out else f"{what}: not done when the time ran out"
            raise AwsError("WaiterError", message, f"wait {what}")
        sleep(delay)


# ------------------------------------------------------------------------------------------ volumes


def wait_volume_usable(ec2: EC2Client, volume_id: str, budget_seconds: float) -> None:
    """Wait until the new volume is `available`; one an earlier attempt already attached (`in-use`) is ready.

    Right after CreateVolume the volume may answer `InvalidVolume.NotFound` for a while: retried with backoff
    (>= 60 s, within the budget). A volume in `error` fails at once with a readable reason instead of being
    polled until the budget runs out.
    """
    monotonic, _ = aws.clock()
    end = monotonic() + budget_seconds

    def state() -> str | None:
        volumes = aws.retry_not_found(
            lambda: ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"],
            "DescribeVolumes",
            total_seconds=min(aws.NOT_FOUND_RETRY_SECONDS, max(end - monotonic(), 1.0)),
        )
        return volumes[0].get("State") if volumes else None

    def failed(current: str | None) -> str | None:
        if current in FAILED_VOLUME_STATES:
            raise AwsError(
                "VolumeError",
                f"volume {volume_id} is in state {current}: EC2 could not create it from the snapshot",
                "CreateVolume",
            )
        return None

    poll(
        state,
        lambda current: current in USABLE_VOLUME_STATES,
        failed,
        budget_seconds=budget_seconds,
        delay=VOLUME_CREATED_POLL_SECONDS,
        what="volume_available",
        timed_out=lambda current: f"volume {volume_id} still {current} when the time ran out",
    )


def wait_volume_attached(ec2: EC2Client, volume_id: str, budget_seconds: float) -> None:
    """Wait until the volume is `in-use` with every attachment `attached`; a volume in `error` fails at once."""

    def describe() -> dict[str, Any]:
        with aws.aws_errors("DescribeVolumes"):
            return dict(ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0])

    poll(
        describe,
        lambda v: (
            v.get("State") == VOLUME_IN_USE
            and all(a.get("State") == ATTACHED for a in v.get("Attachments", []))
        ),
        lambda v: f"volume {volume_id} is {v.get('State')}" if v.get("State") == "error" else None,
        budget_seconds=budget_seconds,
        delay=POLL_SECONDS["volume"],
        what=f"volume {volume_id} attached",
    )


# ------------------------------------------------------------------------------------------ instances


def describe_instance(ec2: EC2Client, instance_id: str, not_found_seconds: float) -> dict[str, Any]:
    """The instance, with a NotFound retried for `not_found_seconds` (at least 1 s)."""
    reservations = aws.retry_not_found(
        lambda: ec2.describe_instances(InstanceIds=[instance_id])["Reservations"],
        "DescribeInstances",
        total_seconds=max(min(aws.NOT_FOUND_RETRY_SECONDS, not_found_seconds), 1.0),
    )
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            return instance
    raise AwsError("InvalidInstanceID.NotFound", f"instance {instance_id} not found", "DescribeInstances")


def state_of(instance: Mapping[str, Any]) -> str | None:
    return (instance.get("State") or {}).get("Name")


def instance_failure(instance: Mapping[str, Any]) -> str | None:
    state = state_of(instance)
    if state in FAILED_INSTANCE_STATES:
        reason = (instance.get("StateReason") or {}).get("Message") or "no reason given"
        return f"instance {instance['InstanceId']} is {state} instead of running: {reason}"
    return None


def wait_instance_running(
    ec2: EC2Client, instance_id: str, budget_seconds: float, *, fresh: bool
) -> dict[str, Any]:
    """Wait until the instance is `running` (its description); one that is stopping or gone fails at once.
    A `fresh` instance (launched by this attempt) may answer NotFound for a while: that is retried."""
    not_found_seconds = FRESH_NOT_FOUND_SECONDS if fresh else 1.0
    instance: dict[str, Any] = poll(
        lambda: describe_instance(ec2, instance_id, not_found_seconds),
        lambda i: state_of(i) == INSTANCE_RUNNING,
        instance_failure,
        budget_seconds=budget_seconds,
        delay=POLL_SECONDS["instance"],
        what=f"instance {instance_id} running",
    )
    return instance


def status_failure(answer: Mapping[str, Any]) -> str | None:
    for status in answer.get("InstanceStatuses", []):
        state = (status.get("InstanceState") or {}).get("Name")
        if state and state not in STARTING_INSTANCE_STATES:
            return f"instance {status['InstanceId']} is {state} instead of passing its status checks"
        for kind, label in (("InstanceStatus", "instance"), ("SystemStatus", "system")):
            if (status.get(kind) or {}).get("Status") == STATUS_IMPAIRED:
                failed = [d["Name"] for d in status[kind].get("Details", []) if d.get("Status") == "failed"]
                return f"instance {status['InstanceId']} failed its {label} status check" + (
                    f" ({', '.join(failed)})" if failed else ""
                )
    return None


def status_ok(answer: Mapping[str, Any]) -> bool:
    return any(
        (s.get("InstanceStatus") or {}).get("Status") == STATUS_OK
        and (s.get("SystemStatus") or {}).get("Status") == STATUS_OK
        for s in answer.get("InstanceStatuses", [])
    )


def wait_status_checks(ec2: EC2Client, instance_id: str, budget_seconds: float) -> None:
    """Wait until both status checks of the instance are `ok`; an impaired check fails at once."""

    def describe() -> DescribeInstanceStatusResultTypeDef:
        with aws.aws_errors("DescribeInstanceStatus"):
            return ec2.describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)

    poll(
        describe,
        status_ok,
        status_failure,
        budget_seconds=budget_seconds,
        delay=POLL_SECONDS["status"],
        what=f"instance {instance_id} status checks ok",
    )
