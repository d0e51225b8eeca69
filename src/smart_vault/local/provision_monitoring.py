"""Create `monitoring.Monitoring` in the emulator: roles, log groups, rules and targets, alarms, dashboard."""

from __future__ import annotations

import json
from typing import Any

from smart_vault.local.deployment import DeploymentConfig
from smart_vault.local.lambda_service import ACCOUNT_ID
from smart_vault.local.monitoring import BILLING_REGION, Monitoring, monitoring
from smart_vault.local.provision import ClientFactory, Provisioned
from smart_vault.local.rules import rule_arguments


def assume_role_policy(service: str) -> str:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _tag_list(config: DeploymentConfig) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in config.resource_tags().items()]


def create_roles(client_for: ClientFactory, config: DeploymentConfig, found: Monitoring) -> None:
    iam = client_for("iam", config.primary_region)
    for role in found.roles:
        iam.create_role(
            RoleName=role.name,
            AssumeRolePolicyDocument=assume_role_policy(role.service),
            Description=role.description,
            Tags=_tag_list(config),
        )


def create_log_groups(client_for: ClientFactory, config: DeploymentConfig, found: Monitoring) -> None:
    for region, names in found.log_groups.items():
        logs = client_for("logs", region)
        for name in names:
            logs.create_log_group(logGroupName=name, tags=config.resource_tags())
            logs.put_retention_policy(logGroupName=name, retentionInDays=config.log_retention_days)


def function_arn(region: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"


def create_rules(client_for: ClientFactory, config: DeploymentConfig, found: Monitoring) -> None:
    for rule in found.rules:
        events = client_for("events", rule.region)
        events.put_rule(**rule_arguments(rule), Tags=_tag_list(config))
        target: dict[str, Any] = {"Id": "target"}
        if rule.target_function:
            target["Arn"] = function_arn(rule.region, rule.target_function)
        else:
            target["Arn"] = f"arn:aws:events:{rule.target_bus_region}:{ACCOUNT_ID}:event-bus/default"
            target["RoleArn"] = f"arn:aws:iam::{ACCOUNT_ID}:role/{config.name_prefix}-copy-event-forwarder"
        if rule.target_input is not None:
            target["Input"] = json.dumps(rule.target_input)
        events.put_targets(Rule=rule.name, Targets=[target])


def create_alarms(
    client_for: ClientFactory, config: DeploymentConfig, found: Monitoring, topics: dict[str, str]
) -> None:
    for alarm in found.alarms:
        topic = [topics[alarm.topic_region]]
        arguments: dict[str, Any] = {
            "AlarmName": alarm.name,
            "Namespace": alarm.namespace,
            "MetricName": alarm.metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in alarm.dimensions.items()],
            "Statistic": alarm.statistic,
            "Period": alarm.period,
            "EvaluationPeriods": alarm.evaluation_periods,
            "Threshold": float(alarm.threshold),
            "ComparisonOperator": alarm.comparison,
            "TreatMissingData": alarm.treat_missing_data,
            "AlarmActions": topic,
            "OKActions": topic if alarm.ok_actions else [],
            "InsufficientDataActions": topic if alarm.insufficient_data_actions else [],
            "Tags": _tag_list(config),
        }
        if alarm.datapoints_to_alarm is not None:
            arguments["DatapointsToAlarm"] = alarm.datapoints_to_alarm
        client_for("cloudwatch", alarm.region).put_metric_alarm(**arguments)


def provision_monitoring(
    client_for: ClientFactory, config: DeploymentConfig, done: Provisioned
) -> Monitoring:
    """Everything of `monitoring(config)`, created in the emulator (after `provision`, whose topics it names)."""
    found = monitoring(config)
    topics = dict(done.topics)
    if config.enable_billing_alarm:
        topics["billing"] = client_for("sns", BILLING_REGION).create_topic(
            Name=f"{config.name_prefix}-billing"
        )["TopicArn"]
    create_roles(client_for, config, found)
    create_log_groups(client_for, config, found)
    create_rules(client_for, config, found)
    create_alarms(client_for, config, found, topics)
    client_for("cloudwatch", config.primary_region).put_dashboard(
        DashboardName=found.dashboard_name, DashboardBody=json.dumps({"widgets": found.dashboard_widgets})
    )
    return found
