"""Where moto falls short of EC2 in ways the restore relies on, patched to behave as AWS documents.

- `RegisterImage` ignores `BlockDeviceMappings`, `RootDeviceName` and `Architecture`: here the image keeps
  them (DescribeImages then shows them).
- `RegisterImage` ignores `TagSpecifications` and accepts a name the account already uses: here the image
  gets its tags at creation and a duplicate name answers `InvalidAMIName.Duplicate`, as in EC2.
- `RunInstances` from such an image creates only a default 8 GiB root volume: here it creates one volume per
  mapping, from its snapshot, with the mapping's size (else the snapshot's) and type, at its device, as
  EC2 does for an EBS-backed AMI, tagged with the request's `volume` TagSpecifications.
- `RunInstances` ignores `ClientToken`: here a repeated token answers with the instances of the first call
  (EC2's idempotency), instead of launching more.
- moto's EC2 tag store is not thread-safe: `DescribeTags` iterates a resource's tags while a concurrent
  `CreateTags` adds to them ("dictionary changed size during iteration", seen under the backup's worker
  threads). EC2 answers concurrent tag calls; here the tag store's four methods take one lock.
- moto reads one resource's tags by scanning every tag of the region with a regular expression each
  (`TaggedEC2Resource.get_tags` through `describe_tags`): a describe of N snapshots costs N x all tags, and
  the 200-instance throttling test spent 90% of its time there. Here a resource reads its own tags: the
  same answer, in the same order, in time that does not grow with the fleet.
- moto signs SNS deliveries with a 2048-bit RSA key it makes for each subscription (~0.2 s of CPU, in every
  test with an inbox); SNS signs with one certificate per region. Here one key per process signs them all.
- moto makes an RSA-2048 key pair for every KMS key, a symmetric one too (~0.1 s of CPU each). A symmetric
  KMS key has no key pair (Sign and GetPublicKey refuse it); here the symmetric keys share one such object.
- moto lists a response class's methods with `inspect.getmembers` on every request it serves (a sorted
  walk of some hundred attributes); here the list is kept per class until the class gains or loses one.
- (v3) moto has no EBS Snapshot Lock: `moto_snapshot_lock` adds it (and DeleteSnapshot's refusal).
- (v3) moto keeps accounts apart but shares nothing between them: `moto_accounts` adds snapshot sharing
  (`createVolumePermission`), the cross-account copy of a shared snapshot and cross-account PutEvents;
  moto evaluates no key policy: `moto_key_policy` applies their explicit Deny to the calls that destroy a key.

`apply()` is idempotent; the local emulator and the tests call it before moto serves a request. Only the
emulator uses this module: it is never packaged into the Lambda zip.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from smart_vault.local import moto_accounts, moto_ebs, moto_key_policy, moto_snapshot_lock

_APPLIED = "_smart_vault_fidelity"


def _image_mappings(response: Any) -> list[dict[str, Any]]:
    mappings = []
    for mapping in response._get_param("BlockDeviceMappings", []) or []:
        ebs = mapping.get("Ebs")
        if mapping.get("DeviceName") and isinstance(ebs, dict) and ebs.get("SnapshotId"):
            ebs = dict(ebs)
            # The query protocol hands every value over as a string.
            if ebs.get("VolumeSize") is not None:
                ebs["VolumeSize"] = int(ebs["VolumeSize"])
            if isinstance(ebs.get("DeleteOnTermination"), str):
                ebs["DeleteOnTermination"] = ebs["DeleteOnTermination"].lower() == "true"
            mappings.append({"DeviceName": mapping["DeviceName"], "Ebs": ebs})
    return mappings


def _tag_specifications(response: Any, resource_type: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for spec in response._get_param("TagSpecifications", []) or []:
        if spec.get("ResourceType") == resource_type:
            tags.update({t["Key"]: t.get("Value", "") for t in spec.get("Tag", spec.get("Tags", [])) or []})
    return tags


def apply() -> None:
    from moto.ec2.models.amis import Ami
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.responses.amis import AmisResponse

    moto_snapshot_lock.apply()
    moto_ebs.apply()  # (v3) the EBS direct APIs of EC2's snapshots
    moto_accounts.apply()
    moto_key_policy.apply()
    _serialize_tag_store()
    _one_sns_signing_key()
    _method_names_once()
    _one_unused_key_pair()
    if getattr(AmisResponse, _APPLIED, False):
        return
    _ORIGINAL["register_image"] = AmisResponse.register_image
    _ORIGINAL["run_instances"] = InstanceBackend.run_instances
    _ORIGINAL["block_device_mappings"] = vars(Ami)["block_device_mappings"]  # the property, not its getter
    # Patching moto's classes is the point here: the checker cannot follow replaced methods.
    AmisResponse.register_image = _register_image_with_mappings  # type: ignore[method-assign]
    Ami.block_device_mappings = property(_mappings_of)  # type: ignore[method-assign, assignment]
    InstanceBackend.run_instances = _run_instances_idempotent  # type: ignore[method-assign]
    setattr(AmisResponse, _APPLIED, True)


# moto's own methods, kept when `apply` replaces them.
_ORIGINAL: dict[str, Any] = {}
_TAG_LOCK = threading.RLock()  # reentrant: moto's create_tags may be reached from another locked call
_RUN_LOCK = threading.Lock()  # RunInstances, see _run_instances_idempotent
_REGISTER_LOCK = threading.Lock()  # RegisterImage, see _register_image_with_mappings
_TAG_METHODS = ("create_tags", "delete_tags", "delete_tag_keys", "describe_tags")


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _TAG_LOCK:
            return method(*args, **kwargs)

    locked._smart_vault_locked = True  # type: ignore[attr-defined]
    return locked


def _serialize_tag_store() -> None:
    """One lock around moto's EC2 tag store (idempotent: a method already wrapped is left alone), and a
    resource's tags read by its id."""
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.models.tags import TagBackend

    for name in _TAG_METHODS:
        method = getattr(TagBackend, name)
        if not getattr(method, "_smart_vault_locked", False):
            setattr(TagBackend, name, _locked(method))
    TaggedEC2Resource.get_tags = _own_tags  # type: ignore[method-assign]


