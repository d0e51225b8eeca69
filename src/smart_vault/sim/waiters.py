"""botocore's EC2 waiters (`volume_available`, `volume_in_use`, `instance_running`, ...) on the simulated
clients: botocore's own waiter model and acceptors, as `Waiter.wait` applies them; only the sleep is virtual
(the world's clock), and every poll is one call of the simulated client (so one request through its `send`).
"""

from __future__ import annotations

import functools
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError, WaiterError


@functools.cache
def _waiter_model() -> Any:
    import botocore.session
    from botocore.waiter import WaiterModel

    loader = botocore.session.get_session().get_component("data_loader")
    return WaiterModel(loader.load_service_model("ec2", "waiters-2"))


class SimWaiter:
    """botocore's waiter (its model and acceptors, as `Waiter.wait` applies them) with a virtual sleep."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = "".join(part.title() for part in name.split("_"))
        self.config = _waiter_model().get_waiter(self.name)

    def wait(self, WaiterConfig: dict[str, int] | None = None, **kwargs: Any) -> None:
        config = WaiterConfig or {}
        delay = config.get("Delay", self.config.delay)
        max_attempts = config.get("MaxAttempts", self.config.max_attempts)
        # DescribeVolumes -> describe_volumes, as boto3 names it.
        operation = xform_name(self.config.operation)
        for attempt in range(1, max_attempts + 1):
            try:
                response = getattr(self.client, operation)(**kwargs)
            except ClientError as exc:
                response = exc.response
            state = next((a.state for a in self.config.acceptors if a.matcher_func(response)), "waiting")
            if state == "success":
                return
            if state == "failure" or ("Error" in response and state == "waiting"):
                reason = "Waiter encountered a terminal failure state"
                if "Error" in response:
                    reason = f"An error occurred ({response['Error'].get('Code')}): {response['Error'].get('Message')}"
                raise WaiterError(name=self.name, reason=reason, last_response=response)
            if attempt < max_attempts:
                self.client.world.sleep(delay)
        raise WaiterError(name=self.name, reason="Max attempts exceeded", last_response=response)
