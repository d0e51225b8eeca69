"""Measuring with the EBS direct APIs: every page (empty ones with a NextToken too), pacing, throttling."""

from __future__ import annotations

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from smart_vault import aws
from smart_vault.backup import entry
from smart_vault.backup.ebs_direct import MAX_ATTEMPTS, EbsDirect, MeasurementStopped
from smart_vault.errors import AwsError
from smart_vault.local.ebs_blocks import BLOCK_SIZE, BLOCKS_PER_GIB, SCAN_WINDOW_BLOCKS, BlockModel, page
from smart_vault.pacing import Rate
from support.backup_world import backup_settings
from support.injection import fast_retries


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


class ScriptedEbs:
    """Answers from a script of pages (or errors), recording each request."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []

    def _next(self, **params):
        self.calls.append(params)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    list_changed_blocks = _next
    list_snapshot_blocks = _next


def throttled(code="ThrottlingException"):
    return ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "ListChangedBlocks")


def blocks(n):
    return [{"BlockIndex": i} for i in range(n)]


def direct(ebs, clock=None, rate=Rate(50.0, 10)):
    clock = clock or Clock()
    return EbsDirect(ebs, rate=rate, clock=clock, sleep=clock.sleep)


def test_every_page_is_read_including_empty_pages_that_carry_a_next_token():
    ebs = ScriptedEbs(
        [
            {"ChangedBlocks": blocks(3), "BlockSize": BLOCK_SIZE, "VolumeSize": 100, "NextToken": "a"},
            {"ChangedBlocks": [], "BlockSize": BLOCK_SIZE, "NextToken": "b"},  # scarce: empty, not the end
            {"ChangedBlocks": [], "BlockSize": BLOCK_SIZE, "NextToken": "c"},
            {"ChangedBlocks": blocks(2), "BlockSize": BLOCK_SIZE},
        ]
    )
    count = direct(ebs).changed("snap-parent", "snap-new")
    assert count.blocks == 5
    assert count.bytes == 5 * BLOCK_SIZE
    assert count.requests == 4
    assert count.volume_size_gib == 100
    assert [c.get("NextToken") for c in ebs.calls] == [None, "a", "b", "c"]
    assert all(c["FirstSnapshotId"] == "snap-parent" and c["MaxResults"] == 10_000 for c in ebs.calls)


def test_a_first_snapshot_counts_its_written_blocks():
    ebs = ScriptedEbs([{"Blocks": blocks(7), "BlockSize": BLOCK_SIZE, "VolumeSize": 8}])
    count = direct(ebs).written("snap-1")
    assert (count.blocks, count.bytes) == (7, 7 * BLOCK_SIZE)
    assert ebs.calls == [{"SnapshotId": "snap-1", "MaxResults": 10_000}]


@pytest.mark.parametrize("code", ["ThrottlingException", "RequestThrottledException"])
def test_a_throttled_page_is_retried_with_backoff(code):
    clock = Clock()
    ebs = ScriptedEbs(
        [throttled(code), throttled(code), {"ChangedBlocks": blocks(1), "BlockSize": BLOCK_SIZE}]
    )
    meter = direct(ebs, clock)
    count = meter.changed("a", "b")
    assert count.blocks == 1
    assert count.requests == 3 and count.throttled == 2
    assert len(clock.slept) == 2 and all(0 <= s <= 20 for s in clock.slept)


def test_throttling_past_every_attempt_and_other_errors_surface_as_aws_errors():
    ebs = ScriptedEbs([throttled()] * MAX_ATTEMPTS)
    with pytest.raises(AwsError) as caught:
        direct(ebs).changed("a", "b")
    assert caught.value.code == "ThrottlingException"
    assert len(ebs.calls) == MAX_ATTEMPTS
    gone = ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "ListChangedBlocks")
    ebs = ScriptedEbs([gone])
    with pytest.raises(AwsError) as caught:
        direct(ebs).changed("a", "b")
    assert caught.value.code == "ResourceNotFoundException" and len(ebs.calls) == 1


def test_pages_are_paced_to_the_rate():
    clock = Clock()
    pages = [{"ChangedBlocks": [], "BlockSize": BLOCK_SIZE, "NextToken": str(i)} for i in range(29)]
    ebs = ScriptedEbs([*pages, {"ChangedBlocks": [], "BlockSize": BLOCK_SIZE}])
    direct(ebs, clock, rate=Rate(10.0, 10)).changed("a", "b")
    # 30 requests at 10 a second after a burst of 10: 2 seconds of waiting.
    assert sum(clock.slept) == pytest.approx(2.0)


def test_the_block_model_pages_add_up_with_empty_pages_where_changes_are_scarce():
    size_gib = 500
    count = 1000  # 0.2 % of the volume
    total, empties, token, starts = 0, 0, None, []
    while True:
        answer = page(count, size_gib, 10_000, token, changed=True)
        found = list(answer["ChangedBlocks"])
        starts += [b["BlockIndex"] for b in found]
        total += len(found)
        empties += not found
        token = answer.get("NextToken")
        if not token:
            break
    assert total == count
    assert starts == sorted(starts) and len(set(starts)) == count
    assert max(starts) < size_gib * BLOCKS_PER_GIB
    assert total / size_gib / BLOCKS_PER_GIB < 0.01


def test_the_block_model_caps_a_page_at_max_results_and_answers_empty_pages_with_a_token():
    answer = page(200_000, 200, 10_000, None, changed=True)
    assert len(answer["ChangedBlocks"]) == 10_000 and "NextToken" in answer
    answer = page(1, 500, 100, None, changed=True)  # the one block sits at index 0
    second = page(1, 500, 100, answer["NextToken"], changed=True)
    assert len(second["ChangedBlocks"]) == 0 and int(second["NextToken"]) == 2 * SCAN_WINDOW_BLOCKS
    assert len(page(10, 8, 50, None, changed=False)["Blocks"]) == 10  # MaxResults under 100 counts as 100


def test_writes_are_unions_between_two_snapshot_times():
    model = BlockModel()
    model.write("vol-1", 0.5, at=10.0)
    model.write("vol-1", 0.5, at=20.0)
    assert model.changed_fraction("vol-1", 0.0, 15.0) == pytest.approx(0.5)
    assert model.changed_fraction("vol-1", 0.0, 25.0) == pytest.approx(0.75)
    assert model.changed_fraction("vol-1", 20.0, 25.0) == 0.0
    assert model.changed_blocks("vol-1", 0.0, 25.0, 8) == round(0.75 * 8 * BLOCKS_PER_GIB)


# ------------------------------------------------------------------ one retry layer, and the deadline


class Throttling:
    """botocore's HTTP layer answering every request 429 ThrottlingException (counts the requests sent)."""

    def __init__(self, client):
        self.sent = 0
        client.meta.events.register("before-send.ebs.ListChangedBlocks", self.answer)

    def answer(self, request, **_):
        self.sent += 1
        body = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
        raw = type("Raw", (), {"stream": lambda self, **_: iter([body])})()
        return AWSResponse(request.url, 429, {"x-amzn-ErrorType": "ThrottlingException"}, raw)


