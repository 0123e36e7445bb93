"""Security properties of Derivatives REST v3 and WS v1: Authent signatures
bind path, postData, nonce and key; nonces as Kraken rules them (spec §2.5:
optional, a reuse is `nonceDuplicate`, far below the highest
`nonceBelowThreshold`, per key); key permissions (spec §2.6: read-only keys
read, trading endpoints need full access) on every private endpoint; account
isolation over REST, the history API and the WS private feeds; size limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from simulator.core.accounts import ALL_PERMISSIONS, CREATE_ORDERS
from simulator.gateways.futures_rest.endpoints import ROUTES
from simulator.gateways.futures_ws.hub import AUTH_FAILED
from simulator.pytest_plugin import KrakenVenue

from .kit import (
    FUTURES_V3,
    FuturesRest,
    FuturesWs,
    WsClosed,
    changes_since,
    declared_length_probe,
    futures_alive,
    futures_authent,
    futures_fund,
    futures_sign_challenge,
    next_nonce,
    snapshot,
)

SEND = {"orderType": "lmt", "symbol": "PF_XBTUSD", "side": "buy", "size": "0.001", "limitPrice": "40000"}
PRIVATE_FEEDS = ["open_orders", "open_orders_verbose", "fills", "balances", "open_positions", "account_log",
                 "notifications_auth"]


@pytest.fixture
def fr(venue: KrakenVenue) -> Iterator[FuturesRest]:
    with FuturesRest(venue) as r:
        yield r


def _post(venue: KrakenVenue, path: str, body: str, headers: dict[str, str], query: str = "") -> dict[str, Any]:
    r = httpx.post(venue.futures_rest + path + ("?" + query if query else ""), content=body.encode(), timeout=10,
                   headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _hdr(key: str, sig: str, nonce: str = "") -> dict[str, str]:
    h = {"APIKey": key, "Authent": sig}
    if nonce:
        h["Nonce"] = nonce
    return h


def _error(data: dict[str, Any]) -> str:
    """Kraken's error envelope, exactly: result, serverTime, error."""
    assert data.get("result") == "error" and set(data) == {"result", "serverTime", "error"}, data
    return str(data["error"])


# ============================================================ signatures
def test_authent_binds_path_post_data_nonce_and_key(venue: KrakenVenue) -> None:
    creds, other = futures_fund(venue), futures_fund(venue)
    key, secret = creds["futures_api_key"], creds["futures_api_secret"]
    path = FUTURES_V3 + "sendorder"
    body = urlencode(SEND)
    nonce = str(next_nonce())
    good = futures_authent(body, nonce, path, secret)
    before = snapshot(venue)
    forged = [
        (FUTURES_V3 + "cancelallorders", body, _hdr(key, good, nonce)),  # the signature on another path
        (path, body.replace("0.001", "0.002"), _hdr(key, good, nonce)),  # tampered postData
        (path, body + "&reduceOnly=true", _hdr(key, good, nonce)),  # a parameter appended
        (path, body, _hdr(key, good, str(int(nonce) + 1))),  # another nonce
        (path, body, _hdr(key, good)),  # the nonce header dropped
        (path, body, _hdr(other["futures_api_key"], good, nonce)),  # another account's key
        (path, body, _hdr(key, futures_authent(body, nonce, path, other["futures_api_secret"]), nonce)),  # secret
        (path, body, _hdr(creds["api_key"], futures_authent(body, nonce, path, creds["api_secret"]), nonce)),  # spot
        (path, body, _hdr(key, futures_authent(body, nonce, "/api/v3/openorders", secret), nonce)),  # wrong path
        (path, body, _hdr(key, "not base64!", nonce)),
        (path, body, {"Authent": good, "Nonce": nonce}),  # no key
        (path, body, {"APIKey": key, "Nonce": nonce}),  # no signature
    ]
    for p, b, h in forged:
        assert _error(_post(venue, p, b, h)) == "authenticationError", (p, b, h)
    assert changes_since(venue, before) == []
    # the forgeries did not burn the nonce: the genuine request still goes through
    res = _post(venue, path, body, _hdr(key, good, nonce))
    assert res["result"] == "success" and res["sendStatus"]["status"] == "placed", res


