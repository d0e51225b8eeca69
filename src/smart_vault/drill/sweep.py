"""The sweep: what earlier drills left behind, removed at the start of every drill run.

A drill tears down what it created before it returns. A drill whose invocation Lambda ended first (the
function's timeout, a crash, running out of memory) never reaches its teardown: its instance, temporary AMI
and volumes would stay for ever, since nothing else looks for them. So every drill run (not a dry run) first
lists, in its own region, the instances in a live state, the AMIs and the volumes that carry
`ManagedBy=smart-vault` and a `smart-vault:drill-id` equal to their `smart-vault:restore-id`, groups them by
drill, and removes those of every drill that can no longer be running with the drill's own teardown
(`restore.engine.tear_down_outcome`: the same terminate, detach, delete and deregister, the same look for leftovers).
A restore by the restore API carries a restore id and no drill id: it is never swept.

When a drill can no longer be running: a drill runs inside one Lambda invocation, and no invocation runs
longer than Lambda's limit of 900 s, whatever the function's configuration. Every resource of a drill was
created after the drill started, so the oldest creation time EC2 shows among them (an instance's
`LaunchTime`, a volume's `CreateTime`, an image's `CreationDate`) is at or after the drill's start. Once that
is more than the limit plus a margin ago, so is the start, and the drill is over. These times are EC2's own,
not a tag a caller could leave out, and they serve drills from before the sweep existed; an instance stopped
and started again shows a later `LaunchTime`, which only makes the sweep wait longer. A resource without
such a time is no proof: its drill counts as one that may still be running.

The sweep takes what time the run's drills do not need (`sweep_budget`) and starts no removal once too little
of it is left: whatever it did not reach, the next run finds again. Its outcome is the report's `sweep`
section; a listing or a removal that fails is reported there, never raised, and the drills still run. The
restore engine is imported only when there is something to remove (a cold start stays light).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.drill.records import FINAL_RESERVE_SECONDS, TEARDOWN_RESERVE_SECONDS, iso_time, readable
from smart_vault.errors import AwsError
from smart_vault.observability import logger
from smart_vault.runtime import Runtime
from smart_vault.tags import (
    DRILL_ID_TAG,
    IMAGE_DEREGISTERED,
    LIVE_INSTANCE_STATES,
    LIVE_VOLUME_STATES,
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    RESTORE_ID_TAG,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef

    from smart_vault.restore.engine import Deadline

# No Lambda invocation runs longer than this (Lambda's limit; Terraform gives the drill function exactly this).
LAMBDA_MAX_SECONDS = 900.0
# Beyond the limit: the difference between EC2's clock and the function's, with room to spare.
SWEEP_MARGIN_SECONDS = 300.0
# A drill whose oldest resource was created longer ago than this is over: its resources are swept.
SWEEP_AFTER = timedelta(seconds=LAMBDA_MAX_SECONDS + SWEEP_MARGIN_SECONDS)
# The sweep's share of the invocation: at most this much ...
SWEEP_MAX_SECONDS = 120.0
# ... and at least this much, even when DRILL_TIMEOUT_SECONDS leaves the drills no time to spare.
SWEEP_MIN_SECONDS = 30.0
# A removal is started only with this much of the sweep's time left (terminating an instance takes ~20-40 s).
SWEEP_START_MIN_SECONDS = 15.0
# Drills whose resources are removed side by side.
SWEEP_PARALLEL = 5

_OWN_FILTERS: tuple[FilterTypeDef, ...] = (
    {"Name": "tag-key", "Values": [DRILL_ID_TAG]},
    {"Name": f"tag:{MANAGED_BY_KEY}", "Values": [MANAGED_BY_VALUE]},
)
# (API field of the id, API field of the creation time) per kind of resource a drill creates.
_FIELDS = {
    "instance": ("InstanceId", "LaunchTime"),
    "volume": ("VolumeId", "CreateTime"),
    "image": ("ImageId", "CreationDate"),
}


@dataclass(frozen=True)
class Leftover:
    """What one earlier drill still has: its instances, volumes and images, and the oldest creation time
    among them (`since`: its drill started no later; None when EC2 showed no time)."""

    drill_id: str
    instance_ids: tuple[str, ...] = ()
    volume_ids: tuple[str, ...] = ()
    image_ids: tuple[str, ...] = ()
    since: datetime | None = None

    @property
    def resource_ids(self) -> list[str]:
        return sorted({*self.instance_ids, *self.volume_ids, *self.image_ids})

    def over(self, now: datetime, after: timedelta = SWEEP_AFTER) -> bool:
        """Whether its drill can no longer be running (its oldest resource is older than `after`)."""
        return self.since is not None and now - self.since > after

    def entry(self) -> dict[str, Any]:
        return {
            "drill_id": self.drill_id,
            "since": iso_time(self.since) if self.since else None,
            "resources": self.resource_ids,
        }


# ------------------------------------------------------------------------------------------ pure


def drill_id_of(tags: Mapping[str, str]) -> str | None:
    """The drill that created a resource with these tags; None for anything that is not a drill's own (no
    drill id, not managed, or a restore id other than the drill id, which the teardown would not find)."""
    drill_id = tags.get(DRILL_ID_TAG)
    if not drill_id or tags.get(MANAGED_BY_KEY) != MANAGED_BY_VALUE or tags.get(RESTORE_ID_TAG) != drill_id:
        return None
    return drill_id


def created_at(value: Any) -> datetime | None:
    """A creation time as EC2 gives it (a datetime from boto3, or an image's ISO 8601 `CreationDate`), in UTC;
    None when there is none."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def group_leftovers(
    instances: Iterable[Mapping[str, Any]],
    volumes: Iterable[Mapping[str, Any]],
    images: Iterable[Mapping[str, Any]],
) -> list[Leftover]:
    """The listed resources by drill (API items; what is not a drill's own is left out), oldest drill first."""
    found: dict[str, dict[str, Any]] = {}
    for kind, items in (("instance", instances), ("volume", volumes), ("image", images)):
        id_field, time_field = _FIELDS[kind]
        for item in items:
            drill_id = drill_id_of(aws.tags_to_dict(item.get("Tags")))
            if drill_id is None:
                continue
            group = found.setdefault(
                drill_id, {"instance": set(), "volume": set(), "image": set(), "times": []}
            )
            group[kind].add(item[id_field])
            group["times"].append(created_at(item.get(time_field)))
    leftovers = [
        Leftover(
            drill_id,
            tuple(sorted(g["instance"])),
            tuple(sorted(g["volume"])),
            tuple(sorted(g["image"])),
            # Every time is a bound of the start; one missing leaves the others (min of what EC2 showed).
            min((t for t in g["times"] if t is not None), default=None),
        )
        for drill_id, g in found.items()
    ]
    never = datetime.max.replace(tzinfo=UTC)
    return sorted(leftovers, key=lambda left: (left.since or never, left.drill_id))


