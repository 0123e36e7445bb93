"""Fixtures for the "prove it" suite: one venue per module, and a watch on the
venue's error log for every test (a masked exception is a failure too)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.pytest_plugin import KrakenVenue, start_venue

from .kit import LogWatch


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "load: load with reconciliation (short in CI; KRAKEN_SIM_LOAD_SECONDS=N for longer)")


@pytest.fixture(scope="module")
def venue() -> Iterator[KrakenVenue]:
    """A venue shared by one module's tests (fuzz modules keep it small and clean)."""
    tv, v = start_venue(seed=11)
    try:
        yield v
    finally:
        tv.stop()


@pytest.fixture(autouse=True)
def venue_errors() -> Iterator[LogWatch]:
    """Fail the test if the venue logged an ERROR (exceptions swallowed by a gateway)."""
    with LogWatch() as watch:
        yield watch
    problems = watch.problems()
    assert not problems, "venue logged errors:\n" + "\n".join(problems[:20])
