"""subscribe / unsubscribe: per-channel params, one ack per symbol, snapshots.

Acks for every symbol go out first, then the snapshots, as Kraken does; all
of it happens under the sequencer lock so no engine update can slip between a
snapshot and the subscriber's registration."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from simulator.core.accounts import QUERY_CLOSED, QUERY_FUNDS, QUERY_OPEN
from simulator.gateways.jsonw import dumps
from simulator.gateways.ws_common import Latest, Topic

from .channels import book as l2
from .channels import level3 as l3
from .channels.market import (
    OHLC_INTERVALS,
    OHLC_SNAPSHOT_CANDLES,
    BatchFeed,
    bbo,
    instrument_message,
    ohlc_message,
    ticker_message,
    trade_message,
)
from .executions import BalanceSub, ExecSub, balance_snapshot, snapshot_reports
from .parse import WsError, array, boolean, check_fields, enum, integer, string

if TYPE_CHECKING:
    from simulator.core.instruments import SpotPair

    from .connection import WsConnection

PUBLIC = frozenset({"ticker", "book", "trade", "ohlc", "instrument"})
PRIVATE = frozenset({"executions", "balances"})
# the token's key needs one of these (REST twins: OpenOrders/ClosedOrders, Balance)
CHANNEL_PERMISSIONS = {
    "executions": frozenset({QUERY_OPEN, QUERY_CLOSED}),
    "balances": frozenset({QUERY_FUNDS}),
}
FIELDS: dict[str, frozenset[str]] = {
    "ticker": frozenset({"channel", "symbol", "event_trigger", "snapshot"}),
    "book": frozenset({"channel", "symbol", "depth", "snapshot"}),
    "trade": frozenset({"channel", "symbol", "snapshot"}),
    "ohlc": frozenset({"channel", "symbol", "interval", "snapshot"}),
    "instrument": frozenset({"channel", "snapshot", "include_tokenized_assets", "execution_venue"}),
    "level3": frozenset({"channel", "symbol", "depth", "snapshot", "token"}),
    "executions": frozenset(
        {
            "channel",
            "token",
            "snap_orders",
            "snap_trades",
            "order_status",
            "ratecounter",
            "rebased",
            "users",
            "snapshot_trades",
            "snapshot",
        }
    ),
    "balances": frozenset({"channel", "token", "snapshot", "rebased", "users"}),
    "heartbeat": frozenset({"channel"}),
}
PRIVATE_REFUSED = "Private data and trading are unavailable on this endpoint. Try ws-auth.kraken.com"
PUBLIC_REFUSED = "Public market data subscriptions are unavailable on this endpoint. Try ws.kraken.com"
L3_REFUSED = "Level3 data is unavailable on this endpoint. Try ws-l3.kraken.com"


class Ack:
    """One reply: result or error (+ top-level extras such as `symbol`)."""

    __slots__ = ("result", "error", "extra")

    def __init__(self, result: dict[str, Any] | None = None, error: str | None = None, **extra: Any) -> None:
        self.result = result
        self.error = error
        self.extra = extra


def endpoint_refusal(kind: str, channel: str) -> str | None:
    """Kraken's text for a channel asked on the wrong host, or None."""
    if channel in ("heartbeat", "status"):
        return None
    if kind == "public":
        if channel in PRIVATE:
            return PRIVATE_REFUSED
        if channel == "level3":
            return L3_REFUSED
    elif kind == "auth":
        if channel in PUBLIC:
            return PUBLIC_REFUSED
    else:  # l3 host
        if channel in PRIVATE:
            return PRIVATE_REFUSED
        if channel in PUBLIC:
            return PUBLIC_REFUSED
    return None


def _one_of(p: dict[str, Any], field: str, allowed: Iterable[int], default: int, refusal: str) -> int:
    """An integer channel option (book depth, OHLC interval) from Kraken's list."""
    v = p.get(field)
    if v is None:
        return default
    if type(v) is not int or v not in allowed:
        raise WsError(refusal)
    return v


