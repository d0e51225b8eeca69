"""(v3) Two AWS accounts on moto: snapshot sharing, the cross-account copy and the cross-account event bus.

moto keeps one backend per account (the account is the one of the request's credentials: `credentials_for`
assumes a role in the account, and moto maps the role's keys to it). What it lacks, patched here as the EC2
and EventBridge documentation describe it:
- `DescribeSnapshots` ignores `OwnerIds` and `RestorableByUserIds` and never lists another account's
  snapshots. Here: `OwnerIds` (`self` or account ids) and `RestorableByUserIds` (`self` or account ids) filter,
  and a snapshot another account shared with the caller (`createVolumePermission` of the caller's id or
  group `all`) is listed to the caller in the same region, **without the owner's tags** (EC2 shows a shared
  snapshot's tags to its owner only), so a tag filter never matches it.
- `CopySnapshot` only finds the caller's own source. Here a snapshot another account shared with the caller
  can be copied (the copy is the caller's, tagged with the request's TagSpecifications only), when the
  source's KMS key lets the caller's account use it: the key's policy (in the owner's account) must allow
  the caller's account `kms:Decrypt`, `kms:DescribeKey`, `kms:CreateGrant` and `kms:ReEncrypt*`, and the key
  must be `Enabled`.
- A rule's target gets the event without its `account` field (moto's default input template): here with it.
- `PutEvents` to an event bus ARN of another account is delivered to that account's bus when its resource
  policy allows `events:PutEvents` from the sender's account; the event's `account` is the sender's.

GUESSES (the documentation names no error for these): a copy whose source key the caller may not use
answers `UnauthorizedOperation`; one whose key is disabled or pending deletion answers `IncorrectState`
with the key state in the message; a refused
cross-account event is an entry with `ErrorCode` `AccessDeniedException`. A key policy is read for `Allow`
statements naming the account (its root or any of its principals) or `*`, with the actions' wildcards; its
conditions are not evaluated (the CreateGrant statement is `kms:GrantIsForAWSResource`, which EBS meets).

`apply()` is idempotent; `moto_fidelity.apply()` calls it. Only the emulator uses this module.
"""

from __future__ import annotations

import copy as copying
import fnmatch
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from smart_vault import aws

_APPLIED = "_smart_vault_accounts"
KEY_ACTIONS_FOR_COPY = ("kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant", "kms:ReEncryptFrom")