def test_the_backup_functions_ebs_client_leaves_the_retries_to_the_measurement(monkeypatch):
    """Two retry layers multiply: botocore's 11 attempts under each of the measurement's 8 would be 88
    requests for one throttled page. The client `entry` builds makes one attempt a call."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    fast_retries(monkeypatch)  # botocore's own backoff, if any, without its sleeps
    aws.reset_clients()
    settings = backup_settings(CHANGE_ANOMALY_FACTOR="5")
    try:
        ebs = entry._clients(settings).ebs
        http = Throttling(ebs)
        with pytest.raises(AwsError) as caught:
            direct(ebs).changed("snap-a", "snap-b")
    finally:
        aws.reset_clients()
    assert caught.value.code == "ThrottlingException"
    assert http.sent == MAX_ATTEMPTS  # one layer: 8 requests, not 8 x 11


def test_a_throttled_measurement_ends_when_the_invocation_must_stop():
    clock = Clock()
    ebs = ScriptedEbs([throttled()] * MAX_ATTEMPTS)
    deadline = 30.0  # seconds of the fake clock after which the invocation's tail must stop

    with pytest.raises(MeasurementStopped):
        direct(ebs, clock).changed("a", "b", should_stop=lambda: clock.now >= deadline)

    # It stopped at the first check past the deadline: at most one wait beyond it, never all 8 attempts.
    assert clock.now < deadline + 20.0
    assert len(ebs.calls) < MAX_ATTEMPTS
    with pytest.raises(MeasurementStopped):  # past the deadline, no request is sent at all
        direct(ebs, clock).written("c", should_stop=lambda: True)
