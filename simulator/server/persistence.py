"""Engine state that survives a restart: with a state directory, every
journaled command is appended to `journal.jsonl` as it happens; on start the
venue is rebuilt by replaying it (same seed, same timestamps), so orders,
balances, trades and ids come back exactly.  FIX keeps its own sequence
numbers and message stores in the same directory.

Snapshots bound the replay: every `snapshot_every` journaled commands (and on
a clean shutdown) the venue's state is pickled, with the journal sequence
number and file offset it was taken at, into `snapshot-<seq>.pickle` (temp
file, fsync, rename).  A start loads the newest snapshot that checks out
(checksum, the journal line it names is still there) and replays only the
journal after it; a missing, corrupt or stale snapshot falls back to the full
replay.  The state directory is trusted input, as the journal already is:
pickle is only ever read from it.

What is pickled: every state object hanging off the venue (engines,
accounts, ids, rate-limit counters, extensions, the in-memory journal),
whole, so engine internals can change without touching this module.  What is
not: the wiring each start rebuilds identically -- the clock, config,
instruments (and every pair/asset/contract object in them), sequencers
(locks, handlers, subscribers), the runtime and its services.  References to
those are written as names and resolved against the fresh venue on load.
Closures and lambdas (the rate-limit open counter, funding's timer handler
and account factory) cannot be pickled: they are written as placeholders and
re-wired to the fresh venue's own hook at the same attribute on load.  State
objects are restored *into* the fresh venue's objects (their state replaced),
so everything the gateways wired at start keeps pointing at live objects.
"""

from __future__ import annotations

import copyreg
import dataclasses
import hashlib
import io
import json
import logging
import os
import pickle
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from simulator.core.sequencer import Journal, JournalEntry

log = logging.getLogger("kraken_sim")
JOURNAL = "journal.jsonl"
IDENTITY = "identity.json"
SNAPSHOT_PREFIX = "snapshot-"
SNAPSHOT_SUFFIX = ".pickle"
SNAPSHOT_FORMAT = 1
SNAPSHOTS_KEPT = 2  # the newest and one fallback
DEFAULT_SNAPSHOT_EVERY = 2000
# a snapshot costs time proportional to the venue's history; the next one waits
# at least this many times as long as the last took, so snapshots never take
# more than ~1/SNAPSHOT_DUTY of the loop's time however long the run grows
SNAPSHOT_DUTY = 20