def test_history_api_refuses_bad_signatures(venue: KrakenVenue) -> None:
    creds = futures_fund(venue)
    path = "/api/history/v2/executions"
    good = futures_authent("", "", path, creds["futures_api_secret"])
    for headers in ({"APIKey": creds["futures_api_key"], "Authent": good[:-4] + "AAA="},
                    {"APIKey": creds["futures_api_key"], "Authent": futures_authent("", "", "/api/history/v2/orders",
                                                                                      creds["futures_api_secret"])},
                    {"APIKey": creds["api_key"], "Authent": futures_authent("", "", path, creds["api_secret"])}, {}):
        r = httpx.get(venue.futures_rest + path, headers=headers, timeout=10)
        assert r.status_code == 401, (headers, r.text)
        assert r.json() == {"reason": "You are not authorized to access this endpoint.", "status": "unauthorized"}
    r = httpx.get(venue.futures_rest + path, headers={"APIKey": creds["futures_api_key"], "Authent": good}, timeout=10)
    assert r.status_code == 200 and r.json()["accountUid"] == creds["account_id"], r.text


# ================================================================= nonces
def test_replayed_request_is_refused_and_changes_nothing(venue: KrakenVenue) -> None:
    creds = futures_fund(venue)
    path = FUTURES_V3 + "sendorder"
    body = urlencode(SEND)
    nonce = str(next_nonce())
    headers = _hdr(creds["futures_api_key"], futures_authent(body, nonce, path, creds["futures_api_secret"]), nonce)
    first = _post(venue, path, body, headers)
    assert first["result"] == "success" and first["sendStatus"]["status"] == "placed", first
    before = snapshot(venue)
    orders = venue.admin.account(creds["account_id"])["futures"]["open_orders"]
    for _ in range(3):  # byte-for-byte replays, as an eavesdropper would send them
        assert _error(_post(venue, path, body, headers)) == "nonceDuplicate"
    assert venue.admin.account(creds["account_id"])["futures"]["open_orders"] == orders
    assert changes_since(venue, before) == []


def test_nonce_rules_as_kraken_documents_them(venue: KrakenVenue) -> None:
    """Optional; a reuse is nonceDuplicate; brief out-of-order arrival tolerated;
    far below the highest is nonceBelowThreshold; not an integer: authentication
    fails; every key has its own nonces."""
    creds, other = futures_fund(venue), futures_fund(venue)
    path = FUTURES_V3 + "accounts"
    window = venue.runtime.venue.extensions["futures_nonces"].window

    def get(c: dict[str, Any], nonce: str) -> dict[str, Any]:
        sig = futures_authent("", nonce, path, c["futures_api_secret"])
        r = httpx.get(venue.futures_rest + path, headers=_hdr(c["futures_api_key"], sig, nonce), timeout=10)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    high = next_nonce() + 1_000
    assert get(creds, str(high))["result"] == "success"
    assert _error(get(creds, str(high))) == "nonceDuplicate"
    assert get(creds, str(high - 500))["result"] == "success"  # late, inside the window, unseen
    assert _error(get(creds, str(high - 500))) == "nonceDuplicate"
    assert _error(get(creds, str(high - window - 1))) == "nonceBelowThreshold"
    for bad in ("abc", "-5", "1.5", "1e9", "0x10"):
        assert _error(get(creds, bad)) == "authenticationError", bad
    assert get(other, str(high))["result"] == "success"  # another key's nonces are its own
    assert get(creds, "")["result"] == "success"  # no Nonce header at all (ccxt)
    for _ in range(1_001):
        next_nonce()  # keep the shared counter ahead of `high` for later tests


def test_a_nonceless_request_carries_nothing_to_refuse_a_replay_by(venue: KrakenVenue) -> None:
    """Kraken makes the Nonce optional (ccxt sends none), so it cannot tell a
    nonce-less replay from a retry: accepted, as there.  Clients wanting replay
    protection send a Nonce (python-kraken-sdk does), which the test above covers."""
    creds = futures_fund(venue)
    path = FUTURES_V3 + "cancelallorders"
    headers = _hdr(creds["futures_api_key"], futures_authent("", "", path, creds["futures_api_secret"]))
    assert [_post(venue, path, "", headers)["result"] for _ in range(2)] == ["success", "success"]


