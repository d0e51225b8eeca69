"""Start and stop the whole local stack; the state file that lets later commands find a running one."""

from __future__ import annotations

import getpass
import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from smart_vault.local.deployment import DeploymentConfig
from smart_vault.local.edge import edge_rules
from smart_vault.local.emulator import FAKE_CREDENTIALS, Emulator
from smart_vault.local.fleet import Fleet, create_networks, seed_demo_fleet
from smart_vault.local.gateway import Gateway, GatewayEndpoint
from smart_vault.local.lambda_endpoint import LambdaEndpoint
from smart_vault.local.lambda_service import InvokeResult, LambdaService
from smart_vault.local.provision import Provisioned, api_document, provision, read_openapi_template
from smart_vault.local.provision_monitoring import provision_monitoring
from smart_vault.local.telemetry import CloudWatchShipper

REPO_ROOT = Path(__file__).resolve().parents[3]


def default_openapi_path() -> Path:
    return Path(os.environ.get("SMART_VAULT_OPENAPI", REPO_ROOT / "openapi.yaml"))


def default_state_path() -> Path:
    """Where `local up` records the running stack (`SMART_VAULT_LOCAL_STATE` overrides)."""
    override = os.environ.get("SMART_VAULT_LOCAL_STATE")
    if override:
        return Path(override)
    return Path(tempfile.gettempdir()) / f"smart-vault-local-{getpass.getuser()}.json"


@dataclass
class StackState:
    """What a client needs to use a running stack: endpoints, keys, resource names, the demo fleet."""

    aws_endpoint_url: str
    lambda_endpoint_url: str
    primary_region: str
    dr_region: str
    backup_function: str
    log_dir: str
    provisioned: Provisioned
    fleet: Fleet | None = None
    pid: int = field(default_factory=os.getpid)

    @property
    def primary_api(self) -> Any:
        return next(api for api in self.provisioned.apis if api.region == self.primary_region)

    def client_environment(self) -> dict[str, str]:
        """Variables that point boto3 (and the CLI) at this stack."""
        return {
            **FAKE_CREDENTIALS,
            "AWS_REGION": self.primary_region,
            "AWS_DEFAULT_REGION": self.primary_region,
            "AWS_ENDPOINT_URL": self.aws_endpoint_url,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_endpoint_url,
            "SMART_VAULT_API_URL": self.primary_api.url,
            "SMART_VAULT_API_KEY": self.primary_api.api_key,
            "SMART_VAULT_DR_REGION": self.dr_region,
            **self.dr_api_environment(),
        }

    def dr_api_environment(self) -> dict[str, str]:
        """The DR stack's restore API (`smart-vault drills` and DR-side commands use it)."""
        dr = next((api for api in self.provisioned.apis if api.region == self.dr_region), None)
        return {"SMART_VAULT_DR_API_URL": dr.url, "SMART_VAULT_DR_API_KEY": dr.api_key} if dr else {}

    def to_json(self) -> str:
        data = {
            "aws_endpoint_url": self.aws_endpoint_url,
            "lambda_endpoint_url": self.lambda_endpoint_url,
            "primary_region": self.primary_region,
            "dr_region": self.dr_region,
            "backup_function": self.backup_function,
            "log_dir": self.log_dir,
            "provisioned": self.provisioned.to_dict(),
            "fleet": self.fleet.to_dict() if self.fleet else None,
            "pid": self.pid,
        }
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> StackState:
        data = json.loads(text)
        data["provisioned"] = Provisioned.from_dict(data["provisioned"])
        data["fleet"] = Fleet.from_dict(data["fleet"]) if data.get("fleet") else None
        return cls(**data)