class JournalFile:
    """Appends journal entries as JSON lines; flushed on every write batch.

    Attached to a runtime (`attach`), it also writes snapshots: scheduled on
    the event loop after every `snapshot_every` entries (never inside the
    command that crossed the threshold), and one on `close()`."""

    def __init__(self, state_dir: str, snapshot_every: int = DEFAULT_SNAPSHOT_EVERY) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / JOURNAL
        self._fh: IO[str] | None = None
        self.replaying = False
        self.offset = 0  # bytes in the file (lines are ASCII JSON: len(line) == bytes)
        self.snapshot_every = snapshot_every
        self.snapshots_written = 0
        self._rt: Any = None
        self._loop: Any = None
        self._since_snapshot = 0
        self._snap_seq = 0
        self._pending = False
        self._not_before = 0.0  # monotonic: no periodic snapshot before this
        self.duty = SNAPSHOT_DUTY

    def exists(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0

    def recorded(self) -> bool:
        """Whether a start restores a run (True) or builds a fresh venue.
        Raises StateDirError when the journal is gone but the directory says
        a run was recorded: a fresh venue would silently lose every account."""
        repair_tail(self.path)
        if self.exists():
            return True
        what = "empty" if self.path.is_file() else "missing"
        snaps = snapshot_files(self.dir)
        if snaps:
            head = snapshot_header(snaps[0])
            at = f" (seq {head['seq']})" if head else ""
            raise StateDirError(
                self.path,
                f"the journal is {what}, but {snaps[0].name}{at} shows a run was recorded here; "
                "restore the journal from a backup, or empty the state directory to start a fresh venue",
            )
        if (self.dir / IDENTITY).is_file():
            raise StateDirError(
                self.path,
                f"the journal is {what}, but {IDENTITY} shows a run was recorded here; "
                "restore the journal from a backup, or empty the state directory to start a fresh venue",
            )
        return False

    def commands(self) -> list[dict[str, Any]]:
        """Every journaled command, in order (a torn last line is ignored)."""
        return list(Journal.read_commands(str(self.path)))

    def attach(self, rt: Any) -> None:
        """Snapshots need the runtime (venue and the wiring to refer to)."""
        self._rt = rt

    def open(self) -> None:
        if self._fh is None:
            repair_tail(self.path)
            fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for appends
            self.offset = self.path.stat().st_size  # before _fh: `committed` reads them from other threads
            self._fh = fh

    def committed(self, chunk: int = 1 << 16) -> tuple[int, Iterator[bytes]]:
        """The journal as it stands now: (its length, its bytes).  Only
        whole, flushed lines: `offset` moves past a line after it is written,
        so the file may grow while the bytes are sent, never the answer."""
        size = self.offset if self._fh is not None else self.path.stat().st_size
        fh = open(self.path, "rb")  # noqa: SIM115 - closed by the generator

        def read() -> Iterator[bytes]:
            with fh:
                left = size
                while left > 0:
                    data = fh.read(min(chunk, left))
                    if not data:  # truncated under us (a reset): the client sees a short body
                        return
                    left -= len(data)
                    yield data

        return size, read()

    def truncate(self) -> None:
        self.close(snapshot=False)
        # what says "a run was recorded here" goes first: a kill half-way leaves
        # either the old run whole or an empty directory, never a refused one
        (self.dir / IDENTITY).unlink(missing_ok=True)
        for p in snapshot_files(self.dir):
            p.unlink(missing_ok=True)
        self.path.write_text("")
        self.offset = 0
        self._snap_seq = 0
        self._since_snapshot = 0

    def write(self, entry: JournalEntry) -> None:
        if self.replaying:
            return
        self.open()
        assert self._fh is not None
        line = json.dumps(entry.to_json(with_events=False)) + "\n"
        self._fh.write(line)
        self._fh.flush()
        self.offset += len(line)
        self._since_snapshot += 1
        if (
            self._rt is not None
            and self.snapshot_every > 0
            and self._since_snapshot >= self.snapshot_every
            and time.monotonic() >= self._not_before
        ):
            self._schedule()

    def _schedule(self) -> None:
        """Snapshot soon, between commands: on the loop when there is one."""
        if self._pending:
            return
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._loop = loop
            self._pending = True
            loop.call_soon(self.snapshot_now)
        elif self._loop is not None and self._loop.is_running():
            self._pending = True
            self._loop.call_soon_threadsafe(self.snapshot_now)
        else:  # no loop (in-process callers): now, inside the subscriber
            self.snapshot_now()

    def snapshot_now(self) -> Path | None:
        """Write a snapshot of the attached venue at its current journal seq."""
        self._pending = False
        rt = self._rt
        if rt is None or self.replaying:
            return None
        seq = rt.venue.journal._seq
        if seq == 0 or seq == self._snap_seq:
            return None
        self.open()  # flushed, and `offset` is the file's end even if nothing was appended since the start
        assert self._fh is not None
        self._fh.flush()
        t0 = time.perf_counter()
        try:
            path = write_snapshot(rt, self.dir, seq, self.offset, self.path)
        except Exception:  # noqa: BLE001 - a snapshot is an optimisation: the journal is the record
            log.exception("snapshot at seq %d failed; restarts replay the journal", seq)
            self._since_snapshot = 0
            return None
        took = time.perf_counter() - t0
        self._not_before = time.monotonic() + self.duty * took
        self._snap_seq = seq
        self._since_snapshot = 0
        self.snapshots_written += 1
        log.info("snapshot at seq %d in %.1f ms", seq, took * 1e3)
        return path

    def close(self, snapshot: bool = True) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        if snapshot:
            self.snapshot_now()
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def save_identity(self, data: dict[str, Any]) -> None:
        (self.dir / IDENTITY).write_text(json.dumps(data))

    def identity(self) -> dict[str, Any]:
        p = self.dir / IDENTITY
        if not p.is_file():
            return {}
        try:
            data = json.loads(p.read_text())
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise StateDirError(p, "not a JSON object (the file is damaged); restore it from a backup")
        return data


# ------------------------------------------------------------------ journal
def repair_tail(path: Path) -> None:
    """Cut a torn last line (a kill mid-write) so appends start on a line."""
    if not path.is_file():
        return
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        fh.seek(max(0, size - (1 << 20)))
        tail = fh.read()
        cut = tail.rfind(b"\n")
        keep = size - len(tail) + cut + 1 if cut >= 0 else 0
        log.warning("journal: dropping a torn last line (%d bytes)", size - keep)
        fh.truncate(keep)


# ---------------------------------------------------------------- snapshots
class SnapshotError(Exception):
    """This snapshot cannot be written or restored (the journal still can)."""


class StateDirError(Exception):
    """The state directory holds no provably consistent state: the start is
    refused (one message: the file and the reason) rather than run as
    something other than what was acknowledged."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class _Unwired:
    """Stands for a closure/lock in a snapshot until re-wired on load."""

    __slots__ = ()


class _LoadContext(threading.local):
    refs: dict[str, Any]
    roots: dict[str, Any]
    unwired: list[_Unwired]

    def __init__(self) -> None:
        self.refs = {}
        self.roots = {}
        self.unwired = []


_CTX = _LoadContext()


def _ref(name: str) -> Any:
    """Unpickling: a wiring object of the fresh venue, by name."""
    try:
        return _CTX.refs[name]
    except KeyError:
        raise SnapshotError(f"the fresh venue has no {name}") from None


def _root(name: str, cls: Any) -> Any:
    """Unpickling: the fresh venue's state object of that name (restored into
    later), or a blank one when the fresh venue has none (created lazily)."""
    obj = _CTX.roots.get(name)
    if obj is None:
        obj = _CTX.roots[name] = cls.__new__(cls)
    elif type(obj) is not cls:
        raise SnapshotError(f"{name}: {type(obj).__name__} now, {cls.__name__} in the snapshot")
    return obj


def _unwired() -> _Unwired:
    u = _Unwired()
    _CTX.unwired.append(u)
    return u


_LOCKS = (type(threading.Lock()), type(threading.RLock()))
_NEWOBJ = (getattr(copyreg, "__newobj__"), getattr(copyreg, "__newobj_ex__"))  # noqa: B009 - untyped in typeshed
_PLAIN = (type(None), bool, int, float, complex, str, bytes, bytearray, tuple, list, dict, set, frozenset,
          type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def _is_hook(x: Any) -> bool:
    """What pickle cannot carry and the fresh venue rebuilds: lambdas, closures, locks."""
    t = type(x)
    if t is types.FunctionType:
        return "<" in x.__qualname__
    return t in _LOCKS


def _is_object(x: Any) -> bool:
    return not isinstance(x, _PLAIN) and not _is_hook(x) and type(x).__module__ != "decimal"


def _state_of(obj: Any) -> Any:
    """The object's state the way pickle sees it (so __getstate__, slots and
    mypyc-compiled classes are all handled by the class itself)."""
    try:
        rv = obj.__reduce_ex__(4)
    except TypeError as exc:
        raise SnapshotError(f"{type(obj).__qualname__}: {exc}") from exc
    if not (isinstance(rv, tuple) and len(rv) >= 2 and rv[0] in _NEWOBJ):
        raise SnapshotError(f"{type(obj).__qualname__}: custom reduce, cannot restore in place")
    if len(rv) > 3 and (rv[3] is not None or (len(rv) > 4 and rv[4] is not None)):
        raise SnapshotError(f"{type(obj).__qualname__}: container subclass")
    return rv[2] if len(rv) > 2 else None


def _apply_state(obj: Any, state: Any) -> None:
    """What unpickling does with a state, done to an existing object."""
    if state is None:
        return
    setstate = getattr(obj, "__setstate__", None)
    if setstate is not None:
        setstate(state)
        return
    slots = None
    if isinstance(state, tuple) and len(state) == 2:
        state, slots = state
    if state:
        obj.__dict__.update(state)
    if slots:
        for k, v in slots.items():
            setattr(obj, k, v)


def _children(x: Any) -> Iterator[tuple[str, Any]]:
    """(path part, value) of an object's attributes or a container's items."""
    if isinstance(x, dict):
        for k, v in x.items():
            yield f"[{k!r}]", v
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield f"[{i}]", v
    elif _is_object(x):
        try:
            st = _state_of(x)
        except SnapshotError:
            return
        if isinstance(st, tuple) and len(st) == 2:
            for part in st:
                if isinstance(part, dict):
                    for k, v in part.items():
                        yield f".{k}", v
        elif isinstance(st, dict):
            for k, v in st.items():
                yield f".{k}", v


def _collect_refs(obj: Any, path: str, out: dict[str, Any], seen: set[int], depth: int) -> None:
    """Name every object inside a wiring object (instrument pairs, assets...)."""
    for part, v in _children(obj):
        if isinstance(v, (dict, list, tuple)):
            if depth > 0:
                _collect_refs(v, path + part, out, seen, depth - 1)
        elif _is_object(v) and id(v) not in seen:
            seen.add(id(v))
            out[path + part] = v
            if depth > 0:
                _collect_refs(v, path + part, out, seen, depth - 1)


def _layout(rt: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[Any, Any]], dict[str, Any]]:
    """(refs, roots, containers, scalars) of the runtime's venue, by name."""
    venue = rt.venue
    wiring: dict[str, Any] = venue.snapshot_wiring()
    refs: dict[str, Any] = {}
    seen: set[int] = set()
    for name, obj in wiring.items():
        refs[name] = obj
        seen.add(id(obj))
    for name, obj in list(wiring.items()):
        if name == "venue.instruments":
            _collect_refs(obj, name, refs, seen, 4)
    wired_attrs = {name.split(".", 1)[1].split("[", 1)[0] for name in wiring if name.startswith("venue.")}
    roots: dict[str, Any] = {}
    containers: dict[str, dict[Any, Any]] = {}
    scalars: dict[str, Any] = {}
    for attr, val in vars(venue).items():
        if attr in wired_attrs:
            continue
        if isinstance(val, dict):
            containers[attr] = dict(val)
            for k, x in val.items():
                if _is_object(x) and id(x) not in seen:
                    roots[f"venue.{attr}[{k!r}]"] = x
        elif _is_object(val):
            if id(val) not in seen:
                roots[f"venue.{attr}"] = val
        elif not _is_hook(val):
            scalars[attr] = val
    # the runtime around the venue: referred to, never copied
    root_ids = {id(x) for x in roots.values()}
    extra = {"rt": rt, "rt.bus": rt.bus, "rt.faults": rt.faults, "rt.settings": rt.settings}
    for f in dataclasses.fields(rt.services):
        extra[f"rt.services.{f.name}"] = getattr(rt.services, f.name)
    for name, obj in extra.items():
        if _is_object(obj) and id(obj) not in seen and id(obj) not in root_ids:
            seen.add(id(obj))
            refs[name] = obj
    return refs, roots, containers, scalars


