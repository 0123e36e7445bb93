"""Standard FIX 4.4 session rules as QuickFIX/QuickFIX/J acceptors apply them (issue 16,
items 10-14): SequenceReset-Reset with MsgSeqNum 0, PossDup header checks, SendingTime
accuracy, the data dictionary and the order of checks."""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.core.clock import VenueClock
from simulator.gateways.fix import Msg, plain_profile
from simulator.gateways.fix.codec import checksum
from simulator.gateways.fix.tags import RejectReason as R
from tests.fix.fixclient import FixClient, RecordingApp, run, running_acceptor

NOS = [(11, "1700000000000001"), (55, "BTC/USD"), (54, 1), (38, "0.1"), (40, 2), (44, "1000"),
       (59, 1), (60, "20240101-00:00:00.000")]


def fix_time(dt: datetime) -> str:
    return dt.strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def test_sequence_reset_reset_with_msg_seq_num_zero_moves_to_new_seq_no() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.send("4", [(123, "N"), (36, 10)], seq=0)  # Reset mode: MsgSeqNum ignored
            assert await c.nothing_within(0.3)  # no Logout "Received message without MsgSeqNum"
            c.next_seq = 10
            await c.send("1", [(112, "after-reset")])
            assert (await c.expect("0")).get(112) == "after-reset"
            # GapFill mode still needs a real MsgSeqNum
            await c.send("4", [(123, "Y"), (36, 20)], seq=0)
            assert (await c.expect("5")).get(58) == "Received message without MsgSeqNum"
            assert await c.wait_closed()

    run(body)


def test_poss_dup_too_low_with_orig_sending_time_after_sending_time_is_rejected_and_logged_out() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.send("0")                                       # in 2
            now = datetime.now(UTC)
            later = fix_time(now + timedelta(seconds=30))
            await c.send("0", seq=2, poss_dup=True, sending_time=fix_time(now), orig_sending_time=later)
            rej = await c.expect("3")
            assert (rej.get(45), rej.get(373)) == ("2", str(R.SENDING_TIME_ACCURACY))
            assert (await c.expect("5")).msg_type == "5"
            assert await c.wait_closed()

    run(body)


def test_sending_time_accuracy_is_checked_against_the_venue_clock() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            # a Logon from 2001 is closed
            old = await FixClient(acc.port).connect()
            await old.send("A", [(98, 0), (108, 30)], sending_time="20010101-00:00:00")
            assert (await old.expect("5")).get(58) == "Logon failed: SendingTime accuracy problem"
            assert await old.wait_closed()
            # a Heartbeat 121 s old: Reject 373=10 and Logout
            c = await FixClient(acc.port).connect()
            await c.logon()
            stale = fix_time(datetime.now(UTC) - timedelta(seconds=121))
            await c.send("0", sending_time=stale)
            rej = await c.expect("3")
            assert (rej.get(373), rej.get(371)) == (str(R.SENDING_TIME_ACCURACY), "52")
            assert (await c.expect("5")).get(58) == "SendingTime accuracy problem"
            assert await c.wait_closed()
            # 119 s is within the default window
            ok = await FixClient(acc.port).connect()
            await ok.logon(reset=True)
            await ok.send("1", [(112, "t")], sending_time=fix_time(datetime.now(UTC) - timedelta(seconds=119)))
            assert (await ok.expect("0")).get(112) == "t"
            await ok.logout()

    run(body)


def test_sending_time_accuracy_window_follows_a_frozen_clock_and_can_be_turned_off() -> None:
    async def body() -> None:
        frozen = VenueClock("frozen", start_ns=1_709_290_000_000_000_000)  # 2024-03-01 10:46:40 UTC
        async with running_acceptor(clock=frozen) as acc:
            wall = await FixClient(acc.port).connect()  # wall-clock SendingTime, years off the venue
            await wall.send("A", [(98, 0), (108, 30)])
            assert (await wall.expect("5")).get(58) == "Logon failed: SendingTime accuracy problem"
            synced = await FixClient(acc.port, clock=frozen).connect()  # stamped with venue time
            await synced.logon()
            await synced.logout()
        async with running_acceptor(clock=frozen, profile=plain_profile(reset_on_logon=False,
                                                                        max_latency_s=None)) as acc:
            wall = await FixClient(acc.port).connect()
            await wall.logon()
            await wall.logout()

    run(body)


