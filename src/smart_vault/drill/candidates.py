"""What a drill run can drill: every recovery point in the client's region, read from that region only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.drill.selection import PointSummary
from smart_vault.restore.recovery_points import group_recovery_points
from smart_vault.tags import BACKUP_SET_TAG, INSTANCE_PROFILE_TAG, MANAGED_BY_KEY, MANAGED_BY_VALUE

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


@dataclass(frozen=True)
class Candidate:
    """A recovery point with what the drill needs beyond the selection's view of it."""

    point: PointSummary
    instance_type: str | None
    instance_profile_arn: str | None


def _managed_snapshots(ec2: EC2Client) -> Iterator[dict[str, Any]]:
    return aws.own_snapshots(ec2, [{"Name": f"tag:{MANAGED_BY_KEY}", "Values": [MANAGED_BY_VALUE]}])


def recovery_points_here(ec2: EC2Client, now: datetime) -> list[Candidate]:
    """Every recovery point in the client's region, read from that region only (one paginated listing:
    the overdue count needs all of them, also in a manual run of a few instances)."""
    items = list(_managed_snapshots(ec2))
    profiles: dict[str, str] = {}
    for item in items:
        tags = aws.tags_to_dict(item.get("Tags"))
        if tags.get(INSTANCE_PROFILE_TAG) and tags.get(BACKUP_SET_TAG):
            profiles[tags[BACKUP_SET_TAG]] = tags[INSTANCE_PROFILE_TAG]
    candidates = []
    for point in group_recovery_points(items, now):
        if not point["instance_id"]:
            continue
        created = datetime.fromisoformat(point["created_at"].replace("Z", "+00:00"))
        summary = PointSummary(
            instance_id=point["instance_id"],
            backup_set_id=point["backup_set_id"],
            created_at=created,
            complete=point["complete"],
            platform=point["instance"]["platform"],
            name=point["instance"]["name"],
            suspect=point["suspect"],
        )
        candidates.append(
            Candidate(
                point=summary,
                instance_type=point["instance"]["instance_type"],
                instance_profile_arn=profiles.get(point["backup_set_id"]),
            )
        )
    return candidates
