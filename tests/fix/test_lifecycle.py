"""Reconnects, daily reset, persistence, Kraken logon auth and acceptor robustness."""

from __future__ import annotations

import asyncio
import base64
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from simulator.core.clock import VenueClock
from simulator.gateways.fix import (
    AuthResult,
    BusinessRejectApplication,
    LogonInfo,
    Msg,
    SessionKey,
    kraken_logon_password,
    kraken_profile,
    plain_profile,
)
from tests.fix.fixclient import FixClient, RecordingApp, run, running_acceptor

KEY = SessionKey("FIX.4.4", "KRAKEN-TRD", "CLIENT")
NOS = [(11, "1"), (55, "BTC/USD"), (54, 1), (38, "1"), (40, 1), (59, 1), (60, "20240101-00:00:00")]
# 2024-03-01 21:59:58 UTC
BEFORE_ROLLOVER_NS = 1_709_330_398 * 1_000_000_000


def test_reconnect_keeps_sequence_numbers_and_gets_new_instance_id() -> None:
    async def body() -> None:
        app = RecordingApp()
        async with running_acceptor(app=app) as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()                     # in 1 / out 1
            await c.send("D", NOS)              # in 2 / out 2 (j)
            await c.expect("j")
            await c.logout()                    # in 3 / out 3
            c2 = await FixClient(acc.port).connect()
            c2.next_seq = 4
            reply = await c2.logon()
            assert reply.get(34) == "4"
            assert acc.store(KEY).next_target_seq == 5
            first, second = app.logons
            assert first.instance_id != second.instance_id and first.key == second.key
            await c2.logout()

    run(body)


def test_reset_on_logon_profile_restarts_at_one() -> None:
    async def body() -> None:
        async with running_acceptor(profile=plain_profile(reset_on_logon=True)) as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.logout()
            c2 = await FixClient(acc.port).connect()
            assert (await c2.logon()).get(34) == "1"
            await c2.logout()

    run(body)


def test_logon_with_too_low_seq_is_logged_out() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.logout()
            c2 = await FixClient(acc.port).connect()  # starts again at 1 without 141=Y
            await c2.send("A", [(98, 0), (108, 30)])
            out = await c2.expect("5")
            assert out.get(58) == "MsgSeqNum too low, expecting 3 but received 1"
            assert await c2.wait_closed()

    run(body)


def test_logon_with_gap_requests_resend() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.logout()
            c2 = await FixClient(acc.port).connect()
            c2.next_seq = 6
            await c2.logon()
            rr = await c2.expect("2")
            assert (rr.get(7), rr.get(16)) == ("3", "0")
            await c2.send("4", [(123, "Y"), (36, 6)], seq=3, poss_dup=True)
            await c2.send("1", [(112, "x")], seq=7)
            assert (await c2.expect("0")).get(112) == "x"
            await c2.logout()

    run(body)


def test_messages_sent_while_offline_are_resent_on_next_logon() -> None:
    async def body() -> None:
        app = RecordingApp()
        async with running_acceptor(app=app) as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.close()
            await asyncio.wait_for(app.disconnected.wait(), 2)
            old = app.logons[0]
            seq = old.send(Msg.new("8", [(37, "OID"), (11, "1"), (150, 4), (39, 4), (58, "Cancel on disconnect")]))
            assert seq == 2
            c2 = await FixClient(acc.port).connect()
            c2.next_seq = 2
            reply = await c2.logon()
            assert reply.get(34) == "3"  # the client sees a gap and asks for it
            await c2.send("2", [(7, 2), (16, 0)])
            er = await c2.recv()
            assert (er.msg_type, er.get(34), er.get(43), er.get(37)) == ("8", "2", "Y", "OID")
            gap_fill = await c2.recv()  # our Logon reply (admin) is gap-filled
            assert (gap_fill.msg_type, gap_fill.get(34), gap_fill.get(36)) == ("4", "3", "4")
            await c2.logout()

    run(body)


