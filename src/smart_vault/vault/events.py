"""Pure: what the vault function was asked to do, read from its event.

Three kinds of event (contract, "(v3) The vault account"): a `Smart Vault Snapshot Shared` announcement from a
workload account, the vault account's own EC2 `copySnapshot` completion events, and `{"reconcile": true}`
(Terraform's schedule, every 30 minutes). An announcement's `account` is the EventBridge envelope's, which
AWS sets to the sending account (a sender cannot forge it); the detail's `account` must agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smart_vault.backup.events import COPY_EVENT, SNAPSHOT_DETAIL_TYPE, CopyCompleted, Ignored, copy_completed
from smart_vault.backup.vault_share import DETAIL_TYPE, SOURCE
from smart_vault.errors import ValidationError

SNAPSHOT_ID_RE = re.compile(r"^snap-[0-9a-f]{8,17}$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
RECONCILE_FIELD = "reconcile"
MAX_TAGS = 50
RUN_ID_MAX = 128


@dataclass(frozen=True)
class Announcement:
    run_id: str
    sender: str  # the envelope's account
    snapshot_id: str
    region: str
    account: str  # the detail's account
    tags: Mapping[str, str] = field(default_factory=dict)


# A copy of the vault finished: the same event the backup reads for its DR copies, read the same way.
VaultCopyFinished = CopyCompleted


@dataclass(frozen=True)
class Reconcile:
    run_id: str


@dataclass(frozen=True)
class Rejected:
    """An announcement the vault refuses before any AWS call (malformed): counted in VaultRejected."""

    run_id: str
    snapshot_id: str
    reason: str


VaultRequest = Announcement | VaultCopyFinished | Reconcile | Rejected | Ignored


def _run_id(event: Mapping[str, Any], request_id: str | None) -> str:
    raw = event.get("id") or request_id or "manual"
    return str(raw)[:RUN_ID_MAX]


def _tags(raw: Any) -> dict[str, str] | None:
    if not isinstance(raw, Mapping) or len(raw) > MAX_TAGS:
        return None
    if not all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= 128 and len(v) <= 256 for k, v in raw.items()
    ):
        return None
    return dict(raw)


def _announcement(event: Mapping[str, Any], run_id: str) -> Announcement | Rejected:
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return Rejected(run_id, "", "the announcement has no detail object")
    snapshot_id = detail.get("snapshot_id")
    if not isinstance(snapshot_id, str) or not SNAPSHOT_ID_RE.match(snapshot_id):
        return Rejected(run_id, str(snapshot_id)[:64], "detail.snapshot_id is not a snapshot id")
    sender, account = str(event.get("account") or ""), detail.get("account")
    if not isinstance(account, str) or not ACCOUNT_RE.match(account):
        return Rejected(run_id, snapshot_id, "detail.account is not an account id")
    if sender and sender != account:
        return Rejected(run_id, snapshot_id, f"announced for account {account} by account {sender}")
    tags = _tags(detail.get("tags"))
    if tags is None:
        return Rejected(run_id, snapshot_id, "detail.tags is not an object of at most 50 string tags")
    return Announcement(
        run_id, sender or account, snapshot_id, str(detail.get("region") or ""), account, tags
    )


def parse_event(event: Any, request_id: str | None = None) -> VaultRequest:
    """The request an event makes (ValidationError for what is not an event of this function at all)."""
    if not isinstance(event, Mapping):
        raise ValidationError("the event is not a JSON object", field=None)
    run_id = _run_id(event, request_id)
    if event.get(RECONCILE_FIELD) is True:
        return Reconcile(f"reconcile-{run_id}")
    source, detail_type = event.get("source"), event.get("detail-type")
    if source == SOURCE and detail_type == DETAIL_TYPE:
        return _announcement(event, run_id)
    if source == "aws.ec2" and detail_type == SNAPSHOT_DETAIL_TYPE:
        detail = event.get("detail")
        if not isinstance(detail, Mapping) or detail.get("event") != COPY_EVENT:
            return Ignored(run_id, "an EC2 event other than copySnapshot")
        return copy_completed(event, detail, run_id)
    if source == "aws.events" and detail_type == "Scheduled Event":
        return Reconcile(f"reconcile-{run_id}")
    raise ValidationError(
        'expected a Smart Vault Snapshot Shared announcement, a copySnapshot event or {"reconcile": true}',
        field=None,
    )
