"""Retention: how much finished history the venue keeps in memory.

A sidecar left running for a day must not grow without end, so closed
orders, fills, ledger entries and public trades past the policy leave
memory.  What stays is, per account (per pair for public trades), the
newest `keep` items, and (if `max_age_ns` is set) only those younger than
that.  Queries answer from what is retained, as if nothing older existed;
with a state directory the journal on disk still holds every command.

Pruning is part of the engine's own command path: a history list is cut
when an append takes it past its bound by a slack of an eighth (amortised
O(1) per append, never a scan of history), and the decision depends only
on the list and the command's venue time.  So a replay of the journal cuts
at exactly the same places, and the state digest, which hashes what is
retained, matches without excluding anything.

Every cut goes through `Retention.cut`, which counts what each list lost
(`dropped`): an index holding positions into a list rebases with it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from simulator.core.clock import NS_PER_S

T = TypeVar("T")
DAY_NS = 86_400 * NS_PER_S

DEFAULT_KEEP = 10_000  # per account: closed orders, fills, ledger entries (Kraken pages 50 at a time)
DEFAULT_TRADES_KEEP = 10_000  # per pair: public trades (Trades answers up to 1000 per call, WS snapshots 50)


@dataclass(frozen=True)
class RetentionPolicy:
    """`keep`: newest items kept per account and history (None: all);
    `trades_keep`: newest public trades kept per pair (None: all);
    `max_age_ns`: also drop what is older than this (None: no age limit)."""

    keep: int | None = DEFAULT_KEEP
    trades_keep: int | None = DEFAULT_TRADES_KEEP
    max_age_ns: int | None = None

    def __post_init__(self) -> None:
        for name in ("keep", "trades_keep", "max_age_ns"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ValueError(f"retention {name} must be a positive integer or unset")

    @classmethod
    def unbounded(cls) -> RetentionPolicy:
        return cls(None, None, None)

    @classmethod
    def from_days(cls, keep: int | None, trades_keep: int | None, days: float | None) -> RetentionPolicy:
        age = None if days is None or days <= 0 else int(days * DAY_NS)
        return cls(keep, trades_keep, age)


@dataclass
class Retention:
    """The policy applied to an engine's append-only history lists."""

    policy: RetentionPolicy = field(default_factory=RetentionPolicy)
    dropped: dict[Hashable, int] = field(default_factory=dict)  # list key -> items cut off its front
    on_cut: Callable[[Hashable, int], None] | None = None  # an index that must rebase (optional)

    def floor(self, trades: bool = False) -> int:
        """Lists no longer than this need no look (the engine's fast path)."""
        pol = self.policy
        keep = pol.trades_keep if trades else pol.keep
        if pol.max_age_ns is not None:
            return 0
        return 1 << 62 if keep is None else keep + (keep >> 3)

    def due(self, items: list[T], now_ns: int, ts: Callable[[T], int], trades: bool = False) -> int:
        """How many of the oldest `items` (time ordered) should leave now:
        none until the list is past its bound by the slack (or its oldest
        item is past the age horizon by the slack), then back to the bound."""
        pol = self.policy
        keep = pol.trades_keep if trades else pol.keep
        n = len(items)
        cut = 0
        if keep is not None and n > keep + (keep >> 3):
            cut = n - keep
        age = pol.max_age_ns
        if age is not None and n and ts(items[0]) < now_ns - age - (age >> 3):
            cut = max(cut, bisect_left(items, now_ns - age, key=ts))
        return cut

    def appended(self, key: Hashable, items: list[T], now_ns: int, ts: Callable[[T], int], trades: bool = False) -> int:
        """Call after appending to `items`: cuts what is `due`.  Returns how
        many items left."""
        cut = self.due(items, now_ns, ts, trades)
        if cut:
            self.cut(key, items, cut)
        return cut

    def cut(self, key: Hashable, items: list[Any], n: int) -> None:
        del items[:n]
        self.dropped[key] = self.dropped.get(key, 0) + n
        if self.on_cut is not None:
            self.on_cut(key, n)

    def digest_state(self) -> dict[str, int]:
        """What a replay must reproduce (the counts cut per list)."""
        return {repr(k): v for k, v in sorted(self.dropped.items(), key=lambda kv: repr(kv[0]))}


def unpin_fills(fills: list[Any], n: int) -> None:
    """The oldest `n` fills are leaving their account's list: they leave their
    orders' `trades` too.  A retained closed order held every fill it ever
    had (a resting maker order fills piece by piece: thousands), and those
    their ledger entries, so the fills list's bound bounded nothing.  Each
    order's fills are in time order, as the account's are: the ones leaving
    are the front of its list.  Queries already answer as if they never were."""
    for o, k in Counter(f.order for f in fills[:n]).items():  # orders hash by identity
        if o.trades:
            del o.trades[:k]


def bound(items: list[Any], keep: int) -> int:
    """Cut `items` back to its newest `keep` once it is an eighth past that
    (amortised O(1) per append); returns how many left."""
    n = len(items) - keep
    if n > (keep >> 3):
        del items[:n]
        return n
    return 0


def summary(eng: Any) -> dict[str, Any]:
    """What the Spot engine retains, per history kind: lists, items kept, items
    cut, and lists already cut back at least once (at their bound: flat from
    then on).  For GET /admin/retention and the soak benchmark (O(accounts))."""
    r: Retention = eng.retention
    pol = r.policy
    lists: dict[str, dict[Hashable, list[Any]]] = {
        "closed": eng.closed_orders,
        "fills": eng.fills,
        "ledger": {a.id: a.ledger for a in eng.accounts.accounts.values() if a.ledger},
        "trades": {p: t for p, t in eng.trades.items() if t},
    }
    out: dict[str, Any] = {
        "policy": {"keep": pol.keep, "trades_keep": pol.trades_keep, "max_age_ns": pol.max_age_ns},
    }
    for kind, by_key in lists.items():
        cut = [k for k in by_key if r.dropped.get((kind, k))]
        out[kind] = {
            "lists": len(by_key),
            "kept": sum(len(v) for v in by_key.values()),
            "dropped": sum(r.dropped.get((kind, k), 0) for k in by_key),
            "at_bound": len(cut),
            "at_bound_keys": sorted(str(k) for k in cut),
        }
    return out
