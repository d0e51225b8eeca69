"""(v3) Application-consistent sets: pre- and post-scripts through Systems Manager Run Command, as DLM runs them.

An instance tagged `Backup-Scripts=<document>` is backed up between `command=pre-script` and
`command=post-script` runs of that document. This module holds the Systems Manager side, per batch of at
most 50 instances that share a document (`SendCommand` takes at most 50 `InstanceIds`):

1. `DescribeInstanceInformation` (one page, filtered on the batch's ids): an instance whose agent is not
   `Online` is a pre-script failure at once, without waiting out the timeout;
2. one `SendCommand` with the pre-script for the online ones, then `ListCommandInvocations` of that one
   command (one page of 50) until every invocation is done or APP_CONSISTENT_TIMEOUT_SECONDS have passed;
   what is not done by then is a timeout;
3. (the caller takes the sets) one `SendCommand` with the post-script to every instance that got the
   pre-script, as soon as their `CreateSnapshots` answered, and its invocations polled the same way.

Requests are paced (`SSM_RATES`, see docs/app-consistent.md for where the figures come from) and retried on
throttling by the client's retry mode. Pure decisions (`pre_outcome`, `statuses_of`, `post_failure`) need no
AWS. Only opted-in instances cost a call: a run without any makes no Systems Manager request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.errors import AwsError
from smart_vault.pacing import Rate

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_ssm.type_defs import CommandInvocationTypeDef

MAX_TARGETS = 50  # SendCommand: at most 50 InstanceIds per call
PRE_SCRIPT, POST_SCRIPT = "pre-script", "post-script"
CRASH_CONSISTENT, SKIP = "crash-consistent", "skip"
# SendCommand's TimeoutSeconds is the delivery timeout (a command not started by then never runs): 30 at least.
MIN_DELIVERY_TIMEOUT = 30
# Invocation statuses of ListCommandInvocations that are final; Pending, InProgress, Delayed and Cancelling
# are not.
DONE = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})
SUCCESS = "Success"
# Seconds between polls of one command: every second for the first 10 s (most scripts take a second or
# two, and every second of polling lag is a second more that the batch's applications stay frozen), then
# every 2 s, then every 5 s. One poll covers the whole batch of up to 50 instances.
POLL_DELAYS = (1.0,) * 10 + (2.0,) * 5 + (5.0,)
# Local pacing of the Systems Manager calls. GUESS: AWS publishes no per-action request rate for these
# actions (docs/app-consistent.md says what was looked up); these stay far below what a small account is
# allowed, and the client's retry mode absorbs a ThrottlingException caused by other tools.
SSM_RATES: Mapping[str, Rate] = {
    "SendCommand": Rate(2.0, 5),
    "ListCommandInvocations": Rate(5.0, 10),
    "DescribeInstanceInformation": Rate(2.0, 5),
}


@dataclass(frozen=True)
class ScriptResult:
    """How one script ran on one instance: `ok`, else a readable `reason`."""

    ok: bool
    reason: str = ""
    sent: bool = False  # the script was sent (so the instance may be frozen: it gets the post-script)


@dataclass(frozen=True)
class Clock:
    """The run's clock and sleep (real ones in Lambda, virtual ones in the simulation and the tests)."""

    monotonic: Callable[[], float]
    sleep: Callable[[float], None]

    @classmethod
    def default(cls) -> Clock:
        monotonic, sleep = aws.clock()
        return cls(monotonic, sleep)


# ----------------------------------------------------------------------------------------------- pure


