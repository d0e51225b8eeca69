"""The simulation's request path through the authorization layer (smart_vault.authz).

The simulated clients (`world.SimEC2`, `SimDynamoDB`, `SimSNS`, `ssm.SimSSM`, the scenario's Lambda) are not botocore
clients, so the botocore hook of `authz.enforce` never sees their calls: `authorized()` wraps one, and each
operation the product calls on it is first evaluated against the calling function's Terraform policies,
with the request context built from the simulated world (`SimFacts`), and refused as AWS refuses it.

The world models the Terraform's encryption: the copy ledger is encrypted with the primary region's vault
key (`backup.tf`), the DR copies with the DR key named in the settings.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from smart_vault.authz import callers
from smart_vault.authz.enforce import DISABLE_ENV, Call, Enforcer
from smart_vault.authz.facts import Ec2Resource

_NOT_OPERATIONS = {"get_paginator", "get_waiter", "meta", "send"}


def operation_name(method: str) -> str:
    """boto3's method name -> the API operation: `copy_snapshot` -> `CopySnapshot`."""
    return "".join(part.capitalize() for part in method.split("_"))


class SimFacts:
    """Facts (smart_vault.authz.facts) read from the simulated world."""

    def __init__(
        self, world: Any, account: str, table_keys: Mapping[str, str], ssm_model: Any = None
    ) -> None:
        self.world = world
        self.account = account
        self.table_keys = dict(table_keys)
        self.ssm_model = ssm_model  # sim.ssm.SsmModel of the opted-in fleet (its documents), or None

    def ec2(self, region: str, resource_id: str) -> Ec2Resource | None:
        if resource_id.startswith("snap-"):
            item = self.world.snapshots.get(region, {}).get(resource_id)
            if item is None:
                return None
            tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
            return Ec2Resource(
                resource_id, tags, bool(item.get("Encrypted")), item.get("KmsKeyId"), item.get("OwnerId")
            )
        if resource_id.startswith("i-"):
            compute = self.world.compute.get(region)  # the region's one store of instances (sim/compute.py)
            found = compute.instances.get(resource_id) if compute is not None else None
            if found is None:
                return None
            instance = found.item
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            volumes = tuple(m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []))
            return Ec2Resource(resource_id, tags, volume_ids=volumes)
        if resource_id.startswith("vol-"):
            volume = self.world.volumes.get(region, resource_id)  # the one store of volumes (sim/volumes.py)
            if volume is None:
                return None
            tags = {t["Key"]: t["Value"] for t in volume.tags}
            attached = volume.attachment.instance_id if volume.attachment is not None else None
            return Ec2Resource(resource_id, tags, encrypted=volume.encrypted, instance_id=attached)
        return None

    def default_network(self, region: str) -> tuple[str | None, tuple[str, ...]]:
        return None, ()

    def key_arn(self, region: str, key_id: str) -> str | None:
        return key_id if key_id.startswith("arn:") else f"arn:aws:kms:{region}:{self.account}:key/{key_id}"

    def key_policy(self, key_arn: str) -> dict[str, Any] | None:
        return None  # the vault's keys: the key policy Terraform gives them (kms.tf)

    def table_key(self, region: str, table: str) -> str | None:
        return self.table_keys.get(table)

    def topic_key(self, topic_arn: str) -> str | None:
        return None

    def queue_key(self, region: str, queue_name: str) -> str | None:
        return None

    def instance_profile_role(self, profile: str) -> str | None:
        return None

    def ssm_document(self, region: str, document: str) -> dict[str, str] | None:
        return self.ssm_model.tags_of_document(document) if self.ssm_model is not None else None


class _Authorized:
    def __init__(
        self, client: Any, service: str, region: str, enforcer: Enforcer, environment: Mapping
    ) -> None:
        self._client, self._service, self._region = client, service, region
        self._enforcer, self._environment = enforcer, environment

    def _check(self, operation: str, params: dict[str, Any]) -> None:
        if os.environ.get(DISABLE_ENV, "").lower() == "off":
            return
        function, _ = callers.calling_function(sys._getframe(2))
        if function is None or function == callers.UNMAPPED:
            return
        self._enforcer.check(
            Call(function, self._service, operation, params, self._region, self._environment)
        )

    def get_paginator(self, operation: str) -> Any:
        paginator = self._client.get_paginator(operation)
        check = self._check

        class _Checked:
            def paginate(self, **params: Any) -> Any:
                check(operation_name(operation), params)
                return paginator.paginate(**params)

        return _Checked()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if name.startswith("_") or name in _NOT_OPERATIONS or not callable(value):
            return value

        def call(**params: Any) -> Any:
            self._check(operation_name(name), params)
            return value(**params)

        return call


def authorized(client: Any, service: str, region: str, enforcer: Enforcer, environment: Mapping) -> Any:
    """`client` with each operation evaluated by `enforcer` first (see the module docstring)."""
    return _Authorized(client, service, region, enforcer, environment)
