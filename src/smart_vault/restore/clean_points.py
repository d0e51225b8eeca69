"""(v3) Recover clean by default: which recovery point a full-instance restore that names none uses.

The newest complete recovery point that is not suspect (`smart-vault:suspect=true` on any of its snapshots,
set by the backup when a volume's change rate was anomalous). The newer suspect ones it skipped are named in a
warning on the job; when every complete one is suspect, the request is refused (409) and says how to proceed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smart_vault import aws
from smart_vault.change_rate import choose_clean_point, skipped_warning
from smart_vault.errors import Conflict
from smart_vault.restore.recovery_points import is_complete, set_created_at
from smart_vault.tags import SUSPECT_TAG


def clean_recovery_point(
    instance_id: str, region: str, sets: Mapping[str, list[Mapping[str, Any]]]
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """(v3) The newest complete set that is not suspect, with a warning naming the newer suspect ones."""
    points = [
        {
            "backup_set_id": set_id,
            "created_at": set_created_at(items).isoformat(),
            "complete": is_complete(items),
            "suspect": any(aws.tags_to_dict(i.get("Tags")).get(SUSPECT_TAG) == "true" for i in items),
        }
        for set_id, items in sets.items()
    ]
    chosen, skipped = choose_clean_point(points)
    if chosen is None:
        raise Conflict(
            f"every complete recovery point of instance {instance_id} in {region} is suspect (an anomalous "
            "change rate); name one with backup_set_id to restore it anyway, or clear it (docs/anomalies.md)"
        )
    set_id = str(chosen["backup_set_id"])
    return sets[set_id], [skipped_warning(skipped, set_id)] if skipped else []
