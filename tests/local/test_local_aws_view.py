"""The local stack as the AWS CLI shows it: what `aws lambda|cloudwatch|events|logs|iam ...` ask, through
botocore clients pointed at a running stack (the same requests the AWS CLI v1 and v2 send)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from smart_vault.local.alarm_evaluation import evaluate_alarms
from smart_vault.local.client import invoke_backup, scheduled_event
from smart_vault.local.monitoring import monitoring
from smart_vault.local.stack import LocalStack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack():
    local = LocalStack()
    state = local.start(seed_fleet=True)
    invoke_backup(state, scheduled_event(state.primary_region, "smart-vault-backup-schedule"))
    yield local, state
    local.stop()


def aws(state, service, region=None):
    endpoint = state.lambda_endpoint_url if service == "lambda" else state.aws_endpoint_url
    return boto3.client(
        service,
        region_name=region or state.primary_region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_lambda_list_get_and_configuration(stack):
    _, state = stack
    client = aws(state, "lambda")

    names = [f["FunctionName"] for f in client.list_functions()["Functions"]]
    function = client.get_function(FunctionName="smart-vault-backup")
    configuration = client.get_function_configuration(FunctionName="smart-vault-restore-api")
    dr_names = [
        f["FunctionName"] for f in aws(state, "lambda", state.dr_region).list_functions()["Functions"]
    ]

    assert names == ["smart-vault-backup", "smart-vault-restore-api", "smart-vault-restore-worker"]
    assert dr_names == ["smart-vault-dr-drill", "smart-vault-dr-restore-api", "smart-vault-dr-restore-worker"]
    assert function["Configuration"]["Handler"] == "smart_vault.backup.handler"
    assert function["Configuration"]["Role"].endswith(":role/smart-vault-backup")
    assert (
        configuration["Environment"]["Variables"]["RESTORE_WORKER_FUNCTION"] == "smart-vault-restore-worker"
    )
    policy = json.loads(client.get_policy(FunctionName="smart-vault-restore-api")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert client.list_tags(Resource=function["Configuration"]["FunctionArn"])["Tags"] == {
        "ManagedBy": "smart-vault"
    }


def test_what_terraform_creates_is_there(stack):
    local, state = stack
    expected = monitoring(local.config)
    alarms = {
        a["AlarmName"]
        for region in (state.primary_region, state.dr_region, "us-east-1")
        for a in aws(state, "cloudwatch", region).describe_alarms()["MetricAlarms"]
    }
    rules = {
        r["Name"]: region
        for region in (state.primary_region, state.dr_region)
        for r in aws(state, "events", region).list_rules()["Rules"]
    }
    groups = {g["logGroupName"] for g in aws(state, "logs").describe_log_groups()["logGroups"]}
    roles = {r["RoleName"] for r in aws(state, "iam").list_roles()["Roles"]}
    dashboard = json.loads(
        aws(state, "cloudwatch").get_dashboard(DashboardName="smart-vault-health")["DashboardBody"]
    )

    # (v3) 25 with the change-anomaly alarm; 26 with the drill-leftovers alarm
    assert alarms == {a.name for a in expected.alarms} and len(alarms) == 26
    assert rules == {r.name: r.region for r in expected.rules} and len(rules) == 6
    assert groups == set(expected.log_groups[state.primary_region])
    assert roles == {r.name for r in expected.roles}
    assert dashboard["widgets"][0]["properties"]["title"] == "Recovery-point age (h), per region"
    targets = aws(state, "events").list_targets_by_rule(Rule="smart-vault-copy-reconciliation")["Targets"]
    assert targets[0]["Arn"].endswith(":function:smart-vault-backup")
    assert json.loads(targets[0]["Input"]) == {"reconcile_copies": True}


def test_function_logs_are_in_their_log_group(stack):
    _, state = stack
    logs = aws(state, "logs")
    streams = logs.describe_log_streams(logGroupName="/aws/lambda/smart-vault-backup")["logStreams"]
    events = logs.filter_log_events(logGroupName="/aws/lambda/smart-vault-backup")["events"]

    assert streams and streams[0]["logStreamName"].split("/")[3].startswith("[$LATEST]")
    messages = [e["message"] for e in events]
    assert messages[0].startswith("START RequestId: ")
    assert any(m.startswith("REPORT RequestId: ") for m in messages)
    assert any('"RecoveryPointAgeSeconds"' in m for m in messages)  # the EMF line itself


def test_emf_metrics_are_listed_and_read(stack):
    _, state = stack
    cloudwatch = aws(state, "cloudwatch")
    listed = cloudwatch.list_metrics(Namespace="SmartVault")["Metrics"]
    names = {m["MetricName"] for m in listed}
    now = datetime.now(UTC)
    data = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "age",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "SmartVault",
                        "MetricName": "RecoveryPointAgeSeconds",
                        "Dimensions": [{"Name": "Region", "Value": state.primary_region}],
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
            },
            {
                "Id": "invocations",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": "Invocations",
                        "Dimensions": [{"Name": "FunctionName", "Value": "smart-vault-backup"}],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
        ],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=1),
    )["MetricDataResults"]

    assert {"RecoveryPointAgeSeconds", "BackupFailures", "CopyBacklog", "InstancesProtected"} <= names
    by_id = {r["Id"]: r["Values"] for r in data}
    assert by_id["age"] and all(v >= 0 for v in by_id["age"])
    assert sum(by_id["invocations"]) >= 1


def test_alarm_states_come_from_the_metrics(stack):
    local, state = stack
    cloudwatch = aws(state, "cloudwatch")
    cloudwatch.put_metric_data(
        Namespace="SmartVault",
        MetricData=[
            {
                "MetricName": "BackupFailures",
                "Dimensions": [{"Name": "service", "Value": "smart-vault"}],
                "Value": 2,
            }
        ],
    )

    states = evaluate_alarms(local.emulator.client, monitoring(local.config).alarms)
    described = {a["AlarmName"]: a["StateValue"] for a in cloudwatch.describe_alarms()["MetricAlarms"]}

    assert states["smart-vault-backup-failures"] == described["smart-vault-backup-failures"] == "ALARM"
    assert described["smart-vault-rpo-breach"] == "OK"  # the first backup's age is seconds
    assert described["smart-vault-backup-errors"] == "OK"


def test_the_fleets_instances_have_security_groups(stack):
    _, state = stack
    reservations = aws(state, "ec2").describe_instances()["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    assert len(instances) == len(state.fleet.instances)
    assert all(i["SecurityGroups"] for i in instances)


def test_202_location_and_status_url_name_the_same_job(stack):
    _, state = stack
    import requests

    snapshot = aws(state, "ec2").describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:ManagedBy", "Values": ["smart-vault"]}]
    )["Snapshots"][0]
    api = state.primary_api
    zone = state.fleet.networks[state.primary_region].availability_zone
    answer = requests.post(
        f"{api.url}/restore",
        headers={"x-api-key": api.api_key},
        json={"snapshot_id": snapshot["SnapshotId"], "availability_zone": zone},
        timeout=60,
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    host = api.url.removesuffix("/v1")
    # status_url is relative to the stage URL; Location is the same job as a path on the host.
    assert api.url + body["status_url"] == host + answer.headers["Location"]
    assert (
        requests.get(
            host + answer.headers["Location"], headers={"x-api-key": api.api_key}, timeout=60
        ).json()["restore_id"]
        == body["restore_id"]
    )
