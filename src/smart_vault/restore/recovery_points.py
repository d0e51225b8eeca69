"""Recovery points: the backup sets of one instance in one region, newest first, with their completeness.

A recovery point is one backup set in one region: the managed snapshots there that share a
`smart-vault:backup-set`. It is complete when `smart-vault:set-size` of them are `completed`. Only the target
region is read, so the list works while the other region is down.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from smart_vault import aws, recovery_sets
from smart_vault.change_rate import monthly_cost_usd, parse_bytes, set_changed_bytes
from smart_vault.config import RestoreApiSettings
from smart_vault.errors import ValidationError
from smart_vault.restore.recovery_point_locks import locks_of, with_locks
from smart_vault.snapshot_model import snapshot_from_api
from smart_vault.tags import (
    APP_CONSISTENT_TAG,
    ARCHITECTURE_TAG,
    BACKUP_SET_TAG,
    CHANGED_BYTES_TAG,
    DEVICE_TAG,
    HOLD_TAG,
    INSTANCE_TYPE_TAG,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    PLATFORM_TAG,
    RUN_ID_TAG,
    SET_SIZE_TAG,
    SOURCE_INSTANCE_TAG,
    SOURCE_VOLUME_TAG,
    SUSPECT_TAG,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

RECOVERY_POINT_NOT_FOUND = "RecoveryPointNotFound"  # the 404 error of a recovery point that is not there
INSTANCE_ID_RE = re.compile(r"^i-[0-9a-f]{8,17}$")
MAX_NAME_LENGTH = 256


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_query(
    params: Mapping[str, str] | None, settings: RestoreApiSettings
) -> tuple[str | None, str | None, str]:
    """(instance_id, name, region) of a `GET /recovery-points` query; exactly one of the first two."""
    params = params or {}
    unknown = sorted(set(params) - {"instance_id", "name", "region"})
    if unknown:
        raise ValidationError(f"unknown query parameter {unknown[0]!r}", field=unknown[0] or None)
    instance_id, name = params.get("instance_id"), params.get("name")
    if (instance_id is None) == (name is None):
        raise ValidationError("give exactly one of instance_id and name", field="instance_id")
    if instance_id is not None and not INSTANCE_ID_RE.match(instance_id):
        raise ValidationError("instance_id must match ^i-[0-9a-f]{8,17}$", field="instance_id")
    if name is not None and not (0 < len(name) <= MAX_NAME_LENGTH):
        raise ValidationError(f"name must be 1 to {MAX_NAME_LENGTH} characters", field="name")
    region = params.get("region", settings.region)
    if region not in settings.regions:
        raise ValidationError(f"region must be one of {', '.join(settings.regions)}", field="region")
    return instance_id, name, region


def set_size_of(tags: Mapping[str, str]) -> int | None:
    """The number of volumes a set records (`smart-vault:set-size`), None when it has none readable."""
    try:
        size = int(tags.get(SET_SIZE_TAG, ""))
    except ValueError:
        return None
    return size if size > 0 else None


def snapshots_by_set(snapshots: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Pure: managed DescribeSnapshots items of one region, grouped by their backup set."""
    sets: dict[str, list[Mapping[str, Any]]] = {}
    for item in snapshots:
        tags = aws.tags_to_dict(item.get("Tags"))
        if tags.get(MANAGED_BY_KEY) != MANAGED_BY_VALUE or not tags.get(BACKUP_SET_TAG):
            continue
        sets.setdefault(tags[BACKUP_SET_TAG], []).append(item)
    return sets


def is_complete(items: Iterable[Mapping[str, Any]]) -> bool:
    """Pure: whether one set's snapshots in one region make a complete recovery point.

    (v3) Each `smart-vault:device` counts once: two snapshots of one device (a retried call) make the set
    neither complete twice nor incomplete (`smart_vault.recovery_sets`, which retention uses too).
    """
    return recovery_sets.is_complete(snapshot_from_api(item, "") for item in items)


def set_created_at(items: Iterable[Mapping[str, Any]]) -> datetime:
    """A set's time: its earliest snapshot start time."""
    return min(i["StartTime"] for i in items)


def app_consistent_of(tagged: Iterable[Mapping[str, str]]) -> bool | None:
    """Pure: (v3) true when the set was taken between its pre- and post-script, false when the pre-script
    failed and the set is crash-consistent, None for a set of an instance without scripts."""
    flags = {tags.get(APP_CONSISTENT_TAG) for tags in tagged} - {None}
    if not flags:
        return None
    return flags == {"true"}


def _changed_bytes(
    item: Mapping[str, Any], tags: Mapping[str, str], measured: Mapping[str, int]
) -> int | None:
    """A snapshot's measured change: from the ledger (`measured`, primary region) or its tag (a DR copy)."""
    if item["SnapshotId"] in measured:
        return measured[item["SnapshotId"]]
    return parse_bytes(tags.get(CHANGED_BYTES_TAG))