G = TypeVar("G")


def join(index: dict[Any, G], key: Any, make: Callable[[], G], conn: Any) -> tuple[G, bool]:
    """`conn` joins the group at `key`, made when it is the first; True when it was."""
    g = index.get(key)
    fresh = g is None
    if g is None:
        g = index[key] = make()
    g.join(conn)  # type: ignore[attr-defined]
    return g, fresh


def leave(index: dict[Any, Any], key: Any, conn: Any) -> None:
    """`conn` leaves the topic at `key`; an emptied topic is dropped."""
    entry: Topic | None = index.get(key)
    if entry is None:
        return
    entry.leave(conn)
    if not entry.subs:
        del index[key]


class Subscriptions:
    def __init__(self, conn: WsConnection) -> None:
        self.conn = conn
        self.hub = conn.hub

    # --------------------------------------------------------------- common
    def _symbols(self, params: dict[str, Any]) -> list[str]:
        syms = array(params, "symbol")
        if not syms:
            raise WsError("Symbol(s) not found")
        for s in syms:
            if type(s) is not str:
                raise WsError("Symbol field must be an array of strings")
        return syms

    def _pair(self, symbol: str) -> SpotPair | None:
        p = self.hub.rt.venue.instruments.pair(symbol)
        return p if p is not None and p.symbol == symbol else None

    def _account(self, params: dict[str, Any], channel: str) -> str:
        token = params.get("token")
        store = self.hub.rt.services.ws_tokens
        acct = store.account_for(token, self.conn) if type(token) is str else None
        if acct is None:
            raise WsError("ESession:Invalid session", channel=channel, status="error")
        perms = store.permissions_for(token)
        need = CHANNEL_PERMISSIONS.get(channel)
        if perms is not None and need is not None and not (need & perms):
            raise WsError("EGeneral:Permission denied", channel=channel, status="error")
        self.conn.account_id = acct
        store.hold(token, self.conn)  # Kraken: valid for this connection from now on
        return acct

    def handle(self, method: str, params: dict[str, Any]) -> list[Ack]:
        """Validate, register, and queue acks + snapshots; returns acks for the caller to send first."""
        channel = params.get("channel")
        if channel is None:
            raise WsError("Subscription name invalid") if method == "subscribe" else WsError("Subscription Not Found")
        if type(channel) is not str:
            raise WsError("Channel field must be a string")
        refusal = endpoint_refusal(self.conn.kind, channel)
        if refusal is not None:
            raise WsError(refusal)
        if channel == "status":
            raise WsError("Symbol(s) not found")
        allowed = FIELDS.get(channel)
        if allowed is None:
            raise WsError("Subscription name invalid")
        check_fields(params, allowed, method)
        fn = getattr(self, f"_{method}_{channel}")
        return fn(params)  # type: ignore[no-any-return]

    # ------------------------------------------------------------ public
    def _per_symbol(
        self,
        params: dict[str, Any],
        channel: str,
        key_extra: Any,
        result: dict[str, Any],
        on_new: Any,
        unsubscribe: bool = False,
    ) -> list[Ack]:
        """One ack per symbol; `on_new(pair)` registers and returns the snapshot text or None."""
        acks: list[Ack] = []
        todo: list[SpotPair] = []
        subs = self.conn.subs
        for sym in self._symbols(params):
            pair = self._pair(sym)
            if pair is None:
                acks.append(Ack(error=f"Currency pair not supported {sym}", symbol=sym))
                continue
            key = (channel, pair.id)
            if unsubscribe:
                if subs.get(key) != key_extra:
                    acks.append(Ack(error="Subscription Not Found", symbol=sym, method="subscribe"))
                    continue
                del subs[key]
                todo.append(pair)
                acks.append(Ack({**result, "symbol": sym}))
                continue
            if key in subs or any(p is pair for p in todo):
                acks.append(Ack(error="Already subscribed", symbol=sym))
                continue
            subs[key] = key_extra
            todo.append(pair)
            acks.append(Ack({**result, "symbol": sym}))
        self.conn.send_acks(acks)
        for pair in todo:
            text = on_new(pair)
            if text is not None:
                self.conn.send(text)
        return []

    def _subscribe_ticker(self, p: dict[str, Any]) -> list[Ack]:
        trig = enum(p, "event_trigger", ("trades", "bbo"), "trades") or "trades"
        snap = boolean(p, "snapshot", True)
        hub, conn = self.hub, self.conn

        def on_new(pair: SpotPair) -> str | None:
            by = hub.tickers.setdefault(pair.id, {"trades": Latest(), "bbo": Latest()})
            book = hub.rt.venue.spot.books[pair.id]
            if not by["bbo"] and not by["trades"]:
                hub.bbo[pair.id] = bbo(book)
            by[trig].join(conn)
            return ticker_message("snapshot", hub.ticker(pair.id, hub.rt.venue.clock.now_ns())) if snap else None

        with hub.lock:
            return self._per_symbol(
                p, "ticker", trig, {"channel": "ticker", "event_trigger": trig, "snapshot": snap}, on_new
            )

    def _unsubscribe_ticker(self, p: dict[str, Any]) -> list[Ack]:
        trig = enum(p, "event_trigger", ("trades", "bbo"), "trades") or "trades"
        hub, conn = self.hub, self.conn

        def on_gone(pair: SpotPair) -> None:
            by = hub.tickers.get(pair.id)
            if by is not None:
                by[trig].leave(conn)
                if not by["trades"] and not by["bbo"]:
                    del hub.tickers[pair.id]

        with hub.lock:
            return self._per_symbol(p, "ticker", trig, {"channel": "ticker", "event_trigger": trig}, on_gone, True)

    def _depth(self, p: dict[str, Any], allowed: tuple[int, ...]) -> int:
        return _one_of(p, "depth", allowed, 10, "Subscription depth not supported")

    def _subscribe_book(self, p: dict[str, Any]) -> list[Ack]:
        return self._subscribe_depth(
            p, "book", self.hub.books, l2.DEPTHS, l2.BookGroup,
            lambda g, book, now, fresh: g.snapshot(book, now) if fresh else g.peek_snapshot(book, now))

    def _subscribe_depth(self, p: dict[str, Any], channel: str, index: dict[Any, Any], depths: tuple[int, ...],
                         make: Callable[[SpotPair, int], Any], show: Callable[[Any, Any, int, bool], str]) -> list[Ack]:
        """Join the shared book or level3 group of each symbol; `show` renders the
        snapshot (a new group's also resets what the group has shown)."""
        depth = self._depth(p, depths)
        snap = boolean(p, "snapshot", True)
        hub, conn = self.hub, self.conn

        def on_new(pair: SpotPair) -> str | None:
            book, now = hub.rt.venue.spot.books[pair.id], hub.rt.venue.clock.now_ns()
            g, fresh = join(index, (pair.id, depth), lambda: make(pair, depth), conn)
            text = show(g, book, now, fresh)  # always: a new group's window starts here
            return text if snap else None

        with hub.lock:
            return self._per_symbol(p, channel, depth, {"channel": channel, "depth": depth, "snapshot": snap}, on_new)

    def _unsubscribe_book(self, p: dict[str, Any]) -> list[Ack]:
        return self._unsubscribe_depth(p, "book", self.hub.books, l2.DEPTHS)

    def _unsubscribe_depth(self, p: dict[str, Any], channel: str, index: dict[Any, Any],
                           depths: tuple[int, ...]) -> list[Ack]:
        """Leave a book or level3 group: the depth must be the one subscribed."""
        depth = self._depth(p, depths)
        hub, conn = self.hub, self.conn

        def on_gone(pair: SpotPair) -> None:
            leave(index, (pair.id, depth), conn)

        with hub.lock:
            return self._per_symbol(p, channel, depth, {"channel": channel, "depth": depth}, on_gone, True)

    def _subscribe_level3(self, p: dict[str, Any]) -> list[Ack]:
        self._account(p, "level3")
        return self._subscribe_depth(p, "level3", self.hub.l3, l3.DEPTHS, l3.L3Group,
                                     lambda g, book, now, fresh: g.snapshot(book, now, reset=fresh))

    def _unsubscribe_level3(self, p: dict[str, Any]) -> list[Ack]:
        self._account(p, "level3")
        return self._unsubscribe_depth(p, "level3", self.hub.l3, l3.DEPTHS)

    def _subscribe_trade(self, p: dict[str, Any]) -> list[Ack]:
        snap = boolean(p, "snapshot", False)
        hub, conn = self.hub, self.conn

        def on_new(pair: SpotPair) -> str | None:
            join(hub.trades, pair.id, BatchFeed, conn)
            if not snap:
                return None
            return trade_message("snapshot", pair, hub.rt.venue.spot.trades[pair.id][-50:])

        with hub.lock:
            return self._per_symbol(p, "trade", True, {"channel": "trade", "snapshot": snap}, on_new)

    def _unsubscribe_trade(self, p: dict[str, Any]) -> list[Ack]:
        hub, conn = self.hub, self.conn

        def on_gone(pair: SpotPair) -> None:
            leave(hub.trades, pair.id, conn)

        with hub.lock:
            return self._per_symbol(p, "trade", True, {"channel": "trade"}, on_gone, True)

    def _interval(self, p: dict[str, Any]) -> int:
        return _one_of(p, "interval", OHLC_INTERVALS, 1, "Subscription ohlc interval not supported")

    def _subscribe_ohlc(self, p: dict[str, Any]) -> list[Ack]:
        minutes = self._interval(p)
        snap = boolean(p, "snapshot", True)
        hub, conn = self.hub, self.conn

        def on_new(pair: SpotPair) -> str | None:
            join(hub.ohlc, (pair.id, minutes), BatchFeed, conn)
            if not snap:
                return None
            eng = hub.rt.venue.spot
            cs = eng.market.candles(pair.id, minutes * 60, eng.trades[pair.id]).last(OHLC_SNAPSHOT_CANDLES)
            return ohlc_message("snapshot", pair, cs, minutes, hub.rt.venue.clock.now_ns())

        result = {
            "channel": "ohlc",
            "interval": minutes,
            "snapshot": snap,
            "warnings": ["timestamp is deprecated, use interval_begin"],
        }
        with hub.lock:
            return self._per_symbol(p, "ohlc", minutes, result, on_new)

    def _unsubscribe_ohlc(self, p: dict[str, Any]) -> list[Ack]:
        minutes = self._interval(p)
        hub, conn = self.hub, self.conn

        def on_gone(pair: SpotPair) -> None:
            leave(hub.ohlc, (pair.id, minutes), conn)

        with hub.lock:
            return self._per_symbol(p, "ohlc", minutes, {"channel": "ohlc", "interval": minutes}, on_gone, True)

    def _subscribe_instrument(self, p: dict[str, Any]) -> list[Ack]:
        snap = boolean(p, "snapshot", True)
        tokenized = boolean(p, "include_tokenized_assets", False)
        enum(p, "execution_venue", ("international", "bitnomial-exchange"))
        key = ("instrument",)
        if key in self.conn.subs:
            return [Ack(error="Already subscribed")]
        self.conn.subs[key] = True
        self.conn.send_acks(
            [
                Ack(
                    {
                        "channel": "instrument",
                        "snapshot": snap,
                        "warnings": ["tick_size is deprecated, use price_increment"],
                    }
                )
            ]
        )
        eng = self.hub.rt.venue.spot
        with self.hub.lock:
            self.hub.instrument.add(self.conn)
            if snap:
                self.conn.send(instrument_message(eng.instruments, set(eng.index_price), tokenized))
        return []

    def _unsubscribe_instrument(self, p: dict[str, Any]) -> list[Ack]:
        if self.conn.subs.pop(("instrument",), None) is None:
            return [Ack(error="Subscription Not Found", method="subscribe")]
        self.hub.instrument.discard(self.conn)
        return [Ack({"channel": "instrument"})]

    def _subscribe_heartbeat(self, p: dict[str, Any]) -> list[Ack]:
        return [Ack({"channel": "heartbeat"})]

    def _unsubscribe_heartbeat(self, p: dict[str, Any]) -> list[Ack]:
        return [Ack({"channel": "heartbeat"})]

    # ----------------------------------------------------------- private
    def _subscribe_executions(self, p: dict[str, Any]) -> list[Ack]:
        acct = self._account(p, "executions")
        snap_trades = boolean(p, "snap_trades", boolean(p, "snapshot_trades", False))
        snap_orders = boolean(p, "snap_orders", boolean(p, "snapshot", True))
        order_status = boolean(p, "order_status", True)
        ratecounter = boolean(p, "ratecounter", False)
        boolean(p, "rebased", True)
        users = enum(p, "users", ("all",))
        key = ("executions",)
        if key in self.conn.subs:
            return [Ack(error="Already subscribed", channel="executions")]
        hub = self.hub
        eng = hub.rt.venue.spot
        account = eng.accounts.get(acct)
        maxrate = hub.rt.venue.limits.spot_max_trade_counter(acct)
        self.conn.subs[key] = acct
        self.conn.send_acks(
            [
                Ack(
                    {
                        "channel": "executions",
                        "maxratecount": maxrate,
                        "snap_orders": snap_orders,
                        "snap_trades": snap_trades,
                    }
                )
            ]
        )
        sub = ExecSub(self.conn, acct, snap_orders, snap_trades, order_status, ratecounter)
        with hub.lock:
            targets = [acct]
            if users == "all" and account is not None:
                targets += list(account.subaccounts)
            for a in targets:
                hub.execs.setdefault(a, set()).add(sub)
            if users != "all":
                data = snapshot_reports(eng, acct, snap_orders, snap_trades)
                self.conn.send(
                    dumps({"channel": "executions", "type": "snapshot", "data": data, "sequence": sub.next_seq()})
                )
        return []

    def _unsubscribe_private(self, p: dict[str, Any], channel: str, index: dict[str, set[Any]]) -> list[Ack]:
        """Drop this connection's subscriptions to a private channel from the hub's per-account index."""
        self._account(p, channel)
        if self.conn.subs.pop((channel,), None) is None:
            return [Ack(error="Subscription Not Found", method="subscribe")]
        with self.hub.lock:
            for acct, subs in list(index.items()):
                for s in [x for x in subs if x.conn is self.conn]:
                    subs.discard(s)
                if not subs:
                    del index[acct]
        return [Ack({"channel": channel})]

    def _unsubscribe_executions(self, p: dict[str, Any]) -> list[Ack]:
        return self._unsubscribe_private(p, "executions", self.hub.execs)

    def _subscribe_balances(self, p: dict[str, Any]) -> list[Ack]:
        acct = self._account(p, "balances")
        snap = boolean(p, "snapshot", True)
        boolean(p, "rebased", True)
        enum(p, "users", ("all",))
        key = ("balances",)
        if key in self.conn.subs:
            return [Ack(error="Already subscribed", channel="balances")]
        self.conn.subs[key] = acct
        self.conn.send_acks([Ack({"channel": "balances", "snapshot": snap})])
        sub = BalanceSub(self.conn, acct)
        hub = self.hub
        with hub.lock:
            hub.balances.setdefault(acct, set()).add(sub)
            if snap:
                data = balance_snapshot(hub.rt.venue.spot, acct)
                self.conn.send(
                    dumps({"channel": "balances", "type": "snapshot", "data": data, "sequence": sub.next_seq()})
                )
        return []

    def _unsubscribe_balances(self, p: dict[str, Any]) -> list[Ack]:
        return self._unsubscribe_private(p, "balances", self.hub.balances)


__all__ = ["Ack", "Subscriptions", "endpoint_refusal", "integer", "string"]