def _method_names_once() -> None:
    from moto.core import responses

    original = responses.method_names_from_class
    if getattr(original, "_smart_vault_cached", False):
        return
    names: dict[tuple[Any, ...], list[str]] = {}

    def method_names_from_class(clazz: Any) -> list[str]:
        key = (clazz, *(len(vars(k)) for k in clazz.__mro__))
        if key not in names:
            names[key] = original(clazz)
        return names[key]

    method_names_from_class._smart_vault_cached = True  # type: ignore[attr-defined]
    responses.method_names_from_class = method_names_from_class


def _one_unused_key_pair() -> None:
    from moto.kms import models

    original = models.generate_private_key
    if getattr(original, "_smart_vault_shared", False):
        return
    symmetric_pair = functools.cache(lambda: original("SYMMETRIC_DEFAULT"))

    def generate_private_key(key_spec: str) -> Any:
        return symmetric_pair() if key_spec == "SYMMETRIC_DEFAULT" else original(key_spec)

    generate_private_key._smart_vault_shared = True  # type: ignore[attr-defined]
    models.generate_private_key = generate_private_key


def _one_sns_signing_key() -> None:
    from moto.sns.models import Subscription

    Subscription.private_key = _signing_key  # type: ignore[method-assign, assignment]


@functools.cache
def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _signing_key(self: Any) -> Any:
    return _key()


def _own_tags(self: Any) -> list[dict[str, str]]:
    """What moto's `describe_tags(filters={"resource-id": [self.id]})` answers, read from the resource's
    own entry of the tag store (never creating one: the store is a defaultdict)."""
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

    resource_id = getattr(self, "id", None)
    if not resource_id:
        return []
    with _TAG_LOCK:
        tags = dict(self.ec2_backend.tags.get(resource_id, {}))
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    return [
        {"resource_id": resource_id, "key": k, "value": v, "resource_type": kind} for k, v in tags.items()
    ]