def statuses_of(invocations: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """Pure: instance id -> (Status, StatusDetails) from ListCommandInvocations items."""
    return {
        item["InstanceId"]: (str(item.get("Status", "")), str(item.get("StatusDetails", "")))
        for item in invocations
        if item.get("InstanceId")
    }


def script_result(script: str, status: tuple[str, str] | None, timeout: int, document: str) -> ScriptResult:
    """Pure: the outcome of one invocation as last seen (None: never listed, after the wait)."""
    if status is not None and status[0] == SUCCESS:
        return ScriptResult(True, sent=True)
    if status is None or status[0] not in DONE:
        seen = f" (last status {status[0]})" if status else ""
        return ScriptResult(False, f"{script} of {document} did not finish within {timeout} s{seen}", True)
    detail = f" ({status[1]})" if status[1] and status[1] != status[0] else ""
    return ScriptResult(False, f"{script} of {document} ended {status[0]}{detail}", True)


def pre_outcome(result: ScriptResult, on_failure: str) -> tuple[bool, bool | None, str]:
    """Pure: (take the set, the set's app-consistent tag, the instance's error) after its pre-script.

    A failed pre-script falls back to a crash-consistent set tagged `false`, or, with `skip`, fails the
    instance and takes nothing."""
    if result.ok:
        return True, True, ""
    if on_failure == SKIP:
        return (
            False,
            None,
            f"pre-script failed, set not taken (APP_CONSISTENT_ON_FAILURE=skip): {result.reason}",
        )
    return True, False, ""


def post_failure(instance_id: str, result: ScriptResult) -> str:
    """Pure: the instance's error when its post-script failed (the notification quotes it)."""
    return (
        f"post-script failed on {instance_id}: {result.reason}; the application may still be frozen "
        "(check the instance and run the post-script by hand)"
    )


def is_app_consistent_failure(error: str | None) -> bool:
    """Pure: whether an instance error came from a script (counted in AppConsistentFailures)."""
    return error is not None and ("pre-script failed" in error or "post-script failed" in error)


# ------------------------------------------------------------------------------------ Systems Manager


def online_agents(ssm: SSMClient, instance_ids: Sequence[str]) -> set[str]:
    """The instances among `instance_ids` (at most 50) whose SSM agent answers `Online`."""
    online: set[str] = set()
    with aws.aws_errors("DescribeInstanceInformation"):
        token = None
        while True:
            extra: dict[str, Any] = {"NextToken": token} if token else {}
            page = ssm.describe_instance_information(
                Filters=[{"Key": "InstanceIds", "Values": list(instance_ids)}], MaxResults=50, **extra
            )
            for item in page.get("InstanceInformationList", []):
                if item.get("PingStatus") == "Online":
                    online.add(item["InstanceId"])
            token = page.get("NextToken")
            if not token:
                return online


def send_script(
    ssm: SSMClient, document: str, script: str, instance_ids: Sequence[str], run_id: str, timeout: int
) -> str:
    """One SendCommand of `document` with `command=<script>` to at most 50 instances; returns the command id."""
    if not 0 < len(instance_ids) <= MAX_TARGETS:
        raise ValueError(f"SendCommand takes 1..{MAX_TARGETS} instance ids, got {len(instance_ids)}")
    with aws.aws_errors("SendCommand"):
        answer = ssm.send_command(
            DocumentName=document,
            InstanceIds=list(instance_ids),
            Parameters={"command": [script]},
            TimeoutSeconds=max(timeout, MIN_DELIVERY_TIMEOUT),
            Comment=f"smart-vault {script} {run_id}"[:100],
        )
    return answer["Command"]["CommandId"]


def list_invocations(ssm: SSMClient, command_id: str) -> dict[str, tuple[str, str]]:
    """Every invocation of one command (50 a page: one request per poll for a batch)."""
    items: list[CommandInvocationTypeDef] = []
    with aws.aws_errors("ListCommandInvocations"):
        token = None
        while True:
            extra: dict[str, Any] = {"NextToken": token} if token else {}
            page = ssm.list_command_invocations(CommandId=command_id, MaxResults=50, **extra)
            items += page.get("CommandInvocations", [])
            token = page.get("NextToken")
            if not token:
                return statuses_of(items)


def wait_for(
    ssm: SSMClient,
    command_id: str,
    instance_ids: Sequence[str],
    timeout: int,
    clock: Clock,
    start: float | None = None,
) -> dict[str, tuple[str, str]]:
    """Poll one command until all of `instance_ids` are done or `timeout` seconds have passed since `start`
    (default: now)."""
    start = clock.monotonic() if start is None else start
    wanted = set(instance_ids)
    polls = 0
    while True:
        delay = POLL_DELAYS[min(polls, len(POLL_DELAYS) - 1)]
        left = start + timeout - clock.monotonic()
        clock.sleep(max(min(delay, left), 0.0))
        polls += 1
        statuses = list_invocations(ssm, command_id)
        if all(statuses.get(i, ("", ""))[0] in DONE for i in wanted):
            return statuses
        if clock.monotonic() - start >= timeout:
            return statuses


def run_script(
    ssm: SSMClient,
    document: str,
    script: str,
    instance_ids: Sequence[str],
    run_id: str,
    timeout: int,
    clock: Clock,
) -> dict[str, ScriptResult]:
    """Run `script` on `instance_ids` (at most 50) and wait; an AWS error fails every one of them."""
    try:
        command_id = send_script(ssm, document, script, instance_ids, run_id, timeout)
    except AwsError as exc:
        return {
            i: ScriptResult(False, f"{script} of {document} not sent: {exc.readable()}") for i in instance_ids
        }
    try:
        statuses = wait_for(ssm, command_id, instance_ids, timeout, clock)
    except AwsError as exc:
        reason = f"{script} of {document}: its status could not be read: {exc.readable()}"
        return {i: ScriptResult(False, reason, True) for i in instance_ids}
    return {i: script_result(script, statuses.get(i), timeout, document) for i in instance_ids}


def run_pre_scripts(
    ssm: SSMClient, document: str, instance_ids: Sequence[str], run_id: str, timeout: int, clock: Clock
) -> dict[str, ScriptResult]:
    """The pre-script of one batch: agents not online fail at once, the others run it."""
    try:
        online = online_agents(ssm, instance_ids)
    except AwsError as exc:
        reason = f"the SSM agents could not be checked: {exc.readable()}"
        return {i: ScriptResult(False, reason) for i in instance_ids}
    results = {
        i: ScriptResult(False, "the SSM agent is not online (DescribeInstanceInformation)")
        for i in instance_ids
        if i not in online
    }
    running = [i for i in instance_ids if i in online]
    if running:
        results.update(run_script(ssm, document, PRE_SCRIPT, running, run_id, timeout, clock))
    return results