def sweep_budget(seconds_left: float, timeout_seconds: float) -> float:
    """Seconds the sweep may take: what the run's drills will not need (the invocation's time left minus
    DRILL_TIMEOUT_SECONDS and the drills' teardown and report reserves), at most SWEEP_MAX_SECONDS, at least
    SWEEP_MIN_SECONDS, and never what a drill's teardown and the report need."""
    reserves = TEARDOWN_RESERVE_SECONDS + FINAL_RESERVE_SECONDS
    spare = seconds_left - timeout_seconds - reserves
    return max(0.0, min(SWEEP_MAX_SECONDS, max(spare, SWEEP_MIN_SECONDS), seconds_left - reserves))


def empty_sweep(error: str | None = None) -> dict[str, Any]:
    return {"swept": [], "recent": [], "deferred": [], "error": error}


# ------------------------------------------------------------------------------------------ AWS


def list_drill_resources(ec2: EC2Client) -> tuple[list[Any], list[Any], list[Any]]:
    """The instances in a live state, the volumes not being deleted and the images of this region (this
    account's) that carry a drill id and ManagedBy=smart-vault."""
    reservations = aws.paginate(
        ec2,
        "describe_instances",
        "Reservations",
        page_size=1000,
        Filters=[*_OWN_FILTERS, {"Name": "instance-state-name", "Values": list(LIVE_INSTANCE_STATES)}],
    )
    instances = [instance for r in reservations for instance in r.get("Instances", [])]
    volumes = list(
        aws.paginate(
            ec2,
            "describe_volumes",
            "Volumes",
            page_size=500,
            Filters=[*_OWN_FILTERS, {"Name": "status", "Values": list(LIVE_VOLUME_STATES)}],
        )
    )
    with aws.aws_errors("DescribeImages"):
        images = ec2.describe_images(Owners=["self"], Filters=list(_OWN_FILTERS))["Images"]
    return instances, volumes, [i for i in images if i.get("State") != IMAGE_DEREGISTERED]


