"""Session-layer behaviour through a raw socket client (plain profile)."""

from __future__ import annotations

import asyncio

from simulator.gateways.fix import plain_profile
from simulator.gateways.fix.tags import RejectReason as R
from tests.fix.fixclient import FixClient, RecordingApp, run, running_acceptor

NOS = [(11, "1700000000000001"), (55, "BTC/USD"), (54, 1), (38, "0.1"), (40, 2), (44, "1000"),
       (59, 1), (60, "20240101-00:00:00.000")]


def test_logon_reply_and_business_reject() -> None:
    async def body() -> None:
        app = RecordingApp()
        async with running_acceptor(app=app) as acc:
            c = await FixClient(acc.port).connect()
            reply = await c.logon(heartbeat=30)
            assert reply.get(49) == "KRAKEN-TRD" and reply.get(56) == "CLIENT"
            assert (reply.get(34), reply.get(98), reply.get(108)) == ("1", "0", "30")
            assert 553 not in reply and 141 not in reply
            seq = await c.send("D", NOS)
            j = await c.expect("j")
            assert (j.get(45), j.get(372), j.get(379), j.get(380)) == (str(seq), "D", NOS[0][1], "3")
            assert [m.msg_type for m in app.messages] == ["D"]
            session = app.logons[0]
            assert session.instance_id.startswith("fix-") and session.account_id == "CLIENT"
            await c.logout()

    run(body)


def test_heartbeat_test_request_and_timeout() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon(heartbeat=1)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            hb = await c.expect("0", timeout=2.0, skip_heartbeats=False)
            assert 112 not in hb
            # we stay silent: TestRequest at ~1.5 x HeartBtInt, disconnect at ~2.4 x
            tr = await c.expect("1", timeout=3.0)
            assert tr.get(112)
            assert await c.wait_closed(timeout=3.0)
            assert 2.0 <= loop.time() - t0 <= 4.0

    run(body)


def test_answered_test_request_keeps_session_alive() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon(heartbeat=1)
            loop = asyncio.get_running_loop()
            end = loop.time() + 3.0
            while loop.time() < end:
                msg = await c.recv(timeout=2.0)
                if msg.msg_type == "1":
                    await c.send("0", [(112, msg.get(112))])
                elif msg.msg_type == "0":
                    await c.send("0")
            await c.send("1", [(112, "still-here")])
            hb = await c.expect("0", skip_heartbeats=False)
            while hb.get(112) is None:
                hb = await c.expect("0", skip_heartbeats=False)
            assert hb.get(112) == "still-here"
            await c.logout()

    run(body)


def test_resend_request_replays_app_messages_and_gap_fills_admin() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()                                       # out 1: Logon
            await c.send("D", NOS)
            j1 = await c.expect("j")                              # out 2
            await c.send("D", NOS)
            j2 = await c.expect("j")                              # out 3
            await c.send("1", [(112, "t")])
            await c.expect("0")                                   # out 4: Heartbeat
            await c.send("F", [(11, "c1"), (41, "x")])
            j3 = await c.expect("j")                              # out 5
            await c.send("2", [(7, 1), (16, 0)])
            got = [await c.recv() for _ in range(5)]
            assert [(m.msg_type, m.get(34)) for m in got] == [
                ("4", "1"), ("j", "2"), ("j", "3"), ("4", "4"), ("j", "5")]
            assert (got[0].get(123), got[0].get(36), got[0].get(43)) == ("Y", "2", "Y")
            assert (got[3].get(123), got[3].get(36)) == ("Y", "5")
            for replay, original in ((got[1], j1), (got[2], j2), (got[4], j3)):
                assert replay.get(43) == "Y"
                assert replay.get(122) == original.get(52)
                assert replay.body() == original.body()
            # a bounded range, and a range past the end is clamped
            await c.send("2", [(7, 3), (16, 3)])
            only = await c.recv()
            assert (only.msg_type, only.get(34), only.get(43)) == ("j", "3", "Y")
            await c.send("2", [(7, 5), (16, 99)])
            last = await c.recv()
            assert (last.msg_type, last.get(34)) == ("j", "5")
            await c.send("1", [(112, "after")])
            assert (await c.expect("0")).get(34) == "6"  # replays take no new seqnums
            await c.logout()

    run(body)


def test_seq_too_low_logs_out() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.send("0")
            await c.send("0", seq=2)
            out = await c.expect("5")
            assert out.get(58) == "MsgSeqNum too low, expecting 3 but received 2"
            assert await c.wait_closed()

    run(body)


def test_poss_dup_too_low_is_ignored() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.send("D", NOS)
            await c.expect("j")
            await c.send("D", NOS, seq=2, poss_dup=True)
            assert await c.nothing_within(0.3)
            await c.send("1", [(112, "x")])
            assert (await c.expect("0")).get(112) == "x"
            await c.logout()

    run(body)


def test_seq_too_high_requests_resend_and_processes_queue_in_order() -> None:
    async def body() -> None:
        app = RecordingApp()
        async with running_acceptor(app=app) as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()                                    # in 1
            await c.send("D", [(11, "four"), *NOS[1:]], seq=4)
            rr = await c.expect("2")
            assert (rr.get(7), rr.get(16)) == ("2", "0")
            await c.send("D", [(11, "five"), *NOS[1:]], seq=5)  # also queued, no 2nd ResendRequest
            assert await c.nothing_within(0.3)
            await c.send("D", [(11, "two"), *NOS[1:]], seq=2, poss_dup=True)
            await c.send("4", [(123, "Y"), (36, 4)], seq=3, poss_dup=True)
            refs = [(await c.expect("j")).get(379) for _ in range(3)]
            assert refs == ["two", "four", "five"]
            assert [m.get(11) for m in app.messages] == ["two", "four", "five"]
            c.next_seq = 6
            await c.send("1", [(112, "ok")])
            assert (await c.expect("0")).get(112) == "ok"
            await c.logout()

    run(body)


