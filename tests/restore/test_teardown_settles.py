"""A drill's teardown looks for leftovers right after its deletes. EC2's Describe calls are eventually
consistent (moto's are not): a volume or image deleted a moment ago may still be listed, which would fail a
clean drill. The teardown asks again for a while, on the engine's engine_clock, before it reports a leftover."""

from __future__ import annotations

from smart_vault.restore.engine import teardown
from smart_vault.restore.engine.polling import Deadline


def listed(monkeypatch, answers):
    """find_leftovers answering `answers` in turn (the last one from then on); the calls it got."""
    calls = []

    def find(ec2, restore_id):
        calls.append(restore_id)
        return list(answers[min(len(calls), len(answers)) - 1])

    monkeypatch.setattr(teardown, "find_leftovers", find)
    return calls


def test_a_deleted_volume_still_listed_for_a_moment_is_no_leftover(monkeypatch, engine_clock):
    calls = listed(monkeypatch, [["vol-1", "ami-1"], ["vol-1"], []])
    deadline = Deadline(seconds_left=300, reserve_seconds=0, clock=engine_clock)
    assert teardown._settled_leftovers(None, "r-1", deadline) == []  # type: ignore[arg-type]
    assert len(calls) == 3 and 0 < engine_clock.now <= teardown.LEFTOVERS_SETTLE_SECONDS


def test_what_is_still_listed_after_the_settling_time_is_left_over(monkeypatch, engine_clock):
    listed(monkeypatch, [["vol-1"]])
    deadline = Deadline(seconds_left=300, reserve_seconds=0, clock=engine_clock)
    assert teardown._settled_leftovers(None, "r-1", deadline) == ["vol-1"]  # type: ignore[arg-type]
    assert engine_clock.now <= teardown.LEFTOVERS_SETTLE_SECONDS


def test_the_settling_never_outlasts_the_teardowns_deadline(monkeypatch, engine_clock):
    listed(monkeypatch, [["vol-1"]])
    deadline = Deadline(seconds_left=7, reserve_seconds=0, clock=engine_clock)
    assert teardown._settled_leftovers(None, "r-1", deadline) == ["vol-1"]  # type: ignore[arg-type]
    assert engine_clock.now <= 7
