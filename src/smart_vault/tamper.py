"""(v3) Tamper alarms, as data: the CloudTrail management events each tamper rule watches, the rules' event
patterns, and the notification their input transformer renders (`Smart Vault TAMPER ...`, `event_type`
`vault.tamper`). modules/tamper_alarms/main.tf deploys exactly these (tests/vault renders the module and
compares the two); the emulator's CloudTrail (`local/cloudtrail.py`) matches its events against `patterns` and
renders `notification`.

Besides the contract's calls, the rules watch the calls that have the same effect: `PutRule` (it replaces a
rule whole: `State=DISABLED` disables it), `PutTargets` (re-points it), `PutFunctionConcurrency` (0 stops a
function) and Lambda's `RemovePermission` (no rule may invoke it any more), and, where the rules are given
them, the deletion and the policy of the vault's bus and the trail they depend on. Each name field matches
every form the API takes (a function by name, ARN or partial ARN, with or without a qualifier), with
EventBridge's documented operators only (exact values, `prefix`, `anything-but` with one prefix or a list of
values, and `$or` of two branches or more).

Pure: no AWS calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
EVENT_TYPE = "vault.tamper"
SNAPSHOT_CALLS = ("DeleteSnapshot", "UnlockSnapshot", "LockSnapshot", "ModifySnapshotAttribute", "DeleteTags")
KEY_CALLS = ("ScheduleKeyDeletion", "DisableKey", "PutKeyPolicy", "CreateGrant", "RevokeGrant")  # keyId
# The one key call EBS makes with its caller's permissions (a grant for each volume or copy it decrypts): the
# roles named in `grant_role_arns` may make it, and only it.
GRANT_CALLS = ("CreateGrant",)
# CloudTrail names Lambda calls with their API version (DeleteFunction20150331): the rules match prefixes.
FUNCTION_CALL_PREFIXES = (
    "DeleteFunction",
    "UpdateFunctionCode",
    "UpdateFunctionConfiguration",
    "PutFunctionConcurrency",
    "RemovePermission",
)
RULE_CALLS = ("DeleteRule", "DisableRule", "PutRule")  # requestParameters.name
TARGET_CALLS = ("RemoveTargets", "PutTargets")  # requestParameters.rule
BUS_CALLS = ("DeleteEventBus",)  # requestParameters.name
BUS_POLICY_CALLS = ("PutPermission", "RemovePermission")  # requestParameters.eventBusName
TRAIL_CALLS = ("StopLogging", "DeleteTrail", "UpdateTrail")  # requestParameters.name (a name or an ARN)
TRAIL_SELECTOR_CALLS = ("PutEventSelectors",)  # requestParameters.trailName


@dataclass(frozen=True)
class Watched:
    """What the tamper rules of one account and region watch: modules/tamper_alarms' variables."""

    account: str
    region: str
    trusted_arn_prefix: str  # every call by these sessions is the vault's own
    key_ids: tuple[str, ...]
    function_names: tuple[str, ...]  # names: the rules match every form the Lambda API takes
    rule_names: tuple[str, ...]
    grant_role_arns: tuple[str, ...] = ()  # IAM roles whose sessions may CreateGrant on the keys
    bus_names: tuple[str, ...] = ()  # the vault's own event bus (name and ARN); none in the workload account
    trail_names: tuple[str, ...] = ()  # the trails the rules depend on (names and ARNs); none: not watched
    partition: str = "aws"


def function_forms(name: str, account: str, region: str, partition: str = "aws") -> list[Any]:
    """Pure: every `FunctionName` the Lambda API resolves to function `name` of `account` in `region`, as
    CloudTrail records it (what the caller gave): the name, the ARN and the partial ARN
    (`<account>:function:<name>`), each alone or with a version or alias after a colon."""
    arn = f"arn:{partition}:lambda:{region}:{account}:function:{name}"
    partial = f"{account}:function:{name}"
    return [name, {"prefix": f"{name}:"}, arn, {"prefix": f"{arn}:"}, partial, {"prefix": f"{partial}:"}]


