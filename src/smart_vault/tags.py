"""The vocabulary every layer shares: the tag names Smart Vault writes and reads, and the resource states it
acts on. Pure constants, no imports: backup writes these tags, restore, drill and the vault read them, and none
of them imports another for a name (the layers are checked by import-linter, see `docs/architecture.md`).

The contract (`shared/contract.md`) fixes the tag names; a change here is a change of the public interface.
"""

from __future__ import annotations

# --- Ownership -------------------------------------------------------------------------------------------
MANAGED_BY_KEY = "ManagedBy"
MANAGED_BY_VALUE = "smart-vault"
TAG_PREFIX = "smart-vault:"

# --- Instance tags the operator sets ---------------------------------------------------------------------
INSTANCE_RETENTION_TAG = "Backup-Retention-Days"
SCRIPTS_TAG = "Backup-Scripts"  # (v3) application-consistent sets: the SSM document to run

# --- What every managed snapshot records (backup writes, retention and restore read) ---------------------
SOURCE_INSTANCE_TAG = "smart-vault:source-instance"
SOURCE_VOLUME_TAG = "smart-vault:source-volume"
DEVICE_TAG = "smart-vault:device"
BACKUP_SET_TAG = "smart-vault:backup-set"
RUN_ID_TAG = "smart-vault:run-id"
RETENTION_DAYS_TAG = "smart-vault:retention-days"
RETENTION_OVERRIDE_TAG = "smart-vault:retention-override"
SOURCE_SNAPSHOT_TAG = "smart-vault:source-snapshot"
SOURCE_REGION_TAG = "smart-vault:source-region"
HOLD_TAG = "smart-vault:hold"
# (v3) On a primary snapshot: its DR copy completed once; it is owed no copy ever again.
DR_COPIED_TAG = "smart-vault:dr-copied"
# (v3) The set was taken application-consistent (its pre/post scripts ran).
APP_CONSISTENT_TAG = "smart-vault:app-consistent"
# (v3) Change-rate anomalies: the set's measured change was anomalous; the bytes changed since the last one.
SUSPECT_TAG = "smart-vault:suspect"
CHANGED_BYTES_TAG = "smart-vault:changed-bytes"

# --- Restore metadata: a backup set is self-describing in either region ----------------------------------
SET_SIZE_TAG = "smart-vault:set-size"
INSTANCE_TYPE_TAG = "smart-vault:instance-type"
ARCHITECTURE_TAG = "smart-vault:architecture"
PLATFORM_TAG = "smart-vault:platform"
ROOT_DEVICE_TAG = "smart-vault:root-device"
ENA_TAG = "smart-vault:ena"
IMAGE_ID_TAG = "smart-vault:image-id"
AVAILABILITY_ZONE_TAG = "smart-vault:availability-zone"
SUBNET_ID_TAG = "smart-vault:subnet-id"
SECURITY_GROUPS_TAG = "smart-vault:security-groups"
BOOT_MODE_TAG = "smart-vault:boot-mode"
KEY_NAME_TAG = "smart-vault:key-name"
INSTANCE_PROFILE_TAG = "smart-vault:instance-profile"
VOLUME_TYPE_TAG = "smart-vault:volume-type"
DELETE_ON_TERMINATION_TAG = "smart-vault:delete-on-termination"
IOPS_TAG = "smart-vault:iops"
THROUGHPUT_TAG = "smart-vault:throughput"
LINUX_PLATFORM = "Linux/UNIX"

# --- (v3) What the vault account's copies record ----------------------------------------------------------
SOURCE_ACCOUNT_TAG = "smart-vault:source-account"
VAULT_SOURCE_TAG = "smart-vault:vault-source-snapshot"

# --- What restores and drills create ---------------------------------------------------------------------
RESTORE_ID_TAG = "smart-vault:restore-id"
DRILL_ID_TAG = "smart-vault:drill-id"

# --- Snapshot states (EC2 DescribeSnapshots `State`) -----------------------------------------------------
COMPLETED = "completed"
PENDING = "pending"
ERROR = "error"

# --- Resource states a restore acts on (EC2 `State` / `State.Name`): the one vocabulary of the restore engine --
# Volumes. A new volume is usable once `available`; one an earlier attempt already attached (`in-use`) is too.
VOLUME_AVAILABLE = "available"
VOLUME_IN_USE = "in-use"
USABLE_VOLUME_STATES = (VOLUME_AVAILABLE, VOLUME_IN_USE)
GONE_VOLUME_STATES = ("deleting", "deleted")
# A volume in one of these will never become usable: a restore fails at once with a readable reason.
FAILED_VOLUME_STATES = ("error", *GONE_VOLUME_STATES)
# What a restore's clean-up must still find and remove ...
LIVE_VOLUME_STATES = ("creating", VOLUME_AVAILABLE, VOLUME_IN_USE, "error")
# ... and what it lists to find them (a volume `deleting` is on its way, not a leftover).
LISTED_VOLUME_STATES = (*LIVE_VOLUME_STATES, "deleting")
# Volume attachments (`Attachments[].State`).
ATTACHED = "attached"
ATTACHING_STATES = ("attaching", ATTACHED)
DETACHING_STATES = ("detaching", "detached")
# Instances. From these an instance can still become `running`: a restore resumes the one it launched before.
INSTANCE_RUNNING = "running"
INSTANCE_TERMINATED = "terminated"
STARTING_INSTANCE_STATES = ("pending", INSTANCE_RUNNING)
# An instance in one of these will not become `running`: a restore fails at once with EC2's reason.
FAILED_INSTANCE_STATES = ("shutting-down", INSTANCE_TERMINATED, "stopping", "stopped")
# An instance `shutting-down` still holds its volumes and counts against quotas: it is live until terminated.
LIVE_INSTANCE_STATES = (*STARTING_INSTANCE_STATES, "stopping", "stopped", "shutting-down")
# Images (DescribeImages `State`).
IMAGE_AVAILABLE = "available"
IMAGE_DEREGISTERED = "deregistered"
FAILED_IMAGE_STATES = ("failed", "invalid", "error", IMAGE_DEREGISTERED)
# Status checks (DescribeInstanceStatus `InstanceStatus.Status` / `SystemStatus.Status`).
STATUS_OK = "ok"
STATUS_IMPAIRED = "impaired"
