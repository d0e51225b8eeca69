"""`GET /drills` of the restore API: the latest drill of every instance, one instance's history, and the
answers when the region keeps no drill results or the query is malformed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3

from smart_vault.drill import handler
from smart_vault.drill.results import DrillResultStore
from support.drill_world import REGION, RESULTS_TABLE, drill_context, scheduled_event
from support.restore_world import api_event, call_api, set_restore_env


def get_drills(query=None):
    event = api_event("GET", "/drills")
    event["resource"] = event["requestContext"]["resourcePath"] = "/drills"
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()} or None
    return call_api(event)


def test_get_drills_answers_the_latest_drill_of_every_instance_and_one_instance_history(world, monkeypatch):
    first = handler(scheduled_event(), drill_context())
    second = handler({"instance_ids": [world.protected[0].instance_id]}, drill_context())
    set_restore_env(monkeypatch, world.topic_arn)
    monkeypatch.setenv("DRILL_RESULTS_TABLE", RESULTS_TABLE)

    answer = get_drills()
    assert answer.status == 200, answer.body
    latest = {d["instance_id"]: d for d in answer.body["drills"]}
    assert set(latest) == {p.instance_id for p in world.protected}
    [newer] = second["drills"]
    assert latest[newer["instance_id"]] == newer
    assert answer.body["drills"][0] == newer  # newest first

    history = get_drills({"instance_id": newer["instance_id"]})
    assert history.status == 200
    older = next(d for d in first["drills"] if d["instance_id"] == newer["instance_id"])
    assert history.body["drills"] == [newer, older]


def test_history_is_newest_first_and_at_most_50(moto_aws, monkeypatch):
    from support.drill_world import build_world

    world = build_world(count=0)
    store = DrillResultStore(RESULTS_TABLE, boto3.client("dynamodb", REGION))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(55):
        store.put(
            {
                "drill_id": f"d-{n:02d}",
                "instance_id": "i-0123456789abcdef0",
                "started_at": (start + timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "status": "PASSED",
            }
        )
    set_restore_env(monkeypatch, world.topic_arn)
    monkeypatch.setenv("DRILL_RESULTS_TABLE", RESULTS_TABLE)
    answer = get_drills({"instance_id": "i-0123456789abcdef0"})
    assert [d["drill_id"] for d in answer.body["drills"]] == [f"d-{n:02d}" for n in range(54, 4, -1)]
    assert [d["drill_id"] for d in get_drills().body["drills"]] == ["d-54"]
    item = boto3.client("dynamodb", REGION).get_item(
        TableName=RESULTS_TABLE, Key={"pk": {"S": "latest"}, "sk": {"S": "i-0123456789abcdef0"}}
    )["Item"]
    assert int(item["expires_at"]["N"]) == int((start + timedelta(days=54 + 400)).timestamp())


def test_an_older_drill_never_replaces_the_latest(moto_aws):
    from support.drill_world import build_world

    build_world(count=0)
    store = DrillResultStore(RESULTS_TABLE, boto3.client("dynamodb", REGION))
    store.put({"drill_id": "new", "instance_id": "i-0123456789abcdef0", "started_at": "2026-12-02T10:00:00Z"})
    store.put({"drill_id": "old", "instance_id": "i-0123456789abcdef0", "started_at": "2026-12-01T10:00:00Z"})
    assert [d["drill_id"] for d in store.latest()] == ["new"]
    assert [d["drill_id"] for d in store.history("i-0123456789abcdef0")] == ["new", "old"]


def test_get_drills_without_a_results_table_is_not_configured(world, monkeypatch):
    set_restore_env(monkeypatch, world.topic_arn)
    monkeypatch.delenv("DRILL_RESULTS_TABLE", raising=False)
    answer = get_drills()
    assert answer.status == 404
    assert answer.body["error"] == "NotConfigured" and "DRILL_RESULTS_TABLE" in answer.body["message"]


def test_get_drills_rejects_a_bad_instance_id_and_unknown_parameters(world, monkeypatch):
    set_restore_env(monkeypatch, world.topic_arn)
    monkeypatch.setenv("DRILL_RESULTS_TABLE", RESULTS_TABLE)
    bad = get_drills({"instance_id": "web-1"})
    assert bad.status == 400 and bad.body["field"] == "instance_id"
    unknown = get_drills({"limit": "5"})
    assert unknown.status == 400 and unknown.body["field"] == "limit"
