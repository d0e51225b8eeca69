"""The backup handler against moto with the emulated EBS direct APIs: measure, judge, mark, hold, notify,
and a restore that recovers clean by default."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT_ID
from moto.ec2.models import ec2_backends, elastic_block_store

from smart_vault.backup import entry as backup
from smart_vault.backup.change_ledger import ChangeLedger
from smart_vault.backup.ledger import CopyLedger
from smart_vault.change_rate import GIB
from smart_vault.local import moto_ebs
from smart_vault.local.ebs_blocks import BlockModel
from smart_vault.restore.checks import find_recovery_point
from smart_vault.restore.recovery_points import list_recovery_points
from support.backup_world import (
    COPY_LEDGER_TABLE,
    DR_REGION,
    PRIMARY_REGION,
    backup_context,
    completion_event,
    scheduled_event,
    tags_of,
)


class SnapshotClock:
    """The time moto stamps EBS snapshots (and volumes) with, and the time of the writes: virtual, so that each
    night's run starts in a second of its own without sleeping to it. It starts an hour before the real now,
    on a whole second; every reading moves it 1 ms forward, as time passes between real calls."""

    def __init__(self) -> None:
        self.now = 0.0

    def start(self) -> None:
        self.now = float(int(time.time()) - 3600)

    def read(self) -> float:
        self.now += 0.001
        return self.now

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.read(), UTC).replace(tzinfo=None)  # naive, as moto's utcnow()

    def next_second(self) -> None:
        self.now = int(self.now) + 1.01


CLOCK = SnapshotClock()


@pytest.fixture
def fleet(fleet, monkeypatch):
    monkeypatch.setattr(moto_ebs, "MODEL", BlockModel())
    CLOCK.start()
    monkeypatch.setattr(elastic_block_store, "utcnow", CLOCK.utcnow)
    return fleet


def run(day: int) -> dict:
    # DescribeSnapshots gives StartTime to the second: each night's set starts in a second of its own.
    CLOCK.next_second()
    return backup.handler(scheduled_event(f"run-day-{day}"), backup_context())


def write(volume_id: str, fraction: float) -> None:
    CLOCK.now += 0.01  # the write falls between two snapshots
    moto_ebs.MODEL.write(volume_id, fraction, CLOCK.read())
    CLOCK.now += 0.01


def sets_of(fleet, instance_id, region=PRIMARY_REGION):
    sets: dict[str, list] = {}
    for snap in fleet.snapshots(region, **{"smart-vault:source-instance": instance_id}):
        sets.setdefault(tags_of(snap)["smart-vault:backup-set"], []).append(snap)
    return sets


def anomalies(inbox):
    return [
        m for m in inbox.messages() if m["MessageAttributes"]["event_type"]["Value"] == "anomaly.detected"
    ]


def normal_days(fleet, volumes, count, start=1):
    for day in range(start, start + count):
        for volume in volumes:
            write(volume, 0.02)
        run(day)


def test_an_encrypted_volume_makes_its_set_suspect_holds_the_last_clean_one_and_notifies_once(fleet, inbox):
    instance = fleet.launch("web-1", {"Backup-Tier": "Gold", "Name": "web-1"}, volumes=2)
    volumes = fleet.volumes_of(instance)
    data = volumes["/dev/sdf"]
    run(0)  # first snapshots: written bytes, never judged
    normal_days(fleet, volumes.values(), 3)
    clean = {k for k in sets_of(fleet, instance)}
    write(data, 0.8)  # the attacker encrypts the data volume
    report = run(4)
    assert report["failures"] == []
    suspect_set = next(iter(set(sets_of(fleet, instance)) - clean))
    last_clean = max(clean, key=lambda s: min(x["StartTime"] for x in sets_of(fleet, instance)[s]))

    for region in (PRIMARY_REGION, DR_REGION):
        sets = sets_of(fleet, instance, region)
        assert all(tags_of(s).get("smart-vault:suspect") == "true" for s in sets[suspect_set]), region
        assert all(tags_of(s).get("smart-vault:hold") == "true" for s in sets[last_clean]), region
        assert not any(
            tags_of(s).get("smart-vault:suspect") for k, v in sets.items() if k != suspect_set for s in v
        )
    copies = sets_of(fleet, instance, DR_REGION)[suspect_set]
    assert all(int(tags_of(c)["smart-vault:changed-bytes"]) >= 0 for c in copies)

    messages = anomalies(inbox)
    assert len(messages) == 1
    assert messages[0]["Subject"] == f"Smart Vault ANOMALY {instance} web-1"
    document = json.loads(messages[0]["Message"])
    assert document["volume_id"] == data
    assert document["suspect_backup_set_id"] == suspect_set
    assert document["held_backup_set_id"] == last_clean
    assert document["changed_bytes"] == round(0.8 * 8 * 2048) * 512 * 1024
    assert document["multiple_of_median"] >= 5

    # A restore that names no recovery point takes the last clean one and says what it skipped.
    items, warnings = find_recovery_point(fleet.ec2, instance, None, PRIMARY_REGION)
    assert tags_of(items[0])["smart-vault:backup-set"] == last_clean
    assert suspect_set in warnings[0]
    items, warnings = find_recovery_point(fleet.dr, instance, None, DR_REGION)
    assert tags_of(items[0])["smart-vault:backup-set"] == last_clean
    # Named, the suspect one is restored, with a warning.
    items, warnings = find_recovery_point(fleet.ec2, instance, suspect_set, PRIMARY_REGION)
    assert tags_of(items[0])["smart-vault:backup-set"] == suspect_set and "suspect" in warnings[0]

    # The next night the encrypted disk changes normally: still suspect (inherited), no second alarm.
    normal_days(fleet, volumes.values(), 1, start=5)
    assert anomalies(inbox) == []
    items, _ = find_recovery_point(fleet.ec2, instance, None, PRIMARY_REGION)
    assert tags_of(items[0])["smart-vault:backup-set"] == last_clean


def test_recovery_points_show_suspect_held_changed_bytes_and_cost_in_both_regions(fleet, inbox):
    instance = fleet.launch("db-1", {"Backup-Tier": "Gold"}, volumes=1)
    (root,) = fleet.volumes_of(instance).values()
    run(0)
    normal_days(fleet, [root], 3)
    write(root, 0.9)
    run(4)
    ledger = ChangeLedger(boto3.client("dynamodb", PRIMARY_REGION), COPY_LEDGER_TABLE)
    for region, client, measurements in ((PRIMARY_REGION, fleet.ec2, ledger), (DR_REGION, fleet.dr, None)):
        answer = list_recovery_points(
            client,
            region,
            instance_id=instance,
            name=None,
            now=__import__("datetime").datetime.now(__import__("datetime").UTC),
            measurements=measurements,
            price_per_gb_month=0.05,
        )
        points = answer["recovery_points"]
        assert [p["suspect"] for p in points] == [True, False, False, False, False], region
        assert [p["held"] for p in points] == [False, True, False, False, False], region
        newest = points[0]
        expected = round(0.9 * 8 * 2048) * 512 * 1024
        assert newest["changed_bytes"] == expected == newest["volumes"][0]["changed_bytes"]
        assert newest["estimated_monthly_cost_usd"] == pytest.approx(expected / GIB * 0.05, abs=1e-6)
        assert points[-1]["changed_bytes"] == 4 * GIB  # the first snapshot: half of 8 GiB written


def test_too_few_measurements_never_alarm_and_a_replaced_volume_starts_a_new_history(fleet, inbox):
    instance = fleet.launch("app-1", {"Backup-Tier": "Gold"}, volumes=2)
    volumes = fleet.volumes_of(instance)
    run(0)
    normal_days(fleet, volumes.values(), 1)
    write(volumes["/dev/sdf"], 0.9)  # a huge change with one earlier measurement: not judged
    run(2)
    assert anomalies(inbox) == []
    normal_days(fleet, volumes.values(), 3, start=3)
    # The data volume is replaced by a new one (a restore, a migration): its first snapshot is written bytes.
    fleet.ec2.detach_volume(VolumeId=volumes["/dev/sdf"], InstanceId=instance, Force=True)
    zone = fleet.ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0][
        "Placement"
    ]
    new = fleet.ec2.create_volume(AvailabilityZone=zone["AvailabilityZone"], Size=8)["VolumeId"]
    fleet.ec2.attach_volume(VolumeId=new, InstanceId=instance, Device="/dev/sdg")
    moto_ebs.MODEL.volume(new).used_fraction = 0.9
    run(6)
    assert anomalies(inbox) == []
    history = ChangeLedger(boto3.client("dynamodb", PRIMARY_REGION), COPY_LEDGER_TABLE).history(new)
    assert [(m.method, m.changed_bytes) for m in history] == [("written", round(0.9 * 8 * 2048) * 512 * 1024)]


def test_detection_off_measures_nothing(fleet, inbox, monkeypatch):
    monkeypatch.setenv("CHANGE_ANOMALY_FACTOR", "0")
    instance = fleet.launch("off-1", {"Backup-Tier": "Gold"}, volumes=1)
    run(0)
    copies = sets_of(fleet, instance, DR_REGION)
    assert copies and all("smart-vault:changed-bytes" not in tags_of(c) for v in copies.values() for c in v)


def test_a_parent_deleted_since_makes_the_next_snapshot_a_first_measurement(fleet, inbox):
    instance = fleet.launch("gone-1", {"Backup-Tier": "Gold"}, volumes=1)
    (root,) = fleet.volumes_of(instance).values()
    run(0)
    for snap in fleet.snapshots(PRIMARY_REGION, **{"smart-vault:source-instance": instance}):
        fleet.ec2.delete_snapshot(SnapshotId=snap["SnapshotId"])
    write(root, 0.02)
    report = run(1)
    assert report["failures"] == []
    history = ChangeLedger(boto3.client("dynamodb", PRIMARY_REGION), COPY_LEDGER_TABLE).history(root)
    assert [m.method for m in history] == ["written", "written"]
    copies = [c for v in sets_of(fleet, instance, DR_REGION).values() for c in v]
    assert all("smart-vault:changed-bytes" in tags_of(c) for c in copies)


def test_a_set_waiting_for_a_copy_slot_is_judged_when_it_completes(fleet, inbox, monkeypatch):
    """Issue 21: at fleet scale a night's copies wait hours for the 20 slots. A set is measured and judged when
    its primaries complete, not when its copy starts: a drill or restore in between picks the clean point."""
    monkeypatch.setenv("MAX_CONCURRENT_COPIES", "1")
    instance = fleet.launch("web-1", {"Backup-Tier": "Gold", "Name": "web-1"}, volumes=2)
    volumes = fleet.volumes_of(instance)
    run(0)
    normal_days(fleet, volumes.values(), 3)
    clean = set(sets_of(fleet, instance))
    last_clean = max(clean, key=lambda s: min(x["StartTime"] for x in sets_of(fleet, instance)[s]))
    # Another copy holds the only slot (moto completes copies at once; in AWS a large one runs for hours).
    busy = next(iter(sets_of(fleet, instance, DR_REGION)[last_clean]))
    ec2_backends[ACCOUNT_ID][DR_REGION].snapshots[busy["SnapshotId"]].status = "pending"
    write(volumes["/dev/sdf"], 0.8)  # the attacker encrypts the data volume before the night's backup
    run(4)
    suspect_set = next(iter(set(sets_of(fleet, instance)) - clean))
    primaries = [s["SnapshotId"] for s in sets_of(fleet, instance)[suspect_set]]
    assert suspect_set not in sets_of(fleet, instance, DR_REGION)  # no slot: its copies are owed

    report = backup.handler(
        completion_event("ebs_create_snapshots_succeeded.json", primaries), backup_context()
    )

    assert report["copies_started"] == [] and report["failures"] == []
    assert suspect_set not in sets_of(fleet, instance, DR_REGION)  # still waiting for the slot
    assert all(tags_of(s).get("smart-vault:suspect") == "true" for s in sets_of(fleet, instance)[suspect_set])
    assert all(tags_of(s).get("smart-vault:hold") == "true" for s in sets_of(fleet, instance)[last_clean])
    assert [json.loads(m["Message"])["suspect_backup_set_id"] for m in anomalies(inbox)] == [suspect_set]
    items, warnings = find_recovery_point(fleet.ec2, instance, None, PRIMARY_REGION)
    assert tags_of(items[0])["smart-vault:backup-set"] == last_clean and suspect_set in warnings[0]
    # The queue keeps the figures: the copies, when a slot frees, carry them from their creation.
    ledger = CopyLedger(boto3.client("dynamodb", PRIMARY_REGION), COPY_LEDGER_TABLE)
    queued = {o.snapshot_id: o.tags for o in ledger.owed(limit=10)}
    assert set(queued) == set(primaries)
    assert all(int(t["smart-vault:changed-bytes"]) >= 0 for t in queued.values())
    data_snapshot = next(
        o for o, t in queued.items() if t["smart-vault:source-volume"] == volumes["/dev/sdf"]
    )
    assert queued[data_snapshot]["smart-vault:suspect"] == "true"
    assert int(queued[data_snapshot]["smart-vault:changed-bytes"]) == round(0.8 * 8 * 2048) * 512 * 1024
