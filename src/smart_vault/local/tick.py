"""`smart-vault local tick [--days N]`: run, on a running local stack, what the schedules would run in the next
N days, in order (each rule's target with the event or input the rule sends), then evaluate the alarms."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smart_vault.local.alarm_evaluation import evaluate_alarms
from smart_vault.local.client import StackError, boto_client, scheduled_event
from smart_vault.local.deployment import DeploymentConfig
from smart_vault.local.monitoring import monitoring
from smart_vault.local.schedule import Firing, tick_plan
from smart_vault.local.stack import StackState


@dataclass(frozen=True)
class TickRun:
    at: str
    rule: str
    function: str
    status: str  # the report's status, or FAILED with the error


def config_of(state: StackState) -> DeploymentConfig:
    return DeploymentConfig(primary_region=state.primary_region, dr_region=state.dr_region)


def fire(state: StackState, firing: Firing) -> TickRun:
    rule = firing.rule
    event: dict[str, Any] = (
        rule.target_input
        if rule.target_input is not None
        else scheduled_event(rule.region, rule.name, firing.at)
    )
    client = boto_client(
        state, "lambda", rule.region, read_timeout=960, retries={"max_attempts": 1, "mode": "standard"}
    )
    answer = client.invoke(FunctionName=rule.target_function, Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        status = f"FAILED: {message}"
    else:
        status = str(payload.get("status", "done")) if isinstance(payload, dict) else "done"
    return TickRun(f"{firing.at:%Y-%m-%d %H:%M}Z", rule.name, str(rule.target_function), status)


def run_tick(
    state: StackState, days: float, now: datetime | None = None
) -> tuple[list[TickRun], dict[str, str]]:
    """The runs, in order, and every alarm's state after them."""
    if not 0 < days <= 31:
        raise StackError("--days must be more than 0 and at most 31")
    found = monitoring(config_of(state))
    rules = [rule for rule in found.rules if rule.target_function]
    runs = [fire(state, firing) for firing in tick_plan(rules, now or datetime.now(UTC), days)]
    clients: dict[tuple[str, str], Any] = {}

    def client_for(service: str, region: str) -> Any:
        if (service, region) not in clients:
            clients[(service, region)] = boto_client(state, service, region)
        return clients[(service, region)]

    states = evaluate_alarms(client_for, found.alarms)
    return runs, states