# ============================================================ permissions
def _route_params(method: str, pattern: str, own_order: str) -> dict[str, Any]:
    """Parameters that get a full-access key through each endpoint's handler."""
    return {
        ("GET", "leveragepreferences"): {},
        ("PUT", "leveragepreferences"): {"symbol": "PF_XBTUSD", "maxLeverage": "5"},
        ("PUT", "pnlpreferences"): {"symbol": "PF_XBTUSD", "pnlPreference": "USD"},
        ("PUT", "self-trade-strategy"): {"strategy": "REJECT_TAKER"},
        ("POST", "sendorder"): SEND,
        ("POST", "editorder"): {"orderId": own_order, "limitPrice": "40001"},
        ("POST", "cancelorder"): {"order_id": "00000000-0000-0000-0000-000000000000"},
        ("POST", "cancelallorders"): {"symbol": "PF_ETHUSD"},
        ("POST", "cancelallordersafter"): {"timeout": "0"},
        ("POST", "batchorder"): {"json": json.dumps({"batchOrder": [{"order": "cancel", "order_id": own_order}]})},
        ("POST", "orders/status"): {"orderIds": own_order},
        ("GET", "orders/status"): {"orderIds": own_order},
        ("POST", "transfer"): {"fromAccount": "flex", "toAccount": "cash", "unit": "USD", "amount": "1"},
    }.get((method, pattern), {})


def test_key_permissions_on_every_private_endpoint(venue: KrakenVenue, fr: FuturesRest) -> None:
    """A read-only key (every permission but create_and_modify_orders, the
    project's "full access") reads every private GET and is refused on every
    trading endpoint with authenticationError, changing nothing; a full-access
    key gets through every one."""
    read_only = futures_fund(venue, permissions=sorted(ALL_PERMISSIONS - {CREATE_ORDERS}))
    full = futures_fund(venue)
    own_ro = fr.place(full, "PF_XBTUSD", "buy", "0.001", "40000")  # ids exist; the refusals are not "not found"
    private = sorted((m, p) for (m, p), (_h, is_private, _t) in ROUTES.items() if is_private)
    refused = allowed = 0
    for method, pattern in private:
        trading = ROUTES[(method, pattern)][2]
        params = _route_params(method, pattern, own_ro)
        before = snapshot(venue)
        status, data = fr.signed(read_only, method, pattern, params)
        if trading:
            assert status == 200 and _error(data) == "authenticationError", (method, pattern, data)
            assert changes_since(venue, before) == [], (method, pattern)
            refused += 1
        else:
            assert status == 200 and data["result"] == "success", (method, pattern, data)
            allowed += 1
        status, data = fr.signed(full, method, pattern, params)
        assert status == 200 and data["result"] == "success", (method, pattern, data)
        if pattern == "batchorder":
            own_ro = fr.place(full, "PF_XBTUSD", "buy", "0.001", "40000")  # (the batch cancelled it)
    assert refused >= 10 and allowed >= 12, (refused, allowed)


# Kraken's documented split (spec §2.6), independent of the route table
# orders/status is a read: the live venue answers a read-only key (python-kraken-sdk's live suite)
READ_ONLY_MAY = [("GET", "accounts"), ("GET", "openorders"), ("GET", "openpositions"), ("GET", "fills"),
                 ("GET", "notifications"), ("POST", "orders/status"), ("GET", "orders/status")]
FULL_ACCESS_ONLY = [("POST", "sendorder"), ("POST", "editorder"), ("POST", "cancelorder"),
                    ("POST", "cancelallorders"), ("POST", "cancelallordersafter"), ("POST", "batchorder")]


@pytest.mark.parametrize(("method", "endpoint"), READ_ONLY_MAY + FULL_ACCESS_ONLY)
def test_key_permissions_spec_table(venue: KrakenVenue, fr: FuturesRest, method: str, endpoint: str) -> None:
    read_only = futures_fund(venue, permissions=["query_funds", "query_open_orders_and_trades"])
    status, data = fr.signed(read_only, method, endpoint, _route_params(method, endpoint, "x"))
    if (method, endpoint) in READ_ONLY_MAY:
        assert data["result"] == "success", data
    else:
        assert _error(data) == "authenticationError", data


def test_read_only_key_reads_history_and_private_feeds(venue: KrakenVenue) -> None:
    read_only = futures_fund(venue, permissions=["query_funds"])
    path = "/api/history/v2/account-log"
    sig = futures_authent("", "", path, read_only["futures_api_secret"])
    r = httpx.get(venue.futures_rest + path, headers=_hdr(read_only["futures_api_key"], sig), timeout=10)
    assert r.status_code == 200 and r.json()["accountUid"] == read_only["account_id"], r.text
    ws = FuturesWs(venue.futures_ws)
    try:
        login = ws.login(read_only)
        assert [m["event"] for m in ws.request({"event": "subscribe", "feed": "balances", **login})] == ["subscribed"]
    finally:
        ws.close()


