"""Security properties, protocol by protocol: signatures and nonces, key
permissions on every private REST endpoint and WS method (and FIX), account
isolation, WS token lifetime, the admin API's exposure rule, size limits."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.cli import _parser
from simulator.core.accounts import (
    ALL_PERMISSIONS,
    CANCEL_ORDERS,
    CREATE_ORDERS,
    DEPOSIT,
    EARN,
    QUERY_CLOSED,
    QUERY_FUNDS,
    QUERY_LEDGER,
    QUERY_OPEN,
    WEBSOCKET,
    WITHDRAW,
)
from simulator.gateways.spot_rest.registry import PRIVATE
from simulator.pytest_plugin import KrakenVenue
from simulator.server.runtime import Settings
from simulator.server.server import ThreadedVenue

from .kit import (
    FixEOF,
    FixNonces,
    FixRaw,
    Rest,
    assert_alive,
    declared_length_probe,
    fix_logon_fields,
    fix_time,
    fix_trader,
    frame,
    fund,
    mint_token,
    next_cl_ord_id,
    next_nonce,
    rest_sign,
    ws_open,
)

ROOT = Path(__file__).resolve().parents[2]
DENIED = "EGeneral:Permission denied"
ORDER = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "1000", "volume": "0.01"}
VICTIM_TRADE = {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.001"}
WS_LIMIT = {"order_type": "limit", "side": "buy", "order_qty": 0.01, "limit_price": 1000.0, "symbol": "BTC/USD"}


@pytest.fixture
def rest(venue: KrakenVenue) -> Iterator[Rest]:
    with Rest(venue) as r:
        yield r


# =========================================================== signatures, nonces
def _raw_post(venue: KrakenVenue, path: str, body: bytes, key: str, sign: str) -> dict[str, Any]:
    r = httpx.post(venue.spot_rest + path, content=body, timeout=10,
                   headers={"API-Key": key, "API-Sign": sign, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_replayed_request_is_refused_and_changes_nothing(venue: KrakenVenue) -> None:
    creds = fund(venue)
    path = "/0/private/AddOrder"
    nonce = str(next_nonce())
    body = f"nonce={nonce}&pair=XBTUSD&type=buy&ordertype=limit&price=1000&volume=0.01".encode()
    sig = rest_sign(path, nonce, body, creds["api_secret"])
    first = _raw_post(venue, path, body, creds["api_key"], sig)
    assert first["error"] == [] and len(first["result"]["txid"]) == 1
    orders = venue.admin.account(creds["account_id"])["open_orders"]
    for _ in range(3):  # byte-for-byte replays, as an eavesdropper would send them
        assert _raw_post(venue, path, body, creds["api_key"], sig) == {"error": ["EAPI:Invalid nonce"]}
    assert venue.admin.account(creds["account_id"])["open_orders"] == orders


def test_signature_binds_path_body_nonce_and_key(venue: KrakenVenue) -> None:
    creds = fund(venue)
    other = fund(venue)
    nonce = str(next_nonce())
    body = f"nonce={nonce}".encode()
    good = rest_sign("/0/private/Balance", nonce, body, creds["api_secret"])
    # the same signature on another path, another body, another key: refused
    assert _raw_post(venue, "/0/private/OpenOrders", body, creds["api_key"], good)["error"] == ["EAPI:Invalid signature"]
    assert _raw_post(venue, "/0/private/Balance", body + b"&asset=XBT", creds["api_key"], good)["error"] == [
        "EAPI:Invalid signature"]
    assert _raw_post(venue, "/0/private/Balance", body, other["api_key"], good)["error"] == ["EAPI:Invalid signature"]
    # forged requests did not burn the nonce: the genuine one still goes through
    assert _raw_post(venue, "/0/private/Balance", body, creds["api_key"], good)["error"] == []


def test_nonce_must_increase(venue: KrakenVenue) -> None:
    creds = fund(venue)
    path = "/0/private/Balance"
    high = next_nonce() + 1_000
    for n, ok in ((high, True), (high, False), (high - 1, False), (high + 1, True), (0, False)):
        body = f"nonce={n}".encode()
        res = _raw_post(venue, path, body, creds["api_key"], rest_sign(path, str(n), body, creds["api_secret"]))
        assert (res["error"] == []) is ok, (n, res)
        if not ok:
            assert res["error"] == ["EAPI:Invalid nonce"], (n, res)
    for _ in range(1_001):
        next_nonce()  # keep the shared counter ahead of `high` for later tests


def test_fix_logon_needs_a_fresh_signed_nonce(venue: KrakenVenue) -> None:
    creds = fund(venue)
    other = fund(venue)
    nonces = FixNonces(venue)

    def logon(secret: str, nonce: int, sender: str | None = None) -> bool:
        fix = creds["fix"]
        c = FixRaw(venue.fix_host, venue.fix_port, sender or fix["sender_comp_id"], fix["target_comp_id"]).connect()
        try:
            c.send("A", fix_logon_fields(fix, 1, c.sender, c.target, str(nonce), secret=secret))
            try:
                reply = c.expect("A", 3)
                return reply.msg_type == "A"
            except (AssertionError, FixEOF, TimeoutError):
                return False
        finally:
            c.close()

    n = nonces(creds["fix"]["api_key"])
    assert logon(creds["fix"]["api_secret"], n)
    assert not logon(creds["fix"]["api_secret"], n)  # the same nonce again: a replayed logon
    assert not logon(other["fix"]["api_secret"], nonces(creds["fix"]["api_key"]))  # wrong secret
    stale = venue.runtime.venue.clock.now_ns() // 1_000_000 - 60_000
    assert not logon(creds["fix"]["api_secret"], stale)  # a minute old
    # someone else's SenderCompID with this key's valid signature
    assert not logon(creds["fix"]["api_secret"], nonces(creds["fix"]["api_key"]), other["fix"]["sender_comp_id"])


# ================================================================= permissions
def _params_for(method: str) -> dict[str, Any]:
    return {"AddOrder": ORDER}.get(method, {})


def test_rest_permissions_on_every_private_endpoint(venue: KrakenVenue) -> None:
    """For every private endpoint and every permission group it needs, a key holding
    everything except that group is refused; a key holding exactly one permission of
    each group gets past the permission check."""
    keys: dict[frozenset[str], dict[str, Any]] = {}

    def key_with(perms: frozenset[str]) -> dict[str, Any]:
        if perms not in keys:
            keys[perms] = fund(venue, permissions=sorted(perms))
        return keys[perms]

    checked = 0
    with Rest(venue) as rest:
        for method, ep in sorted(PRIVATE.items()):
            assert ep.perms, f"{method} needs no permission at all"
            for group in ep.perms:
                _, data = rest.private(key_with(ALL_PERMISSIONS - group), method, _params_for(method))
                assert data["error"] == [DENIED], (method, sorted(group), data)
                checked += 1
            minimal = frozenset(sorted(g)[0] for g in ep.perms)
            _, data = rest.private(key_with(minimal), method, _params_for(method))
            assert data.get("error") != [DENIED], (method, sorted(minimal), data)
    assert checked >= len(PRIVATE)


# Kraken's documented table (spec §2.5), independent of the registry: method -> a
# permission set that must be refused, and one that must be let through.
SPEC_TABLE = [
    ("Balance", {CREATE_ORDERS, QUERY_OPEN, QUERY_LEDGER}, {QUERY_FUNDS}),
    ("TradeVolume", {QUERY_OPEN}, {QUERY_FUNDS}),
    ("OpenOrders", {QUERY_FUNDS, QUERY_CLOSED}, {QUERY_OPEN}),
    ("ClosedOrders", {QUERY_OPEN}, {QUERY_CLOSED}),
    ("QueryOrders", {QUERY_FUNDS}, {QUERY_CLOSED}),
    ("Ledgers", {QUERY_FUNDS, QUERY_OPEN}, {QUERY_LEDGER}),
    ("AddOrder", {CANCEL_ORDERS, QUERY_FUNDS}, {CREATE_ORDERS}),
    ("CancelAll", {QUERY_OPEN}, {CANCEL_ORDERS}),
    ("CancelAll", {QUERY_OPEN}, {CREATE_ORDERS}),
    ("GetWebSocketsToken", {CREATE_ORDERS, QUERY_FUNDS}, {WEBSOCKET}),
    ("Withdraw", {QUERY_FUNDS, DEPOSIT}, {WITHDRAW}),
    ("Earn/Allocate", {QUERY_FUNDS, WITHDRAW}, {EARN}),
]


@pytest.mark.parametrize(("method", "refused", "allowed"), SPEC_TABLE)
def test_rest_permissions_spec_table(venue: KrakenVenue, method: str, refused: set[str], allowed: set[str]) -> None:
    with Rest(venue) as rest:
        _, data = rest.private(fund(venue, permissions=sorted(refused)), method, _params_for(method))
        assert data["error"] == [DENIED], data
        _, data = rest.private(fund(venue, permissions=sorted(allowed)), method, _params_for(method))
        assert data.get("error") != [DENIED], data


WS_TRADING: list[tuple[str, dict[str, Any]]] = [  # every trading method ("{oid}": someone's order)
    ("add_order", dict(WS_LIMIT)),
    ("batch_add", {"symbol": "BTC/USD", "orders": [{k: v for k, v in WS_LIMIT.items() if k != "symbol"}] * 2}),
    ("amend_order", {"order_id": "{oid}", "order_qty": 0.02}),
    ("edit_order", {"order_id": "{oid}", "symbol": "BTC/USD", "order_qty": 0.02}),
    ("cancel_order", {"order_id": ["{oid}"]}),
    ("cancel_all", {}),
    ("cancel_all_orders_after", {"timeout": 0}),
    ("batch_cancel", {"orders": ["{oid}", "{oid}"]}),
]


def _fill(params: dict[str, Any], oid: str, token: str) -> dict[str, Any]:
    text = json.dumps(params).replace("{oid}", oid)
    return {**json.loads(text), "token": token}


def test_ws_methods_enforce_the_tokens_key_permissions(venue: KrakenVenue) -> None:
    """A token carries the permissions of the key that minted it (GetWebSocketsToken)."""
    query_only = fund(venue, permissions=[WEBSOCKET, QUERY_FUNDS])
    trade = fund(venue, permissions=[WEBSOCKET, CREATE_ORDERS])
    cancel = fund(venue, permissions=[WEBSOCKET, CANCEL_ORDERS])
    with Rest(venue) as rest:
        oid = rest.ok(fund(venue), "AddOrder", ORDER)["txid"][0]  # someone's order: ids exist, not ours
    ws = ws_open(venue.spot_ws_auth)
    try:
        tokens = {name: mint_token(venue, c) for name, c in
                  (("query", query_only), ("trade", trade), ("cancel", cancel))}
        for i, (method, params) in enumerate(WS_TRADING):
            replies = ws.call(method, _fill(params, oid, tokens["query"]), req_id=100 + i)
            assert [r.get("error") for r in replies] == [DENIED], (method, replies)
        # create-only may place and amend/cancel (Kraken: either permission); cancel-only may not place
        placed = ws.call("add_order", {**WS_LIMIT, "token": tokens["trade"]}, req_id=1)
        assert placed[0]["success"] is True, placed
        own = placed[0]["result"]["order_id"]
        assert ws.call("add_order", {**WS_LIMIT, "token": tokens["cancel"]}, req_id=2)[0]["error"] == DENIED
        assert ws.call("edit_order", _fill({"order_id": own, "symbol": "BTC/USD", "order_qty": 0.02}, own,
                                           tokens["cancel"]), req_id=3)[0]["error"] == DENIED
        assert ws.call("cancel_all", {"token": tokens["cancel"]}, req_id=4)[0]["success"] is True
        assert ws.call("cancel_order", {"order_id": [own], "token": tokens["trade"]}, req_id=5)[0]["success"] is True
        # private channels: executions needs an order-query permission, balances the funds query
        subs = {ch: ws.call("subscribe", {"channel": ch, "token": tokens["trade"]}, req_id=6)
                for ch in ("executions", "balances")}
        assert all(r[0].get("error") == DENIED for r in subs.values()), subs
        ok = ws.call("subscribe", {"channel": "balances", "token": tokens["query"]}, req_id=7)
        assert ok[0]["success"] is True, ok
    finally:
        ws.close()


def test_fix_order_entry_enforces_the_keys_permissions(venue: KrakenVenue) -> None:
    nonces = FixNonces(venue)
    query_only = fund(venue, permissions=[QUERY_FUNDS, QUERY_OPEN])
    owner = fund(venue)
    c = fix_trader(venue, query_only, nonces)
    try:
        c.send("D", [(11, next_cl_ord_id()), (55, "BTC/USD"), (54, "1"), (38, "0.01"), (40, "2"), (44, "1000"),
                     (59, "1"), (60, fix_time())])
        reply = c.recv(3)
        assert reply is not None and (reply.msg_type == "j" or reply.get(150) == "8"), reply
        assert "ermission" in (reply.get(58) or ""), reply.raw
        c.send("q", [(11, next_cl_ord_id()), (530, "7"), (60, fix_time())])
        reply = c.recv(3)
        assert reply is not None and reply.msg_type in ("j", "r", "8") and reply.get(150) != "4", reply
    finally:
        c.close()
    assert venue.admin.account(owner["account_id"])["open_orders"] == []


# =================================================================== isolation
@pytest.fixture
def two(venue: KrakenVenue, rest: Rest) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(intruder, victim, the victim's open order ids with cl_ord_ids vic0..vic2)."""
    intruder, victim = fund(venue), fund(venue, {"USD": "777777", "XBT": "7"})
    ids = [rest.ok(victim, "AddOrder", {**ORDER, "price": str(1000 + i), "cl_ord_id": f"vic{i}"})["txid"][0]
           for i in range(3)]
    return intruder, victim, ids


