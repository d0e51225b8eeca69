"""The authorizations AWS performs for one API call: the caller's action on each resource of the request,
the tags-at-creation check, `iam:PassRole`, and the KMS calls services make with the caller's permissions.

KMS on the caller's behalf (KMS developer guide, "How AWS services use AWS KMS"; each service's page):
- EBS (`kms:ViaService` `ec2.<region>.amazonaws.com`): a new encrypted volume or snapshot copy needs
  `kms:DescribeKey`, `kms:GenerateDataKeyWithoutPlaintext` and `kms:CreateGrant` (with
  `kms:GrantIsForAWSResource` true) on its key, and `kms:Decrypt` on the key of an encrypted source
  (CopySnapshot, CreateVolume, and the snapshots behind RunInstances' image).
- DynamoDB (`dynamodb.<region>`): every item operation on a table encrypted with a customer managed key
  needs `kms:Decrypt` on it (DynamoDB decrypts the table key with the caller's credentials, caching it for
  minutes; the model asks on every call, as a missing permission fails the first call after each expiry),
  with the encryption context `aws:dynamodb:tableName` and `aws:dynamodb:subscriberId`.
- EBS direct APIs (`ebs.<region>`): ListChangedBlocks / ListSnapshotBlocks of an encrypted snapshot need
  `kms:Decrypt` on the snapshot's key (the block list is read through the snapshot's data key). Modelled
  from the EBS user guide's "Control access to EBS direct APIs" (its KMS section grants the key to the
  caller); that the read APIs ask exactly `kms:Decrypt`, and with `kms:ViaService` `ebs.<region>`, is this
  model's reading, not a documented sentence.
- SNS (`sns.<region>`) Publish and SQS (`sqs.<region>`) SendMessage to an encrypted topic or queue need
  `kms:GenerateDataKey` and `kms:Decrypt`.
Every KMS request carries `kms:CallerAccount` and `kms:ViaService`; the key policy is evaluated with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smart_vault.authz import ec2_context, reference
from smart_vault.authz.facts import Facts
from smart_vault.authz.policy import ContextValue, Request

# botocore operation -> IAM action where the names differ; None: the operation needs no permission.
IAM_ACTION_OF = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("lambda", "InvokeAsync"): "lambda:InvokeFunction",
    ("sts", "GetCallerIdentity"): None,
}
IAM_PREFIX_OF = {"stepfunctions": "states"}
EBS_NEW_KEY_ACTIONS = ("kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:CreateGrant")


class ModelGap(RuntimeError):
    """The request needs a resource this model cannot build: extend ec2_context or requests, do not skip."""


@dataclass(frozen=True)
class Authorization:
    """One action AWS authorizes for a call; every request (one per resource) must be allowed."""

    action: str
    requests: tuple[Request, ...]
    key_arn: str = ""  # set for KMS: the key policy is evaluated too
    via: str = ""  # the service that calls KMS on the caller's behalf ("dynamodb"), or ""
    # (v3) Resources of another account the requests name: (resource ARN, owner account, the owner's
    # createVolumePermission of a snapshot). AWS then also asks the owner's side (enforce.py).
    foreign: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


def iam_action(service: str, operation: str) -> str | None:
    if (service, operation) in IAM_ACTION_OF:
        return IAM_ACTION_OF[(service, operation)]
    return f"{IAM_PREFIX_OF.get(service, service)}:{operation}"


def _filtered(values: dict[str, ContextValue], keys: tuple[str, ...]) -> dict[str, ContextValue]:
    return {k: v for k, v in values.items() if reference.key_listed(keys, k)}


def ec2_authorizations(
    operation: str, params: dict[str, Any], region: str, facts: Facts
) -> list[Authorization]:
    ref = reference.action("ec2", operation)
    action_context: dict[str, ContextValue] = {"ec2:Region": region}
    if not ref.resource_types:
        return [Authorization(ref.iam_action, (Request(ref.iam_action, "*", action_context),))]
    resources, unknown = ec2_context.request_resources(operation, params, region, facts)
    requests = []
    for resource in resources:
        listed = ref.resource_type(resource.type)
        if listed is None:
            continue
        context = {**_filtered(resource.values, listed.condition_keys), **action_context}
        requests.append(Request(ref.iam_action, resource.arn, context))
    found = {r.type for r in resources}
    missing = [t.name for t in ref.resource_types if t.required and t.name not in found]
    if missing:
        if unknown:
            return []  # a named resource does not exist: EC2 answers its NotFound before authorizing
        raise ModelGap(f"ec2:{operation}: no {missing} resource built from the request")
    foreign = tuple(
        (r.arn, r.facts.owner, r.facts.shared_with or ())
        for r in resources
        if operation in SHARED_SNAPSHOT_READS
        and not r.created
        and r.type == "snapshot"
        and r.facts
        and r.facts.owner not in (None, facts.account)
    )
    found_authorizations = [Authorization(ref.iam_action, tuple(requests), foreign=foreign)]
    found_authorizations += _tags_at_creation(operation, params, resources)
    found_authorizations += _ebs_kms(operation, params, region, resources, facts)
    found_authorizations += _pass_role(operation, params, facts)
    return found_authorizations


def _tags_at_creation(operation: str, params: dict[str, Any], resources: list) -> list[Authorization]:
    """Tagging at creation is authorized as ec2:CreateTags with ec2:CreateAction (EC2 user guide)."""
    tags = ec2_context.request_tags(params)
    create_tags = reference.action("ec2", "CreateTags")
    requests = []
    for resource in resources:
        if not resource.created or resource.type not in tags:
            continue
        listed = create_tags.resource_type(resource.type)
        values = ec2_context.tag_values("aws:RequestTag", tags[resource.type])
        context = {
            **_filtered(values, listed.condition_keys if listed else ()),
            "ec2:CreateAction": operation,
        }
        requests.append(Request("ec2:CreateTags", resource.arn, {**context, "ec2:Region": resource.region}))
    return [Authorization("ec2:CreateTags", tuple(requests))] if requests else []


def _kms(actions: tuple[str, ...], key_arn: str, via: str, region: str, facts: Facts, extra=None) -> list:
    out = []
    for action in actions:
        context: dict[str, ContextValue] = {
            "kms:ViaService": f"{via}.{region}.amazonaws.com",
            "kms:CallerAccount": facts.account,
            **(extra or {}),
        }
        if action == "kms:CreateGrant":
            context["kms:GrantIsForAWSResource"] = "true"
        out.append(Authorization(action, (Request(action, key_arn, context),), key_arn=key_arn, via=via))
    return out


# What a snapshot's createVolumePermission lets another account do with it (EC2 user guide, "Share an
# Amazon EBS snapshot"): copy it and create volumes from it.
SHARED_SNAPSHOT_READS = ("CopySnapshot", "CreateVolume")
SHARED_SOURCE_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:ReEncryptFrom", "kms:CreateGrant")

# The actions for which EBS reads the data of an encrypted snapshot (and so asks KMS with the caller).
EBS_READS_SNAPSHOT_DATA = ("CopySnapshot", "CreateVolume", "RunInstances")


def _ebs_kms(operation: str, params: dict[str, Any], region: str, resources: list, facts: Facts) -> list:
    if operation not in EBS_READS_SNAPSHOT_DATA:
        return []
    sources = [
        r.facts for r in resources if not r.created and r.type == "snapshot" and r.facts and r.facts.encrypted
    ]
    out = []
    for source in sources:
        if source.kms_key_id and (key := facts.key_arn(region, source.kms_key_id)):
            actions = ("kms:Decrypt",) + (EBS_NEW_KEY_ACTIONS if operation == "RunInstances" else ())
            if source.owner not in (None, facts.account):
                # (v3) A snapshot another account shared: EBS uses its key with the caller's permissions in
                # the owner's account (EC2 user guide, "Share a KMS key": kms:Decrypt, kms:DescribeKey,
                # kms:CreateGrant, kms:ReEncrypt*; GUESS: ReEncryptFrom is the one a copy uses).
                actions = SHARED_SOURCE_KEY_ACTIONS
            out += _kms(actions, key, "ec2", region, facts)
    creates_encrypted = operation in ("CopySnapshot", "CreateVolume") and any(
        r.created and r.values.get("ec2:Encrypted") == "true" for r in resources
    )
    new_key = params.get("KmsKeyId") or (sources[0].kms_key_id if sources else None)
    if creates_encrypted and new_key and (key := facts.key_arn(region, new_key)):
        out += _kms(EBS_NEW_KEY_ACTIONS, key, "ec2", region, facts)
    return out


def _pass_role(operation: str, params: dict[str, Any], facts: Facts) -> list[Authorization]:
    profile = params.get("IamInstanceProfile") or {}
    name = profile.get("Arn") or profile.get("Name")
    if operation != "RunInstances" or not name:
        return []
    role = facts.instance_profile_role(name)
    if role is None:
        return []  # EC2 answers that the profile does not exist
    context: dict[str, ContextValue] = {"iam:PassedToService": "ec2.amazonaws.com"}
    return [Authorization("iam:PassRole", (Request("iam:PassRole", role, context),))]


def _tables(params: dict[str, Any]) -> list[str]:
    names = [params["TableName"]] if params.get("TableName") else []
    names += list(params.get("RequestItems") or {})
    for item in params.get("TransactItems") or []:
        names += [
            body["TableName"] for body in item.values() if isinstance(body, dict) and "TableName" in body
        ]
    return list(dict.fromkeys(names))


def service_authorizations(
    service: str, operation: str, params: dict[str, Any], region: str, facts: Facts
) -> list[Authorization]:
    """The authorizations of one call of a service other than EC2."""
    action = iam_action(service, operation)
    if action is None:
        return []
    account = facts.account
    if service == "dynamodb":
        return _dynamodb(action, params, region, facts)
    if service == "sns" and operation == "Publish":
        topic = params.get("TopicArn") or params.get("TargetArn") or ""
        out = [Authorization(action, (Request(action, topic, {}),))]
        if key := facts.topic_key(topic):
            out += _kms(("kms:GenerateDataKey", "kms:Decrypt"), key, "sns", region, facts)
        return out
    if service == "events" and operation == "PutEvents":
        return _put_events(action, params, region, account)
    if service == "sqs" and operation == "SendMessage":
        name = params.get("QueueUrl", "").rstrip("/").rsplit("/", 1)[-1]
        out = [Authorization(action, (Request(action, f"arn:aws:sqs:{region}:{account}:{name}", {}),))]
        if key := facts.queue_key(region, name):
            out += _kms(("kms:GenerateDataKey", "kms:Decrypt"), key, "sqs", region, facts)
        return out
    if service == "lambda" and action == "lambda:InvokeFunction":
        name = params.get("FunctionName", "")
        function_arn = (
            name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
        )
        if params.get("Qualifier") and function_arn.count(":") == 6:
            function_arn += f":{params['Qualifier']}"
        return [Authorization(action, (Request(action, function_arn, {}),))]
    if service == "kms":
        return _direct_kms(action, params, region, facts)
    if service == "ebs" and operation in EBS_DIRECT_SNAPSHOT_PARAMS:
        return _ebs_direct(action, operation, params, region, facts)
    if service == "lambda" and operation == "CreateFunction":
        function_arn = f"arn:aws:lambda:{region}:{account}:function:{params.get('FunctionName', '')}"
        passed = {"iam:PassedToService": "lambda.amazonaws.com"}
        return [
            Authorization(action, (Request(action, function_arn, {}),)),
            Authorization("iam:PassRole", (Request("iam:PassRole", params.get("Role", ""), passed),)),
        ]
    if service == "ssm" and operation == "SendCommand":
        return _send_command(params, region, facts)
    ref = reference.action(action.split(":")[0], action.split(":")[1])
    if any(t.required for t in ref.resource_types):
        raise ModelGap(f"{action}: resources of this action are not modelled yet (requests.py)")
    return [Authorization(action, (Request(action, "*", {}),))]


def _dynamodb(action: str, params: dict[str, Any], region: str, facts: Facts) -> list[Authorization]:
    """Each table of the call, and the KMS calls DynamoDB makes with the caller for a table's own key."""
    account = facts.account
    out = []
    for table in _tables(params):
        table_arn = f"arn:aws:dynamodb:{region}:{account}:table/{table}"
        out.append(Authorization(action, (Request(action, table_arn, {}),)))
        if key := facts.table_key(region, table):
            context = {
                "kms:EncryptionContext:aws:dynamodb:tableName": table,
                "kms:EncryptionContext:aws:dynamodb:subscriberId": account,
            }
            out += _kms(("kms:Decrypt",), key, "dynamodb", region, facts, context)
    return out


