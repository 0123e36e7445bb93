"""Market data on FIX: MarketDataRequest (V) -> Snapshot (W) + Incremental (X),
MarketDataRequestReject (Y), SecurityList (x -> y), TradingSessionStatus (g -> h).

Incrementals are computed by diffing: each subscription keeps the book it
last showed the client (top `depth` levels, or the orders in them for L3);
after every journal entry that touched its instrument the current engine
book is cut to the same depth and compared (the core's diff,
`simulator.core.bookwindow`, shared with the Spot WS book and level3 feeds). Levels that enter or leave the
subscribed depth therefore come out right (fix.md §6.9: delete with 271>0
means the level left the depth), and a subscription stays consistent
whichever thread ran the command.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from simulator.core.book import BookSide, OrderBook
from simulator.core.bookwindow import level_changes, level_window, order_changes, order_window
from simulator.core.clock import NS_PER_S
from simulator.core.events import BookEvent, NoticeEvent, TradeEvent
from simulator.core.numbers import fmt_units
from simulator.gateways.fix import business_tags as F
from simulator.gateways.fix.business_tags import MDReqRejReason
from simulator.gateways.fix.codec import Msg

if TYPE_CHECKING:
    from simulator.core.sequencer import JournalEntry
    from simulator.gateways.fix.kraken_application import FixConn, KrakenFixApplication

DEPTHS = frozenset({0, 1, 10, 25, 100, 500, 1000})
MAX_DEPTH = 1000  # 264=0 (full book) is capped at 1000 levels
ENTRY_TYPE_SETS = (frozenset("01"), frozenset("012"), frozenset("2"))
MAX_SYMBOLS_PER_LIST = 100  # SecurityList fragment size
PAIR_STATUS = {"online": "1", "maintenance": "2", "cancel_only": "3", "post_only": "4", "limit_only": "5",
               "delisted": "6", "reduce_only": "7", "work_in_progress": "2"}
SESSION_STATUS = {"online": "2", "maintenance": "1", "cancel_only": "101", "post_only": "102"}
SIDE_LETTER = {True: "B", False: "O"}  # is_bid -> MDEntryID prefix
TAKER_TYPE = {"market": "1"}  # everything else executes as a limit


def entry_time(ns: int) -> str:
    """MDEntryTime (273): time of day with milliseconds, as Kraken's examples."""
    secs, rem = divmod(ns, NS_PER_S)
    return datetime.fromtimestamp(secs, tz=UTC).strftime("%H:%M:%S") + f".{rem // 1_000_000:03d}"


def iso_ns(ns: int) -> str:
    """MDEntryTimestamp (5060): ISO-8601 with nanoseconds."""
    secs, rem = divmod(ns, NS_PER_S)
    return datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rem:09d}Z"


def _token(units: int, dp: int) -> str:
    return fmt_units(units, dp).replace(".", "").lstrip("0")


def book_checksum(asks: Iterable[tuple[int, int]], bids: Iterable[tuple[int, int]], pdp: int, qdp: int) -> int:
    """Kraken's CRC32 over the 10 best levels: asks ascending, then bids descending."""
    parts: list[str] = []
    for side in (asks, bids):
        for n, (price, qty) in enumerate(side):
            if n == 10:
                break
            parts.append(_token(price, pdp))
            parts.append(_token(qty, qdp))
    return zlib.crc32("".join(parts).encode())


@dataclass(eq=False)
class MDSub:
    """One symbol of one MarketDataRequest on one connection."""

    conn: FixConn
    req_id: str
    market: str  # spot | futures
    instrument: str  # pair id or contract symbol
    symbol: str  # as the client spelled it
    depth: int
    l3: bool
    book: bool
    trades: bool
    pdp: int
    qdp: int
    since_seq: int
    asks: dict[int, Any] = field(default_factory=dict)  # the window last shown: LevelWindow | OrderWindow
    bids: dict[int, Any] = field(default_factory=dict)

    def cut(self, side: BookSide) -> dict[int, Any]:
        """One side as this subscription shows it (the core's window)."""
        return order_window(side, self.depth) if self.l3 else level_window(side, self.depth)

    def show(self, book: OrderBook) -> None:
        self.asks, self.bids = self.cut(book.asks), self.cut(book.bids)


