"""Counts the requests the fuzz tests send and prints the total in pytest's summary.

Registered from tests/conftest.py (`pytest_plugins`): under pytest-xdist the controller process loads only
that conftest, and it is the controller that prints the summary. Each process counts what its tests sent;
xdist workers hand their counts to the controller through `workeroutput`.
"""

from __future__ import annotations

from collections import Counter

import pytest

OUTPUT_KEY = "smart_vault_fuzz_requests"
_counts_key = pytest.StashKey[Counter]()


def _counts(config: pytest.Config) -> Counter:
    if _counts_key not in config.stash:
        config.stash[_counts_key] = Counter()
    return config.stash[_counts_key]


@pytest.fixture(scope="session")
def fuzz_requests(pytestconfig) -> Counter:
    """Add one per request sent, under the name of the generator that made it."""
    return _counts(pytestconfig)


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[OUTPUT_KEY] = dict(_counts(session.config))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    _counts(node.config).update(getattr(node, "workeroutput", {}).get(OUTPUT_KEY, {}))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    counts = _counts(config)
    if not counts:
        return
    detail = ", ".join(f"{name}: {count}" for name, count in sorted(counts.items()))
    terminalreporter.write_sep("-", "fuzzing")
    terminalreporter.write_line(
        f"fuzz: {sum(counts.values())} generated requests sent to the restore API handler ({detail})"
    )