def test_sequence_reset_reset_mode() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.send("4", [(123, "N"), (36, 20)], seq=999)  # MsgSeqNum ignored
            c.next_seq = 20
            await c.send("1", [(112, "a")])
            assert (await c.expect("0")).get(112) == "a"
            await c.send("4", [(36, 5)])  # lower than expected (22): Reject 373=5
            rej = await c.expect("3")
            assert (rej.get(373), rej.get(371), rej.get(372)) == (str(R.VALUE_INCORRECT), "36", "4")
            await c.logout()

    run(body)


def test_session_rejects() -> None:
    async def body() -> None:
        async with running_acceptor(profile=plain_profile(reset_on_logon=False)) as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()

            async def reject_of(raw: bytes, seq: int) -> dict[int, str]:
                await c.send_raw(raw)
                c.next_seq = seq + 1
                rej = await c.expect("3")
                assert rej.get(45) == str(seq)
                return dict(rej.pairs)

            r = await reject_of(c.build("ZZ", [(58, "x")], seq=2), 2)
            assert (r[373], r[372]) == ("11", "ZZ")
            r = await reject_of(c.build("1", [(112, "a"), (112, "b")], seq=3), 3)
            assert (r[373], r[371], r[372]) == ("13", "112", "1")
            r = await reject_of(c.build("0", [(58, "")], seq=4), 4)
            assert (r[373], r[371]) == ("4", "58")
            r = await reject_of(c.build("0", seq=5, sending_time="not-a-time"), 5)
            assert (r[373], r[371]) == ("6", "52")
            r = await reject_of(c.build("2", [(7, "abc"), (16, 0)], seq=6), 6)
            assert (r[373], r[371]) == ("6", "7")
            r = await reject_of(c.build("1", seq=7), 7)
            assert (r[373], r[371], r[58]) == ("1", "112", "Missing mandatory field: TestReqID (112)")
            r = await reject_of(c.build("0", [(58, "x" * 5000)], seq=8), 8)
            assert (r[373], r[371]) == ("5", "58")
            r = await reject_of(c.build("0", [(58, "x"), (97, "N")], seq=9), 9)
            assert (r[373], r[371]) == ("14", "97")
            r = await reject_of(c.build("D", [*NOS, (0, "1")], seq=10), 10)
            assert r[373] == "0"
            # every rejected message consumed its seqnum
            await c.send("1", [(112, "alive")])
            assert (await c.expect("0")).get(112) == "alive"
            await c.logout()

    run(body)


def test_garbled_messages_after_logon_are_dropped_without_seq_increment() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            good = c.build("1", [(112, "first")], seq=2)
            bad_checksum = good[:-4] + (b"000" if good[-4:-1] != b"000" else b"001") + b"\x01"
            await c.send_raw(b"noise\x01\x02" + bad_checksum + b"more-noise")
            assert await c.nothing_within(0.3)
            await c.send_raw(good)
            assert (await c.expect("0")).get(112) == "first"
            await c.logout()

    run(body)


def test_comp_id_problem_rejects_and_logs_out() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.send("0", sender="SOMEONE-ELSE")
            rej = await c.expect("3")
            assert rej.get(373) == str(R.COMPID_PROBLEM)
            assert (await c.expect("5")).get(58) == "CompID problem"
            assert await c.wait_closed()

    run(body)


def test_logout_handshakes_and_cancel_on_disconnect_flag() -> None:
    async def body() -> None:
        app = RecordingApp()
        async with running_acceptor(app=app) as acc:
            # client-initiated Logout
            c = await FixClient(acc.port).connect()
            await c.logon()
            reply = await c.logout()
            assert reply.get(34) == "2"
            # venue-initiated Logout, answered by the client
            c2 = await FixClient(acc.port).connect()
            c2.next_seq = 3
            await c2.logon(extra=[(8674, 1)])
            session = app.logons[-1]
            assert session.cancel_on_disconnect is False
            session.logout("maintenance")
            out = await c2.expect("5")
            assert out.get(58) == "maintenance"
            await c2.send("5")
            assert await c2.wait_closed()
            # abnormal drop with the default 8674=0
            c3 = await FixClient(acc.port).connect()
            c3.next_seq = 5
            await c3.logon()
            await c3.close()
            for _ in range(50):
                if len(app.disconnects) == 3:
                    break
                await asyncio.sleep(0.02)
            ids = [s.instance_id for s in app.logons]
            assert len(set(ids)) == 3
            assert app.disconnects == [(ids[0], True), (ids[1], False), (ids[2], True)]

    run(body)


def test_graceful_logout_cod_can_be_disabled() -> None:
    async def body() -> None:
        app = RecordingApp()
        async with running_acceptor(app=app, profile=plain_profile(cod_on_logout=False)) as acc:
            c = await FixClient(acc.port).connect()
            await c.logon(reset=True)
            await c.logout()
            await asyncio.wait_for(app.disconnected.wait(), 2)
            assert app.disconnects[0][1] is False

    run(body)


def test_mid_session_logon_with_reset_flag() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.send("0")
            c.next_seq = 1
            reply = await c.logon(reset=True)
            assert (reply.get(34), reply.get(141)) == ("1", "Y")
            await c.send("1", [(112, "r")])
            hb = await c.expect("0")
            assert (hb.get(34), hb.get(112)) == ("2", "r")
            await c.send("A", [(98, 0), (108, 30)])  # without 141=Y: rejected
            assert (await c.expect("3")).get(373) == str(R.OTHER)
            await c.logout()

    run(body)
