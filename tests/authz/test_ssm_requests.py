"""The request context of Systems Manager's Run Command (ssm:SendCommand) and its polls, as the Service
Authorization Reference lists them: the document (required) and each target instance, each with the
action's keys aws:ResourceTag/* and ssm:resourceTag/* from its own tags; the polls have no resource type."""

from __future__ import annotations

import pytest
from fakes import ACCOUNT, FakeFacts

from smart_vault.authz import requests
from smart_vault.authz.facts import Ec2Resource
from smart_vault.authz.requests import ModelGap

REGION = "eu-west-1"


def facts() -> FakeFacts:
    found = FakeFacts(documents={"doc": {"smart-vault:scripts": "true"}, "AWS-RunShellScript": {}})
    found.add(REGION, Ec2Resource("i-1", {"Backup-Tier": "Gold"}))
    return found


def send(**params):
    return requests.authorizations("ssm", "SendCommand", params, REGION, facts())


def test_send_command_authorizes_the_document_and_each_instance_with_their_own_tags():
    [authorization] = send(DocumentName="doc", InstanceIds=["i-1"])
    document, instance = authorization.requests
    assert authorization.action == "ssm:SendCommand"
    assert document.resource == f"arn:aws:ssm:{REGION}:{ACCOUNT}:document/doc"
    assert document.context == {
        "aws:ResourceTag/smart-vault:scripts": "true",
        "ssm:resourceTag/smart-vault:scripts": "true",
    }
    assert instance.resource == f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1"
    assert instance.context == {"aws:ResourceTag/Backup-Tier": "Gold", "ssm:resourceTag/Backup-Tier": "Gold"}


def test_a_document_named_by_arn_keeps_it_and_aws_documents_have_no_account():
    arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:document/doc"
    assert send(DocumentName=arn, InstanceIds=["i-1"])[0].requests[0].resource == arn
    own = send(DocumentName="AWS-RunShellScript", InstanceIds=["i-1"])[0].requests[0]
    assert own.resource == f"arn:aws:ssm:{REGION}::document/AWS-RunShellScript"
    assert own.context == {}


def test_a_document_or_instance_that_does_not_exist_is_answered_by_systems_manager():
    assert send(DocumentName="missing", InstanceIds=["i-1"]) == []
    assert send(DocumentName="doc", InstanceIds=["i-1", "i-missing"]) == []


@pytest.mark.parametrize(
    "params",
    [
        {"DocumentName": "doc", "Targets": [{"Key": "tag:Backup-Tier", "Values": ["Gold"]}]},
        {"DocumentName": "doc", "InstanceIds": ["i-1"], "OutputS3BucketName": "logs"},
        {"DocumentName": "doc", "InstanceIds": ["mi-0123456789abcdef0"]},
    ],
    ids=["tag-targets", "output-bucket", "hybrid-node"],
)
def test_what_is_not_modelled_is_a_model_gap(params):
    with pytest.raises(ModelGap):
        requests.authorizations("ssm", "SendCommand", params, REGION, facts())


@pytest.mark.parametrize("operation", ["ListCommandInvocations", "DescribeInstanceInformation"])
def test_the_polls_support_no_resource_level_permissions(operation):
    [authorization] = requests.authorizations("ssm", operation, {}, REGION, facts())
    assert [(r.action, r.resource) for r in authorization.requests] == [(f"ssm:{operation}", "*")]
