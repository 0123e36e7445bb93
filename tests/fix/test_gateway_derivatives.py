"""Derivatives on the unified session: PF_/PI_ symbols reach the derivatives engine."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.fix.fixclient import now_fix, run
from tests.fix.venue import Trader, account, fields

FUNDS = {"USD": "1000000", "XBT": "10"}
FUT_FUNDS = {"USD": "1000000"}


def cl() -> str:
    return str(uuid.uuid4())


def futures_open(venue: Any, account_id: str) -> list[str]:
    return list(venue.admin.account(account_id)["futures"]["open_orders"])


def inside(venue: Any, symbol: str = "PF_XBTUSD") -> str:
    def read() -> tuple[int, int, int, int]:
        eng = venue.runtime.venue.derivatives
        book, spec = eng.books[symbol], eng.specs[symbol]
        return book.best_bid(), book.best_ask(), spec.tick, spec.pdp

    bid, ask, tick, pdp = venue.call(read)
    assert ask - tick > bid
    return str((ask - tick) / 10 ** pdp if pdp else ask - tick)


def drv(side: str = "1", qty: str = "0.01", price: str | None = "1000", ord_type: str = "2", tif: str = "1",
        symbol: str = "PF_XBTUSD", inst: str = "s", cl_ord_id: str | None = None) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = [(11, cl_ord_id or cl()), (55, symbol), (54, side), (38, qty), (40, ord_type)]
    if price is not None:
        out.append((44, price))
    if inst:
        out.append((18, inst))
    return [*out, (59, tif), (60, now_fix())]


def test_unified_session_trades_spot_and_derivatives(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue, FUNDS, futures_balances=FUT_FUNDS)

    async def body() -> None:
        t = await Trader(venue, creds).connect()  # KRAKEN-TRD, Spot CompIDs
        await t.sign_on()
        await t.order(symbol="BTC/USD")
        spot = await t.report()
        fut = drv()
        await t.send("D", fut)
        ack = await t.report()
        assert fields(ack, 11, 150, 39, 55, 54, 38, 40, 44, 59, 18, 151, 14) == (
            fut[0][1], "0", "0", "PF_XBTUSD", "1", "0.01", "2", "1000", "1", "s", "0.01", "0")
        assert str(uuid.UUID(str(ack.get(37)))) == ack.get(37)
        assert str(spot.get(37)).startswith("O")
        assert futures_open(venue, creds["account_id"]) == [ack.get(37)]
        # field rules of the Derivatives dialect
        await t.send("D", drv(cl_ord_id="1688738168"))
        assert fields(await t.expect("3"), 371, 373, 58) == ("11", "5", "COMB UUID required for ClOrdID")
        await t.send("D", drv(inst=""))
        assert fields(await t.expect("3"), 371, 373) == ("18", "5")
        await t.send("D", [*drv(), (126, "20991231-00:00:00")])
        assert fields(await t.expect("3"), 371, 373) == ("126", "2")
        await t.send("D", drv(tif="6"))
        assert fields(await t.expect("3"), 371, 373) == ("59", "5")
        await t.send("D", drv(symbol="PF_NOPEUSD"))
        assert fields(await t.expect("j"), 380, 58) == ("2", "contractNotFound")
        await t.send("D", drv(qty="100000"))  # the engine's own status word is the Text
        assert fields(await t.expect("j"), 380, 58) == ("0", "maxPositionViolation")
        # cancel by OrigClOrdID, status, unknown
        await t.send("H", [(11, fut[0][1]), (55, "PF_XBTUSD")])
        assert fields(await t.report(), 37, 150, 39) == (ack.get(37), "I", "0")
        await t.send("F", [(11, cl()), (41, fut[0][1]), (54, "1"), (55, "PF_XBTUSD"), (60, now_fix())])
        gone = await t.report()
        assert fields(gone, 37, 41, 150, 39) == (ack.get(37), fut[0][1], "4", "4")
        await t.send("F", [(11, cl()), (41, fut[0][1]), (54, "1"), (55, "PF_XBTUSD"), (60, now_fix())])
        assert fields(await t.expect("j"), 372, 380) == ("F", "101")
        await t.logout()

    run(body)


def test_derivatives_fills_replace_and_cancel_on_disconnect(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    maker_creds = account(venue, FUNDS, futures_balances=FUT_FUNDS)
    taker_creds = account(venue, FUNDS, futures_balances=FUT_FUNDS)

    async def body() -> None:
        sender = maker_creds["fix"]["sender_comp_id"] + "_DRV"
        maker = await Trader(venue, maker_creds, sender=sender, target="KRAKEN-DRV-TRD").connect()
        await maker.sign_on()
        taker = await Trader(venue, taker_creds, target="KRAKEN-DRV-TRD").connect()
        await taker.sign_on()
        px = inside(venue)
        order = drv(side="2", qty="0.03", price=px)
        await maker.send("D", order)
        ack = await maker.report()
        # amend the size in place (size is absolute on FIX)
        new_cl = cl()
        await maker.send("G", [(11, new_cl), (41, order[0][1]), (38, "0.04"), (40, "2"), (44, px), (54, "2"),
                               (55, "PF_XBTUSD"), (59, "1"), (60, now_fix())])
        rep = await maker.report()
        assert fields(rep, 37, 11, 41, 150, 38) == (ack.get(37), new_cl, order[0][1], "5", "0.04")
        # a market buy takes 0.01 from the maker: taker new + fill, maker fill (unsolicited)
        await taker.send("D", drv(side="1", qty="0.01", price=None, ord_type="1"))
        new, fill = await taker.reports(2)
        assert fields(new, 150, 40) == ("0", "1")
        assert fields(fill, 150, 39, 31, 32, 14, 851) == ("F", "2", px, "0.01", "0.01", "2")
        mfill = await maker.report()
        assert fields(mfill, 37, 11, 150, 39, 31, 32, 14, 151, 6, 851) == (
            ack.get(37), new_cl, "F", "1", px, "0.01", "0.01", "0.03", px, "1")
        assert mfill.get(527) == fill.get(527)
        # an IOC that cannot trade is refused before it gets an OrderID
        await taker.send("D", drv(side="1", qty="0.01", price="1000", tif="3"))
        assert fields(await taker.expect("j"), 58) == ("iocWouldNotExecute",)
        # the maker's connection dies: its order is cancelled
        assert maker.writer is not None
        maker.writer.transport.abort()
        for _ in range(100):
            if not futures_open(venue, maker_creds["account_id"]):
                break
            await asyncio.sleep(0.02)
        assert futures_open(venue, maker_creds["account_id"]) == []
        await taker.logout()

    run(body)


def test_derivatives_fix_budget_is_per_session(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue, FUNDS, futures_balances=FUT_FUNDS)
    venue.admin.request("POST", "/fix", {"derivatives_cost": 300})  # budget: 500 per 10 s

    async def body() -> None:
        t = await Trader(venue, creds, target="KRAKEN-DRV-TRD").connect()
        await t.sign_on()
        await t.send("D", drv())
        assert (await t.report()).get(150) == "0"
        await t.send("D", drv())
        assert fields(await t.expect("j"), 380, 58) == ("0", "EOrder:Rate limit exceeded")
        # Spot is not charged to the derivatives budget
        await t.order(symbol="BTC/USD")
        assert (await t.report()).get(150) == "0"
        await t.logout()

    try:
        run(body)
    finally:
        venue.admin.request("POST", "/fix", {"derivatives_cost": 10})


def test_derivatives_reports_follow_every_taker_step(kraken_venue_session: Any) -> None:
    """Every step of a taker is an engine event, so each gets its report in
    order: an IOC that fills in part is acknowledged, then filled, then its
    rest cancelled; a replace that makes a resting order cross is Replaced,
    then filled."""
    venue = kraken_venue_session
    maker_creds = account(venue, FUNDS, futures_balances=FUT_FUNDS)
    taker_creds = account(venue, FUNDS, futures_balances=FUT_FUNDS)

    async def body() -> None:
        maker = await Trader(venue, maker_creds, sender=maker_creds["fix"]["sender_comp_id"] + "_DRV",
                             target="KRAKEN-DRV-TRD").connect()
        await maker.sign_on()
        taker = await Trader(venue, taker_creds, target="KRAKEN-DRV-TRD").connect()
        await taker.sign_on()
        px = inside(venue)
        await maker.send("D", drv(side="2", qty="0.02", price=px))
        assert (await maker.report()).get(150) == "0"
        ioc = drv(side="1", qty="0.05", price=px, tif="3")
        await taker.send("D", ioc)
        new, fill, gone = await taker.reports(3)
        assert fields(new, 11, 150, 39, 14, 151) == (ioc[0][1], "0", "0", "0", "0.05")
        assert fields(fill, 150, 39, 31, 32, 14, 151) == ("F", "1", px, "0.02", "0.02", "0.03")
        assert fields(gone, 150, 39, 14, 151) == ("4", "4", "0.02", "0")
        assert new.get(37) == fill.get(37) == gone.get(37)
        assert fields(await maker.report(), 150, 39, 14) == ("F", "2", "0.02")
        # the taker rests a buy below the maker's new sell, then moves it up to cross
        sell = drv(side="2", qty="0.01", price=px)
        await maker.send("D", sell)
        assert (await maker.report()).get(150) == "0"
        low = str(int(float(px)) - 100)
        buy = drv(side="1", qty="0.01", price=low)
        await taker.send("D", buy)
        ack = await taker.report()
        assert fields(ack, 150, 39) == ("0", "0")
        new_cl = cl()
        await taker.send("G", [(11, new_cl), (41, buy[0][1]), (38, "0.01"), (40, "2"), (44, px), (54, "1"),
                               (55, "PF_XBTUSD"), (59, "1"), (60, now_fix())])
        rep, trade = await taker.reports(2)
        assert fields(rep, 37, 11, 41, 150, 39, 14) == (ack.get(37), new_cl, buy[0][1], "5", "5", "0")
        assert fields(trade, 37, 11, 150, 39, 31, 14) == (ack.get(37), new_cl, "F", "2", px, "0.01")
        assert fields(await maker.report(), 150, 39, 851) == ("F", "2", "1")
        await taker.logout()
        await maker.logout()

    run(body)
