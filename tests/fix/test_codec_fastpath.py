"""The codec's fast paths agree with simplefix, which stays the reference."""

from __future__ import annotations

import random

import pytest
import simplefix

from simulator.gateways.fix.codec import (
    DecodeError,
    Msg,
    _decode_plain,
    _decode_simplefix,
    byte_sum,
    decode,
    encode_message,
    parse_fix_timestamp,
)


def frame(body: str) -> bytes:
    payload = body.replace("|", "\x01").encode("utf-8", "surrogateescape")
    head = b"8=FIX.4.4\x019=%d\x01" % len(payload)
    raw = head + payload
    return raw + b"10=%03d\x01" % (sum(raw) % 256)


@pytest.mark.parametrize("body", [
    "35=D|49=C|56=S|34=2|52=20240101-00:00:00.000|11=a|58=é=x|",
    "35=0|49=C|56=S|34=2|52=20240101-00:00:00.000|58=|",
    "35=0|49=C|56=S|34=2|52=20240101-00:00:00.000|95=3|96=a\x01b|",  # data field: SOH inside
    "35=0|49=C|56=S|34=2|052=x|",  # leading zero tag
])
def test_decode_fast_path_equals_simplefix(body: str) -> None:
    raw = frame(body)
    assert decode(raw).pairs == _decode_simplefix(raw).pairs


def test_decode_falls_back_for_what_simplefix_must_judge() -> None:
    assert _decode_plain(frame("35=0|49=C|95=3|96=abc|")) is None  # data fields
    assert _decode_plain(frame("35=0|49=C|1=a|b|")) is None  # a field without "="
    assert _decode_plain(frame("35=0|49=C|=a|")) is None  # no tag
    assert _decode_plain(frame("35=0|49=C|\u0662=a|")) is None  # a digit, but not an ASCII one
    assert _decode_plain(frame("35=0|10=000|49=C|")) is None  # CheckSum before the end
    with pytest.raises(DecodeError):
        decode(frame("35=0|49=C|abc=1|"))  # tag not a number: simplefix's error
    two = frame("35=0|49=C|") + frame("35=1|49=C|")
    with pytest.raises(DecodeError):
        decode(two)


def test_encode_is_byte_for_byte_simplefix() -> None:
    body = [(11, "x"), (58, "héllo"), (44, "1000.5")]
    raw = encode_message("FIX.4.4", "8", "KRAKEN-TRD", "C", 9, "20240101-00:00:00.000", body,
                         orig_sending_time="20231231-23:59:59.000")
    fm = simplefix.FixMessage()
    for tag, value in [(8, "FIX.4.4"), (35, "8"), (49, "KRAKEN-TRD"), (56, "C"), (34, 9),
                       (52, "20240101-00:00:00.000"), (43, "Y"), (122, "20231231-23:59:59.000")]:
        fm.append_pair(tag, value, header=True)
    for tag, value in body:
        fm.append_pair(tag, value)
    assert raw == fm.encode()


def test_msg_index_follows_appends_and_keeps_first_occurrence() -> None:
    msg = Msg([(35, "V"), (269, "0"), (269, "1")])
    assert msg.get(269) == "0" and 269 in msg and 55 not in msg
    msg.pairs.append((55, "BTC/USD"))
    assert msg.get(55) == "BTC/USD"


@pytest.mark.parametrize("bad", ["20240230-00:00:00", "20241301-00:00:00", "20240101-24:00:00",
                                 "20240101-00:00:60", "2024010a-00:00:00", "٢٠٢٤0101-00:00:00"])
def test_timestamp_ranges_are_checked(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_fix_timestamp(bad)


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 600, 70_000])
def test_byte_sum_is_the_plain_sum(size: int) -> None:
    rng = random.Random(size)
    data = bytes(rng.getrandbits(8) for _ in range(size))
    assert byte_sum(data) == sum(data) and byte_sum(bytearray(data)) == sum(data)
    assert byte_sum(b"\xff" * size) == 255 * size  # the worst case for Adler-32's modulus


def test_timestamp_second_cache_keeps_the_fraction_and_the_checks() -> None:
    first = parse_fix_timestamp("20240229-23:59:59.5")
    assert parse_fix_timestamp("20240229-23:59:59.123456789") == first - 500_000_000 + 123_456_789
    assert parse_fix_timestamp("20240229-23:59:59") == first - 500_000_000
    for bad in ("20240229-23:59:59.", "20240229-23:59:59.1234567890", "20240229-23:59:59.x"):
        with pytest.raises(ValueError):
            parse_fix_timestamp(bad)  # same second already cached: the rest is still checked
