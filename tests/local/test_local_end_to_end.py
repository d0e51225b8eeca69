"""The whole product on the local stack, driven over HTTP only: the Lambda Invoke API, the restore API
(with the README's curl command and the real curl binary), and the emulated EC2 API to check the result.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time

import boto3
import pytest
import requests

from smart_vault.local.client import scheduled_event
from smart_vault.local.curl import restore_curl_command
from smart_vault.local.stack import LocalStack

pytestmark = pytest.mark.slow
CURL = shutil.which("curl", path="/usr/bin") or shutil.which("curl")


@pytest.fixture(scope="module")
def stack():
    local = LocalStack()
    state = local.start(seed_fleet=True)
    yield local, state
    local.stop()


def aws(state, service, region):
    endpoint = state.lambda_endpoint_url if service == "lambda" else state.aws_endpoint_url
    return boto3.client(service, region_name=region, endpoint_url=endpoint)


def http(method, url, headers=None, body=None):
    """(status, JSON body) of one request, with curl when it is installed."""
    if CURL is None:
        answer = requests.request(method, url, headers=headers, data=body, timeout=60)
        return answer.status_code, answer.json()
    command = [CURL, "-sS", "-X", method, url, "-w", "\n%{http_code}"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if body is not None:
        command += ["-H", "Content-Type: application/json", "-d", body]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    text, _, status = output.rpartition("\n")
    return int(status), json.loads(text)


def run_readme_curl(command):
    """Run the README's command exactly as a user pastes it into a shell (with requests when no curl)."""
    if CURL is not None:
        done = subprocess.run(
            ["/bin/sh", "-c", command], capture_output=True, text=True, check=True, timeout=60
        )
        return json.loads(done.stdout)
    words = shlex.split(command.replace("\\\n", " "))
    method, url = words[words.index("-X") + 1], words[4]
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    return requests.request(
        method, url, headers=headers, data=words[words.index("-d") + 1], timeout=60
    ).json()


def test_backup_restore_through_the_api_and_the_result_in_ec2(stack):
    local, state = stack
    primary, dr = state.primary_region, state.dr_region
    fleet = state.fleet

    # 1. A scheduled backup, through the Lambda Invoke API.
    event = scheduled_event(primary, "smart-vault-backup-schedule")
    answer = requests.post(
        f"{state.lambda_endpoint_url}/2015-03-31/functions/{state.backup_function}/invocations",
        data=json.dumps(event),
        headers={"X-Amz-Invocation-Type": "RequestResponse"},
        timeout=300,
    )
    assert answer.status_code == 200 and "X-Amz-Function-Error" not in answer.headers, answer.text
    report = answer.json()
    assert report["status"] == "SUCCEEDED"
    protected = {i["instance_id"]: set(i["volumes"].values()) for i in fleet.protected}
    assert {i["instance_id"] for i in report["instances"]} == set(protected)
    assert len(report["snapshots_created"]) == sum(len(v) for v in protected.values())

    # 2. Primary snapshots and their KMS-encrypted DR copies.
    managed = [{"Name": "tag:ManagedBy", "Values": ["smart-vault"]}]  # the AMIs have snapshots too
    primary_snaps = aws(state, "ec2", primary).describe_snapshots(OwnerIds=["self"], Filters=managed)[
        "Snapshots"
    ]
    dr_snaps = aws(state, "ec2", dr).describe_snapshots(OwnerIds=["self"], Filters=managed)["Snapshots"]
    assert {s["VolumeId"] for s in primary_snaps} == set().union(*protected.values())
    dr_key = state.provisioned.kms_keys[dr]
    copies = {s["SnapshotId"] for s in dr_snaps if s.get("KmsKeyId") == dr_key and s["Encrypted"]}
    assert len(copies) == len(primary_snaps) == len(report["copies_started"])

    # 3. The API key is enforced: no key, wrong key.
    api = state.primary_api
    snapshot_ids = {s["VolumeId"]: s["SnapshotId"] for s in primary_snaps}
    db = next(i for i in fleet.protected if i["name"] == "db-1")
    data_volume = db["volumes"]["/dev/xvdf"]
    body = json.dumps({"snapshot_id": snapshot_ids[data_volume], "availability_zone": f"{primary}a"})
    assert http("POST", f"{api.url}/restore", body=body) == (403, {"message": "Forbidden"})
    assert http("POST", f"{api.url}/restore", {"x-api-key": "wrong-key"}, body) == (
        403,
        {"message": "Forbidden"},
    )
    assert http("GET", f"{api.url}/restore/{'0' * 8}-0000-4000-8000-{'0' * 12}")[0] == 403

    # 4. The README's command: restore db-1's data volume onto a new instance.
    network = fleet.networks[primary]
    command = restore_curl_command(
        api.url, api.api_key, snapshot_ids[data_volume], network.ami_id, network.subnet_id
    )
    accepted = run_readme_curl(command)
    assert accepted["status"] == "PENDING" and accepted["status_url"] == f"/restore/{accepted['restore_id']}"

    # 5. Follow it to the end.
    job = wait_for_end(api, accepted["restore_id"])
    assert job["status"] == "SUCCEEDED", job
    assert [step["status"] for step in job["steps"]] == ["SUCCEEDED"] * len(job["steps"])

    # 6. The restored volume is attached to the new instance, in the emulator.
    ec2 = aws(state, "ec2", primary)
    volume = ec2.describe_volumes(VolumeIds=[job["volume_id"]])["Volumes"][0]
    assert volume["SnapshotId"] == snapshot_ids[data_volume] and volume["State"] == "in-use"
    assert [(a["InstanceId"], a["Device"], a["State"]) for a in volume["Attachments"]] == [
        (job["instance_id"], "/dev/sdf", "attached")
    ]
    instance = ec2.describe_instances(InstanceIds=[job["instance_id"]])["Reservations"][0]["Instances"][0]
    assert instance["State"]["Name"] == "running" and instance["SubnetId"] == network.subnet_id
    tags = {t["Key"]: t["Value"] for t in volume["Tags"]}
    assert tags["ManagedBy"] == "smart-vault" and tags["smart-vault:restore-id"] == accepted["restore_id"]

    # 7. A restore from a DR copy, through the DR region's own API.
    dr_api = next(a for a in state.provisioned.apis if a.region == dr)
    dr_body = json.dumps({"snapshot_id": sorted(copies)[0], "availability_zone": f"{dr}a"})
    status, dr_accepted = http("POST", f"{dr_api.url}/restore", {"x-api-key": dr_api.api_key}, dr_body)
    assert status == 202
    dr_job = wait_for_end(dr_api, dr_accepted["restore_id"])
    assert dr_job["status"] == "SUCCEEDED" and dr_job["region"] == dr
    assert (
        aws(state, "ec2", dr).describe_volumes(VolumeIds=[dr_job["volume_id"]])["Volumes"][0]["State"]
        == "available"
    )

    # 8. The notifications reached the inbox queues subscribed to the topics.
    assert local.wait_idle(timeout=60)
    subjects = inbox_subjects(state)
    assert any(s.startswith("Smart Vault backup") and s.endswith("SUCCEEDED") for s in subjects[primary])
    assert f"Smart Vault restore {accepted['restore_id']}: SUCCEEDED" in subjects[primary]
    assert f"Smart Vault restore {dr_accepted['restore_id']}: SUCCEEDED" in subjects[dr]


