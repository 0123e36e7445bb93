"""A stock QuickFIX initiator (pip quickfix-tls) for the tests, in one place.

`QfApp` records what the initiator sees and, given a signer, signs its
Logons the Kraken way; `Initiator` is a SocketInitiator with a file store
(seqnums survive its restart).  QuickFIX runs its own threads, so every
blocking call goes through an executor and checks poll (`eventually`).
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from simulator.gateways.fix import kraken_logon_password
from tests.fix.venue import nonce_for

fix: Any = pytest.importorskip("quickfix")

# (MsgSeqNum, SenderCompID, TargetCompID) of a Logon -> (553 api key, 554 password, 5025 nonce)
Signer = Callable[[str, str, str], tuple[str, str, str]]


def kraken_signer(api_key: str, secret: str, nonce: Callable[[], str]) -> Signer:
    """Kraken's Logon signature with this key: what a Kraken FIX client adds to 35=A."""

    def sign(seq: str, sender: str, target: str) -> tuple[str, str, str]:
        n = nonce()
        return api_key, kraken_logon_password(secret, seq, sender, target, api_key, n), n

    return sign


def signed_app(creds: dict[str, Any] | None) -> QfApp:
    """An application that signs its Logons with an admin-issued account's FIX key (None: unsigned)."""
    if creds is None:
        return QfApp()
    fx = creds["fix"]
    return QfApp(kraken_signer(fx["api_key"], fx["api_secret"], lambda: nonce_for(fx["api_key"])))


class QfApp(fix.Application):
    """Records admin message types and application messages; signs Logons when given a signer."""

    def __init__(self, sign: Signer | None = None) -> None:
        super().__init__()
        self.sign = sign
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
        if self.sign is not None and header.getField(35) == "A":
            key, password, nonce = self.sign(header.getField(34), header.getField(49), header.getField(56))
            msg.setField(553, key)
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

    def reports(self) -> list[Any]:
        """The ExecutionReports received so far."""
        with self.lock:
            return [m for m in self.app_in if m.getHeader().getField(35) == "8"]


class Initiator:
    """A SocketInitiator with a file store under `tmp` (seqnums survive a restart)."""

    live: ClassVar[list[Initiator]] = []

    def __init__(self, tmp: Path, port: int, app: QfApp, sender: str = "CLIENT", *, target: str = "KRAKEN-TRD",
                 heartbeat: int = 1, reset: bool = False) -> None:
        cfg = tmp / f"{sender}.cfg"
        cfg.write_text(
            "[DEFAULT]\nConnectionType=initiator\nReconnectInterval=1\n"
            f"FileStorePath={tmp}/store\nFileLogPath={tmp}/log\n"
            "StartTime=00:00:00\nEndTime=00:00:00\nUseDataDictionary=N\n"
            f"SocketConnectHost=127.0.0.1\nSocketConnectPort={port}\nHeartBtInt={heartbeat}\nLogoutTimeout=2\n"
            f"ResetOnLogon={'Y' if reset else 'N'}\n"
            f"[SESSION]\nBeginString=FIX.4.4\nSenderCompID={sender}\nTargetCompID={target}\n"
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

    async def stop(self, *, force: bool = False) -> None:
        """Graceful: Logout and wait for its answer (Initiator.stop() alone would poll
        for it in whole seconds).  Forced: the socket just goes (cancel on disconnect).
        Then the engine is destroyed: QuickFIX keeps one Session per SessionID
        process-wide, so a second initiator only registers once the first is gone."""
        if self.initiator is None:
            return
        loop = asyncio.get_running_loop()
        session = self.session()
        if not force and session is not None and session.isLoggedOn():
            session.logout()
            await loop.run_in_executor(None, self.app.logged_out.wait, 5.0)
        await loop.run_in_executor(None, self.initiator.stop, force)
        if session is not None:
            self.final_next_sender = session.getExpectedSenderNum()
            self.final_next_target = session.getExpectedTargetNum()
        self.initiator = None
        gc.collect()

    def session(self) -> Any:
        return fix.Session.lookupSession(self.app.session_id)

    def send(self, msg: Any) -> None:
        assert fix.Session.sendToTarget(msg, self.app.session_id)


@pytest.fixture(autouse=True)
def no_initiator_outlives_its_test() -> Iterator[None]:
    """Force-stop QuickFIX engines a failed test left running: they would keep
    reconnecting (their Session stays registered process-wide) and crash the
    interpreter at exit.  Autouse in every module that imports it."""
    yield
    while Initiator.live:
        ini = Initiator.live.pop()
        if ini.initiator is not None:
            ini.initiator.stop(True)
            ini.initiator = None
    gc.collect()


def new_order_single(cl_ord_id: str, price: str = "1000") -> Any:
    """A limit GTC buy of 0.01 BTC/USD."""
    msg = fix.Message()
    msg.getHeader().setField(fix.MsgType(fix.MsgType_NewOrderSingle))
    msg.setField(fix.ClOrdID(cl_ord_id))
    msg.setField(fix.Symbol("BTC/USD"))
    msg.setField(fix.Side(fix.Side_BUY))
    msg.setField(fix.OrderQty(0.01))
    msg.setField(fix.OrdType(fix.OrdType_LIMIT))
    msg.setField(fix.Price(float(price)))
    msg.setField(fix.TimeInForce(fix.TimeInForce_GOOD_TILL_CANCEL))
    msg.setField(fix.TransactTime())
    return msg


async def wait_for(event: threading.Event, timeout: float = 5.0) -> bool:
    return await asyncio.get_running_loop().run_in_executor(None, event.wait, timeout)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll a condition QuickFIX updates from its own threads."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True
