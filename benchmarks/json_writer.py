"""The venue's JSON writer (orjson, simulator/gateways/jsonw.py) beside the
hand-written writer it replaced, on the payload shapes each gateway sends.

    python -m benchmarks.json_writer [--n 3000] [--repeat 5] [--json]

The old writer is kept here verbatim as the same-run baseline (a recursive
pure-Python writer with a `Raw` str subclass for exact tokens); both must
produce the same bytes for every payload, or the run fails."""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from collections.abc import Callable
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from simulator.gateways.futures_rest.render import JSON as FUTURES_JSON
from simulator.gateways.futures_rest.render import num_text
from simulator.gateways.jsonw import PLAIN, Raw


class OldRaw(str):
    __slots__ = ()


def old_writer(decimal_text: Callable[[Decimal], str] = lambda d: format(d, "f")) -> Callable[[Any], str]:
    """The replaced writer, as it was (simulator/gateways/jsonw.py before orjson)."""

    def write(obj: Any, out: Callable[[str], Any]) -> None:
        t = type(obj)
        if t is OldRaw:
            out(obj)
        elif t is str:
            out(encode_basestring(obj))
        elif t is dict:
            out("{")
            first = True
            for k, v in obj.items():
                if first:
                    first = False
                else:
                    out(",")
                out(encode_basestring(str(k)))
                out(":")
                write(v, out)
            out("}")
        elif t is list or t is tuple:
            out("[")
            first = True
            for v in obj:
                if first:
                    first = False
                else:
                    out(",")
                write(v, out)
            out("]")
        elif obj is True:
            out("true")
        elif obj is False:
            out("false")
        elif obj is None:
            out("null")
        elif t is int:
            out(str(obj))
        elif isinstance(obj, Decimal):
            out(decimal_text(obj))
        else:
            raise TypeError(f"cannot serialise {t.__name__}")

    def dumps(obj: Any) -> str:
        parts: list[str] = []
        write(obj, parts.append)
        return "".join(parts)

    return dumps


def spot_ws_book(raw: Callable[[str], Any]) -> dict[str, Any]:
    """A 10-level WS v2 book update: every number an exact token."""
    level = [{"price": raw(f"6000{i}.1"), "qty": raw("0.50000000")} for i in range(10)]
    return {"channel": "book", "type": "update",
            "data": [{"symbol": "BTC/USD", "bids": level, "asks": level, "checksum": 2439117997,
                      "timestamp": "2024-01-01T00:00:00.000000Z"}]}


def spot_ws_execution(raw: Callable[[str], Any]) -> dict[str, Any]:
    """One WS v2 executions trade report."""
    return {"channel": "executions", "type": "update", "data": [{
        "order_id": "OABCDE-FGHIJ-KLMNOP", "exec_id": "TABCDE-FGHIJ-KLMNOP", "exec_type": "trade",
        "trade_id": 123456, "symbol": "BTC/USD", "side": "buy", "last_qty": raw("0.01000000"),
        "last_price": raw("60000.1"), "liquidity_ind": "t", "cost": raw("600.00100"), "order_userref": 0,
        "order_status": "filled", "order_type": "limit", "fee_usd_equiv": raw("1.5600"),
        "timestamp": "2024-01-01T00:00:00.000000Z", "fees": [{"asset": "USD", "qty": raw("1.5600")}],
        "cum_qty": raw("0.01000000"), "cum_cost": raw("600.00100"), "avg_price": raw("60000.1")}],
        "sequence": 42}


def futures_positions() -> dict[str, Any]:
    """Futures REST openpositions: computed Decimals, spelt by the futures dialect."""
    pos = [{"side": "long", "symbol": f"PF_XBTUSD{i}", "price": Decimal("60000.50") + i,
            "fillTime": "2024-01-01T00:00:00.000Z", "size": Decimal("0.0010") * (i + 1),
            "unrealizedFunding": Decimal("0.0000001234"), "pnlCurrency": "USD", "maxFixedLeverage": 50}
           for i in range(20)]
    return {"result": "success", "serverTime": "2024-01-01T00:00:00.000Z", "openPositions": pos}


def spot_rest_ticker() -> dict[str, Any]:
    """Spot REST Ticker for 10 pairs: strings only (the old writer there was stdlib json)."""
    row = {"a": ["60000.10000", "1", "1.000"], "b": ["59999.90000", "2", "2.000"], "c": ["60000.00000", "0.01"],
           "v": ["12.5", "100.25"], "p": ["60001.2", "60010.3"], "t": [120, 1500], "l": ["59000.0", "58000.0"],
           "h": ["61000.0", "62000.0"], "o": "60500.0"}
    return {"error": [], "result": {f"XXBTZUSD{i}": row for i in range(10)}}


def _call(fn: Callable[[Any], str], obj: Any) -> Callable[[], bytes]:
    return lambda: fn(obj).encode()


def _time(fn: Callable[[], Any], n: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=n, repeat=repeat)) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    old_plain, old_futures = old_writer(), old_writer(num_text)
    stdlib = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    cases: list[tuple[str, Callable[[], Any], Callable[[], Any], bytes, bytes]] = []
    table: list[tuple[str, Any, Any, Callable[[Any], str], Callable[[Any], str]]] = [
        ("spot_ws book update", spot_ws_book(OldRaw), spot_ws_book(Raw), old_plain, PLAIN.text),
        ("spot_ws execution", spot_ws_execution(OldRaw), spot_ws_execution(Raw), old_plain, PLAIN.text),
        ("futures openpositions", futures_positions(), futures_positions(), old_futures, FUTURES_JSON.text),
        ("spot_rest ticker", spot_rest_ticker(), spot_rest_ticker(), stdlib, PLAIN.text),
    ]
    for name, old_obj, new_obj, old_fn, new_fn in table:
        cases.append((name, _call(old_fn, old_obj), _call(new_fn, new_obj),
                      old_fn(old_obj).encode(), new_fn(new_obj).encode()))
    results: dict[str, dict[str, float]] = {}
    same = True
    for name, old_call, new_call, old_bytes, new_bytes in cases:
        if old_bytes != new_bytes:
            same = False
            print(f"{name}: OUTPUT DIFFERS\n  old {old_bytes[:200]!r}\n  new {new_bytes[:200]!r}")
        old_us, new_us = _time(old_call, a.n, a.repeat), _time(new_call, a.n, a.repeat)
        results[name] = {"old_us": round(old_us, 2), "new_us": round(new_us, 2), "speedup": round(old_us / new_us, 2)}
        print(f"{name:24s}: hand-written {old_us:8.2f} us  orjson {new_us:8.2f} us  speedup {old_us / new_us:5.1f}x")
    print(f"identical bytes: {'yes' if same else 'NO'}")
    if a.json:
        print(json.dumps({"identical": same, "payloads": results}))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
