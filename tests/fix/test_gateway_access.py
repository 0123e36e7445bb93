"""Who may log on as which CompID, and what one session may hold (issue 15 items 10 and 15,
issue 16 item 15): an account's CompID is its own on every session, plain CompIDs come
from the scenario or /admin/fix, market-data subscriptions per session are capped."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.pytest_plugin import start_venue
from simulator.scenario import ScenarioError, parse_scenario
from tests.fix.fixclient import now_fix, run
from tests.fix.venue import Trader, account, fields, open_orders


def md_request(req_id: str, symbols: list[str], sub: int = 1) -> list[tuple[int, Any]]:
    return [(262, req_id), (263, sub), (264, 1), (265, 1), (267, 2), (269, 0), (269, 1),
            (146, len(symbols)), *[(55, s) for s in symbols]]


def test_an_accounts_comp_id_cannot_be_squatted_on_market_data(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    victim, other = account(venue), account(venue)
    comp_id = victim["fix"]["sender_comp_id"]

    async def squat(target: str, sender: str, creds: dict[str, Any] | None) -> str | None:
        t = await Trader(venue, creds, sender=sender, target=target).connect()
        try:
            await t.sign_on(signed=creds is not None)
        except AssertionError:
            assert await t.wait_closed()
            return t.received[-1].get(58)
        finally:
            await t.close()
        return "accepted"

    # unsigned, as the victim: refused on both market-data services
    assert run(lambda: squat("KRAKEN-MD", comp_id, None)) == "Logon failed: invalid credentials"
    assert run(lambda: squat("KRAKEN-DRV-MD", comp_id + "_DRV", None)) == "Logon failed: invalid credentials"
    # signed with another account's key: refused too
    assert run(lambda: squat("KRAKEN-MD", comp_id, other)) == "Logon failed: invalid credentials"

    async def victim_logs_on() -> None:
        md = await Trader(venue, victim, target="KRAKEN-MD").connect()
        await md.sign_on()
        sessions = venue.admin.request("GET", "/fix")["sessions"]
        mine = [s for s in sessions if s["sender_comp_id"] == comp_id]
        assert [(s["target_comp_id"], s["account_id"]) for s in mine] == [("KRAKEN-MD", victim["account_id"])]
        await md.send("V", md_request("v1", ["BTC/USD"]))
        assert (await md.expect("W")).get(262) == "v1"
        await md.logout()

    run(victim_logs_on)


def test_market_data_subscriptions_are_capped_per_session(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)
    assert venue.admin.request("GET", "/fix")["config"]["md_max_subscriptions"] == 200

    async def body() -> None:
        md = await Trader(venue, creds, target="KRAKEN-MD").connect()
        await md.sign_on()
        # one request for more symbols than a session may hold: refused, nothing subscribed
        await md.send("V", md_request("big", ["BTC/USD"] * 201))
        y = await md.expect("Y")
        assert fields(y, 262, 281) == ("big", "2")
        assert y.get(58) == "MarketData subscription failed due to subscription limit: 200 symbols per session"
        venue.admin.request("POST", "/fix", {"md_max_subscriptions": 2})
        try:
            for i, symbol in enumerate(["BTC/USD", "ETH/USD"]):
                await md.send("V", md_request(f"s{i}", [symbol]))
                assert (await md.expect("W")).get(262) == f"s{i}"
            await md.send("V", md_request("s2", ["SOL/USD"]))
            assert fields(await md.expect("Y"), 262, 281) == ("s2", "2")
            await md.send("V", md_request("s0", ["BTC/USD"], sub=2))  # unsubscribe frees a slot
            await md.send("V", md_request("s3", ["SOL/USD"]))
            assert (await md.expect("W")).get(262) == "s3"
        finally:
            venue.admin.request("POST", "/fix", {"md_max_subscriptions": 200})
        await md.logout()

    run(body)


def test_scenario_fix_table_configures_plain_comp_ids_and_survives_a_reset() -> None:
    scenario = parse_scenario({
        "accounts": [{"name": "bot", "balances": {"USD": "100000"}}],
        "fix": {"plain_comp_ids": {"QF-BOT": "bot", "QF-DEMO": "demo"}, "sending_time_accuracy_s": 0,
                "md_max_subscriptions": 5},
    })
    tv, venue = start_venue(scenario=scenario)
    try:
        def bot_id() -> str:
            named = venue.runtime.services.named_accounts
            return str(named["bot"].account.id)

        async def plain_order(sender: str, stale: bool = False) -> bool:
            """Logon (SendingTime from 2001 if `stale`), one order: is it on the bot's account?"""
            t = await Trader(venue, None, sender=sender).connect()
            extra = {"sending_time": "20010101-00:00:00"} if stale else {}
            await t.send("A", [(98, 0), (108, 30), (141, "Y")], **extra)
            await t.expect("A")
            await t.order(price="1001")
            er = await t.report()
            mine = er.get(37) in open_orders(venue, bot_id())
            await t.logout()
            return mine

        for _ in range(2):  # as configured, then again after an admin reset
            config = venue.admin.request("GET", "/fix")["config"]
            assert config["plain_comp_ids"] == {"QF-BOT": "bot", "QF-DEMO": "demo"}
            assert (config["sending_time_accuracy_s"], config["md_max_subscriptions"]) == (None, 5)
            assert run(lambda: plain_order("QF-BOT", stale=True))  # accuracy check off
            assert not run(lambda: plain_order("QF-DEMO"))  # the demo account's, not the bot's
            venue.admin.reset()
        venue.admin.request("POST", "/fix", {"sending_time_accuracy_s": 120})
        assert venue.admin.request("GET", "/fix")["config"]["sending_time_accuracy_s"] == 120
    finally:
        tv.stop()
    with pytest.raises(ScenarioError, match="fix.nope"):
        parse_scenario({"fix": {"nope": 1}})
    with pytest.raises(ScenarioError, match="plain_comp_ids"):
        parse_scenario({"fix": {"plain_comp_ids": {"X": 3}}})


def test_execution_reports_answer_on_behalf_of_with_deliver_to(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)

    async def body() -> None:
        t = await Trader(venue, creds).connect()
        await t.sign_on()
        await t.send("D", [(11, "routed-1"), (55, "BTC/USD"), (54, 1), (38, "0.01"), (40, 2), (44, "1000"),
                           (59, 1), (60, now_fix())], header=[(115, "CUSTOMER-9"), (116, "DESK")])
        ack = await t.report()
        assert (ack.get(11), ack.get(150), ack.get(128), ack.get(129)) == ("routed-1", "0", "CUSTOMER-9", "DESK")
        await t.send("F", [(11, "routed-2"), (41, "no-such-order"), (55, "BTC/USD"), (54, 1), (60, now_fix())],
                     header=[(115, "CUSTOMER-9")])
        j = await t.expect("j")
        assert (j.get(380), j.get(128)) == ("101", "CUSTOMER-9")
        await t.logout()

    run(body)