def _either(*branches: dict[str, Any]) -> dict[str, Any]:
    """EventBridge reads `$or` only with two branches or more (with one it is a field named "$or")."""
    return branches[0] if len(branches) == 1 else {"$or": list(branches)}


def _key_detail(watched: Watched) -> dict[str, Any]:
    if not watched.grant_role_arns:
        return {"eventName": list(KEY_CALLS)}
    trusted_for_grants = {"arn": [{"anything-but": list(watched.grant_role_arns)}]}
    return _either(
        {"eventName": [c for c in KEY_CALLS if c not in GRANT_CALLS]},
        # Root, IAM users and federated users have no role session: never a grant role.
        {"eventName": list(GRANT_CALLS), "userIdentity": {"type": [{"anything-but": ["AssumedRole"]}]}},
        {
            "eventName": list(GRANT_CALLS),
            "userIdentity": {"sessionContext": {"sessionIssuer": trusted_for_grants}},
        },
    )


def _rule_detail(watched: Watched) -> dict[str, Any]:
    rules = {"eventName": list(RULE_CALLS), "requestParameters": {"name": list(watched.rule_names)}}
    if not watched.bus_names:
        return rules
    return _either(
        rules,
        {"eventName": list(BUS_CALLS), "requestParameters": {"name": list(watched.bus_names)}},
        {"eventName": list(BUS_POLICY_CALLS), "requestParameters": {"eventBusName": list(watched.bus_names)}},
    )


def patterns(watched: Watched) -> dict[str, dict[str, Any]]:
    """The rules' event patterns, by rule (modules/tamper_alarms' `tamper_patterns`)."""
    not_trusted = {"userIdentity": {"arn": [{"anything-but": {"prefix": watched.trusted_arn_prefix}}]}}

    def rule(source: str, detail: dict[str, Any]) -> dict[str, Any]:
        return {
            "source": [source],
            "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
            "detail": {**not_trusted, **detail},
        }

    functions = [
        form
        for name in watched.function_names
        for form in function_forms(name, watched.account, watched.region, watched.partition)
    ]
    rules = {
        "snapshots": rule("aws.ec2", {"eventName": list(SNAPSHOT_CALLS)}),
        "keys": rule(
            "aws.kms", {**_key_detail(watched), "requestParameters": {"keyId": list(watched.key_ids)}}
        ),
        "functions": rule(
            "aws.lambda",
            {
                "eventName": [{"prefix": p} for p in FUNCTION_CALL_PREFIXES],
                "requestParameters": {"functionName": functions},
            },
        ),
        "rules": rule("aws.events", _rule_detail(watched)),
        "targets": rule(
            "aws.events",
            {"eventName": list(TARGET_CALLS), "requestParameters": {"rule": list(watched.rule_names)}},
        ),
    }
    if watched.trail_names:
        trails = list(watched.trail_names)
        rules["trails"] = rule(
            "aws.cloudtrail",
            _either(
                {"eventName": list(TRAIL_CALLS), "requestParameters": {"name": trails}},
                {"eventName": list(TRAIL_SELECTOR_CALLS), "requestParameters": {"trailName": trails}},
            ),
        )
    return rules


def notification(event: Mapping[str, Any]) -> dict[str, Any]:
    """The document the rules' input transformer renders from one CloudTrail event (what SNS delivers)."""
    detail = event.get("detail") or {}
    call = str(detail.get("eventName", ""))
    principal = str((detail.get("userIdentity") or {}).get("arn", ""))
    return {
        "subject": f"Smart Vault TAMPER {call} by {principal}",
        "event_type": EVENT_TYPE,
        "call": call,
        "principal": principal,
        "resource": detail.get("requestParameters"),
        "time": str(detail.get("eventTime", "")),
        "account": str(event.get("account", "")),
        "region": str(event.get("region", "")),
        "error": str(detail.get("errorCode") or ""),
    }


def summary(document: Mapping[str, Any]) -> str:
    """One readable line of a TAMPER notification."""
    refused = f" (refused: {document['error']})" if document.get("error") else ""
    return f"{document['subject']} on {json.dumps(document['resource'], sort_keys=True)} at {document['time']}{refused}"
