"""Signed test clients, one copy for tests/ and benchmarks/ (no pytest here).

Every signature a test or benchmark sends is made here.  The HMACs are Kraken's
documented algorithms, so this module calls the simulator's own implementation
of them (the same function its verifier uses); Kraken's published vectors pin
that implementation (tests/derivatives/test_auth.py, tests/spot_rest/test_rest_auth.py).
Credentials are the dicts the admin API returns for an account: `api_key`,
`api_secret`, `futures_api_key`, `futures_api_secret`, and `fix` with
`api_key`, `api_secret`, `sender_comp_id`, `target_comp_id`.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx

from simulator.gateways.fix.auth import kraken_logon_password
from simulator.gateways.futures_rest.auth import authent, sign_challenge
from simulator.gateways.spot_rest.auth import sign

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
FUTURES_V3 = "/derivatives/api/v3/"

_nonces = itertools.count(int(time.time() * 1000) * 1000)


def next_nonce() -> int:
    """Strictly increasing across the whole process (every key shares it)."""
    return next(_nonces)


# ------------------------------------------------------------------ signatures
def rest_sign(path: str, nonce: str, body: bytes, secret_b64: str) -> str:
    """Spot API-Sign: b64(HMAC-SHA512(secret, path + SHA256(nonce + body)))."""
    return sign(path, nonce, body, secret_b64)


def futures_authent(post_data: str, nonce: str, path: str, secret_b64: str) -> str:
    """Derivatives Authent: b64(HMAC-SHA512(secret, SHA256(postData + nonce + path)))."""
    return authent(post_data, nonce, path, secret_b64)


def futures_sign_challenge(challenge: str, secret_b64: str) -> str:
    """The `signed_challenge` of a Derivatives WS v1 login."""
    return sign_challenge(challenge, secret_b64)


def fix_logon_password(fix: dict[str, Any], seq: int | str, sender: str, target: str, nonce: str,
                       secret: str | None = None) -> str:
    """Tag 554 of a Kraken FIX Logon (`secret` instead of the key's own, to mis-sign on purpose)."""
    return kraken_logon_password(secret or fix["api_secret"], str(seq), sender, target, fix["api_key"], nonce)


def fix_logon_fields(fix: dict[str, Any], seq: int | str, sender: str, target: str, nonce: str, *,
                     heartbeat: int = 30, reset: bool = True, secret: str | None = None) -> list[tuple[int, Any]]:
    """The body of a signed Kraken FIX Logon: EncryptMethod, HeartBtInt, [ResetSeqNumFlag], key, password, nonce."""
    pw = fix_logon_password(fix, seq, sender, target, nonce, secret)
    return [(98, 0), (108, heartbeat), *([(141, "Y")] if reset else []), (553, fix["api_key"]), (554, pw),
            (5025, nonce)]


# --------------------------------------------------------------------- headers
def spot_headers(creds: dict[str, Any], path: str, nonce: str, body: bytes, ctype: str = FORM,
                 secret: str | None = None) -> dict[str, str]:
    """API-Key and API-Sign (with `secret` instead of the key's own, to mis-sign on purpose)."""
    return {"API-Key": creds["api_key"], "Content-Type": ctype,
            "API-Sign": rest_sign(path, nonce, body, secret or creds["api_secret"])}


def futures_headers(creds: dict[str, Any], path: str, query: str, body: str, nonce: str,
                    secret: str | None = None) -> dict[str, str]:
    """APIKey, Authent over query + body, and Nonce when not empty."""
    headers = {"APIKey": creds["futures_api_key"], "Content-Type": FORM,
               "Authent": futures_authent(query + body, nonce, path, secret or creds["futures_api_secret"])}
    if nonce:
        headers["Nonce"] = nonce
    return headers


def spot_body(nonce: int | str, params: dict[str, Any] | None = None, *, as_json: bool = False) -> tuple[bytes, str]:
    """A private call's body and content type: the nonce first, form or JSON."""
    data = {"nonce": nonce, **(params or {})}
    if as_json:
        return json.dumps(data).encode(), JSON
    return urlencode(data).encode(), FORM


def futures_parts(method: str, endpoint: str, params: dict[str, Any] | None = None) -> tuple[str, str, str]:
    """Path, query and body as python-kraken-sdk sends them: GET in the query, others in a form body."""
    encoded = urlencode(params or {}, doseq=True)
    query, body = (encoded, "") if method == "GET" else ("", encoded)
    return FUTURES_V3 + endpoint, query, body


# ------------------------------------------------------------------- requests
def spot_request(creds: dict[str, Any], method: str, params: dict[str, Any] | None = None, *, as_json: bool = False,
                 body: bytes | None = None, nonce: Any = None, headers: dict[str, str] | None = None,
                 content_type: str | None = None) -> tuple[str, bytes, dict[str, str]]:
    """A signed private Spot call's path, body and headers; `body`, `nonce`,
    `headers` and `content_type` override what a client would send."""
    path = f"/0/private/{method}"
    n = next_nonce() if nonce is None else nonce
    ctype = JSON if as_json else FORM
    if body is None:
        body, ctype = spot_body(n, params, as_json=as_json)
    h = spot_headers(creds, path, str(n), body, content_type or ctype)
    h.update(headers or {})
    return path, body, h


def futures_request(creds: dict[str, Any], method: str, endpoint: str, params: dict[str, Any] | None,
                    nonce: str) -> tuple[str, bytes, dict[str, str]]:
    """A signed Derivatives REST v3 call's path with its query, body and headers ("" nonce: none sent)."""
    path, query, body = futures_parts(method, endpoint, params)
    return path + ("?" + query if query else ""), body.encode(), futures_headers(creds, path, query, body, nonce)


# ---------------------------------------------------------------- sync clients
class _Client:
    """One keep-alive httpx connection to `base` (a context manager)."""

    def __init__(self, base: str, timeout: float = 10.0) -> None:
        self.base = base
        self.http = httpx.Client(timeout=timeout)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()


class SpotRest(_Client):
    """Signed Spot REST calls over one keep-alive connection (sync)."""

    def private(self, creds: dict[str, Any], method: str, params: dict[str, Any] | None = None, *,
                as_json: bool = False, body: bytes | None = None, nonce: Any = None,
                headers: dict[str, str] | None = None, content_type: str | None = None) -> tuple[int, Any]:
        """One signed call (see `spot_request` for the overrides)."""
        path, content, h = spot_request(creds, method, params, as_json=as_json, body=body, nonce=nonce,
                                        headers=headers, content_type=content_type)
        r = self.http.post(self.base + path, content=content, headers=h)
        return r.status_code, r.json()

    def public(self, method: str, **params: Any) -> Any:
        return self.http.get(f"{self.base}/0/public/{method}", params=params).json()


class FuturesRest(_Client):
    """Signed Derivatives REST v3 calls as python-kraken-sdk makes them (sync)."""

    def signed(self, creds: dict[str, Any], method: str, endpoint: str, params: dict[str, Any] | None = None,
               *, nonce: bool = True) -> tuple[int, Any]:
        target, body, headers = futures_request(creds, method, endpoint, params, str(next_nonce()) if nonce else "")
        r = self.http.request(method, self.base + target, content=body, headers=headers)
        return r.status_code, r.json()


def ws_token(spot_rest: str, creds: dict[str, Any]) -> str:
    """A Spot WS v2 token from GetWebSocketsToken."""
    with SpotRest(spot_rest) as rest:
        status, data = rest.private(creds, "GetWebSocketsToken")
    assert status == 200 and not data["error"], data
    return str(data["result"]["token"])


# --------------------------------------------------------------- async clients
async def spot_call(http: httpx.AsyncClient, base: str, creds: dict[str, Any], method: str,
                    params: dict[str, Any] | None = None, nonce: int | str | None = None) -> Any:
    """One signed Spot REST call (async); the JSON envelope."""
    path, body, headers = spot_request(creds, method, params, nonce=nonce)
    r = await http.post(base + path, content=body, headers=headers)
    return r.json()


async def futures_call(http: httpx.AsyncClient, base: str, creds: dict[str, Any], method: str, endpoint: str,
                       params: dict[str, Any] | None = None, nonce: int | str | None = None) -> Any:
    """One signed Derivatives REST v3 call (async); the JSON reply."""
    target, body, headers = futures_request(creds, method, endpoint, params,
                                            str(next_nonce() if nonce is None else nonce))
    r = await http.request(method, base + target, content=body, headers=headers)
    return r.json()
