"""Facts read through the AWS APIs of the emulated account (the local stack's Lambda runtimes).

Each local function runs in its own process (`smart_vault.local.runtime`), away from moto's backends, so
its facts come from describe calls on the local endpoint, as AWS's own records would answer them. These
lookups are made while the function's call is being authorized: `hook.check_call` does not evaluate
calls made during an evaluation, so they are neither authorized nor counted as the function's.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.exceptions import ClientError

from smart_vault.authz.facts import Ec2Resource


def _tags(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags", [])}


class ApiFacts:
    def __init__(self, account: str = "123456789012") -> None:
        self.account = account
        self._clients: dict[tuple[str, str], Any] = {}
        self._session: Any = None  # one Session: each service's model is loaded once, for both regions
        self._lock = threading.Lock()

    def _client(self, service: str, region: str) -> Any:
        # boto3's default session is not thread-safe for creating clients (a drill's parallel threads raced
        # here: "'str' object has no attribute 'items'" inside botocore); a client, once made, is.
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                self._session = self._session or boto3.Session()
                # The stubs type client() per literal service name; this one takes the name as a parameter.
                self._clients[key] = self._session.client(service, region_name=region)
            return self._clients[key]

    def ec2(self, region: str, resource_id: str) -> Ec2Resource | None:
        ec2 = self._client("ec2", region)
        try:
            if resource_id.startswith("snap-"):
                s = ec2.describe_snapshots(SnapshotIds=[resource_id])["Snapshots"][0]
                return Ec2Resource(
                    resource_id, _tags(s), bool(s.get("Encrypted")), s.get("KmsKeyId"), s.get("OwnerId")
                )
            if resource_id.startswith("vol-"):
                v = ec2.describe_volumes(VolumeIds=[resource_id])["Volumes"][0]
                attached = next((a["InstanceId"] for a in v.get("Attachments", [])), None)
                return Ec2Resource(
                    resource_id, _tags(v), bool(v.get("Encrypted")), v.get("KmsKeyId"), instance_id=attached
                )
            if resource_id.startswith("i-"):
                i = ec2.describe_instances(InstanceIds=[resource_id])["Reservations"][0]["Instances"][0]
                volumes = tuple(m["Ebs"]["VolumeId"] for m in i.get("BlockDeviceMappings", []) if "Ebs" in m)
                tokens = (i.get("MetadataOptions") or {}).get("HttpTokens")
                return Ec2Resource(resource_id, _tags(i), volume_ids=volumes, metadata_http_tokens=tokens)
            if resource_id.startswith("ami-"):
                images = ec2.describe_images(ImageIds=[resource_id])["Images"]
                if not images:
                    return None
                image = images[0]
                snapshots = tuple(
                    m["Ebs"]["SnapshotId"]
                    for m in image.get("BlockDeviceMappings", [])
                    if m.get("Ebs", {}).get("SnapshotId")
                )
                return Ec2Resource(
                    resource_id, _tags(image), owner=image.get("OwnerId"), snapshot_ids=snapshots
                )
            found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
            return Ec2Resource(resource_id, {t["Key"]: t["Value"] for t in found})
        except (ClientError, IndexError, KeyError):
            return None

    def default_network(self, region: str) -> tuple[str | None, tuple[str, ...]]:
        ec2 = self._client("ec2", region)
        subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        if not subnets:
            return None, ()
        vpc = subnets[0]["VpcId"]
        groups = ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
        )["SecurityGroups"]
        return subnets[0]["SubnetId"], tuple(g["GroupId"] for g in groups)

    def key_arn(self, region: str, key_id: str) -> str | None:
        try:
            return str(self._client("kms", region).describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])
        except ClientError:
            return key_id if key_id.startswith("arn:") else None

    def key_policy(self, key_arn: str) -> dict[str, Any] | None:
        import json

        try:
            policy = self._client("kms", key_arn.split(":")[3]).get_key_policy(
                KeyId=key_arn, PolicyName="default"
            )
        except ClientError:
            return None
        return json.loads(policy["Policy"])

    def _customer_key(self, region: str, key: str | None) -> str | None:
        if not key or "alias/aws/" in key:
            return None
        return self.key_arn(region, key)

    def table_key(self, region: str, table: str) -> str | None:
        try:
            description = self._client("dynamodb", region).describe_table(TableName=table)["Table"]
        except ClientError:
            return None
        sse = description.get("SSEDescription") or {}
        return self._customer_key(region, sse.get("KMSMasterKeyArn")) if sse.get("SSEType") == "KMS" else None

    def topic_key(self, topic_arn: str) -> str | None:
        region = topic_arn.split(":")[3]
        try:
            attributes = self._client("sns", region).get_topic_attributes(TopicArn=topic_arn)["Attributes"]
        except ClientError:
            return None
        return self._customer_key(region, attributes.get("KmsMasterKeyId"))

    def queue_key(self, region: str, queue_name: str) -> str | None:
        sqs = self._client("sqs", region)
        try:
            url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["KmsMasterKeyId"])[
                "Attributes"
            ]
        except ClientError:
            return None
        return self._customer_key(region, attributes.get("KmsMasterKeyId"))

    def instance_profile_role(self, profile: str) -> str | None:
        try:
            found = self._client("iam", "us-east-1").get_instance_profile(
                InstanceProfileName=profile.rsplit("/", 1)[-1]
            )
        except ClientError:
            return None
        roles = found["InstanceProfile"].get("Roles", [])
        return str(roles[0]["Arn"]) if roles else None

    def ssm_document(self, region: str, document: str) -> dict[str, str] | None:
        ssm = self._client("ssm", region)
        name = document.rsplit("/", 1)[-1]
        try:
            ssm.describe_document(Name=document)
            found = ssm.list_tags_for_resource(ResourceType="Document", ResourceId=name)["TagList"]
        except ClientError:
            return None
        return {t["Key"]: t["Value"] for t in found}
