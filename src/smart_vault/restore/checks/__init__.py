"""Pre-checks of a restore request against AWS, in the target region, before anything is created (the API
runs them before its 202). Each check answers with the project's errors, which the API maps to HTTP.

- `resources`: checks of one snapshot, AMI, subnet, availability zone or set of security groups;
- `volume`: the volume form's pre-checks (`run_prechecks`);
- `instance`: the full-instance form's: its recovery point, every default, the network
  (`run_instance_prechecks`, `find_recovery_point`).
"""

from smart_vault.restore.checks.instance import find_recovery_point, run_instance_prechecks
from smart_vault.restore.checks.resources import check_snapshot
from smart_vault.restore.checks.volume import run_prechecks

__all__ = [
    "check_snapshot",
    "find_recovery_point",
    "run_instance_prechecks",
    "run_prechecks",
]
