"""SNS notifications: subjects, the JSON message structure, the 256 KB limit."""

from __future__ import annotations

import json

import boto3

from smart_vault import notify


def test_subject_starts_with_kind_and_ends_with_status():
    assert notify.subject_line("backup", "run-1", "PARTIAL") == "Smart Vault backup run-1: PARTIAL"
    long = notify.subject_line("restore", "x" * 300, "SUCCEEDED")
    assert len(long) <= 100
    assert long.startswith("Smart Vault restore")
    assert long.endswith(": SUCCEEDED")
    assert (
        notify.subject_line("backup", "bad\nline\u00e9", "FAILED") == "Smart Vault backup bad?line?: FAILED"
    )


def test_message_has_text_for_people_and_json_for_machines():
    envelope = json.loads(notify.build_message("3 instances backed up", {"status": "SUCCEEDED", "n": 3}))
    assert envelope["default"] == envelope["email"] == "3 instances backed up"
    for protocol in ("sqs", "lambda", "https"):
        assert json.loads(envelope[protocol]) == {"n": 3, "status": "SUCCEEDED"}


def test_oversized_document_is_shrunk_and_marked_truncated():
    document = {
        "status": "PARTIAL",
        "items": [{"id": f"snap-{i:017x}", "pad": "x" * 50} for i in range(20_000)],
    }

    def shrink(doc):
        return {"status": doc["status"], "item_count": len(doc["items"]), "failures": []}

    message = notify.fit_message("summary", document, shrink)
    assert len(message.encode()) <= notify.SNS_MAX_MESSAGE_BYTES
    sent = json.loads(json.loads(message)["sqs"])
    assert sent == {"status": "PARTIAL", "item_count": 20_000, "failures": [], "truncated": True}


def test_shrunk_document_still_too_large_loses_list_tails_and_says_how_many():
    failures = [{"resource": f"i-{i:017x}", "error": "e" * 200} for i in range(5_000)]
    message = notify.fit_message("summary", {"failures": failures}, lambda doc: {"failures": doc["failures"]})
    assert len(message.encode()) <= notify.SNS_MAX_MESSAGE_BYTES
    sent = json.loads(json.loads(message)["lambda"])
    assert sent["truncated"] is True
    assert 0 < len(sent["failures"]) < 5_000
    assert len(sent["failures"]) + sent["failures_omitted"] == 5_000


def test_small_document_is_sent_whole(moto_aws):
    sns = boto3.client("sns", region_name="eu-west-1")
    sqs = boto3.client("sqs", region_name="eu-west-1")
    topic = sns.create_topic(Name="smart-vault")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="machine")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    message_id = notify.publish(
        topic, "Smart Vault backup r: SUCCEEDED", "text", {"status": "SUCCEEDED"}, "backup.completed"
    )

    body = json.loads(sqs.receive_message(QueueUrl=queue_url)["Messages"][0]["Body"])
    assert body["MessageId"] == message_id
    assert body["Subject"] == "Smart Vault backup r: SUCCEEDED"
    assert json.loads(body["Message"]) == {"status": "SUCCEEDED"}
    assert body["MessageAttributes"]["event_type"]["Value"] == "backup.completed"
