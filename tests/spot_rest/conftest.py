"""Fixtures for the Spot REST tests (helpers live in `helpers`)."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import Raw


@pytest.fixture
def funded(kraken_venue: Any) -> dict[str, Any]:
    creds: dict[str, Any] = kraken_venue.admin.create_account({"XBT": "2", "ETH": "10", "USD": "100000", "EUR": "5000"})
    return creds


@pytest.fixture
def raw(kraken_venue: Any, funded: dict[str, Any]) -> Raw:
    return Raw(kraken_venue, funded)