def test_rest_cannot_read_or_touch_another_accounts_orders(venue: KrakenVenue, rest: Rest, two: Any) -> None:
    intruder, victim, ids = two
    before = venue.admin.account(victim["account_id"])
    assert rest.ok(intruder, "OpenOrders")["open"] == {}
    for txid in (",".join(ids), ids[0]):
        _, data = rest.private(intruder, "QueryOrders", {"txid": txid})
        assert data.get("error") or data["result"] == {}, data
    _, data = rest.private(intruder, "OpenOrders", {"cl_ord_id": "vic0"})
    assert data.get("error") or data["result"]["open"] == {}, data
    for method, params in (
        ("CancelOrder", {"txid": ids[0]}),
        ("CancelOrder", {"cl_ord_id": "vic1"}),
        ("AmendOrder", {"txid": ids[1], "order_qty": "0.5"}),
        ("EditOrder", {"txid": ids[2], "pair": "XBTUSD", "volume": "0.5"}),
    ):
        status, data = rest.private(intruder, method, params)
        assert data.get("error"), (method, data)
    _, data = rest.private(intruder, "CancelOrderBatch", {"orders": ids[:2]}, as_json=True)
    assert data.get("error") or data["result"]["count"] == 0, data
    assert rest.ok(intruder, "CancelAll") == {"count": 0}
    _, data = rest.private(intruder, "AccountTransfer", {"asset": "XBT", "amount": "1", "from": victim["account_id"],
                                                         "to": intruder["account_id"]})
    assert data.get("error"), data
    assert venue.admin.account(victim["account_id"]) == before