def sweep_leftovers(ec2: EC2Client, now: datetime, budget_seconds: float, runtime: Runtime) -> dict[str, Any]:
    """Remove what earlier drills that are over left in the client's region, within `budget_seconds`: the
    report's `sweep` section (`swept`: removed and left per drill; `recent`: drills that may still be running,
    left alone; `deferred`: no time left, for the next run; `error`: the listing failed). Never raises."""
    started = runtime.monotonic()
    try:
        leftovers = group_leftovers(*list_drill_resources(ec2))
    except AwsError as exc:
        logger.error("drill leftovers could not be listed", extra={"error": exc.readable()})
        return empty_sweep(f"the resources of earlier drills could not be listed: {exc.readable()}")
    sweep = empty_sweep()
    sweep["recent"] = [left.entry() for left in leftovers if not left.over(now)]
    due = [left for left in leftovers if left.over(now)]
    if due:
        from smart_vault.restore.engine import Deadline  # the engine only when there is something to remove

        deadline = Deadline(budget_seconds - (runtime.monotonic() - started), 0.0, runtime.monotonic)
        with runtime.executor(min(len(due), SWEEP_PARALLEL), "sweep") as pool:
            futures = [pool.submit(_remove, ec2, left, deadline) for left in due]
            outcomes = [future.result() for future in futures]
        sweep["swept"] = [outcome for outcome in outcomes if outcome is not None]
        sweep["deferred"] = [
            left.entry() for left, outcome in zip(due, outcomes, strict=True) if outcome is None
        ]
    if leftovers:
        logger.info(
            "drill sweep",
            extra={
                "swept": sum(len(s["removed"]) for s in sweep["swept"]),
                "left": sum(len(s["left"]) for s in sweep["swept"]),
                "recent": [r["drill_id"] for r in sweep["recent"]],
                "deferred": [d["drill_id"] for d in sweep["deferred"]],
            },
        )
    return sweep


def _remove(ec2: EC2Client, left: Leftover, deadline: Deadline) -> dict[str, Any] | None:
    """Tear one drill's resources down; its `swept` entry, or None when too little time is left to start."""
    if deadline.remaining() < SWEEP_START_MIN_SECONDS:
        return None
    from smart_vault.restore.engine import TeardownOutcome, tear_down_outcome

    try:
        outcome = tear_down_outcome(
            ec2,
            left.drill_id,
            min(left.instance_ids, default=None),
            min(left.image_ids, default=None),
            list(left.volume_ids),
            deadline,
        )
    except Exception as exc:  # noqa: BLE001 - a sweep that fails is reported; the drills still run
        # Nothing is known to be removed: all of it counts as left.
        failure = f"the sweep of drill {left.drill_id} failed: {readable(exc)}"
        outcome = TeardownOutcome(tuple(left.resource_ids), (failure,))
        logger.error("drill sweep failed", extra={"drill_id": left.drill_id}, exc_info=True)
    remaining = outcome.leftovers  # as a drill's `leftovers`
    entry = {
        "drill_id": left.drill_id,
        "since": iso_time(left.since) if left.since else None,
        "removed": [r for r in left.resource_ids if not any(r in item for item in remaining)],
        "left": remaining,
        "problems": list(outcome.problems),
    }
    log = logger.warning if remaining or outcome.problems else logger.info
    log("drill leftovers swept", extra=entry)
    return entry


# ------------------------------------------------------------------------------------------ the report


def sweep_lines(sweep: Mapping[str, Any] | None) -> list[str]:
    """The sweep in the readable summary (nothing when there was nothing to sweep)."""
    if not sweep or not any(sweep.get(k) for k in ("swept", "recent", "deferred", "error")):
        return []
    lines = ["Leftovers of earlier drills that ended before their teardown:"]
    if sweep.get("error"):
        lines.append(f"  {sweep['error']}")
    for item in sweep.get("swept", []):
        removed = ", ".join(item["removed"]) or "nothing"
        lines.append(f"  swept drill {item['drill_id']} (since {item['since']}): removed {removed}")
        if item["left"]:
            lines.append(f"    NOT removed: {', '.join(item['left'])}")
        lines.extend(f"    {problem}" for problem in item.get("problems", []))
    for item in sweep.get("deferred", []):
        lines.append(
            f"  left for the next run (no time): drill {item['drill_id']}: {', '.join(item['resources'])}"
        )
    for item in sweep.get("recent", []):
        lines.append(
            f"  not swept, may still be running: drill {item['drill_id']}: {', '.join(item['resources'])}"
        )
    return lines


def shrink_sweep(sweep: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The sweep cut down for SNS: its counts, and in full every drill whose resources were not all removed."""
    if sweep is None:
        return None
    return {
        "removed": sum(len(s["removed"]) for s in sweep.get("swept", [])),
        "swept": [s for s in sweep.get("swept", []) if s["left"]],
        "recent": len(sweep.get("recent", [])),
        "deferred": len(sweep.get("deferred", [])),
        "error": sweep.get("error"),
    }
