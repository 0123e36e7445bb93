"""The one ordered path into an engine, and the journal of what it saw.

Every gateway submits `Command`s here.  The sequencer stamps each with a
global sequence number and the venue time, fires due timers first, runs it,
records the command with the events it caused, then hands the events to
subscribers (the gateways' feeds).  The journal can be written as JSONL and
replayed into a fresh venue to rebuild identical state.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .clock import VenueClock
from .commands import decode_params, encode_params
from .errors import EngineError
from .orders import Origin
from .validation import check_command

Handler = Callable[..., Any]
INTERNAL_ERROR = "EGeneral:Internal error"  # what a command that failed inside the engine records
Subscriber = Callable[["JournalEntry"], None]


@dataclass(slots=True)
class JournalEntry:
    seq: int
    ts: int
    engine: str
    kind: str
    origin: Origin
    params: dict[str, Any]
    events: list[Any] = field(default_factory=list)
    error: str | None = None
    result: Any = None  # only while subscribers run (not kept: it would pin every reply)

    def to_json(self, with_events: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "seq": self.seq,
            "ts": self.ts,
            "engine": self.engine,
            "command": self.kind,
            "protocol": self.origin.protocol,
            "session": self.origin.session,
            "account": self.origin.account_id,
            "params": encode_params(self.params),
        }
        if self.error is not None:
            d["error"] = self.error
        if with_events:
            d["events"] = [e.to_json() for e in self.events]
        return d


class Journal:
    """Every command in engine order, with its events.  Bounded if asked:
    then it keeps the newest `max_entries` (up to an eighth more between trims)."""

    def __init__(self, max_entries: int | None = None) -> None:
        self.entries: list[JournalEntry] = []
        self.max_entries = max_entries
        self.dropped = 0
        self._seq = 0

    @property
    def last_seq(self) -> int:
        """The newest entry's seq (kept or dropped)."""
        return self._seq

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def append(self, entry: JournalEntry) -> None:
        entries = self.entries
        entries.append(entry)
        cap = self.max_entries
        # trim in slices of an eighth of the cap: cutting one entry off the front
        # of a long list per command would cost a copy of the whole list each time
        if cap is not None and len(entries) > cap + (cap >> 3):
            cut = len(entries) - cap
            del entries[:cut]
            self.dropped += cut

    def since(self, seq: int) -> Iterator[JournalEntry]:
        # entries are in seq order; binary search the start
        lo, hi = 0, len(self.entries)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.entries[mid].seq <= seq:
                lo = mid + 1
            else:
                hi = mid
        return iter(self.entries[lo:])

    def write_jsonl(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            for e in self.entries:
                fh.write(json.dumps(e.to_json(with_events=False)) + "\n")

    @staticmethod
    def read_commands(path: str, offset: int = 0) -> Iterator[dict[str, Any]]:
        """Journaled commands from byte `offset` on.  A torn last line (a
        process killed mid-write: unterminated and unparsable) ends the read;
        a bad line anywhere else is an error."""
        with open(path, "rb") as fh:
            fh.seek(offset)
            for raw in fh:
                if not raw.strip():
                    continue
                try:
                    d = json.loads(raw)
                except ValueError:
                    if raw.endswith(b"\n"):
                        raise
                    return
                d["params"] = decode_params(d["params"])
                yield d

    def to_state(self) -> dict[str, Any]:
        """Where the journal stands, and the entries kept in memory with the
        events they caused, as rendered for readers (`to_json`).  Entries
        never change once appended: their records are built later (a
        Deferred part)."""
        from .state import Deferred

        kept = list(self.entries)
        return {
            "seq": self._seq,
            "dropped": self.dropped,
            "entries": Deferred(lambda: [e.to_json(with_events=True) for e in kept]),
        }

    def from_state(self, state: dict[str, Any]) -> None:
        entries = [self.entry_of(d) for d in state["entries"]]
        if entries and entries[-1].seq != state["seq"]:
            raise ValueError("the journal entries do not end at the saved seq")
        self._seq = int(state["seq"])
        self.dropped = int(state["dropped"])
        self.entries = entries

    @staticmethod
    def entry_of(d: dict[str, Any]) -> JournalEntry:
        """An entry's `to_json()` back as an entry; its events (if any) as
        `SavedEvent`s, which render as they did when saved."""
        origin = Origin(d.get("protocol", "admin"), d.get("session", ""), d.get("account", ""))
        events: list[Any] = [SavedEvent(ev) for ev in d.get("events", ())]
        return JournalEntry(d["seq"], d["ts"], d["engine"], d["command"], origin, decode_params(d["params"]), events,
                            d.get("error"))  # fmt: skip


class SavedEvent:
    """An event of a restored journal entry: what it rendered when saved
    (the objects it described are the restored ones, not these)."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @property
    def kind(self) -> Any:
        return self.data.get("kind")

    def to_json(self) -> dict[str, Any]:
        return self.data


class Sequencer:
    """Orders commands into one engine.  Thread-safe (one lock, uncontended
    in the server's event loop; it matters for in-process test callers)."""

    def __init__(self, name: str, engine: Any, clock: VenueClock, journal: Journal) -> None:
        self.name = name
        self.engine = engine
        self.clock = clock
        self.journal = journal
        self.handlers: dict[str, Handler] = {}
        self.subscribers: list[Subscriber] = []
        self._lock = threading.RLock()
        self.record_events = True
        self._exclusive = Exclusive(self)
        self._view = View(self)
        self.guard: Callable[[str, dict[str, Any], int], None] = check_command
        # run after every command that succeeded, inside it (its events are the command's):
        # the engine's own follow-up work, e.g. Spot margin calls and liquidation
        self.after: Callable[[Any], None] | None = None

    def register(self, kind: str, handler: Handler) -> None:
        """`handler(engine, origin, **params)` runs a command kind."""
        self.handlers[kind] = handler

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        self.subscribers.append(fn)

        def unsubscribe() -> None:
            if fn in self.subscribers:
                self.subscribers.remove(fn)

        return unsubscribe

    def submit(self, kind: str, origin: Origin, params: dict[str, Any] | None = None, ts: int | None = None) -> Any:
        """Run one command now; raises EngineError for a rejection."""
        handler = self.handlers.get(kind)
        if handler is None:
            raise KeyError(kind)
        p = params or {}
        with self._lock:
            now = self.clock.now_ns() if ts is None else ts
            eng = self.engine
            if now < eng.now_ns:
                now = eng.now_ns  # engine time never goes backwards
            self.guard(kind, p, now)  # a rule broken: refused before anything is journaled
            nt = eng.next_timer_ns()
            if nt is not None and nt <= now and kind != "tick":
                self._run("tick", Origin("timer"), {}, now, self.handlers["tick"])
            return self._run(kind, origin, p, now, handler)

    def _run(self, kind: str, origin: Origin, params: dict[str, Any], now: int, handler: Handler) -> Any:
        eng = self.engine
        eng.now_ns = now
        entry = JournalEntry(self.journal.next_seq(), now, self.name, kind, origin, params, eng.events)
        try:
            entry.result = handler(eng, origin, **params)
            if self.after is not None:
                self.after(eng)
        except EngineError as exc:
            entry.error = exc.text
            self._finish(entry)
            raise
        except Exception:
            # a bug must not leave half-written events behind unrecorded
            entry.error = INTERNAL_ERROR
            self._finish(entry)
            raise
        self._finish(entry)
        result = entry.result
        entry.result = None  # subscribers saw it; the journal keeps commands and events only
        return result

    def _finish(self, entry: JournalEntry) -> None:
        eng = self.engine
        entry.events = eng.events
        eng.events = []
        self.journal.append(entry)
        for fn in self.subscribers:
            try:
                fn(entry)
            except Exception:  # a broken feed never stops the engine
                import logging

                logging.getLogger("kraken_sim").exception("subscriber failed")

    def exclusive(self, timeout: float = -1) -> Exclusive:
        """Hold every other command out until the block ends (`with
        seq.exclusive() as eng:`): for a consistent read of several parts of
        the engine's state, or several commands run as one step (re-entrant:
        `submit` works inside).  With `timeout`, TimeoutError if another
        thread keeps the sequencer longer than that many seconds."""
        return self._exclusive if timeout < 0 else Exclusive(self, timeout)

    def view(self) -> View:
        """`exclusive()` for reads priced by time (marks, funding, candles):
        the engine's view time is first brought up to the clock (it never
        goes backwards; commands still stamp their own time)."""
        return self._view

    def poll_timers(self) -> None:
        """Fire due timers (called by the server's clock task)."""
        nt = self.engine.next_timer_ns()
        if nt is not None and nt <= self.clock.now_ns():
            with self._lock:
                self.submit("tick", Origin("timer"))


class Exclusive:
    """The context manager `Sequencer.exclusive()` returns (reusable: the
    state is the sequencer's re-entrant lock)."""

    __slots__ = ("seq", "timeout")

    def __init__(self, seq: Sequencer, timeout: float = -1) -> None:
        self.seq = seq
        self.timeout = timeout

    def __enter__(self) -> Any:
        seq = self.seq
        if not seq._lock.acquire(timeout=self.timeout):
            raise TimeoutError(f"the {seq.name} sequencer stayed busy")
        return seq.engine

    def __exit__(self, *exc: object) -> None:
        self.seq._lock.release()


class View(Exclusive):
    """`Sequencer.view()`: exclusive, with the engine's view time at the clock."""

    __slots__ = ()

    def __enter__(self) -> Any:
        eng = super().__enter__()
        now = self.seq.clock.now_ns()
        if now > eng.now_ns:
            eng.now_ns = now
        return eng
