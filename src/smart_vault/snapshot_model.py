"""What backup, retention, copying, reconciliation and restore know of one snapshot in one region: the
`Snapshot` value read from DescribeSnapshots. Pure (no AWS calls); the tag names are in `smart_vault.tags`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smart_vault.aws import tags_to_dict
from smart_vault.tags import (
    DR_COPIED_TAG,
    HOLD_TAG,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    PENDING,
    RUN_ID_TAG,
    SOURCE_INSTANCE_TAG,
    SOURCE_SNAPSHOT_TAG,
    SOURCE_VOLUME_TAG,
)

# (v3) On a primary snapshot: its DR copy completed once; it is owed no copy ever again.


@dataclass(frozen=True)
class Snapshot:
    """What retention and reconciliation need to know about one snapshot in one region."""

    snapshot_id: str
    region: str
    state: str
    start_time: datetime
    volume_id: str = ""
    owner_id: str = ""
    encrypted: bool = False
    kms_key_id: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def managed(self) -> bool:
        return self.tags.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE

    @property
    def held(self) -> bool:
        return self.tags.get(HOLD_TAG, "").strip().lower() == "true"

    @property
    def source_volume(self) -> str:
        """The primary volume it protects: its `smart-vault:source-volume` tag. Only an untagged primary falls
        back to its VolumeId; a DR copy's VolumeId is arbitrary, so an untagged copy is its own group."""
        tagged = self.tags.get(SOURCE_VOLUME_TAG)
        if tagged:
            return tagged
        if self.source_snapshot:
            return f"copy-of:{self.source_snapshot}"
        return self.volume_id

    @property
    def source_instance(self) -> str:
        return self.tags.get(SOURCE_INSTANCE_TAG, "")

    @property
    def source_snapshot(self) -> str:
        """On a DR copy: the primary snapshot it was copied from."""
        return self.tags.get(SOURCE_SNAPSHOT_TAG, "")

    @property
    def dr_copied(self) -> bool:
        """(v3) A primary whose DR copy completed once (`smart-vault:dr-copied=true`)."""
        return self.tags.get(DR_COPIED_TAG, "").strip().lower() == "true"

    @property
    def run_id(self) -> str:
        return self.tags.get(RUN_ID_TAG, "")


def snapshot_from_api(item: Mapping[str, Any], region: str) -> Snapshot:
    """A `Snapshot` from one item of an EC2 DescribeSnapshots answer.

    Reconciliation reads every managed snapshot of a region on each run, so this is called once per snapshot
    per run: the value is built without the frozen dataclass's `__init__` (one `object.__setattr__` per field,
    most of the cost), straight into its `__dict__`. The result is the same value (`==`, `repr`)."""
    snapshot = object.__new__(Snapshot)
    snapshot.__dict__.update(
        snapshot_id=item["SnapshotId"],
        region=region,
        state=item.get("State", PENDING),
        start_time=item["StartTime"],
        volume_id=item.get("VolumeId", ""),
        owner_id=item.get("OwnerId", ""),
        encrypted=bool(item.get("Encrypted", False)),
        kms_key_id=item.get("KmsKeyId", ""),
        tags=tags_to_dict(item.get("Tags")),
    )
    return snapshot
