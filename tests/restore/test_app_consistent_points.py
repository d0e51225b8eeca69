"""(v3) GET /recovery-points shows whether each recovery point is application-consistent."""

from __future__ import annotations

import pytest

from smart_vault.restore.recovery_points import app_consistent_of
from support.restore_world import DR_REGION, PRIMARY_REGION, api_event, call_api, make_snapshot, setup_world

INSTANCE = "i-0123456789abcdef0"
TAG = "smart-vault:app-consistent"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["true", "true"], True),
        (["false", "false"], False),
        (["true", "false"], False),  # a set is app-consistent only when every snapshot says so
        ([None, None], None),
    ],
)
def test_app_consistent_of_a_set(flags, expected):
    tagged = [{TAG: f} if f is not None else {} for f in flags]
    assert app_consistent_of(tagged) is expected


@pytest.fixture
def world(moto_aws, monkeypatch):
    return setup_world(monkeypatch)


def tags(set_id, **extra):
    return {
        "ManagedBy": "smart-vault",
        "smart-vault:backup-set": set_id,
        "smart-vault:source-instance": INSTANCE,
        "smart-vault:set-size": "1",
        "Name": "db-1",
        **extra,
    }


def get_points(params):
    event = api_event("GET", "/recovery-points")
    event["resource"] = event["requestContext"]["resourcePath"] = "/recovery-points"
    event["queryStringParameters"] = params
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()}
    return call_api(event)


def test_route_shows_app_consistent_true_false_or_null(world):
    make_snapshot(PRIMARY_REGION, tags("bset-00000000000000000001", **{TAG: "true"}))
    make_snapshot(PRIMARY_REGION, tags("bset-00000000000000000002", **{TAG: "false"}))
    make_snapshot(PRIMARY_REGION, tags("bset-00000000000000000003"))
    make_snapshot(DR_REGION, tags("bset-00000000000000000001", **{TAG: "true"}))  # the DR copy keeps it

    primary = get_points({"instance_id": INSTANCE})
    dr = get_points({"instance_id": INSTANCE, "region": DR_REGION})

    assert primary.status == 200
    flags = {p["backup_set_id"][-1]: p["app_consistent"] for p in primary.body["recovery_points"]}
    assert flags == {"1": True, "2": False, "3": None}
    assert [p["app_consistent"] for p in dr.body["recovery_points"]] == [True]