def test_daily_reset_at_22_utc_with_frozen_clock() -> None:
    async def body() -> None:
        clock = VenueClock("frozen", start_ns=BEFORE_ROLLOVER_NS)
        app = RecordingApp()
        async with running_acceptor(app=app, clock=clock) as acc:
            c = await FixClient(acc.port, clock=clock).connect()
            await c.logon()
            await c.send("D", NOS)
            await c.expect("j")
            assert acc.store(KEY).next_sender_seq == 3
            clock.advance_ms(3000)  # 22:00:01
            out = await c.expect("5")
            assert out.get(58) == "Daily session reset"
            assert out.get(52) == "20240301-22:00:01.000"
            await c.send("5")
            assert await c.wait_closed()
            await asyncio.wait_for(app.disconnected.wait(), 2)
            assert app.disconnects[-1][1] is False  # the venue's reset keeps the client's orders
            store = acc.store(KEY)
            assert (store.next_sender_seq, store.next_target_seq, store.get_range(1, 10)) == (1, 1, [])
            c2 = await FixClient(acc.port, clock=clock).connect()  # 34=1 without 141=Y is now right
            assert (await c2.logon()).get(34) == "1"
            await c2.logout()
            # an idle (disconnected) session is reset too, and so is one reconnecting next day
            clock.advance_ms(24 * 3600 * 1000)
            await asyncio.sleep(0.05)
            assert acc.store(KEY).next_sender_seq == 1

    run(body)


def test_rollover_blackout_refuses_logons() -> None:
    async def body() -> None:
        clock = VenueClock("frozen", start_ns=BEFORE_ROLLOVER_NS + 5 * 1_000_000_000)  # 22:00:03
        async with running_acceptor(clock=clock, profile=plain_profile(rollover_blackout_s=30)) as acc:
            c = await FixClient(acc.port, clock=clock).connect()
            await c.send("A", [(98, 0), (108, 30)])
            assert (await c.expect("5")).get(58) == "Logon failed: session rollover"
            clock.advance_ms(30_000)
            c2 = await FixClient(acc.port, clock=clock).connect()
            await c2.logon()
            await c2.logout()

    run(body)


