"""Session-level checks that end in a Reject (35=3) rather than a dropped frame.

Field syntax (tag numbers, empty values, size, repeats, header order), the
header fields, the MsgType enumeration, the data dictionary (`dictionary.py`:
which tags exist and which belong to which message) and the admin messages'
own fields. The values of application fields are the application's business.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from simulator.gateways.fix import dictionary, tags
from simulator.gateways.fix.codec import Limits, Msg, is_uint, parse_fix_timestamp
from simulator.gateways.fix.tags import RejectReason as R
from simulator.gateways.fix.tags import tag_label

_BOOLEAN = ("Y", "N")
_FLAG_VALUES = (None, *_BOOLEAN)  # an optional Y/N flag


@dataclass(frozen=True)
class Problem:
    """Why a message is rejected; `logout` ends the session after the Reject."""

    reason: int
    tag: int | None
    text: str
    logout: bool = False


def missing(tag: int, label: Callable[[int], str] = tag_label) -> Problem:
    return Problem(R.REQUIRED_TAG_MISSING, tag, f"Missing mandatory field: {label(tag)}")


def bad_format(tag: int, label: Callable[[int], str] = tag_label) -> Problem:
    return Problem(R.INCORRECT_DATA_FORMAT, tag, f"Incorrect data format for value: {label(tag)}")


def bad_value(tag: int, why: str = "", label: Callable[[int], str] = tag_label) -> Problem:
    suffix = f" ({why})" if why else ""
    return Problem(R.VALUE_INCORRECT, tag, f"Value is incorrect (out of range) for this tag: {label(tag)}{suffix}")


def check_fields(msg: Msg, limits: Limits) -> Problem | None:
    """Field syntax: tag numbers, empty and oversized values, repeats, header order."""
    if len(msg.pairs) > limits.max_fields:
        return Problem(R.OTHER, None, f"Too many fields (limit {limits.max_fields})")
    body_started = False
    max_bytes = limits.max_field_bytes
    header, trailer = tags.HEADER_TAGS, tags.TRAILER_TAGS
    for tag, value in msg.pairs:
        if tag <= 0:
            return Problem(R.INVALID_TAG_NUMBER, tag, f"Invalid tag number: {tag}")
        if value == "":
            return Problem(R.TAG_WITHOUT_VALUE, tag, f"Tag specified without a value: {tag_label(tag)}")
        if len(value) * 4 > max_bytes and len(value.encode("utf-8", "surrogateescape")) > max_bytes:
            return bad_value(tag, f"longer than {max_bytes} bytes")
        if tag in header:
            if body_started:
                return Problem(R.TAG_OUT_OF_ORDER, tag,
                               f"Tag specified out of required order: {tag_label(tag)}")
        elif tag not in trailer:
            body_started = True
    dup = msg.duplicate_tag()
    if dup is not None:
        return Problem(R.TAG_APPEARS_MORE_THAN_ONCE, dup,
                       f"Tag appears more than once: {tag_label(dup)}")
    return None


def check_header(msg: Msg, now_ns: int, max_latency_s: float | None) -> Problem | None:
    """SendingTime, PossDupFlag/OrigSendingTime (MsgSeqNum and CompIDs are checked earlier)."""
    sending = msg.get(tags.SENDING_TIME)
    if sending is None:
        return missing(tags.SENDING_TIME)
    try:
        sending_ns = parse_fix_timestamp(sending)
    except ValueError:
        return bad_format(tags.SENDING_TIME)
    for flag in (tags.POSS_DUP_FLAG, tags.POSS_RESEND):
        if msg.get(flag) not in _FLAG_VALUES:
            return bad_format(flag)
    orig = msg.get(tags.ORIG_SENDING_TIME)
    if orig is not None:
        try:
            orig_ns = parse_fix_timestamp(orig)
        except ValueError:
            return bad_format(tags.ORIG_SENDING_TIME)
        if orig_ns > sending_ns:
            return Problem(R.SENDING_TIME_ACCURACY, tags.ORIG_SENDING_TIME,
                           "SendingTime accuracy problem: OrigSendingTime after SendingTime",
                           logout=True)
    elif msg.poss_dup and msg.msg_type != "4":
        return missing(tags.ORIG_SENDING_TIME)
    if max_latency_s is not None and abs(sending_ns - now_ns) > max_latency_s * 1e9:
        return Problem(R.SENDING_TIME_ACCURACY, tags.SENDING_TIME,
                       "SendingTime accuracy problem", logout=True)
    return None


def check_msg_type(msg: Msg) -> Problem | None:
    mt = msg.msg_type or ""
    if mt in tags.FIX44_MSG_TYPES or (mt.startswith("U") and len(mt) > 1):
        return None
    return Problem(R.INVALID_MSG_TYPE, tags.MSG_TYPE, f"Invalid MsgType: {mt}")


def check_dictionary(msg: Msg) -> Problem | None:
    """FIX 4.4 + Kraken tags: unknown tag 373=0, tag not on this message type 373=2."""
    mt = msg.msg_type or ""
    allowed = dictionary.allowed_tags(mt)
    if allowed is not None and allowed.issuperset([t for t, _ in msg.pairs]):
        return None  # every tag defined and on this layout: no need to find the first one that is not
    for tag, _ in msg.pairs:
        if not dictionary.is_defined(tag):
            return Problem(R.INVALID_TAG_NUMBER, tag, f"Invalid tag number: {tag}")
        if not dictionary.defined_for(mt, tag):
            return Problem(R.TAG_NOT_DEFINED_FOR_MSG_TYPE, tag,
                           f"Tag not defined for this message type: {tag_label(tag)}")
    return None


def _int_field(msg: Msg, tag: int, *, minimum: int) -> tuple[int | None, Problem | None]:
    value = msg.get(tag)
    if value is None:
        return None, missing(tag)
    if not is_uint(value):
        return None, bad_format(tag)
    n = int(value)
    if n < minimum:
        return None, bad_value(tag)
    return n, None


def check_admin(msg: Msg) -> Problem | None:
    """Required fields and formats of the admin messages the session layer consumes."""
    mt = msg.msg_type
    if mt == "1":
        return None if msg.get(tags.TEST_REQ_ID) is not None else missing(tags.TEST_REQ_ID)
    if mt == "2":
        begin, problem = _int_field(msg, tags.BEGIN_SEQ_NO, minimum=1)
        if problem:
            return problem
        end, problem = _int_field(msg, tags.END_SEQ_NO, minimum=0)
        if problem:
            return problem
        if end and begin and end < begin:
            return bad_value(tags.END_SEQ_NO, "EndSeqNo before BeginSeqNo")
        return None
    if mt == "4":
        if msg.get(tags.GAP_FILL_FLAG) not in (None, *_BOOLEAN):
            return bad_format(tags.GAP_FILL_FLAG)
        return _int_field(msg, tags.NEW_SEQ_NO, minimum=1)[1]
    if mt == "A":
        return check_logon_fields(msg)
    return None


def check_logon_fields(msg: Msg) -> Problem | None:
    """Logon fields: EncryptMethod 0, HeartBtInt, and the Y/N / 0/1 flags."""
    encrypt = msg.get(tags.ENCRYPT_METHOD)
    if encrypt is None:
        return missing(tags.ENCRYPT_METHOD)
    if encrypt != "0":
        return bad_value(tags.ENCRYPT_METHOD, "only 0 (none) is supported")
    problem = _int_field(msg, tags.HEART_BT_INT, minimum=0)[1]
    if problem:
        return problem
    for flag in (tags.RESET_SEQ_NUM_FLAG, tags.FORCE_RESET_CLORDID, tags.REBASED):
        if msg.get(flag) not in (None, *_BOOLEAN):
            return bad_format(flag)
    if msg.get(tags.CANCEL_ORDERS_ON_DISCONNECT) not in (None, "0", "1"):
        return bad_value(tags.CANCEL_ORDERS_ON_DISCONNECT, "0 = cancel on disconnect, 1 = keep")
    return None


def parse_seq_num(value: str | None, *, allow_zero: bool = False) -> int | None:
    """MsgSeqNum as a positive int (or 0 if allowed), None when missing or malformed."""
    if value is None or not is_uint(value):
        return None
    n = int(value)
    return n if n > 0 or allow_zero else None
