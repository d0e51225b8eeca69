"""What AWS knows about the resources a request names, as the authorization layer needs it.

AWS fills the request context from its own records (the tags of the snapshot being deleted, whether a
volume is encrypted, the key of a table), not from the request. `Facts` is that view; `MotoFacts` reads it
from moto's in-process backends directly (no API call: the lookups are neither recorded, counted by the fault
injection, nor themselves authorized), the simulation provides its own (`smart_vault.sim.authz_facts`).
Every method answers None for a resource that does not exist: the call then goes on to AWS's own
NotFound answer, as AWS checks existence before authorization for named resources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard


@dataclass(frozen=True)
class Ec2Resource:
    """An existing EC2 resource: its tags and the attributes condition keys read."""

    id: str
    tags: dict[str, str] = field(default_factory=dict)
    encrypted: bool | None = None
    kms_key_id: str | None = None
    owner: str | None = None
    volume_ids: tuple[str, ...] = ()  # an instance's attached volumes
    snapshot_ids: tuple[str, ...] = ()  # an image's block-device snapshots
    instance_id: str | None = None  # a volume's attachment
    metadata_http_tokens: str | None = None
    # (v3) A snapshot's createVolumePermission: the account ids (and group "all") it is shared with; its
    # owner's resource-side grant to another account (None: not known, as for resources of the caller).
    shared_with: tuple[str, ...] | None = None


class Facts(Protocol):
    account: str

    def ec2(self, region: str, resource_id: str) -> Ec2Resource | None: ...

    def default_network(self, region: str) -> tuple[str | None, tuple[str, ...]]:
        """(default subnet, default security groups) RunInstances uses when the request names none."""
        ...

    def key_arn(self, region: str, key_id: str) -> str | None:
        """The ARN of a KMS key named by id, ARN or alias."""
        ...

    def key_policy(self, key_arn: str) -> dict[str, Any] | None: ...

    def table_key(self, region: str, table: str) -> str | None:
        """The customer managed key a DynamoDB table is encrypted with (None: AWS owned or managed key)."""
        ...

    def topic_key(self, topic_arn: str) -> str | None: ...

    def queue_key(self, region: str, queue_name: str) -> str | None: ...

    def instance_profile_role(self, profile: str) -> str | None:
        """The role ARN inside an instance profile named by ARN or name."""
        ...

    def ssm_document(self, region: str, document: str) -> dict[str, str] | None:
        """The tags of a Systems Manager document named by name or ARN (None: no such document)."""
        ...


def event_bus_policy(facts: Facts, bus_arn: str) -> dict[str, Any] | None:
    """(v3) The resource policy of an event bus (of any account), where the facts can read it."""
    reader = getattr(facts, "event_bus_policy", None)
    return reader(bus_arn) if reader is not None else None


def _customer_managed(key_id: str | None) -> TypeGuard[str]:
    return bool(key_id) and "alias/aws/" not in str(key_id)


class MotoFacts:
    """Facts from moto's backends of the running process (tests and the local stack's in-process server)."""

    def __init__(self, account: str = "123456789012") -> None:
        self.account = account

    def for_account(self, account: str) -> MotoFacts:
        """The same emulator seen by another account (the vault account's function); one per account, so
        that the enforcer's deployments cached per facts stay cached."""
        if account == self.account:
            return self
        others = self.__dict__.setdefault("_others", {})
        if account not in others:
            others[account] = MotoFacts(account)
            others[account].document_source = self.document_source
        return others[account]

    @staticmethod
    def account_of_access_key(access_key: str) -> str | None:
        """The account moto gives a caller's access key (assumed-role keys of another account)."""
        from moto.iam.models import get_account_id_from

        return str(get_account_id_from(access_key)) if access_key else None

    def _backend(self, service: str, region: str, account: str | None = None) -> Any:
        from moto.backends import get_backend

        return get_backend(service)[account or self.account][region]  # type: ignore[call-overload]  # moto types get_backend per literal service name

    def _shared_snapshot(self, region: str, snapshot_id: str) -> tuple[Any, Any] | None:
        """A snapshot of another account shared with this one (createVolumePermission), and its backend."""
        from moto.ec2.models import ec2_backends

        for other, regions in list(ec2_backends.items()):
            if other == self.account or region not in regions:
                continue
            snap = regions[region].snapshots.get(snapshot_id)
            if snap is not None and (
                self.account in snap.create_volume_permission_userids
                or "all" in snap.create_volume_permission_groups
            ):
                return snap, regions[region]
        return None

    def ec2(self, region: str, resource_id: str) -> Ec2Resource | None:
        backend = self._backend("ec2", region)
        tags = dict(backend.tags.get(resource_id, {}))
        if resource_id.startswith("snap-"):
            snap = backend.snapshots.get(resource_id)
            if snap is None and (shared := self._shared_snapshot(region, resource_id)) is not None:
                snap, other = shared  # the owner's tags and key (what EC2 authorizes against)
                tags = dict(other.tags.get(resource_id, {}))
            elif snap is not None and str(snap.owner_id) != self.account:  # a foreign one this account sees
                tags = dict(self._backend("ec2", region, str(snap.owner_id)).tags.get(resource_id, {}))
            return snap and Ec2Resource(
                snap.id,
                tags,
                bool(snap.encrypted),
                snap.kms_key_id,
                str(snap.owner_id),
                shared_with=tuple(sorted(snap.create_volume_permission_userids))
                + tuple(sorted(snap.create_volume_permission_groups)),
            )
        if resource_id.startswith("vol-"):
            vol = backend.volumes.get(resource_id)
            attached = getattr(vol, "attachment", None) if vol else None
            return vol and Ec2Resource(
                vol.id,
                tags,
                bool(vol.encrypted),
                vol.kms_key_id,
                instance_id=attached and attached.instance.id,
            )
        if resource_id.startswith("i-"):
            return self._instance(backend, resource_id, tags)
        if resource_id.startswith("ami-"):
            image = backend.amis.get(resource_id)
            if image is None:
                return None
            mappings = image.block_device_mappings or []
            snapshots = tuple(
                m["Ebs"]["SnapshotId"]
                for m in mappings
                if isinstance(m, dict) and m.get("Ebs", {}).get("SnapshotId")
            )
            return Ec2Resource(image.id, tags, owner=str(image.owner_id), snapshot_ids=snapshots)
        return Ec2Resource(resource_id, tags)

    @staticmethod
    def _instance(backend: Any, instance_id: str, tags: dict[str, str]) -> Ec2Resource | None:
        instance = backend.get_instance_by_id(instance_id)
        if instance is None:
            return None
        volumes = tuple(d.volume_id for d in instance.block_device_mapping.values())
        tokens = getattr(instance.metadata_options, "http_tokens", None)
        return Ec2Resource(instance.id, tags, volume_ids=volumes, metadata_http_tokens=tokens)

    def default_network(self, region: str) -> tuple[str | None, tuple[str, ...]]:
        backend = self._backend("ec2", region)
        subnets = backend.get_default_subnets()
        subnet = next(iter(subnets.values()), None)
        vpc = subnet.vpc_id if subnet else None
        group = backend.get_default_security_group(vpc) if vpc else None
        return (subnet.id if subnet else None, (group.id,) if group else ())

    def key_arn(self, region: str, key_id: str) -> str | None:
        if key_id.startswith("arn:") and ":alias/" not in key_id:
            return key_id
        backend = self._backend("kms", region)
        try:
            resolved = backend.any_id_to_key_id(key_id)
        except (KeyError, AttributeError, TypeError):
            return None
        key = backend.keys.get(resolved)
        return key.arn if key is not None else f"arn:aws:kms:{region}:{self.account}:key/{resolved}"

    def key_policy(self, key_arn: str) -> dict[str, Any] | None:
        import json

        region, owner = key_arn.split(":")[3], key_arn.split(":")[4]
        key = self._backend("kms", region, owner or None).keys.get(key_arn.rsplit("/", 1)[-1])
        return json.loads(key.policy) if key is not None and key.policy else None

    def event_bus_policy(self, bus_arn: str) -> dict[str, Any] | None:
        """The bus's resource policy in its owner's account (moto keeps it per account and region)."""
        import json

        region, owner, name = bus_arn.split(":")[3], bus_arn.split(":")[4], bus_arn.rsplit("/", 1)[-1]
        bus = self._backend("events", region, owner or None).event_buses.get(name)
        policy = bus.policy if bus is not None else None
        return (json.loads(policy) if isinstance(policy, str) else policy) if policy else None

    def table_key(self, region: str, table: str) -> str | None:
        found = self._backend("dynamodb", region).tables.get(table)
        sse = (found.sse_specification or {}) if found is not None else {}
        key = sse.get("KMSMasterKeyId") if sse.get("Enabled") else None
        return self.key_arn(region, key) if _customer_managed(key) else None

    def topic_key(self, topic_arn: str) -> str | None:
        region = topic_arn.split(":")[3]
        topic = self._backend("sns", region).topics.get(topic_arn)
        key = topic.kms_master_key_id if topic is not None else None
        return self.key_arn(region, key) if _customer_managed(key) else None

    def queue_key(self, region: str, queue_name: str) -> str | None:
        queue = self._backend("sqs", region).queues.get(queue_name)
        key = getattr(queue, "kms_master_key_id", None) if queue is not None else None
        return self.key_arn(region, key) if _customer_managed(key) else None

    # Where the tests answer Systems Manager with a model instead of moto (tests/support/ssm_world.py), the
    # documents are the model's: `document_source(region, document)` answers for them.
    document_source: Any = None

    def ssm_document(self, region: str, document: str) -> dict[str, str] | None:
        if self.document_source is not None:
            return self.document_source(region, document)
        backend = self._backend("ssm", region)
        name = document.rsplit("/", 1)[-1]
        if name not in backend._documents:
            return None
        return {t["Key"]: t["Value"] for t in backend._get_documents_tags(name)}

    def instance_profile_role(self, profile: str) -> str | None:
        backend = self._backend("iam", "global")
        name = profile.rsplit("/", 1)[-1]
        for candidate in backend.instance_profiles.values():
            if candidate.name == name and candidate.roles:
                return str(candidate.roles[0].arn)
        return None
