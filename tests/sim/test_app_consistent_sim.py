"""(v3) Application-consistent sets at fleet scale, on the simulation (virtual time, SSM model, EC2 buckets)."""

from __future__ import annotations

from smart_vault.sim.app_consistent_scenario import ScriptProfile, one_run

LAMBDA_SECONDS = 900.0


def test_a_thousand_opted_in_instances_in_one_invocation():
    figures = one_run(instances=1000, volumes=2, share=1.0, seed=1)

    print("app-consistent 1000:", figures)  # the figures docs/app-consistent.md quotes
    assert figures["opted_in"] == 1000
    assert figures["continuations"] == 0
    assert figures["instances_ok"] == 1000 and figures["failures"] == []
    assert figures["run_seconds"] < LAMBDA_SECONDS - 120  # the reserve for copies and pruning
    # 40 SendCommand for 1,000 instances (50 a call), one describe per batch, polls per command.
    assert figures["ssm_requests"]["SendCommand"] == 40
    assert figures["ssm_requests"]["DescribeInstanceInformation"] == 20
    assert figures["ssm_requests_per_opted_in_instance"] < 0.5
    # Freezes are measured on the latest thread clock (an upper bound): nearly all thawed by their post-script.
    assert figures["thawed_by_post_script"] >= 950


def test_faults_at_scale_are_reported_per_instance_and_nothing_waits_for_offline_agents():
    profile = ScriptProfile(pre_failure_rate=0.05, post_failure_rate=0.02, offline_rate=0.05)
    figures = one_run(instances=300, volumes=1, share=1.0, seed=7, profile=profile)

    assert figures["continuations"] == 0
    # Failed pre-scripts and offline agents fall back to crash-consistent sets (the default); only failed
    # post-scripts fail instances.
    assert 0 < figures["instances_failed"] < 30
    assert figures["instances_ok"] + figures["instances_failed"] == 300
    assert all("post-script failed" in f["error"] for f in figures["failures"])


def test_a_fifth_opted_in_keeps_freezes_short_beside_plain_instances():
    figures = one_run(instances=500, volumes=2, share=0.2, seed=3)

    assert figures["opted_in"] == 100
    assert figures["continuations"] == 0 and figures["instances_ok"] == 500
    # Frozen instances take their sets before plain ones (EC2's bucket is shared): short freezes.
    assert figures["freeze_seconds_max"] < 30


def test_the_copy_pipeline_is_unchanged_with_a_fifth_of_the_fleet_opted_in():
    from smart_vault.sim.scenario import copy_pipeline, run_scenario

    def week(share):
        scenario = copy_pipeline(instances=30, days=3, seed=7)
        scenario.params.copy_limit = 2  # a small fleet that still fills its copy slots
        scenario.app_consistent_share = share
        return run_scenario(scenario)

    plain, opted = week(0.0), week(0.2)

    for figures in (plain, opted):
        assert (figures["duplicates"], figures["lost"], figures["unsafe_deletions"]) == (0, 0, 0)
        assert figures["spurious_failures"] == 0 and figures["uncopied_at_end"] == 0
        assert figures["run_continuations"] == 0
    assert plain["ssm_requests"] == 0 and opted["ssm_requests"] > 0  # the scripts did run
    # The same copy work. The copies of primaries that fail for good (drawn per run) are retried on a back-off,
    # so each run's failed copies are taken out of its count. Until the simulation replays its seeds exactly
    # (issue 19: the run's worker threads still order its requests), two runs of one seed differ by a few
    # copies even with no scripts at all (268, 266 and 269 copies here), hence 3 % rather than equality.
    made_plain = plain["copies_started"] - plain["failing_copy_failures"]
    made_opted = opted["copies_started"] - opted["failing_copy_failures"]
    assert abs(made_opted - made_plain) <= 0.03 * made_plain
    assert abs(opted["slot_utilisation"] - plain["slot_utilisation"]) < 0.02
    # Loosened from 0.05 for the same reason (issue 19): one seed's runs differ by up to 0.09 here.
    assert abs(opted["dr_complete_vs_bound"] - plain["dr_complete_vs_bound"]) < 0.15
