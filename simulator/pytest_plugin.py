"""pytest plugin (entry point `pytest11`): the `kraken_venue` fixtures.

    def test_buy(kraken_venue):
        acct = kraken_venue.admin.create_account({"USD": "100000"})
        exchange = ccxt.kraken({"apiKey": acct["api_key"], "secret": acct["api_secret"]})
        exchange.urls["api"] = dict(exchange.urls["api"], public=kraken_venue.spot_rest,
                                    private=kraken_venue.spot_rest)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from simulator.scenario import Scenario
from simulator.server.runtime import Runtime, Settings
from simulator.server.server import ThreadedVenue


class AdminError(RuntimeError):
    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"admin call failed ({status}): {detail}")
        self.status = status
        self.detail = detail


class AdminClient:
    """Thin client for /admin (stdlib only, usable from any test)."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.token = token

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                detail = json.loads(raw).get("detail")
            except (ValueError, AttributeError):
                detail = raw.decode(errors="replace")
            raise AdminError(exc.code, detail) from None

    def create_account(self, balances: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        body = {"balances": {k: str(v) for k, v in (balances or {}).items()}, **kw}
        if "futures_balances" in body:
            body["futures_balances"] = {k: str(v) for k, v in body["futures_balances"].items()}
        return self.request("POST", "/accounts", body)  # type: ignore[no-any-return]

    def account(self, account_id: str) -> dict[str, Any]:
        return self.request("GET", f"/accounts/{account_id}")  # type: ignore[no-any-return]

    def reset(self) -> dict[str, Any]:
        return self.request("POST", "/reset", {})  # type: ignore[no-any-return]

    def journal(self, since: int = 0, events: bool = True) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.request("GET", f"/journal?since={since}&limit=100000&events={str(events).lower()}")["entries"]
        return out

    @property
    def clock(self) -> dict[str, Any]:
        return self.request("GET", "/clock")  # type: ignore[no-any-return]

    def set_clock(self, **kw: Any) -> dict[str, Any]:
        return self.request("POST", "/clock", kw)  # type: ignore[no-any-return]

    def freeze(self) -> dict[str, Any]:
        return self.set_clock(mode="frozen")

    def advance(self, ms: int) -> dict[str, Any]:
        return self.set_clock(advance_ms=ms)

    def faults(self, **kw: Any) -> dict[str, Any]:
        return self.request("POST", "/faults", kw)  # type: ignore[no-any-return]

    def seed_book(self, symbol: str, **kw: Any) -> dict[str, Any]:
        return self.request("POST", f"/books/{symbol}", kw)  # type: ignore[no-any-return]

    def set_index(self, symbol: str, price: Any) -> dict[str, Any]:
        return self.request("POST", f"/index/{symbol}", {"price": str(price)})  # type: ignore[no-any-return]

    def connections(self) -> list[dict[str, Any]]:
        return self.request("GET", "/connections")  # type: ignore[no-any-return]


class KrakenVenue:
    """A running simulator: URLs as attributes, `.admin`, `.runtime` (in-process)."""

    def __init__(self, threaded: ThreadedVenue) -> None:
        self._threaded = threaded
        info = threaded.info
        self.info = info
        self.spot_rest: str = info["spot_rest"]
        self.spot_ws: str = info["spot_ws"]
        self.spot_ws_auth: str = info["spot_ws_auth"]
        self.spot_ws_l3: str = info["spot_ws_l3"]
        self.futures_rest: str = info["futures_rest"]
        self.futures_ws: str = info["futures_ws"]
        self.fix: dict[str, Any] = info["fix"]
        self.fix_host: str = info["fix"]["host"]
        self.fix_port: int = info["fix"]["port"]
        self.admin_url: str = info["admin"]
        self.tls: dict[str, Any] | None = info.get("tls")
        self.demo_account: dict[str, Any] = info.get("demo_account", {})
        self.admin = AdminClient(self.admin_url, threaded.settings.admin_token)

    @property
    def runtime(self) -> Runtime:
        assert self._threaded.server is not None
        return self._threaded.server.rt

    def call(self, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` on the venue's own thread (safe in-process access)."""
        return self._threaded.call(fn, *args)

    def asgi_app(self) -> Any:
        """The ASGI app, for httpx.ASGITransport (REST without a socket)."""
        assert self._threaded.server is not None
        return self._threaded.server.app

    def reset(self) -> None:
        """Back to the scenario; the demo account keeps its keys (same seed, same keys)."""
        self.admin.reset()


def start_venue(
    seed: int = 0,
    scenario: Scenario | None = None,
    tls: bool = False,
    admin_token: str | None = None,
    state_dir: str | None = None,
    data_dir: str | None = None,
) -> tuple[ThreadedVenue, KrakenVenue]:
    settings = Settings(
        port=0, fix_port=0, tls_port=0 if tls else None, seed=seed, admin_token=admin_token, state_dir=state_dir,
        data_dir=data_dir, journal_max=None,  # a test reads its whole run from the journal
    )
    tv = ThreadedVenue(settings, scenario)
    tv.start()
    return tv, KrakenVenue(tv)


def _running_venue() -> Iterator[KrakenVenue]:
    tv, venue = start_venue()
    try:
        yield venue
    finally:
        tv.stop()


@pytest.fixture
def kraken_venue() -> Iterator[KrakenVenue]:
    """A fresh simulator on free loopback ports for one test."""
    yield from _running_venue()


@pytest.fixture(scope="session")
def kraken_venue_session() -> Iterator[KrakenVenue]:
    """One simulator for the whole session (faster; reset it yourself if needed)."""
    yield from _running_venue()
