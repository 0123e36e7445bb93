"""Helpers for the Spot REST tests: real clients pointed at the simulator by
URL only, plus a raw signed-request helper for inputs no client would send."""

from __future__ import annotations

from typing import Any

import ccxt
import krakenex

from tests.kit.clients import SpotRest, next_nonce


def ccxt_client(venue: Any, creds: dict[str, Any]) -> ccxt.kraken:
    ex = ccxt.kraken({"apiKey": creds["api_key"], "secret": creds["api_secret"], "enableRateLimit": False})
    ex.urls["api"] = dict(ex.urls["api"], public=venue.spot_rest, private=venue.spot_rest)
    return ex


def sdk(cls: Any, venue: Any, creds: dict[str, Any] | None = None) -> Any:
    if creds is None:
        return cls(url=venue.spot_rest)
    return cls(key=creds["api_key"], secret=creds["api_secret"], url=venue.spot_rest)


def kx(venue: Any, creds: dict[str, Any]) -> krakenex.API:
    api = krakenex.API(creds["api_key"], creds["api_secret"])
    api.uri = venue.spot_rest
    return api


class Raw(SpotRest):
    """Signed requests for one key, with full control over body bytes and headers."""

    def __init__(self, venue: Any, creds: dict[str, Any]) -> None:
        super().__init__(venue.spot_rest)
        self.creds = creds
        self.key = creds["api_key"]
        self.secret = creds["api_secret"]

    def nonce(self) -> int:
        return next_nonce()

    def post(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> tuple[int, dict[str, Any]]:
        return self.private(self.creds, method, params, **kw)  # type: ignore[no-any-return]

    def ok(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        status, data = self.post(method, params, **kw)
        assert status == 200 and data["error"] == [], data
        return data["result"]

    def error(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> str:
        status, data = self.post(method, params, **kw)
        assert status == 200 and "result" not in data, data
        assert len(data["error"]) == 1
        return str(data["error"][0])


def journal_len(venue: Any) -> int:
    return len(venue.admin.journal(events=False))


def sdk_error(call: Any) -> str:
    """The Kraken error of a python-kraken-sdk call: raised (mapped strings)
    or returned as the envelope (strings the SDK has no exception for)."""
    try:
        res = call()
    except Exception as exc:  # noqa: BLE001 - the SDK's exceptions share no base class
        return str(exc)
    assert isinstance(res, dict) and res.get("error"), res
    return str(res["error"][0])
