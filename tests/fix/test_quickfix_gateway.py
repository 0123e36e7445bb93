"""A stock QuickFIX initiator trading through the whole simulator: Kraken-signed
logon with an admin-issued FIX key, orders and reports, heartbeats, a gap in
each direction, and a reconnect that replays the cancel-on-disconnect reports;
then the plain profile for an unconfigured initiator."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.gateways.fix import kraken_logon_password
from tests.fix.fixclient import run
from tests.fix.venue import account, nonce_for, open_orders, plain_comp_ids

fix: Any = pytest.importorskip("quickfix")


class App(fix.Application):
    """Records application messages; signs Logons with an account's FIX key (if any)."""

    def __init__(self, creds: dict[str, Any] | None) -> None:
        super().__init__()
        self.creds = creds
        self.session_id: Any = None
        self.admin_in: list[str] = []
        self.app_in: list[Any] = []
        self.logged_on = threading.Event()
        self.logged_out = threading.Event()
        self.lock = threading.Lock()

    def onCreate(self, session_id: Any) -> None:  # noqa: N802 (QuickFIX API)
        self.session_id = session_id

    def onLogon(self, session_id: Any) -> None:  # noqa: N802
        self.logged_out.clear()
        self.logged_on.set()

    def onLogout(self, session_id: Any) -> None:  # noqa: N802
        self.logged_on.clear()
        self.logged_out.set()

    def toAdmin(self, msg: Any, session_id: Any) -> None:  # noqa: N802
        header = msg.getHeader()
        if self.creds is not None and header.getField(35) == "A":
            fx = self.creds["fix"]
            nonce = nonce_for(fx["api_key"])
            password = kraken_logon_password(fx["api_secret"], header.getField(34), header.getField(49),
                                             header.getField(56), fx["api_key"], nonce)
            msg.setField(553, fx["api_key"])
            msg.setField(554, password)
            msg.setField(5025, nonce)

    def fromAdmin(self, msg: Any, session_id: Any) -> None:  # noqa: N802
        with self.lock:
            self.admin_in.append(msg.getHeader().getField(35))

    def toApp(self, msg: Any, session_id: Any) -> None:  # noqa: N802
        pass

    def fromApp(self, msg: Any, session_id: Any) -> None:  # noqa: N802
        with self.lock:
            self.app_in.append(fix.Message(msg))

    def reports(self) -> list[Any]:
        with self.lock:
            return [m for m in self.app_in if m.getHeader().getField(35) == "8"]


class Initiator:
    """A SocketInitiator with a file store (seqnums survive a restart)."""

    live: list[Initiator] = []

    def __init__(self, tmp: Path, port: int, app: App, sender: str, *, reset: bool = False) -> None:
        cfg = tmp / f"{sender}.cfg"
        cfg.write_text(
            "[DEFAULT]\nConnectionType=initiator\nReconnectInterval=1\n"
            f"FileStorePath={tmp}/store\nFileLogPath={tmp}/log\n"
            "StartTime=00:00:00\nEndTime=00:00:00\nUseDataDictionary=N\n"
            f"SocketConnectHost=127.0.0.1\nSocketConnectPort={port}\nHeartBtInt=1\nLogoutTimeout=2\n"
            f"ResetOnLogon={'Y' if reset else 'N'}\n"
            f"[SESSION]\nBeginString=FIX.4.4\nSenderCompID={sender}\nTargetCompID=KRAKEN-TRD\n"
        )
        self.app = app
        settings = fix.SessionSettings(str(cfg))
        self.initiator: Any = fix.SocketInitiator(app, fix.FileStoreFactory(settings), settings,
                                                  fix.FileLogFactory(settings))
        Initiator.live.append(self)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.initiator.start)
        assert await loop.run_in_executor(None, self.app.logged_on.wait, 5.0), "no logon"

    async def stop(self, *, force: bool = False) -> None:
        """Graceful: Logout first. Forced: the socket just goes (cancel-on-disconnect)."""
        loop = asyncio.get_running_loop()
        session = self.session()
        if not force and session is not None and session.isLoggedOn():
            session.logout()
            await loop.run_in_executor(None, self.app.logged_out.wait, 5.0)
        await loop.run_in_executor(None, self.initiator.stop, force)
        self.initiator = None
        gc.collect()

    def session(self) -> Any:
        return fix.Session.lookupSession(self.app.session_id)

    def send(self, msg: Any) -> None:
        assert fix.Session.sendToTarget(msg, self.app.session_id)


@pytest.fixture(autouse=True)
def _no_initiator_outlives_its_test() -> Iterator[None]:
    yield
    while Initiator.live:
        ini = Initiator.live.pop()
        if ini.initiator is not None:
            ini.initiator.stop(True)
            ini.initiator = None
    gc.collect()


def nos(cl: str, price: str = "1000") -> Any:
    msg = fix.Message()
    msg.getHeader().setField(fix.MsgType(fix.MsgType_NewOrderSingle))
    msg.setField(fix.ClOrdID(cl))
    msg.setField(fix.Symbol("BTC/USD"))
    msg.setField(fix.Side(fix.Side_BUY))
    msg.setField(fix.OrderQty(0.01))
    msg.setField(fix.OrdType(fix.OrdType_LIMIT))
    msg.setField(fix.Price(float(price)))
    msg.setField(fix.TimeInForce(fix.TimeInForce_GOOD_TILL_CANCEL))
    msg.setField(fix.TransactTime())
    return msg


async def eventually(check: Any, timeout: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def test_quickfix_signed_session_orders_gaps_and_reconnect(kraken_venue_session: Any, tmp_path: Path) -> None:
    venue = kraken_venue_session
    creds = account(venue)
    sender = creds["fix"]["sender_comp_id"]

    async def body() -> None:
        app = App(creds)
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
        app2 = App(creds)
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
        app = App(None)
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
