"""(v3) CloudTrail management events for the emulator, and the tamper rules that watch them.

moto records no CloudTrail and routes nothing to EventBridge from it. `Trail.watch(client)` records every call
the client makes as the management event CloudTrail delivers to EventBridge (source `aws.<service>`,
detail-type `AWS API Call via CloudTrail`, `detail.eventName`, `userIdentity.arn` (the caller's session),
`requestParameters` with CloudTrail's lowerCamelCase names, `errorCode` when AWS refused the call). Lambda's
event names carry their API version, as in CloudTrail (`DeleteFunction20150331`). `userIdentity` has the fields
CloudTrail's userIdentity element documents for the principal's kind: `type`, `arn`, `accountId`, and for a
role session `sessionContext.sessionIssuer` (the role; a session ARN drops the role's path, so the emulated
roles have none). A cross-account call's event in the resource owner's account (KMS logs it in both accounts)
is the same with the owner's `account`.

`TamperRules` evaluates the rules of `smart_vault.tamper` (the patterns modules/tamper_alarms deploys;
`TamperRules.deployed`: with vault.tf's inputs of one region) with moto's EventBridge pattern matcher and
renders each match as the rule's input transformer does: the `Smart Vault TAMPER ...` notifications.
Delivery is modelled as immediate and exactly once (AWS documents CloudTrail events on EventBridge as best
effort, typically within a minute: GUESS for the timing).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from smart_vault import tamper
from smart_vault.local.deployment import DeploymentConfig
from smart_vault.local.rules import tamper_rule_names

LAMBDA_VERSIONED = {
    "DeleteFunction": "DeleteFunction20150331",
    "UpdateFunctionCode": "UpdateFunctionCode20150331v2",
    "UpdateFunctionConfiguration": "UpdateFunctionConfiguration20150331v2",
    "PutFunctionConcurrency": "PutFunctionConcurrency20171031",
    "RemovePermission": "RemovePermission20150331v2",
}


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def request_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """Pure: botocore parameters as CloudTrail's requestParameters (lowerCamelCase keys, JSON values)."""
    return {_camel(k): json.loads(json.dumps(v, default=str)) for k, v in params.items()}


def user_identity(principal: str) -> dict[str, Any]:
    """Pure: CloudTrail's userIdentity of `principal` (an IAM ARN or an STS assumed-role session ARN)."""
    parts = principal.split(":", 5)
    account, resource = (parts[4], parts[5]) if len(parts) == 6 else ("", principal)
    identity: dict[str, Any] = {"arn": principal, "accountId": account}
    if resource == "root":
        return {"type": "Root", **identity}
    if resource.startswith("user/"):
        return {"type": "IAMUser", **identity, "userName": resource.rsplit("/", 1)[-1]}
    if resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        issuer = {
            "type": "Role",
            "arn": f"arn:{parts[1]}:iam::{account}:role/{role}",
            "accountId": account,
            "userName": role,
        }
        return {"type": "AssumedRole", **identity, "sessionContext": {"sessionIssuer": issuer}}
    return {"type": "Unknown", **identity}


def management_event(
    service: str,
    operation: str,
    params: dict[str, Any],
    principal: str,
    account: str,
    region: str,
    error: str,
) -> dict[str, Any]:
    """Pure: the EventBridge event of one recorded call."""
    name = LAMBDA_VERSIONED.get(operation, operation) if service == "lambda" else operation
    detail: dict[str, Any] = {
        "eventName": name,
        "eventSource": f"{service}.amazonaws.com",
        "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "userIdentity": user_identity(principal),
        "requestParameters": request_parameters(params),
    }
    if error:
        detail["errorCode"] = error
    return {
        "version": "0",
        "source": f"aws.{service}",
        "detail-type": tamper.CLOUDTRAIL_DETAIL_TYPE,
        "account": account,
        "region": region,
        "detail": detail,
    }


@dataclass
class Trail:
    """The management events of the watched clients, in order."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def watch(self, client: Any, principal: str, account: str) -> Any:
        service = client.meta.service_model.service_name
        region = client.meta.region_name
        pending: dict[str, Any] = {}

        def remember(params: dict[str, Any], **_: Any) -> None:
            pending["params"] = copy.deepcopy(params)

        def record(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
            if model.name.startswith(("Describe", "List", "Get")):
                return  # read-only calls are data events or not recorded by the tamper rules' trail
            error = (parsed.get("Error") or {}).get("Code", "") if isinstance(parsed, dict) else ""
            self.events.append(
                management_event(
                    service, model.name, pending.get("params", {}), principal, account, region, error
                )
            )

        client.meta.events.register(f"provide-client-params.{service}", remember)
        client.meta.events.register(f"after-call.{service}", record)
        return client


@dataclass(frozen=True)
class TamperRules:
    """The tamper rules of one account and region (`tamper.patterns`)."""

    account: str
    region: str
    patterns: dict[str, dict[str, Any]]

    @classmethod
    def of(
        cls,
        account: str,
        region: str,
        trusted_arn_prefix: str,
        key_ids: Sequence[str] = (),
        function_names: Sequence[str] = (),
        rule_names: Sequence[str] = (),
        *,
        grant_role_arns: Sequence[str] = (),
        bus_names: Sequence[str] = (),
        trail_names: Sequence[str] = (),
    ) -> TamperRules:
        """The rules modules/tamper_alarms deploys with these inputs (an input Terraform requires and none is
        given for: a name nothing has)."""
        watched = tamper.Watched(
            account,
            region,
            trusted_arn_prefix,
            tuple(key_ids or ["none"]),
            tuple(function_names or ["none"]),
            tuple(rule_names or ["none"]),
            grant_role_arns=tuple(grant_role_arns),
            bus_names=tuple(bus_names),
            trail_names=tuple(trail_names),
        )
        return cls(account, region, tamper.patterns(watched))

    @classmethod
    def deployed(
        cls,
        config: DeploymentConfig,
        account: str,
        region: str,
        key_ids: Sequence[str] = (),
        grant_role_arns: Sequence[str] = (),
    ) -> TamperRules:
        """The rules vault.tf deploys in `region` of `account` (tamper_primary, tamper_dr): every principal but
        the vault's `<prefix>-` roles is reported, on the region's key (`key_ids` and its alias), on its
        functions (every name the Lambda API takes for them), on backup.tf's rules of the region and on the
        trails of `tamper_trail_arns` homed there. `grant_role_arns`: vault.tf's for the DR region, the vault
        function's role where there is a vault account (its copies make EBS create grants on the DR key)."""
        return cls.of(
            account,
            region,
            f"arn:aws:sts::{account}:assumed-role/{config.name_prefix}-",
            [*key_ids, config.kms_alias(region)],
            config.tamper_function_names(region),
            tamper_rule_names(config, region),
            grant_role_arns=grant_role_arns,
            trail_names=config.tamper_trail_names(region),
        )

    def notifications(self, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The TAMPER notifications the rules send for `events` (those of this account and region): one for
        each rule an event matches, as EventBridge sends it to each matching rule's targets."""
        from moto.events.models import EventPattern

        matchers = [EventPattern.load(json.dumps(p)) for p in self.patterns.values()]
        sent = []
        for event in events:
            if (event["account"], event["region"]) != (self.account, self.region):
                continue
            sent += [tamper.notification(event) for m in matchers if m.matches_event(cast(Any, event))]
        return sent