def _put_events(action: str, params: dict[str, Any], region: str, account: str) -> list[Authorization]:
    """One request per entry: its bus (a name is the caller's own bus in the region, none the default bus),
    with the entry's source and detail type as the action's condition keys (reference)."""
    requests = []
    for entry in params.get("Entries") or []:
        bus = entry.get("EventBusName") or "default"
        bus_arn = bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{bus}"
        keys: dict[str, ContextValue] = {}
        if entry.get("Source"):
            keys["events:source"] = entry["Source"]
        if entry.get("DetailType"):
            keys["events:detail-type"] = entry["DetailType"]
        requests.append(Request(action, bus_arn, keys))
    return [Authorization(action, tuple(requests))] if requests else []


# (v3) The EBS direct read APIs the backup measures changes with -> the request parameters naming snapshots.
EBS_DIRECT_SNAPSHOT_PARAMS = {
    "ListChangedBlocks": ("FirstSnapshotId", "SecondSnapshotId"),
    "ListSnapshotBlocks": ("SnapshotId",),
}


def _ebs_direct(action: str, operation: str, params: dict[str, Any], region: str, facts: Facts) -> list:
    """ebs:ListChangedBlocks / ebs:ListSnapshotBlocks (Service Authorization Reference, Amazon Elastic Block
    Store): the `snapshot` resource, `arn:aws:ec2:<region>::snapshot/<id>`, for each snapshot the request
    names (both of a ListChangedBlocks), with `aws:ResourceTag/<key>` from the snapshot's tags; and the
    caller's `kms:Decrypt` on the key of each encrypted one (module docstring)."""
    ref = reference.action("ebs", operation)
    listed = ref.resource_type("snapshot")
    keys = ref.condition_keys + (listed.condition_keys if listed else ())
    requests, keys_read = [], []
    for name in EBS_DIRECT_SNAPSHOT_PARAMS[operation]:
        snapshot_id = params.get(name)
        if not snapshot_id:
            continue
        snapshot = facts.ec2(region, snapshot_id)
        if snapshot is None:
            return []  # EBS answers that the snapshot does not exist before authorizing
        context = _filtered(dict(ec2_context.tag_values("aws:ResourceTag", snapshot.tags)), keys)
        requests.append(Request(action, f"arn:aws:ec2:{region}::snapshot/{snapshot_id}", context))
        if snapshot.encrypted and snapshot.kms_key_id and (key := facts.key_arn(region, snapshot.kms_key_id)):
            keys_read += [key] if key not in keys_read else []
    if not requests:
        raise ModelGap(f"{action}: no snapshot named in the request")
    out = [Authorization(action, tuple(requests))]
    for key in keys_read:
        out += _kms(("kms:Decrypt",), key, "ebs", region, facts)
    return out