class LocalStack:
    """The emulator, the Lambda endpoint and one gateway per restore API, started and stopped together."""

    def __init__(
        self,
        config: DeploymentConfig | None = None,
        *,
        openapi_path: Path | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.config = config or DeploymentConfig()
        self.openapi_path = openapi_path or default_openapi_path()
        self._log_tmp = None if log_dir else tempfile.TemporaryDirectory(prefix="smart-vault-logs-")
        self.log_dir = log_dir or Path(self._log_tmp.name)  # type: ignore[union-attr]
        self.emulator = Emulator()
        self.gateways: list[GatewayEndpoint] = []
        self._lambda_endpoint: LambdaEndpoint | None = None
        self.state: StackState | None = None

    def start(self, *, seed_fleet: bool = True) -> StackState:
        try:
            return self._start(seed_fleet)
        except BaseException:
            self.stop()
            raise

    def _start(self, seed_fleet: bool) -> StackState:
        template = read_openapi_template(self.openapi_path)  # fail before starting anything
        aws_url = self.emulator.start()
        lambda_url = self._start_lambdas(aws_url)
        networks = None
        if seed_fleet:
            # As an operator would: the DR network exists before the deployment, which names it
            # (Terraform's dr_subnet_id / dr_security_group_ids), so DR restores know where to land.
            networks = create_networks(
                self.emulator.client, (self.config.primary_region, self.config.dr_region)
            )
            if self.config.dr_subnet_id is None:
                dr_network = networks[self.config.dr_region]
                self.config = replace(
                    self.config,
                    dr_subnet_id=dr_network.subnet_id,
                    dr_security_group_ids=(dr_network.security_group_id,),
                )
        provisioned = provision(self.emulator.client, self.config, self.lambdas, template)
        self.monitoring = provision_monitoring(self.emulator.client, self.config, provisioned)
        # The primary region's functions import their code while the gateways start and the fleet is seeded.
        self.lambdas.prewarm(self.config.primary_region)
        self._start_gateways(template, provisioned)
        fleet = None
        if seed_fleet:
            fleet = seed_demo_fleet(
                self.emulator.client,
                self.config.primary_region,
                self.config.dr_region,
                self.config.backup_tag_key,
                self.config.backup_tag_values,
                networks,
            )
        self.state = StackState(
            aws_endpoint_url=aws_url,
            lambda_endpoint_url=lambda_url,
            primary_region=self.config.primary_region,
            dr_region=self.config.dr_region,
            backup_function=self.config.backup_function_name,
            log_dir=str(self.log_dir),
            provisioned=provisioned,
            fleet=fleet,
        )
        return self.state

    def _start_lambdas(self, aws_url: str) -> str:
        """The Lambda service and its endpoint (returns its URL), the functions' calls sent to `aws_url`."""
        self.lambdas = LambdaService(
            base_environment={
                **FAKE_CREDENTIALS,
                "AWS_ENDPOINT_URL": aws_url,
                "POWERTOOLS_TRACE_DISABLED": "true",
            },
            log_dir=self.log_dir,
            default_region=self.config.primary_region,
        )
        self.lambdas.telemetry = CloudWatchShipper(self.emulator.client)
        self._lambda_endpoint = LambdaEndpoint(self.lambdas)
        lambda_url = self._lambda_endpoint.start()
        # Functions call other functions (the API invokes the worker) through this endpoint, as in AWS.
        self.lambdas.base_environment = {
            **self.lambdas.base_environment,
            "AWS_ENDPOINT_URL_LAMBDA": lambda_url,
        }
        return lambda_url

    def _start_gateways(self, template: str, provisioned: Provisioned) -> None:
        """An API gateway endpoint for each restore API, with the edge rules of its OpenAPI document."""
        for api in provisioned.apis:
            function = self.lambdas.resolve(api.function_name, api.region)
            rules = edge_rules(api_document(template, api.region, function.arn))
            gateway = Gateway(
                self.emulator.client("apigateway", api.region),
                api.api_id,
                api.stage,
                self._invoke,
                edge=rules,
            )
            endpoint = GatewayEndpoint(gateway)
            api.url = endpoint.start()
            self.gateways.append(endpoint)

    def _invoke(self, function_arn: str, payload: bytes) -> InvokeResult:
        return self.lambdas.invoke(self.lambdas.resolve(function_arn), payload)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait for asynchronous invocations (restore workers) to finish."""
        return self.lambdas.wait_idle(timeout)

    def take_region_down(self, region: str) -> None:
        """A regional outage: every AWS call for `region` is refused and its restore API stops answering."""
        self.emulator.take_region_down(region)
        apis = self.state.provisioned.apis if self.state else []
        for api, endpoint in zip(apis, self.gateways, strict=False):
            if api.region == region:
                endpoint.stop()

    def stop(self) -> None:
        for gateway in self.gateways:
            gateway.stop()
        self.gateways.clear()
        if self._lambda_endpoint is not None:
            self._lambda_endpoint.stop()
            self._lambda_endpoint = None
            self.lambdas.shutdown()
        if getattr(self.emulator, "url", None):
            self.emulator.stop()
            self.emulator.url = ""
        if self._log_tmp is not None:
            self._log_tmp.cleanup()
            self._log_tmp = None

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
