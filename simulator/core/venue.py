"""The venue: clock, instruments, accounts, and every market as a peer.

Spot (engine + funding) and Derivatives each have their own engine and
sequencer; both are built here, so a journal replays into a bare `Venue`
with no gateway or server code loaded.  Admin actions that change state
(accounts, balances, status) are commands too, so the journal alone can
rebuild a run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from typing import Any

from . import amends, exports
from .accounts import ALL_PERMISSIONS, TIERS, Account, AccountRegistry, ApiKey
from .clock import VenueClock
from .commands import AmendRequest, EditRequest, OrderRequest
from .derivatives import HANDLERS as DERIVATIVES_HANDLERS
from .derivatives import FuturesConfig, FuturesEngine
from .engine import EngineConfig, SpotEngine
from .errors import EngineError, Reject
from .funding import FundingConfig, FundingState
from .ids import IdGenerator
from .instruments import InstrumentRegistry
from .limits import VenueLimits
from .orders import Origin
from .ratelimit import FuturesRateLimits, SpotRateLimits
from .sequencer import INTERNAL_ERROR, Journal, Sequencer
from .state import materialize
from .validation import check_command_with

DERIVATIVES_ADMIN = Origin("admin", "futures")
DERIVATIVES_ID_SALT = 0xF07  # the derivatives engine's ids are seeded apart from Spot's


@dataclass
class AccountCredentials:
    account: Account
    spot_key: ApiKey
    futures_key: ApiKey
    fix_key: ApiKey
    fix_sender_comp_id: str
    fix_target_comp_id: str = "KRAKEN-TRD"

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account.id,
            "api_key": self.spot_key.key,
            "api_secret": self.spot_key.secret,
            "futures_api_key": self.futures_key.key,
            "futures_api_secret": self.futures_key.secret,
            "fix": {
                "sender_comp_id": self.fix_sender_comp_id,
                "target_comp_id": self.fix_target_comp_id,
                "api_key": self.fix_key.key,
                "api_secret": self.fix_key.secret,
            },
        }


@dataclass
class VenueConfig:
    seed: int = 0
    clock_mode: str = "real"
    clock_start_ns: int | None = None
    engine: EngineConfig = field(default_factory=EngineConfig)
    instruments: dict[str, Any] | None = None  # instruments data; None: bundled defaults
    journal_max: int | None = None
    rate_limits: bool = True  # Kraken's limits on; switch off for load/property tests
    derivatives: FuturesConfig = field(default_factory=FuturesConfig)
    funding: FundingConfig = field(default_factory=FundingConfig)  # kept across resets (tests tune it)


# ---------------------------------------------------------------- handlers
def _add_order(eng: SpotEngine, origin: Origin, account_id: str, req: OrderRequest, batch: bool = False) -> Any:
    return eng.add_order(account_id, req, origin, batch=batch)


def _add_order_batch(
    eng: SpotEngine, origin: Origin, account_id: str, reqs: list[OrderRequest], validate: bool = False
) -> Any:
    return eng.add_order_batch(account_id, reqs, origin, validate)


def _amend_order(eng: SpotEngine, origin: Origin, account_id: str, req: AmendRequest) -> Any:
    """Amend in place, keeping the order's versions for OrderAmends."""
    cl = req.cl_ord_id
    target = eng.cl_ids.get((account_id, cl)) if cl is not None else eng.orders.get(req.order_id or "")
    before = amends.version(target, "", amends.ORIGINAL, target.opened_ns) if target is not None else None
    o, amend_id = eng.amend_order(account_id, req)
    if before is not None:
        history = eng.amend_history
        original = before if history.of(o.id) else replace(before, amend_id=eng.ids.trade_id())
        history.record(o.id, original, amends.version(o, amend_id, amends.USER, eng.now_ns))
    return o, amend_id


