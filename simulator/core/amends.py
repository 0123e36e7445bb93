"""An order's amend history (Kraken's `OrderAmends`): what the order looked
like when placed and after each amend.  Kept only for orders that were
amended, so a venue of never-amended orders pays nothing for it."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

from .orders import Order

ORIGINAL, USER, RESTATED = "original", "user", "restated"
AMENDS_KEEP = 1000  # newest amends kept per order (besides the original): core/retention.py's rule


@dataclass(frozen=True, slots=True)
class AmendRecord:
    """One version of an order (quantities in lots, prices in pair units)."""

    amend_id: str
    amend_type: str
    qty: int
    display: int
    remaining: int
    price: int | None
    trigger_price: int | None
    post_only: bool
    ts: int
    reason: str | None = None


def version(o: Order, amend_id: str, amend_type: str, ts: int, reason: str | None = None) -> AmendRecord:
    return AmendRecord(
        amend_id, amend_type, o.qty, o.display, max(o.qty - o.filled, 0), o.price, o.trigger_price, o.post_only, ts,
        reason,
    )  # fmt: skip


class AmendHistory:
    """order id -> its versions, oldest first."""

    def __init__(self) -> None:
        self.by_order: dict[str, list[AmendRecord]] = {}

    def record(self, order_id: str, original: AmendRecord, amended: AmendRecord) -> None:
        """An amend took effect; `original` is kept only on the first one."""
        versions = self.by_order.setdefault(order_id, [])
        if not versions:
            versions.append(original)
        versions.append(amended)
        # a resting order amended for a day (a market maker following the price) keeps its
        # original and its newest AMENDS_KEEP versions, cut in slices (amortised O(1))
        extra = len(versions) - 1 - AMENDS_KEEP
        if extra > (AMENDS_KEEP >> 3):
            del versions[1 : 1 + extra]

    def of(self, order_id: str) -> list[AmendRecord]:
        return self.by_order.get(order_id, [])

    def to_state(self) -> Any:
        """Versions never change once recorded: their records are built later (a Deferred)."""
        from .state import Deferred

        saved = {oid: list(versions) for oid, versions in self.by_order.items()}
        return Deferred(lambda: {oid: [list(astuple(r)) for r in versions] for oid, versions in saved.items()})

    def from_state(self, state: dict[str, Any]) -> None:
        self.by_order = {oid: [AmendRecord(*r) for r in versions] for oid, versions in state.items()}
