"""Codec unit tests: framing (BodyLength, CheckSum, garbage, size limits), decode, encode."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from simulator.gateways.fix import tags
from simulator.gateways.fix.auth import NonceTracker, kraken_logon_password, verify_password
from simulator.gateways.fix.codec import (
    DecodeError,
    Framer,
    Limits,
    Msg,
    checksum,
    decode,
    encode_message,
    fix_timestamp,
    parse_fix_timestamp,
)
from simulator.gateways.fix.validate import check_fields, check_header, check_msg_type

SOH = b"\x01"


def wire(text: str) -> bytes:
    """'|'-separated body fields after 8/9 -> a correct message (BodyLength, CheckSum)."""
    body = text.replace("|", "\x01").encode()
    head = b"8=FIX.4.4\x019=" + str(len(body)).encode() + SOH
    return head + body + b"10=" + checksum(head + body).encode() + SOH


HB = "35=0|49=C|56=S|34=2|52=20240101-00:00:00.000|"
TR = "35=1|49=C|56=S|34=3|52=20240101-00:00:00.000|112=x|"


def frames(framer: Framer) -> list:
    return list(framer.frames())


def test_kraken_doc_example_fields_frame_cleanly() -> None:
    # fields of the fix.md §3.1 example; the published 9=76/10=011 are illustrative
    # (the real length is 78), and a real engine would drop that frame, as we do
    fields = "35=A|49=MYCOMPID|56=KRAKEN-MD|34=1|52=20230707-13:31:03.000|98=0|108=60|141=Y|"
    f = Framer()
    f.feed(wire(fields))
    (frame,) = frames(f)
    assert frame.error is None
    msg = decode(frame.raw)
    assert msg.msg_type == "A" and msg.get(141) == "Y" and msg.seq_num == 1
    published = b"8=FIX.4.4|9=76|" + fields.encode() + b"10=011|"
    f.feed(published.replace(b"|", SOH))
    (bad,) = frames(f)
    assert bad.error is not None


def test_valid_message_split_byte_by_byte() -> None:
    raw = wire(HB) + wire(TR)
    f = Framer()
    out = []
    for b in raw:
        f.feed(bytes([b]))
        out += frames(f)
    assert [fr.error for fr in out] == [None, None]
    assert [decode(fr.raw).msg_type for fr in out] == ["0", "1"]


def test_bad_checksum_is_reported_and_next_message_survives() -> None:
    bad = bytearray(wire(HB))
    bad[-4:-1] = b"999" if bad[-4:-1] != b"999" else b"998"
    f = Framer()
    f.feed(bytes(bad) + wire(TR))
    first, second = frames(f)
    assert first.error and "CheckSum mismatch" in first.error
    assert second.error is None and decode(second.raw).get(112) == "x"


@pytest.mark.parametrize("delta", [-5, +5, +400])
def test_wrong_body_length_detected_without_waiting(delta: int) -> None:
    good = wire(HB)
    body_len = len(HB)
    bad = good.replace(f"9={body_len}".encode(), f"9={body_len + delta}".encode(), 1)
    # CheckSum recomputed so only the BodyLength is wrong
    bad = bad[:-7] + b"10=" + checksum(bad[:-7]).encode() + SOH
    f = Framer()
    f.feed(bad)
    out = frames(f)
    assert len(out) == 1 and out[0].error and "BodyLength" in out[0].error
    f.feed(wire(TR))
    (nxt,) = frames(f)
    assert nxt.error is None and decode(nxt.raw).msg_type == "1"


def test_garbage_between_messages_is_skipped() -> None:
    f = Framer()
    f.feed(b"\x00\xffjunk=1\x01" + wire(HB) + b"GARBAGE 8=FOO \x01\x01" + wire(TR) + b"8=FI")
    out = frames(f)
    assert [fr.error for fr in out] == [None, None]
    assert f.discarded_bytes > 0
    # the trailing "8=FI" may start a message: kept, and completes later
    f.feed(wire(HB)[4:])
    (third,) = frames(f)
    assert third.error is None


def test_broken_header_resyncs_on_next_message() -> None:
    f = Framer()
    f.feed(b"8=FIX.4.4\x019=abc\x01" + wire(HB) + b"8=FIX.4.4\x0135=0\x01" + wire(TR))
    out = frames(f)
    assert [bool(fr.error) for fr in out] == [True, False, True, False]


def test_huge_body_length_rejected_immediately() -> None:
    f = Framer(Limits(max_message_bytes=1024))
    f.feed(b"8=FIX.4.4\x019=99999999\x0135=0\x01")
    (fr,) = frames(f)
    assert fr.error and "larger than" in fr.error
    f.feed(wire(HB))
    assert [x.error for x in frames(f)] == [None]


def test_framer_buffer_stays_bounded_under_garbage() -> None:
    f = Framer()
    for _ in range(100):
        f.feed(b"x" * 10_000)
        assert frames(f) == []
    assert len(f._buf) < 10


def test_decode_keeps_order_and_duplicates() -> None:
    msg = decode(wire("35=1|49=C|56=S|34=3|52=20240101-00:00:00.000|112=a|112=b|"))
    assert [t for t, _ in msg.pairs] == [8, 9, 35, 49, 56, 34, 52, 112, 112, 10]
    assert msg.get_all(112) == ["a", "b"]
    assert msg.duplicate_tag() == 112
    problem = check_fields(msg, Limits())
    assert problem and problem.reason == tags.RejectReason.TAG_APPEARS_MORE_THAN_ONCE and problem.tag == 112


def test_repeating_groups_are_not_duplicates() -> None:
    msg = decode(wire("35=V|49=C|56=S|34=3|52=20240101-00:00:00.000|262=1|263=1|264=0|"
                      "267=3|269=0|269=1|269=2|146=2|55=BTC/USD|55=ETH/USD|"))
    assert msg.duplicate_tag() is None
    header_dup = decode(wire("35=V|49=C|56=S|34=3|52=20240101-00:00:00.000|267=1|269=0|34=4|"))
    assert header_dup.duplicate_tag() == 34
    hops = decode(wire("35=0|49=C|56=S|34=3|52=20240101-00:00:00.000|627=2|628=A|628=B|"))
    assert hops.duplicate_tag() is None


def test_empty_value_and_bad_tags() -> None:
    msg = decode(wire("35=0|49=C|56=S|34=2|52=20240101-00:00:00.000|58=|"))
    assert msg.get(58) == ""
    problem = check_fields(msg, Limits())
    assert problem and problem.reason == tags.RejectReason.TAG_WITHOUT_VALUE and problem.tag == 58
    with pytest.raises(DecodeError):
        decode(wire("35=0|49=C|56=S|34=2|abc=1|"))
    zero = decode(wire("35=0|49=C|56=S|34=2|52=20240101-00:00:00.000|0=1|"))
    p0 = check_fields(zero, Limits())
    assert p0 and p0.reason == tags.RejectReason.INVALID_TAG_NUMBER


def test_huge_field_and_too_many_fields() -> None:
    msg = decode(wire(HB + "58=" + "x" * 5000 + "|"))
    problem = check_fields(msg, Limits(max_field_bytes=4096))
    assert problem and problem.reason == tags.RejectReason.VALUE_INCORRECT and problem.tag == 58
    many = decode(wire(HB + "".join(f"{5000 + i}=1|" for i in range(50))))
    p2 = check_fields(many, Limits(max_fields=40))
    assert p2 and p2.reason == tags.RejectReason.OTHER


def test_header_out_of_order_and_msg_type() -> None:
    msg = decode(wire("35=0|49=C|56=S|52=20240101-00:00:00.000|112=x|34=2|"))
    problem = check_fields(msg, Limits())
    assert problem and problem.reason == tags.RejectReason.TAG_OUT_OF_ORDER and problem.tag == 34
    assert check_msg_type(Msg.new("ZZ")) is not None
    assert check_msg_type(Msg.new("D")) is None and check_msg_type(Msg.new("U1")) is None


def test_header_checks() -> None:
    def hdr(extra: str) -> Msg:
        return decode(wire("35=0|49=C|56=S|34=2|" + extra))

    now = parse_fix_timestamp("20240101-00:00:00")
    assert check_header(hdr("52=20240101-00:00:00.000|"), now, None) is None
    p = check_header(hdr("52=yesterday|"), now, None)
    assert p and p.reason == tags.RejectReason.INCORRECT_DATA_FORMAT and p.tag == 52
    p = check_header(hdr("52=20240101-00:00:00|43=Y|"), now, None)
    assert p and p.reason == tags.RejectReason.REQUIRED_TAG_MISSING and p.tag == 122
    p = check_header(hdr("52=20240101-00:00:00|43=Y|122=20240101-00:00:01|"), now, None)
    assert p and p.reason == tags.RejectReason.SENDING_TIME_ACCURACY and p.logout
    p = check_header(hdr("52=20240101-00:05:00|"), now, 120.0)
    assert p and p.reason == tags.RejectReason.SENDING_TIME_ACCURACY


def test_encode_header_order_length_and_checksum() -> None:
    raw = encode_message("FIX.4.4", "8", "KRAKEN-TRD", "CLIENT", 7, "20240101-00:00:00.000",
                         [(37, "OABC"), (39, "0")], orig_sending_time="20231231-23:59:59.000")
    msg = decode(raw)
    assert [t for t, _ in msg.pairs] == [8, 9, 35, 49, 56, 34, 52, 43, 122, 37, 39, 10]
    f = Framer()
    f.feed(raw)
    (fr,) = frames(f)
    assert fr.error is None
    body_start = raw.index(b"35=")
    assert int(msg.get(9) or 0) == len(raw) - 7 - body_start


def test_msg_new_formats_values() -> None:
    msg = Msg.new("D", [(38, 1), (141, True), (44, "1000.5")])
    assert msg.pairs == [(35, "D"), (38, "1"), (141, "Y"), (44, "1000.5")]
    with pytest.raises(ValueError):
        Msg.new("D", [(58, "a\x01b")])


def test_timestamps() -> None:
    ns = parse_fix_timestamp("20230707-13:21:15.072")
    assert fix_timestamp(ns) == "20230707-13:21:15.072"
    assert parse_fix_timestamp("20230707-13:21:15") == ns - 72_000_000
    assert parse_fix_timestamp("20230707-13:21:15.072123456") == ns + 123_456
    for bad in ("2023-07-07 13:21:15", "20231307-13:21:15", "20230707-13:21:61", "20230707-13:21:15."):
        with pytest.raises(ValueError):
            parse_fix_timestamp(bad)


def test_kraken_password_matches_spec_recipe() -> None:
    secret = base64.b64encode(b"s" * 64).decode()
    inp = "35=A\x0134=1\x0149=MYCOMPID\x0156=KRAKEN-TRD\x01553=KEY\x01"
    digest = hashlib.sha256((inp + "1688736075072").encode()).digest()
    expected = base64.b64encode(hmac.new(b"s" * 64, digest, hashlib.sha512).digest()).decode()
    assert kraken_logon_password(secret, 1, "MYCOMPID", "KRAKEN-TRD", "KEY", "1688736075072") == expected
    assert verify_password(expected, secret, "1", "MYCOMPID", "KRAKEN-TRD", "KEY", "1688736075072")
    assert not verify_password(expected, secret, "2", "MYCOMPID", "KRAKEN-TRD", "KEY", "1688736075072")
    assert not verify_password(expected, "not base64!", "1", "MYCOMPID", "KRAKEN-TRD", "KEY", "1")


def test_nonce_window_and_monotonic() -> None:
    n = NonceTracker(5000)
    assert n.check("k", "100000", 100_000) is None
    n.commit("k", "100000")
    assert n.check("k", "100000", 100_000) is not None  # replay
    assert n.check("k", "100001", 100_000) is None
    assert n.check("k", "94999", 100_000) is not None  # outside 5 s
    assert n.check("k", "abc", 100_000) is not None