def test_ws_cannot_touch_or_watch_another_account(venue: KrakenVenue, rest: Rest, two: Any) -> None:
    intruder, victim, ids = two
    before = venue.admin.account(victim["account_id"])
    tok = mint_token(venue, intruder)
    ws = ws_open(venue.spot_ws_auth)
    try:
        sub = ws.call("subscribe", {"channel": "executions", "token": tok, "snap_orders": True})
        assert sub[0]["success"] is True
        snap = [m for m in ws.drain_feed(0.3) if m.get("channel") == "executions" and m.get("type") == "snapshot"]
        assert snap and snap[0]["data"] == [], snap  # none of the victim's open orders
        for method, params in (
            ("cancel_order", {"order_id": [ids[0]]}),
            ("cancel_order", {"cl_ord_id": ["vic1"]}),
            ("amend_order", {"order_id": ids[1], "order_qty": 0.5}),
            ("amend_order", {"cl_ord_id": "vic2", "order_qty": 0.5}),
            ("edit_order", {"order_id": ids[2], "symbol": "BTC/USD", "order_qty": 0.5}),
            ("batch_cancel", {"orders": ids[:2]}),
        ):
            replies = ws.call(method, {**params, "token": tok})
            refused = all(r["success"] is False or r.get("orders_cancelled") == 0 for r in replies)
            assert replies and refused, (method, replies)
        ws.feed.clear()
        # the victim trades (against the market maker): nothing of it reaches the intruder's feeds
        rest.ok(victim, "AddOrder", VICTIM_TRADE)
        mine = [m for m in ws.drain_feed(0.4) if m.get("channel") == "executions" and m.get("type") == "update"]
        assert mine == [], mine
        assert ws.call("subscribe", {"channel": "balances", "token": tok})[0]["success"] is True
        bal = [m for m in ws.drain_feed(0.3) if m.get("channel") == "balances"]
        seen = sorted(Decimal(str(d["balance"])) for d in bal[0]["data"])
        own = sorted(Decimal(v) for v in venue.admin.account(intruder["account_id"])["balances"].values())
        assert seen == own, (seen, own)  # the intruder's balances, not the victim's (777777 USD, 7 XBT)
    finally:
        ws.close()
    assert venue.admin.account(victim["account_id"])["open_orders"] == before["open_orders"]