def _resource_tag_context(ref: reference.ActionReference, type_name: str, tags: dict[str, str]) -> dict:
    """`aws:ResourceTag/*` and `ssm:resourceTag/*` from a resource's own tags, as far as the reference lists
    them for the action (at the action level, which applies to every resource, or for the resource type)."""
    listed = ref.resource_type(type_name)
    keys = ref.condition_keys + (listed.condition_keys if listed else ())
    values: dict[str, ContextValue] = {}
    for prefix in ("aws:ResourceTag", "ssm:resourceTag"):
        values.update(ec2_context.tag_values(prefix, tags))
    return _filtered(values, keys)


def _send_command(params: dict[str, Any], region: str, facts: Facts) -> list[Authorization]:
    """ssm:SendCommand (Service Authorization Reference, AWS Systems Manager): the document (required) and
    each target instance, each with the action's keys `aws:ResourceTag/${TagKey}` and
    `ssm:resourceTag/${TagKey}` read from that resource's tags. A document is named by name or ARN; one of
    AWS's own (`AWS-...`) has no account in its ARN. Targets chosen by tag (`Targets`) are resolved by
    Systems Manager, and an S3 output bucket is a resource of its own: neither is modelled."""
    ref = reference.action("ssm", "SendCommand")
    if params.get("Targets") or params.get("OutputS3BucketName"):
        raise ModelGap("ssm:SendCommand: Targets and OutputS3BucketName are not modelled yet (requests.py)")
    document = params.get("DocumentName", "")
    tags = facts.ssm_document(region, document)
    if tags is None:
        return []  # Systems Manager answers InvalidDocument
    if document.startswith("arn:"):
        document_arn = document
    else:
        owner = "" if document.startswith("AWS-") else facts.account
        document_arn = f"arn:aws:ssm:{region}:{owner}:document/{document}"
    requests = [Request(ref.iam_action, document_arn, _resource_tag_context(ref, "document", tags))]
    for instance_id in params.get("InstanceIds") or []:
        if not instance_id.startswith("i-"):
            raise ModelGap(f"ssm:SendCommand: managed node {instance_id} is not modelled yet (requests.py)")
        instance = facts.ec2(region, instance_id)
        if instance is None:
            return []  # Systems Manager answers InvalidInstanceId
        instance_arn = f"arn:aws:ec2:{region}:{facts.account}:instance/{instance_id}"
        context = _resource_tag_context(ref, "instance", instance.tags)
        requests.append(Request(ref.iam_action, instance_arn, context))
    return [Authorization(ref.iam_action, tuple(requests))]


def _direct_kms(action: str, params: dict[str, Any], region: str, facts: Facts) -> list[Authorization]:
    """A KMS call the function makes itself: no kms:ViaService, and a grant it creates is not for an AWS
    resource (`kms:GrantIsForAWSResource` false)."""
    key = facts.key_arn(region, params.get("KeyId", "")) or params.get("KeyId", "")
    context: dict[str, ContextValue] = {"kms:CallerAccount": facts.account}
    for name, value in (params.get("EncryptionContext") or {}).items():
        context[f"kms:EncryptionContext:{name}"] = value
    if action == "kms:CreateGrant":
        context["kms:GrantIsForAWSResource"] = "false"
    return [Authorization(action, (Request(action, key, context),), key_arn=key)]


def authorizations(service: str, operation: str, params: dict[str, Any], region: str, facts: Facts) -> list:
    if service == "ec2":
        return ec2_authorizations(operation, params, region, facts)
    return service_authorizations(service, operation, params, region, facts)
