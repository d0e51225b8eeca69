"""The restore job store: conditional writes, leases, the public view (DynamoDB emulated by moto)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from smart_vault.authz.tf_parse import parse_dir
from smart_vault.restore.jobs import (
    ABANDONED_AFTER,
    ABANDONED_ERROR,
    FAILED,
    INTERRUPTED,
    PENDING,
    PUBLIC_FIELDS,
    RUNNING,
    SUCCEEDED,
    UNSTARTED_ERROR,
    WORKER_EVENT_AGE,
    WORKER_TIMEOUT,
    LeaseLost,
    RestoreJobStore,
    abandoned,
    iso_time,
    new_job,
    public_view,
)

TABLE = "jobs"
RESTORE_ID = "0b6f7a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


@pytest.fixture
def store(moto_aws) -> RestoreJobStore:
    boto3.client("dynamodb", "eu-west-1").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "restore_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "restore_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    store = RestoreJobStore(TABLE)
    store.create(new_job(RESTORE_ID, "eu-west-1", {"snapshot_id": "snap-0123456789abcdef0"}, T0))
    return store


def test_new_jobs_are_pending_with_a_ttl_a_month_out():
    job = new_job(RESTORE_ID, "eu-central-1", {"a": 1}, T0)
    assert job["status"] == PENDING
    assert job["created_at"] == job["updated_at"] == "2026-11-27T18:00:00Z"
    assert job["expires_at"] == int((T0 + timedelta(days=30)).timestamp())
    assert public_view(job) == {
        "restore_id": RESTORE_ID,
        "status": PENDING,
        "region": "eu-central-1",
        "request": {"a": 1},
        "volume_id": None,
        "instance_id": None,
        "steps": [],
        "error": None,
        "created_at": "2026-11-27T18:00:00Z",
        "updated_at": "2026-11-27T18:00:00Z",
        "mode": "volume",
        "backup_set_id": None,
        "volume_ids": [],
        "image_id": None,
        "warnings": [],
    }
    assert tuple(public_view(job)) == PUBLIC_FIELDS


def test_an_instance_job_records_its_set_and_warnings():
    request = {"instance_id": "i-0123456789abcdef0", "backup_set_id": "bset-0123456789abcdef0123"}
    job = new_job(
        RESTORE_ID,
        "eu-central-1",
        request,
        T0,
        mode="instance",
        backup_set_id="bset-0123456789abcdef0123",
        warnings=["the recorded instance profile x is not allowed"],
    )
    view = public_view(job)
    assert view["mode"] == "instance"
    assert view["backup_set_id"] == "bset-0123456789abcdef0123"
    assert view["request"] == request
    assert view["warnings"] == ["the recorded instance profile x is not allowed"]
    assert (view["volume_ids"], view["volume_id"], view["image_id"]) == ([], None, None)
    # The worker saves the volumes it restored; the v1 field shows the first of them.
    job |= {"volume_ids": ["vol-1", "vol-2"], "image_id": "ami-1", "instance_id": "i-1"}
    assert public_view(job)["volume_id"] == "vol-1"
    with pytest.raises(ValueError, match="mode"):
        new_job(RESTORE_ID, "eu-central-1", request, T0, mode="disk")


def test_a_job_written_before_v2_shows_as_a_volume_restore():
    old = {
        "restore_id": RESTORE_ID,
        "status": SUCCEEDED,
        "region": "eu-west-1",
        "request": {"snapshot_id": "snap-0123456789abcdef0"},
        "volume_id": "vol-1",
        "instance_id": None,
        "steps": [],
        "error": None,
        "created_at": "2026-11-27T18:00:00Z",
        "updated_at": "2026-11-27T18:05:00Z",
    }
    view = public_view(old)
    assert (view["mode"], view["volume_ids"], view["warnings"], view["backup_set_id"]) == (
        "volume",
        ["vol-1"],
        [],
        None,
    )


def test_an_instance_job_round_trips_through_dynamodb(store):
    job = new_job(
        "1b6f7a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        "eu-west-1",
        {"instance_id": "i-0123456789abcdef0", "ami_id": None, "security_group_ids": ["sg-1"]},
        T0,
        mode="instance",
        backup_set_id="bset-0123456789abcdef0123",
    )
    store.create(job)
    stored = store.get(job["restore_id"])
    assert public_view(stored) == public_view(job)


def test_iso_time_is_utc_with_z():
    assert (
        iso_time(datetime(2026, 1, 2, 4, 5, 6, 789, tzinfo=UTC) + timedelta(hours=0))
        == "2026-01-02T04:05:06Z"
    )


def test_a_restore_id_is_never_reused(store):
    with pytest.raises(Exception, match="ConditionalCheckFailed"):
        store.create(new_job(RESTORE_ID, "eu-west-1", {}, T0))


def test_the_job_round_trips_with_plain_json_types(store):
    job = store.get(RESTORE_ID)
    assert job["expires_at"] == int((T0 + timedelta(days=30)).timestamp())
    assert isinstance(job["expires_at"], int)
    assert store.get("00000000-0000-0000-0000-000000000000") is None


def test_one_worker_holds_the_lease_until_it_ends(store):
    held = store.claim(RESTORE_ID, "worker-a", T0, T0 + timedelta(minutes=15))
    assert held["status"] == RUNNING and held["attempts"] == 1
    assert store.claim(RESTORE_ID, "worker-b", T0 + timedelta(minutes=5), T0 + timedelta(minutes=20)) is None
    with pytest.raises(LeaseLost):
        store.record(RESTORE_ID, "worker-b", {"volume_id": "vol-1"}, T0)
    store.record(RESTORE_ID, "worker-a", {"volume_id": "vol-1"}, T0 + timedelta(minutes=1))
    # After the lease ends (the first worker's Lambda is dead by then) another worker may take over.
    later = T0 + timedelta(minutes=16)
    taken = store.claim(RESTORE_ID, "worker-b", later, later + timedelta(minutes=15))
    assert taken["attempts"] == 2 and taken["volume_id"] == "vol-1"
    with pytest.raises(LeaseLost):
        store.finish(RESTORE_ID, "worker-a", SUCCEEDED, {}, later)


def test_a_finished_job_cannot_be_claimed_or_changed(store):
    store.claim(RESTORE_ID, "worker-a", T0, T0 + timedelta(minutes=15))
    done = store.finish(RESTORE_ID, "worker-a", FAILED, {"error": "boom"}, T0 + timedelta(minutes=2))
    assert done["status"] == FAILED and done["error"] == "boom" and "lease_expires_at" not in done
    assert store.claim(RESTORE_ID, "worker-b", T0 + timedelta(hours=1), T0 + timedelta(hours=2)) is None
    with pytest.raises(LeaseLost):
        store.finish(RESTORE_ID, "worker-a", SUCCEEDED, {}, T0)
    store.fail_unstarted(RESTORE_ID, "never started", T0)  # no effect on a finished job
    assert store.get(RESTORE_ID)["error"] == "boom"


def test_fail_unstarted_marks_a_pending_job_failed(store):
    store.fail_unstarted(RESTORE_ID, "the restore worker could not be started", T0)
    job = store.get(RESTORE_ID)
    assert job["status"] == FAILED and job["error"] == "the restore worker could not be started"


def test_finish_refuses_non_final_states(store):
    with pytest.raises(ValueError, match="final"):
        store.finish(RESTORE_ID, "worker-a", RUNNING, {}, T0)


def test_a_released_lease_lets_the_next_worker_in_at_once(store):
    store.claim(RESTORE_ID, "worker-a", T0, T0 + timedelta(minutes=15))
    store.release(RESTORE_ID, "worker-b", T0 + timedelta(minutes=1))  # not its lease: no effect
    assert store.claim(RESTORE_ID, "worker-b", T0 + timedelta(minutes=1), T0 + timedelta(minutes=16)) is None
    store.release(RESTORE_ID, "worker-a", T0 + timedelta(minutes=1))
    taken = store.claim(RESTORE_ID, "worker-b", T0 + timedelta(minutes=1), T0 + timedelta(minutes=16))
    assert taken["lease_owner"] == "worker-b"


def test_a_job_is_abandoned_only_when_no_attempt_can_still_run(store):
    job = store.get(RESTORE_ID)
    assert not abandoned(job, T0 + ABANDONED_AFTER)
    assert abandoned(job, T0 + ABANDONED_AFTER + timedelta(seconds=1))
    claimed = store.claim(RESTORE_ID, "w1", T0, lease_until=T0 + ABANDONED_AFTER + timedelta(hours=1))
    assert not abandoned(claimed, T0 + ABANDONED_AFTER + timedelta(minutes=30))  # its lease still runs
    finished = store.finish(RESTORE_ID, "w1", SUCCEEDED, {}, T0 + timedelta(minutes=5))
    assert not abandoned(finished, T0 + timedelta(days=20))


def test_failing_an_abandoned_job_fails_its_running_step_and_never_a_leased_or_finished_one(store):
    late = T0 + ABANDONED_AFTER + timedelta(minutes=1)
    step = {"name": "create_volume", "status": RUNNING, "started_at": iso_time(T0), "finished_at": None}
    store.claim(RESTORE_ID, "w1", T0, lease_until=T0 + timedelta(minutes=15))
    job = store.record(RESTORE_ID, "w1", {"steps": [step]}, T0)
    failed, finished = store.fail_abandoned(job, late)
    assert finished
    assert (failed["status"], failed["error"]) == (FAILED, ABANDONED_ERROR)
    assert failed["steps"] == [{**step, "status": INTERRUPTED, "finished_at": iso_time(late)}]
    assert "lease_expires_at" not in failed
    assert store.fail_abandoned(job, late + timedelta(minutes=1)) == (failed, False)  # finished: left as is
    assert store.claim(RESTORE_ID, "w2", late, lease_until=late + timedelta(minutes=15)) is None


def test_a_job_a_worker_still_holds_is_not_failed_even_if_asked(store):
    store.claim(RESTORE_ID, "w1", T0, lease_until=T0 + ABANDONED_AFTER + timedelta(hours=1))
    job, finished = store.fail_abandoned(store.get(RESTORE_ID), T0 + ABANDONED_AFTER + timedelta(minutes=1))
    assert not finished
    assert job["status"] == RUNNING and job["lease_owner"] == "w1"


def test_the_abandonment_bound_is_the_workers_event_age_and_timeout_in_terraform():
    directory = Path(__file__).resolve().parents[2] / "modules" / "restore_stack"
    (worker,) = [
        block["restore_worker"] for block in parse_dir(directory)["module"] if "restore_worker" in block
    ]
    assert worker["timeout"] == WORKER_TIMEOUT.total_seconds()
    assert worker["async_invocation"]["maximum_event_age_in_seconds"] == WORKER_EVENT_AGE.total_seconds()


def test_a_job_no_worker_ever_started_is_failed_as_unstarted(store):
    late = T0 + ABANDONED_AFTER + timedelta(seconds=1)
    failed, _ = store.fail_abandoned(store.get(RESTORE_ID), late)
    assert (failed["status"], failed["error"], failed["steps"]) == (FAILED, UNSTARTED_ERROR, [])