class _SnapshotPickler(pickle.Pickler):
    """Writes wiring as names, state objects as names plus their state, and
    closures as placeholders (only where load can re-wire them)."""

    def __init__(self, fh: IO[bytes], known: dict[int, Any], hooks_ok: set[int]) -> None:
        super().__init__(fh, protocol=pickle.HIGHEST_PROTOCOL)
        self._known = known
        self._hooks_ok = hooks_ok

    def reducer_override(self, obj: Any) -> Any:
        r = self._known.get(id(obj))
        if r is not None:
            return r
        t = type(obj)
        if t is JournalEntry and obj.result is not None:  # a reply still in flight: not state
            return dataclasses.replace(obj, result=None).__reduce_ex__(4)
        if _is_hook(obj):
            if id(obj) in self._hooks_ok:
                return (_unwired, ())
            raise SnapshotError(f"cannot snapshot {obj!r}: a closure/lock below a state object's attributes")
        return NotImplemented


def _hook_positions(state: Any) -> Iterator[Any]:
    """Closures a root holds directly, or one container deep (re-wirable)."""
    parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
    for part in parts:
        values = part.values() if isinstance(part, dict) else part if isinstance(part, list) else ()
        for v in values:
            if _is_hook(v):
                yield v
            elif isinstance(v, (dict, list)):
                for x in v.values() if isinstance(v, dict) else v:
                    if _is_hook(x):
                        yield x