class MarketData:
    """Subscriptions of every MD connection, fed from the bus."""

    def __init__(self, application: KrakenFixApplication) -> None:
        self.application = application
        self.clear()

    def clear(self) -> None:
        self.subs: dict[str, list[MDSub]] = {}  # instrument -> subscriptions
        self.by_conn: dict[str, dict[str, list[MDSub]]] = {}  # instance -> MDReqID -> subs
        self.status_subs: dict[str, tuple[FixConn, str, str]] = {}  # instance -> (conn, 335, 336)

    @property
    def active(self) -> bool:
        return bool(self.subs) or bool(self.status_subs)

    def drop_connection(self, conn: FixConn) -> None:
        """Subscriptions die with the connection (fix.md §6.9)."""
        for subs in self.by_conn.pop(conn.instance_id, {}).values():
            for sub in subs:
                self._unindex(sub)
        self.status_subs.pop(conn.instance_id, None)

    def _unindex(self, sub: MDSub) -> None:
        lst = self.subs.get(sub.instrument)
        if lst is not None and sub in lst:
            lst.remove(sub)
            if not lst:
                del self.subs[sub.instrument]

    # ------------------------------------------------------------------ V
    def _reject(self, conn: FixConn, req_id: str, reason: str, text: str) -> None:
        conn.handle.send(Msg.new("Y", [(F.MD_REQ_ID, req_id), (F.MD_REQ_REJ_REASON, reason), (F.TEXT, text)]))

    def on_market_data_request(self, conn: FixConn, msg: Msg) -> None:
        req_id = F.required(msg, F.MD_REQ_ID)
        sub_type = F.required(msg, F.SUBSCRIPTION_REQUEST_TYPE)
        mine = self.by_conn.setdefault(conn.instance_id, {})
        if sub_type == "2":
            for sub in mine.pop(req_id, []):
                self._unindex(sub)
            return
        if sub_type != "1":
            self._reject(conn, req_id, MDReqRejReason.UNSUPPORTED_SUBSCRIPTION_REQUEST_TYPE,
                         f"Unsupported SubscriptionRequestType: {sub_type}")
            return
        if req_id in mine:
            self._reject(conn, req_id, MDReqRejReason.DUPLICATE_MD_REQ_ID, f"Duplicate MDReqID: {req_id}")
            return
        depth_raw = msg.get(F.MARKET_DEPTH, "0") or "0"
        depth = int(depth_raw) if depth_raw.isdigit() else -1
        if depth not in DEPTHS:
            self._reject(conn, req_id, MDReqRejReason.UNSUPPORTED_MARKET_DEPTH, f"Unsupported MarketDepth: {depth_raw}")
            return
        if msg.get(F.MD_UPDATE_TYPE) not in (None, "1"):
            self._reject(conn, req_id, MDReqRejReason.UNSUPPORTED_MD_UPDATE_TYPE, "Unsupported MDUpdateType")
            return
        aggregated = msg.get(F.AGGREGATED_BOOK, "Y")
        if aggregated not in ("Y", "N"):
            raise F.bad_value(F.AGGREGATED_BOOK)
        types = frozenset(msg.get_all(F.MD_ENTRY_TYPE))
        if not types:
            raise F.missing(F.MD_ENTRY_TYPE)
        if types not in ENTRY_TYPE_SETS:
            self._reject(conn, req_id, MDReqRejReason.UNSUPPORTED_MD_ENTRY_TYPE,
                         "Unsupported MDEntryType: bids and offers go together")
            return
        l3 = aggregated == "N"
        if l3 and "2" in types:
            self._reject(conn, req_id, MDReqRejReason.TRADE_NOT_AVAILABLE, "Trade not available on a Level3 request")
            return
        symbols = msg.get_all(F.SYMBOL)
        if not symbols:
            raise F.missing(F.SYMBOL)
        cap = self.application.config.md_max_subscriptions
        if sum(map(len, mine.values())) + len(symbols) > cap:  # bounded memory and fan-out per session
            self._reject(conn, req_id, MDReqRejReason.INSUFFICIENT_BANDWIDTH,
                         f"MarketData subscription failed due to subscription limit: {cap} symbols per session")
            return
        resolved = []
        for symbol in symbols:
            found = self._instrument(symbol)
            if found is None:
                self._reject(conn, req_id, MDReqRejReason.UNKNOWN_SYMBOL,
                             f"MarketData subscription failed due to unsupported symbol: {symbol}")
                return
            resolved.append((symbol, *found))
        subs = []
        for symbol, market, instrument, pdp, qdp in resolved:
            sub = MDSub(conn, req_id, market, instrument, symbol, depth or MAX_DEPTH, l3,
                        "0" in types, "2" in types, pdp, qdp, 0)
            subs.append(sub)
            seq = self._sequencer(market)
            with seq.exclusive():  # the snapshot and the diff base are one engine state
                journal = self.application.rt.venue.journal
                sub.since_seq = journal.entries[-1].seq if journal.entries else 0
                book = self._book(sub)
                if sub.book and book is not None:
                    sub.show(book)
                self.subs.setdefault(instrument, []).append(sub)
                conn.handle.send(self._snapshot(sub))
        mine[req_id] = subs

    def _sequencer(self, market: str) -> Any:
        venue = self.application.rt.venue
        return venue.sequencers["futures"] if market == "futures" else venue.spot_seq

    def _instrument(self, symbol: str) -> tuple[str, str, int, int] | None:
        """(market, instrument id, price dp, qty dp) for a Spot or Derivatives spelling."""
        venue = self.application.rt.venue
        if self.application.is_derivatives(symbol):
            eng = venue.derivatives
            if eng is None:
                return None
            spec = eng.specs.get(symbol.upper())
            return None if spec is None else ("futures", spec.symbol, spec.pdp, spec.qdp)
        pair = venue.instruments.pair(symbol)
        return None if pair is None else ("spot", pair.id, pair.pair_decimals, pair.lot_decimals)

    def _book(self, sub: MDSub) -> OrderBook | None:
        venue = self.application.rt.venue
        if sub.market == "futures":
            eng = venue.derivatives
            return eng.books.get(sub.instrument) if eng is not None else None
        return venue.spot.books.get(sub.instrument)

    @staticmethod
    def _level_fields(sub: MDSub, bid: bool, price: int, qty: int, ts: int) -> list[tuple[int, str]]:
        px = fmt_units(price, sub.pdp)
        return [(F.MD_ENTRY_TYPE, "0" if bid else "1"), (F.MD_ENTRY_ID, f"{SIDE_LETTER[bid]}{px}"),
                (F.MD_ENTRY_PX, px), (F.MD_ENTRY_SIZE, fmt_units(qty, sub.qdp)), (F.MD_ENTRY_TIME, entry_time(ts))]

    @staticmethod
    def _order_fields(sub: MDSub, bid: bool, oid: str, price: int, qty: int, opened: int,
                      ts: int) -> list[tuple[int, str]]:
        return [(F.MD_ENTRY_TYPE, "0" if bid else "1"), (F.MD_ENTRY_ID, oid),
                (F.MD_ENTRY_PX, fmt_units(price, sub.pdp)), (F.MD_ENTRY_SIZE, fmt_units(qty, sub.qdp)),
                (F.MD_ENTRY_TIME, entry_time(ts)), (F.MD_ENTRY_TIMESTAMP, iso_ns(opened or ts))]

    def _snapshot(self, sub: MDSub) -> Msg:
        """Offers best first, then bids best first (Kraken's snapshot order)."""
        now = self.application.rt.venue.clock.now_ns()
        entries: list[tuple[int, str]] = []
        n = 0
        for bid, window in ((False, sub.asks), (True, sub.bids)):
            for price, v in window.items():
                if sub.l3:
                    for oid, qty, opened in v:
                        entries += self._order_fields(sub, bid, oid, price, qty, opened, now)
                        n += 1
                else:
                    entries += self._level_fields(sub, bid, price, v, now)
                    n += 1
        return Msg.new("W", [(F.SYMBOL, sub.symbol), (F.MD_REQ_ID, sub.req_id), (F.NO_MD_ENTRIES, n), *entries])

    # -------------------------------------------------------- incrementals
    def on_spot_entry(self, entry: JournalEntry) -> None:
        touched: dict[str, list[Any]] = {}
        for ev in entry.events:
            t = type(ev)
            if t is BookEvent:
                touched.setdefault(ev.pair_id, [])
            elif t is TradeEvent:
                touched.setdefault(ev.pair_id, []).append(
                    (ev.price, ev.qty, ev.taker_side, ev.ts, TAKER_TYPE.get(ev.ordertype, "2")))
            elif t is NoticeEvent and ev.name == "system_status" and self.status_subs:
                self._status_update(str(ev.data.get("status", "")))
        self._publish(touched, entry)

    def on_futures_entry(self, entry: JournalEntry) -> None:
        touched: dict[str, list[Any]] = {}
        for ev in entry.events:
            kind = getattr(ev, "kind", "")
            if kind == "futures_book":
                touched.setdefault(ev.symbol, [])
            elif kind == "futures_trade":
                t = ev.trade
                taker = t.taker.otype if t.taker is not None else "lmt"
                touched.setdefault(t.symbol, []).append((t.price, t.qty, t.side, t.ts, "1" if taker == "mkt" else "2"))
        self._publish(touched, entry)

    def _publish(self, touched: dict[str, list[Any]], entry: JournalEntry) -> None:
        for instrument, trades in touched.items():
            for sub in list(self.subs.get(instrument, ())):
                if entry.seq <= sub.since_seq:
                    continue
                msg = self._incremental(sub, trades, entry.ts)
                if msg is not None:
                    sub.conn.handle.send(msg)

    def _incremental(self, sub: MDSub, trades: list[Any], ts: int) -> Msg | None:
        entries: list[tuple[int, str]] = []
        n = 0
        if sub.trades:
            for price, qty, side, tts, otype in trades:
                entries += [(F.MD_UPDATE_ACTION, "0"), (F.MD_ENTRY_TYPE, "2"),
                            (F.MD_ENTRY_PX, fmt_units(price, sub.pdp)), (F.MD_ENTRY_SIZE, fmt_units(qty, sub.qdp)),
                            (F.MD_ENTRY_TIME, entry_time(tts)), (F.ORD_TYPE, otype),
                            (F.AGGRESSOR_SIDE, "1" if side == "buy" else "2")]
                n += 1
        if sub.book:
            book = self._book(sub)
            if book is not None:
                book_entries, count = self._diff(sub, book, ts)
                if count:
                    entries += book_entries
                    n += count
                    if not sub.l3:
                        entries.append((F.CHECKSUM_ORDER_BOOK, str(self._checksum(sub))))
        if not n:
            return None
        return Msg.new("X", [(F.SYMBOL, sub.symbol), (F.MD_REQ_ID, sub.req_id), (F.NO_MD_ENTRIES, n), *entries])

    def _diff(self, sub: MDSub, book: OrderBook, ts: int) -> tuple[list[tuple[int, str]], int]:
        """The core's window diff in FIX: deletes first (so the client never
        holds more than the depth; a size > 0 means the entry only left the
        depth), then changes, then adds; offers before bids, best first."""
        dels: list[list[tuple[int, str]]] = []
        changes: list[list[tuple[int, str]]] = []
        adds: list[list[tuple[int, str]]] = []
        for bid, side in ((False, book.asks), (True, book.bids)):
            shown = sub.bids if bid else sub.asks
            now = sub.cut(side)
            if sub.l3:
                och = order_changes(shown, now, side)
                for oid, p, _, opened, left in och.deletes:
                    dels.append(self._order_fields(sub, bid, oid, p, left or 0, opened, ts))
                for action, oid, p, q, opened in och.updates:
                    (changes if action == "modify" else adds).append(
                        self._order_fields(sub, bid, oid, p, q, opened, ts))
            else:
                lch = level_changes(shown, now, side)
                for p, _, left in lch.gone:
                    dels.append(self._level_fields(sub, bid, p, left or 0, ts))
                for p, q, new in lch.updates:
                    (adds if new else changes).append(self._level_fields(sub, bid, p, q, ts))
            if bid:
                sub.bids = now
            else:
                sub.asks = now
        out: list[tuple[int, str]] = []
        for action, rows in (("2", dels), ("1", changes), ("0", adds)):
            for fields in rows:
                out += [(F.MD_UPDATE_ACTION, action), *fields]
        return out, len(dels) + len(changes) + len(adds)

    @staticmethod
    def _checksum(sub: MDSub) -> int:
        return book_checksum(sub.asks.items(), sub.bids.items(), sub.pdp, sub.qdp)

    # ------------------------------------------------------------------ x
    def on_security_list_request(self, conn: FixConn, msg: Msg) -> None:
        req_id = F.required(msg, F.SECURITY_REQ_ID)
        sub_type = msg.get(F.SUBSCRIPTION_REQUEST_TYPE, "0")
        if sub_type == "2":
            return
        list_type = F.required(msg, F.SECURITY_LIST_REQUEST_TYPE)
        rows: list[list[tuple[int, str]]] = []
        text = None
        if sub_type not in ("0", "1"):
            result, text = "1", f"Unsupported SubscriptionRequestType: {sub_type}"
        elif list_type == "0":
            symbol = F.required(msg, F.SYMBOL)
            rows = [r for r in self._instrument_rows(None) if r[0][1] == symbol or self._same(symbol, r)]
            result = "0" if rows else "2"
        elif list_type == "1":
            sec_type = F.required(msg, F.SECURITY_TYPE)
            rows = self._instrument_rows(sec_type)
            result = "0" if rows else "2"
        elif list_type == "4":
            rows = self._instrument_rows(None)
            result = "0" if rows else "2"
        else:
            result, text = "1", f"Unsupported SecurityListRequestType: {list_type}"
        chunks = [rows[i:i + MAX_SYMBOLS_PER_LIST] for i in range(0, len(rows), MAX_SYMBOLS_PER_LIST)] or [[]]
        for i, chunk in enumerate(chunks):
            body: list[tuple[int, Any]] = [(F.SECURITY_REQ_ID, req_id), (F.SECURITY_RESPONSE_ID, f"{req_id}-{i + 1}"),
                                           (F.SECURITY_REQUEST_RESULT, result), (F.TOT_NO_RELATED_SYM, len(rows)),
                                           (F.LAST_FRAGMENT, "Y" if i == len(chunks) - 1 else "N")]
            if text:
                body.append((F.TEXT, text))
            body.append((F.NO_RELATED_SYM, len(chunk)))
            for row in chunk:
                body += row
            conn.handle.send(Msg.new("y", body))

    def _same(self, symbol: str, row: list[tuple[int, str]]) -> bool:
        found = self._instrument(symbol)
        if found is None:
            return False
        venue = self.application.rt.venue
        if found[0] == "spot":
            pair = venue.instruments.pairs[found[1]]
            return row[0][1] == pair.symbol
        return row[0][1] == found[1]

    def _instrument_rows(self, sec_type: str | None) -> list[list[tuple[int, str]]]:
        venue = self.application.rt.venue
        rows: list[list[tuple[int, str]]] = []
        if sec_type in (None, "CASH"):
            for pair in venue.instruments.pairs.values():
                rows.append([
                    (F.SYMBOL, pair.symbol), (F.SECURITY_TYPE, "CASH"),
                    (F.MIN_TRADE_VOL, f"{pair.ordermin.normalize():f}"),
                    (F.QTY_PRECISION, str(pair.lot_decimals)), (F.QTY_MIN, f"{pair.ordermin.normalize():f}"),
                    (F.MINIMUM_COST, f"{pair.costmin.normalize():f}"), (F.PRICE_PRECISION, str(pair.pair_decimals)),
                    (F.TICK_SIZE, f"{pair.tick_size.normalize():f}"),
                    (F.ASSET_PAIR_STATUS, PAIR_STATUS.get(pair.status, "0")),
                ])
        eng = venue.derivatives
        if sec_type in (None, "FUT") and eng is not None:
            for spec in eng.specs.values():
                step = fmt_units(spec.qstep, spec.qdp)
                rows.append([
                    (F.SYMBOL, spec.symbol), (F.SECURITY_TYPE, "FUT"), (F.MIN_TRADE_VOL, step),
                    (F.QTY_PRECISION, str(spec.qdp)), (F.QTY_MIN, step), (F.PRICE_PRECISION, str(spec.pdp)),
                    (F.TICK_SIZE, fmt_units(spec.tick, spec.pdp)),
                    (F.ASSET_PAIR_STATUS, "1" if spec.tradeable else "3"),
                ])
        return rows

    # ------------------------------------------------------------------ g
    def on_trading_session_status_request(self, conn: FixConn, msg: Msg) -> None:
        req_id = F.required(msg, F.TRAD_SES_REQ_ID)
        session_id = msg.get(F.TRADING_SESSION_ID, "SESSION") or "SESSION"
        sub_type = msg.get(F.SUBSCRIPTION_REQUEST_TYPE, "0")
        if sub_type == "2":
            self.status_subs.pop(conn.instance_id, None)
            return
        if sub_type not in ("0", "1"):
            conn.handle.send(Msg.new("h", [(F.TRAD_SES_REQ_ID, req_id), (F.TRADING_SESSION_ID, session_id),
                                           (F.TRAD_SES_STATUS, "0"), (F.TRAD_SES_STATUS_REJ_REASON, "101")]))
            return
        if sub_type == "1":
            if conn.instance_id in self.status_subs:
                conn.handle.send(Msg.new("h", [(F.TRAD_SES_REQ_ID, req_id), (F.TRADING_SESSION_ID, session_id),
                                               (F.TRAD_SES_STATUS, "0"), (F.TRAD_SES_STATUS_REJ_REASON, "103")]))
                return
            self.status_subs[conn.instance_id] = (conn, req_id, session_id)
        status = self.application.rt.venue.spot.status
        conn.handle.send(Msg.new("h", [(F.TRAD_SES_REQ_ID, req_id), (F.TRADING_SESSION_ID, session_id),
                                       (F.TRAD_SES_STATUS, SESSION_STATUS.get(status, "0"))]))

    def _status_update(self, status: str) -> None:
        for conn, req_id, session_id in list(self.status_subs.values()):
            conn.handle.send(Msg.new("h", [(F.TRAD_SES_REQ_ID, req_id), (F.TRADING_SESSION_ID, session_id),
                                           (F.TRAD_SES_STATUS, SESSION_STATUS.get(status, "0"))]))
