from datetime import UTC, datetime, timedelta

from smart_vault.drill.selection import PointSummary, count_overdue, newest_complete, select_drills

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def point(instance_id, days_ago=1, complete=True, platform="Linux/UNIX", set_id=None):
    return PointSummary(
        instance_id=instance_id,
        backup_set_id=set_id or f"bset-{instance_id}-{days_ago}",
        created_at=NOW - timedelta(days=days_ago),
        complete=complete,
        platform=platform,
    )


def ids(plan):
    return [p.instance_id for p in plan.planned]


def test_newest_complete_ignores_incomplete_and_older_points():
    points = [
        point("i-1", 3),
        point("i-1", 1, complete=False),
        point("i-1", 2),
        point("i-2", 1, complete=False),
    ]
    newest = newest_complete(points)
    assert set(newest) == {"i-1"}
    assert newest["i-1"].created_at == NOW - timedelta(days=2)


def test_never_drilled_first_then_oldest_drill_first_capped():
    points = [point("i-a"), point("i-b"), point("i-c"), point("i-d")]
    last = {"i-a": NOW - timedelta(days=1), "i-b": NOW - timedelta(days=9), "i-d": NOW - timedelta(days=3)}
    plan = select_drills(points, last, max_instances=3)
    assert ids(plan) == ["i-c", "i-b", "i-d"]
    assert plan.skipped == ()


def test_windows_is_skipped_with_reason_and_not_counted_against_the_cap():
    points = [point("i-w", platform="Windows"), point("i-l")]
    plan = select_drills(points, {}, max_instances=1)
    assert ids(plan) == ["i-l"]
    assert plan.skipped[0][0] == "i-w" and "Windows" in plan.skipped[0][1]


def test_manual_list_in_order_with_unknown_and_duplicates():
    points = [point("i-1"), point("i-2")]
    plan = select_drills(points, {}, max_instances=5, instance_ids=["i-2", "i-9", "i-2", "i-1"])
    assert ids(plan) == ["i-2", "i-1"]
    assert plan.skipped == (("i-9", "no complete recovery point in this region"),)


def test_manual_list_beyond_cap_is_skipped_not_dropped():
    plan = select_drills([point("i-1"), point("i-2")], {}, max_instances=1, instance_ids=["i-1", "i-2"])
    assert ids(plan) == ["i-1"]
    assert plan.skipped[0][0] == "i-2" and "DRILL_MAX_INSTANCES" in plan.skipped[0][1]


def test_nothing_complete_means_empty_plan():
    assert select_drills([point("i-1", complete=False)], {}, max_instances=5).planned == ()


def test_overdue_counts_never_and_stale_drills_only():
    points = [point("i-1"), point("i-2"), point("i-3"), point("i-4", complete=False)]
    last = {"i-1": NOW - timedelta(days=1), "i-2": NOW - timedelta(days=8)}
    assert count_overdue(points, last, NOW, rotation_days=7) == 2
    assert count_overdue(points, {**last, "i-2": NOW, "i-3": NOW}, NOW, rotation_days=7) == 0
