"""The authorization layer: every AWS call a Lambda function's code makes is evaluated against that
function's IAM policies (rendered from the Terraform) before it reaches the emulated AWS, and refused as
AWS refuses it.

`hook.enforcing()` hooks botocore (every client created inside it, boto3's and smart_vault.aws's alike);
the simulation calls `Enforcer.check` from its own request path. The calling function is found on the stack
(`callers.py`); calls no function makes (test set-up, the local stack, the CLI) are not evaluated.

Errors, as the services answer them: EC2 `UnauthorizedOperation` (also when EBS may not use a KMS key for
the caller), SNS `AuthorizationError` / `KMSAccessDenied`, SQS `AccessDenied` / `KmsAccessDenied`, every
other service `AccessDeniedException` (DynamoDB's for a table key: "KMS key access denied").

With `SMART_VAULT_AWS_CALLS=<dir>`, every evaluated authorization is also written to
`<dir>/authz-<pid>.jsonl` with its full request context and the test that made it: the mutation check
(`tests/iam/mutation.py`) and `docs/iam.md` are computed from those records.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from botocore.exceptions import ClientError

from smart_vault.authz import lambda_service, requests, terraform
from smart_vault.authz.deployment import deployment_for, function_region
from smart_vault.authz.facts import Facts, event_bus_policy
from smart_vault.authz.policy import (
    Decision,
    Request,
    evaluate,
    key_policy_allows,
    resource_policy_allows,
    statements_from_json,
)

RECORD_ENV = "SMART_VAULT_AWS_CALLS"
DISABLE_ENV = "SMART_VAULT_AUTHZ"  # "off" disables enforcement (never set by make test or make demo)


@dataclass(frozen=True)
class Call:
    """One AWS call a Lambda function's code makes: what an authorization is decided for."""

    function: str  # the function's name in the Terraform (backup, restore_api, ...)
    service: str  # botocore's service name, or "lambda-service" for what Lambda does with the role
    operation: str
    params: dict[str, Any]
    region: str
    environment: Mapping[str, str]  # the function's environment variables
    account: str | None = None  # the caller's account when it is not the facts' (the vault's function)


@dataclass(frozen=True)
class Outcome:
    authorization: requests.Authorization
    request: Request
    allowed: bool
    allowed_by: tuple[str, ...]  # sids of the role's statements that allow the request
    key_policy: str = (
        ""  # KMS only: "direct" (the key policy names the role), "account" (IAM decides), "denies"
    )
    key_policy_by: tuple[str, ...] = ()
    # (v3) A resource of another account: what its owner's side said ("allows", "denies"; "" when the
    # resource is the caller's own). AWS allows a cross-account request only when both sides allow it.
    resource_policy: str = ""
    resource_policy_by: tuple[str, ...] = ()


def _denial(service: str, operation: str, outcome: Outcome, principal: str) -> ClientError:
    action, resource = outcome.request.action, outcome.request.resource
    text = f"User: {principal} is not authorized to perform: {action} on resource: {resource}"
    via = outcome.authorization.via
    if service == "ec2":
        code, text = "UnauthorizedOperation", f"You are not authorized to perform this operation. {text}"
    elif via == "sns":
        code = "KMSAccessDenied"
    elif via == "sqs":
        code = "KmsAccessDenied"
    elif service == "sns":
        code = "AuthorizationError"
    elif service == "sqs":
        code = "AccessDenied"
    else:
        code = "AccessDeniedException"
        if via == "dynamodb":
            text = f"KMS key access denied error: {text}"
    status = 400 if service == "ec2" else 403
    return ClientError(
        # botocore-stubs require every ResponseMetadata key; botocore reads only the ones given.
        {"Error": {"Code": code, "Message": text}, "ResponseMetadata": {"HTTPStatusCode": status}},  # type: ignore[typeddict-item]
        operation,
    )


