"""moto's EBS direct API, answered from EC2's snapshots and `ebs_blocks.BlockModel` (moto has none for them).

`ListChangedBlocks` and `ListSnapshotBlocks` of snapshots EC2 took (moto's EC2 backend of the same account
and region) answer as AWS documents: pages of at most `MaxResults` blocks, empty pages with a `NextToken`
where changes are scarce, `BlockSize` and `VolumeSize`; an unknown snapshot answers
`ResourceNotFoundException`, and two snapshots of different volumes `ValidationException` (the lineage
must be one). The pages are written as the REST-JSON body directly: moto's generic serializer walks each
block's members by reflection, the most of a backup test's time at a few thousand blocks a snapshot.
`MODEL` is the writes of the emulated volumes: tests, the demo and the local stack write to
it (`MODEL.write(volume_id, fraction, at)`). `apply()` is idempotent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from smart_vault.local.ebs_blocks import BlockModel, page

MODEL = BlockModel()
_APPLIED = "_smart_vault_ebs_blocks"


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _snapshot(response: Any, snapshot_id: str) -> Any:
    from moto.core.exceptions import JsonRESTError
    from moto.ec2.models import ec2_backends

    snapshot = ec2_backends[response.current_account][response.region].snapshots.get(snapshot_id)
    if snapshot is None or snapshot.status != "completed":
        raise JsonRESTError(
            "ResourceNotFoundException", f"The snapshot '{snapshot_id}' does not exist.", status=404
        )
    return snapshot


def _list(response: Any, changed: bool) -> dict[str, Any]:
    from moto.core.exceptions import JsonRESTError

    max_results = response._get_param("MaxResults")
    token = response._get_param("NextToken")
    if changed:
        first = _snapshot(response, response._get_param("FirstSnapshotId"))
        second = _snapshot(response, response._get_param("SecondSnapshotId"))
        if first.volume.id != second.volume.id:
            raise JsonRESTError(
                "ValidationException", "The snapshots are not of the same lineage.", status=400
            )
        count = MODEL.changed_blocks(
            second.volume.id, _epoch(first.start_time), _epoch(second.start_time), second.volume.size
        )
        snapshot = second
    else:
        snapshot = _snapshot(response, response._get_param("SnapshotId"))
        count = MODEL.written_blocks(snapshot.volume.id, _epoch(snapshot.start_time), snapshot.volume.size)
    answer = page(count, snapshot.volume.size, int(max_results) if max_results else None, token, changed)
    key = "ChangedBlocks" if changed else "Blocks"
    answer[key] = list(answer[key])
    return answer


def _body(answer: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    """The answer as the EBS REST-JSON protocol writes it (its members are strings, numbers and lists)."""
    return 200, {"Content-Type": "application/json"}, json.dumps(answer)


def apply() -> None:
    from moto.ebs.responses import EBSResponse

    if getattr(EBSResponse, _APPLIED, False):
        return

    def list_changed_blocks(self: Any) -> Any:
        return _body(_list(self, changed=True))

    def list_snapshot_blocks(self: Any) -> Any:
        return _body(_list(self, changed=False))

    EBSResponse.list_changed_blocks = list_changed_blocks  # type: ignore[method-assign]  # patching moto on purpose
    EBSResponse.list_snapshot_blocks = list_snapshot_blocks  # type: ignore[method-assign]  # patching moto on purpose
    setattr(EBSResponse, _APPLIED, True)
