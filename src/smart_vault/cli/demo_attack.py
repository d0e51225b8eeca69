"""(v3) The demo's last act: a ransomware day (`local.ransomware`), told for a reader.

After three nights of backups with a vault account, an attacker holding the workload account's
administrator rights destroys what AWS lets an administrator destroy. The act shows which calls AWS refused
and why, the TAMPER notifications, that the vault account still holds a complete recovery point of every
protected instance, and web-1 restored whole in the vault account's recovery network with its RTO.
It runs in-process on moto with the project's emulator layer (two accounts, Snapshot Lock, key policies,
CloudTrail), after the local stack has stopped. The functions' JSON logs and metrics, which Powertools writes to
standard output, go to a file beside the dashboard, as the local stack's go to its log directory.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

from smart_vault.local.moto_accounts import environ_kept
from smart_vault.local.ransomware import RansomwareDay

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105 - moto's fake credentials, no real secret
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    "POWERTOOLS_METRICS_NAMESPACE": "SmartVault",
}


@contextmanager
def emulated_accounts() -> Iterator[None]:
    """moto in-process with the emulator layer, fake credentials, no endpoint overrides (restored after)."""
    from moto import mock_aws

    from smart_vault import aws
    from smart_vault.local import moto_fidelity

    cleared = [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL") or k == "AWS_PROFILE"]
    tokens = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
    with environ_kept((*cleared, *tokens, *FAKE_ENV)):
        for key in (*cleared, *tokens):
            os.environ.pop(key, None)
        os.environ.update(FAKE_ENV)
        moto_fidelity.apply()
        aws.reset_clients()
        try:
            with mock_aws():
                yield
        finally:
            aws.reset_clients()


@contextmanager
def functions_logged_to(path: Path) -> Iterator[None]:
    """The in-process functions' logs (Powertools' handler) and metrics (printed) written to `path`, not to the
    terminal the story is told on; the handler's own stream is given back after."""
    from smart_vault.observability import logger

    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logger.registered_handler
    with path.open("w", encoding="utf-8") as log, redirect_stdout(log):
        previous = handler.setStream(log)  # type: ignore[attr-defined]
        try:
            yield
        finally:
            handler.setStream(previous)  # type: ignore[attr-defined]


def _refusals(day: RansomwareDay) -> list[str]:
    lines = []
    counted = Counter((c.call, c.allowed, c.why.split(":")[0] if not c.allowed else "") for c in day.calls)
    for (call, allowed, code), count in sorted(counted.items()):
        verdict = "allowed" if allowed else f"REFUSED ({code})"
        lines.append(f"    {call:<26} x{count:<3} {verdict}")
    reasons = {c.call: c.why for c in day.calls if not c.allowed}
    lines.append("    why AWS refused:")
    lines += [f"      {call}: {why}" for call, why in sorted(reasons.items())]
    return lines


def story(day: RansomwareDay) -> list[str]:
    """Pure: the act as lines of text."""
    lines = [
        "",
        "==> [vault] Three nights of backups with a vault account (second AWS account, no Organizations)",
    ]
    lines += [
        f"    night {n['night']}: {n['snapshots']} snapshots, {n['vault_copies']} vault copies (compliance-locked)"
        for n in day.nights
    ]
    lines += ["", "==> [vault] The attacker, with the workload account's administrator rights"]
    lines += _refusals(day)
    lines.append(
        f"    snapshots left in the workload account: {day.workload_snapshots_left} (only what an AMI still uses):"
        " governance locks give way to administrators, hence the vault account"
    )
    lines += [
        "",
        f"==> [vault] TAMPER notifications: {len(day.tamper)}, one per call (first of each kind shown)",
    ]
    counts = Counter(note["call"] for note in day.tamper)
    shown: set[str] = set()
    for note in day.tamper:
        if note["call"] not in shown:
            shown.add(note["call"])
            lines.append(
                f"    x{counts[note['call']]:<3} {note['subject']} on {_resource(note)} at {note['time']}{_error(note)}"
            )
    lines += ["", "==> [vault] What the vault account still holds"]
    for label, point in sorted(day.vault_points.items()):
        lines.append(
            f"    {label}: {point['points']} recovery points, newest complete {point['newest_complete']}"
            f" ({point['volumes']} volumes), immutable: {point['immutable']}"
        )
    restore = day.restore
    lines += ["", "==> [vault] web-1 restored whole in the vault account's isolated recovery network"]
    if restore:
        lines.append(
            f"    {restore['instance_id']} {restore['state']} in {restore['subnet_id']} with {', '.join(restore['volumes'])}"
            f" from {restore['backup_set_id']}; RTO {restore['rto_seconds']:.1f}s (emulated: no boot time)"
        )
    else:
        lines.append("    NOT RESTORED: no complete recovery point of web-1 in the vault")
    return lines


def _resource(note: dict[str, Any]) -> str:
    resource = note.get("resource") or {}
    value = (
        next((v for v in resource.values() if isinstance(v, str)), "") if isinstance(resource, dict) else ""
    )
    return value


def _error(note: dict[str, Any]) -> str:
    return f" (refused: {note['error']})" if note.get("error") else ""


def ransomware_act(demo: Any) -> int:
    """Run and tell the act on `demo` (its `say`); 0 when the instance came back, else 1."""
    from smart_vault.local.ransomware import run_ransomware_day

    demo.say("\n==> [vault] A ransomware day: the workload account is lost, the vault account is not")
    log_path = Path(demo.dashboard_path).resolve().parent / "vault-act.log"
    with emulated_accounts(), functions_logged_to(log_path):
        day = run_ransomware_day(nights=3)
    demo.say(f"    the functions' logs of this act: {log_path}")
    for line in story(day):
        demo.say(line)
    complete = all(p["newest_complete"] for p in day.vault_points.values())
    if not (complete and day.restore.get("state") == "running"):
        demo.say("\nVAULT ACT FAILED: the vault could not bring every instance back")
        return 1
    return 0