def test_no_access_key_reaches_nothing_private(venue: KrakenVenue, fr: FuturesRest) -> None:
    """Kraken's 'No Access' level (a key with no query or trading permission):
    refused on every private REST route, the history API and private feeds."""
    none = futures_fund(venue, permissions=["websocket"])
    for method, endpoint in (("GET", "accounts"), ("GET", "openorders"), ("GET", "fills"), ("POST", "sendorder")):
        status, data = fr.signed(none, method, endpoint, _route_params(method, endpoint, "x"))
        assert _error(data) == "authenticationError", (endpoint, data)
    path = "/api/history/v2/account-log"
    sig = futures_authent("", "", path, none["futures_api_secret"])
    r = httpx.get(venue.futures_rest + path, headers=_hdr(none["futures_api_key"], sig), timeout=10)
    assert r.status_code == 401, r.text
    ws = FuturesWs(venue.futures_ws)
    try:
        login = ws.login(none)
        assert [m["event"] for m in ws.request({"event": "subscribe", "feed": "balances", **login})] == ["alert"]
    finally:
        ws.close()


# ============================================================== isolation
@pytest.fixture
def two(venue: KrakenVenue, fr: FuturesRest) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(intruder, victim, the victim's open order ids: cliOrdIds vic0..vic2 and a trigger).
    The victim also holds a position and has fills, and its collateral differs."""
    intruder, victim = futures_fund(venue, "100000"), futures_fund(venue, "77777")
    ids = [fr.place(victim, "PF_XBTUSD", "buy", "0.001", str(40000 + i), cliOrdId=f"vic{i}") for i in range(3)]
    trig = fr.ok(victim, "POST", "sendorder", {"orderType": "stp", "symbol": "PF_XBTUSD", "side": "sell",
                                               "size": "0.001", "stopPrice": "1000", "cliOrdId": "victrig"})
    ids.append(trig["sendStatus"]["order_id"])
    fr.ok(victim, "POST", "sendorder", {"orderType": "mkt", "symbol": "PF_XBTUSD", "side": "buy", "size": "0.002"})
    return intruder, victim, ids


def test_rest_cannot_read_or_touch_another_accounts_orders(venue: KrakenVenue, fr: FuturesRest, two: Any) -> None:
    intruder, victim, ids = two
    victim_fills = fr.ok(victim, "GET", "fills")["fills"]
    assert victim_fills and fr.ok(victim, "GET", "openpositions")["openPositions"], "the victim should have traded"
    before = venue.admin.account(victim["account_id"])
    # reads: nothing of the victim's
    text = json.dumps([fr.ok(intruder, "GET", ep) for ep in ("openorders", "fills", "openpositions", "accounts")])
    for secret in [*ids, *(f["fill_id"] for f in victim_fills), victim["account_id"], "77777"]:
        assert secret not in text, secret
    for method in ("GET", "POST"):
        assert fr.ok(intruder, method, "orders/status", {"orderIds": ids})["orders"] == []
        assert fr.ok(intruder, method, "orders/status", {"cliOrdIds": ["vic0", "victrig"]})["orders"] == []
    # writes: refused, nothing touched
    refusals = [
        ("cancelorder", {"order_id": ids[0]}, "cancelStatus"),
        ("cancelorder", {"cliOrdId": "vic1"}, "cancelStatus"),
        ("cancelorder", {"order_id": ids[3]}, "cancelStatus"),
        ("editorder", {"orderId": ids[1], "size": "0.5"}, "editStatus"),
        ("editorder", {"cliOrdId": "vic2", "limitPrice": "45000"}, "editStatus"),
    ]
    for endpoint, params, key in refusals:
        res = fr.ok(intruder, "POST", endpoint, params)
        assert res[key]["status"] in ("notFound", "orderForEditNotFound"), (endpoint, res)
    batch = {"batchOrder": [{"order": "cancel", "order_id": ids[0]}, {"order": "cancel", "cliOrdId": "vic1"},
                            {"order": "edit", "order_id": ids[2], "size": 1}]}
    statuses = [s["status"] for s in fr.ok(intruder, "POST", "batchorder", {"json": json.dumps(batch)})["batchStatus"]]
    assert not {"cancelled", "edited"} & set(statuses), statuses
    assert fr.ok(intruder, "POST", "cancelallorders")["cancelStatus"]["status"] == "noOrdersToCancel"
    assert fr.ok(intruder, "POST", "cancelallorders", {"symbol": "PF_XBTUSD"})["cancelStatus"]["cancelledOrders"] == []
    for src, dst in ((victim["account_id"], "flex"), ("flex", victim["account_id"])):
        res = fr.signed(intruder, "POST", "transfer", {"fromAccount": src, "toAccount": dst, "unit": "USD",
                                                        "amount": "1"})[1]
        assert _error(res) == "invalidAccount", res
    assert venue.admin.account(victim["account_id"]) == before


def test_dead_mans_switch_cancels_only_its_own_account(venue: KrakenVenue, fr: FuturesRest, two: Any) -> None:
    intruder, victim, ids = two
    mine = fr.place(intruder, "PF_XBTUSD", "buy", "0.001", "41000")
    venue.admin.freeze()
    try:
        fr.ok(intruder, "POST", "cancelallordersafter", {"timeout": "60"})
        venue.admin.advance(61_000)
        open_now = set(venue.admin.account(victim["account_id"])["futures"]["open_orders"])
        assert open_now == set(ids), open_now
        assert mine not in venue.admin.account(intruder["account_id"])["futures"]["open_orders"]  # it did fire
    finally:
        venue.admin.set_clock(mode="real")


def test_history_api_shows_only_the_callers_account(venue: KrakenVenue, fr: FuturesRest, two: Any) -> None:
    intruder, victim, ids = two
    fr.place(intruder, "PF_XBTUSD", "buy", "0.001", "41000")
    seen: dict[tuple[str, str], str] = {}
    for kind in ("executions", "orders", "triggers", "account-log", "positions"):
        path = f"/api/history/v2/{kind}"
        for who in (intruder, victim):
            sig = futures_authent("", "", path, who["futures_api_secret"])
            r = httpx.get(venue.futures_rest + path, headers=_hdr(who["futures_api_key"], sig), timeout=10)
            assert r.status_code == 200, r.text
            seen[(kind, who["account_id"])] = r.text
        assert not any(v in seen[(kind, intruder["account_id"])] for v in [*ids, victim["account_id"]]), kind
    # the control: the victim's own order history does show its orders
    out = {who: seen[("orders", who)] for who in (victim["account_id"],)}
    assert any(v in out[victim["account_id"]] for v in ids), out[victim["account_id"]][:300]


def test_ws_private_feeds_need_the_accounts_own_challenge(venue: KrakenVenue, two: Any) -> None:
    intruder, victim, ids = two
    victim_ws, ws = FuturesWs(venue.futures_ws), FuturesWs(venue.futures_ws)
    try:
        captured = victim_ws.login(victim)  # the victim's genuine login on its own connection
        foreign = ws.challenge(victim["futures_api_key"])  # Kraken issues a challenge for any key
        own = ws.login(intruder)
        attempts = {
            "victim's challenge signed with the intruder's secret": {
                "api_key": victim["futures_api_key"], "original_challenge": foreign,
                "signed_challenge": futures_sign_challenge(foreign, intruder["futures_api_secret"])},
            "the victim's genuine login, replayed on another connection": captured,
            "the intruder's key on the victim's challenge": {
                "api_key": intruder["futures_api_key"], "original_challenge": foreign,
                "signed_challenge": futures_sign_challenge(foreign, intruder["futures_api_secret"])},
            "the victim's key with the intruder's own challenge and signature": {**own,
                                                                                  "api_key": victim["futures_api_key"]},
        }
        for what, fields in attempts.items():
            for feed in PRIVATE_FEEDS:
                replies = ws.request({"event": "subscribe", "feed": feed, **fields})
                assert replies == [{"event": "alert", "message": AUTH_FAILED}], (what, feed, replies)
        assert ws.feed == [], ws.feed  # no snapshot slipped out
        # its own feeds: snapshots of its own account, nothing of the victim's
        for feed in ("open_orders", "fills", "balances", "open_positions", "account_log"):
            assert [m["event"] for m in ws.request({"event": "subscribe", "feed": feed, **own})] == ["subscribed"]
        snaps = ws.drain_feed(0.3)
        assert {m["feed"] for m in snaps} >= {"open_orders_snapshot", "fills_snapshot"}, snaps
        assert not any(v in json.dumps(snaps) for v in [*ids, victim["account_id"]]), snaps
        for feed in ("open_orders", "fills"):  # the victim's own connection: the control
            assert [m["event"] for m in victim_ws.request({"event": "subscribe", "feed": feed, **captured})] == [
                "subscribed"]
        victim_ws.drain_feed(0.3)
        victim_ws.feed.clear()
        ws.feed.clear()
        # the victim trades, amends and cancels
        with FuturesRest(venue) as fr:
            fr.ok(victim, "POST", "sendorder", {"orderType": "mkt", "symbol": "PF_XBTUSD", "side": "buy",
                                                "size": "0.001"})
            fr.ok(victim, "POST", "editorder", {"orderId": ids[0], "limitPrice": "40500"})
            fr.ok(victim, "POST", "cancelorder", {"order_id": ids[1]})
        seen_by_victim = {m["feed"] for m in victim_ws.drain_feed(0.5)}
        assert {"open_orders", "fills"} <= seen_by_victim, seen_by_victim  # updates were produced
        leaked = [m for m in ws.drain_feed(0.3) if m["feed"] in ("open_orders", "fills", "account_log")
                  or any(v in json.dumps(m) for v in [*ids, victim["account_id"]])]
        assert leaked == [], leaked
        # unsubscribing needs the account's own challenge too
        replies = ws.request({"event": "unsubscribe", "feed": "fills", **attempts[
            "victim's challenge signed with the intruder's secret"]})
        assert replies == [{"event": "alert", "message": "Failed to unsubscribe from authenticated feed"}], replies
    finally:
        ws.close()
        victim_ws.close()


# ============================================================ size limits
def test_rest_body_size_is_capped(venue: KrakenVenue) -> None:
    """Bodies over 64 KiB are refused with Kraken's envelope before the key is
    looked at (and nothing is done); a body just under the cap is served."""
    creds = futures_fund(venue)
    path = FUTURES_V3 + "sendorder"
    cfg = venue.runtime.services.futures_rest_config
    assert cfg is not None
    cap = cfg.max_body
    for size, placed in ((cap - 1000, True), (cap + 1, False), (5 << 20, False)):
        body = urlencode(SEND) + "&pad="
        body += "x" * (size - len(body))
        nonce = str(next_nonce())
        before = snapshot(venue)
        res = _post(venue, path, body, _hdr(creds["futures_api_key"],
                                            futures_authent(body, nonce, path, creds["futures_api_secret"]), nonce))
        if placed:
            assert res["result"] == "success" and res["sendStatus"]["status"] == "placed", res
        else:
            assert _error(res) == "invalidArgument", size
            assert changes_since(venue, before) == [], size
    # history and charts share the cap
    r = httpx.request("GET", venue.futures_rest + "/api/history/v2/executions", content=b"x" * (cap + 1), timeout=10)
    assert r.status_code == 400 and r.json() == {"result": "error", "error": "invalidArgument"}, r.text
    # a declared Content-Length over the cap is refused without waiting for the body
    reply = declared_length_probe(
        venue.futures_rest,
        b"POST /derivatives/api/v3/sendorder HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\norderType=lmt",
    )
    assert b'"error":"invalidArgument"' in reply, reply
    futures_alive(venue, creds)


def test_ws_message_size_is_capped(venue: KrakenVenue) -> None:
    """Over 64 KiB: `Json Error`, the connection stays; over 1 MiB: closed by the
    transport (1009), the venue unaffected."""
    creds = futures_fund(venue)
    ws = FuturesWs(venue.futures_ws)
    try:
        big = json.dumps({"event": "subscribe", "feed": "heartbeat", "x": "y" * 70_000})
        assert ws.request(big) == [{"event": "error", "message": "Json Error"}]
        login = ws.login(creds)
        assert [m["event"] for m in ws.request({"event": "subscribe", "feed": "balances", **login})] == ["subscribed"]
        with pytest.raises(WsClosed) as info:
            ws.send("z" * ((1 << 20) + 1))
            ws.request({"event": "subscribe", "feed": "heartbeat"})
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009, info.value
    finally:
        ws.close()
    futures_alive(venue, creds)
