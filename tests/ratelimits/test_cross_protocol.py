"""Kraken's rate-limit scopes through the real gateways (issue 7):
one Spot trading counter per account and pair shared by REST, WS and FIX;
Derivatives FIX budgets per session; Derivatives REST per account."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from simulator.pytest_plugin import KrakenVenue
from tests.fix.venue import Trader, rest_private
from tests.spot_ws.helpers import mint, open_client


def burst_rest(v: KrakenVenue, creds: dict[str, Any], n: int, base_price: int) -> list[list[str]]:
    """n signed AddOrder calls for the same pair; returns each reply's error list."""
    errors = []
    for i in range(n):
        out = rest_private(
            v, creds, "AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.001", price=f"{base_price + i}.0"
        )
        errors.append(out["error"])
    return errors


def test_rest_burst_starves_ws_and_fix_for_that_account_and_pair(kraken_venue: KrakenVenue) -> None:
    v = kraken_venue
    admin = v.admin
    admin.freeze()  # no decay: the counter is exact
    a = admin.create_account({"USD": "1000000"}, tier="starter")  # threshold 60, 60 open orders per pair
    b = admin.create_account({"USD": "1000000"}, tier="starter")
    # REST burst: 60 adds fill the starter counter exactly
    errs = burst_rest(v, a, 60, 50000)
    assert all(e == [] for e in errs)
    assert burst_rest(v, a, 1, 51000)[0] == ["EOrder:Orders limit exceeded"]  # also 60 open orders

    async def ws_and_fix(creds: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        ws = await open_client(v.spot_ws_auth)
        try:
            token = mint(v, creds["account_id"])
            ack = await ws.call(
                "add_order",
                {"order_type": "limit", "side": "buy", "order_qty": 0.001, "limit_price": 40000.0, "symbol": "BTC/USD", "token": token},
            )
        finally:
            await ws.ws.close()
        t = Trader(v, creds)
        await t.connect()
        try:
            await t.sign_on()
            await t.order(symbol="BTC/USD", price="40000.0", qty="0.001")
            reply = await t.expect("j", 5)  # BusinessMessageReject for a refused order
        except AssertionError:
            reply = None
        finally:
            await t.close()
        return ack, reply

    ack, reply = asyncio.run(asyncio.wait_for(ws_and_fix(a), 30))
    assert ack["success"] is False and ack["error"] in ("EOrder:Rate limit exceeded", "EOrder:Orders limit exceeded")
    assert reply is not None and reply.get(58) in ("EOrder:Rate limit exceeded", "EOrder:Orders limit exceeded")
    # the same burst budget is untouched for another account
    assert burst_rest(v, b, 1, 50000)[0] == []
    # and for another pair of the limited account
    out = rest_private(v, a, "AddOrder", pair="ETHUSD", type="buy", ordertype="limit", volume="0.01", price="3000.00")
    assert out["error"] == []


def test_counter_is_shared_not_per_protocol(kraken_venue: KrakenVenue) -> None:
    """Adds and young cancels on REST and WS add up on one starter counter (threshold 60)."""
    v = kraken_venue
    admin = v.admin
    admin.freeze()
    a = admin.create_account({"USD": "1000000"}, tier="starter")
    for i in range(3):  # REST: 3 x (add 1 + cancel within 5 s 8) = 27
        out = rest_private(v, a, "AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.001", price=f"{50000 + i}.0")
        assert out["error"] == [], out
        assert rest_private(v, a, "CancelOrder", txid=out["result"]["txid"][0])["error"] == []

    async def ws_side() -> list[dict[str, Any]]:
        ws = await open_client(v.spot_ws_auth)
        acks = []
        try:
            token = mint(v, a["account_id"])
            rid = 0

            async def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
                nonlocal rid
                rid += 1
                return await ws.call(method, {**params, "token": token}, req_id=rid)

            for i in range(3):  # WS: another 27 -> 54
                ack = await call("add_order", {"order_type": "limit", "side": "buy", "order_qty": 0.001,
                                               "limit_price": 45000.0 + i, "symbol": "BTC/USD"})
                assert ack["success"], ack
                c = await call("cancel_order", {"order_id": [ack["result"]["order_id"]]})
                assert c["success"], c
            for i in range(7):  # 6 more adds reach 60; the 7th is refused
                acks.append(await call("add_order", {"order_type": "limit", "side": "buy", "order_qty": 0.001,
                                                     "limit_price": 46000.0 + i, "symbol": "BTC/USD"}))
        finally:
            await ws.ws.close()
        return acks

    acks = asyncio.run(asyncio.wait_for(ws_side(), 30))
    assert [x["success"] for x in acks] == [True] * 6 + [False]
    assert acks[6]["error"] == "EOrder:Rate limit exceeded"
    # REST sees the same full counter
    assert burst_rest(v, a, 1, 52000)[0] == ["EOrder:Rate limit exceeded"]
    # after 10 s of starter decay (1/s) there is room for exactly 10 more
    admin.advance(10_000)
    errs = burst_rest(v, a, 11, 53000)
    assert errs[:10] == [[]] * 10 and errs[10] == ["EOrder:Rate limit exceeded"]


def test_derivatives_fix_budget_is_per_session_and_rest_is_separate(kraken_venue: KrakenVenue) -> None:
    v = kraken_venue
    rt = v.runtime
    admin = v.admin
    admin.freeze()
    a = admin.create_account({}, futures_balances={"USD": "100000"})
    acct = a["account_id"]
    hook = rt.venue.limits.charge_futures_fix
    from simulator.core.errors import EngineError

    def spend(session: str, n: int) -> int:
        ok = 0
        for _ in range(n):
            try:
                v.call(hook, session, acct, 10)
                ok += 1
            except EngineError:
                break
        return ok

    assert spend("fix-A", 60) == 50  # 500 per 10 s per session
    assert spend("fix-B", 1) == 1  # a second session of the account has its own budget
    # Derivatives REST is per account and unaffected by FIX traffic
    http = httpx.Client(timeout=10)
    r = http.get(v.futures_rest + "/derivatives/api/v3/instruments")
    assert r.status_code == 200 and r.json()["result"] == "success"
    rest_hook = rt.venue.limits.charge_futures_rest
    v.call(rest_hook, acct, "sendorder")  # would raise if FIX had drained it
