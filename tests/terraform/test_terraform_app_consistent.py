"""(v3) The backup role runs scripts only from tagged documents, only on backed-up instances."""

from __future__ import annotations

import tfmodel

SCRIPTS = ("true",)


def send_command_statements():
    return [s for s in tfmodel.role_statements("backup") if s.allows("ssm:SendCommand")]


def test_send_command_only_on_tagged_documents_and_backed_up_instances():
    statements = send_command_statements()
    assert {s.sid for s in statements} == {
        "RunScriptsOnlyFromTaggedDocuments",
        "RunScriptsOnlyOnBackedUpInstances",
    }
    for statement in statements:
        assert statement.actions == ("ssm:SendCommand",)
        assert "*" not in statement.resources
    documents = next(s for s in statements if s.sid == "RunScriptsOnlyFromTaggedDocuments")
    assert all(":document/" in r for r in documents.resources)
    assert documents.condition_values("aws:ResourceTag/smart-vault:scripts") == SCRIPTS
    instances = next(s for s in statements if s.sid == "RunScriptsOnlyOnBackedUpInstances")
    assert all(":instance/" in r for r in instances.resources)
    # The backup tag and its accepted values (the variables' defaults, as the model resolves them).
    assert instances.condition_values("ssm:resourceTag/Backup-Tier") == ("Gold",)


def test_script_reads_are_the_two_the_lane_calls():
    reads = [
        s
        for s in tfmodel.role_statements("backup")
        if any(a.startswith("ssm:") for a in s.actions) and not s.allows("ssm:SendCommand")
    ]
    assert [sorted(s.actions) for s in reads] == [
        ["ssm:DescribeInstanceInformation", "ssm:ListCommandInvocations"]
    ]
    assert not any(s.allows("ssm:GetCommandInvocation") for s in tfmodel.role_statements("backup"))
