"""Shared fixtures: a clean AWS environment per test, pointed at moto, with both regions at hand."""

from __future__ import annotations

import gc
import os

# Before moto is imported anywhere: no default AMIs (fast), fake credentials, no real endpoints.
os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_DEV", "false")

import botocore.client
import botocore.hooks
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws
from moto.core import serialize as moto_serialize

from smart_vault import aws
from smart_vault.authz import hook
from smart_vault.local import moto_fidelity

# tests/support/aws_call_recorder.py: which AWS calls each Lambda makes (tests/iam)
from support import aws_call_recorder
from support.fake_clock import FakeClock

# Counts the fuzz tests' requests and prints the total in the summary (the controller process of
# pytest-xdist loads only this conftest, so the plugin is registered here).
pytest_plugins = ["fuzz.request_count", "support.backup_world"]

# The tests build large, long-lived heaps (moto's state, botocore's models) and allocate fast: with Python's
# default thresholds (700, 10, 10) the cyclic collector ran ~14,500 times in tests/restore and tests/backup and
# walked the whole heap often enough to take 12% of their CPU. Collecting less often takes about a third of
# that; every garbage cycle is still collected.
gc.set_threshold(20_000, 20, 20)

PRIMARY_REGION = "eu-west-1"
DR_REGION = "eu-central-1"
ACCOUNT_ID = "123456789012"  # moto's default account


class _PathsOnce(list):
    """A loader's search paths, where adding a path it already has is a no-op (each boto3 Session appends
    boto3's own data directory to its loader's paths; a shared loader would otherwise grow without end)."""

    def append(self, path):
        if path not in self:
            super().append(path)


def _once_per(key_of, build):
    """`build`, called once per `key_of(*args)`: a later call with the same key answers the first one's result."""
    built = {}

    def once(*args, **kwargs):
        key = key_of(*args, **kwargs)
        if key not in built:
            built[key] = build(*args, **kwargs)
        return built[key]

    return once


@pytest.fixture(scope="session", autouse=True)
def shared_model_loader():
    """One botocore data loader per search path for the whole run, shared by every Session.

    Tests still get a fresh Session and fresh clients (`aws_environment`), but a fresh Session no longer
    re-reads and re-parses botocore's JSON service models: an EC2 client from a fresh Session costs ~10x one
    whose Session has loaded them. The loader holds only the parsed files of botocore's data directories,
    which no test changes; credentials, configuration, event handlers and clients stay per Session.
    """
    original = botocore.session.create_loader

    def new_loader(search_path_string=None):
        loader = original(search_path_string)
        loader._search_paths = _PathsOnce(loader.search_paths)
        return loader

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", _once_per(lambda paths=None: paths, new_loader))
        yield


@pytest.fixture(scope="session", autouse=True)
def shared_client_classes():
    """One botocore service model and one client class per service and API version for the whole run.

    botocore builds both for every client of every Session: the class (a method per operation, ~700 for EC2)
    and the model, whose operation models it builds again to look for endpoint discovery. Both depend only on
    botocore's data files (one loader, `shared_model_loader`) and on boto3's `creating-client-class`
    handlers, the same for every Session here (no test registers one). Clients stay per Session and per test.
    """
    creator = botocore.client.ClientCreator
    load_service_model = _once_per(
        lambda self, service_name, api_version=None: (service_name, api_version), creator._load_service_model
    )
    create_client_class = _once_per(
        lambda self, service_name, service_model: (service_name, service_model.api_version),
        creator._create_client_class,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(creator, "_load_service_model", load_service_model)
        patch.setattr(creator, "_create_client_class", create_client_class)
        yield


@pytest.fixture(scope="session", autouse=True)
def shared_event_alias_names():
    """One memo of botocore's event-name aliasing for the whole run, shared by every Session and client.

    Each emitter (a Session's, and the copy every client makes of it) starts with an empty memo, so each new
    client worked out again, for every event it emitted or registered, whether one of botocore's
    EVENT_ALIASES applies (a split and a scan of the aliases per name): with fresh clients in every test
    that was 18 % of building the restore world. The answer depends only on the name and the aliases, so
    emitters whose aliases are botocore's own share one memo; any other emitter keeps its own.
    """
    aliaser = botocore.hooks.EventAliaser
    original_init = aliaser.__init__
    shared: dict[str, str] = {}

    def __init__(self, event_emitter, event_aliases=None):
        original_init(self, event_emitter, event_aliases)
        if self._event_aliases == botocore.hooks.EVENT_ALIASES:
            self._alias_name_cache = shared

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aliaser, "__init__", __init__)
        yield


@pytest.fixture(scope="session", autouse=True)
def moto_attribute_names_once():
    """moto works out the names an answer's attribute may have on its Python object once per (object type,
    attribute, model shape), not again for every attribute of every object it serializes.

    moto's serializer asks six alias providers, per attribute of every answer, which names to look up
    (`XFormedAttributePicker.get_possible_keys`, a fifth of moto's time in the restore and vault tests). Their
    answer reads only the object's class (its name, its class-level `Meta`), the attribute and the botocore
    shape with its parent (name, type, members, serialization), the same objects for the whole run (moto's
    service models are cached per process). So it is kept per (type, attribute, shape, parent), holding the
    shape and parent so that their ids are not reused; the values are still looked up on each object.
    """
    picker = moto_serialize.XFormedAttributePicker
    original = picker.get_possible_keys
    names: dict[tuple[type, str, int, int], tuple[object, object, tuple[str, ...]]] = {}

    def get_possible_keys(self, context):
        shape = context.shape
        parent = getattr(shape, "parent", None)
        key = (type(context.obj), context.key, id(shape), id(parent))
        known = names.get(key)
        if known is None or known[0] is not shape or known[1] is not parent:
            if len(names) > 100_000:  # shapes built per call (error answers) must not grow it without end
                names.clear()
            known = names[key] = (shape, parent, tuple(original(self, context)))
        return known[2]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(picker, "get_possible_keys", get_possible_keys)
        yield


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch):
    """Every test starts with fake credentials, the primary region, no endpoint overrides, no cached client."""
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_REGION", PRIMARY_REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", PRIMARY_REGION)
    aws.reset_clients()
    yield
    aws.reset_clients()


@pytest.fixture
def moto_aws():
    """moto's in-process emulation of every AWS service, with the project's fidelity layer (launching from a
    registered AMI creates its volumes); create clients after this fixture starts."""
    moto_fidelity.apply()
    with mock_aws():
        yield


@pytest.fixture
def engine_clock():
    """A FakeClock as the product's clock and sleep of its waits (aws.clock: retries, polls): nothing sleeps."""
    fake = FakeClock()
    aws.set_clock(fake.monotonic, fake.sleep)
    yield fake
    aws.set_clock(None, None)


# tests/iam checks the AWS calls recorded by a run of the other tests, so it runs only after one (`make test`).
collect_ignore = [] if os.environ.get(aws_call_recorder.ENV) else ["iam"]


@pytest.fixture(scope="session", autouse=True)
def record_aws_calls():
    """With SMART_VAULT_AWS_CALLS=<dir>, record each AWS operation the code makes and which function made it."""
    directory = os.environ.get(aws_call_recorder.ENV)
    if not directory:
        yield
        return
    with aws_call_recorder.recording(directory):
        yield


@pytest.fixture(scope="session", autouse=True)
def authorize_aws_calls():
    """Every AWS call a Lambda function makes is evaluated against its Terraform IAM policies, as AWS would
    (smart_vault.authz): a call the role does not allow fails the test with AWS's own error."""
    with hook.enforcing():
        yield
