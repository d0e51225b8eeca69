"""SNS notifications: one message per backup run or finished restore.

Messages are published with `MessageStructure=json`: people (email, SMS, the default) get a readable text
summary, machines (SQS, Lambda, HTTP/S, Firehose) get the JSON document. SNS refuses messages over 256 KiB,
so a document that would not fit is cut down by the caller's `shrink` to its counts and failures, marked
`"truncated": true`; the full document stays in the function's log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smart_vault import aws
from smart_vault.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

SNS_MAX_MESSAGE_BYTES = 262_144
SNS_MAX_SUBJECT = 100
# Room kept for the subject, message attributes and the request's own framing.
_ENVELOPE_HEADROOM = 4_096
_TEXT_MAX_BYTES = 32_768
TEXT_PROTOCOLS = ("default", "email", "sms")
JSON_PROTOCOLS = ("sqs", "lambda", "http", "https", "email-json", "firehose")

Document = dict[str, Any]


def subject_line(kind: str, detail: str, status: str) -> str:
    """`Smart Vault <kind> <detail>: <status>`, within SNS's 100 characters, keeping the status at the end."""
    prefix = f"Smart Vault {kind}"
    suffix = f": {status}"
    room = SNS_MAX_SUBJECT - len(prefix) - len(suffix) - 1
    detail = "".join(ch if ch.isprintable() and ch.isascii() else "?" for ch in detail)
    if room <= 0 or not detail:
        return f"{prefix}{suffix}"[:SNS_MAX_SUBJECT]
    if len(detail) > room:
        detail = detail[: max(room - 3, 0)] + "..."
    return f"{prefix} {detail}{suffix}"


def _cap_text(text: str) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= _TEXT_MAX_BYTES:
        return text
    cut = encoded[: _TEXT_MAX_BYTES - 100].decode("utf-8", errors="ignore")
    return cut + "\n... (summary truncated; the full report is in the function's log)"


def build_message(text: str, document: Document) -> str:
    """The `MessageStructure=json` envelope for `text` and `document`."""
    doc_json = json.dumps(document, separators=(",", ":"), sort_keys=True, default=str)
    text = _cap_text(text)
    envelope = {key: text for key in TEXT_PROTOCOLS}
    envelope.update({key: doc_json for key in JSON_PROTOCOLS})
    return json.dumps(envelope, separators=(",", ":"))


def fit_message(text: str, document: Document, shrink: Callable[[Document], Document] | None) -> str:
    """The envelope, with the document shrunk (and marked truncated) when the whole would pass SNS's limit."""
    limit = SNS_MAX_MESSAGE_BYTES - _ENVELOPE_HEADROOM
    message = build_message(text, document)
    if len(message.encode("utf-8")) <= limit:
        return message
    smaller = dict(shrink(document)) if shrink else {}
    smaller["truncated"] = True
    message = build_message(text, smaller)
    # Shrunk documents keep their failures; thousands of them can still be too large, so drop list tails.
    while len(message.encode("utf-8")) > limit:
        longest = max(
            (k for k, v in smaller.items() if isinstance(v, list) and v),
            key=lambda k: len(smaller[k]),
            default=None,
        )
        if longest is None:
            smaller = {"truncated": True}
            message = build_message(text, smaller)
            break
        values = smaller[longest]
        smaller[f"{longest}_omitted"] = smaller.get(f"{longest}_omitted", 0) + len(values) - len(values) // 2
        smaller[longest] = values[: len(values) // 2]
        message = build_message(text, smaller)
    return message


def publish(
    topic_arn: str,
    subject: str,
    text: str,
    document: Document,
    event_type: str,
    *,
    shrink: Callable[[Document], Document] | None = None,
    sns_client: SNSClient | None = None,
) -> str:
    """Publish one notification and return its message id. Raises AwsError when SNS refuses it."""
    sns = sns_client or aws.client("sns", topic_arn.split(":")[3])
    message = fit_message(text, document, shrink)
    with aws.aws_errors("Publish"):
        response = sns.publish(
            TopicArn=topic_arn,
            Subject=subject,
            Message=message,
            MessageStructure="json",
            MessageAttributes={"event_type": {"DataType": "String", "StringValue": event_type}},
        )
    logger.info(
        "notification published", extra={"event_type": event_type, "message_id": response["MessageId"]}
    )
    return response["MessageId"]
