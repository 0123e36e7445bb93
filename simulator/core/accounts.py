"""Accounts, balances with holds, API keys and permissions.

Balances are integers in units of 10**-BALANCE_DP per asset id.  An account's
available balance is total minus what its open orders hold.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from .digest import StateHash, record
from .ids import IdGenerator, RenderedId
from .numbers import BALANCE_DP, fmt_units
from .state import Deferred, dec, enc

# Kraken's API-key permissions (names are ours; the set mirrors Kraken's UI).
QUERY_FUNDS = "query_funds"
DEPOSIT = "deposit"
WITHDRAW = "withdraw"
QUERY_OPEN = "query_open_orders_and_trades"
QUERY_CLOSED = "query_closed_orders_and_trades"
QUERY_LEDGER = "query_ledger"
EXPORT = "export_data"
CREATE_ORDERS = "create_and_modify_orders"
CANCEL_ORDERS = "cancel_and_close_orders"
WEBSOCKET = "websocket"
EARN = "earn"
ALL_PERMISSIONS = frozenset(
    {
        QUERY_FUNDS,
        DEPOSIT,
        WITHDRAW,
        QUERY_OPEN,
        QUERY_CLOSED,
        QUERY_LEDGER,
        EXPORT,
        CREATE_ORDERS,
        CANCEL_ORDERS,
        WEBSOCKET,
        EARN,
    }
)

# Kraken Futures keys have one General access level (No Access / Read Only /
# Full Access); ours is read off the key's permission names.
FUTURES_READ = frozenset({QUERY_FUNDS, QUERY_OPEN, QUERY_CLOSED, QUERY_LEDGER})


def futures_access(permissions: frozenset[str]) -> str:
    """`full` (create/modify orders), `read` (any query permission) or `none`."""
    if CREATE_ORDERS in permissions:
        return "full"
    return "read" if permissions & FUTURES_READ else "none"


TIERS = ("starter", "intermediate", "pro")


@dataclass
class ApiKey:
    key: str
    secret: str  # base64, as Kraken hands it out
    account_id: str
    kind: str = "spot"  # spot | futures | fix
    permissions: frozenset[str] = ALL_PERMISSIONS
    nonce_window: int = 0  # 0: strictly increasing
    otp: str | None = None
    last_nonce: int = 0
    seen_nonces: set[int] = field(default_factory=set)

    @property
    def secret_bytes(self) -> bytes:
        return base64.b64decode(self.secret)

    def accept_nonce(self, nonce: int) -> bool:
        """Kraken's rule: increasing, or within the key's window and unseen."""
        if nonce > self.last_nonce:
            if self.nonce_window:
                self.seen_nonces.add(nonce)
                floor = nonce - self.nonce_window
                self.seen_nonces = {n for n in self.seen_nonces if n > floor}
            self.last_nonce = nonce
            return True
        if self.nonce_window and nonce > self.last_nonce - self.nonce_window:
            if nonce in self.seen_nonces:
                return False
            self.seen_nonces.add(nonce)
            return True
        return False


class LedgerEntry:
    """A ledger entry, and the balance event that announces it.

    Its id is taken from the venue's id sequence when the entry is made but
    rendered only when read (most entries are never shown); `ref` is the
    refid text, or the `Fill` whose id it is."""

    __slots__ = ("_bits", "_id", "ref", "account_id", "time_ns", "type", "subtype", "asset", "amount", "fee", "balance")
    kind = "balance"
    id: str = RenderedId("L")  # type: ignore[assignment]

    def __init__(
        self,
        bits: int,
        ref: object,
        time_ns: int,
        type_: str,
        subtype: str,
        asset: str,
        amount: int,
        fee: int,
        balance: int,
        account_id: str = "",
    ) -> None:
        self._bits = bits
        self._id: str | None = None
        self.ref = ref
        self.time_ns = time_ns
        self.type = type_  # trade | deposit | withdrawal | transfer | adjustment | earn ...
        self.subtype = subtype
        self.asset = asset
        self.amount = amount  # balance units, signed
        self.fee = fee
        self.balance = balance  # after
        self.account_id = account_id

    @property
    def refid(self) -> str:
        r = self.ref
        return r if isinstance(r, str) else r.id  # type: ignore[attr-defined, no-any-return]

    @property
    def entry(self) -> LedgerEntry:
        """The event's ledger entry (itself: one object for both)."""
        return self

    def to_json(self) -> dict[str, object]:
        return {
            "kind": "balance",
            "account": self.account_id,
            "ledger_id": self.id,
            "refid": self.refid,
            "type": self.type,
            "asset": self.asset,
            "amount": self.amount,
            "fee": self.fee,
            "balance": self.balance,
            "ts": self.time_ns,
        }

    def __repr__(self) -> str:
        return f"LedgerEntry({self.id} {self.type} {self.asset} {self.amount} fee={self.fee} bal={self.balance})"


