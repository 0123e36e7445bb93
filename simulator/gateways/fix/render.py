"""ExecutionReport (35=8) content for Spot orders, from one engine event.

The bus hands a journal entry over after the command finished, when an
order already shows its final state; the running totals, quantity and
trigger state come from the event (fixed when it happened), and this module
only formats. Quantities use the pair's lot decimals and prices its price
decimals, as Kraken's FIX examples do (fix.md §6.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from simulator.core.events import OrderEvent
from simulator.core.instruments import InstrumentRegistry
from simulator.core.numbers import BALANCE_DP, fmt_units, plain
from simulator.core.orders import TERMINAL, TRIGGERED_TYPES, Order
from simulator.gateways.fix import business_tags as F
from simulator.gateways.fix.codec import Msg, fix_timestamp


@dataclass(slots=True, eq=False)
class OrderTrack:
    """What FIX knows about an order the engine does not: its ClOrdID chain.

    Kept only while the order is open. `owner` is the FIX connection
    (instance id) that placed it; `account_id` the logged-on account (the
    order itself may be booked to a subaccount through 78/79).
    """

    order_id: str
    market: str  # "spot" | "futures"
    owner: str
    account_id: str
    cl_ord_id: str | None
    symbol: str
    aliases: list[str] = field(default_factory=list)
    cum: int = 0  # derivatives: filled size seen so far (for AvgPx)
    px_qty: int = 0  # derivatives: sum of price units x size units


def ord_type_code(o: Order, triggered: bool) -> str:
    """After a trigger the order shows the model it now executes as (fix.md §6.2)."""
    if triggered and o.ordertype in TRIGGERED_TYPES:
        return "2" if o.price is not None else "1"
    return F.ORD_TYPE_CODES.get(o.ordertype, "2")


def spot_report(
    instruments: InstrumentRegistry,
    ev: OrderEvent,
    *,
    exec_id: str,
    exec_type: str,
    status: str,
    ts: int,
    cl_ord_id: str | None,
    symbol: str,
    orig_cl_ord_id: str | None = None,
    text: str | None = None,
    extra: list[tuple[int, str]] | None = None,
) -> Msg:
    """One ExecutionReport of the order as `ev` saw it; fields in FIX 4.4 order
    (Kraken does not require an order). `OrderEvent("status", o, now)` is an
    order as it is now (OrderStatusRequest)."""
    o = ev.order
    pair = o.pair
    pdp, ldp = pair.pair_decimals, pair.lot_decimals
    body = report_head(o.id, cl_ord_id, orig_cl_ord_id, exec_id, exec_type, status, symbol, o.side,
                       fmt_units(ev.qty, ldp), ord_type_code(o, ev.triggered))  # fmt: skip
    if o.price is not None:
        body.append((F.PRICE, fmt_units(o.price, pdp)))
    if o.ordertype in TRIGGERED_TYPES and o.trigger_price is not None:
        body.append((F.STOP_PX, fmt_units(o.trigger_price, pdp)))
    body.append((F.TIME_IN_FORCE, F.TIF_CODES.get(o.tif, "1")))
    if o.expire_ns:
        body.append((F.EXPIRE_TIME, fix_timestamp(o.expire_ns)[:17]))
    if o.start_ns:
        body.append((F.EFFECTIVE_TIME, fix_timestamp(o.start_ns)))
    insts = " ".join(x for x, on in (("E", o.reduce_only), ("P", o.post_only)) if on)
    if insts:
        body.append((F.EXEC_INST, insts))
    if o.display:
        body.append((F.DISPLAY_QTY, fmt_units(o.display, ldp)))
    fill = ev.fill
    if fill is not None:
        body += fill_fields(instruments, fmt_units(fill.qty, ldp), fmt_units(fill.price, pdp), str(fill.trade_id),
                            fill.maker, fill.fee, fill.fee_asset)  # fmt: skip
    leaves = 0 if ev.status in TERMINAL else max(ev.qty - ev.filled, 0)
    return report_msg(body, fmt_units(leaves, ldp), fmt_units(ev.filled, ldp), fmt_units(ev.avg_price_units(), pdp),
                      ts, text, extra)  # fmt: skip


# The parts every ExecutionReport shares, Spot and derivatives alike: the two
# markets differ only in how they write their numbers (fields in FIX 4.4 order).
def report_head(
    order_id: str,
    cl_ord_id: str | None,
    orig_cl_ord_id: str | None,
    exec_id: str,
    exec_type: str,
    status: str,
    symbol: str,
    side: str,
    qty: str,
    ord_type: str,
) -> list[tuple[int, str]]:
    """Which order, which report, and the order's terms."""
    body: list[tuple[int, str]] = [(F.ORDER_ID, order_id)]
    if cl_ord_id is not None:
        body.append((F.CL_ORD_ID, cl_ord_id))
    if orig_cl_ord_id is not None:
        body.append((F.ORIG_CL_ORD_ID, orig_cl_ord_id))
    body += [
        (F.EXEC_ID, exec_id),
        (F.EXEC_TYPE, exec_type),
        (F.ORD_STATUS, status),
        (F.SYMBOL, symbol),
        (F.SIDE, F.SIDE_CODES[side]),
        (F.ORDER_QTY, qty),
        (F.ORD_TYPE, ord_type),
    ]
    return body


def fill_fields(
    instruments: InstrumentRegistry, qty: str, px: str, trade_id: str, maker: bool, fee: int, fee_asset: str
) -> list[tuple[int, str]]:
    """The fill a report tells of; the fee in the ledger's scale, its asset by altname."""
    asset = instruments.assets.get(fee_asset)
    return [
        (F.LAST_QTY, qty),
        (F.LAST_PX, px),
        (F.SECONDARY_EXEC_ID, trade_id),
        (F.LAST_LIQUIDITY_IND, "1" if maker else "2"),
        (F.COMMISSION, plain(Decimal(fee).scaleb(-BALANCE_DP))),
        (F.COMM_TYPE, "3"),
        (F.COMM_CURRENCY, asset.altname if asset is not None else fee_asset),
    ]


def report_msg(
    body: list[tuple[int, str]],
    leaves: str,
    cum: str,
    avg_px: str,
    ts: int,
    text: str | None,
    extra: list[tuple[int, str]] | None,
) -> Msg:
    """The ExecutionReport: `body`, then the quantities, the time, the text and any extra fields."""
    body += [
        (F.LEAVES_QTY, leaves),
        (F.CUM_QTY, cum),
        (F.AVG_PX, avg_px),
        (F.TRANSACT_TIME, fix_timestamp(ts)),
    ]
    if text:
        body.append((F.TEXT, text))
    if extra:
        body += extra
    return Msg([(35, "8"), *body])


def current_status(o: Order) -> str:
    """OrdStatus of an order now (OrderStatusRequest answers)."""
    if o.status == "pending":
        return F.OrdStatus.PENDING_NEW
    if o.status == "closed":
        return F.OrdStatus.FILLED if o.filled >= o.qty else F.OrdStatus.CANCELED
    if o.status == "canceled":
        return F.OrdStatus.CANCELED
    if o.status == "expired":
        return F.OrdStatus.EXPIRED
    return F.OrdStatus.PARTIALLY_FILLED if o.filled else F.OrdStatus.NEW
