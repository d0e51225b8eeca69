"""(v3) The simulated week with the vault account: every completed DR copy the vault hears of gets exactly one
vault copy, the vault keeps within 2 h of the DR region once its first copies are done, and its figures
bite (a vault that copied without claiming would show duplicates)."""

from __future__ import annotations

import pytest

from smart_vault.sim.scenario import run_scenario
from smart_vault.sim.vault_scenario import vault_pipeline
from smart_vault.vault import copies


def vault_week(instances=40, days=6, seed=7, copy_limit=3, **params):
    """40 instances x 3 volumes with 3 slots: the first full copies take days, as at full scale, and leave
    nights after them to measure the vault's lag on."""
    scenario = vault_pipeline(instances=instances, days=days, seed=seed)
    scenario.params.copy_limit = copy_limit
    for key, value in params.items():
        setattr(scenario.params, key, value)
    return run_scenario(scenario)


@pytest.fixture(scope="module")
def week():
    return vault_week()


def test_every_completed_dr_copy_gets_one_vault_copy(week):
    assert week["vault_invocation_errors"] == [] and week["invocation_errors"] == []
    assert week["vault_duplicates"] == 0
    assert week["vault_lost"] == 0, week["vault_lost_sample"]
    assert week["vault_rejected"] == 0
    assert week["vault_copy_events_dropped"] > 0  # the vault's slots are refilled by its reconciliation too
    assert week["vault_copies"] >= 3 * 40 * 6  # three volumes, forty instances, six nights


def test_the_vault_keeps_within_two_hours_of_the_dr_region(week):
    assert week["vault_covered_after_h"] is not None
    assert week["vault_rpo_gap_max_s"] is not None, "no night after the first copies were done"
    assert week["vault_rpo_gap_max_s"] <= 2 * 3600


def test_the_backup_side_is_unchanged_by_the_vault(week):
    assert (week["duplicates"], week["lost"], week["unsafe_deletions"]) == (0, 0, 0)


def test_a_vault_that_copied_without_claiming_would_show_duplicates(monkeypatch):
    """The figure bites: without the ledger's claim and the copied-already checks (the vault's copies, and
    the ledger's record of a started copy), redelivered announcements make second copies."""
    monkeypatch.setattr(copies.CopyLedger, "claim", lambda *a, **k: True)
    monkeypatch.setattr(copies.CopyLedger, "copied", lambda *a, **k: False)
    monkeypatch.setattr(copies, "vault_copies_of", lambda *a, **k: [])
    figures = vault_week(instances=10, days=2, seed=3, duplicate_rate=0.5)
    assert figures["vault_duplicates"] > 0