def _ledger_records(entries: list[LedgerEntry]) -> list[list[Any]]:
    out = []
    for e in entries:
        r = e.ref
        ref = r if isinstance(r, str) else {"fill": format(r._bits, "x")}  # type: ignore[attr-defined]
        out.append([format(e._bits, "x"), ref, e.time_ns, e.type, e.subtype, e.asset, e.amount, e.fee, e.balance,
                    e.account_id])  # fmt: skip
    return out


class Account:
    """One Kraken account (or subaccount): balances, holds, keys, settings."""

    __slots__ = (
        "id",
        "balances",
        "held",
        "tier",
        "volume_30d",
        "parent_id",
        "subaccounts",
        "keys",
        "ledger",
        "rate_limits_enabled",
        "futures",
        "name",
        "margin_enabled",
    )

    def __init__(self, account_id: str, tier: str = "intermediate", parent_id: str | None = None) -> None:
        self.id = account_id
        self.balances: dict[str, int] = {}
        self.held: dict[str, int] = {}
        self.tier = tier
        self.volume_30d = Decimal(0)
        self.parent_id = parent_id
        self.subaccounts: list[str] = []
        self.keys: list[ApiKey] = []
        self.ledger: list[LedgerEntry] = []
        self.rate_limits_enabled = True
        self.futures: dict[str, object] = {}  # the derivatives engine's per-account state
        self.name = account_id
        self.margin_enabled = False  # Kraken: margin needs verification, off by default

    def total(self, asset: str) -> int:
        return self.balances.get(asset, 0)

    def available(self, asset: str) -> int:
        return self.balances.get(asset, 0) - self.held.get(asset, 0)

    def hold(self, asset: str, units: int) -> None:
        self.held[asset] = self.held.get(asset, 0) + units

    def credit(self, asset: str, units: int) -> int:
        bal = self.balances.get(asset, 0) + units
        self.balances[asset] = bal
        return bal

    def balance_text(self, asset: str, decimals: int) -> str:
        units = self.balances.get(asset, 0)
        return fmt_units(units // 10 ** (BALANCE_DP - decimals), decimals) if decimals <= BALANCE_DP else "0"


class AccountRegistry:
    """All accounts and keys; the engines share one registry."""

    def __init__(self, ids: IdGenerator) -> None:
        self._ids = ids
        self.accounts: dict[str, Account] = {}
        self.keys: dict[str, ApiKey] = {}
        self._n = 0

    def create(self, tier: str = "intermediate", parent_id: str | None = None) -> Account:
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}")
        self._n += 1
        acct = Account(f"AA{self._n:02d}{self._ids.kraken_id('N')[1:5]}", tier, parent_id)
        self.accounts[acct.id] = acct
        if parent_id is not None:
            self.accounts[parent_id].subaccounts.append(acct.id)
        return acct

    def new_key(
        self,
        account: Account,
        kind: str = "spot",
        permissions: frozenset[str] = ALL_PERMISSIONS,
        nonce_window: int = 0,
        otp: str | None = None,
    ) -> ApiKey:
        # Kraken keys are 56 base64 chars; secrets are base64 of 64 bytes.
        key_text = base64.b64encode(self._ids.token(42)).decode()
        secret = base64.b64encode(self._ids.token(64)).decode()
        k = ApiKey(key_text, secret, account.id, kind, frozenset(permissions), nonce_window, otp)
        self.keys[key_text] = k
        account.keys.append(k)
        return k

    def get(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    def key(self, key: str) -> ApiKey | None:
        return self.keys.get(key)

    def digest(self) -> str:
        """Accounts (balances, holds, tier, settings, subaccounts), their
        ledgers entry by entry, their keys, and the id sequence.  Not the
        keys' nonces: a gateway checks them before a request becomes a
        command, so no journal holds them and no replay rebuilds them."""
        h = StateHash()
        h.add("registry", self._n, self._ids.state_digest(), sorted(self.keys))
        for aid in sorted(self.accounts):
            a = self.accounts[aid]
            h.add("account", record(a, skip=("keys", "ledger")))
            for k in a.keys:
                h.add("key", record(k, skip=("last_nonce", "seen_nonces")))
            for e in a.ledger:
                h.add("ledger", record(e, skip=("_id",)))
        return h.hexdigest()

    def to_state(self) -> dict[str, Any]:
        """Accounts, keys (with their nonces) and ledgers as plain records.
        A ledger entry's ref is its text, or `{"fill": bits}` for a Spot
        fill (the Spot engine links it back on load)."""
        accounts = []
        for a in self.accounts.values():
            ledger = Deferred(partial(_ledger_records, list(a.ledger)))  # entries never change: built off the loop
            accounts.append({
                "id": a.id, "balances": dict(a.balances), "held": dict(a.held), "tier": a.tier, "volume_30d": str(a.volume_30d),
                "parent_id": a.parent_id, "subaccounts": list(a.subaccounts), "keys": [k.key for k in a.keys],
                "ledger": ledger, "rate_limits_enabled": a.rate_limits_enabled, "futures": enc(a.futures),
                "name": a.name, "margin_enabled": a.margin_enabled,
            })  # fmt: skip
        keys = [
            [k.key, k.secret, k.account_id, k.kind, sorted(k.permissions), k.nonce_window, k.otp, k.last_nonce,
             sorted(k.seen_nonces)]
            for k in self.keys.values()
        ]  # fmt: skip
        return {"n": self._n, "ids": self._ids.to_state(), "keys": keys, "accounts": accounts}

    def from_state(self, state: dict[str, Any]) -> None:
        self._n = int(state["n"])
        self._ids.from_state(state["ids"])
        self.keys = {}
        for key, secret, aid, kind, perms, window, otp, last, seen in state["keys"]:
            self.keys[key] = ApiKey(key, secret, aid, kind, frozenset(perms), window, otp, last, set(seen))
        self.accounts = {}
        for d in state["accounts"]:
            a = Account(d["id"], d["tier"], d["parent_id"])
            a.balances = dict(d["balances"])
            a.held = dict(d["held"])
            a.volume_30d = Decimal(d["volume_30d"])
            a.subaccounts = list(d["subaccounts"])
            a.keys = [self.keys[k] for k in d["keys"]]
            a.ledger = [
                LedgerEntry(int(bits, 16), ref, ts, t, sub, asset, amount, fee, bal, acct)
                for bits, ref, ts, t, sub, asset, amount, fee, bal, acct in d["ledger"]
            ]
            a.rate_limits_enabled = bool(d["rate_limits_enabled"])
            a.futures = dec(d["futures"])
            a.name = d["name"]
            a.margin_enabled = bool(d.get("margin_enabled", False))
            self.accounts[a.id] = a