def dump_snapshot(rt: Any) -> bytes:
    """The pickled state of the runtime's venue (see the module docstring)."""
    refs, roots, containers, scalars = _layout(rt)
    known: dict[int, Any] = {id(obj): (_ref, (name,)) for name, obj in refs.items()}
    for name, obj in roots.items():
        known[id(obj)] = (_root, (name, type(obj)))
    states = {name: _state_of(obj) for name, obj in roots.items()}
    hooks_ok = {id(h) for st in states.values() for h in _hook_positions(st)}
    payload = {"roots": {n: (type(roots[n]), s) for n, s in states.items()}, "containers": containers,
               "scalars": scalars}
    buf = io.BytesIO()
    _SnapshotPickler(buf, known, hooks_ok).dump(payload)
    return buf.getvalue()


def _rewire(old: Any, fresh: Any, where: str, resolved: set[int]) -> Any:
    """Replace placeholders in `old` (a root's state) with the fresh hooks at
    the same place; containers are fixed in place (they may be shared)."""
    missing = object()

    def pick(container: Any, key: Any) -> Any:
        if isinstance(container, dict):
            return container.get(key, missing)
        if isinstance(container, list) and isinstance(key, int) and key < len(container):
            return container[key]
        return missing

    def fix(value: Any, fresh_value: Any, path: str) -> Any:
        if isinstance(value, _Unwired):
            if fresh_value is missing or _is_object(fresh_value) or isinstance(fresh_value, _Unwired):
                raise SnapshotError(f"no fresh hook to re-wire {path}")
            resolved.add(id(value))
            return fresh_value
        if isinstance(value, (dict, list)):
            keys = list(value.keys()) if isinstance(value, dict) else list(range(len(value)))
            for k in keys:
                if isinstance(value[k], _Unwired):
                    value[k] = fix(value[k], pick(fresh_value, k), f"{path}[{k!r}]")
        return value

    if isinstance(old, tuple) and len(old) == 2:
        fparts = fresh if isinstance(fresh, tuple) and len(fresh) == 2 else (None, None)
        return tuple(_rewire(o, f, where, resolved) for o, f in zip(old, fparts, strict=True))
    if isinstance(old, dict):
        for k in list(old):
            old[k] = fix(old[k], pick(fresh, k), f"{where}.{k}")
        return old
    if isinstance(old, list):
        for i in range(len(old)):
            old[i] = fix(old[i], pick(fresh, i), f"{where}[{i}]")
        return old
    return old