def test_data_dictionary_unknown_tag_and_tag_not_defined_for_message_type() -> None:
    async def body() -> None:
        app = RecordingApp()
        async with running_acceptor(app=app) as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.send("0", [(999, "HI")])
            rej = await c.expect("3")
            assert (rej.get(45), rej.get(371), rej.get(372), rej.get(373)) == (
                "2", "999", "0", str(R.INVALID_TAG_NUMBER))
            await c.send("0", [(55, "MSFT")])
            rej = await c.expect("3")
            assert (rej.get(371), rej.get(373)) == ("55", str(R.TAG_NOT_DEFINED_FOR_MSG_TYPE))
            # Kraken's tags only on the messages that carry them
            await c.send("F", [(11, "c1"), (41, "o1"), (55, "BTC/USD"), (54, 1), (60, NOS[-1][1]), (5001, 1)])
            rej = await c.expect("3")
            assert (rej.get(371), rej.get(372), rej.get(373)) == ("5001", "F", str(R.TAG_NOT_DEFINED_FOR_MSG_TYPE))
            assert app.messages == []  # none of them reached the application
            # a NewOrderSingle with FIX 4.4 extras (HandlInst, Account) and Kraken's tags goes through
            await c.send("D", [*NOS, (21, 1), (1, "acct"), (1138, "0.05"), (7928, 1), (5001, 0), (62, NOS[-1][1])])
            assert (await c.expect("j")).get(380) == "3"
            assert [m.msg_type for m in app.messages] == ["D"]
            # every rejected message consumed its seqnum
            await c.send("1", [(112, "alive")])
            assert (await c.expect("0")).get(112) == "alive"
            await c.logout()

    run(body)


def test_logon_with_a_tag_from_no_dictionary_is_refused() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.send("A", [(98, 0), (108, 30), (9999, "x")])
            assert (await c.expect("5")).get(58) == "Logon failed: Invalid tag number: 9999"
            assert await c.wait_closed()

    run(body)


def test_empty_target_comp_id_is_a_tag_without_value_and_the_session_continues() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.send("0", target="")
            rej = await c.expect("3")
            assert (rej.get(45), rej.get(371), rej.get(373)) == ("2", "56", str(R.TAG_WITHOUT_VALUE))
            await c.send("1", [(112, "still-on")])
            assert (await c.expect("0")).get(112) == "still-on"
            await c.logout()

    run(body)


class EchoApp(RecordingApp):
    """Answers every application message with an ExecutionReport-like 35=8 (session.send)."""

    def on_message(self, session: Any, msg: Msg) -> None:
        self.messages.append(msg)
        session.send(Msg.new("8", [(37, "O1"), (11, msg.get(11) or ""), (150, "0"), (39, "0")]))


def test_replies_reverse_the_routing_tags() -> None:
    async def body() -> None:
        app = EchoApp()
        async with running_acceptor(app=app) as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            via = [(115, "BROKER1"), (116, "DESK7"), (128, "VENUE-X"), (144, "LDN")]
            await c.send("1", [(112, "routed")], header=via)
            hb = await c.expect("0")
            assert (hb.get(112), hb.get(128), hb.get(129), hb.get(115), hb.get(145)) == (
                "routed", "BROKER1", "DESK7", "VENUE-X", "LDN")
            assert 116 not in hb and 144 not in hb
            await c.send("D", NOS, header=[(115, "BROKER1")])
            er = await c.expect("8")
            assert (er.get(11), er.get(128)) == (NOS[0][1], "BROKER1")
            await c.send("0", [(55, "MSFT")], header=[(115, "BROKER1")])  # session Reject
            rej = await c.expect("3")
            assert (rej.get(373), rej.get(128)) == (str(R.TAG_NOT_DEFINED_FOR_MSG_TYPE), "BROKER1")
            await c.send("D", NOS)  # no routing on the request: none on the reply
            plain = await c.expect("8")
            assert 128 not in plain and 115 not in plain
            # a resend replays the routing header as it was
            await c.send("2", [(7, 1), (16, 0)])
            replayed = [m for m in [await c.recv() for _ in range(4)] if m.msg_type == "8"]  # 4-G, 8, 4-G, 8
            assert [m.get(128) for m in replayed] == ["BROKER1", None]
            assert all(m.get(43) == "Y" for m in replayed)
            await c.logout()

    run(body)


def test_garbled_frames_are_logged_clipped_and_rate_limited(caplog: Any) -> None:
    """Issue 15 item 18: a garbled frame (up to 64 KB, from anyone) is not logged whole,
    and a flood of them does not flood the log (10 lines, then 1 a second, for everyone)."""
    caplog.set_level(logging.INFO, logger="simulator.gateways.fix")

    def garbled(c: FixClient, seq: int) -> bytes:
        good = c.build("1", [(112, "x")], seq=seq)
        head, _, _ = good.rpartition(b"112=x\x01")
        body = head[head.index(b"35="):] + b"y" * 60_000 + b"=1\x01"  # a 60 KB tag that is no number
        raw = b"8=FIX.4.4\x019=%d\x01" % len(body) + body
        return raw + b"10=" + checksum(raw).encode() + b"\x01"

    started = time.monotonic()

    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            for _ in range(50):
                await c.send_raw(garbled(c, 2))
            await c.send("1", [(112, "alive")])  # garbled frames consumed no seqnum
            assert (await c.expect("0")).get(112) == "alive"
            first = await FixClient(acc.port).connect()  # a garbled first message closes quietly
            await first.send_raw(garbled(first, 1))
            assert await first.wait_closed()
            await c.logout()

    run(body)
    elapsed = time.monotonic() - started
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert 1 <= len(warnings) <= 10 + math.ceil(elapsed)  # the burst, then one a second
    assert all("garbled message dropped (60" in r.getMessage() for r in warnings)
    assert max(len(r.getMessage()) for r in caplog.records) < 1_000
