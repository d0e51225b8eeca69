"""The botocore hook of the authorization layer: `enforcing()` attaches an `Enforcer` to every botocore client
created inside the block (boto3's and smart_vault.aws's alike), and `check_call` evaluates each call made from
a Lambda function's code (found on the stack, `callers.py`) before it is sent.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from smart_vault.authz import callers
from smart_vault.authz.enforce import DISABLE_ENV, RECORD_ENV, Call, Enforcer
from smart_vault.authz.facts import Facts, MotoFacts

_evaluating = threading.local()


def check_call(
    enforcer: Enforcer,
    service: str,
    operation: str,
    params: dict[str, Any],
    region: str,
    account: str | None = None,
) -> None:
    """Evaluate one botocore call made from the current stack (no-op when no Lambda function makes it, and
    for the lookups an evaluation itself makes through the APIs, see `api_facts`)."""
    if os.environ.get(DISABLE_ENV, "").lower() == "off" or getattr(_evaluating, "active", False):
        return
    function, _ = callers.calling_function(sys._getframe(2))
    if function is None or function == callers.UNMAPPED:
        return
    _evaluating.active = True
    try:
        enforcer.check(Call(function, service, operation, params, region, os.environ, account))
    finally:
        _evaluating.active = False


def _caller_account(enforcer: Enforcer, client: Any) -> str | None:
    """The account of the client's credentials, where the facts can tell it (moto's assumed-role keys)."""
    account_of = getattr(enforcer.facts, "account_of_access_key", None)
    credentials = getattr(getattr(client, "_request_signer", None), "_credentials", None)
    if account_of is None or credentials is None:
        return None
    return account_of(getattr(credentials, "access_key", "") or "")


def hook_client(client: Any, owner: object, event: str, handler: Callable[..., None]) -> Any:
    """Register `handler(service, region, **event_kwargs)` first on `client`'s botocore `event`, once per
    `owner` (a client may pass through the hooks of more than one block, or of the same one twice)."""
    marks = client.__dict__.setdefault("_smart_vault_hooks", set())
    if (id(owner), event) in marks:
        return client
    marks.add((id(owner), event))
    service = client.meta.service_model.service_name
    client.meta.events.register_first(event, partial(handler, service, client.meta.region_name or ""))
    return client


@contextmanager
def every_client(attach: Callable[[Any], Any]) -> Iterator[None]:
    """Pass every botocore client created inside the block (boto3's and smart_vault.aws's alike) to `attach`."""
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        return attach(original(self, *args, **kwargs))

    # Patching botocore is the point here: the checker cannot follow a replaced method.
    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]


def attach(enforcer: Enforcer, client: Any) -> Any:
    def before_parameter_build(
        service: str, region: str, params: dict[str, Any], model: Any, **_: Any
    ) -> None:
        check_call(enforcer, service, model.name, params, region, _caller_account(enforcer, client))

    return hook_client(client, enforcer, "before-parameter-build", before_parameter_build)


@contextmanager
def enforcing(facts: Facts | None = None, record_dir: str | None = None) -> Iterator[Enforcer]:
    """Attach the authorization layer to every botocore client created inside the block."""
    enforcer = Enforcer(
        facts or MotoFacts(), record_dir if record_dir is not None else os.environ.get(RECORD_ENV)
    )
    with every_client(lambda client: attach(enforcer, client)):
        yield enforcer
