"""What every gateway shares at run time: the venue plus serving settings.

Gateways receive a Runtime; they parse, authenticate, submit commands to the
venue's sequencers and format replies.  Faults and latency live here because
they model the network in front of the engine, not the engine.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any

from simulator.core.ids import IdGenerator
from simulator.core.venue import AccountCredentials, Venue

from .persistence import DEFAULT_ROTATE_BYTES, JournalFile
from .services import Services
from .tokens import WsTokenStore

# Seeded uniform latency (ms) per protocol, shaped like Kraken's own table:
# REST higher and variable, WebSocket low, FIX lowest.  Off unless asked for.
LATENCY_PROFILES: dict[str, dict[str, tuple[float, float]]] = {
    "off": {},
    "kraken": {
        "rest": (20.0, 120.0),
        "futures_rest": (20.0, 120.0),
        "ws": (2.0, 10.0),
        "fix": (0.5, 2.0),
    },
}


@dataclass
class Faults:
    """Test-controlled misbehaviour of the network in front of the engine."""

    unavailable_share: float = 0.0  # share of requests answered EService:Unavailable
    busy_share: float = 0.0  # share answered EService:Busy
    ws_reorder: bool = False  # non-sticky WS routing: messages may overtake each other
    ws_paths: int = 4  # load-balancer paths a WS message can take
    ws_latency_ms: tuple[float, float] = (0.0, 5.0)  # uniform per-path latency range
    latency_ms: dict[str, tuple[float, float]] = field(default_factory=dict)  # protocol -> (lo, hi)

    def to_json(self) -> dict[str, Any]:
        return {
            "unavailable_share": self.unavailable_share,
            "busy_share": self.busy_share,
            "ws_reorder": self.ws_reorder,
            "ws_paths": self.ws_paths,
            "ws_latency_ms": list(self.ws_latency_ms),
            "latency_ms": {k: list(v) for k, v in self.latency_ms.items()},
        }


JOURNAL_MAX = 10_000  # the server's in-memory journal by default (a long-lived sidecar stays flat)


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    fix_port: int = 9880
    tls_port: int | None = None
    cert: str | None = None
    key: str | None = None
    seed: int = 0
    admin_token: str | None = None
    admin_remote: bool = False  # without admin_token, answer /admin from non-loopback peers too
    state_dir: str | None = None
    config_file: str | None = None
    data_dir: str | None = None  # /admin/replay and series walks read files here (besides the bundled fixtures)
    log_level: str = "warning"
    journal_max: int | None = JOURNAL_MAX  # in-memory journal entries kept (None: all; the state-dir journal keeps all)
    # history kept in memory (core/retention.py): None takes the scenario's [retention] value, else the default;
    # 0 keeps everything
    history_keep: int | None = None  # newest closed orders / fills / ledger entries per account
    trades_keep: int | None = None  # newest public trades per pair
    history_days: float | None = None  # also drop history older than this many days
    # with state_dir: snapshot the venue every N journaled commands (0: only at a clean stop)
    snapshot_every: int = field(default_factory=lambda: int(os.environ.get("KRAKEN_SIM_SNAPSHOT_EVERY", "2000")))
    # with state_dir: the journal file is sealed at the first snapshot past this many bytes, and sealed
    # segments every kept snapshot is past are deleted (persistence.py; 0: the whole run stays on disk)
    journal_rotate_bytes: int = DEFAULT_ROTATE_BYTES
    # HTTP: a request (head and body) must arrive within this many seconds of the connection
    # opening or of the previous response; an idle keep-alive connection is closed after the other
    http_request_timeout: float = 10.0
    http_idle_timeout: float = 5.0


class Runtime:
    """Venue + settings + faults + typed services + registry of live connections."""

    def __init__(self, venue: Venue, settings: Settings, scenario: Any = None) -> None:
        from simulator.dashboard.feed import DashboardFeed

        from .market import MarketManager

        self.venue = venue
        self.settings = settings
        self.scenario = scenario
        self.faults = Faults()
        self.rng = random.Random(settings.seed)
        self.demo: AccountCredentials | None = None
        self.urls: dict[str, Any] = {}
        self.connections: dict[str, Any] = {}  # connection id -> object with .close()/.protocol
        self.bus = EventBus()
        self.gateways: list[Any] = []  # modules with prepare(rt) / install(site, rt) / start(rt)
        self._conn_seq = 0
        self.services = Services(
            ws_tokens=WsTokenStore(venue.clock, IdGenerator(settings.seed + 0x7070)),
            market=MarketManager(self),
            dashboard=DashboardFeed(self),
        )
        sv = self.services
        self.bus.subscribe(sv.dashboard.on_entry)
        sv.on_reset.append(sv.market.clear)  # before the venue is rebuilt: nothing may drive the old markets
        sv.on_reset.append(sv.dashboard.on_reset)
        # venue time jumped (admin advance/set): run what became due, before the call returns
        venue.clock.on_jump(lambda: self.services.market.catch_up())

    def attach(self) -> None:
        """Connect the bus to every sequencer of the current venue."""
        for seq in self.venue.sequencers.values():
            seq.subscribe(self.bus.dispatch)

    def build(self) -> None:
        """Gateways prepare their per-venue state, then the scenario is
        applied -- or, with a state directory that holds a journal, the
        recorded run is replayed instead."""
        from simulator.scenario import Scenario

        from .seeding import build_state

        self._prepare()
        store = self._journal_file()
        if store is not None and store.recorded():  # raises StateDirError if a recorded run is lost
            self._restore(store)
        else:
            build_state(self, self.scenario or Scenario())
            if store is not None:
                mm = self.services.market_maker
                store.save_identity(
                    {
                        "demo": self.demo.account.id if self.demo else None,
                        "market_maker": mm.account.id if mm is not None else None,
                        "seed": self.venue.config.seed,
                    }
                )
        self.apply_faults(getattr(self.scenario, "faults", None) or {})

    def _prepare(self) -> None:
        """The (fresh) venue: gateways set up their per-venue state."""
        self.services.market_maker = None
        self.services.market.clear()
        for gw in self.gateways:
            prep = getattr(gw, "prepare", None)
            if prep is not None:
                prep(self)
        self.attach()

    def _journal_file(self) -> JournalFile | None:
        s = self.settings
        if not s.state_dir:
            return None
        store = self.services.journal_file
        if store is None:
            store = self.services.journal_file = JournalFile(s.state_dir, s.snapshot_every, s.journal_rotate_bytes)
            store.attach(self)
            self.bus.subscribe(store.write)
        return store

    def _restore(self, store: JournalFile) -> None:
        """Newest valid snapshot plus the journal after it (else the whole
        journal) into the fresh venue; what was done is in services.restore_report.
        Raises StateDirError when no provably consistent state exists."""
        from .persistence import restore

        def rebuild() -> None:
            self.venue.reset()
            self._prepare()

        self.services.restore_report = restore(self, store, rebuild)
        ident = store.identity()
        creds = self.venue.credentials
        if ident.get("demo") in creds:
            self.demo = creds[ident["demo"]]
        if ident.get("market_maker") in creds:
            self.services.market_maker = creds[ident["market_maker"]]

    def reset(self) -> None:
        """Back to the configured scenario; live connections are told first."""
        for fn in list(self.services.on_reset):
            fn()
        # account ids are handed out again: no old token may open the new accounts
        self.services.ws_tokens.tokens.clear()
        self.faults = Faults()
        self.rng = random.Random(self.settings.seed)
        store = self.services.journal_file
        if store is not None:
            store.truncate()
        self.venue.reset()
        self.build()

    def apply_faults(self, data: dict[str, Any]) -> None:
        f = self.faults
        for k in ("unavailable_share", "busy_share"):
            if k in data:
                v = float(data[k])
                if not 0.0 <= v <= 1.0:
                    raise ValueError(f"{k} must be between 0 and 1")
                setattr(f, k, v)
        if "ws_reorder" in data:
            f.ws_reorder = bool(data["ws_reorder"])
        if "ws_paths" in data:
            f.ws_paths = max(1, int(data["ws_paths"]))
        if "ws_latency_ms" in data:
            lo, hi = data["ws_latency_ms"]
            f.ws_latency_ms = (float(lo), float(hi))
        if "latency_profile" in data:
            name = data["latency_profile"]
            if name not in LATENCY_PROFILES:
                raise ValueError(f"latency_profile must be one of {sorted(LATENCY_PROFILES)}")
            f.latency_ms = dict(LATENCY_PROFILES[name])
        if "latency_ms" in data:
            for proto, rng in dict(data["latency_ms"]).items():
                if rng is None:
                    f.latency_ms.pop(proto, None)
                else:
                    lo, hi = rng
                    f.latency_ms[str(proto)] = (float(lo), float(hi))
        if "seed" in data:
            self.rng = random.Random(int(data["seed"]))

    def new_connection_id(self, protocol: str) -> str:
        self._conn_seq += 1
        return f"{protocol}-{self._conn_seq}"

    def fault_reply(self) -> str | None:
        """Roll the seeded dice for injected service errors."""
        f = self.faults
        if f.unavailable_share or f.busy_share:
            r = self.rng.random()
            if r < f.unavailable_share:
                return "EService:Unavailable"
            if r < f.unavailable_share + f.busy_share:
                return "EService:Busy"
        return None

    def latency_s(self, protocol: str) -> float:
        lo_hi = self.faults.latency_ms.get(protocol)
        if not lo_hi:
            return 0.0
        lo, hi = lo_hi
        return self.rng.uniform(lo, hi) / 1000.0


class EventBus:
    """Fan-out of journal entries from every sequencer to gateway feeds.

    Survives venue resets (sequencers are rebuilt; the bus re-attaches)."""

    def __init__(self) -> None:
        self.subscribers: list[Any] = []

    def subscribe(self, fn: Any) -> Any:
        self.subscribers.append(fn)

        def unsubscribe() -> None:
            if fn in self.subscribers:
                self.subscribers.remove(fn)

        return unsubscribe

    def dispatch(self, entry: Any) -> None:
        for fn in list(self.subscribers):
            fn(entry)