def wait_for_end(api, restore_id, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        status, job = http("GET", f"{api.url}/restore/{restore_id}", {"x-api-key": api.api_key})
        assert status == 200, job
        if job["status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
            return job
        time.sleep(0.3)


def inbox_subjects(state):
    subjects = {}
    for region, queue_url in state.provisioned.queues.items():
        sqs = aws(state, "sqs", region)
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        subjects[region] = [json.loads(m["Body"]).get("Subject") for m in messages]
    return subjects


def test_a_drill_in_the_dr_region_passes_tears_down_and_shows_in_the_api_and_the_cli(
    stack, monkeypatch, capsys
):
    from smart_vault.cli.main import main as cli_main
    from smart_vault.local.client import invoke_backup, invoke_drill

    _, state = stack
    dr = state.dr_region
    assert (
        invoke_backup(state, scheduled_event(state.primary_region, "smart-vault-backup-schedule"))["status"]
        == "SUCCEEDED"
    )
    protected = sorted(i["instance_id"] for i in state.fleet.protected)

    report = invoke_drill(state)

    assert report["status"] == "PASSED", report
    assert report["region"] == dr
    assert sorted(d["instance_id"] for d in report["drills"]) == protected
    for drill in report["drills"]:
        assert drill["rto_seconds"] > 0 and drill["torn_down"] and drill["leftovers"] == []
        assert list(drill["stages"]) == [
            "register_image",
            "launch_instance",
            "wait_instance_running",
            "wait_status_checks",
        ]
    drill_tag = [{"Name": "tag-key", "Values": ["smart-vault:drill-id"]}]
    ec2 = aws(state, "ec2", dr)
    live = [
        i
        for r in ec2.describe_instances(Filters=drill_tag)["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ]
    assert live == [] and ec2.describe_images(Owners=["self"], Filters=drill_tag)["Images"] == []

    # GET /drills of the DR region's API, and the CLI's table of it.
    dr_api = next(a for a in state.provisioned.apis if a.region == dr)
    status, answer = http("GET", f"{dr_api.url}/drills", {"x-api-key": dr_api.api_key})
    assert status == 200
    assert {d["drill_id"] for d in answer["drills"]} == {d["drill_id"] for d in report["drills"]}
    assert http("GET", f"{state.primary_api.url}/drills", {"x-api-key": state.primary_api.api_key})[0] == 404
    capsys.readouterr()
    assert cli_main(["drills", "--api-url", dr_api.url, "--api-key", dr_api.api_key]) == 0
    table = capsys.readouterr().out
    assert "SLOWEST STAGE" in table and all(i in table for i in protected)

    # `smart-vault drill run`, pointed at the local Lambda endpoint as `local up` prints it.
    for name, value in state.client_environment().items():
        monkeypatch.setenv(name, value)
    function = state.provisioned.drill_functions[dr]
    code = cli_main(["drill", "run", "--region", dr, "--function", function, "--instance-id", protected[0]])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASSED" in out and "teardown: verified, nothing left" in out
