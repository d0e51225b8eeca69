"""The sweep's rules, without AWS: which resources are a drill's own, when a drill is over, how much time the
sweep takes, and how the report shows it (smart_vault.drill.sweep)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smart_vault.drill.records import FINAL_RESERVE_SECONDS, TEARDOWN_RESERVE_SECONDS
from smart_vault.drill.run import shrink, summary_text
from smart_vault.drill.sweep import (
    LAMBDA_MAX_SECONDS,
    SWEEP_AFTER,
    SWEEP_MAX_SECONDS,
    SWEEP_MIN_SECONDS,
    Leftover,
    created_at,
    drill_id_of,
    empty_sweep,
    group_leftovers,
    sweep_budget,
)
from support.drill_world import swept_drill

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
DRILL = "3b1e6f7a-0c1d-4e5f-8a9b-0c1d2e3f4a5b"


def tags(**values: str) -> list[dict[str, str]]:
    names = {"managed": "ManagedBy", "drill": "smart-vault:drill-id", "restore": "smart-vault:restore-id"}
    return [{"Key": names[k], "Value": v} for k, v in values.items()]


def drill_tags(drill_id: str = DRILL) -> list[dict[str, str]]:
    return tags(managed="smart-vault", drill=drill_id, restore=drill_id)


@pytest.mark.parametrize(
    ("given", "owner"),
    [
        (drill_tags(), DRILL),
        (tags(managed="smart-vault", restore=DRILL), None),  # a restore by the restore API
        (tags(drill=DRILL, restore=DRILL), None),  # not managed
        (tags(managed="someone-else", drill=DRILL, restore=DRILL), None),
        (tags(managed="smart-vault", drill=DRILL, restore="another"), None),  # the teardown would not find it
        (tags(managed="smart-vault", drill=DRILL), None),
        (tags(managed="smart-vault", drill="", restore=""), None),
    ],
)
def test_only_a_drills_own_resources_are_its(given, owner):
    assert drill_id_of({t["Key"]: t["Value"] for t in given}) == owner


def test_creation_times_as_ec2_gives_them():
    assert created_at(NOW) == NOW
    assert created_at(NOW.replace(tzinfo=None)) == NOW  # naive: UTC
    assert created_at("2026-12-06T03:00:00.000Z") == NOW  # an image's CreationDate
    assert created_at(None) is None and created_at("yesterday") is None and created_at(42) is None


def test_resources_are_grouped_by_drill_and_dated_by_the_oldest():
    other = "5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f"
    instances = [{"InstanceId": "i-1", "LaunchTime": NOW - timedelta(minutes=5), "Tags": drill_tags()}]
    volumes = [
        {"VolumeId": "vol-1", "CreateTime": NOW - timedelta(minutes=5), "Tags": drill_tags()},
        {"VolumeId": "vol-2", "CreateTime": NOW - timedelta(hours=3), "Tags": drill_tags(other)},
        {
            "VolumeId": "vol-r",
            "CreateTime": NOW - timedelta(days=9),
            "Tags": tags(managed="smart-vault", restore="r"),
        },
    ]
    images = [{"ImageId": "ami-1", "CreationDate": "2026-12-06T02:50:00.000Z", "Tags": drill_tags()}]

    found = group_leftovers(instances, volumes, images)

    assert found == [
        Leftover(other, (), ("vol-2",), (), NOW - timedelta(hours=3)),  # the oldest drill first
        Leftover(DRILL, ("i-1",), ("vol-1",), ("ami-1",), NOW - timedelta(minutes=10)),
    ]
    assert found[1].resource_ids == ["ami-1", "i-1", "vol-1"]


def test_a_drill_is_over_only_when_its_oldest_resource_is_older_than_lambdas_limit_and_the_margin():
    assert SWEEP_AFTER > timedelta(seconds=LAMBDA_MAX_SECONDS)
    assert not Leftover(DRILL, since=NOW - SWEEP_AFTER).over(NOW)
    assert Leftover(DRILL, since=NOW - SWEEP_AFTER - timedelta(seconds=1)).over(NOW)
    assert not Leftover(DRILL, since=NOW - timedelta(minutes=3)).over(NOW)
    # EC2 showed no creation time: nothing proves the drill is over.
    assert not Leftover(DRILL, since=None).over(NOW + timedelta(days=365))
    volume = {"VolumeId": "vol-1", "Tags": drill_tags()}
    [undated] = group_leftovers([], [volume], [])
    assert undated.since is None and not undated.over(NOW)


def test_the_sweep_takes_what_the_drills_do_not_need_within_its_bounds():
    reserves = TEARDOWN_RESERVE_SECONDS + FINAL_RESERVE_SECONDS
    assert sweep_budget(900, 600) == SWEEP_MAX_SECONDS  # the defaults: 230 s to spare
    assert sweep_budget(900, 900 - reserves - 50) == 50
    assert sweep_budget(900, 840) == SWEEP_MIN_SECONDS  # the longest drills: a little of their time
    assert sweep_budget(reserves + 10, 600) == 10  # never the time a teardown and the report need
    assert sweep_budget(20, 600) == 0


def test_the_report_shows_the_sweep_and_sns_gets_its_counts():
    sweep = {
        "swept": [
            swept_drill("d-1", "2026-12-05T03:00:00Z", ["i-1", "vol-1"]),
            swept_drill(
                "d-2",
                "2026-12-05T03:05:00Z",
                ["i-2"],
                ["ami-2"],
                ["image ami-2 was not deregistered (UnauthorizedOperation: not allowed)"],
            ),
        ],
        "recent": [{"drill_id": "d-3", "since": "2026-12-06T02:59:00Z", "resources": ["i-3"]}],
        "deferred": [{"drill_id": "d-4", "since": "2026-12-05T04:00:00Z", "resources": ["vol-4"]}],
        "error": None,
    }
    report = {
        "drill_run_id": "run-1",
        "region": "eu-central-1",
        "dry_run": False,
        "status": "NOTHING_TO_DRILL",
        "drills": [],
        "planned": [],
        "skipped": [],
        "overdue": 0,
        "sweep": sweep,
    }

    text = summary_text(report)

    assert "swept drill d-1 (since 2026-12-05T03:00:00Z): removed i-1, vol-1" in text
    assert "NOT removed: ami-2" in text and "UnauthorizedOperation: not allowed" in text
    assert (
        "may still be running: drill d-3: i-3" in text
        and "left for the next run (no time): drill d-4" in text
    )
    assert shrink(report)["sweep"] == {
        "removed": 3,
        "swept": [sweep["swept"][1]],
        "recent": 1,
        "deferred": 1,
        "error": None,
    }
    assert "earlier drills" not in summary_text({**report, "sweep": None})  # a dry run
    assert "earlier drills" not in summary_text({**report, "sweep": empty_sweep()})  # nothing to sweep
