"""Pure: reading the three event kinds (documented samples under tests/events)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smart_vault.backup.events import FullRun, Ignored, SnapshotsCompleted, parse_event, snapshot_id_from_arn
from smart_vault.errors import ValidationError

EVENTS = Path(__file__).resolve().parents[1] / "events"


def sample(name):
    return json.loads((EVENTS / name).read_text())


def test_scheduled_event_is_a_full_run_named_after_the_event_id():
    request = parse_event(sample("eventbridge_scheduled.json"))
    assert request == FullRun("53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", False, None)


def test_dry_run_setting_applies_to_scheduled_runs():
    assert parse_event(sample("eventbridge_scheduled.json"), default_dry_run=True).dry_run is True


def test_multi_volume_completion_lists_its_snapshots():
    request = parse_event(sample("ebs_create_snapshots_succeeded.json"))
    assert request == SnapshotsCompleted(
        "01234567-0123-0123-0123-012345678901", ("snap-01234567", "snap-012345678")
    )


def test_single_snapshot_completion():
    request = parse_event(sample("ebs_create_snapshot_succeeded.json"))
    assert isinstance(request, SnapshotsCompleted) and request.snapshot_ids == ("snap-01234567",)
    assert not request.failed


@pytest.mark.parametrize("name", ["ebs_create_snapshots_failed.json", "ebs_create_snapshot_failed.json"])
def test_failed_completion(name):
    request = parse_event(sample(name))
    assert isinstance(request, SnapshotsCompleted) and request.failed
    assert request.cause == "Snapshot snap-01234567 is in status error"


def test_other_ec2_events_are_ignored():
    event = sample("ebs_create_snapshot_succeeded.json")
    event["detail"]["event"] = "deleteSnapshot"
    assert isinstance(parse_event(event), Ignored)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:ec2::us-east-1:snapshot/snap-01234567",
        "arn:aws:ec2:us-west-2::snapshot/snap-0123456789abcdef0",
    ],
)
def test_snapshot_ids_from_both_arn_forms(arn):
    assert snapshot_id_from_arn(arn).startswith("snap-0123456")


def test_manual_runs():
    assert parse_event({}, "req-1") == FullRun("manual-req-1", False, None)
    assert parse_event({"dry_run": True}, "req-1") == FullRun("manual-req-1", True, None)
    request = parse_event(
        {"instance_ids": ["i-0123456789abcdef0", "i-0123456789abcdef0", "i-00000000aaaaaaaa1"]}, "r"
    )
    assert request.instance_ids == ("i-00000000aaaaaaaa1", "i-0123456789abcdef0")
    assert parse_event({}, None).run_id.startswith("manual-")


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ([], None),
        ({"dry_run": 1}, "dry_run"),
        ({"instance_ids": []}, "instance_ids"),
        ({"instance_ids": ["i-123"]}, "instance_ids"),
        ({"instance_ids": [7]}, "instance_ids"),
        ({"extra": 1}, "extra"),
        ({"source": "aws.events", "detail-type": "Scheduled Event"}, "id"),
        ({"source": "aws.ec2", "detail-type": "EBS Snapshot Notification", "id": "x"}, "detail"),
        (
            {
                "source": "aws.ec2",
                "detail-type": "EBS Snapshot Notification",
                "id": "x",
                "detail": {"event": "createSnapshot", "snapshot_id": "nope"},
            },
            "detail.snapshot_id",
        ),
        ({"source": "aws.health", "detail-type": "AWS Health Event"}, "source"),
    ],
)
def test_invalid_events_name_the_field(event, field):
    with pytest.raises(ValidationError) as raised:
        parse_event(event, "r")
    assert raised.value.field == field
