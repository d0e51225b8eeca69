"""`make demo`'s ransomware story (v3): an attacker encrypts web-1's data volume before a backup.

Four nights of normal change give the volume its history; then most of the data volume is rewritten and the
next backup measures it (EBS direct `ListChangedBlocks`, emulated by `local/moto_ebs.py` from its block
model), marks that recovery point suspect, holds the last clean one and sends the ANOMALY notification.
A full-instance restore that names no recovery point then brings back the clean one.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from smart_vault.cli.client import ApiClient, follow_restore
from smart_vault.cli.recovery_points import COLUMNS, recovery_point_table
from smart_vault.local import moto_ebs
from smart_vault.local.client import invoke_backup, read_notifications, scheduled_event
from smart_vault.local.stack import StackState

VICTIM = "web-1"
NORMAL_NIGHTS = 4
NORMAL_CHANGE = 0.02  # 2 % of each volume a night
ENCRYPTED = 0.85  # the attacker rewrites 85 % of the data volume


def _night(state: StackState, label: str) -> dict[str, Any]:
    time.sleep(1.01 - time.time() % 1.0)  # DescribeSnapshots gives StartTime to the second: one a night
    return invoke_backup(state, scheduled_event(state.primary_region, f"smart-vault-backup-{label}"))


def ransomware_story(demo: Any, state: StackState, check: Any) -> None:
    """One demo step: history, attack, detection, and the restore that recovers clean."""
    demo.step(f"Ransomware: the attacker encrypts {VICTIM}'s data volume before a backup")
    victim = next(i for i in (state.fleet.instances if state.fleet else []) if i["name"] == VICTIM)
    volumes = victim["volumes"]
    data = next(v for device, v in sorted(volumes.items()) if device != "/dev/xvda")
    for night in range(1, NORMAL_NIGHTS + 1):
        for volume in volumes.values():
            moto_ebs.MODEL.write(volume, NORMAL_CHANGE, time.time())
        _night(state, f"night-{night}")
    demo.say(
        f"    {NORMAL_NIGHTS} nights of normal change (2 % of each volume a night), each backed up and measured"
    )
    moto_ebs.MODEL.write(data, ENCRYPTED, time.time())
    demo.say(f"    the attacker rewrites {ENCRYPTED:.0%} of {data}; the nightly backup runs")
    report = _night(state, "attacked-night")
    check(report["status"] == "SUCCEEDED", f"backup after the attack ended {report['status']}")
    alarms = [n for n in read_notifications(state) if n["event_type"] == "anomaly.detected"]
    check(len(alarms) == 1, f"expected one ANOMALY notification, got {len(alarms)}")
    alarm = alarms[0]
    demo.say(f"    notification: {alarm['subject']}")
    demo.say(
        "    "
        + json.dumps(
            {
                k: alarm["document"][k]
                for k in (
                    "volume_id",
                    "changed_bytes",
                    "multiple_of_median",
                    "suspect_backup_set_id",
                    "held_backup_set_id",
                )
            }
        )
    )
    api = ApiClient(state.primary_api.url, state.primary_api.api_key)
    answer = api.recovery_points(name=VICTIM, region=state.primary_region)
    shown = ("BACKUP SET", "CREATED", "SUSPECT", "HELD", "CHANGED", "COST/MONTH")
    demo.say(recovery_point_table(answer, tuple(c for c in COLUMNS if c.header in shown)))
    points = answer["recovery_points"]
    check(
        points[0]["suspect"] and points[0]["backup_set_id"] == alarm["document"]["suspect_backup_set_id"],
        "the newest point is not suspect",
    )
    held = alarm["document"]["held_backup_set_id"]
    check(any(p["held"] and p["backup_set_id"] == held for p in points), "the last clean point is not held")
    _clean_restore(demo, state, api, victim, held, check)


def _clean_restore(demo: Any, state: StackState, api: ApiClient, victim: dict, held: str, check: Any) -> None:
    """A full-instance restore that names no recovery point: it must take the held clean one."""
    body: dict[str, Any] = {"instance_id": victim["instance_id"], "region": state.primary_region}
    network = state.fleet.networks.get(state.primary_region) if state.fleet else None
    if network is not None and network.security_group_id:  # the demo fleet records no security group
        body["security_group_ids"] = [network.security_group_id]
    demo.say(f"    POST /restore {json.dumps(body)}  (no backup_set_id: the newest clean recovery point)")
    accepted = api.start_restore(body, idempotency_key=str(uuid.uuid4()))
    job = follow_restore(api, accepted["restore_id"], demo.out, interval=0.5, timeout=180)
    check(job["status"] == "SUCCEEDED", f"the clean restore ended {job['status']}: {job.get('error')}")
    chosen = (job.get("request") or {}).get("backup_set_id")
    for warning in job.get("warnings") or []:
        demo.say(f"    warning: {warning}")
    check(chosen == held, f"the restore used {chosen}, not the held clean point {held}")
    demo.say(
        f"    restored {VICTIM} from the clean point {chosen} as {job['instance_id']}; the suspect one was skipped"
    )
