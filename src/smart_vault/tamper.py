"""(v3) Tamper alarms, as data: the CloudTrail management events each tamper rule watches, the rules' event
patterns, and the notification their input transformer renders (`Smart Vault TAMPER ...`, `event_type`
`vault.tamper`). modules/tamper_alarms/main.tf deploys exactly these (tests/vault compares the two); the
emulator's CloudTrail (`local/cloudtrail.py`) matches its events against `patterns` and renders `notification`.

Pure: no AWS calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
EVENT_TYPE = "vault.tamper"
SNAPSHOT_CALLS = ("DeleteSnapshot", "UnlockSnapshot", "LockSnapshot", "ModifySnapshotAttribute", "DeleteTags")
KEY_CALLS = ("ScheduleKeyDeletion", "DisableKey", "PutKeyPolicy", "CreateGrant", "RevokeGrant")
# CloudTrail names Lambda calls with their API version (DeleteFunction20150331): the rules match prefixes.
FUNCTION_CALL_PREFIXES = ("DeleteFunction", "UpdateFunctionCode", "UpdateFunctionConfiguration")
RULE_CALLS = ("DeleteRule", "DisableRule")  # requestParameters.name
TARGET_CALLS = ("RemoveTargets",)  # requestParameters.rule


def patterns(
    trusted_arn_prefix: str, key_ids: Sequence[str], function_names: Sequence[str], rule_names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The four rules' event patterns (the same as modules/tamper_alarms' `tamper_rules`)."""
    not_trusted = {"userIdentity": {"arn": [{"anything-but": {"prefix": trusted_arn_prefix}}]}}

    def rule(source: str, detail: dict[str, Any]) -> dict[str, Any]:
        return {
            "source": [source],
            "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
            "detail": {**not_trusted, **detail},
        }

    return {
        "snapshots": rule("aws.ec2", {"eventName": list(SNAPSHOT_CALLS)}),
        "keys": rule(
            "aws.kms", {"eventName": list(KEY_CALLS), "requestParameters": {"keyId": list(key_ids)}}
        ),
        "functions": rule(
            "aws.lambda",
            {
                "eventName": [{"prefix": p} for p in FUNCTION_CALL_PREFIXES],
                "requestParameters": {"functionName": list(function_names)},
            },
        ),
        "rules": rule(
            "aws.events", {"eventName": list(RULE_CALLS), "requestParameters": {"name": list(rule_names)}}
        ),
        "targets": rule(
            "aws.events", {"eventName": list(TARGET_CALLS), "requestParameters": {"rule": list(rule_names)}}
        ),
    }


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
