"""Spot order entry through the whole simulator, checked message by message (raw socket)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from simulator.pytest_plugin import AdminError
from tests.fix.fixclient import now_fix, run
from tests.fix.venue import (
    Trader,
    account,
    fields,
    inside_spread,
    next_cl_ord_id,
    open_orders,
    plain_comp_ids,
    signed_on,
)


def test_signed_logon_with_admin_comp_ids_and_new_order_ack(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)
    assert creds["fix"]["target_comp_id"] == "KRAKEN-TRD"

    async def body() -> None:
        t = await Trader(venue, creds).connect()
        reply = await t.sign_on()
        assert fields(reply, 49, 56, 141) == ("KRAKEN-TRD", creds["fix"]["sender_comp_id"], "Y")
        assert reply.get(553) is None and reply.get(554) is None  # credentials never echoed
        cl = await t.order(symbol="XBT/USD", price="1000.5", qty="0.02")
        er = await t.report()
        assert fields(er, 11, 150, 39, 55, 54, 38, 40, 44, 59, 151, 14, 6) == (
            cl, "0", "0", "XBT/USD", "1", "0.02000000", "2", "1000.5", "1", "0.02000000", "0.00000000", "0.0")
        order_id = er.get(37)
        assert order_id is not None and order_id.startswith("O") and er.get(17) and er.get(60)
        assert open_orders(venue, creds["account_id"]) == [order_id]
        # the same order spelled BTC/USD echoes BTC/USD
        await t.order(symbol="BTC/USD")
        assert (await t.report()).get(55) == "BTC/USD"
        await t.logout()

    run(body)


def test_bad_signature_and_unsigned_account_comp_id_are_refused(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)
    other = account(venue)

    async def refused(secret: str | None = None, signed: bool = True, who: dict[str, Any] = creds) -> str | None:
        t = await Trader(venue, who).connect()
        try:
            await t.sign_on(secret=secret, signed=signed)
        except AssertionError as exc:
            assert "35=5" in str(exc)
            return t.received[-1].get(58)
        finally:
            await t.close()
        return None

    assert run(lambda: refused(secret=other["fix"]["api_secret"])) == "Logon failed: invalid credentials"
    # a SenderCompID an account owns always needs its credentials
    assert run(lambda: refused(signed=False)) == "Logon failed: invalid credentials"

    async def foreign_key() -> str | None:
        # another account's key with this account's CompID
        t = await Trader(venue, other, sender=creds["fix"]["sender_comp_id"]).connect()
        try:
            await t.sign_on()
        except AssertionError:
            return t.received[-1].get(58)
        finally:
            await t.close()
        return None

    assert run(foreign_key) == "Logon failed: invalid credentials"


def test_plain_profile_accepts_only_configured_comp_ids(kraken_venue_session: Any) -> None:
    """Issue 16 item 15: a credential-less Logon from a CompID nobody configured is closed
    without a Logon reply; configured ones (scenario or /admin/fix) trade on their account."""
    venue = kraken_venue_session
    demo_id = venue.demo_account["account_id"]
    mapped = account(venue)

    async def silently_closed(sender: str, target: str = "KRAKEN-TRD") -> bool:
        t = await Trader(venue, None, sender=sender, target=target).connect()
        await t.send("A", [(98, 0), (108, 30), (141, "Y")])
        closed = await t.wait_closed()
        assert not any(m.msg_type == "A" for m in t.received)  # no Logon reply, no bytes at all
        return closed and t.received == []

    async def place(sender: str, account_id: str) -> None:
        t = await Trader(venue, None, sender=sender).connect()
        reply = await t.sign_on(signed=False)
        assert reply.get(141) == "Y"  # plain profile: reset on logon
        await t.order(price="1001")
        er = await t.report()
        assert er.get(150) == "0"
        assert er.get(37) in open_orders(venue, account_id)
        await t.logout()  # cancel-on-disconnect (8674=0) also fires on Logout
        assert er.get(37) not in open_orders(venue, account_id)

    assert run(lambda: silently_closed("STOCK-ANYONE"))
    assert run(lambda: silently_closed("STOCK-ANYONE", "KRAKEN-MD"))
    with plain_comp_ids(venue, {"STOCK-DEMO": "demo", "STOCK-MAPPED": mapped["account_id"]}):
        run(lambda: place("STOCK-DEMO", demo_id))
        run(lambda: place("STOCK-MAPPED", mapped["account_id"]))
        view = venue.admin.request("GET", "/fix")
        assert view["config"]["plain_comp_ids"]["STOCK-MAPPED"] == mapped["account_id"]
        assert run(lambda: silently_closed("STOCK-OTHER"))
    assert run(lambda: silently_closed("STOCK-DEMO"))  # taken off the list: refused again
    # the admin API refuses unknown accounts and CompIDs issued to an account
    for body, status in (({"plain_comp_ids": {"X": "no-such-account"}}, 404),
                         ({"plain_comp_ids": {mapped["fix"]["sender_comp_id"]: "demo"}}, 409)):
        with pytest.raises(AdminError) as err:
            venue.admin.request("POST", "/fix", body)
        assert err.value.status == status
    assert "X" not in venue.admin.request("GET", "/fix")["config"]["plain_comp_ids"]


def test_fills_report_trade_details_and_unsolicited_maker_fills(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    maker_creds = account(venue, {"USD": "1000000", "XBT": "10"})
    taker_creds = account(venue, {"USD": "1000000", "XBT": "10"})

    async def body() -> None:
        maker = await signed_on(venue, maker_creds)
        taker = await signed_on(venue, taker_creds)
        # a sell inside the spread is the best ask alone; the taker lifts it partly, then the rest
        px = inside_spread(venue)
        cl = await maker.order(side="2", qty="0.03", price=px)
        ack = await maker.report()
        assert fields(ack, 150, 39) == ("0", "0")
        tcl = await taker.order(side="1", qty="0.01", price=px, tif="3")
        new, fill = await taker.reports(2)
        assert fields(new, 11, 150, 39) == (tcl, "0", "0")
        assert fields(fill, 150, 39, 32, 31, 14, 151, 6, 851, 13, 479) == (
            "F", "2", "0.01000000", px, "0.01000000", "0.00000000", px, "2", "3", "USD")
        assert fill.get(527) is not None and fill.get(12) is not None
        mfill = await maker.report()
        assert fields(mfill, 37, 11, 150, 39, 32, 31, 14, 151, 851) == (
            ack.get(37), cl, "F", "1", "0.01000000", px, "0.01000000", "0.02000000", "1")
        assert mfill.get(527) == fill.get(527)  # the same trade on both sides
        await taker.order(side="1", qty="0.05", price=px, tif="3")  # takes the rest, IOC remainder dies
        new, fill, done = await taker.reports(3)
        assert fields(fill, 150, 39, 32, 14, 151) == ("F", "1", "0.02000000", "0.02000000", "0.03000000")
        assert fields(done, 150, 39, 14, 151, 58) == ("4", "4", "0.02000000", "0.00000000", "Immediate or cancel")
        last = await maker.report()
        assert fields(last, 150, 39, 14, 151, 6) == ("F", "2", "0.03000000", "0.00000000", px)
        await maker.logout()
        await taker.logout()

    run(body)


def test_business_and_field_rejects(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue, {"USD": "5"})

    async def body() -> None:
        t = await signed_on(venue, creds)
        cl = await t.order(qty="1", price="1000")
        j = await t.expect("j")
        seq = t.next_seq - 1
        assert fields(j, 45, 372, 379, 380, 58) == (str(seq), "D", cl, "0", "EOrder:Insufficient funds")
        cl = await t.order(symbol="NOPE/USD")
        j = await t.expect("j")
        assert fields(j, 379, 380, 58) == (cl, "2", "EQuery:Unknown asset pair")
        await t.send("D", [(11, next_cl_ord_id()), (55, "BTC/USD"), (38, "0.01"), (40, "2"), (44, "1000"),
                           (59, "1"), (60, now_fix())])
        r = await t.expect("3")
        assert fields(r, 371, 372, 373, 58) == ("54", "D", "1", "Missing mandatory field: Side (54)")
        await t.order(ord_type="Z")
        r = await t.expect("3")
        assert fields(r, 371, 373) == ("40", "5")
        await t.order(cl="x" * 19)
        r = await t.expect("3")
        assert fields(r, 371, 373) == ("11", "5")
        await t.order(qty="1e-2")
        assert fields(await t.expect("3"), 371, 373) == ("38", "6")
        await t.send("E", [(66, "1")])  # a FIX message type Kraken does not take
        assert fields(await t.expect("j"), 372, 380) == ("E", "3")
        await t.logout()

    run(body)


def test_post_only_and_rate_limit_rejects(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue, tier="starter")

    async def body() -> None:
        t = await signed_on(venue, creds)
        cl = await t.order(side="1", price="900000", extra=[(18, "P")])  # would take: refused
        j = await t.expect("j")
        assert fields(j, 379, 380, 58) == (cl, "0", "EOrder:Post only order")
        # add + cancel of a young order cost 1 + 8 on the starter counter (60), which FIX
        # shares with REST and WS: the engine refuses before long
        refused = None
        for i in range(20):
            cl = await t.order(price="1000")
            m = await t.recv()
            if m.msg_type == "j":
                refused = m
                break
            await t.cancel(f"x{i}", orig=cl)
            m = await t.recv()
            if m.msg_type == "j":
                refused = m
                break
        assert refused is not None and i > 3
        assert fields(refused, 380, 58) == ("0", "EOrder:Rate limit exceeded")
        await t.logout()

    run(body)


def test_cancel_by_orig_cl_ord_id_and_order_id_then_unknown(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)

    async def body() -> None:
        t = await signed_on(venue, creds)
        cl1 = await t.order(price="1000")
        er1 = await t.report()
        cl2 = await t.order(price="1000.1")
        er2 = await t.report()
        await t.cancel("c-1", orig=cl1)
        c1 = await t.report()
        assert fields(c1, 37, 11, 41, 150, 39, 151, 58) == (er1.get(37), "c-1", cl1, "4", "4", "0.00000000",
                                                            "User requested")
        # OrderID wins over a wrong OrigClOrdID
        await t.cancel("c-2", orig="nonsense", order_id=er2.get(37))
        c2 = await t.report()
        assert fields(c2, 37, 11, 41, 150) == (er2.get(37), "c-2", cl2, "4")
        await t.cancel("c-3", orig=cl1)
        j = await t.expect("j")
        assert fields(j, 372, 379, 380, 58) == ("F", "c-3", "101", "EOrder:Unknown order")
        await t.cancel("c-4")
        assert fields(await t.expect("3"), 371, 373) == ("41", "1")
        await t.logout()

    run(body)


def test_cancel_replace_amends_in_place(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)

    async def body() -> None:
        t = await signed_on(venue, creds)
        cl = await t.order(price="1000", qty="0.02")
        ack = await t.report()
        await t.send("G", [(11, "r-1"), (37, ack.get(37)), (41, cl), (38, "0.03"), (40, "2"), (44, "1100"),
                           (54, "1"), (55, "BTC/USD"), (59, "1"), (60, now_fix())])
        rep = await t.report()
        assert fields(rep, 37, 11, 41, 150, 39, 38, 44, 151) == (
            ack.get(37), "r-1", cl, "5", "5", "0.03000000", "1100.0", "0.03000000")
        # the chain continues from the new ClOrdID; OrderStatusRequest sees the new shape
        await t.send("H", [(11, "r-1"), (55, "BTC/USD"), (790, "st-1")])
        st = await t.report()
        assert fields(st, 37, 11, 150, 39, 38, 44, 790) == (ack.get(37), "r-1", "I", "0",
                                                            "0.03000000", "1100.0", "st-1")
        # the replaced ClOrdID still names the live order: a new order may not take it
        await t.order(cl=cl)
        assert fields(await t.expect("j"), 372, 58) == ("D", "EOrder:Duplicate order")
        # a ClOrdID already in use is refused; so is another order type
        cl_b = await t.order(price="1000")
        await t.report()
        await t.send("G", [(11, cl_b), (41, "r-1"), (38, "0.03"), (40, "2"), (44, "1200"), (54, "1"),
                           (55, "BTC/USD"), (59, "1"), (60, now_fix())])
        assert fields(await t.expect("j"), 372, 58) == ("G", "EOrder:Duplicate order")
        await t.send("G", [(11, "r-2"), (41, "r-1"), (38, "0.03"), (40, "1"), (54, "1"), (55, "BTC/USD"),
                           (59, "1"), (60, now_fix())])
        assert fields(await t.expect("j"), 372, 58) == ("G", "EGeneral:Invalid arguments:ordertype")
        await t.cancel("c-9", orig="r-1")
        assert fields(await t.report(), 11, 41, 150) == ("c-9", "r-1", "4")
        await t.send("H", [(11, "r-1"), (55, "BTC/USD")])
        assert fields(await t.expect("j"), 372, 380) == ("H", "101")
        await t.logout()

    run(body)


def test_order_types_tif_and_exec_inst_map_to_kraken(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)

    async def body() -> None:
        t = await signed_on(venue, creds)
        # stop-loss-limit: StopPx is the trigger, Price the limit; waits untriggered
        await t.order(side="2", ord_type="4", price="1000", extra=[(99, "1100")])
        er = await t.report()
        assert fields(er, 150, 39, 40, 44, 99) == ("0", "0", "4", "1000.0", "1100.0")
        # take-profit (R) needs StopPx
        await t.order(side="2", ord_type="R", price=None)
        assert fields(await t.expect("3"), 371, 373) == ("99", "1")
        # iceberg via DisplayQty (1138), and via FIX MaxFloor (111)
        await t.order(qty="0.15", price="1000", extra=[(1138, "0.01")])
        assert (await t.report()).get(1138) == "0.01000000"
        await t.order(qty="0.15", price="1000", extra=[(111, "0.02")])
        assert (await t.report()).get(1138) == "0.02000000"
        # GTD needs ExpireTime; it is echoed seconds-only
        await t.order(tif="6")
        assert fields(await t.expect("3"), 371, 373) == ("126", "1")
        await t.order(tif="6", extra=[(126, "20991231-00:00:00")])
        j = await t.expect("j")
        assert j.get(58) == "EGeneral:Invalid arguments:expiretm"  # more than a month ahead
        # FOK that cannot fill: acknowledged, then killed
        await t.order(side="1", price="1000", tif="4")
        new, dead = await t.reports(2)
        assert fields(new, 150, 59) == ("0", "4") and fields(dead, 150, 39, 58) == ("4", "4", "Fill or kill")
        # ValidUntilTime too far ahead / already past
        await t.order(extra=[(62, "20991231-00:00:00.000")])
        assert (await t.expect("j")).get(58) == "EGeneral:Invalid arguments:deadline"
        await t.order(extra=[(62, "20200101-00:00:00.000")])
        assert (await t.expect("j")).get(58) == "EService:Deadline elapsed"
        # self-trade prevention values are Kraken's 0/1/2; ExecInst values are space separated
        await t.order(extra=[(7928, "9")])
        assert fields(await t.expect("3"), 371, 373) == ("7928", "5")
        await t.order(extra=[(18, "P q")])
        er = await t.report()
        assert fields(er, 150, 18) == ("0", "P")
        await t.logout()

    run(body)


def test_two_fills_in_one_order_report_running_totals(kraken_venue_session: Any) -> None:
    """Each ExecutionReport of a two-fill order shows CumQty/AvgPx/LeavesQty as of
    that fill, not the order's final totals."""
    venue = kraken_venue_session
    maker_creds = account(venue, {"USD": "1000000", "XBT": "10"})
    taker_creds = account(venue, {"USD": "1000000", "XBT": "10"})

    async def body() -> None:
        maker = await signed_on(venue, maker_creds)
        taker = await signed_on(venue, taker_creds)
        top = Decimal(inside_spread(venue))  # one tick under the best ask
        tick = Decimal("0.1")
        px1, px2 = top - 2 * tick, top
        for px in (px2, px1):
            await maker.order(side="2", qty="0.01", price=str(px))
            assert fields(await maker.report(), 150) == ("0",)
        await taker.order(side="1", qty="0.02", price=str(px2), tif="3")
        new, first, second = await taker.reports(3)
        assert fields(new, 150, 39, 14) == ("0", "0", "0.00000000")
        assert fields(first, 150, 39, 32, 31, 14, 151, 6) == (
            "F", "1", "0.01000000", str(px1), "0.01000000", "0.01000000", str(px1))
        assert fields(second, 150, 39, 32, 31, 14, 151, 6) == (
            "F", "2", "0.01000000", str(px2), "0.02000000", "0.00000000", str((px1 + px2) / 2))
        m1, m2 = await maker.reports(2)  # each maker order filled whole
        assert {fields(m, 39, 14, 6) for m in (m1, m2)} == {("2", "0.01000000", str(px)) for px in (px1, px2)}
        await maker.logout()
        await taker.logout()

    run(body)