def credentials_for(
    account_id: str, region: str = "eu-central-1", role_name: str = "smart-vault-emulator"
) -> dict[str, str]:
    """Credentials of a role session in `account_id` on moto (the assumed role's keys, which moto maps to
    that account; the request's principal is then that role)."""
    import boto3

    sts = boto3.client("sts", region_name=region)
    answer = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{role_name}", RoleSessionName="emulator"
    )
    creds = answer["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


CREDENTIAL_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def account_client(credentials: Mapping[str, str], service: str, region: str) -> Any:
    """A boto3 client of `service` in `region` with one account's credentials (from `credentials_for`)."""
    import boto3

    return boto3.client(  # type: ignore[call-overload]  # the stubs type client() per literal service name
        service,
        region_name=region,
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials["AWS_SESSION_TOKEN"],
    )


@contextmanager
def environ_kept(names: Iterable[str]) -> Iterator[None]:
    """Every variable of `names` put back in os.environ as it was (or unset) when the block ends."""
    saved = {k: os.environ.get(k) for k in names}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def function_environment(environment: Mapping[str, str]) -> Iterator[None]:
    """The function's environment variables in os.environ while its handler runs, as Lambda gives them (the
    authorization layer renders the function's role from them)."""
    with environ_kept(environment):
        os.environ.update(environment)
        yield


@contextmanager
def as_account(credentials: Mapping[str, str] | None) -> Iterator[None]:
    """Run the handlers with one account's credentials (None: the default ones); smart_vault.aws builds its
    clients again on the way in and out."""
    try:
        with environ_kept(CREDENTIAL_NAMES):
            if credentials:
                os.environ.update(credentials)
                os.environ["AWS_SECURITY_TOKEN"] = credentials["AWS_SESSION_TOKEN"]
            aws.reset_clients()
            yield
    finally:
        aws.reset_clients()


def _principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        values = principal.get("AWS", [])
        return [values] if isinstance(values, str) else list(values)
    return []


def _names_account(principal: str, account_id: str) -> bool:
    return principal in ("*", account_id) or principal.startswith(f"arn:aws:iam::{account_id}:")


def policy_allows(policy: str | dict[str, Any] | None, account_id: str, action: str) -> bool:
    """Whether a resource policy has an Allow statement for `action` naming `account_id` (see the docstring)."""
    if not policy:
        return False
    document = json.loads(policy) if isinstance(policy, str) else policy
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
            continue
        if any(_names_account(p, account_id) for p in _principals(statement)):
            return True
    return False


class _TaglessView:
    """A shared snapshot as its recipient sees it: everything but the owner's tags."""

    def __init__(self, snapshot: Any) -> None:
        self._snapshot = snapshot

    def __getattr__(self, name: str) -> Any:
        return getattr(self._snapshot, name)

    def get_tags(self) -> list[dict[str, str]]:
        return []

    @property
    def tag_set(self) -> list[dict[str, str]]:
        return []

    @property
    def tags(self) -> list[dict[str, str]]:
        return []

    @property
    def tag_list(self) -> list[dict[str, str]]:
        return []


def shared_with(snapshot: Any, account_id: str) -> bool:
    return account_id in snapshot.create_volume_permission_userids or "all" in (
        snapshot.create_volume_permission_groups
    )


def _foreign_shared(account_id: str, region: str) -> list[Any]:
    """Snapshots of the other accounts' backends in `region` that are shared with `account_id`."""
    from moto.ec2.models import ec2_backends

    found = []
    for other, regions in list(ec2_backends.items()):
        if other == account_id or region not in regions:
            continue
        found += [s for s in regions[region].snapshots.values() if shared_with(s, account_id)]
    return found


def _accounts(values: list[str], me: str) -> set[str]:
    return {me if v == "self" else v for v in values}


def visible_snapshots(
    backend: Any, snapshot_ids: list[str], filters: dict, owners: list[str], restorable: list[str]
) -> list[Any]:
    """DescribeSnapshots of the caller's backend, with owners, restorable-by and shared snapshots."""
    from moto.ec2.exceptions import InvalidSnapshotIdError
    from moto.ec2.utils import generic_filter

    me = backend.account_id
    owner_set = _accounts(owners, me)
    restorable_set = _accounts(restorable, me)
    own = list(backend.snapshots.values())
    if restorable_set - {me}:
        own = [s for s in own if restorable_set & s.create_volume_permission_userids]
    foreign = [] if restorable_set and me not in restorable_set else _foreign_shared(me, backend.region_name)
    if owner_set:
        own = own if me in owner_set else []
        foreign = [s for s in foreign if s.owner_id in owner_set]
    if snapshot_ids:
        own = [s for s in own if s.id in snapshot_ids]
        foreign = [s for s in foreign if s.id in snapshot_ids]
        if len(set(snapshot_ids)) > len(own) + len(foreign):
            raise InvalidSnapshotIdError()
    if filters:
        own = generic_filter(filters, own)
        if any(name.startswith("tag") for name in filters):
            foreign = []  # the recipient sees none of the owner's tags
        else:
            foreign = generic_filter(filters, foreign)
    return own + [_TaglessView(s) for s in foreign]


def _source_snapshot(backend: Any, source_id: str, source_region: str) -> Any:
    """The source of a copy: the caller's own snapshot, or one another account shared with the caller."""
    from moto.ec2.exceptions import InvalidSnapshotIdError
    from moto.ec2.models import ec2_backends

    own = ec2_backends[backend.account_id][source_region].snapshots.get(source_id)
    if own is not None:
        return own
    for snapshot in _foreign_shared(backend.account_id, source_region):
        if snapshot.id == source_id:
            return snapshot
    raise InvalidSnapshotIdError()


def check_key_use(snapshot: Any, account_id: str, region: str) -> None:
    """Refuse the copy of another account's encrypted snapshot unless its key lets `account_id` use it."""
    from moto.ec2.exceptions import EC2ClientError
    from moto.kms.models import kms_backends

    if not snapshot.encrypted or not snapshot.kms_key_id:
        return
    kms = kms_backends[snapshot.owner_id][region]
    try:
        key = kms.describe_key(snapshot.kms_key_id)
    except Exception:  # noqa: BLE001 - moto's NotFound: the key is gone, the data unreadable
        raise EC2ClientError(
            "UnauthorizedOperation", "The source snapshot's KMS key does not exist."
        ) from None
    missing = [a for a in KEY_ACTIONS_FOR_COPY if not policy_allows(key.policy, account_id, a)]
    if missing:
        raise EC2ClientError(
            "UnauthorizedOperation",
            f"Account {account_id} may not use KMS key {key.arn} of the source snapshot ({', '.join(missing)}).",
        )
    if key.key_state != "Enabled":
        raise EC2ClientError(
            "IncorrectState", f"KMS key {key.arn} of the source snapshot is {key.key_state}."
        )


def _deliver(events_backends: Any, put_events: Any, sender: str, entry: dict[str, Any]) -> dict[str, Any]:
    """One PutEvents entry addressed to another account's bus: delivered if its policy allows the sender."""
    arn = entry["EventBusName"]
    parts = arn.split(":")
    region, account, name = parts[3], parts[4], arn.split("/")[-1]
    target = events_backends[account][region]
    bus = target.event_buses.get(name)
    if bus is None or not policy_allows(bus.policy, sender, "events:PutEvents"):
        return {"ErrorCode": "AccessDeniedException", "ErrorMessage": f"{sender} may not put events on {arn}"}
    local = dict(entry, EventBusName=name)
    return put_events(_SentFrom(target, sender), [local])[0]


class _SentFrom:
    """The receiving account's events backend, as moto's PutEvents sees it, with the sender's account: the
    delivered event's `account` is the account that sent it."""

    def __init__(self, backend: Any, sender: str) -> None:
        self._backend, self.account_id = backend, sender

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def apply() -> None:
    from moto.ec2.models.elastic_block_store import EBSBackend
    from moto.ec2.responses import EC2Response
    from moto.events import models as events_models
    from moto.events import utils as events_utils

    if getattr(EC2Response, _APPLIED, False):
        return
    _ORIGINAL["put_events"] = events_models.EventsBackend.put_events

    # moto's default target input leaves out the event's `account`; EventBridge delivers the whole event.
    template = events_utils.EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
    if '"account"' not in template:
        events_utils.EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = template.replace(
            '"version": "0", ', '"version": "0", "account": "<account>", '
        )
    EC2Response.describe_snapshots = _describe_snapshots  # type: ignore[method-assign]  # patching moto on purpose
    EBSBackend.copy_snapshot = _copy_snapshot  # type: ignore[method-assign]  # patching moto on purpose
    events_models.EventsBackend.put_events = _put_events_across_accounts  # type: ignore[method-assign]  # patching moto on purpose
    setattr(EC2Response, _APPLIED, True)


# moto's own methods, kept when `apply` replaces them.
_ORIGINAL: dict[str, Any] = {}


def _describe_snapshots(self: Any) -> Any:
    from moto.core.responses import ActionResult

    snapshots = visible_snapshots(
        self.ec2_backend,
        self._get_param("SnapshotIds", []) or [],
        self._filters_from_querystring(),
        self._get_param("OwnerIds", []) or [],
        self._get_param("RestorableByUserIds", []) or [],
    )
    return ActionResult({"Snapshots": snapshots})


def _copy_snapshot(
    self: Any, source_snapshot_id: str, source_region: str, description: str, kms_key_id: str | None
) -> Any:
    from moto.ec2.models.elastic_block_store import Snapshot
    from moto.ec2.utils import random_snapshot_id

    source = _source_snapshot(self, source_snapshot_id, source_region)
    if source.owner_id != self.account_id:
        check_key_use(source, self.account_id, source_region)
    snapshot_id = random_snapshot_id()
    snapshot = Snapshot(
        self,
        snapshot_id,
        volume=source.volume,
        description=description,
        encrypted=source.encrypted or kms_key_id is not None,
        kms_key_id=kms_key_id,
    )
    self.snapshots[snapshot_id] = snapshot
    return snapshot


def _put_events_across_accounts(self: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from moto.events import models as events_models

    put_events = _ORIGINAL["put_events"]
    local, answers = [], {}
    for index, entry in enumerate(events):
        arn = entry.get("EventBusName") or ""
        if arn.startswith("arn:") and arn.split(":")[4] != self.account_id:
            sent = _deliver(
                events_models.events_backends, put_events, self.account_id, copying.deepcopy(entry)
            )
            answers[index] = sent
        else:
            local.append((index, entry))
    own = put_events(self, [e for _, e in local]) if local else []
    for (index, _), answer in zip(local, own, strict=True):
        answers[index] = answer
    return [answers[i] for i in range(len(events))]
