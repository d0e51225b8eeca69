"""Provision the Terraform's resources in the emulator: keys, topics, tables, functions and the REST APIs."""

from __future__ import annotations

import copy
import json
import secrets
import string
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from smart_vault.local.deployment import (
    API_STAGE,
    LAMBDA_HANDLERS,
    DeploymentConfig,
    DrillStack,
    RestoreStack,
    backup_environment,
    create_table_arguments,
    drill_environment,
    ledger_table_definition,
    restore_api_environment,
    restore_worker_environment,
    table_definitions,
)
from smart_vault.local.lambda_service import ACCOUNT_ID, FunctionSpec, LambdaPermission, LambdaService

INVOKE_ARN_PLACEHOLDER = "${restore_api_invoke_arn}"
ClientFactory = Callable[[str, str], Any]  # (service, region) -> boto3 client on the emulator


@dataclass
class ProvisionedApi:
    region: str
    api_id: str
    stage: str
    api_key: str
    api_key_id: str
    usage_plan_id: str
    function_name: str
    url: str = ""


@dataclass
class Provisioned:
    """Everything the stack created; written to the state file so later commands can find it."""

    topics: dict[str, str] = field(default_factory=dict)  # region -> topic ARN
    queues: dict[str, str] = field(default_factory=dict)  # region -> inbox queue URL
    kms_keys: dict[str, str] = field(default_factory=dict)  # region -> key ARN
    tables: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    apis: list[ProvisionedApi] = field(default_factory=list)
    drill_functions: dict[str, str] = field(default_factory=dict)  # region -> drill function name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provisioned:
        apis = [ProvisionedApi(**api) for api in data.get("apis", [])]
        return cls(**{**data, "apis": apis})


def invoke_arn(region: str, function_arn: str) -> str:
    """What Terraform's aws_lambda_function.invoke_arn is."""
    return f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"


def render_openapi(template: str, function_invoke_arn: str) -> dict[str, Any]:
    """The OpenAPI document of the API with its one template placeholder filled in, as Terraform does."""
    return yaml.safe_load(template.replace(INVOKE_ARN_PLACEHOLDER, function_invoke_arn))


def api_document(template: str, region: str, function_arn: str) -> dict[str, Any]:
    """The body Terraform imports: the spec with the API function's invoke ARN filled in."""
    return render_openapi(template, invoke_arn(region, function_arn))


