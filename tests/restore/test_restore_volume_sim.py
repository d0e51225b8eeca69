"""The restore worker's volume path against the simulated EC2 (smart_vault.sim): volumes invisible to describes
for up to 5 s after CreateVolume, `creating` for a while, sometimes ending in `error`. The job store is moto's
DynamoDB; EC2 and the clock are the simulation's, so every wait runs in virtual time."""

from __future__ import annotations

import pytest

from smart_vault import aws
from smart_vault.config import RestoreWorkerSettings
from smart_vault.restore.jobs import RestoreJobStore, new_job
from smart_vault.restore.worker import run_restore
from smart_vault.sim.dynamodb import SimSNS
from smart_vault.sim.ec2 import SimEC2
from smart_vault.sim.scenario import DR, PRIMARY, START
from smart_vault.sim.world import ACCOUNT, SimParams, SimWorld
from smart_vault.tags import MANAGED_BY_KEY, MANAGED_BY_VALUE
from support.restore_world import create_jobs_table

JOBS_TABLE = "smart-vault-restore-jobs-sim"
SETTINGS = RestoreWorkerSettings(
    region=PRIMARY,
    sns_topic_arn=f"arn:aws:sns:{PRIMARY}:{ACCOUNT}:smart-vault",
    restore_jobs_table=JOBS_TABLE,
)


@pytest.fixture
def store(moto_aws):
    return RestoreJobStore(JOBS_TABLE, create_jobs_table(PRIMARY, JOBS_TABLE))


class Sim:
    """One simulated region with a completed managed snapshot; the product's waits on the virtual clock."""

    def __init__(self, **params):
        self.world = SimWorld(SimParams(invisible_max_s=5.0, **params), START, PRIMARY, DR)
        instance = self.world.add_instance(1)
        self.ec2 = SimEC2(self.world, PRIMARY)
        tags = [{"Key": MANAGED_BY_KEY, "Value": MANAGED_BY_VALUE}]
        created = self.ec2.create_snapshots(
            InstanceSpecification={"InstanceId": instance},
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}],
        )
        self.snapshot_id = created["Snapshots"][0]["SnapshotId"]
        while self.world.step():  # the snapshot completes (its event goes nowhere)
            pass
        self.sns = SimSNS()
        self.count = 0

    def restore(self, store, **request):
        self.count += 1
        restore_id = f"r-{self.count:04d}"
        body = {
            "snapshot_id": self.snapshot_id,
            "availability_zone": f"{PRIMARY}a",
            "volume_type": "gp3",
            "launch_instance": False,
            **request,
        }
        store.create(new_job(restore_id, PRIMARY, body, self.world.now()))
        return run_restore(
            restore_id,
            SETTINGS,
            store=store,
            seconds_left=900,
            ec2=self.ec2,
            sns_client=self.sns,
            clock=self.world.now,
        )


@pytest.fixture
def virtual_clock():
    sims: list[Sim] = []

    def make(**params) -> Sim:
        sim = Sim(**params)
        aws.set_clock(sim.world.monotonic, sim.world.sleep)
        sims.append(sim)
        return sim

    yield make
    aws.set_clock(None, None)


def test_restores_whose_volume_is_invisible_after_create_volume_succeed(store, virtual_clock):
    sim = virtual_clock(seed=3)
    jobs = [sim.restore(store) for _ in range(20)]
    assert [j["status"] for j in jobs] == ["SUCCEEDED"] * 20, [j["error"] for j in jobs]
    assert sim.world.volumes.not_found_answers > 0  # the invisibility was met, and waited out
    assert len(sim.world.volumes.live(PRIMARY, sim.snapshot_id)) == 20
    assert {j["volume_id"] for j in jobs} == set(sim.world.volumes.live(PRIMARY, sim.snapshot_id))


def test_a_volume_ending_in_error_fails_at_once_with_a_reason_and_is_deleted(store, virtual_clock):
    sim = virtual_clock(seed=4, volume_error_rate=1.0)
    started = sim.world.clock
    jobs = [sim.restore(store) for _ in range(10)]
    assert [j["status"] for j in jobs] == ["FAILED"] * 10
    assert all("state error" in j["error"] and "rollback incomplete" not in j["error"] for j in jobs)
    assert sim.world.volumes.live(PRIMARY, sim.snapshot_id) == []  # nothing leaked, invisible or not
    assert sim.world.clock - started < 10 * 120  # failed at once, not polled until the budget ran out


def test_a_restore_failing_while_its_volume_is_still_invisible_leaks_nothing(store, virtual_clock):
    """The rollback sees the volume it just created answer NotFound (EC2 not showing it yet): it retries
    instead of taking it as gone, and deletes it."""
    from botocore.exceptions import ClientError

    sim = virtual_clock(seed=5)
    real_describe = sim.ec2.describe_volumes
    failures = []

    def describe_fails_once(**kwargs):
        if kwargs.get("VolumeIds") and not failures:
            failures.append(kwargs["VolumeIds"][0])
            raise ClientError(
                {"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, "DescribeVolumes"
            )
        return real_describe(**kwargs)

    sim.ec2.describe_volumes = describe_fails_once
    job = sim.restore(store)
    assert job["status"] == "FAILED" and "UnauthorizedOperation" in job["error"]
    assert "rollback incomplete" not in job["error"]
    assert failures == [job["volume_id"]]
    assert sim.world.volumes.live(PRIMARY, sim.snapshot_id) == []
