"""Interop with a stock FIX engine: the QuickFIX initiator (pip quickfix-tls).

The acceptor runs on this test's event loop; the initiator is
tests/fix/quickfix_client.py.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from simulator.core.clock import VenueClock
from simulator.gateways.fix import SessionKey, kraken_profile, plain_profile
from tests.fix.fixclient import RecordingApp, run, running_acceptor
from tests.fix.quickfix_client import (
    Initiator,
    QfApp,
    eventually,
    kraken_signer,
    new_order_single,
    no_initiator_outlives_its_test,
    wait_for,
)

fix: Any = pytest.importorskip("quickfix")
__all__ = ["no_initiator_outlives_its_test"]  # autouse here too

KEY = SessionKey("FIX.4.4", "KRAKEN-TRD", "CLIENT")
SECRET = base64.b64encode(b"quickfix-kraken-secret-0123456789").decode()


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
            qf = QfApp(kraken_signer("QF-KEY", SECRET, lambda: str(clock.now_ms())))
            ini = Initiator(tmp_path, acc.port, qf, heartbeat=30)
            await ini.start()
            assert server_app.logons[0].service.venue_comp_id == "KRAKEN-TRD"
            fix.Session.sendToTarget(new_order_single("k-1"), qf.session_id)
            assert await wait_for(qf.got_app)
            await ini.stop()

    run(body, timeout=30)
