"""FIX wire format: framing, decoding and encoding.

simplefix splits tag=value pairs but checks neither BodyLength nor CheckSum,
so framing is done here: a byte stream is cut into messages by 8=/9=, the
trailer is verified, and garbage between messages is skipped by resyncing on
the next "8=FIX". Decoded messages keep every field in wire order (duplicates
included) so the session layer can reject what a FIX engine must reject.
"""

from __future__ import annotations

import calendar
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import simplefix
from simplefix import data as simplefix_data
from simplefix import errors as simplefix_errors

from simulator.core.clock import NS_PER_S
from simulator.gateways.fix import tags

SOH = b"\x01"
_BEGIN = b"8=FIX"
_TRAILER_RE = re.compile(rb"\x0110=(\d{3})\x01")
_MAX_BEGIN_STRING = 16
_MAX_LENGTH_DIGITS = 9
_TRAILER_LEN = 7  # b"10=NNN\x01"
_HOP_TAGS = frozenset({628, 629, 630})  # the NoHops (627) header group

FieldValue = str | int | Decimal | bool


@dataclass(frozen=True)
class Limits:
    """Size limits for inbound traffic; anything larger is refused, never buffered."""

    max_message_bytes: int = 64 * 1024
    max_field_bytes: int = 4096
    max_fields: int = 2048


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Frame:
    """One message cut from the stream; `error` is set when it failed validation."""

    raw: bytes
    error: str | None = None


