"""The copy pipeline in the simulated AWS with time: the real handler, a virtual week, seeded randomness.

Shortened versions of `bench/run.py --scenario copy-pipeline|overload`: 50 instances x 3 volumes with two
copy slots carry the same copy work per slot as 500 x 3 with 20 slots, so the backlog has the same shape, in
seconds of wall time. (With fewer slots a dropped completion event idles a larger share of them until the
next event or reconciliation, so utilisation here is a pessimistic stand-in for 20 slots.)
"""

from __future__ import annotations

import itertools

import pytest

from smart_vault.sim.scenario import copy_pipeline, overload, run_scenario
from smart_vault.sim.world import SimParams


def scaled(scenario, copy_limit=1):
    scenario.params.copy_limit = copy_limit
    return scenario


@pytest.fixture(scope="module")
def week():
    return run_scenario(scaled(copy_pipeline(instances=50, days=5, seed=7), copy_limit=2))


def test_a_week_of_daily_runs_keeps_every_slot_busy_and_loses_nothing(week):
    assert week["events"]["dropped"] / week["events"]["sent"] >= 0.04  # at-least-once delivery was exercised
    assert week["events"]["duplicated"] > 0
    assert week["slot_utilisation"] >= 0.95
    assert week["dr_complete_vs_bound"] <= 1.10
    figures = (week["duplicates"], week["lost"], week["unsafe_deletions"], week["spurious_failures"])
    assert figures == (0, 0, 0, 0), week["unexpected_failure_samples"]
    assert week["uncopied_at_end"] == 0
    assert week["invocation_errors"] == []


def test_a_week_never_breaks_a_recovery_point_copies_once_and_backs_off_copies_that_fail_for_good(week):
    """(v3) Mixed volume sizes, 1 % of primaries whose copies fail for good, retention shorter than the week:
    the invariants held at every deletion and copy of the run."""
    assert week["broken_recovery_points"] == 0, week["broken_recovery_point_samples"]
    assert week["copies_made_twice"] == 0
    assert week["copies_wasted_on_pruned"] == 0
    assert week["failing_copy_primaries"] > 0  # the failures were exercised
    assert week["failing_copy_retries_per_day_max"] <= 4
    # Every failure counted once in BackupFailures, naming its primary snapshot.
    assert week["failing_copy_failures_reported"] == week["failing_copy_failures"] > 0


def test_overload_shows_a_growing_backlog_and_the_dr_age_alarm():
    figures = run_scenario(scaled(overload(instances=25, days=4, seed=3)))
    assert figures["copy_backlog_last"] > 0 and figures["copy_backlog_max"] >= figures["copy_backlog_last"]
    by_day = figures["copy_backlog_max_by_day"]
    assert all(later > earlier for earlier, later in itertools.pairwise(by_day)), by_day  # grows every day
    assert figures["oldest_owed_max_hours"] > 36
    assert figures["dr_age_alarm"] is True
    assert (figures["duplicates"], figures["lost"], figures["unsafe_deletions"]) == (0, 0, 0)


def test_failed_copies_are_owed_again_never_duplicated_or_lost():
    scenario = scaled(copy_pipeline(instances=10, days=3, seed=11))
    scenario.params = SimParams(seed=11, copy_limit=1, copy_failure_rate=0.1)
    figures = run_scenario(scenario)
    assert (figures["duplicates"], figures["lost"], figures["unsafe_deletions"]) == (0, 0, 0)
    assert figures["uncopied_at_end"] == 0
    assert figures["copies_started"] > 10 * 3 * 3  # the failed ones were copied again


def test_the_same_seed_gives_the_same_run():
    first = run_scenario(scaled(overload(instances=5, days=2, seed=5)))
    second = run_scenario(scaled(overload(instances=5, days=2, seed=5)))
    first.pop("wall_seconds"), second.pop("wall_seconds")
    assert first == second
