"""Engine state that survives a restart: with a state directory, every
journaled command is appended to `journal.jsonl` as it happens; on start the
venue is rebuilt by replaying it (same seed, same timestamps), so orders,
balances, trades and ids come back exactly.  FIX keeps its own sequence
numbers and message stores in the same directory.

Snapshots bound the replay: every `snapshot_every` journaled commands (and on
a clean shutdown) the venue's state is saved, with the journal sequence
number and file offset it was taken at, into `snapshot-<seq>.state` (temp
file, fsync, rename).  A start loads the newest snapshot that checks out
(format, checksum, seed, the journal line it names is still there) and
replays only the journal after it; a missing, corrupt, stale or older-format
snapshot falls back to the previous one, else to the full replay.

What is saved is explicit: `Venue.to_state()`, plain records each state
owner writes itself (accounts, engines, funding, rate limiters, ids,
gateway state such as nonce books), loaded back by `Venue.from_state()` into
a freshly built venue.  Nothing is pickled: the body is JSON, and the wiring
every start rebuilds from the config (clock, instruments, sequencers, hooks)
is never in it.  The in-memory journal's entries come back with their
events as they were rendered when the snapshot was written.

A periodic snapshot holds the sequencers only while the records are taken;
encoding, hashing and writing run on a writer thread, off the event loop.

The journal's disk is bounded (segments.py): once `journal.jsonl` passes
`rotate_bytes`, the next snapshot seals it as a segment and starts a new
one, and sealed segments that end before every kept snapshot are deleted.
Offsets are run-wide (every byte ever journaled), so a snapshot names the
same line whatever was rotated since.  A restart then has the newest
snapshot and the journal after it; a replay from seq 1 only while nothing
was rotated away (`rotate_bytes` 0 keeps the whole run).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from simulator.core.sequencer import Journal, JournalEntry
from simulator.core.state import Deferred, expand

from .segments import Segments, line_seq

log = logging.getLogger("kraken_sim")
JOURNAL = "journal.jsonl"
IDENTITY = "identity.json"
SNAPSHOT_PREFIX = "snapshot-"
SNAPSHOT_SUFFIX = ".state"
OLD_SUFFIXES = (".pickle",)  # format 1 (pickled venues): listed (to prune and to report), never loaded
SNAPSHOT_FORMAT = 2
SNAPSHOTS_KEPT = 2  # the newest and one fallback
HEADER_ROOM = 1023  # bytes the header line may take (padded with spaces): the body is streamed after it
DEFAULT_SNAPSHOT_EVERY = 2000
DEFAULT_ROTATE_BYTES = 64 << 20  # the active journal segment is sealed at the first snapshot past this
# taking the records costs the loop time (bounded by the live state), writing them costs
# the writer thread time (growing with history, shared with the loop by the interpreter);
# the next periodic snapshot waits at least this many times as long as each took, so
# snapshots never take more than ~1/SNAPSHOT_DUTY of either
SNAPSHOT_DUTY = 20


class JournalFile:
    """Appends journal entries as JSON lines; flushed on every write batch.

    Attached to a runtime (`attach`), it also writes snapshots: scheduled on
    the event loop after every `snapshot_every` entries (never inside the
    command that crossed the threshold), and one on `close()`."""

    def __init__(self, state_dir: str, snapshot_every: int = DEFAULT_SNAPSHOT_EVERY,
                 rotate_bytes: int = DEFAULT_ROTATE_BYTES) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / JOURNAL
        self.segments = Segments(self.path)
        self.rotate_bytes = rotate_bytes  # 0: never rotate (the whole run stays on disk)
        self.rotations = 0
        self._rotating = threading.Lock()  # a download lists the segments while none is half sealed
        self._fh: IO[str] | None = None
        self.replaying = False
        # run-wide bytes journaled (lines are ASCII JSON: len(line) == bytes); the active segment starts at `base`
        self.offset = 0
        self.base = 0
        self.snapshot_every = snapshot_every
        self.snapshots_written = 0
        self._rt: Any = None
        self._loop: Any = None
        self._since_snapshot = 0
        self._snap_seq = 0
        self._pending = False
        self._not_before = 0.0  # monotonic: no periodic snapshot before this
        self.duty = SNAPSHOT_DUTY
        self._writer: threading.Thread | None = None
        self.last_capture_s = 0.0  # on the loop: the records taken with the sequencers held
        self.last_write_s = 0.0  # on the writer thread: encode, hash, write, fsync

    def exists(self) -> bool:
        return (self.path.is_file() and self.path.stat().st_size > 0) or self.segments.rotated()

    def recorded(self) -> bool:
        """Whether a start restores a run (True) or builds a fresh venue.
        Raises StateDirError when the journal is gone but the directory says
        a run was recorded: a fresh venue would silently lose every account."""
        self.segments.settle()
        repair_tail(self.path)
        if not self.path.is_file() and self.segments.rotated():
            raise StateDirError(
                self.path,
                "the journal is missing, but sealed journal segments show a run was recorded here (a rotation "
                "never leaves it missing); restore it from a backup, or empty the state directory to start fresh",
            )
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
        """Every journaled command on disk, in order (a torn last line is ignored)."""
        return [c for p, local in self.segments.tail(self.segments.start()) for c in Journal.read_commands(str(p), local)]

    def attach(self, rt: Any) -> None:
        """Snapshots need the runtime (venue and the wiring to refer to)."""
        self._rt = rt

    def open(self) -> None:
        if self._fh is None:
            self.segments.settle()
            repair_tail(self.path)
            fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for appends
            self.base = self.segments.base()
            self.offset = self.base + self.path.stat().st_size  # before _fh: `committed` reads them from other threads
            self._fh = fh

    def committed(self, chunk: int = 1 << 16) -> tuple[int, int, Iterator[bytes]]:
        """The journal on disk as it stands now: (seqs rotated away before
        it, its length, its bytes).  Only whole, flushed lines: `offset`
        moves past a line after it is written, so the file may grow while the
        bytes are sent, never the answer; a segment deleted meanwhile stays
        readable (it is open)."""
        with self._rotating:
            end = self.offset if self._fh is not None else self.segments.end()
            files = self.segments.open_all()
        start = files[0][1] if files else end
        first = b""
        if files:
            fh0 = files[0][0]
            first = fh0.readline()
            fh0.seek(0)
        seq = line_seq(first) if first.strip() else None
        before = seq - 1 if seq is not None else 0
        size = max(0, end - start)

        def read() -> Iterator[bytes]:
            left = size
            try:
                for fh, _ in files:
                    while left > 0:
                        data = fh.read(min(chunk, left))
                        if not data:  # this segment ends (or was truncated by a reset): the next one
                            break
                        left -= len(data)
                        yield data
            finally:
                for fh, _ in files:
                    fh.close()

        return before, size, read()

    def truncate(self) -> None:
        self.close(snapshot=False)  # waits for a snapshot being written: it described the old run
        # what says "a run was recorded here" goes first: a kill half-way leaves
        # either the old run whole or an empty directory, never a refused one
        (self.dir / IDENTITY).unlink(missing_ok=True)
        for p in snapshot_files(self.dir):
            p.unlink(missing_ok=True)
        self.segments.remove_sealed()
        self.path.write_text("")
        self.offset = self.base = 0
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
            and not (self.duty and self._writer is not None and self._writer.is_alive())
        ):
            # (while one is still being written the next waits: the loop never waits for the disk;
            # with duty 0 -- counts, not timings -- it is taken anyway, once the last one is written)
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

    def snapshot_now(self, wait: bool = False) -> Path | None:
        """Snapshot the attached venue at its current journal seq: the records
        are taken now (sequencers held), then encoded and written on a writer
        thread -- or here, with `wait` (a stop: nothing else runs).  Returns
        the file when it was written here, else None."""
        self._pending = False
        rt = self._rt
        if rt is None or self.replaying:
            return None
        if self._writer is not None:
            # the last one is still being written (snapshots asked for faster than the disk
            # takes them): this one waits for it, so every one is written, in order
            self._writer.join()
            self._writer = None
        seq = rt.venue.journal._seq
        if seq == 0 or seq == self._snap_seq:
            return None
        self.open()  # flushed, and `offset` is the file's end even if nothing was appended since the start
        assert self._fh is not None
        self._fh.flush()
        t0 = time.perf_counter()
        try:
            taken, state = capture(rt)
            if taken != seq:
                raise SnapshotError("the journal moved on")
        except Exception:  # noqa: BLE001 - a snapshot is an optimisation: the journal is the record
            log.exception("snapshot at seq %d failed; restarts replay the journal", seq)
            self._since_snapshot = 0
            return None
        if self.rotate_bytes and self.offset - self.base >= self.rotate_bytes:
            # sealed at this snapshot: its line is the sealed segment's last, and once it is
            # written the segments before the older kept snapshot can go (the writer prunes)
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            with self._rotating:
                self.base = self.segments.seal(self.base)
            self.open()
            self.rotations += 1
        took = time.perf_counter() - t0
        self.last_capture_s = took
        self._not_before = time.monotonic() + self.duty * took
        self._snap_seq = seq
        self._since_snapshot = 0
        job = _Writer(self, seq, self.offset, rt.venue.config.seed, state, took)
        if wait:
            return job.run()
        self._writer = threading.Thread(target=job.run, name=f"snapshot-{seq}", daemon=True)
        self._writer.start()
        return None

    def wait_written(self, timeout: float | None = None) -> None:
        """Until the snapshot being written (if any) is on disk."""
        w = self._writer
        if w is not None:
            w.join(timeout)

    def close(self, snapshot: bool = True) -> None:
        self.wait_written()
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        if snapshot:
            self.snapshot_now(wait=True)
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


class _Writer:
    """One snapshot's encoding and writing (the writer thread's job)."""

    def __init__(self, store: JournalFile, seq: int, offset: int, seed: int, state: dict[str, Any], took: float) -> None:
        self.store, self.seq, self.offset, self.seed, self.state, self.took = store, seq, offset, seed, state, took

    def run(self) -> Path | None:
        store = self.store
        t0 = time.perf_counter()
        try:
            path = write_snapshot(store.dir, self.seq, self.offset, store.path, self.seed, self.state)
        except Exception:  # noqa: BLE001 - a snapshot is an optimisation: the journal is the record
            log.exception("snapshot at seq %d failed; restarts replay the journal", self.seq)
            return None
        finally:
            self.state = {}
        store.last_write_s = time.perf_counter() - t0
        # the writer shares the interpreter with the loop: its time is spaced out by the same duty
        store._not_before = max(store._not_before, time.monotonic() + store.duty * store.last_write_s)
        store.snapshots_written += 1
        log.info("snapshot at seq %d: %.1f ms taking the records, %.1f ms writing (off the loop)",
                 self.seq, self.took * 1e3, store.last_write_s * 1e3)  # fmt: skip
        return path


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


def capture(rt: Any, timeout: float = 2.0) -> tuple[int, dict[str, Any]]:
    """(journal seq, the venue's records) taken with every sequencer held:
    no command runs meanwhile, so the records are one consistent state."""
    venue = rt.venue
    try:
        with venue.quiesced(timeout=timeout):
            return venue.journal._seq, venue.capture_state()
    except TimeoutError as exc:
        raise SnapshotError("a sequencer stayed busy") from exc


_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False, default=expand)
STREAM_DEPTH = 4  # dicts this deep are written key by key; below, each value in one piece
STREAM_SLICE = 200  # a longer list is written this many items at a time


def stream_state(state: dict[str, Any], write: Callable[[bytes], object]) -> None:
    """A snapshot body, the venue's records as compact JSON (history parts
    built as they are written: `Deferred`, see Venue.capture_state), written
    part by part: the body of a large venue was one string and its bytes at
    once (twice its size, ~70 MB at a day's retention bounds, on top of the
    records); now one part at a time, the same bytes."""

    def part(x: Any, depth: int) -> None:
        if type(x) is Deferred:
            x = x.build()
        if type(x) is dict and depth < STREAM_DEPTH and all(type(k) is str for k in x):
            write(b"{")
            for i, (k, v) in enumerate(x.items()):
                write((b"," if i else b"") + json.dumps(k).encode() + b":")
                part(v, depth + 1)
            write(b"}")
        elif type(x) is list and len(x) > STREAM_SLICE:
            for i in range(0, len(x), STREAM_SLICE):  # a long list (history, journal entries) in slices
                write((b"," if i else b"[") + _ENCODER.encode(x[i : i + STREAM_SLICE])[1:-1].encode())
            write(b"]")
        else:
            write(_ENCODER.encode(x).encode())

    part({"venue": state}, 0)


def decode_state(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise SnapshotError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("venue"), dict):
        raise SnapshotError("body holds no venue state")
    return data["venue"]  # type: ignore[no-any-return]


def load_snapshot(rt: Any, state: dict[str, Any]) -> None:
    """Load a snapshot's records into the runtime's freshly prepared venue.
    Raises SnapshotError; the venue may then be half loaded (the caller
    rebuilds it)."""
    try:
        rt.venue.from_state(state)
    except Exception as exc:  # noqa: BLE001 - any record that does not load: the snapshot is unusable
        raise SnapshotError(f"cannot load: {type(exc).__name__}: {exc}") from exc


def snapshot_files(state_dir: Path) -> list[Path]:
    """Snapshot files, newest (highest seq) first; older formats too (they
    are refused when read, and pruned like the others)."""
    out = []
    for suffix in (SNAPSHOT_SUFFIX, *OLD_SUFFIXES):
        for p in state_dir.glob(f"{SNAPSHOT_PREFIX}*{suffix}"):
            stem = p.name[len(SNAPSHOT_PREFIX) : -len(suffix)]
            if stem.isdigit():
                out.append((int(stem), suffix == SNAPSHOT_SUFFIX, p))
    return [p for *_, p in sorted(out, reverse=True)]


def _line_before(journal: Path, offset: int) -> bytes:
    """The journal line that ends at run-wide byte `offset` (b'' if none on disk)."""
    loc = Segments(journal).locate(offset)
    return b"" if loc is None else _line_before_in(*loc)


def _line_before_in(path: Path, offset: int) -> bytes:
    """The line of the file `path` that ends at byte `offset` (b'' if none)."""
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


def write_snapshot(state_dir: Path, seq: int, offset: int, journal: Path, seed: int, state: dict[str, Any]) -> Path:
    """Encode records taken at (`seq`, journal byte `offset`), write header +
    body to a temp file, fsync, rename, prune old ones.  Touches no venue
    object: runs on the writer thread while commands go on."""
    line = _line_before(journal, offset)
    final = state_dir / f"{SNAPSHOT_PREFIX}{seq:012d}{SNAPSHOT_SUFFIX}"
    tmp = final.with_name(final.name + ".tmp")
    digest = hashlib.sha256()
    size = 0
    with open(tmp, "wb") as fh:
        fh.write(b" " * HEADER_ROOM + b"\n")  # the header goes here once the body is hashed

        def write(chunk: bytes) -> None:
            nonlocal size
            fh.write(chunk)
            digest.update(chunk)
            size += len(chunk)

        stream_state(state, write)
        header = {
            "format": SNAPSHOT_FORMAT,
            "seq": seq,
            "offset": offset,
            "line_sha256": hashlib.sha256(line).hexdigest(),
            "seed": seed,
            "body_sha256": digest.hexdigest(),
            "body_len": size,
            "written_at": time.time(),
        }
        head = json.dumps(header).encode()
        if len(head) > HEADER_ROOM:
            raise SnapshotError("header too long")
        fh.seek(0)
        fh.write(head.ljust(HEADER_ROOM))  # JSON allows the trailing spaces
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    with _dir_fd(state_dir) as dfd:
        if dfd is not None:
            os.fsync(dfd)
    kept = snapshot_files(state_dir)
    for old in kept[SNAPSHOTS_KEPT:]:
        old.unlink(missing_ok=True)
    prune_journal(journal, kept[:SNAPSHOTS_KEPT])
    return final


def prune_journal(journal: Path, snapshots: list[Path]) -> None:
    """Delete the sealed journal segments no kept snapshot needs: those that
    end before the oldest kept snapshot's line (a restart uses a snapshot and
    the journal after it).  Nothing goes while a snapshot is unreadable."""
    offsets = []
    for p in snapshots:
        head = snapshot_header(p)
        if head is None:
            return
        offsets.append(int(head["offset"]))
    if offsets:
        for p in Segments(journal).prune(min(offsets)):
            log.info("journal segment %s deleted: every kept snapshot is after it", p.name)


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
    """(run-wide size in bytes, seq of the last line) of a repaired, non-empty journal."""
    size = Segments(path).end()
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

    def __init__(self, venue: Any, journal: Path, offset: int, after_seq: int) -> None:
        self.venue = venue
        self.segments = Segments(journal)
        self.start = offset  # run-wide
        self.path = journal  # the segment being read, from `offset` in it
        self.offset = 0
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
        for path, local in self.segments.tail(self.start):
            self.path, self.offset, self.read = path, local, 0
            yield from self._segment(Journal.read_commands(str(path), local))

    def _segment(self, it: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
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
        touched = False
        try:
            header, body = read_snapshot(path, store.path, seed)
            state = decode_state(body)
            touched = True
            load_snapshot(rt, state)
        except (SnapshotError, OSError) as exc:
            log.warning("snapshot %s not used: %s", path.name, exc)
            report["rejected_snapshots"].append(path.name)
            if touched:
                rebuild()  # the snapshot failed after touching the venue
            continue
        offset = int(header["offset"])
        report.update(mode="snapshot", snapshot_seq=int(header["seq"]), snapshot=path.name)
        break
    if report["mode"] == "full" and store.segments.start() > 0:
        first = store.segments.first_seq()
        raise StateDirError(
            store.path,
            f"no snapshot checks out ({', '.join(report['rejected_snapshots']) or 'none left'}) and the journal "
            f"on disk starts at seq {first} (older segments were deleted at snapshots): the commands before it "
            "are gone; restore a snapshot from a backup, or empty the state directory to start a fresh venue",
        )
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
