"""(v3) "This primary was copied to DR once": the `smart-vault:dr-copied=true` tag on the primary snapshot.

Why a tag on the primary, and not the ledger or the DR copy:
- the DR copy's `smart-vault:source-snapshot` tag says it only while the copy exists; DR retention shorter
  than primary retention prunes the copy, and the primary would look uncopied and be copied again, for the
  rest of its life;
- the ledger's claim items expire (DynamoDB TTL) and can be lost or deleted; the fact must outlive both;
- the tag lives exactly as long as the snapshot it describes, costs nothing to read (every describe of the
  primaries returns it) and one `CreateTags` to write, batched.

It is written when a copy is seen `completed`: by the copy-completion event, and by every full run and
reconciliation for the completed copies whose primary does not carry it yet (a lost event or a failed write
is repaired within 30 minutes). Until the primary carries it, DR pruning keeps its completed copy
(`retention.KEEP_COPY_UNRECORDED`), so no order of events or failures can make a pruned copy be made again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from smart_vault import aws
from smart_vault.backup.retention import completed_copies
from smart_vault.errors import AwsError
from smart_vault.observability import logger
from smart_vault.snapshot_model import Snapshot
from smart_vault.tags import DR_COPIED_TAG

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

# CreateTags takes many resources in one call; batches stay well within the request size.
TAG_BATCH = 200
DR_COPIED = {DR_COPIED_TAG: "true"}
NOT_FOUND = "InvalidSnapshot.NotFound"


def primaries_to_mark(primaries: Iterable[Snapshot], dr_snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    """Pure: the managed primaries with a completed DR copy that are not marked copied yet."""
    done = completed_copies(dr_snapshots)
    return [p for p in primaries if p.managed and p.snapshot_id in done and not p.dr_copied]


def mark_copied(ec2: EC2Client, snapshot_ids: Sequence[str]) -> list[str]:
    """Tag `snapshot_ids` (primaries, in the client's region) `smart-vault:dr-copied=true`; returns the ids
    tagged. A primary deleted since it was described (pruned by an overlapping invocation, or by a person) is
    skipped: EC2 refuses a whole CreateTags with `InvalidSnapshot.NotFound` when one of its resources is gone,
    and one gone primary must not leave the others unmarked (nor end the run's copies and pruning)."""
    tagged: list[str] = []
    for batch in aws.chunks(sorted(set(snapshot_ids)), TAG_BATCH):
        tagged += _tag_existing(ec2, batch)
    return tagged


def _tag_existing(ec2: EC2Client, batch: list[str]) -> list[str]:
    """One CreateTags for `batch`; on NotFound, one describe of the batch (by filter: it names what exists and
    refuses nothing) and one CreateTags of what is left, then one by one if another went meanwhile."""
    try:
        _create_tags(ec2, batch)
        return batch
    except AwsError as exc:
        if exc.code != NOT_FOUND:
            raise
    found = {i["SnapshotId"] for i in aws.own_snapshots(ec2, [{"Name": "snapshot-id", "Values": batch}])}
    existing = [sid for sid in batch if sid in found]
    logger.info(
        "primaries gone before they were marked copied", extra={"snapshot_ids": sorted(set(batch) - found)}
    )
    try:
        if existing:
            _create_tags(ec2, existing)
        return existing
    except AwsError as exc:
        if exc.code != NOT_FOUND:
            raise
    tagged = []
    for sid in existing:
        try:
            _create_tags(ec2, [sid])
        except AwsError as exc:
            if exc.code != NOT_FOUND:
                raise
            continue
        tagged.append(sid)
    return tagged


def _create_tags(ec2: EC2Client, snapshot_ids: list[str]) -> None:
    with aws.aws_errors("CreateTags"):
        ec2.create_tags(Resources=snapshot_ids, Tags=aws.dict_to_tags(DR_COPIED))


def mark_completed_copies(
    ec2: EC2Client, primaries: Sequence[Snapshot], dr_snapshots: Sequence[Snapshot]
) -> list[Snapshot]:
    """Mark every primary whose copy completed and return `primaries` with the tag as written (AwsError
    through: the caller reports it, and pruning keeps the unmarked copies meanwhile)."""
    todo = primaries_to_mark(primaries, dr_snapshots)
    if not todo:
        return list(primaries)
    marked = set(mark_copied(ec2, [p.snapshot_id for p in todo]))
    return [replace(p, tags={**p.tags, **DR_COPIED}) if p.snapshot_id in marked else p for p in primaries]