def _register_image_with_mappings(self: Any) -> Any:
    """RegisterImage with its block device mappings, tags, root device and architecture, one call at a time:
    the name check and the registration are one step in EC2, and the image dressed here must be this call's
    (two drills register side by side: taking the newest AMI once gave one call's tags to the other's image,
    whose launch was then refused for want of the ManagedBy tag)."""
    with _REGISTER_LOCK:
        return _register_image_locked(self)


def _register_image_locked(self: Any) -> Any:
    from moto.ec2.exceptions import EC2ClientError

    mappings = _image_mappings(self)
    root = self._get_param("RootDeviceName")
    architecture = self._get_param("Architecture")
    name = self._get_param("Name")
    owner = self.ec2_backend.account_id
    if name and any(a.name == name and a.owner_id == owner for a in self.ec2_backend.amis.values()):
        raise EC2ClientError(
            "InvalidAMIName.Duplicate", f"AMI name {name} is already in use by AMI in this account"
        )
    result = _ORIGINAL["register_image"](self)
    image = self.ec2_backend.amis[result.result["ImageId"]]  # moto's answer (an ActionResult) names it
    image.smart_vault_mappings = mappings
    tags = _tag_specifications(self, "image")
    if tags:
        self.ec2_backend.create_tags([image.id], tags)
    if root:
        image.root_device_name = root
    if architecture:
        image.architecture = architecture
    image.root_device_type = "ebs"
    return result


def _mappings_of(image: Any) -> Any:
    mappings = getattr(image, "smart_vault_mappings", None)
    return mappings if mappings else _ORIGINAL["block_device_mappings"].fget(image)


def _run_instances_idempotent(self: Any, image_id: str, *args: Any, **kwargs: Any) -> Any:
    """RunInstances with its ClientToken honoured, one call at a time: AWS takes concurrent launches, but
    moto's subnet hands out private IPs from one generator that two threads cannot run at once ("generator
    already executing"), and the token check and its record must be one step."""
    with _RUN_LOCK:
        token = kwargs.get("client_token")
        seen = self.__dict__.setdefault("_smart_vault_client_tokens", {})
        if token and token in seen:
            return seen[token]
        reservation = _run_instances_from_mappings(self, image_id, *args, **kwargs)
        if token:
            seen[token] = reservation
        return reservation


def _run_instances_from_mappings(self: Any, image_id: str, *args: Any, **kwargs: Any) -> Any:
    image = getattr(self, "amis", {}).get(image_id)
    mappings = getattr(image, "smart_vault_mappings", None)
    if not mappings or "block_device_mappings" in kwargs:
        return _ORIGINAL["run_instances"](self, image_id, *args, **kwargs)
    volume_tags = (kwargs.get("tags") or {}).get("volume", {})
    # An empty mapping list stops moto's default root volume; the volumes are made here, because moto's
    # own mapping path cannot pass IOPS or throughput (io1/io2 would fail).
    reservation = _ORIGINAL["run_instances"](self, image_id, *args, **{**kwargs, "block_device_mappings": []})
    for instance in reservation.instances:
        for mapping in mappings:
            ebs = mapping["Ebs"]
            snapshot = self.get_snapshot(ebs["SnapshotId"])
            volume = self.create_volume(
                size=int(ebs.get("VolumeSize") or snapshot.volume_size),
                zone_name=instance._placement.zone,
                snapshot_id=ebs["SnapshotId"],
                encrypted=bool(ebs.get("KmsKeyId")),
                kms_key_id=ebs.get("KmsKeyId"),
                volume_type=ebs.get("VolumeType") or "gp2",
                iops=int(ebs["Iops"]) if ebs.get("Iops") else None,
                throughput=int(ebs["Throughput"]) if ebs.get("Throughput") else None,
            )
            if volume_tags:
                volume.add_tags(volume_tags)
            self.attach_volume(
                volume.id, instance.id, mapping["DeviceName"], bool(ebs.get("DeleteOnTermination"))
            )
    return reservation
