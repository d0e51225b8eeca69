"""Scale: continuation across invocations (no instance twice, none lost), pacing and call counts."""

from __future__ import annotations

import json
from collections import Counter

from smart_vault import aws
from smart_vault.backup import entry as backup
from support.backup_world import (
    BACKUP_REQUEST_ID,
    DR_REGION,
    PRIMARY_REGION,
    CallCounter,
    Inbox,
    backup_context,
    fail_operation,
    scheduled_event,
    tags_of,
)
from support.lambda_context import CountdownContext


class SelfInvocations:
    """Captures the function's asynchronous invocations of itself (moto cannot run Lambda code)."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        client = aws.client("lambda", PRIMARY_REGION)
        client.meta.events.register("provide-client-params.lambda.Invoke", self._record)
        client.meta.events.register("before-call.lambda.Invoke", self._answer)

    def _record(self, params, **_):
        self.calls.append(
            {
                "FunctionName": params["FunctionName"],
                "InvocationType": params["InvocationType"],
                "Payload": json.loads(params["Payload"]),
            }
        )

    def _answer(self, **_):
        http = type("Http", (), {"status_code": 202, "headers": {}, "content": b""})()
        return http, {"StatusCode": 202, "ResponseMetadata": {"HTTPStatusCode": 202}}


def run_chain(first_event, invocations, context_factory):
    """Run the first event, then every continuation it asks for, like Lambda would; all reports."""
    reports = [backup.handler(first_event, context_factory())]
    handled = 0
    while handled < len(invocations.calls):
        call = invocations.calls[handled]
        handled += 1
        reports.append(backup.handler(call["Payload"], context_factory()))
    return reports


def test_a_run_continues_across_invocations_without_losing_or_repeating_an_instance(fleet):
    ids = sorted(fleet.launch(f"i{n}", {"Backup-Tier": "Gold", "Name": f"web-{n}"}) for n in range(20))
    invocations = SelfInvocations()
    inbox = Inbox()
    counter = CallCounter(fleet.ec2, fleet.dr)

    # 70 s at the start, 10 s gone at every check: each invocation handles six instances.
    reports = run_chain(
        scheduled_event("big-run"),
        invocations,
        lambda: CountdownContext(
            function_name="smart-vault-backup", aws_request_id=BACKUP_REQUEST_ID, remaining_millis=70_000
        ),
    )

    assert len(invocations.calls) >= 3
    for call in invocations.calls:
        assert call["FunctionName"] == backup_context().invoked_function_arn
        assert call["InvocationType"] == "Event"
        assert call["Payload"]["continuation"]["run_id"] == "big-run"
    cursors = [c["Payload"]["continuation"]["after"] for c in invocations.calls]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)

    # Exactly one snapshot set per instance, all under the one run id.
    snapshots = fleet.managed(PRIMARY_REGION).values()
    per_instance = Counter(tags_of(s)["smart-vault:source-instance"] for s in snapshots)
    assert sorted(per_instance) == ids
    assert set(per_instance.values()) == {1}
    assert {tags_of(s)["smart-vault:run-id"] for s in snapshots} == {"big-run"}
    assert counter.calls["CreateSnapshots"] == 20

    # Each invocation handled a disjoint slice; the last report covers the whole run.
    handled = [i["instance_id"] for r in reports[:-1] for i in r["instances"]]
    assert len(handled) == len(set(handled))
    final = reports[-1]
    assert [i["instance_id"] for i in final["instances"]] == ids
    assert {i["status"] for i in final["instances"]} == {"ok"}
    assert sorted(final["snapshots_created"]) == sorted(s["SnapshotId"] for s in snapshots)
    assert final["status"] == "SUCCEEDED"
    # Copies ran once, in the last invocation, until its own deadline; the rest are deferred, not lost.
    assert len(fleet.managed(DR_REGION)) == len(final["copies_started"]) > 0
    assert len(final["copies_started"]) + final["copies_deferred"] == 20
    assert all(len(r["copies_started"]) == 0 for r in reports[:-1])
    # One notification for the whole run.
    messages = inbox.messages()
    assert len(messages) == 1 and json.loads(messages[0]["Message"]) == final


def test_a_redelivered_continuation_creates_nothing_twice(fleet):
    for n in range(6):
        fleet.launch(f"i{n}", {"Backup-Tier": "Gold"})
    invocations = SelfInvocations()
    run_chain(scheduled_event("dup-run"), invocations, lambda: CountdownContext(remaining_millis=60_000))
    assert invocations.calls
    before = set(fleet.managed(PRIMARY_REGION))
    again = backup.handler(invocations.calls[0]["Payload"], backup_context())
    assert set(fleet.managed(PRIMARY_REGION)) == before
    after = invocations.calls[0]["Payload"]["continuation"]["after"]
    later = [i for i in again["instances"] if i["instance_id"] > after]
    assert later and {i["status"] for i in later} == {"skipped"}
    assert (
        len({tags_of(s)["smart-vault:source-instance"] for s in fleet.managed(PRIMARY_REGION).values()}) == 6
    )


def test_instance_failures_are_carried_to_the_final_report(fleet):
    ids = sorted(fleet.launch(f"i{n}", {"Backup-Tier": "Gold"}) for n in range(8))
    broken = ids[1]
    fail_operation(
        fleet.ec2,
        "CreateSnapshots",
        "UnauthorizedOperation",
        "denied",
        when=lambda params: params["InstanceSpecification"]["InstanceId"] == broken,
    )
    invocations = SelfInvocations()
    reports = run_chain(
        scheduled_event("carry"), invocations, lambda: CountdownContext(remaining_millis=30_000)
    )
    assert len(invocations.calls) >= 2
    final = reports[-1]
    statuses = {i["instance_id"]: i["status"] for i in final["instances"]}
    assert statuses[broken] == "failed"
    assert [k for k, v in statuses.items() if v == "ok"] == [i for i in ids if i != broken]
    assert final["status"] == "PARTIAL"
    assert {"resource": broken, "error": "UnauthorizedOperation: denied"} in final["failures"]


def test_a_continuation_that_cannot_start_is_reported_not_lost(fleet):
    for n in range(6):
        fleet.launch(f"i{n}", {"Backup-Tier": "Gold"})
    inbox = Inbox()
    client = aws.client("lambda", PRIMARY_REGION)

    def refuse(**_):
        http = type("Http", (), {"status_code": 403, "headers": {}, "content": b""})()
        return http, {
            "Error": {"Code": "AccessDeniedException", "Message": "no"},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }

    client.meta.events.register("before-call.lambda.Invoke", refuse)
    report = backup.handler(scheduled_event("broken-chain"), CountdownContext(remaining_millis=60_000))
    assert report["status"] == "PARTIAL"
    failure = next(f for f in report["failures"] if f["resource"] == "continuation")
    assert "were not reached" in failure["error"] and "AccessDeniedException" in failure["error"]
    assert len(inbox.messages()) == 1


def test_every_invocation_moves_forward_even_with_no_time_left(fleet):
    for n in range(3):
        fleet.launch(f"i{n}", {"Backup-Tier": "Gold"})
    invocations = SelfInvocations()
    reports = run_chain(
        scheduled_event("tight"), invocations, lambda: CountdownContext(remaining_millis=1_000, step_ms=5_000)
    )
    assert len(invocations.calls) == 2
    assert len(reports[-1]["instances"]) == 3
    assert len(fleet.managed(PRIMARY_REGION)) == 3


def test_call_counts_per_instance_stay_at_the_floor(fleet):
    for n in range(10):
        fleet.launch(f"i{n}", {"Backup-Tier": "Gold"}, volumes=3)
    counter = CallCounter(fleet.ec2, fleet.dr)
    backup.handler(scheduled_event("floor"), backup_context())
    mutating = counter.calls["CreateSnapshots"] + counter.calls["CreateTags"] + counter.calls["CopySnapshot"]
    assert counter.calls["CreateSnapshots"] == 10
    assert counter.calls["CreateTags"] == 30
    # 30 copies with at most 20 pending: moto completes them at once, so one recount frees the slots.
    assert counter.calls["CopySnapshot"] == 30
    assert mutating == 70
    describes = counter.calls["DescribeInstances"] + counter.calls["DescribeSnapshots"]
    assert describes <= 5  # instances; run-id lookup; primary; DR; one recount of pending copies


def test_an_unexpected_error_fails_that_instance_only(fleet, monkeypatch):
    ids = sorted(fleet.launch(f"i{n}", {"Backup-Tier": "Gold"}) for n in range(3))
    from smart_vault.backup import run as backup_run

    real = backup_run.create_snapshot_set

    def flaky(ec2, instance, run_id, settings):
        if instance.instance_id == ids[0]:
            raise KeyError("SnapshotId")
        return real(ec2, instance, run_id, settings)

    monkeypatch.setattr(backup_run, "create_snapshot_set", flaky)
    report = backup.handler(scheduled_event("unexpected"), backup_context())
    statuses = {i["instance_id"]: i["status"] for i in report["instances"]}
    assert statuses == {ids[0]: "failed", ids[1]: "ok", ids[2]: "ok"}
    assert report["status"] == "PARTIAL"
    assert "KeyError" in next(i["error"] for i in report["instances"] if i["instance_id"] == ids[0])
