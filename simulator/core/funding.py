"""Funding, Earn and subaccount state behind Kraken's funding endpoints.

Pure domain, no I/O.  Every change is a command on the spot sequencer (the
REST gateway registers `FundingState.handlers()` there), so deposits
addresses, withdrawals, wallet and subaccount transfers and Earn allocations
are journaled and a replay rebuilds them.  Balances move only through the
spot engine's ledger, so Balance/Ledgers/WS balance feeds all agree.

Withdrawals are real two-step state: the request reserves the amount (it is
no longer available to trade), and a venue-clock timer settles it
`FundingConfig.withdraw_delay_s` later (debit + ledger entry), unless the
client cancels first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .accounts import Account
from .addresses import make_address
from .clock import NS_PER_S
from .digest import StateHash, record
from .errors import EngineError, Reject
from .instruments import Asset
from .numbers import BALANCE_DP, to_units
from .orders import Origin

FIAT_ALTNAMES = frozenset({"USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD"})
WITHDRAW_TIMER = "funding_withdraw"
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class FundingError(EngineError):
    """A funding/earn rejection with its own Kraken string (EFunding:*, EEarnings:*)."""

    def __init__(self, text: str) -> None:
        self.code = Reject.INVALID_ARGUMENTS
        self.detail = None
        self._text = text
        Exception.__init__(self, text)

    @property
    def text(self) -> str:
        return self._text


E_UNKNOWN_ASSET = "EFunding:Unknown asset"
E_UNKNOWN_KEY = "EFunding:Unknown withdraw key"
E_INVALID_AMOUNT = "EFunding:Invalid amount"
E_FUNDS = "EFunding:Insufficient funds"
E_MAX_FEE = "EFunding:Max fee exceeded"
E_NO_METHOD = "EFunding:No funding method"
E_UNKNOWN_REFERENCE = "EFunding:Unknown reference id"
E_EARN_MIN = "EEarnings:Below min:(De)allocation operation amount less than minimum"
E_EARN_FUNDS = "EEarnings:Insufficient funds:Insufficient funds to complete the (de)allocation request"
E_EARN_STRATEGY = "EGeneral:Invalid arguments:Invalid strategy ID"


@dataclass(frozen=True)
class Method:
    """A deposit/withdraw funding method of one asset."""

    name: str
    network: str
    fee: Decimal
    minimum: Decimal
    style: str  # address style: a key of addresses.STYLES (btc, eth, sol, ...) or bank

    @property
    def gen_address(self) -> bool:
        return self.style != "bank"


DEFAULT_METHODS: dict[str, Method] = {
    "XXBT": Method("Bitcoin", "Bitcoin", Decimal("0.00015"), Decimal("0.0005"), "btc"),
    "XETH": Method("Ether", "Ethereum", Decimal("0.0035"), Decimal("0.004"), "eth"),
    "SOL": Method("Solana", "Solana", Decimal("0.0025"), Decimal("0.05"), "sol"),
    "XXDG": Method("Dogecoin", "Dogecoin", Decimal("4"), Decimal("50"), "doge"),
    "USDT": Method("Tether USD (ERC20)", "Ethereum", Decimal("2.5"), Decimal("10"), "eth"),
    "USDC": Method("USDC", "Ethereum", Decimal("2.5"), Decimal("10"), "eth"),
    "ZUSD": Method("Bank Frick (Wire)", "", Decimal("5"), Decimal("10"), "bank"),
    "ZEUR": Method("Bank Frick (SEPA)", "", Decimal("0.35"), Decimal("1"), "bank"),
    "ZGBP": Method("Clear Junction (FPS)", "", Decimal("0"), Decimal("1"), "bank"),
    "ZCAD": Method("Etana (Wire)", "", Decimal("10"), Decimal("20"), "bank"),
    "ZJPY": Method("SBI Sumishin Net Bank (Domestic)", "", Decimal("330"), Decimal("1000"), "bank"),
    "XXRP": Method("Ripple XRP", "Ripple", Decimal("0.2"), Decimal("10"), "xrp"),
    "ADA": Method("ADA", "Cardano", Decimal("0.15"), Decimal("1"), "ada"),
    "DOT": Method("Polkadot", "Polkadot", Decimal("0.05"), Decimal("1"), "dot"),
    "XXLM": Method("Stellar XLM", "Stellar", Decimal("0.00002"), Decimal("1"), "xlm"),
    "LINK": Method("Chainlink (ERC20)", "Ethereum", Decimal("0.25"), Decimal("0.5"), "eth"),
    "XLTC": Method("Litecoin", "Litecoin", Decimal("0.0001"), Decimal("0.01"), "ltc"),
    "BCH": Method("Bitcoin Cash", "Bitcoin Cash", Decimal("0.0001"), Decimal("0.01"), "bch"),
    "AVAX": Method("AVAX C-Chain", "Avalanche C-Chain", Decimal("0.005"), Decimal("0.1"), "eth"),
    "ATOM": Method("Cosmos", "Cosmos", Decimal("0.005"), Decimal("0.1"), "atom"),
    "UNI": Method("Uniswap (ERC20)", "Ethereum", Decimal("0.5"), Decimal("1"), "eth"),
    "AAVE": Method("Aave (ERC20)", "Ethereum", Decimal("0.02"), Decimal("0.05"), "eth"),
    "TRX": Method("Tron", "Tron", Decimal("1"), Decimal("25"), "trx"),
    "XXMR": Method("Monero", "Monero", Decimal("0.0001"), Decimal("0.01"), "xmr"),
    "XETC": Method("Ether Classic", "Ethereum Classic", Decimal("0.01"), Decimal("0.1"), "eth"),
    "ALGO": Method("Algorand", "Algorand", Decimal("0.01"), Decimal("1"), "algo"),
    "SHIB": Method("Shiba Inu (ERC20)", "Ethereum", Decimal("400000"), Decimal("800000"), "eth"),
    "POL": Method("Polygon", "Polygon", Decimal("0.05"), Decimal("1"), "eth"),
    "NEAR": Method("NEAR Protocol", "NEAR", Decimal("0.01"), Decimal("0.1"), "near"),
    "SUI": Method("Sui", "Sui", Decimal("0.01"), Decimal("0.1"), "sui"),
    # xStocks are SPL tokens on Solana
    "AAPLx": Method("AAPLx (SPL)", "Solana", Decimal("0.001"), Decimal("0.01"), "sol"),
    "TSLAx": Method("TSLAx (SPL)", "Solana", Decimal("0.001"), Decimal("0.01"), "sol"),
    "NVDAx": Method("NVDAx (SPL)", "Solana", Decimal("0.001"), Decimal("0.01"), "sol"),
    "SPYx": Method("SPYx (SPL)", "Solana", Decimal("0.001"), Decimal("0.01"), "sol"),
}


@dataclass
class FundingConfig:
    withdraw_delay_s: float = 5.0  # venue seconds from Withdraw to settlement
    methods: dict[str, Method] = field(default_factory=lambda: dict(DEFAULT_METHODS))
    earn_apr: tuple[str, str] = ("1.0000", "4.0000")


@dataclass
class Address:
    address: str
    expiretm: str = "0"
    tag: str | None = None


@dataclass(frozen=True)
class WithdrawKey:
    key: str
    asset: str
    method: str
    network: str
    address: str


@dataclass
class Withdrawal:
    refid: str
    account_id: str
    asset: str
    method: Method
    key: str
    address: str
    amount: int  # balance units the recipient gets
    fee: int  # balance units
    time_ns: int
    status: str = "Initial"  # Initial | Pending | Success | Failure
    status_prop: str | None = None  # cancel-pending | canceled | onhold ...
    txid: str = ""
    reserved: int = 0  # balance units held until settlement

    @property
    def open(self) -> bool:
        return self.status in ("Initial", "Pending")


@dataclass(frozen=True)
class Strategy:
    id: str
    asset: str  # asset id
    min_allocation: Decimal
    yield_source: str  # staking | opt_in_rewards


def is_fiat(asset: Asset) -> bool:
    return asset.altname in FIAT_ALTNAMES


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("|".join(parts).encode()).digest()


def _b32(data: bytes, n: int) -> str:
    bits = int.from_bytes(data, "big")
    out = []
    for _ in range(n):
        out.append(_B32[bits & 31])
        bits >>= 5
    return "".join(out)


def strategy_id(asset_id: str) -> str:
    body = "ES" + _b32(_digest("earn", asset_id), 15)
    return f"{body[:7]}-{body[7:12]}-{body[12:17]}"


class FundingState:
    """Per-venue funding facts.  Handlers run inside the spot sequencer."""

    def __init__(
        self,
        engine: Any,
        config: FundingConfig | None = None,
        create_account: Callable[[Any, Origin, str, str], Account] | None = None,
    ) -> None:
        self.config = config or FundingConfig()
        self.instruments = engine.instruments
        self.accounts = engine.accounts
        # an account a request names: the Spot engine's lookup (unknown: permission denied)
        self.account: Callable[[str], Account] = engine.account
        self._create_account = create_account
        self.addresses: dict[tuple[str, str], list[Address]] = {}
        self.withdrawals: dict[str, Withdrawal] = {}
        self.allocations: dict[tuple[str, str], int] = {}  # (account, strategy) -> balance units
        self.subaccount_names: dict[str, str] = {}  # subaccount id -> username
        self._strategies = {
            s.id: s
            for s in (
                Strategy(
                    strategy_id(a.id),
                    a.id,
                    Decimal(1).scaleb(-min(a.display_decimals, 4)),
                    "opt_in_rewards" if a.altname.startswith("USD") else "staking",
                )
                for a in self.instruments.assets.values()
                if not is_fiat(a)
            )
        }
        engine.timer_handlers[WITHDRAW_TIMER] = lambda ref: self._settle(engine, ref)

    # ------------------------------------------------------------ helpers
    def asset(self, name: str) -> Asset:
        a = self.instruments.asset(name)
        if a is None:
            raise FundingError(E_UNKNOWN_ASSET)
        return a

    def method(self, asset: Asset) -> Method:
        m = self.config.methods.get(asset.id)
        if m is None:
            m = Method(asset.altname, asset.altname, Decimal(0), Decimal(0), "generic")
        return m

    @staticmethod
    def _units(amount: Decimal, error: str = E_INVALID_AMOUNT) -> int:
        units = to_units(amount, BALANCE_DP)
        if units is None or units <= 0:
            raise FundingError(error)
        return units

    def units_for(self, asset: Asset, amount: Decimal) -> int:
        """Client amount -> balance units; more decimals than the asset has is invalid."""
        if to_units(amount, asset.decimals) is None:
            raise FundingError(E_INVALID_AMOUNT)
        return self._units(amount)

    # ---------------------------------------------------------- read side
    def withdraw_keys(self, account_id: str) -> list[WithdrawKey]:
        """Every account has one verified withdrawal key per asset (set up 'in the UI')."""
        out = []
        for a in self.instruments.assets.values():
            m = self.method(a)
            suffix = "bank" if not m.gen_address else "wallet"
            out.append(
                WithdrawKey(
                    f"{a.display.lower()}-{suffix}",
                    a.id,
                    m.name,
                    m.network,
                    make_address(m.style, "wd", account_id, a.id),
                )
            )
        return out

    def key(self, account_id: str, asset: Asset, name: str) -> WithdrawKey:
        for k in self.withdraw_keys(account_id):
            if k.asset == asset.id and k.key == name:
                return k
        raise FundingError(E_UNKNOWN_KEY)

    def pending_withdrawals(self, account_id: str, asset_id: str) -> int:
        return sum(
            w.reserved
            for w in self.withdrawals.values()
            if w.account_id == account_id and w.asset == asset_id and w.open
        )

    def account_withdrawals(self, account_id: str) -> list[Withdrawal]:
        return [w for w in self.withdrawals.values() if w.account_id == account_id]

    def strategies(self) -> list[Strategy]:
        return list(self._strategies.values())

    def strategy(self, sid: str) -> Strategy:
        s = self._strategies.get(sid)
        if s is None:
            raise FundingError(E_EARN_STRATEGY)
        return s

    def allocated(self, account_id: str, sid: str) -> int:
        return self.allocations.get((account_id, sid), 0)

    def deposit_txid(self, refid: str) -> str:
        return _digest("deposit", refid).hex()

    # ------------------------------------------------------------ commands
    def new_address(self, engine: Any, account_id: str, asset_name: str, method: str | None) -> Address:
        """DepositAddresses with new=true: one more address for the method."""
        self.account(account_id)
        a = self.asset(asset_name)
        m = self.method(a)
        if (method is not None and method != m.name) or not m.gen_address:
            raise FundingError(E_NO_METHOD)
        lst = self.addresses.setdefault((account_id, a.id), [])
        addr = Address(make_address(m.style, "dep", account_id, a.id, str(len(lst))))
        lst.append(addr)
        return addr

    def withdraw(
        self,
        engine: Any,
        account_id: str,
        asset_name: str,
        key: str,
        amount: Decimal,
        max_fee: Decimal | None = None,
        address: str | None = None,
    ) -> Withdrawal:
        acct = self.account(account_id)
        a = self.asset(asset_name)
        k = self.key(account_id, a, key)
        if address is not None and address != k.address:
            raise FundingError(E_UNKNOWN_KEY)
        m = self.method(a)
        total = self.units_for(a, amount)
        fee = self._units(m.fee) if m.fee > 0 else 0
        if max_fee is not None and m.fee > max_fee:
            raise FundingError(E_MAX_FEE)
        if amount < m.minimum or total <= fee:
            raise FundingError(E_INVALID_AMOUNT)
        if total > acct.available(a.id):
            raise FundingError(E_FUNDS)
        free = engine.margin.withdrawable(acct, a.id)  # collateral of open margin positions stays
        if free is not None and total > free:
            raise FundingError(E_FUNDS)
        w = Withdrawal(
            engine.ids.kraken_id("A"),
            account_id,
            a.id,
            m,
            k.key,
            k.address,
            total - fee,
            fee,
            engine.now_ns,
            reserved=total,
        )
        acct.hold(a.id, total)
        self.withdrawals[w.refid] = w
        delay = int(Decimal(str(self.config.withdraw_delay_s)) * NS_PER_S)
        if delay <= 0:
            self._settle(engine, w.refid)
        else:
            w.status = "Pending"
            engine.add_timer(engine.now_ns + delay, WITHDRAW_TIMER, w.refid)
        return w

    def _settle(self, engine: Any, refid: str) -> None:
        w = self.withdrawals.get(refid)
        if w is None or not w.open:
            return
        acct = self.account(w.account_id)
        acct.held[w.asset] = acct.held.get(w.asset, 0) - w.reserved
        w.reserved = 0
        engine._ledger(acct, w.asset, -w.amount, w.fee, "withdrawal", w.refid)
        w.status = "Success"
        w.txid = _digest("withdraw", w.refid).hex()

    def cancel_withdrawal(self, engine: Any, account_id: str, asset_name: str, refid: str) -> bool:
        a = self.asset(asset_name)
        w = self.withdrawals.get(refid)
        if w is None or w.account_id != account_id or w.asset != a.id:
            raise FundingError(E_UNKNOWN_REFERENCE)
        if not w.open:
            return False
        acct = self.account(account_id)
        acct.held[w.asset] = acct.held.get(w.asset, 0) - w.reserved
        w.reserved = 0
        w.status = "Failure"
        w.status_prop = "canceled"
        return True

    def wallet_transfer(
        self, engine: Any, account_id: str, asset_name: str, amount: Decimal, refund: bool = False
    ) -> str:
        """Spot -> Futures wallet (the futures side is credited by its own engine);
        `refund` puts the amount back when that credit failed."""
        acct = self.account(account_id)
        a = self.asset(asset_name)
        units = self.units_for(a, amount)
        if not refund and units > acct.available(a.id):
            raise FundingError(E_FUNDS)
        ref = engine.ids.kraken_id("B")
        sub = "spotfromfutures" if refund else "spottofutures"
        engine._ledger(acct, a.id, units if refund else -units, 0, "transfer", ref, sub)
        return str(ref)

    def create_subaccount(self, engine: Any, origin: Origin, account_id: str, username: str, email: str) -> str:
        master = self.account(account_id)
        if master.parent_id is not None:
            raise EngineError(Reject.PERMISSION_DENIED)
        if not username or username in self.subaccount_names.values() or "@" not in email:
            raise EngineError(Reject.INVALID_ARGUMENTS, "username" if "@" in email else "email")
        if self._create_account is None:
            raise EngineError(Reject.UNAVAILABLE)
        sub = self._create_account(engine, origin, master.id, master.tier)
        sub.name = username
        self.subaccount_names[sub.id] = username
        return str(sub.id)

    def resolve_family(self, master_id: str, name: str) -> Account:
        """An account of the master's family by id or subaccount username."""
        master = self.account(master_id)
        family = [master.id, *master.subaccounts]
        for aid in family:
            if aid == name or self.subaccount_names.get(aid) == name:
                return self.account(aid)
        raise EngineError(Reject.INVALID_ARGUMENTS, "account")

    def account_transfer(
        self, engine: Any, account_id: str, asset_name: str, amount: Decimal, from_: str, to: str
    ) -> str:
        master = self.account(account_id)
        if master.parent_id is not None:
            raise EngineError(Reject.PERMISSION_DENIED)
        a = self.asset(asset_name)
        src, dst = self.resolve_family(master.id, from_), self.resolve_family(master.id, to)
        if src is dst:
            raise EngineError(Reject.INVALID_ARGUMENTS, "to")
        units = self.units_for(a, amount)
        if units > src.available(a.id):
            raise FundingError(E_FUNDS)
        ref = engine.ids.kraken_id("T")
        engine._ledger(
            src, a.id, -units, 0, "transfer", ref, "spotfromsubaccount" if src.parent_id else "spottosubaccount"
        )
        engine._ledger(
            dst, a.id, units, 0, "transfer", ref, "spotfromsubaccount" if dst.parent_id is None else "spottosubaccount"
        )
        return str(ref)

    def _earn_amount(self, account_id: str, strategy: str, amount: Decimal) -> tuple[Account, Strategy, int]:
        """Account, strategy and the amount in units; refused below the strategy's minimum."""
        acct = self.account(account_id)
        s = self.strategy(strategy)
        if amount < s.min_allocation:
            raise FundingError(E_EARN_MIN)
        return acct, s, self._units(amount, E_EARN_MIN)

    def allocate(self, engine: Any, account_id: str, strategy: str, amount: Decimal) -> bool:
        acct, s, units = self._earn_amount(account_id, strategy, amount)
        if units > acct.available(s.asset):
            raise FundingError(E_EARN_FUNDS)
        engine._ledger(acct, s.asset, -units, 0, "earn", engine.ids.kraken_id("E"), "allocation")
        self.allocations[(account_id, s.id)] = self.allocated(account_id, s.id) + units
        return True

    def deallocate(self, engine: Any, account_id: str, strategy: str, amount: Decimal) -> bool:
        acct, s, units = self._earn_amount(account_id, strategy, amount)
        have = self.allocated(account_id, s.id)
        if units > have:
            raise FundingError(E_EARN_FUNDS)
        self.allocations[(account_id, s.id)] = have - units
        engine._ledger(acct, s.asset, units, 0, "earn", engine.ids.kraken_id("E"), "deallocation")
        return True

    # ------------------------------------------------------------- wiring
    def handlers(self) -> dict[str, Callable[..., Any]]:
        """Sequencer command kinds: `handler(engine, origin, **params)`."""
        return {
            "funding_new_address": lambda eng, origin, **kw: self.new_address(eng, **kw),
            "funding_withdraw": lambda eng, origin, **kw: self.withdraw(eng, **kw),
            "funding_withdraw_cancel": lambda eng, origin, **kw: self.cancel_withdrawal(eng, **kw),
            "funding_wallet_transfer": lambda eng, origin, **kw: self.wallet_transfer(eng, **kw),
            "funding_create_subaccount": lambda eng, origin, **kw: self.create_subaccount(eng, origin, **kw),
            "funding_account_transfer": lambda eng, origin, **kw: self.account_transfer(eng, **kw),
            "earn_allocate": lambda eng, origin, **kw: self.allocate(eng, **kw),
            "earn_deallocate": lambda eng, origin, **kw: self.deallocate(eng, **kw),
        }

    def state_digest(self) -> str:
        """Withdrawals (every field: their settlement timers are the engine's),
        earn allocations, deposit addresses, subaccount names."""
        h = StateHash()
        for ref in sorted(self.withdrawals):
            h.add("withdrawal", record(self.withdrawals[ref]))
        h.add("allocations", self.allocations)
        for k in sorted(self.addresses):
            h.add("addresses", k, [record(a) for a in self.addresses[k]])
        h.add("subaccount_names", self.subaccount_names)
        return h.hexdigest()

    def to_state(self) -> dict[str, Any]:
        """Addresses, withdrawals (with their method), Earn allocations and
        subaccount names as plain records; strategies and handlers are wiring."""
        from .state import enc

        withdrawals = []
        for w in self.withdrawals.values():
            m = w.method
            withdrawals.append([w.refid, w.account_id, w.asset, [m.name, m.network, str(m.fee), str(m.minimum), m.style],
                                w.key, w.address, w.amount, w.fee, w.time_ns, w.status, w.status_prop, w.txid,
                                w.reserved])  # fmt: skip
        return {
            "addresses": [[a, asset, [[x.address, x.expiretm, x.tag] for x in lst]]
                          for (a, asset), lst in self.addresses.items()],
            "withdrawals": withdrawals,
            "allocations": [[a, s, n] for (a, s), n in self.allocations.items()],
            "subaccount_names": enc(self.subaccount_names),
        }  # fmt: skip

    def from_state(self, state: dict[str, Any]) -> None:
        from .state import dec

        self.addresses = {(a, asset): [Address(*x) for x in lst] for a, asset, lst in state["addresses"]}
        self.withdrawals = {}
        for refid, acct, asset, m, key, address, amount, fee, ts, status, prop, txid, reserved in state["withdrawals"]:
            method = Method(m[0], m[1], Decimal(m[2]), Decimal(m[3]), m[4])
            self.withdrawals[refid] = Withdrawal(refid, acct, asset, method, key, address, amount, fee, ts, status,
                                                 prop, txid, reserved)  # fmt: skip
        self.allocations = {(a, s): n for a, s, n in state["allocations"]}
        self.subaccount_names = dec(state["subaccount_names"])


__all__ = [
    "Address",
    "DEFAULT_METHODS",
    "FundingConfig",
    "FundingError",
    "FundingState",
    "Method",
    "Strategy",
    "WithdrawKey",
    "Withdrawal",
    "is_fiat",
    "make_address",
    "strategy_id",
]
