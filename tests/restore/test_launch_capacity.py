"""RunInstances answering InsufficientInstanceCapacity (the zone has none of the type now; moto always has):
the engine asks again after 15, 30, 60 s while its deadline leaves room, each time with a ClientToken of its
own, as AWS advises for that error; with no room left the restore fails with EC2's answer."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from smart_vault.errors import AwsError
from smart_vault.restore.engine.base import RestoreAttempt
from smart_vault.restore.engine.polling import Deadline
from support.fake_clock import FakeClock


class _Attempt(RestoreAttempt):
    def execute(self) -> None:
        raise NotImplementedError

    def result_fields(self) -> dict:
        return {}


class _Zone:
    """EC2 with no capacity for the first `short` launches."""

    def __init__(self, short: int) -> None:
        self.short = short
        self.tokens: list[str] = []

    def run_instances(self, **call: object) -> dict:
        self.tokens.append(str(call["ClientToken"]))
        if len(self.tokens) <= self.short:
            error = {
                "Code": "InsufficientInstanceCapacity",
                "Message": "We currently do not have sufficient t3.small capacity in the Availability Zone you requested",
            }
            raise ClientError({"Error": error}, "RunInstances")
        return {"Instances": [{"InstanceId": "i-0123456789abcdef0"}]}


def attempt(zone: _Zone, engine_clock: FakeClock, seconds_left: float) -> _Attempt:
    deadline = Deadline(seconds_left=seconds_left, reserve_seconds=60, clock=engine_clock)
    return _Attempt(zone, "r-1", recorder=None, deadline=deadline)  # type: ignore[arg-type]


def test_no_capacity_is_asked_again_with_a_token_of_its_own(engine_clock):
    zone = _Zone(short=2)
    restore = attempt(zone, engine_clock, seconds_left=800)
    assert restore.launch({"InstanceType": "t3.small"}) == "i-0123456789abcdef0"
    assert engine_clock.slept == [15.0, 30.0]
    assert len(set(zone.tokens)) == 3 and all(len(t) <= 64 for t in zone.tokens)
    assert len(restore.warnings) == 2 and "t3.small capacity" in restore.warnings[0]


def test_the_tokens_are_the_same_when_the_attempt_runs_again(engine_clock):
    first, again = _Zone(short=2), _Zone(short=2)
    attempt(first, engine_clock, 800).launch({"InstanceType": "t3.small"})
    attempt(again, engine_clock, 800).launch({"InstanceType": "t3.small"})
    assert first.tokens == again.tokens


def test_without_room_in_the_deadline_the_restore_fails_with_ec2s_answer(engine_clock):
    zone = _Zone(short=10)
    restore = attempt(zone, engine_clock, seconds_left=200)
    with pytest.raises(AwsError) as failed:
        restore.launch({"InstanceType": "t3.small"})
    assert failed.value.code == "InsufficientInstanceCapacity"
    assert engine_clock.now < 200 - 60  # never waits into the reserve