def api_key_operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, METHOD) of every operation whose security requires an `apiKey` scheme (API Gateway's rule)."""
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    api_key_schemes = {name for name, scheme in schemes.items() if scheme.get("type") == "apiKey"}
    top_level = document.get("security") or []
    operations = []
    for path, item in (document.get("paths") or {}).items():
        for verb, operation in item.items():
            if not isinstance(operation, dict) or verb.startswith("x-") or verb == "parameters":
                continue
            requirements = operation.get("security", top_level) or []
            if any(name in api_key_schemes for requirement in requirements for name in requirement):
                operations.append((path, verb.upper()))
    return operations


def import_rest_api(apigw: Any, document: dict[str, Any], name: str) -> str:
    """Import the API into the emulated API Gateway; returns its id.

    moto imports paths, methods and integrations but neither `security` (it never marks a method
    `apiKeyRequired`) nor the gateway responses: the methods are put again with the flag (and their
    integration restored), and the gateway responses are put one by one.
    """
    document = copy.deepcopy(document)
    info = document.setdefault("info", {})
    info["title"] = name
    info.setdefault("description", name)  # moto requires one
    api_id = apigw.import_rest_api(body=json.dumps(document).encode(), failOnWarnings=False)["id"]
    resources = {
        r["path"]: r for r in apigw.get_resources(restApiId=api_id, embed=["methods"], limit=500)["items"]
    }
    for path, method in api_key_operations(document):
        resource_id = resources[path]["id"]
        integration = apigw.get_integration(restApiId=api_id, resourceId=resource_id, httpMethod=method)
        apigw.put_method(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod=method,
            authorizationType="NONE",
            apiKeyRequired=True,
        )
        apigw.put_integration(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod=method,
            type=integration["type"],
            integrationHttpMethod=integration.get("httpMethod", "POST"),
            uri=integration["uri"],
        )
    for response_type, response in (document.get("x-amazon-apigateway-gateway-responses") or {}).items():
        arguments = {
            "restApiId": api_id,
            "responseType": response_type,
            "responseParameters": response.get("responseParameters") or {},
            "responseTemplates": response.get("responseTemplates") or {},
        }
        if response.get("statusCode"):
            arguments["statusCode"] = str(response["statusCode"])
        apigw.put_gateway_response(**arguments)
    return api_id


API_KEY_ALPHABET = string.ascii_letters + string.digits


def api_key_value() -> str:
    """A key as API Gateway generates one: 40 letters and digits. (`token_urlsafe` could begin with `-`, which
    the CLI's `--api-key KEY` then took for an option: the local end-to-end test failed on such a key.)"""
    return "".join(secrets.choice(API_KEY_ALPHABET) for _ in range(40))


def deploy_with_key(apigw: Any, api_id: str, name: str) -> tuple[str, str, str]:
    """Stage `v1`, one API key and a usage plan binding them, as the restore_stack module creates."""
    apigw.create_deployment(restApiId=api_id, stageName=API_STAGE)
    key_value = api_key_value()
    key = apigw.create_api_key(name=name, enabled=True, value=key_value)
    plan = apigw.create_usage_plan(
        name=name,
        apiStages=[{"apiId": api_id, "stage": API_STAGE}],
        throttle={"rateLimit": 5.0, "burstLimit": 10},
        quota={"limit": 1000, "period": "DAY"},
    )
    apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    return key_value, key["id"], plan["id"]


def create_key(client_for: ClientFactory, config: DeploymentConfig, region: str) -> str:
    kms = client_for("kms", region)
    key = kms.create_key(Description=f"Smart Vault ({config.name_prefix}) {region}")["KeyMetadata"]
    kms.create_alias(AliasName=config.kms_alias(region), TargetKeyId=key["KeyId"])
    return key["Arn"]


def create_topic_with_inbox(
    client_for: ClientFactory, config: DeploymentConfig, region: str, key: str
) -> tuple[str, str]:
    sns, sqs = client_for("sns", region), client_for("sqs", region)
    topic_arn = sns.create_topic(Name=config.topic_name(region), Attributes={"KmsMasterKeyId": key})[
        "TopicArn"
    ]
    queue_url = sqs.create_queue(QueueName=config.notification_queue_name(region))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return topic_arn, queue_url


def create_tables(
    client_for: ClientFactory, stack: RestoreStack, definitions: list[dict[str, Any]] | None = None
) -> list[str]:
    return create_tables_in(
        client_for, stack.region, table_definitions(stack) if definitions is None else definitions
    )


def create_tables_in(client_for: ClientFactory, region: str, definitions: list[dict[str, Any]]) -> list[str]:
    dynamodb = client_for("dynamodb", region)
    names = []
    for definition in definitions:
        dynamodb.create_table(**create_table_arguments(definition))
        dynamodb.update_time_to_live(
            TableName=definition["TableName"],
            TimeToLiveSpecification={"Enabled": True, "AttributeName": definition["ttl_attribute"]},
        )
        names.append(definition["TableName"])
    return names


def create_drill_network(client_for: ClientFactory, stack: DrillStack, cidr: str) -> tuple[str, list[str]]:
    """drill_stack/network.tf: a VPC with one private subnet, no gateway, a group without any rule."""
    import ipaddress

    ec2 = client_for("ec2", stack.region)
    vpc_id = ec2.create_vpc(
        CidrBlock=cidr,
        TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": f"{stack.name_prefix}-drill"}]}
        ],
    )["Vpc"]["VpcId"]
    zone = ec2.describe_availability_zones(Filters=[{"Name": "state", "Values": ["available"]}])[
        "AvailabilityZones"
    ][0]["ZoneName"]
    first_24 = str(next(ipaddress.ip_network(cidr).subnets(new_prefix=24)))
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=first_24, AvailabilityZone=zone)["Subnet"][
        "SubnetId"
    ]
    group_id = ec2.create_security_group(
        GroupName=f"{stack.name_prefix}-drill-instances",
        Description="Smart Vault drill instances: no inbound and no outbound rule.",
        VpcId=vpc_id,
    )["GroupId"]
    # EC2 gives a new group an allow-all egress rule; Terraform removes it, and so does this.
    ec2.revoke_security_group_egress(
        GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    return subnet_id, [group_id]


def deployed_attributes(config: DeploymentConfig, region: str, function: str) -> dict[str, Any]:
    """Role, tags and resource policy of a function as the Terraform gives them (its role has its name)."""
    from smart_vault.local.rules import function_permissions

    return {
        "role_name": function,
        "tags": config.resource_tags(),
        "permissions": function_permissions(config, region, function),
    }


def provision(
    client_for: ClientFactory, config: DeploymentConfig, lambdas: LambdaService, openapi_template: str
) -> Provisioned:
    """Create everything of the Terraform in the emulator and register the functions with `lambdas`."""
    done = Provisioned()
    for region in (config.primary_region, config.dr_region):
        done.kms_keys[region] = create_key(client_for, config, region)
        done.topics[region], done.queues[region] = create_topic_with_inbox(
            client_for, config, region, done.kms_keys[region]
        )
    primary_stack = config.restore_stacks()[0]
    done.tables.extend(create_tables(client_for, primary_stack, [ledger_table_definition(config)]))
    backup = FunctionSpec(
        name=config.backup_function_name,
        region=config.primary_region,
        handler=LAMBDA_HANDLERS["backup"],
        environment=backup_environment(
            config, done.topics[config.primary_region], done.kms_keys[config.dr_region]
        ),
        timeout_seconds=config.backup_timeout_seconds,
        memory_mb=config.backup_memory_mb,
        **deployed_attributes(config, config.primary_region, config.backup_function_name),
    )
    lambdas.register(backup)
    done.functions.append(backup.arn)
    for drill_stack in config.drill_stacks():
        _provision_drill(client_for, config, lambdas, done, drill_stack)
    for stack in config.restore_stacks():
        _provision_restore_stack(client_for, config, lambdas, done, stack, openapi_template)
    return done


def _provision_drill(
    client_for: ClientFactory,
    config: DeploymentConfig,
    lambdas: LambdaService,
    done: Provisioned,
    drill_stack: DrillStack,
) -> None:
    """One region's drill stack: its results table, its isolated network and the drill function."""
    done.tables.extend(create_tables_in(client_for, drill_stack.region, [drill_stack.table_definition()]))
    subnet_id, groups = create_drill_network(client_for, drill_stack, config.drill_vpc_cidr)
    drill = FunctionSpec(
        name=drill_stack.function_name,
        region=drill_stack.region,
        handler=LAMBDA_HANDLERS["drill"],
        environment=drill_environment(
            config, drill_stack, done.topics[drill_stack.region], subnet_id, groups
        ),
        timeout_seconds=drill_stack.timeout_seconds,
        memory_mb=drill_stack.memory_mb,
        **deployed_attributes(config, drill_stack.region, drill_stack.function_name),
    )
    lambdas.register(drill)
    done.functions.append(drill.arn)
    done.drill_functions[drill_stack.region] = drill.name


def _provision_restore_stack(
    client_for: ClientFactory,
    config: DeploymentConfig,
    lambdas: LambdaService,
    done: Provisioned,
    stack: RestoreStack,
    openapi_template: str,
) -> None:
    """One region's restore stack: its tables, the worker and API functions, and the API with its key."""
    done.tables.extend(create_tables(client_for, stack))
    worker = FunctionSpec(
        name=stack.worker_function_name,
        region=stack.region,
        handler=LAMBDA_HANDLERS["restore_worker"],
        environment=restore_worker_environment(stack, done.topics[stack.region], config),
        timeout_seconds=stack.worker_timeout_seconds,
        memory_mb=stack.memory_mb,
        **deployed_attributes(config, stack.region, stack.worker_function_name),
    )
    api = FunctionSpec(
        name=stack.api_function_name,
        region=stack.region,
        handler=LAMBDA_HANDLERS["restore_api"],
        environment=restore_api_environment(config, stack),
        timeout_seconds=stack.api_timeout_seconds,
        memory_mb=stack.memory_mb,
        **deployed_attributes(config, stack.region, stack.api_function_name),
    )
    for spec in (worker, api):
        lambdas.register(spec)
        done.functions.append(spec.arn)
    apigw = client_for("apigateway", stack.region)
    document = api_document(openapi_template, stack.region, api.arn)
    api_id = import_rest_api(apigw, document, stack.api_name)
    key_value, key_id, plan_id = deploy_with_key(apigw, api_id, stack.api_name)
    # restore_stack/api.tf's aws_lambda_permission: the API's stage may invoke the function.
    source = f"arn:aws:execute-api:{stack.region}:{ACCOUNT_ID}:{api_id}/{API_STAGE}/*/*"
    permission = LambdaPermission("AllowRestoreApiV1", "apigateway.amazonaws.com", source)
    lambdas.register(replace(api, permissions=(permission,)))
    done.apis.append(ProvisionedApi(stack.region, api_id, API_STAGE, key_value, key_id, plan_id, api.name))


def read_openapi_template(path: Path) -> str:
    return path.read_text(encoding="utf-8")
