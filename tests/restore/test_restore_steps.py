"""Pure parts of the restore engine: client tokens, sizes, poll budgets, deadlines; the volume wait."""

from __future__ import annotations

import uuid

import pytest

from smart_vault.errors import AwsError
from smart_vault.restore.engine import (
    Deadline,
    client_token,
    poll,
    restore_tags,
    volume_size_and_iops,
)
from smart_vault.restore.engine.polling import wait_volume_usable


def test_client_tokens_are_a_pure_function_of_restore_id_and_purpose():
    restore_id = str(uuid.uuid4())
    assert client_token(restore_id, "volume") == client_token(restore_id, "volume")
    assert client_token(restore_id, "volume") != client_token(restore_id, "instance")
    assert client_token(restore_id, "volume") != client_token(str(uuid.uuid4()), "volume")
    assert len(client_token(restore_id, "instance")) <= 64  # EC2's limit


def test_restored_resources_are_tagged_as_the_contract_says():
    assert restore_tags("r-1", "snap-0123456789abcdef0") == {
        "ManagedBy": "smart-vault",
        "smart-vault:restore-id": "r-1",
        "smart-vault:source-snapshot": "snap-0123456789abcdef0",
    }


@pytest.mark.parametrize(
    ("volume_type", "snapshot_gib", "expected"),
    [
        ("gp3", 8, (8, None)),
        ("gp2", 500, (500, None)),
        ("standard", 1, (1, None)),
        ("st1", 8, (125, None)),
        ("sc1", 200, (200, None)),
        ("io1", 8, (8, 400)),
        ("io2", 1, (4, 200)),  # io1 and io2 volumes start at 4 GiB (CreateVolume refuses a smaller one)
        ("io1", 3, (4, 200)),
        ("io2", 4, (4, 200)),
        ("io1", 1000, (1000, 3000)),
    ],
)
def test_volume_size_and_iops_meet_each_volume_types_minimums(volume_type, snapshot_gib, expected):
    assert volume_size_and_iops(volume_type, snapshot_gib) == expected


@pytest.mark.parametrize(("budget", "calls", "waited"), [(60, 13, 60), (7, 2, 5), (-30, 1, 0)])
def test_a_poll_ends_within_its_budget_and_describes_at_least_once(virtual_time, budget, calls, waited):
    made = []
    with pytest.raises(AwsError) as raised:
        poll(
            lambda: made.append(1), lambda _: False, lambda _: None, budget_seconds=budget, delay=5, what="x"
        )
    assert raised.value.code == "WaiterError"
    assert (len(made), virtual_time[0]) == (calls, waited)


def test_deadline_counts_down_and_keeps_its_reserve():
    now = [100.0]
    deadline = Deadline(seconds_left=300, reserve_seconds=60, clock=lambda: now[0])
    assert deadline.remaining() == 300
    assert deadline.budget() == 240
    now[0] += 200
    assert deadline.remaining() == 100
    assert deadline.budget() == 40


class _Volumes:
    """describe_volumes answers: NotFound a few times (just created), then the given states."""

    def __init__(self, not_found: int, states: list[str]) -> None:
        self.not_found, self.states, self.calls = not_found, states, 0

    def describe_volumes(self, VolumeIds):
        from botocore.exceptions import ClientError

        self.calls += 1
        if self.not_found:
            self.not_found -= 1
            raise ClientError(
                {"Error": {"Code": "InvalidVolume.NotFound", "Message": "no"}}, "DescribeVolumes"
            )
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"Volumes": [{"VolumeId": VolumeIds[0], "State": state}]}


@pytest.fixture
def virtual_time():
    from smart_vault import aws

    now = [0.0]
    aws.set_clock(lambda: now[0], lambda s: now.__setitem__(0, now[0] + s))
    yield now
    aws.set_clock(None, None)


def test_a_volume_just_created_is_waited_for_through_not_found(virtual_time):

    ec2 = _Volumes(not_found=4, states=["creating", "available"])
    wait_volume_usable(ec2, "vol-0123456789abcdef0", 600)
    assert ec2.calls == 6 and virtual_time[0] < 60


def test_a_volume_in_error_fails_at_once_with_a_readable_reason(virtual_time):

    ec2 = _Volumes(not_found=0, states=["creating", "error"])
    with pytest.raises(AwsError) as raised:
        wait_volume_usable(ec2, "vol-0123456789abcdef0", 600)
    assert "state error" in raised.value.readable() and virtual_time[0] < 30


def test_not_found_is_retried_for_at_least_a_minute_then_reported(virtual_time):

    ec2 = _Volumes(not_found=10_000, states=["available"])
    with pytest.raises(AwsError) as raised:
        wait_volume_usable(ec2, "vol-0123456789abcdef0", 600)
    assert raised.value.code == "InvalidVolume.NotFound"
    assert virtual_time[0] >= 60
