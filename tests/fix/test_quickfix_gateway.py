"""A stock QuickFIX initiator trading through the whole simulator: Kraken-signed
logon with an admin-issued FIX key, orders and reports, heartbeats, a gap in
each direction, and a reconnect that replays the cancel-on-disconnect reports;
then the plain profile for an unconfigured initiator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.fix.fixclient import run
from tests.fix.quickfix_client import Initiator, eventually, no_initiator_outlives_its_test, signed_app
from tests.fix.quickfix_client import new_order_single as nos
from tests.fix.venue import account, open_orders, plain_comp_ids

fix: Any = pytest.importorskip("quickfix")
__all__ = ["no_initiator_outlives_its_test"]  # autouse here too


def test_quickfix_signed_session_orders_gaps_and_reconnect(kraken_venue_session: Any, tmp_path: Path) -> None:
    venue = kraken_venue_session
    creds = account(venue)
    sender = creds["fix"]["sender_comp_id"]

    async def body() -> None:
        app = signed_app(creds)
        ini = Initiator(tmp_path, venue.fix_port, app, sender)
        await ini.start()
        ini.send(nos("1001"))
        assert await eventually(lambda: len(app.reports()) == 1)
        ack = app.reports()[0]
        assert (ack.getField(11), ack.getField(150), ack.getField(39)) == ("1001", "0", "0")
        order_id = ack.getField(37)
        await asyncio.sleep(1.3)  # heartbeats both ways at HeartBtInt=1
        assert "0" in app.admin_in and ini.session().isLoggedOn()
        # our side skips ahead: the acceptor asks for a resend, QuickFIX gap-fills, the order goes in
        session = ini.session()
        session.setNextSenderMsgSeqNum(session.getExpectedSenderNum() + 4)
        ini.send(nos("1002", "1001"))
        assert await eventually(lambda: len(app.reports()) == 2)
        assert "2" in app.admin_in
        assert open_orders(venue, creds["account_id"]) and order_id in open_orders(venue, creds["account_id"])
        # the connection dies without Logout: cancel on disconnect; the reports wait in the store
        await ini.stop(force=True)
        assert await eventually(lambda: not open_orders(venue, creds["account_id"]))
        app2 = signed_app(creds)
        ini2 = Initiator(tmp_path, venue.fix_port, app2, sender)
        await ini2.start()  # same store: no reset, QuickFIX sees our higher seqnum and asks for the rest
        assert await eventually(lambda: len(app2.reports()) == 2)
        cancelled = app2.reports()
        assert {m.getField(11) for m in cancelled} == {"1001", "1002"}
        for m in cancelled:
            assert (m.getField(150), m.getField(39), m.getField(58)) == ("4", "4", "Cancel on disconnect")
            assert m.getHeader().getField(43) == "Y"
        ini2.send(nos("1003"))
        assert await eventually(lambda: len(app2.reports()) == 3)
        await ini2.stop()
        assert app2.logged_out.is_set()

    run(body, timeout=40)


def test_quickfix_plain_profile_on_demo_account(kraken_venue_session: Any, tmp_path: Path) -> None:
    venue = kraken_venue_session
    demo_id = venue.demo_account["account_id"]

    async def body() -> None:
        app = signed_app(None)
        ini = Initiator(tmp_path, venue.fix_port, app, "QF-PLAIN", reset=True)
        with plain_comp_ids(venue, {"QF-PLAIN": "demo"}):
            await ini.start()
        ini.send(nos("2001"))
        assert await eventually(lambda: len(app.reports()) == 1)
        ack = app.reports()[0]
        assert ack.getField(150) == "0" and ack.getField(37) in open_orders(venue, demo_id)
        await ini.stop()
        assert ack.getField(37) not in open_orders(venue, demo_id)

    run(body, timeout=30)
