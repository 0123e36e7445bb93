"""Reports for what the venue does on its own (timers, triggers), admin reset, TLS.

These tests move the venue clock or reset the venue, so each gets its own
simulator (`kraken_venue`)."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime
from typing import Any

from simulator.pytest_plugin import start_venue
from tests.fix.fixclient import now_fix, run
from tests.fix.venue import Trader, account, fields, inside_spread, open_orders, rest_private


def venue_time(venue: Any, plus_s: int, fraction: bool = False) -> str:
    ns = int(venue.admin.clock["now_ns"]) + plus_s * 1_000_000_000
    text = datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).strftime("%Y%m%d-%H:%M:%S")
    return text + ".000" if fraction else text


def test_expiry_effective_time_dead_mans_switch_and_triggers(kraken_venue: Any) -> None:
    venue = kraken_venue
    creds = account(venue)
    seller, buyer = account(venue), account(venue)

    async def body() -> None:
        t = await Trader(venue, creds).connect()
        await t.sign_on()
        venue.admin.freeze()
        # GTD: expires when the venue clock passes ExpireTime
        gtd = await t.order(tif="6", extra=[(126, venue_time(venue, 60))])
        ack = await t.report()
        assert fields(ack, 150, 59, 126) == ("0", "6", venue_time(venue, 60))
        # EffectiveTime: pending until it comes
        later = await t.order(price="1001", extra=[(168, venue_time(venue, 30, fraction=True))])
        pend = await t.report()
        assert fields(pend, 11, 150, 39) == (later, "A", "A")
        venue.admin.advance(31_000)
        live = await t.report()
        assert fields(live, 11, 37, 150, 39) == (later, pend.get(37), "0", "0")
        venue.admin.advance(30_000)
        gone = await t.report()
        assert fields(gone, 11, 37, 150, 39, 151, 58) == (gtd, ack.get(37), "C", "C", "0.00000000", "Order expired")
        # dead man's switch armed over REST cancels the FIX order
        res = rest_private(venue, creds, "CancelAllOrdersAfter", timeout=10)
        assert res["error"] == []
        venue.admin.advance(11_000)
        dms = await t.report()
        assert fields(dms, 11, 150, 39, 58) == (later, "4", "4", "Dead man's switch")
        assert open_orders(venue, creds["account_id"]) == []
        venue.admin.set_clock(mode="real")
        # a stop-loss buy waits; a trade at its StopPx (two other orders) fires it: Restated, then fills
        px = inside_spread(venue)
        stop = await t.order(side="1", ord_type="3", price=None, extra=[(99, px)])
        waiting = await t.report()
        assert fields(waiting, 11, 150, 39, 40, 99) == (stop, "0", "0", "3", px)
        rest_private(venue, seller, "AddOrder", pair="XBTUSD", type="sell", ordertype="limit", volume="0.02",
                     price=px)
        rest_private(venue, buyer, "AddOrder", pair="XBTUSD", type="buy", ordertype="limit", volume="0.01",
                     price=px)
        fired, fill = await t.reports(2)
        assert fields(fired, 11, 150, 39, 40) == (stop, "D", "0", "1")
        assert fields(fill, 11, 150, 39, 31, 32) == (stop, "F", "2", px, "0.01000000")
        await t.logout()

    run(body)


def test_admin_reset_drops_fix_sessions_and_forgets_seqnums(kraken_venue: Any) -> None:
    venue = kraken_venue

    async def body() -> None:
        venue.admin.request("POST", "/fix", {"plain_comp_ids": {"STOCK-RESET": "demo"}})  # the reset forgets it
        t = await Trader(venue, None, sender="STOCK-RESET").connect()
        await t.sign_on(signed=False)
        await t.order()
        await t.report()
        assert any(c["protocol"] == "fix" for c in venue.admin.connections())
        await asyncio.get_running_loop().run_in_executor(None, venue.admin.reset)
        assert await t.wait_closed()
        assert not any(c["protocol"] == "fix" for c in venue.admin.connections())
        # an admin-issued identity logs on from seqnum 1 without asking for a reset
        creds = account(venue)
        again = await Trader(venue, creds).connect()
        reply = await again.sign_on(reset=False)
        assert reply.get(34) == "1"
        await again.order()
        assert (await again.report()).get(150) == "0"
        await again.logout()

    run(body)


def test_tls_listener_shares_the_https_certificate() -> None:
    tv, venue = start_venue(tls=True)
    try:
        tls = venue.tls
        assert tls is not None and "fix" in tls
        context = ssl.create_default_context(cafile=tls["ca_cert"])
        context.check_hostname = False
        creds = account(venue)

        async def body() -> None:
            t = Trader(venue, creds, port=tls["fix"]["port"])
            await t.connect(ssl=context)
            await t.sign_on()
            await t.order()
            assert (await t.report()).get(150) == "0"
            # one identity, one session: the plain TCP port refuses it while TLS holds it
            dup = Trader(venue, creds)
            await dup.connect()
            await dup.send("A", [(98, 0), (108, 30)])
            assert await dup.wait_closed()
            await t.logout()

        run(body)
    finally:
        tv.stop()


def test_latency_and_service_faults_apply_to_fix(kraken_venue: Any) -> None:
    venue = kraken_venue
    creds = account(venue)

    async def body() -> None:
        t = await Trader(venue, creds).connect()
        await t.sign_on()
        venue.admin.faults(unavailable_share=1.0)
        cl = await t.order()
        j = await t.expect("j")
        assert fields(j, 379, 380, 58) == (cl, "4", "EService:Unavailable")
        venue.admin.faults(unavailable_share=0.0, latency_ms={"fix": [50, 50]})
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = await t.order(price="1000")
        second = await t.order(price="1001")
        a, b = await t.reports(2)
        assert loop.time() - started >= 0.1  # each message waits, in sequence
        assert (a.get(11), b.get(11)) == (first, second)
        await t.send("F", [(11, "c"), (41, first), (54, "1"), (55, "BTC/USD"), (60, now_fix())])
        assert (await t.report()).get(150) == "4"
        await t.logout()

    run(body)
