"""Interop with a stock FIX engine: the QuickFIX initiator (pip quickfix-tls).

QuickFIX runs its own threads; the acceptor runs on this test's event loop,
so every blocking QuickFIX call goes through an executor.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.core.clock import VenueClock
from simulator.gateways.fix import SessionKey, kraken_logon_password, kraken_profile, plain_profile
from tests.fix.fixclient import RecordingApp, run, running_acceptor

fix: Any = pytest.importorskip("quickfix")

KEY = SessionKey("FIX.4.4", "KRAKEN-TRD", "CLIENT")
SECRET = base64.b64encode(b"quickfix-kraken-secret-0123456789").decode()


class QfApp(fix.Application):
    """Records what the initiator sees; optionally signs Logons the Kraken way."""

    def __init__(self, api_key: str | None = None, clock: VenueClock | None = None) -> None:
        super().__init__()
        self.api_key = api_key
        self.clock = clock
        self.session_id: Any = None
        self.admin_in: list[str] = []
        self.app_in: list[Any] = []
        self.logons = 0
        self.logged_on = threading.Event()
        self.logged_out = threading.Event()
        self.got_app = threading.Event()
        self.lock = threading.Lock()

    def onCreate(self, session_id: Any) -> None:  # noqa: N802 (QuickFIX API)
        self.session_id = session_id

    def onLogon(self, session_id: Any) -> None:  # noqa: N802
        self.logons += 1
        self.logged_out.clear()
        self.logged_on.set()

    def onLogout(self, session_id: Any) -> None:  # noqa: N802
        self.logged_on.clear()
        self.logged_out.set()

    def toAdmin(self, msg: Any, session_id: Any) -> None:  # noqa: N802
        header = msg.getHeader()
        if self.api_key and header.getField(35) == "A":
            nonce = str(self.clock.now_ms() if self.clock else 0)
            seq = header.getField(34)
            password = kraken_logon_password(SECRET, seq, header.getField(49), header.getField(56),
                                             self.api_key, nonce)
            msg.setField(553, self.api_key)
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
        self.got_app.set()


class Initiator:
    """A SocketInitiator with a file store (so seqnums survive its restart)."""

    live: list[Initiator] = []

    def __init__(self, tmp: Path, port: int, app: QfApp, *, target: str = "KRAKEN-TRD",
                 heartbeat: int = 1) -> None:
        cfg = tmp / "client.cfg"
        cfg.write_text(
            "[DEFAULT]\n"
            "ConnectionType=initiator\n"
            "ReconnectInterval=1\n"
            f"FileStorePath={tmp}/store\n"
            f"FileLogPath={tmp}/log\n"
            "StartTime=00:00:00\nEndTime=00:00:00\n"
            "UseDataDictionary=N\n"
            "SocketConnectHost=127.0.0.1\n"
            f"SocketConnectPort={port}\n"
            f"HeartBtInt={heartbeat}\n"
            "LogoutTimeout=2\n"
            "[SESSION]\nBeginString=FIX.4.4\nSenderCompID=CLIENT\n"
            f"TargetCompID={target}\n"
        )
        self.app = app
        settings = fix.SessionSettings(str(cfg))
        self.initiator: Any = fix.SocketInitiator(app, fix.FileStoreFactory(settings), settings,
                                             fix.FileLogFactory(settings))
        Initiator.live.append(self)
        self.final_next_sender = self.final_next_target = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.initiator.start)
        assert await loop.run_in_executor(None, self.app.logged_on.wait, 5.0), "no logon"

    async def stop(self) -> None:
        """Logout, then destroy the engine: QuickFIX keeps one Session per SessionID
        process-wide, so a second initiator only registers once the first is gone."""
        if self.initiator is None:
            return
        loop = asyncio.get_running_loop()
        session = self.session()
        if session is not None and session.isLoggedOn():
            # Logout first and wait for its completion: Initiator.stop() would otherwise
            # poll the logout in whole seconds
            session.logout()
            await loop.run_in_executor(None, self.app.logged_out.wait, 5.0)
        await loop.run_in_executor(None, self.initiator.stop)
        if session is not None:
            self.final_next_sender = session.getExpectedSenderNum()
            self.final_next_target = session.getExpectedTargetNum()
        self.initiator = None
        gc.collect()

    def session(self) -> Any:
        return fix.Session.lookupSession(self.app.session_id)


@pytest.fixture(autouse=True)
def _no_initiator_outlives_its_test() -> Iterator[None]:
    """Force-stop QuickFIX engines a failed test left running: they would keep
    reconnecting (their Session stays registered process-wide) and crash the
    interpreter at exit."""
    yield
    while Initiator.live:
        ini = Initiator.live.pop()
        if ini.initiator is not None:
            ini.initiator.stop(True)
            ini.initiator = None
    gc.collect()


def new_order_single(cl_ord_id: str) -> Any:
    msg = fix.Message()
    msg.getHeader().setField(fix.MsgType(fix.MsgType_NewOrderSingle))
    msg.setField(fix.ClOrdID(cl_ord_id))
    msg.setField(fix.Symbol("BTC/USD"))
    msg.setField(fix.Side(fix.Side_BUY))
    msg.setField(fix.OrderQty(0.01))
    msg.setField(fix.OrdType(fix.OrdType_LIMIT))
    msg.setField(fix.Price(1000))
    msg.setField(fix.TimeInForce(fix.TimeInForce_GOOD_TILL_CANCEL))
    msg.setField(fix.TransactTime())
    return msg


async def wait_for(event: threading.Event, timeout: float = 5.0) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, event.wait, timeout)


async def eventually(check: Any, timeout: float = 3.0) -> bool:
    """Poll a condition QuickFIX updates from its own threads."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def test_quickfix_plain_session_heartbeats_reject_reconnect_logout(tmp_path: Path) -> None:
    async def body() -> None:
        server_app = RecordingApp()
        async with running_acceptor(app=server_app, profile=plain_profile(reset_on_logon=False)) as acc:
            qf = QfApp()
            ini = Initiator(tmp_path, acc.port, qf)
            await ini.start()
            # heartbeats both ways with HeartBtInt=1
            await asyncio.sleep(2.2)
            assert qf.admin_in.count("0") >= 1
            assert acc.store(KEY).next_target_seq >= 3  # the initiator's heartbeats arrived
            # an application message gets the BusinessMessageReject
            fix.Session.sendToTarget(new_order_single("qf-1"), qf.session_id)
            assert await wait_for(qf.got_app)
            j = qf.app_in[0]
            assert j.getHeader().getField(35) == "j"
            assert (j.getField(380), j.getField(372), j.getField(379)) == ("3", "D", "qf-1")
            assert [m.get(11) for m in server_app.messages] == ["qf-1"]
            first_instance = server_app.logons[0].instance_id
            await ini.stop()
            assert qf.logged_out.is_set()
            sender_before, target_before = ini.final_next_sender, ini.final_next_target
            # reconnect: a new initiator on the same file store keeps its seqnums, so do we
            qf2 = QfApp()
            ini2 = Initiator(tmp_path, acc.port, qf2)
            await ini2.start()
            assert server_app.logons[1].instance_id != first_instance
            # both sides continue where they stopped: no reset, no gap, no resend
            assert server_app.logons[1].logon_message.get(34) == str(sender_before)
            logon_replies = [raw for _, raw in acc.store(KEY).get_range(1, 100) if b"\x0135=A\x01" in raw]
            assert b"\x0134=%d\x01" % target_before in logon_replies[1]
            assert await eventually(lambda: ini2.session().getExpectedTargetNum() > target_before)
            assert "2" not in qf2.admin_in and "4" not in qf2.admin_in
            assert fix.Session.sendToTarget(new_order_single("qf-2"), qf2.session_id)
            assert await wait_for(qf2.got_app)
            assert qf2.app_in[0].getField(379) == "qf-2"
            await ini2.stop()
            assert qf2.logged_out.is_set()
            assert "5" in qf2.admin_in  # our Logout answered theirs
            assert [c for _, c in server_app.disconnects] == [True, True]

    run(body, timeout=40)