def test_store_persists_across_acceptor_restart(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_acceptor(state_dir=tmp_path) as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.send("D", NOS)
            j = await c.expect("j")
            await c.logout()
            first_ids = {s.instance_id for s in acc.sessions}
        async with running_acceptor(state_dir=tmp_path) as acc2:
            assert acc2.store(KEY).next_sender_seq == 4
            c2 = await FixClient(acc2.port).connect()
            c2.next_seq = 4
            assert (await c2.logon()).get(34) == "4"
            await c2.send("2", [(7, 1), (16, 3)])
            got = [await c2.recv() for _ in range(3)]
            assert [(m.msg_type, m.get(34)) for m in got] == [("4", "1"), ("j", "2"), ("4", "3")]
            assert got[1].get(122) == j.get(52) and got[1].body() == j.body()
            assert not first_ids & {s.instance_id for s in acc2.sessions}
            await c2.logout()

    run(body)


# ---- Kraken profile ------------------------------------------------------------

SECRET = base64.b64encode(b"kraken-sim-test-secret" * 3).decode()


def kraken_logon_fields(clock: VenueClock, seq: int, *, sender: str = "CLIENT", target: str = "KRAKEN-TRD",
                        key: str = "APIKEY", secret: str = SECRET, nonce: int | None = None) -> list[tuple[int, Any]]:
    n = str(nonce if nonce is not None else clock.now_ms())
    return [(98, 0), (108, 30), (553, key),
            (554, kraken_logon_password(secret, seq, sender, target, key, n)), (5025, n)]


class KeyedApp(RecordingApp):
    """Only CLIENT may log on with APIKEY."""

    def authenticate(self, logon: LogonInfo) -> AuthResult:
        if logon.service.require_signature and logon.api_key != "APIKEY":
            return AuthResult.reject()
        return AuthResult.accept(f"acct-{logon.client_comp_id}")


def test_kraken_signed_logon() -> None:
    async def body() -> None:
        clock = VenueClock("frozen", start_ns=BEFORE_ROLLOVER_NS - 3600 * 1_000_000_000)
        app = KeyedApp(secrets={"APIKEY": SECRET})
        async with running_acceptor(app=app, clock=clock, profile=kraken_profile()) as acc:
            c = await FixClient(acc.port, clock=clock).connect()
            await c.send("A", kraken_logon_fields(clock, 1))
            reply = await c.expect("A")
            assert 553 not in reply and 554 not in reply
            session = app.logons[0]
            assert (session.account_id, session.service.kind, session.cancel_on_disconnect) == (
                "acct-CLIENT", "trading", True)
            await c.logout()

            async def refused(fields: list[tuple[int, Any]], target: str = "KRAKEN-TRD") -> str | None:
                cl = FixClient(acc.port, target=target, clock=clock)
                await cl.connect()
                await cl.send("A", fields)
                out = await cl.expect("5")
                assert await cl.wait_closed()
                return out.get(58)

            clock.advance_ms(10)
            bad_sig = kraken_logon_fields(clock, 1, secret=base64.b64encode(b"wrong").decode())
            assert await refused(bad_sig) == "Logon failed: invalid credentials"
            stale = kraken_logon_fields(clock, 1, nonce=clock.now_ms() - 6000)
            assert await refused(stale) == "Logon failed: invalid credentials"
            replay = kraken_logon_fields(clock, 1, nonce=clock.now_ms() - 10)  # <= last used nonce
            assert await refused(replay) == "Logon failed: invalid credentials"
            unknown = kraken_logon_fields(clock, 1, key="NOKEY")
            assert await refused(unknown) == "Logon failed: invalid credentials"
            assert await refused([(98, 0), (108, 30)]) == "Logon failed: invalid credentials"
            # a signature computed for another MsgSeqNum does not verify
            clock.advance_ms(10)
            wrong_seq = kraken_logon_fields(clock, 7)
            assert await refused(wrong_seq) == "Logon failed: invalid credentials"
            # market data: SenderCompID only, no credentials
            md = FixClient(acc.port, target="KRAKEN-MD", clock=clock)
            await md.connect()
            await md.send("A", [(98, 0), (108, 30), (141, "Y")])
            assert (await md.expect("A")).get(141) == "Y"
            assert app.logons[-1].service.kind == "market_data"
            await md.logout()

    run(body)


def test_kraken_logon_options_and_cod_flag() -> None:
    async def body() -> None:
        clock = VenueClock("frozen", start_ns=BEFORE_ROLLOVER_NS - 3600 * 1_000_000_000)
        app = KeyedApp(secrets={"APIKEY": SECRET})
        async with running_acceptor(app=app, clock=clock, profile=kraken_profile()) as acc:
            c = FixClient(acc.port, sender="CLIENT_DRV", target="KRAKEN-DRV-TRD", clock=clock)
            await c.connect()
            fields = kraken_logon_fields(clock, 1, sender="CLIENT_DRV", target="KRAKEN-DRV-TRD")
            await c.send("A", [*fields, (8674, 1), (5030, "Y")])
            await c.expect("A")
            s = app.logons[0]
            assert s.cancel_on_disconnect is False and s.service.market == "derivatives"
            assert s.logon_message.get(5030) == "Y"
            await c.close()
            await asyncio.wait_for(app.disconnected.wait(), 2)
            assert app.disconnects == [(s.instance_id, False)]
            bad = FixClient(acc.port, target="KRAKEN-MD", clock=clock)
            await bad.connect()
            await bad.send("A", [(98, 0), (108, 30), (8674, 2)])
            assert "CancelOrdersOnDisconnect (8674)" in ((await bad.expect("5")).get(58) or "")

    run(body)


# ---- first message rules and robustness --------------------------------------------


def test_bad_first_messages_close_silently() -> None:
    async def body() -> None:
        async with running_acceptor(profile=plain_profile(client_comp_ids={"CLIENT"})) as acc:
            cases: list[tuple[str, Any]] = [
                ("not logon", lambda c: c.build("0")),
                ("wrong target", lambda c: c.build("A", [(98, 0), (108, 30)], target="NOPE")),
                ("wrong sender", lambda c: c.build("A", [(98, 0), (108, 30)], sender="NOPE")),
                ("garbled", lambda c: c.build("A", [(98, 0), (108, 30)])[:-4] + b"999\x01"),
                ("bad version", lambda c: c.build("A", [(98, 0), (108, 30)]).replace(b"FIX.4.4", b"FIX.4.2")),
            ]
            for name, make in cases:
                c = await FixClient(acc.port).connect()
                await c.send_raw(make(c))
                try:
                    msg = await c.recv(timeout=2.0)
                except EOFError:
                    continue
                raise AssertionError(f"{name}: expected a silent close, got {msg.to_string()}")

    run(body)


def test_second_logon_for_active_session_is_refused() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            intruder = await FixClient(acc.port).connect()
            intruder.next_seq = 2
            await intruder.send("A", [(98, 0), (108, 30)])
            assert await intruder.wait_closed()
            assert intruder.received == []
            await c.send("1", [(112, "still mine")])
            assert (await c.expect("0")).get(112) == "still mine"
            await c.logout()

    run(body)


def test_bad_connections_do_not_affect_others() -> None:
    async def body() -> None:
        profile = plain_profile(reset_on_logon=False, logon_timeout_s=0.5)
        async with running_acceptor(profile=profile) as acc:
            good = await FixClient(acc.port).connect()
            await good.logon()
            silent = await FixClient(acc.port).connect()
            noisy = await FixClient(acc.port).connect()
            await noisy.send_raw(b"\x00" * 5000 + b"8=FIX.4.4\x019=5\x01garbage")
            await noisy.close()
            half = await FixClient(acc.port).connect()
            await half.send_raw(good.build("A", [(98, 0), (108, 30)], sender="OTHER")[:20])
            await half.close()
            assert await silent.wait_closed(timeout=3.0)  # logon timeout
            await good.send("1", [(112, "ok")])
            assert (await good.expect("0")).get(112) == "ok"
            await good.logout()

    run(body)


def test_app_exceptions_are_contained() -> None:
    class Broken(BusinessRejectApplication):
        def on_message(self, session: Any, msg: Msg) -> None:
            raise RuntimeError("engine bug")

    async def body() -> None:
        async with running_acceptor(app=Broken()) as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.send("D", NOS)
            j = await c.expect("j")
            assert (j.get(380), j.get(58)) == ("0", "Internal error")
            await c.logout()

    run(body)


def test_async_app_callbacks_are_awaited_in_order() -> None:
    class AsyncApp(BusinessRejectApplication):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        async def authenticate(self, logon: LogonInfo) -> AuthResult:  # type: ignore[override]
            await asyncio.sleep(0.01)
            return AuthResult.accept("acct")

        async def on_message(self, session: Any, msg: Msg) -> None:  # type: ignore[override]
            await asyncio.sleep(0.01 if msg.get(11) == "a" else 0)
            self.seen.append(msg.get(11) or "")
            session.send(Msg.new("8", [(11, msg.get(11) or ""), (150, 0), (39, 0)]))

    async def body() -> None:
        app = AsyncApp()
        async with running_acceptor(app=app) as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await c.send("D", [(11, "a")])
            await c.send("D", [(11, "b")])
            ers = [await c.expect("8"), await c.expect("8")]
            assert [e.get(11) for e in ers] == ["a", "b"] == app.seen
            await c.logout()

    run(body)


def test_acceptor_stop_logs_sessions_out_and_reset_sessions() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            await acc.reset_sessions()
            assert await c.wait_closed()
            assert acc.store(KEY).next_sender_seq == 1
            c2 = await FixClient(acc.port).connect()
            await c2.logon()
            stopping = asyncio.create_task(acc.stop())
            out = await c2.expect("5")
            assert out.get(58) == "Venue shutting down"
            await c2.send("5")
            assert await c2.wait_closed()
            await asyncio.wait_for(stopping, 5)

    run(body)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI for a test certificate")
def test_tls_listener(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))

    async def body() -> None:
        async with running_acceptor(ssl=server_ctx) as acc:
            plain = await FixClient(acc.port).connect()  # plain TCP to a TLS port gets nowhere
            await plain.send("A", [(98, 0), (108, 30)])
            with pytest.raises((EOFError, TimeoutError, ConnectionError)):
                await plain.recv(timeout=1.0)
            await plain.close()
            c = await FixClient(acc.port).connect(ssl=client_ctx)
            assert (await c.logon()).get(98) == "0"
            await c.logout()

    run(body)


