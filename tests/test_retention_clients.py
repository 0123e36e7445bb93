"""Retention as real clients see it (issue 15.11): after more orders than the
bound, ccxt, python-kraken-sdk and krakenex page ClosedOrders, TradesHistory
and Ledgers (`ofs`, and ccxt's `since`) over exactly what is retained: the
counts are the retained ones, pages neither overlap nor skip, and together they
are the newest rows the clients themselves made.  An order that left answers
QueryOrders with Kraken's `EOrder:Invalid order` (a foreign or unknown txid).
The same holds after a restart from the state directory (and keeps holding as
trading goes on), and `kraken-sim replay --history-keep` of the journal reaches
the run's digest."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ccxt
import pytest
from kraken.exceptions import KrakenInvalidOrderError
from kraken.spot import User

from simulator.pytest_plugin import KrakenVenue, start_venue
from simulator.scenario import Scenario
from tests.spot_rest.helpers import Raw, ccxt_client, kx, sdk

KEEP = 60  # more than one page of 50: a retained history spans two pages
ORDERS = 100  # past the bound for every list: closed orders, fills, ledger entries
PAGE = 50
SEED = 11
ROOT = Path(__file__).resolve().parent.parent


def _retained(n: int) -> None:
    """A list is cut back to KEEP once an append takes it an eighth past."""
    assert KEEP <= n <= KEEP + KEEP // 8, n


class Book:
    """What the client made, oldest first: order ids with their times (whole
    seconds of a frozen venue clock), trade ids and ledger ids."""

    def __init__(self) -> None:
        self.orders: list[str] = []
        self.order_s: dict[str, int] = {}
        self.trades: list[str] = []
        self.ledger: list[str] = []

    def note_ledger(self, page: dict[str, Any]) -> None:
        """Ledger ids from the newest page, appended oldest first (a page of
        50 after every order sees every new entry)."""
        for lid in reversed(list(page)):
            if lid not in self.ledger:
                self.ledger.append(lid)


def _freeze_on_whole_second(v: Any, book: Book) -> None:
    """Frozen on a whole second past both the clock and the last order (a
    restarted venue runs a real clock, which may be behind the run's time)."""
    now_s = max([v.admin.freeze()["now_ns"] // 10**9, *book.order_s.values()])
    v.admin.set_clock(set=datetime.fromtimestamp(now_s + 1, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def _trade(v: Any, raw: Raw, book: Book, n: int) -> None:
    """`n` market buys of one lot each, one venue second apart: each closes an
    order, makes one fill (one trade row) and two ledger entries."""
    for _ in range(n):
        v.admin.advance(1000)
        oid = raw.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.001"})["txid"][0]
        order = raw.ok("QueryOrders", {"txid": oid, "trades": "true"})[oid]
        assert order["status"] == "closed" and len(order["trades"]) == 1, order
        book.orders.append(oid)
        book.order_s[oid] = int(order["closetm"])
        assert order["closetm"] == book.order_s[oid]  # whole seconds: ccxt's `since` is exact
        book.trades.append(order["trades"][0])
        book.note_ledger(raw.ok("Ledgers")["ledger"])


# ------------------------------------------------------------------ walkers
Pager = Callable[[int], tuple[list[str], int | None]]  # ofs -> (ids on the page in the client's order, count)


def _walk(pager: Pager, count: int) -> list[str]:
    """Every page from ofs 0 until an empty one: full pages of 50, disjoint,
    each with the same count; their union is `count` ids."""
    out: list[str] = []
    ofs = 0
    while True:
        ids, n = pager(ofs)
        if n is not None:
            assert n == count, (ofs, n, count)
        if not ids:
            break
        assert len(ids) == min(PAGE, count - ofs), (ofs, len(ids), count)
        assert not set(ids) & set(out), f"page at ofs={ofs} repeats rows"
        out += ids
        ofs += len(ids)
    assert len(out) == count
    return out


def _raw_pager(raw: Raw, method: str, key: str) -> Pager:
    def page(ofs: int) -> tuple[list[str], int | None]:
        res = raw.ok(method, {"ofs": str(ofs)})
        return list(res[key]), int(res["count"])

    return page


def _sdk_pagers(user: User) -> dict[str, Pager]:
    def closed(ofs: int) -> tuple[list[str], int | None]:
        r = user.get_closed_orders(ofs=ofs)
        return list(r["closed"]), int(r["count"])

    def trades(ofs: int) -> tuple[list[str], int | None]:
        r = user.get_trades_history(ofs=ofs)
        return list(r["trades"]), int(r["count"])

    def ledger(ofs: int) -> tuple[list[str], int | None]:
        r = user.get_ledgers_info(ofs=ofs)
        return list(r["ledger"]), int(r["count"])

    return {"closed": closed, "trades": trades, "ledger": ledger}


def _krakenex_pagers(api: Any) -> dict[str, Pager]:
    def pager(method: str, key: str) -> Pager:
        def page(ofs: int) -> tuple[list[str], int | None]:
            time.sleep(0.002)  # millisecond nonces: two calls in one ms would share one
            r = api.query_private(method, {"ofs": ofs})
            assert r["error"] == [], r
            return list(r["result"][key]), int(r["result"]["count"])

        return page

    return {"closed": pager("ClosedOrders", "closed"), "trades": pager("TradesHistory", "trades"),
            "ledger": pager("Ledgers", "ledger")}  # fmt: skip


def _ccxt_pagers(ex: ccxt.kraken, since: int | None = None) -> dict[str, Pager]:
    """ccxt hides `count`; its lists are oldest first, so each page is
    turned back to Kraken's newest-first order."""

    def closed(ofs: int) -> tuple[list[str], int | None]:
        time.sleep(0.002)  # millisecond nonces
        return [o["id"] for o in reversed(ex.fetch_closed_orders(since=since, params={"ofs": ofs}))], None

    def trades(ofs: int) -> tuple[list[str], int | None]:
        time.sleep(0.002)
        return [t["id"] for t in reversed(ex.fetch_my_trades(since=since, params={"ofs": ofs}))], None

    def ledger(ofs: int) -> tuple[list[str], int | None]:
        time.sleep(0.002)
        return [e["id"] for e in reversed(ex.fetch_ledger(since=since, params={"ofs": ofs}))], None

    return {"closed": closed, "trades": trades, "ledger": ledger}


def _expected(book: Book, kind: str, count: int) -> list[str]:
    """The newest `count` rows the client made, newest first."""
    made = {"closed": book.orders, "trades": book.trades, "ledger": book.ledger}[kind]
    return list(reversed(made))[:count]


def check_history(v: KrakenVenue, creds: dict[str, Any], book: Book) -> dict[str, list[str]]:
    """Every client pages every history over exactly the retained rows."""
    raw = Raw(v, creds)
    counts = {
        "closed": int(raw.ok("ClosedOrders")["count"]),
        "trades": int(raw.ok("TradesHistory")["count"]),
        "ledger": int(raw.ok("Ledgers")["count"]),
    }
    for n in counts.values():
        _retained(n)
    walked = {
        "closed": _walk(_raw_pager(raw, "ClosedOrders", "closed"), counts["closed"]),
        "trades": _walk(_raw_pager(raw, "TradesHistory", "trades"), counts["trades"]),
        "ledger": _walk(_raw_pager(raw, "Ledgers", "ledger"), counts["ledger"]),
    }
    for kind, ids in walked.items():
        if kind == "ledger":  # a trade's two entries share a time: their order within it is the venue's
            assert set(ids) == set(_expected(book, kind, counts[kind])), kind
        else:
            assert ids == _expected(book, kind, counts[kind]), kind
    for name, pagers in (("python-kraken-sdk", _sdk_pagers(sdk(User, v, creds))),
                         ("krakenex", _krakenex_pagers(kx(v, creds))),
                         ("ccxt", _ccxt_pagers(ccxt_client(v, creds)))):  # fmt: skip
        for kind, pager in pagers.items():
            got = _walk(pager, counts[kind])
            assert set(got) == set(walked[kind]), (name, kind)
            if kind != "ledger":
                assert got == walked[kind], (name, kind)
    return walked


def check_since(v: KrakenVenue, creds: dict[str, Any], book: Book, walked: dict[str, list[str]]) -> None:
    """ccxt's `since` (Kraken's exclusive `start`, whole seconds): from a cut
    order's time, every retained row; from a retained order's time, the rows
    after it, and nothing the retention cut comes back either way."""
    ex = ccxt_client(v, creds)
    first_kept = walked["closed"][-1]
    cut = book.orders[: book.orders.index(first_kept)]
    assert cut, "nothing was cut"
    before = _ccxt_pagers(ex, since=book.order_s[cut[0]] * 1000)
    for kind in ("closed", "trades"):
        assert _walk(before[kind], len(walked[kind])) == walked[kind], kind
    ledger = _walk(before["ledger"], len(walked["ledger"]))
    assert set(ledger) == set(walked["ledger"])
    k = 30  # orders after the 30th newest: one page
    pivot = book.orders[-k - 1]
    after = _ccxt_pagers(ex, since=book.order_s[pivot] * 1000)
    assert _walk(after["closed"], k) == list(reversed(book.orders[-k:]))
    assert _walk(after["trades"], k) == list(reversed(book.trades[-k:]))
    assert set(_walk(after["ledger"], 2 * k)) == set(book.ledger[-2 * k :])  # two pages


def check_cut_ids(v: KrakenVenue, creds: dict[str, Any], book: Book, walked: dict[str, list[str]]) -> None:
    """A cut order is unknown to QueryOrders (Kraken: `EOrder:Invalid order`),
    on its own or beside a retained one, through every client; so is a cut
    trade to QueryTrades.  Retained ones still answer."""
    raw = Raw(v, creds)
    gone = book.orders[0]
    kept = walked["closed"][0]
    assert gone not in walked["closed"]
    assert raw.error("QueryOrders", {"txid": gone}) == "EOrder:Invalid order"
    assert raw.error("QueryOrders", {"txid": f"{kept},{gone}"}) == "EOrder:Invalid order"
    assert list(raw.ok("QueryOrders", {"txid": kept})) == [kept]
    assert raw.error("QueryTrades", {"txid": book.trades[0]}) == "EOrder:Invalid order"
    assert list(raw.ok("QueryTrades", {"txid": walked["trades"][0]})) == [walked["trades"][0]]
    # as if it never existed: the same answer as for ids never issued
    assert raw.error("QueryOrders", {"txid": "OAAAAA-AAAAA-AAAAAA"}) == "EOrder:Invalid order"
    assert raw.error("QueryTrades", {"txid": "TAAAAA-AAAAA-AAAAAA"}) == "EOrder:Invalid order"
    lid_gone = book.ledger[0]
    assert lid_gone not in walked["ledger"]
    never = raw.error("QueryLedgers", {"id": "LAAAAA-AAAAA-AAAAAA"})
    assert raw.error("QueryLedgers", {"id": lid_gone}) == never
    assert list(raw.ok("QueryLedgers", {"id": walked["ledger"][0]})) == [walked["ledger"][0]]
    assert list(sdk(User, v, creds).get_ledgers(id_=walked["ledger"][0])) == [walked["ledger"][0]]
    time.sleep(0.002)
    with pytest.raises(ccxt.InvalidOrder, match="EOrder:Invalid order"):
        ccxt_client(v, creds).fetch_order(gone)
    with pytest.raises(KrakenInvalidOrderError):
        sdk(User, v, creds).get_orders_info(txid=gone)
    assert kx(v, creds).query_private("QueryOrders", {"txid": gone})["error"] == ["EOrder:Invalid order"]
    time.sleep(0.002)
    assert ccxt_client(v, creds).fetch_order(kept)["id"] == kept


def _replay(journal: Path, *flags: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "simulator", "replay", str(journal), "--seed", str(SEED), *flags],
                         capture_output=True, text=True, timeout=300, check=True, cwd=ROOT)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_clients_page_retained_history_across_restart_and_replay(tmp_path: Path) -> None:
    scenario = Scenario(retention={"keep": KEEP})
    state = tmp_path / "state"
    tv, v = start_venue(seed=SEED, scenario=scenario, state_dir=str(state))
    try:
        # one key for four clients with three nonce styles (us-scaled, 1e-8 s, ms): Kraken's nonce window
        creds = v.admin.create_account({"USD": "1000000", "XBT": "10"}, nonce_window=10**18)
        v.admin.request("POST", f"/accounts/{creds['account_id']}/tier", {"rate_limits": False})
        book = Book()
        _freeze_on_whole_second(v, book)
        _trade(v, Raw(v, creds), book, ORDERS)
        walked = check_history(v, creds, book)
        check_since(v, creds, book, walked)
        check_cut_ids(v, creds, book, walked)
        digest = v.admin.request("GET", "/state")["digest"]
    finally:
        tv.stop()

    tv, v = start_venue(seed=SEED, scenario=scenario, state_dir=str(state))
    try:
        assert v.admin.request("GET", "/state")["digest"] == digest
        assert check_history(v, creds, book) == walked  # the same pages, row for row
        check_since(v, creds, book, walked)
        check_cut_ids(v, creds, book, walked)
        # trading goes on over the restored lists: further cuts keep the pages right
        _freeze_on_whole_second(v, book)
        _trade(v, Raw(v, creds), book, 20)
        walked = check_history(v, creds, book)
        check_since(v, creds, book, walked)
        check_cut_ids(v, creds, book, walked)
        digest = v.admin.request("GET", "/state")["digest"]
    finally:
        tv.stop()

    journal = state / "journal.jsonl"
    assert _replay(journal, "--history-keep", str(KEEP))["digest"] == digest
    # the digest covers what is retained: replaying without the run's bound is another state
    assert _replay(journal)["digest"] != digest


# ----------------------------------------------------- age bound, real CLI
HOUR_MS = 3_600_000
DAYS = 1  # `--history-days 1`: cut once the oldest row is 27 h old (an eighth of slack), back to 24 h


def _check_age_window(v: Any, creds: dict[str, Any], book: Book) -> dict[str, list[str]]:
    """Pages over the retained rows only: a newest-first prefix of what the
    client made, holding every order of the 24 h before the last append (the
    lists are cut when they grow) and none more than 27 h before it."""
    raw = Raw(v, creds)
    now_s = book.order_s[book.orders[-1]]
    out = {}
    for method, key, made in (("ClosedOrders", "closed", book.orders), ("TradesHistory", "trades", book.trades),
                              ("Ledgers", "ledger", book.ledger)):  # fmt: skip
        count = int(raw.ok(method)["count"])
        ids = _walk(_raw_pager(raw, method, key), count)
        newest = list(reversed(made))[:count]
        assert set(ids) == set(newest) and (key == "ledger" or ids == newest), key
        assert 0 < count < len(made), (key, count, len(made))  # something left, not everything
        out[key] = ids
    kept = set(out["closed"])
    for oid in book.orders:
        age_s = now_s - book.order_s[oid]
        if age_s < DAYS * 86_400:
            assert oid in kept, ("young order cut", age_s)
        if age_s > DAYS * 86_400 * 9 // 8:
            assert oid not in kept, ("old order kept", age_s)
    for pagers in (
        _sdk_pagers(sdk(User, v, creds)),
        _krakenex_pagers(kx(v, creds)),
        _ccxt_pagers(ccxt_client(v, creds)),
    ):
        for kind, pager in pagers.items():
            assert set(_walk(pager, len(out[kind]))) == set(out[kind]), kind
    gone = book.orders[0]
    assert raw.error("QueryOrders", {"txid": gone}) == "EOrder:Invalid order"
    return out


def test_history_days_flag_across_cli_restart_and_replay(tmp_path: Path) -> None:
    """`kraken-sim serve --history-days 1 --state-dir`: orders three venue hours
    apart leave memory past the age bound; a SIGTERM and a start on the same
    directory answer the same pages; `kraken-sim replay --history-days 1`
    reaches the same digest."""
    from types import SimpleNamespace

    from simulator.pytest_plugin import AdminClient
    from tests.cli_serve import Served, serve_cmd

    state = tmp_path / "state"
    flags = ("--seed", str(SEED), "--history-days", str(DAYS))

    def venue(srv: Served) -> Any:
        return SimpleNamespace(spot_rest=srv.info["spot_rest"], admin=AdminClient(srv.admin))

    srv = Served(serve_cmd(state, *flags))
    try:
        v = venue(srv)
        creds = v.admin.create_account({"USD": "1000000", "XBT": "10"}, nonce_window=10**18)
        v.admin.request("POST", f"/accounts/{creds['account_id']}/tier", {"rate_limits": False})
        book = Book()
        _freeze_on_whole_second(v, book)
        for _ in range(20):  # 57 venue hours
            _trade(v, Raw(v, creds), book, 1)
            v.admin.advance(3 * HOUR_MS - 1000)
        pages = _check_age_window(v, creds, book)
        digest = v.admin.request("GET", "/state")["digest"]
        code, err = srv.stop()
        assert code == 0, err
    finally:
        srv.kill()
    srv = Served(serve_cmd(state, *flags))
    try:
        v = venue(srv)
        assert v.admin.request("GET", "/state")["digest"] == digest
        raw = Raw(v, creds)
        for method, key in (("ClosedOrders", "closed"), ("TradesHistory", "trades"), ("Ledgers", "ledger")):
            assert _walk(_raw_pager(raw, method, key), len(pages[key])) == pages[key], key
        assert raw.error("QueryOrders", {"txid": book.orders[0]}) == "EOrder:Invalid order"
        code, err = srv.stop()
        assert code == 0, err
    finally:
        srv.kill()
    journal = state / "journal.jsonl"
    assert _replay(journal, "--history-days", str(DAYS))["digest"] == digest
    assert _replay(journal)["digest"] != digest