def _add_export(
    eng: SpotEngine,
    origin: Origin,
    account_id: str,
    report: str,
    description: str,
    format: str = "CSV",
    fields: list[str] | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> exports.ExportReport:
    eng.account(account_id)
    req = exports.ExportRequest(report, description, format, tuple(fields or ()), start_ns, end_ns)
    start = start_ns if start_ns is not None else exports.month_start_ns(eng.now_ns)
    end = end_ns if end_ns is not None else eng.now_ns
    taken = {r.id for r in eng.exports.of(account_id)}
    rid = exports.report_id(eng.ids.reserve())
    while rid in taken:
        rid = exports.report_id(eng.ids.reserve())
    rep = exports.ExportReport(rid, account_id, req, eng.now_ns, start, max(start, end))
    eng.exports.add(rep)
    return rep


def _remove_export(eng: SpotEngine, origin: Origin, account_id: str, report_id: str) -> exports.ExportReport:
    return eng.exports.remove(account_id, report_id)


def _edit_order(eng: SpotEngine, origin: Origin, account_id: str, req: EditRequest) -> Any:
    return eng.edit_order(account_id, req, origin)


def _cancel_order(eng: SpotEngine, origin: Origin, account_id: str, **kw: Any) -> Any:
    return eng.cancel_order(account_id, **kw)


def _cancel_all(eng: SpotEngine, origin: Origin, account_id: str, **kw: Any) -> Any:
    return eng.cancel_all(account_id, **kw)


def _cancel_all_after(eng: SpotEngine, origin: Origin, account_id: str, timeout: int) -> Any:
    return eng.cancel_all_after(account_id, timeout)


def _after_spot(eng: SpotEngine) -> None:
    """After each Spot command: margin levels of the accounts it moved (calls,
    liquidation).  Most commands move none: that is decided here, without a call."""
    m = eng.margin
    if m.emptied or m.touched_pairs or m.touched_accounts:
        m.after_command()


def _tick(eng: SpotEngine, origin: Origin) -> None:
    eng.on_time()


def _set_status(eng: SpotEngine, origin: Origin, status: str) -> None:
    eng.set_status(status)


def _set_index_price(eng: SpotEngine, origin: Origin, pair: str, price: Decimal) -> None:
    eng.set_index_price(pair, price)


def _adjust_balance(eng: SpotEngine, origin: Origin, account_id: str, asset: str, amount: Decimal, type: str = "deposit") -> int:
    return eng.adjust_balance(account_id, asset, amount, type)


def _transfer(eng: SpotEngine, origin: Origin, from_id: str, to_id: str, asset: str, amount: Decimal) -> None:
    eng.transfer(from_id, to_id, asset, amount)


def _set_tier(
    eng: SpotEngine,
    origin: Origin,
    account_id: str,
    tier: str | None = None,
    volume_30d: Decimal | None = None,
    rate_limits: bool | None = None,
    margin: bool | None = None,
) -> None:
    """Fee tier, 30-day volume, whether the account's rate limits apply and
    whether it may trade on margin (a command, so a replay rebuilds the same
    refusals and ids)."""
    acct = eng.account(account_id)
    if tier is not None:
        if tier not in TIERS:
            raise EngineError(Reject.INVALID_ARGUMENTS, "tier")
        acct.tier = tier
    if volume_30d is not None:
        acct.volume_30d = volume_30d
    if rate_limits is not None:
        acct.rate_limits_enabled = bool(rate_limits)
    if margin is not None:
        acct.margin_enabled = bool(margin)


SPOT_HANDLERS: dict[str, Any] = {
    "add_order": _add_order,
    "add_order_batch": _add_order_batch,
    "amend_order": _amend_order,
    "add_export": _add_export,
    "remove_export": _remove_export,
    "edit_order": _edit_order,
    "cancel_order": _cancel_order,
    "cancel_all": _cancel_all,
    "cancel_all_after": _cancel_all_after,
    "tick": _tick,
    "set_status": _set_status,
    "set_index_price": _set_index_price,
    "adjust_balance": _adjust_balance,
    "transfer": _transfer,
    "set_tier": _set_tier,
}


class Venue:
    """One simulated Kraken: shared accounts, one engine+sequencer per market."""

    def __init__(self, config: VenueConfig | None = None, clock: VenueClock | None = None) -> None:
        self.config = config or VenueConfig()
        self.clock = clock or VenueClock(self.config.clock_mode, self.config.clock_start_ns)
        self._build()

    def _build(self) -> None:
        cfg = self.config
        self.ids = IdGenerator(cfg.seed)
        self.instruments = (
            InstrumentRegistry.from_data(cfg.instruments) if cfg.instruments else InstrumentRegistry.default()
        )
        self.accounts = AccountRegistry(IdGenerator(cfg.seed + 1))
        self.journal = Journal(cfg.journal_max)
        # ---- Spot: engine, funding, rate limits, one sequencer
        self.spot = SpotEngine(self.instruments, self.accounts, self.ids, cfg.engine)
        self.ratelimits = SpotRateLimits(self.accounts)
        self.ratelimits.enabled = cfg.rate_limits
        self.ratelimits.open_counter = lambda a, p: self.spot.open_count.get((a, p), 0)  # type: ignore[attr-defined]
        self.spot.admission = self.ratelimits.admission
        self.funding = FundingState(self.spot, cfg.funding, self._create_subaccount)
        self.spot.margin.pending = self.funding.pending_withdrawals
        self.spot_seq = Sequencer("spot", self.spot, self.clock, self.journal)
        self.spot_seq.after = _after_spot
        # the order-entry rules, with the ones that need the instruments (a leverage the pair does not offer)
        self.spot_seq.guard = partial(check_command_with, self.instruments)
        for kind, fn in SPOT_HANDLERS.items():
            self.spot_seq.register(kind, fn)
        self.spot_seq.register("create_account", self._create_account_cmd)
        for kind, fn in self.funding.handlers().items():
            self.spot_seq.register(kind, fn)
        # ---- Derivatives: engine, rate limits, one sequencer ("futures" in the journal)
        self.derivatives = FuturesEngine(
            self.instruments, self.accounts, IdGenerator(cfg.seed + DERIVATIVES_ID_SALT), cfg.derivatives
        )
        self.futures_ratelimits = FuturesRateLimits(self.accounts)
        self.futures_ratelimits.enabled = cfg.rate_limits
        self.derivatives_seq = Sequencer("futures", self.derivatives, self.clock, self.journal)
        for kind, fn in DERIVATIVES_HANDLERS.items():
            self.derivatives_seq.register(kind, fn)
        self.sequencers: dict[str, Sequencer] = {"spot": self.spot_seq, "futures": self.derivatives_seq}
        self.limits = VenueLimits(self.accounts, self.clock, self.ratelimits, self.futures_ratelimits)
        self.credentials: dict[str, AccountCredentials] = {}
        # per-venue state of protocol edges (nonce books, spread history): not markets,
        # but saved with the venue when it has to_state()/from_state() and rebuilt on reset
        self.extensions: dict[str, Any] = {}

    @contextmanager
    def quiesced(self, timeout: float = -1) -> Iterator[None]:
        """Every sequencer held: no command runs until the block ends (snapshots).
        Raises TimeoutError when one stays busy longer than `timeout` seconds."""
        with ExitStack() as stack:
            for seq in self.sequencers.values():
                stack.enter_context(seq.exclusive(timeout))
            yield

    def deposit_derivatives(self, account_id: str, asset: str, amount: Decimal, origin: Origin | None = None) -> int:
        """Credit derivatives collateral (a command on the derivatives sequencer)."""
        result: int = self.derivatives_seq.submit(
            "deposit", origin or DERIVATIVES_ADMIN, {"account_id": account_id, "asset": asset, "amount": Decimal(amount)}
        )
        return result

    # ------------------------------------------------------------ accounts
    def _create_account_cmd(
        self,
        eng: SpotEngine,
        origin: Origin,
        balances: dict[str, Decimal] | None = None,
        tier: str = "intermediate",
        parent_id: str | None = None,
        nonce_window: int = 0,
        permissions: list[str] | None = None,
        rate_limits: bool = True,
        margin: bool = False,
    ) -> AccountCredentials:
        if parent_id is not None and self.accounts.get(parent_id) is None:
            raise EngineError(Reject.INVALID_ARGUMENTS, "parent")
        if tier not in TIERS:
            raise EngineError(Reject.INVALID_ARGUMENTS, "tier")
        for asset in (balances or {}):
            if self.instruments.asset(asset) is None:
                raise EngineError(Reject.UNKNOWN_ASSET, asset)
        for name in permissions or ():  # a misspelt permission would silently make a key without it
            if name not in ALL_PERMISSIONS:
                raise EngineError(
                    Reject.INVALID_ARGUMENTS,
                    f"permissions: unknown permission {name!r} (known: {', '.join(sorted(ALL_PERMISSIONS))})",
                )
        acct = self.accounts.create(tier, parent_id)
        acct.rate_limits_enabled = rate_limits
        acct.margin_enabled = bool(margin)
        perms = frozenset(permissions) if permissions is not None else ALL_PERMISSIONS
        spot_key = self.accounts.new_key(acct, "spot", perms, nonce_window)
        fut_key = self.accounts.new_key(acct, "futures", perms, nonce_window)
        fix_key = self.accounts.new_key(acct, "fix", perms, nonce_window)
        creds = AccountCredentials(acct, spot_key, fut_key, fix_key, f"CLIENT-{acct.id}")
        self.credentials[acct.id] = creds
        for asset, amount in (balances or {}).items():
            eng.adjust_balance(acct.id, asset, amount, "deposit")
        return creds

    def _create_subaccount(self, eng: SpotEngine, origin: Origin, parent_id: str, tier: str) -> Account:
        """Funding's CreateSubaccount: an account (with keys) inside the running command."""
        return self._create_account_cmd(eng, origin, None, tier, parent_id).account

    def create_account(
        self,
        balances: dict[str, Decimal | str] | None = None,
        tier: str = "intermediate",
        parent_id: str | None = None,
        nonce_window: int = 0,
        permissions: Iterable[str] | None = None,
        origin: Origin | None = None,
        rate_limits: bool = True,
        margin: bool = False,
    ) -> AccountCredentials:
        params: dict[str, Any] = {
            "rate_limits": rate_limits,
            "balances": {k: Decimal(str(v)) for k, v in (balances or {}).items()},
            "tier": tier,
            "parent_id": parent_id,
            "nonce_window": nonce_window,
            "permissions": sorted(permissions) if permissions is not None else None,
        }
        if margin:  # only when on: journals of accounts without it replay as before
            params["margin"] = True
        creds: AccountCredentials = self.spot_seq.submit("create_account", origin or Origin("admin"), params)
        return creds

    # ---------------------------------------------------------------- misc
    def reset(self) -> None:
        """Back to the configured scenario: fresh engines, accounts, journal."""
        self._build()

    def replay(self, commands: Iterable[dict[str, Any]]) -> int:
        """Re-run journaled commands (as Journal.read_commands yields them)."""
        n = 0
        for c in commands:
            seq = self.sequencers[c["engine"]]
            origin = Origin(c.get("protocol", "admin"), c.get("session", ""), c.get("account", ""))
            try:
                seq.submit(c["command"], origin, c["params"], ts=c["ts"])
            except EngineError:
                pass
            except Exception:
                # a command that failed inside the engine when it ran fails the same way
                # again: that reproduces the recorded outcome, it is no reason to stop
                if c.get("error") != INTERNAL_ERROR:
                    raise
            n += 1
        return n

    def state_digest(self) -> str:
        """A fingerprint of everything a replay must reproduce.  Each owner
        hashes its own state: the id sequence, the accounts with their
        ledgers, the Spot engine with its books and timers, the rate
        counters, and every other market (derivatives, funding)."""
        h = hashlib.sha256()
        h.update(f"ids|{self.ids.state_digest()}".encode())
        h.update(f"accounts|{self.accounts.digest()}".encode())
        h.update(f"spot|{self.spot.state_digest()}".encode())
        h.update(f"ratelimits|{self.ratelimits.digest()}".encode())
        for aid in sorted(self.credentials):
            c = self.credentials[aid]
            h.update(f"credentials|{aid}|{c.fix_sender_comp_id}|{c.fix_target_comp_id}".encode())
        h.update(f"futures|{self.derivatives.state_digest()}".encode())
        h.update(f"spot_funding|{self.funding.state_digest()}".encode())
        return h.hexdigest()

    # ------------------------------------------------------------ snapshots
    def to_state(self) -> dict[str, Any]:
        """Everything a restart must bring back, as plain records composed
        from each owner's `to_state()` (JSON-able: no live objects).  Not the
        wiring every start rebuilds from the config: clock, instruments,
        sequencers, handlers, hooks.  Call between commands (`quiesced()`)."""
        return materialize(self.capture_state())  # type: ignore[no-any-return]

    def capture_state(self) -> dict[str, Any]:
        """`to_state()` with its history parts still `Deferred`: live state
        is recorded now, history (closed orders, fills, ledgers, trades) only
        referenced, its records built when written.  Taken with the
        sequencers held; the history parts may then be built on any thread,
        as commands go on (they only read objects no command changes)."""
        return {
            "ids": self.ids.to_state(),
            "accounts": self.accounts.to_state(),
            "spot": self.spot.to_state(),
            "funding": self.funding.to_state(),
            "ratelimits": self.ratelimits.to_state(),
            "derivatives": self.derivatives.to_state(),
            "derivatives_ids": self.derivatives.ids.to_state(),
            "futures_ratelimits": self.futures_ratelimits.to_state(),
            "credentials": [
                [c.account.id, c.spot_key.key, c.futures_key.key, c.fix_key.key, c.fix_sender_comp_id,
                 c.fix_target_comp_id] for c in self.credentials.values()
            ],
            "journal": self.journal.to_state(),
            "extensions": {
                name: ext.to_state() for name, ext in self.extensions.items() if hasattr(ext, "to_state")
            },
        }  # fmt: skip

    def from_state(self, state: dict[str, Any]) -> None:
        """Load `to_state()` into this freshly built venue (same config and
        seed).  Owners are loaded in dependency order: ids and accounts (with
        ledgers) first, then the engines that refer to them."""
        self.ids.from_state(state["ids"])
        self.accounts.from_state(state["accounts"])
        self.spot.from_state(state["spot"])
        self.funding.from_state(state["funding"])
        self.ratelimits.from_state(state["ratelimits"])
        self.derivatives.ids.from_state(state["derivatives_ids"])
        self.derivatives.from_state(state["derivatives"])
        self.futures_ratelimits.from_state(state["futures_ratelimits"])
        keys = self.accounts.keys
        self.credentials = {}
        for aid, spot, fut, fix, sender, target in state["credentials"]:
            acct = self.accounts.accounts[aid]
            self.credentials[aid] = AccountCredentials(acct, keys[spot], keys[fut], keys[fix], sender, target)
        self.journal.from_state(state["journal"])
        for name, saved in state["extensions"].items():
            ext = self.extensions.get(name)
            if ext is not None and hasattr(ext, "from_state"):
                ext.from_state(saved)