def test_invalid_logon_fields_get_logout_with_reason() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            cases: list[tuple[list[tuple[int, Any]], str]] = [
                ([(98, 0)], "Logon failed: Missing mandatory field: HeartBtInt (108)"),
                ([(98, 1), (108, 30)], "EncryptMethod (98)"),
                ([(98, 0), (108, "abc")], "Incorrect data format for value: HeartBtInt (108)"),
                ([(98, 0), (108, 30), (108, 30)], "Tag appears more than once: HeartBtInt (108)"),
                ([(98, 0), (108, 30), (141, "X")], "ResetSeqNumFlag (141)"),
                ([(98, 0), (108, 99999)], "HeartBtInt above"),
            ]
            for fields, text in cases:
                c = await FixClient(acc.port).connect()
                await c.send("A", fields)
                out = await c.expect("5")
                assert text in (out.get(58) or ""), out.to_string()
                assert await c.wait_closed()
            ok = await FixClient(acc.port).connect()
            assert (await ok.logon()).get(34) == "1"  # refused logons consumed no seqnums
            await ok.logout()

    run(body)


def test_oversized_message_after_logon_is_dropped() -> None:
    async def body() -> None:
        async with running_acceptor() as acc:
            c = await FixClient(acc.port).connect()
            await c.logon()
            huge = c.build("0", [(58, "x" * 100_000)], seq=2)
            await c.send_raw(huge)
            assert await c.nothing_within(0.3)
            await c.send("1", [(112, "small")])  # still seq 2: the huge one was never accepted
            assert (await c.expect("0")).get(112) == "small"
            await c.logout()

    run(body)
