"""(v3) KMS key policies' explicit Deny on moto, which evaluates no key policy: the calls that destroy or
re-policy a key (`ScheduleKeyDeletion`, `DisableKey`, `PutKeyPolicy`) are refused when a `Deny` statement of
the key's policy matches the action and the caller, as AWS evaluates an explicit deny before anything else.

The caller is the principal of the request's credentials: an assumed role's ARN (`aws:PrincipalArn` of a
role session is the role's ARN), else the account root. Conditions understood: `ArnNotLike`/`ArnNotEquals`/
`StringNotLike` on `aws:PrincipalArn` (what kms.tf writes); a Deny with any other condition is not applied
(GUESS-free: it is simply not modelled, and no Terraform statement uses one). The answer is KMS's
`AccessDeniedException`. Allow statements are not evaluated (moto lets every caller use every key).

`apply()` is idempotent; `moto_fidelity.apply()` calls it. Only the emulator uses this module.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

_APPLIED = "_smart_vault_key_policy"
GUARDED = {
    "schedule_key_deletion": "kms:ScheduleKeyDeletion",
    "disable_key": "kms:DisableKey",
    "put_key_policy": "kms:PutKeyPolicy",
}
NEGATED = ("ArnNotLike", "ArnNotEquals", "StringNotLike", "StringNotEquals")


def principal_arn(access_key: str, account_id: str) -> str:
    """The request's principal: the role of an assumed-role session, else the account root."""
    from moto.sts.models import sts_backends

    for backends in list(sts_backends.values()):
        for backend in list(backends.values()):
            for role in backend.assumed_roles:
                if role.access_key_id == access_key:
                    return role.role_arn
    return f"arn:aws:iam::{account_id}:root"


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def denied(policy: str | None, action: str, principal: str) -> str | None:
    """Pure: the Sid of a Deny statement of `policy` that refuses `action` to `principal`, else None."""
    statements = json.loads(policy).get("Statement", []) if policy else []
    for statement in [statements] if isinstance(statements, dict) else statements:
        if statement.get("Effect") != "Deny":
            continue
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _as_list(statement.get("Action"))):
            continue
        conditions = statement.get("Condition") or {}
        if set(conditions) - set(NEGATED):
            continue
        exempt = [v for test in conditions.values() for v in _as_list(test.get("aws:PrincipalArn"))]
        if not any(fnmatch.fnmatchcase(principal, pattern) for pattern in exempt):
            return str(statement.get("Sid") or "a Deny statement")
    return None


def apply() -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.kms.responses import KmsResponse

    if getattr(KmsResponse, _APPLIED, False):
        return

    def guard(name: str, action: str) -> None:
        original = getattr(KmsResponse, name)

        def guarded(self: Any) -> Any:
            key_id = self._get_param("KeyId")
            try:
                key = self.kms_backend.describe_key(key_id)
            except Exception:  # noqa: BLE001 - an unknown key: moto answers NotFound itself
                return original(self)
            caller = principal_arn(self.get_access_key(), self.current_account)
            sid = denied(key.policy, action, caller)
            if sid:
                raise JsonRESTError(
                    "AccessDeniedException",
                    f"User: {caller} is not authorized to perform: {action} on resource: {key.arn} "
                    f"with an explicit deny in a resource-based policy ({sid})",
                )
            return original(self)

        setattr(KmsResponse, name, guarded)

    for name, action in GUARDED.items():
        guard(name, action)
    setattr(KmsResponse, _APPLIED, True)
