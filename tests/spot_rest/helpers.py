"""Helpers for the Spot REST tests: real clients pointed at the simulator by
URL only, plus a raw signed-request helper for inputs no client would send."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import ccxt
import httpx
import krakenex

from simulator.gateways.spot_rest.auth import sign

_nonce = itertools.count(int(time.time() * 1000) * 1000)


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


class Raw:
    """Signed requests with full control over body bytes and headers."""

    def __init__(self, venue: Any, creds: dict[str, Any]) -> None:
        self.base = venue.spot_rest
        self.key = creds["api_key"]
        self.secret = creds["api_secret"]
        self.http = httpx.Client(timeout=10)

    def nonce(self) -> int:
        return next(_nonce)

    def post(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        as_json: bool = False,
        body: bytes | None = None,
        nonce: Any = None,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        path = f"/0/private/{method}"
        n = self.nonce() if nonce is None else nonce
        if body is None:
            data = {"nonce": n, **(params or {})}
            body = json.dumps(data).encode() if as_json else urlencode(data).encode()
        ctype = content_type or ("application/json" if as_json else "application/x-www-form-urlencoded")
        h = {"API-Key": self.key, "API-Sign": sign(path, str(n), body, self.secret), "Content-Type": ctype}
        h.update(headers or {})
        r = self.http.post(self.base + path, content=body, headers=h)
        return r.status_code, r.json()

    def ok(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        status, data = self.post(method, params, **kw)
        assert status == 200 and data["error"] == [], data
        return data["result"]

    def error(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> str:
        status, data = self.post(method, params, **kw)
        assert status == 200 and "result" not in data, data
        assert len(data["error"]) == 1
        return str(data["error"][0])

    def public(self, method: str, **params: Any) -> dict[str, Any]:
        r = self.http.get(f"{self.base}/0/public/{method}", params=params)
        out: dict[str, Any] = r.json()
        return out


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
