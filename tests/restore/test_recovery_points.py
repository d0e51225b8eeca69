"""GET /recovery-points: grouping (pure) and the route on moto, reading only the target region."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smart_vault import aws
from smart_vault.restore.recovery_points import group_recovery_points
from support.restore_world import DR_REGION, PRIMARY_REGION, api_event, call_api, make_snapshot, setup_world

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
INSTANCE = "i-0123456789abcdef0"


def item(sid, set_id, minutes_old, state="completed", size="2", device="/dev/xvda"):
    tags = {
        "ManagedBy": "smart-vault",
        "smart-vault:backup-set": set_id,
        "smart-vault:source-instance": INSTANCE,
        "smart-vault:run-id": "run-" + set_id[-1],
        "smart-vault:set-size": size,
        "smart-vault:device": device,
        "smart-vault:source-volume": "vol-" + sid[-1],
        "smart-vault:instance-type": "t3.micro",
        "smart-vault:platform": "Linux/UNIX",
        "Name": "web-1",
    }
    return {
        "SnapshotId": sid,
        "State": state,
        "StartTime": NOW - timedelta(minutes=minutes_old),
        "VolumeSize": 8,
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }


def test_points_are_grouped_by_set_newest_first_with_their_completeness():
    points = group_recovery_points(
        [
            item("snap-1", "bset-old", 120),
            item("snap-2", "bset-old", 120, device="/dev/sdf"),
            item("snap-3", "bset-new", 10),
            item("snap-4", "bset-new", 10, state="pending", device="/dev/sdf"),
            item("snap-5", "bset-short", 60),  # one of two: the other is missing in this region
        ],
        NOW,
    )
    assert [(p["backup_set_id"], p["complete"]) for p in points] == [
        ("bset-new", False),
        ("bset-short", False),
        ("bset-old", True),
    ]
    old = points[2]
    assert old["age_seconds"] == 7200
    assert old["created_at"] == "2026-06-01T10:00:00Z"
    assert old["instance"] == {
        "name": "web-1",
        "instance_type": "t3.micro",
        "platform": "Linux/UNIX",
        "architecture": None,
    }
    assert [v["device"] for v in old["volumes"]] == ["/dev/sdf", "/dev/xvda"]
    assert old["volumes"][0] == {
        "device": "/dev/sdf",
        "snapshot_id": "snap-2",
        "source_volume": "vol-2",
        "size_gib": 8,
        "state": "completed",
        "changed_bytes": None,  # (v3) not measured: no tag, no ledger figure
    }
    assert (old["suspect"], old["held"], old["changed_bytes"], old["estimated_monthly_cost_usd"]) == (
        False,
        False,
        None,
        None,
    )


@pytest.fixture
def world(moto_aws, monkeypatch):
    return setup_world(monkeypatch)


def get_points(params):
    event = api_event("GET", "/recovery-points")
    event["resource"] = event["requestContext"]["resourcePath"] = "/recovery-points"
    event["queryStringParameters"] = params
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (params or {}).items()}
    return call_api(event)


def tag_set(set_id, size="2", **extra):
    return {
        "ManagedBy": "smart-vault",
        "smart-vault:backup-set": set_id,
        "smart-vault:source-instance": INSTANCE,
        "smart-vault:set-size": size,
        "Name": "web-9",
        **extra,
    }


def test_route_lists_the_points_of_the_target_region_only(world):
    make_snapshot(PRIMARY_REGION, tag_set("bset-00000000000000000001"))
    make_snapshot(PRIMARY_REGION, tag_set("bset-00000000000000000001"))
    make_snapshot(DR_REGION, tag_set("bset-00000000000000000002", size="1"))

    primary = get_points({"instance_id": INSTANCE})
    dr = get_points({"name": "web-9", "region": DR_REGION})

    assert primary.status == 200
    assert primary.body["region"] == PRIMARY_REGION and primary.body["instance_id"] == INSTANCE
    assert [(p["backup_set_id"], p["complete"]) for p in primary.body["recovery_points"]] == [
        ("bset-00000000000000000001", True)
    ]
    assert len(primary.body["recovery_points"][0]["volumes"]) == 2
    assert dr.status == 200 and dr.body["name"] == "web-9" and dr.body["instance_id"] is None
    assert [p["backup_set_id"] for p in dr.body["recovery_points"]] == ["bset-00000000000000000002"]


def test_no_recovery_point_is_an_empty_list(world):
    answer = get_points({"instance_id": "i-00000000000000000"})
    assert answer.status == 200 and answer.body["recovery_points"] == []


@pytest.mark.parametrize(
    "params",
    [
        None,
        {"instance_id": INSTANCE, "name": "web-1"},
        {"instance_id": "i-XYZ"},
        {"name": ""},
        {"instance_id": INSTANCE, "region": "us-east-2"},
        {"instance_id": INSTANCE, "limit": "3"},
    ],
)
def test_bad_queries_answer_400(world, params):
    answer = get_points(params)
    assert answer.status == 400
    assert answer.body["error"] == "ValidationError"


def test_listing_in_the_dr_region_makes_no_call_to_the_primary(world):
    make_snapshot(DR_REGION, tag_set("bset-00000000000000000003", size="1"))

    def primary_is_down(**kwargs):
        raise ConnectionError("the primary region is down")

    aws.client("ec2", PRIMARY_REGION).meta.events.register("before-send", primary_is_down)
    answer = get_points({"instance_id": INSTANCE, "region": DR_REGION})

    assert answer.status == 200
    assert [p["complete"] for p in answer.body["recovery_points"]] == [True]
    assert get_points({"instance_id": INSTANCE}).status == 500  # the hook does bite the primary