def test_fix_cannot_touch_or_watch_another_account(venue: KrakenVenue, rest: Rest, two: Any) -> None:
    intruder, victim, ids = two
    before = venue.admin.account(victim["account_id"])
    nonces = FixNonces(venue)
    c = fix_trader(venue, intruder, nonces)
    try:
        probes = [
            ("F", [(11, next_cl_ord_id()), (37, ids[0]), (55, "BTC/USD"), (54, "1"), (60, fix_time())]),
            ("F", [(11, next_cl_ord_id()), (41, "vic1"), (55, "BTC/USD"), (54, "1"), (60, fix_time())]),
            ("G", [(11, next_cl_ord_id()), (37, ids[2]), (55, "BTC/USD"), (54, "1"), (38, "0.5"), (40, "2"),
                   (44, "999"), (60, fix_time())]),
            ("H", [(790, "st1"), (37, ids[1]), (55, "BTC/USD"), (54, "1")]),
            ("D", [(11, next_cl_ord_id()), (55, "BTC/USD"), (54, "1"), (38, "0.01"), (40, "2"), (44, "1000"),
                   (59, "1"), (60, fix_time()), (78, "1"), (79, victim["account_id"])]),
            ("q", [(11, next_cl_ord_id()), (530, "7"), (60, fix_time())]),
        ]
        for msg_type, fields in probes:
            c.send(msg_type, fields)
            got = c.sync()
            for m in got:
                assert m.msg_type in ("9", "j", "3") or m.get(150) == "8", (msg_type, m.raw)
                assert not any(v in ids for v in (m.get(37), m.get(11))), (msg_type, m.raw)
        # the victim trades (against the market maker): no report reaches this session
        rest.ok(victim, "AddOrder", VICTIM_TRADE)
        time.sleep(0.2)
        assert [m.raw for m in c.sync() if m.msg_type == "8"] == []
    finally:
        c.close()
    assert venue.admin.account(victim["account_id"])["open_orders"] == before["open_orders"]