class Framer:
    """Cuts an inbound byte stream into FIX messages (BodyLength + CheckSum checked)."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._buf = bytearray()
        self._limits = limits
        self.discarded_bytes = 0

    def feed(self, data: bytes) -> None:
        self._buf += data

    def frames(self) -> Iterator[Frame]:
        """Yield every complete frame now in the buffer (valid or garbled)."""
        while True:
            frame = self.next_frame()
            if frame is None:
                return
            yield frame

    def next_frame(self) -> Frame | None:
        buf = self._buf
        start = buf.find(_BEGIN)
        if start < 0:
            self._drop_garbage_keeping_prefix()
            return None
        if start > 0:
            del buf[:start]
            self.discarded_bytes += start
        soh = buf.find(SOH, 0, _MAX_BEGIN_STRING + 2)
        if soh < 0:
            return self._resync("BeginString too long") if len(buf) > _MAX_BEGIN_STRING + 2 else None
        pos = soh + 1
        if len(buf) < pos + 2:
            return None
        if buf[pos:pos + 2] != b"9=":
            return self._resync("BodyLength (9) is not the second field")
        soh2 = buf.find(SOH, pos + 2, pos + 3 + _MAX_LENGTH_DIGITS)
        if soh2 < 0:
            if len(buf) > pos + 2 + _MAX_LENGTH_DIGITS:
                return self._resync("BodyLength (9) is not a number")
            return None
        digits = bytes(buf[pos + 2:soh2])
        if not digits.isdigit():
            return self._resync("BodyLength (9) is not a number")
        body_start = soh2 + 1
        end = body_start + int(digits)
        if end + _TRAILER_LEN > self._limits.max_message_bytes:
            return self._resync(f"message larger than {self._limits.max_message_bytes} bytes")
        if len(buf) >= end + _TRAILER_LEN and _trailer_at(buf, end):
            return self._take(end + _TRAILER_LEN, _checksum_error(buf, end))
        actual = self._find_true_end(body_start)
        if actual is not None:
            return self._take(
                actual + _TRAILER_LEN,
                f"BodyLength mismatch: declared {int(digits)}, actual {actual - body_start}",
            )
        if len(buf) >= end + _TRAILER_LEN:
            return self._resync("no CheckSum (10) where BodyLength (9) points")
        return None

    def _find_true_end(self, body_start: int) -> int | None:
        """Offset of a trailer whose CheckSum matches: the message really ends there.

        This catches a wrong BodyLength without waiting for bytes that never come.
        """
        for m in _TRAILER_RE.finditer(self._buf, body_start - 1):
            end = m.start() + 1
            if byte_sum(self._buf[:end]) % 256 == int(m.group(1)):
                return end
        return None

    def _take(self, n: int, error: str | None) -> Frame:
        raw = bytes(self._buf[:n])
        del self._buf[:n]
        return Frame(raw, error)

    def _resync(self, error: str) -> Frame:
        """Drop the current (broken) message start and everything up to the next one."""
        nxt = self._buf.find(_BEGIN, 1)
        if nxt < 0:
            nxt = len(self._buf) - _partial_begin_len(self._buf)
        return self._take(max(nxt, 1), error)

    def _drop_garbage_keeping_prefix(self) -> None:
        buf = self._buf
        dropped = len(buf) - _partial_begin_len(buf)
        if dropped:
            del buf[:dropped]
            self.discarded_bytes += dropped


def _partial_begin_len(buf: bytearray) -> int:
    """Length of a trailing "8=FI"-style fragment that may start the next message."""
    for k in range(min(len(_BEGIN) - 1, len(buf)), 0, -1):
        if buf.endswith(_BEGIN[:k]):
            return k
    return 0


def _trailer_at(buf: bytearray, end: int) -> bool:
    return (
        buf[end:end + 3] == b"10="
        and bytes(buf[end + 3:end + 6]).isdigit()
        and buf[end + 6] == 1
        and end > 0
        and buf[end - 1] == 1
    )


def _checksum_error(buf: bytearray, end: int) -> str | None:
    declared = int(buf[end + 3:end + 6])
    computed = byte_sum(buf[:end]) % 256
    if declared != computed:
        return f"CheckSum mismatch: declared {declared:03d}, computed {computed:03d}"
    return None


def checksum(data: bytes) -> str:
    """The CheckSum (10) value for the bytes before the trailer."""
    return f"{byte_sum(data) % 256:03d}"


_SUM_CHUNK = 256  # 255 * 256 < 65521: Adler-32's A never wraps within a chunk


def byte_sum(data: bytes | bytearray) -> int:
    """`sum(data)` in C: Adler-32's A is 1 + the byte sum modulo 65521, exact for a
    chunk of at most 256 bytes (every message in and out is summed for its CheckSum)."""
    n = len(data)
    if n <= _SUM_CHUNK:
        return (zlib.adler32(data) & 0xFFFF) - 1
    return sum((zlib.adler32(data[i:i + _SUM_CHUNK]) & 0xFFFF) - 1 for i in range(0, n, _SUM_CHUNK))


class DecodeError(ValueError):
    """A frame whose fields cannot be split: treated as a garbled message."""


class Msg:
    """A FIX message as an ordered list of (tag, value) pairs.

    Values are text (UTF-8, undecodable bytes kept via surrogateescape so a
    message re-encodes byte for byte). Repeated tags are kept, not merged.
    """

    __slots__ = ("pairs", "raw", "_index", "_indexed_len")

    def __init__(self, pairs: Sequence[tuple[int, str]], raw: bytes | None = None) -> None:
        self.pairs: list[tuple[int, str]] = list(pairs)
        self.raw = raw
        self._index: dict[int, str] | None = None
        self._indexed_len = -1

    @classmethod
    def new(cls, msg_type: str, fields: Iterable[tuple[int, FieldValue]] = ()) -> Msg:
        """An outbound message: MsgType plus body fields (the session adds the header)."""
        return cls([(tags.MSG_TYPE, msg_type)] + [(int(t), format_value(v)) for t, v in fields])

    @property
    def msg_type(self) -> str | None:
        return self.get(tags.MSG_TYPE)

    @property
    def seq_num(self) -> int | None:
        v = self.get(tags.MSG_SEQ_NUM)
        return int(v) if v is not None and is_uint(v) else None

    @property
    def poss_dup(self) -> bool:
        return self.get(tags.POSS_DUP_FLAG) == "Y"

    def get(self, tag: int, default: str | None = None) -> str | None:
        """First value of `tag` (handlers read a dozen fields: indexed on first use)."""
        pairs = self.pairs
        index = self._index
        if index is None or self._indexed_len != len(pairs):
            index = self._index = {t: v for t, v in reversed(pairs)}
            self._indexed_len = len(pairs)
        return index.get(tag, default)

    def has_any(self, wanted: frozenset[int]) -> bool:
        """Whether any of `wanted` is present (one set operation on the index)."""
        pairs = self.pairs
        index = self._index
        if index is None or self._indexed_len != len(pairs):
            index = self._index = {t: v for t, v in reversed(pairs)}
            self._indexed_len = len(pairs)
        return not wanted.isdisjoint(index)

    def get_all(self, tag: int) -> list[str]:
        return [v for t, v in self.pairs if t == tag]

    def __contains__(self, tag: object) -> bool:
        return isinstance(tag, int) and self.get(tag) is not None

    def body(self) -> list[tuple[int, str]]:
        """Fields that are neither standard header nor trailer."""
        return [(t, v) for t, v in self.pairs
                if t not in tags.HEADER_TAGS and t not in tags.TRAILER_TAGS]

    def duplicate_tag(self) -> int | None:
        """First tag that appears more than once outside any repeating group.

        Without a data dictionary a repeat is allowed only after a NumInGroup
        tag; header and trailer tags may never repeat.
        """
        pairs = self.pairs
        if self._indexed_len == len(pairs) and self._index is not None and len(self._index) == len(pairs):
            return None  # as many distinct tags as fields: nothing repeats
        seen: set[int] = set()
        in_groups = in_hops = False
        for t, _ in pairs:
            if t in seen:
                if t in _HOP_TAGS:
                    allowed = in_hops
                else:
                    allowed = in_groups and t not in tags.HEADER_TAGS and t not in tags.TRAILER_TAGS
                if not allowed:
                    return t
            seen.add(t)
            if t == tags.NO_HOPS:
                in_hops = True
            elif t in tags.GROUP_COUNT_TAGS:
                in_groups = True
        return None

    def to_string(self, sep: str = "|") -> str:
        return "".join(f"{t}={v}{sep}" for t, v in self.pairs)

    def __repr__(self) -> str:
        return f"Msg({self.to_string()!r})"


def is_uint(text: str) -> bool:
    """ASCII digits only (str.isdigit() also accepts e.g. superscripts)."""
    return text.isascii() and text.isdigit()


def format_value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    text = str(value)
    if "\x01" in text:
        raise ValueError("FIX values cannot contain SOH")
    return text


# Length fields of FIX data fields, as written on the wire: the next field's value may contain SOH.
_RAW_LEN_TEXTS = frozenset(str(t) for t in simplefix_data.RAW_LEN_TAGS)


def decode(raw: bytes) -> Msg:
    """Split one framed message into pairs (no semantic checks).

    The common case (no data fields, every field `digits=value`) is split
    directly; anything else goes through simplefix's parser, whose results
    and errors are the reference (the fast path only ever agrees with it).
    """
    msg = _decode_plain(raw)
    return msg if msg is not None else _decode_simplefix(raw)


def _decode_plain(raw: bytes) -> Msg | None:
    # Decoding the whole frame at once equals decoding field by field: the separators
    # (SOH, "=") are ASCII, which UTF-8 never uses inside a multi-byte sequence and
    # which surrogateescape never folds into an undecodable run.
    if not raw.endswith(SOH):
        return None
    fields = raw.decode("utf-8", "surrogateescape").split("\x01")
    fields.pop()
    if not fields:
        return None
    tag_texts, eqs, values = zip(*[f.partition("=") for f in fields], strict=True)
    joined = "".join(tag_texts)
    if ("" in eqs or "" in tag_texts or not (joined.isascii() and joined.isdigit())
            or not _RAW_LEN_TEXTS.isdisjoint(tag_texts)):
        return None  # not `digits=value` throughout, or data fields: simplefix judges
    numbers = list(map(int, tag_texts))
    last = len(numbers) - 1
    if numbers[0] != tags.BEGIN_STRING or numbers[last] != tags.CHECKSUM or numbers.index(tags.CHECKSUM) != last:
        return None  # a second message in the frame: let simplefix say so
    return Msg(list(zip(numbers, values, strict=True)), raw)


def _decode_simplefix(raw: bytes) -> Msg:
    parser = simplefix.FixParser(allow_empty_values=True)
    parser.append_buffer(raw)
    try:
        fm = parser.get_message()
    except (simplefix_errors.ParsingError, ValueError) as exc:  # tag not a number, etc.
        raise DecodeError(f"unparseable field: {exc!r}") from exc
    if fm is None or parser.get_buffer():
        raise DecodeError("frame is not exactly one message")
    pairs = [(int(t), bytes(v).decode("utf-8", "surrogateescape")) for t, v in fm.pairs]
    return Msg(pairs, raw)


def encode_message(
    begin_string: str,
    msg_type: str,
    sender: str,
    target: str,
    seq_num: int,
    sending_time: str,
    body: Iterable[tuple[int, str]],
    *,
    orig_sending_time: str | None = None,
    route: Iterable[tuple[int, str]] = (),
) -> bytes:
    """Standard header (8,9,35,49,56,34,52[,43,122][,route]) + body + trailer.

    A non-None `orig_sending_time` marks a retransmission (PossDupFlag=Y);
    `route` are routing header fields (115/128, ...) placed before the body.
    Byte for byte what simplefix's FixMessage.encode() produces for the same
    fields (tests hold it to that), built in one pass because every outbound
    message goes through here.
    """
    head = f"35={msg_type}\x0149={sender}\x0156={target}\x0134={seq_num}\x0152={sending_time}\x01"
    if orig_sending_time is not None:
        head += f"43=Y\x01122={orig_sending_time}\x01"
    if route:
        head += "".join([f"{t}={v}\x01" for t, v in route])
    text = head + "".join([f"{t}={v}\x01" for t, v in body if t not in _ENVELOPE_TAGS])
    payload = text.encode("utf-8", "surrogateescape")
    out = b"8=%s\x019=%d\x01%s" % (_b(begin_string), len(payload), payload)
    return out + b"10=%03d\x01" % (byte_sum(out) % 256)


_ENVELOPE_TAGS = frozenset({tags.BEGIN_STRING, tags.BODY_LENGTH, tags.MSG_TYPE, tags.CHECKSUM})


def _b(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


_TS_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})-(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$", re.ASCII)
_ts_cache: tuple[int, str] = (-1, "")
# "YYYYMMDD-HH:MM:SS" -> seconds since epoch, for texts already checked by the calendar:
# SendingTime and TransactTime of one message (and the next ones) share their second
_secs_cache: dict[str, int] = {}
_SECS_CACHE_MAX = 1024


def fix_timestamp(ns: int) -> str:
    """UTCTimestamp with milliseconds, as Kraken sends it: YYYYMMDD-HH:MM:SS.sss."""
    global _ts_cache
    secs, rem = divmod(ns, NS_PER_S)
    cached_secs, text = _ts_cache
    if cached_secs != secs:
        text = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y%m%d-%H:%M:%S")
        _ts_cache = (secs, text)
    return f"{text}.{rem // 1_000_000:03d}"


def parse_fix_timestamp(text: str) -> int:
    """UTCTimestamp (0-9 fractional digits) to ns since epoch; ValueError if malformed."""
    m = _TS_RE.match(text)
    if not m:
        raise ValueError(f"not a UTCTimestamp: {text!r}")
    head = text[:17]  # the match fixes the layout: "YYYYMMDD-HH:MM:SS" is the first 17 characters
    secs = _secs_cache.get(head)
    if secs is None:
        year, month, day, hh, mm, ss = m.groups()[:6]
        try:  # the constructor checks ranges (month, day of month, 0-23, 0-59, 0-59)
            dt = datetime(int(year), int(month), int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
        except ValueError:
            raise ValueError(f"not a UTCTimestamp: {text!r}") from None
        secs = calendar.timegm(dt.utctimetuple())
        if len(_secs_cache) >= _SECS_CACHE_MAX:
            _secs_cache.clear()
        _secs_cache[head] = secs
    frac = m.group(7)
    return secs * NS_PER_S + (int(frac.ljust(9, "0")) if frac else 0)
