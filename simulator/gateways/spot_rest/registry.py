"""The method table: every `/0/public/<Method>` and `/0/private/<Method>`
with its parameter names and the API-key permissions it needs.

Endpoint modules register with the `public`/`private` decorators, so one
glance at a handler shows its whole contract (names, permissions)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from simulator.core.accounts import Account, ApiKey
from simulator.core.instruments import SpotPair
from simulator.core.orders import Origin

from .parse import ApiError, Params

UNKNOWN_PAIR = "EQuery:Unknown asset pair"
UNKNOWN_ASSET = "EQuery:Unknown asset"
# documented on (nearly) every private call; accepted and ignored
PRIVATE_COMMON = ("nonce", "otp", "rebase_multiplier")


@dataclass
class RestConfig:
    """Choices where Kraken's behaviour is uncertain (spec: UNSURE)."""

    accept_wsname: bool = True  # XBT/USD in `pair` (2026 reports say refused; docs say accepted)
    echo_slash_names: bool = True  # results keyed by the slash name the client sent
    max_body: int = 64 * 1024


@dataclass
class Ctx:
    """One request: the runtime, and for private calls the key and account."""

    rt: Any
    key: ApiKey | None = None
    account: Account | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def venue(self) -> Any:
        return self.rt.venue

    @property
    def engine(self) -> Any:
        return self.rt.venue.spot

    @property
    def account_id(self) -> str:
        assert self.account is not None
        return self.account.id

    @property
    def acct(self) -> Account:
        assert self.account is not None
        return self.account

    @property
    def config(self) -> RestConfig:
        cfg: RestConfig = self.rt.services.spot_rest_config or RestConfig()
        return cfg

    def now_ns(self) -> int:
        now: int = self.rt.venue.clock.now_ns()
        return max(now, self.rt.venue.spot.now_ns)

    def submit(self, kind: str, params: dict[str, Any]) -> Any:
        """A command into the spot engine, stamped as coming from this key's REST session."""
        origin = Origin("rest", "rest", self.account.id if self.account else "")
        return self.rt.venue.spot_seq.submit(kind, origin, params)

    def pair(self, name: str) -> SpotPair:
        """Any spelling Kraken's REST accepts: pair id, altname, wsname, BTC/USD."""
        inst = self.rt.venue.instruments
        p = inst.pair(name) or inst.pair(name.upper())
        if p is None or (not self.config.accept_wsname and name == p.wsname and name != p.symbol):
            raise ApiError(UNKNOWN_PAIR)
        return p

    def pair_key(self, pair: SpotPair, name: str) -> str:
        """Results are keyed by pair id, or by the slash name the client used."""
        if "/" in name and self.config.echo_slash_names:
            return name
        return pair.id


Handler = Callable[[Ctx, Params], Any]


@dataclass(frozen=True)
class RawResult:
    """A reply that is a file, not Kraken's JSON envelope (RetrieveExport's zip)."""

    body: bytes
    media_type: str


@dataclass(frozen=True)
class Endpoint:
    name: str
    private: bool
    handler: Handler
    params: frozenset[str]
    perms: tuple[frozenset[str], ...]  # each group: the key needs one of these


PUBLIC: dict[str, Endpoint] = {}
PRIVATE: dict[str, Endpoint] = {}


def public(name: str, params: Iterable[str] = ()) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        PUBLIC[name] = Endpoint(name, False, fn, frozenset(params), ())
        return fn

    return deco


def private(name: str, params: Iterable[str] = (), perms: Iterable[Iterable[str]] = ()) -> Callable[[Handler], Handler]:
    """`perms` lists groups; the key needs at least one permission of every group."""

    def deco(fn: Handler) -> Handler:
        PRIVATE[name] = Endpoint(
            name, True, fn, frozenset((*params, *PRIVATE_COMMON)), tuple(frozenset(g) for g in perms)
        )
        return fn

    return deco


__all__ = ["Ctx", "Endpoint", "PRIVATE", "PUBLIC", "RawResult", "RestConfig", "UNKNOWN_ASSET", "UNKNOWN_PAIR", "private", "public"]