# ================================================================== WS tokens
def test_ws_token_must_be_used_within_15_minutes(venue: KrakenVenue) -> None:
    creds = fund(venue)
    venue.admin.freeze()
    try:
        early, late, trading = (mint_token(venue, creds) for _ in range(3))
        venue.admin.advance(899_000)
        ws = ws_open(venue.spot_ws_auth)
        try:
            assert ws.call("subscribe", {"channel": "balances", "token": early})[0]["success"] is True
            venue.admin.advance(2_000)  # 901 s after minting
            refused = ws.call("subscribe", {"channel": "executions", "token": late})[0]
            assert (refused["success"], refused["error"]) == (False, "ESession:Invalid session"), refused
            r = ws.call("add_order", {**WS_LIMIT, "token": trading})[0]
            assert (r["success"], r["error"]) == (False, "EAPI:Invalid token"), r
            venue.admin.advance(3_600_000)  # a token in use does not expire
            assert ws.call("add_order", {**WS_LIMIT, "token": early})[0]["success"] is True
        finally:
            ws.close()
    finally:
        venue.admin.set_clock(mode="real")


def test_ws_token_does_not_survive_a_reset(venue: KrakenVenue) -> None:
    """After POST /admin/reset, account ids are handed out again: an old token must
    not open the new account that got the same id."""
    venue.admin.reset()
    old = fund(venue)
    tok = mint_token(venue, old)
    venue.admin.reset()
    new = fund(venue)
    assert new["account_id"] == old["account_id"]  # ids are deterministic: the case that matters
    ws = ws_open(venue.spot_ws_auth)
    try:
        r = ws.call("add_order", {**WS_LIMIT, "token": tok})[0]
        assert r["success"] is False, (old["account_id"], new["account_id"], r)
    finally:
        ws.close()


