"""The userref rule (int32) is the core's, also where an order is cancelled by
userref: a number no int32 can hold is refused or names no order, never an error
from deep inside (a 5000-digit id used to reach `int()`)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from simulator.pytest_plugin import KrakenVenue
from tests.prove.kit import Ws, fund, mint_token, next_nonce, rest_sign, snapshot

HUGE = "9" * 5000


def _rest(venue: KrakenVenue, creds: dict[str, Any], method: str, data: dict[str, Any]) -> dict[str, Any]:
    path = f"/0/private/{method}"
    n = str(next_nonce())
    body = json.dumps({"nonce": n, **data}).encode()
    headers = {"API-Key": creds["api_key"], "API-Sign": rest_sign(path, n, body, creds["api_secret"]),
               "Content-Type": "application/json"}
    r = httpx.post(venue.spot_rest + path, content=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_huge_userref_in_cancels(kraken_venue: KrakenVenue) -> None:
    creds = fund(kraken_venue)
    before = snapshot(kraken_venue)
    data = _rest(kraken_venue, creds, "CancelOrderBatch", {"orders": [HUGE]})
    assert data["error"] == ["EGeneral:Invalid arguments:txid"], data
    data = _rest(kraken_venue, creds, "CancelOrder", {"txid": "2147483648"})
    assert data["error"] == ["EGeneral:Invalid arguments:txid"], data
    ws = Ws(kraken_venue.spot_ws_auth)
    try:
        token = mint_token(kraken_venue, creds)
        (reply,) = ws.call("batch_cancel", {"orders": [HUGE, "2147483648"], "token": token}, req_id=9)
        assert reply["req_id"] == 9 and reply.get("error") is None, reply
    finally:
        ws.close()
    assert snapshot(kraken_venue)[0] == before[0]