def load_snapshot(rt: Any, blob: bytes) -> None:
    """Restore a snapshot into the runtime's freshly prepared venue.

    Everything that can fail (unpickling, re-wiring) happens before the
    venue is touched; raises SnapshotError (venue unchanged) if it fails."""
    refs, roots, _, _ = _layout(rt)
    fresh_states = {}
    for name, obj in roots.items():
        try:
            fresh_states[name] = _state_of(obj)
        except SnapshotError:
            fresh_states[name] = None
    _CTX.refs, _CTX.roots, _CTX.unwired = refs, dict(roots), []
    try:
        try:
            payload = pickle.loads(blob)  # noqa: S301 - our own state directory (as trusted as the journal)
        except SnapshotError:
            raise
        except Exception as exc:  # noqa: BLE001 - any unpickling failure: the snapshot is unusable
            raise SnapshotError(f"unpickling failed: {exc!r}") from exc
        targets = dict(_CTX.roots)
        unwired = list(_CTX.unwired)
    finally:
        _CTX.refs, _CTX.roots, _CTX.unwired = {}, {}, []
    resolved: set[int] = set()
    states = {}
    for name, (cls, state) in payload["roots"].items():
        obj = targets.get(name)
        if obj is None:
            obj = targets[name] = cls.__new__(cls)
        states[name] = _rewire(state, fresh_states.get(name), name, resolved)
    left = [u for u in unwired if id(u) not in resolved]
    if left:
        raise SnapshotError(f"{len(left)} closure(s) in the snapshot have no fresh counterpart")
    # ---- from here on the venue changes
    venue = rt.venue
    for name, state in states.items():
        _apply_state(targets[name], state)
    for attr, val in payload["containers"].items():
        cur = getattr(venue, attr, None)
        if isinstance(cur, dict):
            cur.clear()
            cur.update(val)
        else:
            setattr(venue, attr, val)
    for attr, val in payload["scalars"].items():
        setattr(venue, attr, val)
    for name, obj in targets.items():  # state objects the fresh venue did not have
        if name.startswith("venue.") and "[" not in name and name not in roots:
            setattr(venue, name.split(".", 1)[1], obj)


