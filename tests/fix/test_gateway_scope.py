"""Cancel scope, cancel-on-disconnect and reports for changes made elsewhere
(REST, WebSocket, timers, another FIX session), across reconnects."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.fix.fixclient import now_fix, run
from tests.fix.venue import Trader, account, fields, open_orders, rest_private

CANCEL = [(54, "1"), (55, "BTC/USD")]


def test_single_cancel_reaches_only_this_connections_orders(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)

    async def body() -> None:
        first = await Trader(venue, creds).connect()
        await first.sign_on(cod=False)  # keep its orders when it goes
        cl = await first.order()
        ack = await first.report()
        await first.logout()
        # same FIX identity, new connection: a new session for the cancel scope (fix.md §7.3)
        second = await Trader(venue, creds).connect()
        await second.sign_on(cod=False)
        await second.send("F", [(11, "c-1"), (41, cl), *CANCEL, (60, now_fix())])
        j = await second.expect("j")
        assert fields(j, 372, 379, 380, 58) == ("F", "c-1", "101", "EOrder:Unknown order")
        await second.send("F", [(11, "c-2"), (37, ack.get(37)), *CANCEL, (60, now_fix())])
        assert fields(await second.expect("j"), 380) == ("101",)
        await second.send("G", [(11, "r-1"), (37, ack.get(37)), (41, cl), (38, "0.02"), (40, "2"), (44, "1000"),
                                *CANCEL, (59, "1"), (60, now_fix())])
        assert fields(await second.expect("j"), 372, 380) == ("G", "101")
        assert ack.get(37) in open_orders(venue, creds["account_id"])
        # OrderMassCancelRequest 530=7: every open order of the account, whoever placed it
        rest_id = rest_private(venue, creds, "AddOrder", pair="XBTUSD", type="buy", ordertype="limit",
                               volume="0.01", price="999")["result"]["txid"][0]
        await second.send("q", [(11, "m-1"), (530, "7"), (60, now_fix())])
        cancels = await second.reports(2)
        assert {m.get(37) for m in cancels} == {ack.get(37), rest_id}
        for m in cancels:
            assert fields(m, 11, 150, 39) == ("m-1", "4", "4")
        assert next(m for m in cancels if m.get(37) == ack.get(37)).get(41) == cl
        assert open_orders(venue, creds["account_id"]) == []
        await second.logout()

    run(body)


def test_mass_cancel_by_symbol_and_session(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue, {"USD": "1000000", "ETH": "100"})

    async def body() -> None:
        t = await Trader(venue, creds).connect()
        await t.sign_on()
        await t.order(symbol="BTC/USD", price="1000")
        btc = await t.report()
        await t.order(symbol="ETH/USD", price="100")
        eth = await t.report()
        rest_id = rest_private(venue, creds, "AddOrder", pair="XBTUSD", type="buy", ordertype="limit",
                               volume="0.01", price="998")["result"]["txid"][0]
        await t.send("q", [(11, "m-1"), (530, "1"), (55, "ETH/USD"), (60, now_fix())])
        gone = await t.report()
        assert fields(gone, 37, 150, 11) == (eth.get(37), "4", "m-1")
        await t.send("q", [(11, "m-2"), (530, "6"), (60, now_fix())])  # this session's: not the REST one
        gone = await t.report()
        assert fields(gone, 37, 150) == (btc.get(37), "4")
        assert await t.nothing_within(0.2)
        assert open_orders(venue, creds["account_id"]) == [rest_id]
        await t.send("q", [(11, "m-3"), (530, "1"), (60, now_fix())])
        assert fields(await t.expect("3"), 371, 373) == ("55", "1")
        await t.send("q", [(11, "m-4"), (530, "9"), (60, now_fix())])
        assert fields(await t.expect("3"), 371, 373) == ("530", "5")
        await t.logout()

    run(body)


def test_rest_and_websocket_cancels_reach_fix_orders_with_reports(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)
    websockets = pytest.importorskip("websockets")

    async def body() -> None:
        t = await Trader(venue, creds).connect()
        await t.sign_on()
        cl1 = await t.order(price="1000")
        a1 = await t.report()
        cl2 = await t.order(price="1001")
        a2 = await t.report()
        res = rest_private(venue, creds, "CancelOrder", txid=a1.get(37))
        assert res["error"] == [] and res["result"]["count"] == 1
        c1 = await t.report()
        assert fields(c1, 37, 11, 150, 39, 58) == (a1.get(37), cl1, "4", "4", "User requested")
        assert c1.get(41) is None
        token = rest_private(venue, creds, "GetWebSocketsToken")["result"]["token"]
        async with websockets.connect(venue.spot_ws_auth) as ws:
            await ws.send(json.dumps({"method": "cancel_order", "params": {"order_id": [a2.get(37)],
                                                                          "token": token}}))
            c2 = await t.report()
            assert fields(c2, 37, 11, 150, 39) == (a2.get(37), cl2, "4", "4")
        await t.logout()

    run(body)


def test_cancel_on_disconnect_and_reports_replayed_after_reconnect(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)

    async def body() -> None:
        t = await Trader(venue, creds).connect()
        await t.sign_on()
        cl = await t.order()
        ack = await t.report()
        cl2 = await t.order(price="999")
        await t.report()
        # placed over REST: not this session's, survives
        rest_id = rest_private(venue, creds, "AddOrder", pair="XBTUSD", type="buy", ordertype="limit",
                               volume="0.01", price="997")["result"]["txid"][0]
        await asyncio.sleep(0.05)
        last_seq = int(t.received[-1].get(34) or 0)
        assert t.writer is not None
        t.writer.transport.abort()  # the socket dies: no Logout
        for _ in range(100):
            if len(open_orders(venue, creds["account_id"])) == 1:
                break
            await asyncio.sleep(0.02)
        assert open_orders(venue, creds["account_id"]) == [rest_id]
        assert set(rest_private(venue, creds, "OpenOrders")["result"]["open"]) == {rest_id}
        # reconnect without reset: the cancels were stored under our seqnums and come back on resend
        again = Trader(venue, creds)
        again.next_seq = t.next_seq
        await again.connect()
        logon = await again.sign_on(reset=False)
        assert int(logon.get(34) or 0) > last_seq + 2  # the acceptor is ahead: we ask for the rest
        await again.send("2", [(7, last_seq + 1), (16, 0)])
        replayed = [m for m in await again.reports(2) if m.get(43) == "Y"]
        assert {m.get(11) for m in replayed} == {cl, cl2}
        for m in replayed:
            assert fields(m, 150, 39, 58) == ("4", "4", "Cancel on disconnect")
            assert m.get(122) is not None
        assert ack.get(37) in {m.get(37) for m in replayed}
        assert fields(await again.expect("4"), 123) == ("Y",)  # our Logon reply: gap-filled
        await again.logout()

    run(body)


def test_no_cancel_on_disconnect_when_8674_is_1(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)

    async def body() -> None:
        t = await Trader(venue, creds).connect()
        await t.sign_on(cod=False)
        await t.order()
        ack = await t.report()
        assert t.writer is not None
        t.writer.transport.abort()
        await asyncio.sleep(0.2)
        assert open_orders(venue, creds["account_id"]) == [ack.get(37)]
        rest_private(venue, creds, "CancelAll")

    run(body)


def test_admin_drop_connection_fires_cancel_on_disconnect(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)

    async def body() -> None:
        t = await Trader(venue, creds).connect()
        await t.sign_on()
        await t.order()
        await t.report()
        conns = [c for c in venue.admin.connections() if c["protocol"] == "fix" and c["account"] ==
                 creds["account_id"]]
        assert len(conns) == 1
        res = venue.admin.faults(drop_connection=conns[0]["id"])
        assert res["dropped"] == [conns[0]["id"]]
        assert await t.wait_closed()
        assert open_orders(venue, creds["account_id"]) == []
        assert not [c for c in venue.admin.connections() if c["account"] == creds["account_id"]]

    run(body)


def test_broker_allocation_books_to_subaccount(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    broker = account(venue)
    sub = account(venue, parent_id=broker["account_id"])
    stranger = account(venue)

    async def body() -> None:
        t = await Trader(venue, broker).connect()
        await t.sign_on()
        cl = await t.order(extra=[(78, 1), (79, sub["account_id"])])
        ack = await t.report()
        assert ack.get(150) == "0"
        assert open_orders(venue, sub["account_id"]) == [ack.get(37)]
        assert open_orders(venue, broker["account_id"]) == []
        await t.order(extra=[(78, 1), (79, stranger["account_id"])])
        assert fields(await t.expect("j"), 380, 58) == ("6", "EGeneral:Permission denied")
        await t.order(extra=[(78, 2), (79, sub["account_id"]), (79, sub["account_id"])])
        assert fields(await t.expect("j"), 380, 58) == ("0", "EGeneral:Invalid arguments:NoAllocs")
        await t.send("F", [(11, "c-1"), (41, cl), *CANCEL, (60, now_fix())])
        assert fields(await t.report(), 37, 150) == (ack.get(37), "4")
        await t.order(extra=[(78, 1), (79, sub["account_id"])])
        await t.report()
        assert len(open_orders(venue, sub["account_id"])) == 1
        await t.logout()  # cancel-on-disconnect covers the subaccount orders it placed
        assert open_orders(venue, sub["account_id"]) == []

    run(body)


def test_order_status_request(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)

    async def body() -> None:
        t = await Trader(venue, creds).connect()
        await t.sign_on()
        cl = await t.order(qty="0.05")
        ack = await t.report()
        await t.send("H", [(37, ack.get(37)), (11, cl), (55, "BTC/USD"), (54, "1"), (60, now_fix())])
        st = await t.report()
        assert fields(st, 37, 11, 150, 39, 14, 151, 38) == (ack.get(37), cl, "I", "0", "0.00000000",
                                                            "0.05000000", "0.05000000")
        await t.send("H", [(37, "OXXXXX-XXXXX-XXXXXX"), (55, "BTC/USD")])
        assert fields(await t.expect("j"), 372, 380, 58) == ("H", "101", "EOrder:Unknown order")
        await t.logout()

    run(body)