def _flagged(tagged: Iterable[Mapping[str, str]], key: str) -> bool:
    return any(tags.get(key, "").strip().lower() == "true" for tags in tagged)


def group_recovery_points(
    snapshots: Iterable[Mapping[str, Any]],
    now: datetime,
    measured: Mapping[str, int] | None = None,
    price_per_gb_month: float = 0.05,
) -> list[dict[str, Any]]:
    """Pure: DescribeSnapshots items (managed, one region) as recovery points, newest first.

    (v3) With `suspect`, `held`, `changed_bytes` (per volume and summed; `measured` maps primary snapshot ids
    to the ledger's figures) and `estimated_monthly_cost_usd` at `price_per_gb_month`.
    """
    measured = measured or {}
    points = []
    for set_id, items in snapshots_by_set(snapshots).items():
        tagged = [aws.tags_to_dict(i.get("Tags")) for i in items]
        first = tagged[0]
        created = set_created_at(items)
        complete = is_complete(items)
        volumes = sorted(
            (
                {
                    "device": tags.get(DEVICE_TAG, ""),
                    "snapshot_id": item["SnapshotId"],
                    "source_volume": tags.get(SOURCE_VOLUME_TAG, ""),
                    "size_gib": int(item.get("VolumeSize") or 0),
                    "state": item.get("State", ""),
                    "changed_bytes": _changed_bytes(item, tags, measured),
                }
                for item, tags in zip(items, tagged, strict=True)
            ),
            key=lambda v: (v["device"], v["snapshot_id"]),
        )
        changed = set_changed_bytes([v["changed_bytes"] for v in volumes])
        points.append(
            {
                "backup_set_id": set_id,
                "instance_id": first.get(SOURCE_INSTANCE_TAG, ""),
                "run_id": first.get(RUN_ID_TAG, ""),
                "created_at": _iso(created),
                "age_seconds": max(int((now - created).total_seconds()), 0),
                "complete": complete,
                "suspect": _flagged(tagged, SUSPECT_TAG),
                "held": _flagged(tagged, HOLD_TAG),
                "app_consistent": app_consistent_of(tagged),
                "instance": {
                    "name": first.get("Name"),
                    "instance_type": first.get(INSTANCE_TYPE_TAG),
                    "platform": first.get(PLATFORM_TAG),
                    "architecture": first.get(ARCHITECTURE_TAG),
                },
                "changed_bytes": changed,
                "estimated_monthly_cost_usd": monthly_cost_usd(changed, price_per_gb_month),
                "volumes": volumes,
                "_created": created,
            }
        )
    points.sort(key=lambda p: (p["_created"], p["backup_set_id"]), reverse=True)
    for point in points:
        del point["_created"]
    return points


def managed_snapshots(
    ec2: EC2Client,
    *,
    instance_id: str | None = None,
    name: str | None = None,
    backup_set_id: str | None = None,
) -> list[dict[str, Any]]:
    """The vault's snapshots in `ec2`'s region of one instance (by id or Name tag), optionally of one set.

    One paginated DescribeSnapshots, filtered on the server by tags: the region's other snapshots never
    come back, however many there are.
    """
    filters = [{"Name": f"tag:{MANAGED_BY_KEY}", "Values": [MANAGED_BY_VALUE]}]
    if instance_id is not None:
        filters.append({"Name": f"tag:{SOURCE_INSTANCE_TAG}", "Values": [instance_id]})
    if name is not None:
        filters.append({"Name": "tag:Name", "Values": [name]})
    if backup_set_id is not None:
        filters.append({"Name": f"tag:{BACKUP_SET_TAG}", "Values": [backup_set_id]})
    return list(aws.own_snapshots(ec2, filters))


def list_recovery_points(
    ec2: EC2Client,
    region: str,
    *,
    instance_id: str | None,
    name: str | None,
    now: datetime,
    measurements: Any = None,
    price_per_gb_month: float = 0.05,
) -> dict[str, Any]:
    """The recovery points of one instance (by id or by its Name tag) in `region`, from that region only.

    `measurements` (a `change_ledger.ChangeLedger` of this region, primary region only) gives the primary
    snapshots' changed bytes: one Query per source volume.
    """
    items = managed_snapshots(ec2, instance_id=instance_id, name=name)
    measured: dict[str, int] = {}
    if measurements is not None:
        volumes = {aws.tags_to_dict(i.get("Tags")).get(SOURCE_VOLUME_TAG) for i in items}
        for volume_id in sorted(v for v in volumes if v):
            measured.update(
                (m.snapshot_id, m.changed_bytes) for m in measurements.history(volume_id, limit=None)
            )
    points = group_recovery_points(items, now, measured, price_per_gb_month)
    if items:  # (v3) Snapshot Lock: locked_until, lock_mode, immutable
        with_locks(points, locks_of(ec2, [i["SnapshotId"] for i in items]), now)
    return {"instance_id": instance_id, "name": name, "region": region, "recovery_points": points}
