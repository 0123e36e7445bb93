"""Issue 15 (bounded work, bounded memory, no way in): one regression test per
case, each showing that a refused request changes nothing in the venue."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from simulator.pytest_plugin import KrakenVenue, start_venue
from simulator.server.runtime import Settings
from simulator.server.server import ThreadedVenue

from .kit import Rest, assert_alive, changes_since, fund, mint_token, snapshot, ws_open


def _asgi(app: Any, method: str, path: str, client: tuple[str, int], headers: dict[str, str] | None = None,
          json_body: Any = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
            return await http.request(method, path, headers=headers or {}, json=json_body)

    return asyncio.run(go())


def _asgi_ws(app: Any, path: str, client: tuple[str, int], headers: dict[str, str] | None = None) -> list[Any]:
    """Open a WebSocket on the ASGI app without a socket: what the app sends first."""
    path, _, query = path.partition("?")
    scope = {
        "type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "http_version": "1.1",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": client, "server": ("sim", 80), "subprotocols": [], "state": {},
    }
    sent: list[Any] = []

    async def go() -> None:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await inbox.put({"type": "websocket.connect"})

        async def receive() -> dict[str, Any]:
            return await inbox.get()

        async def send(msg: dict[str, Any]) -> None:
            sent.append(msg)
            if msg["type"] in ("websocket.accept", "websocket.close"):
                await inbox.put({"type": "websocket.disconnect", "code": 1000})

        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(go())
    return sent


def _threaded(**kw: Any) -> ThreadedVenue:
    tv = ThreadedVenue(Settings(port=0, fix_port=0, **kw))
    tv.start()
    return tv


# ============================================================ 14: the dashboard
def test_dashboard_data_is_loopback_only_like_admin(venue: KrakenVenue) -> None:
    app = venue.asgi_app()
    for peer in ("10.1.2.3", "2001:db8::1"):
        r = _asgi(app, "GET", "/dashboard/state", (peer, 1))
        assert r.status_code == 403 and "loopback" in r.json()["detail"], r.text[:200]
        assert _asgi_ws(app, "/dashboard/ws", (peer, 1))[0]["type"] == "websocket.close"
    ok = _asgi(app, "GET", "/dashboard/state", ("127.0.0.1", 1))
    assert ok.status_code == 200 and "journal" in ok.json(), ok.text[:200]
    assert _asgi(app, "GET", "/", ("10.1.2.3", 1)).status_code == 200  # the page itself holds no data


def test_dashboard_data_needs_the_admin_token() -> None:
    tv = _threaded(admin_token="s3cret")
    try:
        assert tv.server is not None
        app = tv.server.app
        for peer in ("10.1.2.3", "127.0.0.1"):
            assert _asgi(app, "GET", "/dashboard/state", (peer, 1)).status_code == 401
            bad = {"Authorization": "Bearer wrong"}
            assert _asgi(app, "GET", "/dashboard/state", (peer, 1), bad).status_code == 401
            assert _asgi(app, "GET", "/dashboard/state?token=wrong", (peer, 1)).status_code == 401
            assert _asgi_ws(app, "/dashboard/ws", (peer, 1))[0]["type"] == "websocket.close"
            assert _asgi_ws(app, "/dashboard/ws?token=wrong", (peer, 1))[0]["type"] == "websocket.close"
            good = {"Authorization": "Bearer s3cret"}
            assert _asgi(app, "GET", "/dashboard/state", (peer, 1), good).status_code == 200
            assert _asgi(app, "GET", "/dashboard/state?token=s3cret", (peer, 1)).status_code == 200
            opened = _asgi_ws(app, "/dashboard/ws?token=s3cret", (peer, 1))
            assert opened[0]["type"] == "websocket.accept", opened[:1]
        # /admin itself takes the header only, as before
        assert _asgi(app, "GET", "/admin/clock?token=s3cret", ("127.0.0.1", 1)).status_code == 401
    finally:
        tv.stop()


def test_dashboard_remote_opt_in() -> None:
    tv = _threaded(admin_remote=True)
    try:
        assert tv.server is not None
        assert _asgi(tv.server.app, "GET", "/dashboard/state", ("10.1.2.3", 1)).status_code == 200
    finally:
        tv.stop()


def test_guard_refusals_change_nothing(venue: KrakenVenue) -> None:
    before = snapshot(venue)
    app = venue.asgi_app()
    r = _asgi(app, "POST", "/admin/accounts", ("10.9.9.9", 1), json_body={"balances": {"USD": "1"}})
    assert r.status_code == 403
    assert changes_since(venue, before) == []
    assert_alive(venue)


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ======================================================= 16: /admin/replay files
def test_replay_reads_only_fixtures_and_the_data_dir(venue: KrakenVenue, tmp_path: Any) -> None:
    """Without --data-dir only bundled fixtures open; a server path reads like a
    missing file, whether it exists or not (no probing, no CSV header echoed)."""
    secret = tmp_path / "secret.csv"
    secret.write_text("password,hunter2\n")
    before = snapshot(venue)
    answers = []
    for name in (str(secret), str(tmp_path / "absent.csv"), "/etc/passwd", "../pyproject.toml", "../../etc/hostname"):
        r = httpx.post(venue.admin_url + "/replay", json={"file": name, "symbol": "BTC/USD"}, timeout=10)
        assert r.status_code == 400, r.text
        assert "hunter2" not in r.text and "password" not in r.text and "root:" not in r.text
        answers.append(r.json()["detail"].replace(name, "NAME"))
    assert len(set(answers)) == 1, answers  # existing and absent files answer alike
    # the same rule for a series walk
    r = httpx.post(venue.admin_url + "/market", json={"symbol": "BTC/USD", "walk": {"kind": "series", "file": str(secret)}},
                   timeout=10)
    assert r.status_code == 400 and "hunter2" not in r.text, r.text
    assert changes_since(venue, before) == []
    # a bundled fixture still plays
    r = httpx.post(venue.admin_url + "/replay", json={"file": "replay_btcusd.jsonl", "symbol": "ETH/USD", "speed": 1},
                   timeout=10)
    assert r.status_code == 200, r.text
    httpx.delete(venue.admin_url + "/replay/ETH/USD", timeout=10)


def test_replay_reads_the_configured_data_dir(tmp_path: Any) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "mine.csv").write_text("time,price,qty,side\n1,50000,0.01,buy\n")
    (tmp_path / "outside.csv").write_text("time,price,qty,side\n1,50000,0.01,buy\n")
    (data / "link.csv").symlink_to(tmp_path / "outside.csv")
    tv, v = start_venue(data_dir=str(data))
    try:
        for name in ("mine.csv", str(data / "mine.csv")):
            r = httpx.post(v.admin_url + "/replay", json={"file": name, "symbol": "BTC/USD", "speed": "max"}, timeout=10)
            assert r.status_code == 200 and r.json()["records"] == 1, r.text
        for name in ("../outside.csv", str(tmp_path / "outside.csv"), "link.csv"):
            r = httpx.post(v.admin_url + "/replay", json={"file": name, "symbol": "BTC/USD"}, timeout=10)
            assert r.status_code == 400 and "file not found" in r.json()["detail"], (name, r.text)
    finally:
        tv.stop()


# ================================================== 3: absurd numbers in admin bodies
def _admin(venue: KrakenVenue, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(method, venue.admin_url + path, json=body, timeout=30)


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/market", {"symbol": "BTC/USD", "walk": {"kind": "random", "start": "1e100000"}}),
    ("POST", "/market", {"symbol": "BTC/USD", "maker": {"qty": ["0.001", "1e100000"]}}),
    ("POST", "/market", {"symbol": "BTC/USD", "taker": {"qty": "1e-100000"}}),
    ("POST", "/market", {"symbol": "ETH/USD", "walk": {"kind": "series", "file": "no-such.csv"}}),
    ("POST", "/accounts", {"balances": {"USD": "1e5000"}}),
    ("POST", "/accounts", {"balances": {"USD": "1"}, "futures_balances": {"USD": "1e5000"}}),
    ("POST", "/books/XBTUSD", {"mid": "1e100000"}),
    ("POST", "/books/XBTUSD", {"qty": "1e100000"}),
    ("POST", "/books/XBTUSD", {"step": "abc"}),
    ("POST", "/books/XBTUSD", {"mid": "-5"}),
    ("POST", "/books/XBTUSD", {"mid": "1e30"}),
    ("POST", "/books/XBTUSD", {"levels": 500, "qty": "1e30"}),
    ("POST", "/faults", {"ws_latency_ms": [0, 1e300]}),
    ("POST", "/faults", {"latency_ms": {"rest": [0, 1e12]}}),
    ("POST", "/books/XBTUSD", {"bids": [["50000", "1e5000"]]}),
    ("POST", "/books/XBTUSD", {"clear": True, "bids": [["50000", "1"], ["50000.123456789", "1"]]}),
    ("POST", "/books/XBTUSD", {"clear": True, "asks": [["60000", "1"], ["60001", "0.000000001"]]}),
    ("POST", "/index/XBTUSD", {"price": "1e100000"}),
    ("POST", "/accounts/{acct}/tier", {"volume_30d": "1e100000"}),
    ("POST", "/futures/mark/PF_XBTUSD", {"price": "1e100000"}),
    ("POST", "/futures/funding/PF_XBTUSD", {"rate": "1e-100000"}),
])
def test_absurd_admin_numbers_are_refused_and_change_nothing(venue: KrakenVenue, method: str, path: str,
                                                            body: Any) -> None:
    acct = venue.admin.create_account({"USD": "1000"})["account_id"]
    n_accounts = len(venue.admin.request("GET", "/accounts"))
    before = snapshot(venue)
    r = _admin(venue, method, path.replace("{acct}", acct), body)
    assert r.status_code in (400, 422), r.text[:300]
    assert "<class" not in r.text and "Internal" not in r.text, r.text[:300]  # a clear reason, not a repr
    assert changes_since(venue, before) == []
    assert len(venue.admin.request("GET", "/accounts")) == n_accounts
    assert _admin(venue, "GET", "/state").status_code == 200
    assert _admin(venue, "GET", "/accounts").status_code == 200
    assert_alive(venue)


@pytest.mark.parametrize("amount", ["1e5000", "-1e5000", "1e31", "1e-31", "NaN", "Infinity"])
def test_absurd_balance_adjustment_is_refused_before_the_credit(venue: KrakenVenue, amount: Any) -> None:
    acct = venue.admin.create_account({"USD": "1000"})["account_id"]
    for market in ("spot", "futures"):
        before = snapshot(venue)
        r = _admin(venue, "POST", f"/accounts/{acct}/balances", {"asset": "USD", "amount": amount, "market": market})
        assert r.status_code in (400, 422), r.text[:300]
        assert changes_since(venue, before) == []
    view = _admin(venue, "GET", f"/accounts/{acct}")
    assert view.status_code == 200 and view.json()["balances"]["USD"] == "1000", view.text[:300]
    assert _admin(venue, "GET", "/state").status_code == 200


# ================================================ 4: the background market's rate
@pytest.mark.parametrize("body", [{"interval_ms": 1}, {"interval_ms": 99}, {"max_catchup": 1_000_000}])
def test_background_market_rate_is_bounded(venue: KrakenVenue, body: dict[str, Any]) -> None:
    before = snapshot(venue)
    r = _admin(venue, "POST", "/market", {"symbol": "BTC/USD", **body})
    assert r.status_code in (400, 422), r.text[:300]
    assert changes_since(venue, before) == []
    assert all(m["symbol"] != "BTC/USD" or not m["enabled"] for m in venue.admin.request("GET", "/market")["markets"])


def test_background_market_at_its_fastest_stays_bounded(venue: KrakenVenue) -> None:
    """At the minimum interval, a minute of venue time is at most 600 steps."""
    venue.admin.freeze()
    try:
        r = _admin(venue, "POST", "/market", {"symbol": "ETH/USD", "interval_ms": 100})
        assert r.status_code == 200, r.text
        venue.admin.advance(60_000)
        steps = next(m["steps"] for m in venue.admin.request("GET", "/market")["markets"] if m["symbol"] == "ETH/USD")
        assert 0 < steps <= 600, steps
        # a long jump runs at most max_catchup steps and says how many it skipped
        _admin(venue, "POST", "/market", {"symbol": "ETH/USD", "max_catchup": 50})
        venue.admin.advance(3_600_000)
        m = next(m for m in venue.admin.request("GET", "/market")["markets"] if m["symbol"] == "ETH/USD")
        assert m["steps"] - steps <= 50 and m["skipped"] >= 36_000 - 50, m
    finally:
        _admin(venue, "POST", "/market", {"symbol": "ETH/USD", "enabled": False})
        venue.admin.set_clock(mode="real")


# ======================================================== 17: WS token lifetime
WS_LIMIT = {"order_type": "limit", "side": "buy", "order_qty": 0.01, "limit_price": 1000.0, "symbol": "BTC/USD"}


def test_ws_token_is_not_accepted_on_new_connections_forever(venue: KrakenVenue) -> None:
    """Kraken: use the token within 15 minutes; once a private subscription is made
    it stays valid for *that* connection -- a later connection cannot reuse it."""
    creds = fund(venue)
    venue.admin.freeze()
    try:
        tok = mint_token(venue, creds)
        first = ws_open(venue.spot_ws_auth)
        try:
            assert first.call("subscribe", {"channel": "balances", "token": tok})[0]["success"] is True
            venue.admin.advance(16 * 60 * 1000)
            before = snapshot(venue)
            later = ws_open(venue.spot_ws_auth)
            try:
                r = later.call("subscribe", {"channel": "executions", "token": tok})[0]
                assert (r["success"], r["error"]) == (False, "ESession:Invalid session"), r
                r = later.call("add_order", {**WS_LIMIT, "token": tok})[0]
                assert (r["success"], r["error"]) == (False, "EAPI:Invalid token"), r
            finally:
                later.close()
            assert changes_since(venue, before) == []
            # the connection that subscribed keeps it
            assert first.call("add_order", {**WS_LIMIT, "token": tok})[0]["success"] is True
            assert first.call("subscribe", {"channel": "executions", "token": tok})[0]["success"] is True
        finally:
            first.close()
    finally:
        venue.admin.set_clock(mode="real")


def test_ws_token_store_forgets_expired_tokens() -> None:
    from simulator.core.clock import VenueClock
    from simulator.core.ids import IdGenerator
    from simulator.server.tokens import WsTokenStore

    clock = VenueClock("frozen", start_ns=1_700_000_000 * 10**9)
    store = WsTokenStore(clock, IdGenerator(1))

    class Conn:
        pass

    holder = Conn()
    kept = store.mint("A").token
    store.hold(kept, holder)
    for _ in range(5000):
        store.mint("A")
        clock.advance_ms(1000)
    assert len(store.tokens) < 1100, len(store.tokens)  # ~15 minutes' worth, not every token ever minted
    assert store.account_for(kept, holder) == "A" and store.account_for(kept, Conn()) is None
    del holder
    clock.advance_ms(16 * 60 * 1000)
    for _ in range(50):
        store.mint("A")
    assert kept not in store.tokens  # its connection is gone: so is the token


# ======================================================= 18: internal errors leaked
@pytest.mark.parametrize("method", ["DepositStatus", "WithdrawStatus", "Earn/Strategies"])
@pytest.mark.parametrize("cursor", ["²", "١٢", "9" * 5000, "-1", "1.5"])
def test_bad_cursor_is_kraken_invalid_arguments(venue: KrakenVenue, method: str, cursor: str) -> None:
    creds = fund(venue)
    params = {"asset": "XBT", "cursor": cursor} if method != "Earn/Strategies" else {"cursor": cursor}
    with Rest(venue) as rest:
        status, data = rest.private(creds, method, params)
    assert status == 200 and data["error"] == ["EGeneral:Invalid arguments:cursor"], data


def test_cancel_order_batch_with_a_5000_digit_id(venue: KrakenVenue) -> None:
    from tests.spot_rest.helpers import Raw

    creds = fund(venue)
    raw = Raw(venue, creds)
    before = snapshot(venue)
    digits = "1" * 5000
    for params in ({"orders[0]": digits}, {"orders": digits}, {"orders[0][txid]": digits}):
        status, data = raw.post("CancelOrderBatch", params)
        assert (status, data["error"]) == (200, ["EGeneral:Invalid arguments:txid"]), data
    for orders in ([digits], [{"txid": digits}]):
        status, data = raw.post("CancelOrderBatch", {"orders": orders}, as_json=True)
        assert (status, data["error"]) == (200, ["EGeneral:Invalid arguments:txid"]), data
    status, data = raw.post("CancelOrder", {"txid": digits})
    assert data["error"] == ["EGeneral:Invalid arguments:txid"], data
    # a JSON number that long never becomes a Python int at all
    n = raw.nonce()
    body = f'{{"nonce": {n}, "orders": [{digits}]}}'.encode()
    status, data = raw.post("CancelOrderBatch", body=body, nonce=n, as_json=True)
    assert status == 200 and data["error"] and "Internal" not in data["error"][0], data
    assert changes_since(venue, before) == []


def test_far_expiretm_never_breaks_the_executions_feed(venue: KrakenVenue) -> None:
    creds = fund(venue)
    order = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "1000", "volume": "0.01"}
    with Rest(venue) as rest:
        for far in ("+1e20", "1e20", "+99999999999", "253402300800"):
            status, data = rest.private(creds, "AddOrder", {**order, "expiretm": far})
            assert data["error"] == ["EGeneral:Invalid arguments:expiretm"], (far, data)
    tok = mint_token(venue, creds)
    ws = ws_open(venue.spot_ws_auth)
    try:
        acks = ws.call("subscribe", {"channel": "executions", "token": tok, "snap_orders": True})
        assert acks[0]["success"] is True, acks
    finally:
        ws.close()


# =========================================================== 2: clock jumps
@pytest.mark.parametrize("body", [
    {"set": "9999-12-31T00:00:00Z"},
    {"advance_ms": 1e30},
    {"advance_ms": 10**30},
    {"set": "2099-12-31T23:00:00Z", "advance_ms": 7_200_000},
    {"mode": "frozen", "set": "3000-01-01T00:00:00Z"},
    {"mode": "sideways", "advance_ms": 1000},
    {"set": "+275760-09-13T00:00:00Z"},
])
def test_absurd_clock_moves_are_refused_and_change_nothing(venue: KrakenVenue, body: dict[str, Any]) -> None:
    venue.admin.freeze()
    try:
        before, clock = snapshot(venue), venue.admin.request("GET", "/clock")
        r = _admin(venue, "POST", "/clock", body)
        assert r.status_code in (400, 422), r.text[:300]
        assert venue.admin.request("GET", "/clock") == clock
        assert changes_since(venue, before) == []
    finally:
        venue.admin.set_clock(mode="real")
    assert venue.admin.request("GET", "/clock")["mode"] == "real"


def test_a_year_jump_realises_bounded_funding_and_replays(tmp_path: Any) -> None:
    """20 open perpetual positions, a one-year jump: the work is capped (the newest
    week of hourly periods), the skipped periods are recorded, and a replay of the
    journal rebuilds the same state."""
    import time

    from simulator.core.derivatives.engine import MAX_FUNDING_CATCHUP
    from simulator.core.sequencer import Journal
    from tests.derivatives.conftest import make_market

    m = make_market()
    longs = []
    for _ in range(10):
        a, b = m.account(USD="1000000"), m.account(USD="1000000")
        m.send(a, "lmt", "PF_XBTUSD", "sell", "0.1", "91415")
        m.send(b, "lmt", "PF_XBTUSD", "buy", "0.1", "91415")
        longs.append(b)
    m.cmd("set_mark", symbol="PF_XBTUSD", price=__import__("decimal").Decimal("91500"))
    m.advance(3600)  # one ordinary period
    history = len(m.eng.funding_history["PF_XBTUSD"])
    paid_once = m.balance(longs[0])
    t0 = time.perf_counter()
    m.advance(365 * 86400)
    took = time.perf_counter() - t0
    assert took < 2.0, took
    periods = 365 * 24
    assert len(m.eng.funding_history["PF_XBTUSD"]) - history == MAX_FUNDING_CATCHUP
    notices = [ev.data for e in m.venue.journal.entries for ev in e.events
               if getattr(ev, "name", None) == "funding_skipped"]
    assert notices and notices[-1]["periods"] == periods - MAX_FUNDING_CATCHUP, notices
    assert m.balance(longs[0]) < paid_once  # the longs paid the premium
    # replay: same digest from the journal alone
    path = str(tmp_path / "journal.jsonl")
    m.venue.journal.write_jsonl(path)
    again = make_market()
    again.venue.replay(Journal.read_commands(path))
    assert again.venue.state_digest() == m.venue.state_digest()
    assert again.eng.funding_history == m.eng.funding_history


# ============================================= 9: derivatives WS challenge flood
def _futures_conns(venue: KrakenVenue) -> list[Any]:
    hub = venue.runtime.services.futures_ws
    return venue.call(lambda: list(hub.conns))  # type: ignore[no-any-return]


def test_futures_ws_challenge_flood_holds_bounded_state(venue: KrakenVenue) -> None:
    from .kit import FuturesWs

    before = snapshot(venue)
    ws = FuturesWs(venue.futures_ws)
    try:
        big = "k" * 60_000
        for _ in range(400):
            ws.send({"event": "challenge", "api_key": big})
        for i in range(400):
            ws.send({"event": "challenge", "api_key": f"key-{i}"})
        time.sleep(0.5)
        conns = _futures_conns(venue)
        held = sum(len(k) for c in conns for k in c.challenges.values())
        assert all(len(c.challenges) <= 8 for c in conns), [len(c.challenges) for c in conns]
        assert held < 8 * 256, held
        replies = []
        while (msg := ws.recv(0.3)) is not None:
            replies.append(msg)
        oversized = [m for m in replies if m.get("message") == "Json Error"]
        assert oversized and all(m["event"] == "error" for m in oversized)
        alerts = [m for m in replies if m.get("message") == "Exceeded request rate"]
        assert 1 <= len(alerts) <= 3, len(alerts)  # answered once per refill, not once per request
        assert len(replies) < 400, len(replies)  # most of the flood was refused unanswered
        time.sleep(1.1)  # the budget refills: the connection still works
        ch = ws.challenge("key-after")
        assert ch
    finally:
        ws.close()
    assert changes_since(venue, before) == []


def test_futures_ws_rate_is_100_requests_a_second(venue: KrakenVenue) -> None:
    from .kit import FuturesWs

    ws = FuturesWs(venue.futures_ws)
    try:
        for i in range(150):
            ws.send({"event": "challenge", "api_key": f"k{i}"})
        replies = []
        while (msg := ws.recv(0.3)) is not None:
            replies.append(msg)
        issued = [m for m in replies if m["event"] == "challenge"]
        assert 99 <= len(issued) <= 110, len(issued)  # 100 a second (and whatever refilled meanwhile)
        assert replies[-1] == {"event": "alert", "message": "Exceeded request rate"}, replies[-3:]
    finally:
        ws.close()


@pytest.mark.parametrize("body", [
    {"clear": True, "bids": [["50000", "1"], ["50000.123456789", "1"]]},
    {"clear": True, "asks": [["60000", "1"], ["60001", "0"]]},
    {"mid": "1e100000"},
    {"bids": [["50000", "1e5000"]]},
])
def test_futures_admin_books_are_all_or_nothing(venue: KrakenVenue, body: dict[str, Any]) -> None:
    before = snapshot(venue)
    r = _admin(venue, "POST", "/books/PF_XBTUSD", body)
    assert r.status_code in (400, 422), r.text[:300]
    assert changes_since(venue, before) == []
    assert _admin(venue, "GET", "/state").status_code == 200