class Enforcer:
    def __init__(self, facts: Facts, record_dir: str | None = None) -> None:
        self.facts = facts
        record_dir = record_dir if record_dir is not None else os.environ.get(RECORD_ENV)
        self._record = Path(record_dir) / f"authz-{os.getpid()}.jsonl" if record_dir else None
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def _another_account(self, account: str | None) -> bool:
        """Whether `account`'s calls are answered by another account's facts (`for_account`), not these."""
        return bool(account) and account != self.facts.account and hasattr(self.facts, "for_account")

    def decide(self, call: Call) -> tuple[list[Outcome], str, terraform.Deployment]:
        facts = self.facts
        if self._another_account(call.account):  # facts that have `for_account` (MotoFacts)
            facts = cast(Any, facts).for_account(call.account)
        function = call.function
        deployment = deployment_for(function, call.environment, facts.account, facts)
        home = function_region(call.environment)
        statements = terraform.role_statements(function, home, deployment)
        principal = terraform.role_arn(function, home, deployment)
        if call.service == "lambda-service":  # the Lambda service acts in the function's own region
            call = replace(call, region=home)
            found = lambda_service.invocation_authorizations(
                function, home, deployment, failed_async=call.operation == "InvokeFailed"
            )
        else:
            found = requests.authorizations(call.service, call.operation, call.params, call.region, facts)
        global_context = {
            "aws:PrincipalArn": principal,
            "aws:PrincipalAccount": facts.account,
            "aws:RequestedRegion": call.region,
        }
        outcomes = []
        for authorization in found:
            for raw in authorization.requests:
                request = Request(raw.action, raw.resource, {**global_context, **raw.context}, principal)
                decision = evaluate(statements, request)
                by = tuple(s.sid for s in decision.allowed_by)
                outcome = Outcome(authorization, request, decision.allowed, by)
                if authorization.key_arn:
                    outcome = self._with_key_policy(outcome, decision, deployment, facts)
                outcome = self._with_owner(outcome, decision, deployment, facts)
                outcomes.append(outcome)
        self._write(call, (home, deployment), outcomes)
        return outcomes, principal, deployment

    def check_invocation(
        self, function: str, environment: Mapping[str, str], *, failed_async: bool = False
    ) -> list[Outcome]:
        """What the Lambda service does with the function's role for one invocation (lambda_service.py):
        refused like a call, as AWS then fails the invocation (or drops the failed event)."""
        operation = "Invoke" + ("Failed" if failed_async else "")
        return self.check(Call(function, "lambda-service", operation, {}, "", environment))

    def _with_key_policy(
        self, outcome: Outcome, decision: Decision, deployment: terraform.Deployment, facts: Facts
    ) -> Outcome:
        key_policy = self._key_policy(outcome.authorization.key_arn, deployment)
        request = outcome.request
        allowed, key_by = key_policy_allows(decision, key_policy, request, facts.account)
        direct = any(request.principal in ids for s in key_by for kind, ids in s.principals if kind == "AWS")
        mode = "direct" if direct else "account" if key_by else "denies"
        if _account_of(outcome.authorization.key_arn) not in ("", facts.account):
            # A key of another account (the DR key the vault account copies with): its key policy must allow
            # the caller's account or principal AND the caller's own identity policies must allow the use,
            # also when the key policy names the principal (KMS developer guide, "Allowing users in other
            # accounts to use a KMS key").
            allowed = bool(key_by) and decision.allowed
            mode = "direct" if direct and decision.allowed else mode
        return replace(outcome, allowed=allowed, key_policy=mode, key_policy_by=tuple(s.sid for s in key_by))

    def _with_owner(
        self, outcome: Outcome, decision: Decision, deployment: terraform.Deployment, facts: Facts
    ) -> Outcome:
        """(v3) A request on a resource of another account is allowed only when the caller's identity policies
        allow it AND the owner's side does: a snapshot's createVolumePermission names the caller's account (or
        `all`), an event bus's resource policy allows the caller (IAM user guide, "Cross-account policy
        evaluation logic"). KMS keys are decided with their key policy (`_with_key_policy`)."""
        request = outcome.request
        for resource, owner, shared_with in outcome.authorization.foreign:
            if resource == request.resource and owner != facts.account:
                shared = facts.account in shared_with or "all" in shared_with
                return replace(
                    outcome,
                    allowed=outcome.allowed and shared,
                    resource_policy="allows" if shared else "denies",
                    resource_policy_by=("createVolumePermission",) if shared else (),
                )
        if request.action == "events:PutEvents" and _account_of(request.resource) not in ("", facts.account):
            policy = self._bus_policy(request.resource, deployment, facts)
            allowed, by = resource_policy_allows(decision, policy, request, facts.account)
            return replace(
                outcome,
                allowed=allowed,
                resource_policy="allows" if by else "denies",
                resource_policy_by=tuple(s.sid for s in by),
            )
        return outcome

    def _bus_policy(self, bus_arn: str, deployment: terraform.Deployment, facts: Facts) -> tuple:
        """The policy the bus has (the facts: the emulator's PutPermission); where the facts know none, the
        vault stack's bus policy as Terraform renders it (modules/vault_account `vault_bus`, the caller's
        account among its source accounts) when the bus is the one the function's environment binds; else
        none (refused)."""
        document = event_bus_policy(facts, bus_arn)
        if document:
            return statements_from_json(document, "event bus policy")
        if bus_arn in {value for path, value in deployment.attributes if path == "local.vault_event_bus_arn"}:
            return terraform.vault_bus_policy(bus_arn, facts.account)
        return ()

    def _key_policy(self, key_arn: str, deployment: terraform.Deployment) -> tuple:
        bound = {value: path for path, value in deployment.attributes if path.startswith("aws_kms_key.")}
        region = key_arn.split(":")[3]
        if bound.get(key_arn) == "aws_kms_key.vault.arn":  # (v3) the vault module's own key
            return terraform.vault_key_policy(deployment)
        if key_arn in bound:
            return terraform.key_policy(region, deployment)
        document = self.facts.key_policy(key_arn)
        return (
            statements_from_json(document, "key policy")
            if document
            else terraform.key_policy(region, deployment)
        )

    def check(self, call: Call) -> list[Outcome]:
        """`decide`, raising the error the service answers with for the first request refused."""
        outcomes, principal, _ = self.decide(call)
        for outcome in outcomes:
            if not outcome.allowed:
                raise _denial(call.service, call.operation, outcome, principal)
        return outcomes

    def _write(self, call: Call, placed: tuple[str, terraform.Deployment], outcomes: list[Outcome]) -> None:
        if self._record is None or not outcomes:
            return
        test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
        line = json.dumps(
            {
                "function": call.function,
                "service": call.service,
                "operation": call.operation,
                "region": call.region,
                "function_region": placed[0],
                "primary_region": placed[1].primary_region,
                "peer_region": placed[1].dr_region,
                "attributes": dict(placed[1].attributes),
                "test": test,
                "requests": [
                    {
                        "action": o.request.action,
                        "resource": o.request.resource,
                        "context": dict(o.request.context),
                        "principal": o.request.principal,
                        "key_arn": o.authorization.key_arn,
                        "via": o.authorization.via,
                        "allowed": o.allowed,
                        "allowed_by": list(o.allowed_by),
                        "key_policy": o.key_policy,
                        "key_policy_by": list(o.key_policy_by),
                        "resource_policy": o.resource_policy,
                        "resource_policy_by": list(o.resource_policy_by),
                    }
                    for o in outcomes
                ],
            },
            sort_keys=True,
            default=list,
        )
        digest = hashlib.sha1(line.encode(), usedforsecurity=False).hexdigest()
        with self._lock:
            if digest in self._seen:
                return
            self._seen.add(digest)
            self._record.parent.mkdir(parents=True, exist_ok=True)
            with self._record.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 and arn.startswith("arn:") else ""


__all__ = ["Call", "Decision", "Enforcer"]