def snapshot_files(state_dir: Path) -> list[Path]:
    """Snapshot files, newest (highest seq) first."""
    out = []
    for p in state_dir.glob(f"{SNAPSHOT_PREFIX}*{SNAPSHOT_SUFFIX}"):
        stem = p.name[len(SNAPSHOT_PREFIX) : -len(SNAPSHOT_SUFFIX)]
        if stem.isdigit():
            out.append((int(stem), p))
    return [p for _, p in sorted(out, reverse=True)]


def _line_before(path: Path, offset: int) -> bytes:
    """The journal line that ends at byte `offset` (b'' if none)."""
    if offset <= 0 or path.stat().st_size < offset:
        return b""
    with open(path, "rb") as fh:
        start = max(0, offset - (1 << 20))
        fh.seek(start)
        chunk = fh.read(offset - start)
    if not chunk.endswith(b"\n"):
        return b""
    cut = chunk.rfind(b"\n", 0, len(chunk) - 1)
    return chunk[cut + 1 :]


def write_snapshot(rt: Any, state_dir: Path, seq: int, offset: int, journal: Path) -> Path:
    """Pickle the venue (sequencer locks held: no command runs meanwhile),
    then write header + body to a temp file, fsync, rename, prune old ones."""
    try:
        with rt.venue.quiesced(timeout=2.0):
            if rt.venue.journal._seq != seq:
                raise SnapshotError("the journal moved on")
            body = dump_snapshot(rt)
    except TimeoutError as exc:
        raise SnapshotError("a sequencer stayed busy") from exc
    line = _line_before(journal, offset)
    header = {
        "format": SNAPSHOT_FORMAT,
        "seq": seq,
        "offset": offset,
        "line_sha256": hashlib.sha256(line).hexdigest(),
        "seed": rt.venue.config.seed,
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_len": len(body),
        "written_at": time.time(),
    }
    final = state_dir / f"{SNAPSHOT_PREFIX}{seq:012d}{SNAPSHOT_SUFFIX}"
    tmp = final.with_name(final.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(json.dumps(header).encode() + b"\n")
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    with _dir_fd(state_dir) as dfd:
        if dfd is not None:
            os.fsync(dfd)
    for old in snapshot_files(state_dir)[SNAPSHOTS_KEPT:]:
        old.unlink(missing_ok=True)
    return final


class _dir_fd:
    """An fd of the directory (to fsync a rename), where the OS allows it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> int | None:
        try:
            self.fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            self.fd = None
        return self.fd

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)


def _parse_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise SnapshotError("bad header") from exc
    if not isinstance(header, dict) or header.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError("unknown format")
    if not isinstance(header.get("seq"), int) or not isinstance(header.get("offset"), int):
        raise SnapshotError("bad header")
    return header


def snapshot_header(path: Path) -> dict[str, Any] | None:
    """The header (seq, offset...) of a snapshot file, or None if unreadable.
    Read alone (the body may be large): what the snapshot says the journal held."""
    try:
        with open(path, "rb") as fh:
            line = fh.readline(1 << 16)
        return _parse_header(line) if line.endswith(b"\n") else None
    except (OSError, SnapshotError):
        return None


def read_snapshot(path: Path, journal: Path, seed: int) -> tuple[dict[str, Any], bytes]:
    """Header and body of a snapshot file, if it is whole and matches this journal."""
    data = path.read_bytes()
    nl = data.find(b"\n")
    if nl < 0:
        raise SnapshotError("no header")
    header = _parse_header(data[:nl])
    body = data[nl + 1 :]
    if len(body) != header.get("body_len") or hashlib.sha256(body).hexdigest() != header.get("body_sha256"):
        raise SnapshotError("checksum mismatch")
    if header.get("seed") != seed:
        raise SnapshotError(f"taken with seed {header.get('seed')}, running with {seed}")
    line = _line_before(journal, int(header["offset"]))
    if not line or hashlib.sha256(line).hexdigest() != header.get("line_sha256"):
        raise SnapshotError("the journal does not have the line the snapshot was taken at")
    try:
        if int(json.loads(line)["seq"]) != int(header["seq"]):
            raise SnapshotError("journal seq mismatch")
    except (ValueError, KeyError) as exc:
        raise SnapshotError("journal line unreadable") from exc
    return header, body


def _journal_end(path: Path) -> tuple[int, int]:
    """(size in bytes, seq of the last line) of a repaired, non-empty journal."""
    size = path.stat().st_size
    line = _line_before(path, size)
    try:
        seq = json.loads(line)["seq"]
        if not isinstance(seq, int):
            raise TypeError(seq)
    except (ValueError, KeyError, TypeError):
        raise StateDirError(path, "its last line is not a journal entry (the file is damaged)") from None
    return size, seq


def _check_reaches_snapshots(store: JournalFile, last_seq: int, size: int) -> None:
    """Every snapshot saw the journal up to its seq: a journal that ends
    before one lost acknowledged commands, and replaying it would roll the
    venue back past that snapshot.  Refused, never done silently."""
    for p in snapshot_files(store.dir):
        head = snapshot_header(p)
        if head is None:
            continue  # unreadable: it proves nothing either way (and is not used)
        if head["seq"] > last_seq or head["offset"] > size:
            raise StateDirError(
                store.path,
                f"the journal ends at seq {last_seq}, but {p.name} was taken at seq {head['seq']}: "
                f"the journal was cut short (commands {last_seq + 1}..{head['seq']} are gone); restore it "
                "from a backup, or delete the snapshot files to accept the older state",
            )


def _check_identity(store: JournalFile, seed: int) -> None:
    """Ids and keys come from the seed: a replay under another one would
    hand every client different keys, silently."""
    recorded = store.identity().get("seed")
    if recorded is not None and recorded != seed:
        raise StateDirError(
            store.dir / IDENTITY,
            f"the run was recorded with seed {recorded}, this start uses seed {seed} "
            f"(ids and keys would differ); start with --seed {recorded}",
        )


class _CheckedReplay:
    """Journal commands as they are replayed, each checked first (the next
    seq, a known engine and command) and after (the replay took that seq and
    reached the recorded outcome).  Anything else raises StateDirError
    naming the line: the venue would not be the one the journal recorded."""

    def __init__(self, venue: Any, path: Path, offset: int, after_seq: int) -> None:
        self.venue = venue
        self.path = path
        self.offset = offset
        self.seq = after_seq  # the last seq replayed (or restored)
        self.read = 0  # lines read from `offset`
        self.current: dict[str, Any] | None = None

    def line_no(self) -> int:
        """1-based number of the line being replayed (counted only to report it)."""
        before, left = 0, self.offset
        with open(self.path, "rb") as fh:
            while left > 0:
                chunk = fh.read(min(left, 1 << 20))
                if not chunk:
                    break
                before += chunk.count(b"\n")
                left -= len(chunk)
        return before + self.read

    def fail(self, reason: str) -> StateDirError:
        return StateDirError(self.path, f"line {self.line_no()}: {reason}")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        it = Journal.read_commands(str(self.path), self.offset)
        while True:
            self.read += 1
            self.current = None
            try:
                c = next(it)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - any unreadable line is reported, never a traceback
                raise self.fail(f"not a journal entry ({type(exc).__name__}: {exc})") from None
            self.current = c
            yield self._checked(c)
            self._outcome(c)

    def _checked(self, c: Any) -> dict[str, Any]:
        if not isinstance(c, dict):
            raise self.fail("not a journal entry")
        seq, engine, kind = c.get("seq"), c.get("engine"), c.get("command")
        if seq != self.seq + 1:
            raise self.fail(f"seq {seq!r} follows seq {self.seq} (lines are missing or out of order)")
        seqr = self.venue.sequencers.get(engine)
        if seqr is None:
            raise self.fail(f"unknown engine {engine!r} (known: {', '.join(sorted(self.venue.sequencers))})")
        if kind not in seqr.handlers:
            raise self.fail(f"unknown command {kind!r} for engine {engine!r}")
        if not isinstance(c.get("ts"), int) or not isinstance(c.get("params"), dict):
            raise self.fail("not a journal entry (ts or params missing)")
        return c

    def _outcome(self, c: dict[str, Any]) -> None:
        journal = self.venue.journal
        if journal._seq != c["seq"]:
            raise self.fail(f"replaying seq {c['seq']} ran as seq {journal._seq}: the replay diverged")
        if journal.entries and journal.entries[-1].seq == c["seq"]:
            got, want = journal.entries[-1].error, c.get("error")
            if got != want:
                raise self.fail(
                    f"seq {c['seq']} ({c['engine']} {c['command']}) replays to "
                    f"{got or 'success'}, the run recorded {want or 'success'}: the replay diverged"
                )
        self.seq = c["seq"]


def restore(rt: Any, store: JournalFile, rebuild: Callable[[], None]) -> dict[str, Any]:
    """Bring the prepared venue back to the newest provably consistent state:
    the newest snapshot that matches the journal plus the journal after it,
    else the whole journal.  `rebuild` re-prepares a fresh venue (used if a
    snapshot failed half-way).  Raises StateDirError (the start is refused)
    when no such state exists: a journal that ends before a snapshot, a
    seed other than the recorded one, a line that is not a known command
    or does not replay to its recorded outcome.  Returns what was done."""
    repair_tail(store.path)
    seed = rt.venue.config.seed
    _check_identity(store, seed)
    size, last_seq = _journal_end(store.path)
    _check_reaches_snapshots(store, last_seq, size)
    report: dict[str, Any] = {"mode": "full", "snapshot_seq": 0, "replayed": 0, "rejected_snapshots": []}
    offset = 0
    for path in snapshot_files(store.dir):
        try:
            header, body = read_snapshot(path, store.path, seed)
            load_snapshot(rt, body)
        except (SnapshotError, OSError) as exc:
            log.warning("snapshot %s not used: %s", path.name, exc)
            report["rejected_snapshots"].append(path.name)
            if rt.venue.journal._seq != 0 or rt.venue.journal.entries:
                rebuild()  # the snapshot failed after touching the venue
            continue
        offset = int(header["offset"])
        report.update(mode="snapshot", snapshot_seq=int(header["seq"]), snapshot=path.name)
        break
    checked = _CheckedReplay(rt.venue, store.path, offset, report["snapshot_seq"])
    store.replaying = True
    try:
        report["replayed"] = rt.venue.replay(checked)
    except StateDirError:
        raise
    except Exception as exc:  # noqa: BLE001 - a command the replay cannot run: refused with its line
        c = checked.current or {}
        raise checked.fail(
            f"seq {c.get('seq')} ({c.get('engine')} {c.get('command')}) fails to replay: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        store.replaying = False
    if checked.seq != last_seq:  # the reader stopped early (a torn line that is not the last)
        raise checked.fail(f"the replay stopped at seq {checked.seq}, the journal ends at seq {last_seq}")
    store._snap_seq = report["snapshot_seq"]
    store._since_snapshot = report["replayed"]
    log.info("restored: %s", report)
    return report