# ================================================================ admin exposure
def _asgi_get(app: Any, path: str, client: tuple[str, int], headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
            return await http.get(path, headers=headers or {})

    return asyncio.run(go())


@pytest.mark.parametrize("path", ["/admin/clock", "/admin/state", "/admin/fix", "/admin/market", "/admin/futures/house"])
def test_admin_is_loopback_only_by_default(venue: KrakenVenue, path: str) -> None:
    app = venue.asgi_app()
    for peer in ("10.1.2.3", "192.168.0.7", "::ffff:10.0.0.1", "2001:db8::1"):
        r = _asgi_get(app, path, (peer, 40000))
        assert r.status_code == 403 and "loopback" in r.json()["detail"], (peer, r.text)
    for peer in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        r = _asgi_get(app, "/admin/clock", (peer, 40000))
        assert r.status_code == 200, (peer, r.text)
    # Kraken's own paths and /health stay open to everyone
    assert _asgi_get(app, "/health", ("10.1.2.3", 1)).status_code == 200
    assert _asgi_get(app, "/0/public/Time", ("10.1.2.3", 1)).json()["error"] == []


def _threaded(**kw: Any) -> ThreadedVenue:
    tv = ThreadedVenue(Settings(port=0, fix_port=0, **kw))
    tv.start()
    return tv


def test_admin_token_guards_every_caller_when_exposed() -> None:
    tv = _threaded(admin_token="s3cret")
    try:
        assert tv.server is not None
        app = tv.server.app
        for peer in ("10.1.2.3", "127.0.0.1"):
            assert _asgi_get(app, "/admin/clock", (peer, 1)).status_code == 401
            assert _asgi_get(app, "/admin/clock", (peer, 1), {"Authorization": "Bearer wrong"}).status_code == 401
            ok = _asgi_get(app, "/admin/clock", (peer, 1), {"Authorization": "Bearer s3cret"})
            assert ok.status_code == 200, ok.text
    finally:
        tv.stop()


def test_admin_allow_remote_opt_in() -> None:
    tv = _threaded(admin_remote=True)
    try:
        assert tv.server is not None
        assert _asgi_get(tv.server.app, "/admin/clock", ("10.1.2.3", 1)).status_code == 200
    finally:
        tv.stop()


def test_admin_remote_flag_env_and_container_files(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _parser().parse_args(["serve"]).admin_allow_remote is False
    assert _parser().parse_args(["serve", "--admin-allow-remote"]).admin_allow_remote is True
    monkeypatch.setenv("KRAKEN_SIM_ADMIN_REMOTE", "1")
    assert _parser().parse_args(["serve"]).admin_allow_remote is True
    assert "KRAKEN_SIM_ADMIN_REMOTE=1" in (ROOT / "Dockerfile").read_text()
    assert 'KRAKEN_SIM_ADMIN_REMOTE: "1"' in (ROOT / "docker-compose.yml").read_text()


# =================================================================== size limits
def test_size_limits(venue: KrakenVenue) -> None:
    """What is capped, and how it is refused (see the report for the gaps)."""
    creds = fund(venue)
    with Rest(venue) as rest:
        # Spot REST: bodies over 64 KiB are refused before the key is looked at
        _, data = rest.private(creds, "Balance", {"pad": "x" * (64 * 1024)})
        assert data == {"error": ["EGeneral:Invalid arguments"]}, data
    # a declared Content-Length over the cap is refused without waiting for the body
    reply = declared_length_probe(
        venue.spot_rest,
        b"POST /0/private/Balance HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\nnonce=1",
    )
    assert b"EGeneral:Invalid arguments" in reply, reply
    # WS: 64 KiB frames refused with an error reply (the connection stays); > 1 MiB closes it (1009)
    ws = ws_open(venue.spot_ws_auth)
    try:
        assert ws.request("y" * 70_000)[0]["error"] == "Malformed request"
        assert ws.call("ping", req_id=3)[0]["method"] == "pong"
    finally:
        ws.close()
    # FIX: fields over 4 KiB and messages over 64 KiB are refused (test_fuzz_fix.test_fix_size_caps)
    # HTTP headers: no cap of our own (uvicorn's httptools parser has none; h11 would stop
    # at 64 KiB) -- a gap, see the report; a 1 MiB header must at least not hurt the venue
    try:
        r = httpx.get(venue.spot_rest + "/0/public/Time", headers={"X-Pad": "z" * (1 << 20)}, timeout=10)
        assert r.status_code < 500, r.status_code
    except httpx.HTTPError:
        pass  # the connection was closed: a refusal
    assert_alive(venue, creds)


def test_fix_pre_logon_garbage_is_dropped(venue: KrakenVenue) -> None:
    """Bytes that never form a Logon get no session and change nothing."""
    before = venue.admin.request("GET", "/state")
    c = FixRaw(venue.fix_host, venue.fix_port, "NOBODY").connect()
    try:
        c.send_raw(os.urandom(2048))
        c.send_raw(frame([*c.header("D"), (11, "x"), (55, "BTC/USD"), (54, "1"), (38, "1"), (40, "1")]))
        try:
            got = c.recv(1.0)
            assert got is None or got.msg_type in ("5", "3"), got
        except FixEOF:
            pass
    finally:
        c.close()
    assert venue.admin.request("GET", "/state")["digest"] == before["digest"]