def test_quickfix_gap_recovery_both_directions(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_acceptor(profile=plain_profile(reset_on_logon=False)) as acc:
            qf = QfApp()
            ini = Initiator(tmp_path, acc.port, qf, heartbeat=30)
            await ini.start()
            session = ini.session()
            # client skips ahead: we send ResendRequest, QuickFIX gap-fills, the order goes through
            session.setNextSenderMsgSeqNum(session.getExpectedSenderNum() + 5)
            fix.Session.sendToTarget(new_order_single("after-gap"), qf.session_id)
            assert await wait_for(qf.got_app)
            assert qf.app_in[-1].getField(379) == "after-gap"
            assert "2" in qf.admin_in  # our ResendRequest, answered by QuickFIX's gap fill
            # we skip ahead: QuickFIX asks us to resend and accepts our gap fill
            store = acc.store(KEY)
            store.set_next_sender_seq(store.next_sender_seq + 3)
            qf.got_app.clear()
            fix.Session.sendToTarget(new_order_single("after-our-gap"), qf.session_id)
            assert await wait_for(qf.got_app)
            assert await eventually(lambda: "4" in qf.admin_in)
            assert await eventually(lambda: session.getExpectedTargetNum() == store.next_sender_seq)
            assert session.isLoggedOn()
            await ini.stop()

    run(body, timeout=30)


def test_quickfix_kraken_signed_logon(tmp_path: Path) -> None:
    async def body() -> None:
        clock = VenueClock()
        server_app = RecordingApp(secrets={"QF-KEY": SECRET})
        async with running_acceptor(app=server_app, clock=clock, profile=kraken_profile()) as acc:
            qf = QfApp(api_key="QF-KEY", clock=clock)
            ini = Initiator(tmp_path, acc.port, qf, heartbeat=30)
            await ini.start()
            assert server_app.logons[0].service.venue_comp_id == "KRAKEN-TRD"
            fix.Session.sendToTarget(new_order_single("k-1"), qf.session_id)
            assert await wait_for(qf.got_app)
            await ini.stop()

    run(body, timeout=30)
