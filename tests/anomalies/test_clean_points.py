"""Recover clean by default: restores and drills that name no recovery point skip suspect ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smart_vault.config import BackupSettings, RestoreApiSettings
from smart_vault.drill.selection import PointSummary, select_drills
from smart_vault.errors import ConfigError, Conflict
from smart_vault.restore.clean_points import clean_recovery_point
from smart_vault.restore.recovery_points import group_recovery_points
from smart_vault.tags import LINUX_PLATFORM

T0 = datetime(2026, 6, 20, 1, tzinfo=UTC)


def snapshot(set_id, day, suspect=False, held=False, changed=None, state="completed", sid=None):
    tags = {
        "ManagedBy": "smart-vault",
        "smart-vault:backup-set": set_id,
        "smart-vault:set-size": "1",
        "smart-vault:source-instance": "i-0123456789abcdef0",
        "smart-vault:source-volume": "vol-1",
    }
    if suspect:
        tags["smart-vault:suspect"] = "true"
    if held:
        tags["smart-vault:hold"] = "true"
    if changed is not None:
        tags["smart-vault:changed-bytes"] = str(changed)
    return {
        "SnapshotId": sid or f"snap-{set_id}",
        "State": state,
        "StartTime": T0 + timedelta(days=day),
        "VolumeSize": 8,
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }


def test_a_restore_naming_no_point_takes_the_newest_clean_one_and_names_the_skipped():
    sets = {s: [snapshot(s, d, suspect=d >= 2)] for s, d in (("a", 0), ("b", 1), ("c", 2), ("d", 3))}
    items, warnings = clean_recovery_point("i-0123456789abcdef0", "eu-west-1", sets)
    assert items == sets["b"]
    assert (
        len(warnings) == 1 and "c (" in warnings[0] and "d (" in warnings[0] and warnings[0].endswith(", b")
    )


def test_no_warning_when_nothing_was_skipped_and_a_409_when_every_point_is_suspect():
    sets = {"a": [snapshot("a", 0)], "b": [snapshot("b", 1)]}
    assert clean_recovery_point("i-0123456789abcdef0", "eu-west-1", sets) == (sets["b"], [])
    with pytest.raises(Conflict) as caught:
        clean_recovery_point("i-0123456789abcdef0", "eu-west-1", {"a": [snapshot("a", 0, suspect=True)]})
    assert "suspect" in caught.value.message and "backup_set_id" in caught.value.message


def test_a_drill_takes_the_last_clean_point_and_knows_what_it_skipped():
    points = [
        PointSummary("i-1", "clean", T0, True, platform=LINUX_PLATFORM),
        PointSummary("i-1", "attacked", T0 + timedelta(days=1), True, platform=LINUX_PLATFORM, suspect=True),
        PointSummary("i-1", "after", T0 + timedelta(days=2), True, platform=LINUX_PLATFORM, suspect=True),
    ]
    plan = select_drills(points, {}, 5)
    assert [(p.backup_set_id, p.skipped_suspect) for p in plan.planned] == [("clean", ("after", "attacked"))]
    only_suspect = select_drills(points[1:], {}, 5, instance_ids=["i-1"])
    assert only_suspect.planned == () and only_suspect.skipped[0][0] == "i-1"


def test_recovery_points_sum_their_volumes_and_need_every_volume_measured():
    items = [snapshot("a", 0, changed=3 * 2**30, sid="snap-1"), snapshot("a", 0, sid="snap-2")]
    for item in items:
        item["Tags"] = [
            t if t["Key"] != "smart-vault:set-size" else {**t, "Value": "2"} for t in item["Tags"]
        ]
    [point] = group_recovery_points(items, T0 + timedelta(days=1), price_per_gb_month=0.05)
    assert point["changed_bytes"] is None and point["estimated_monthly_cost_usd"] is None
    [point] = group_recovery_points(items, T0 + timedelta(days=1), {"snap-2": 2**30}, 0.05)
    assert point["changed_bytes"] == 4 * 2**30
    assert point["estimated_monthly_cost_usd"] == pytest.approx(0.2)
    assert sorted(v["changed_bytes"] for v in point["volumes"]) == [2**30, 3 * 2**30]
    assert point["suspect"] is False and point["held"] is False


BACKUP_ENV = {
    "AWS_REGION": "eu-west-1",
    "DR_REGION": "eu-central-1",
    "SNS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:t",
    "DR_KMS_KEY_ID": "alias/dr",
    "COPY_LEDGER_TABLE": "ledger",
}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CHANGE_ANOMALY_FACTOR", "five", "must be a number"),
        ("CHANGE_ANOMALY_FACTOR", "-1", "between 0 and 1000"),
        ("CHANGE_ANOMALY_MIN_GIB", "x", "must be a number"),
        ("SNAPSHOT_PRICE_PER_GB_MONTH", "101", "between 0 and 100"),
    ],
)
def test_bad_settings_name_their_variable(name, value, message):
    env = {**BACKUP_ENV, name: value}
    with pytest.raises(ConfigError) as caught:
        BackupSettings.from_env(env)
    assert caught.value.variable == name
    assert message in str(caught.value)


def test_settings_defaults_follow_the_contract():
    settings = BackupSettings.from_env(BACKUP_ENV)
    assert (settings.change_anomaly_factor, settings.change_anomaly_min_gib) == (5.0, 1.0)
    assert settings.snapshot_price_per_gb_month == 0.05
    api = RestoreApiSettings.from_env(
        {
            "AWS_REGION": "eu-west-1",
            "DR_REGION": "eu-central-1",
            "RESTORE_WORKER_FUNCTION": "w",
            "RESTORE_JOBS_TABLE": "jobs",
            "IDEMPOTENCY_TABLE": "idem",
            "COPY_LEDGER_TABLE": "",
        }
    )
    assert api.change_ledger_table is None and api.snapshot_price_per_gb_month == 0.05
