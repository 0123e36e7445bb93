"""The JSON writer (orjson): exact number tokens, and echoed client input
orjson refuses on its own (wide integers, lone surrogates, non-str keys)."""

from __future__ import annotations

import json
from decimal import Decimal

from simulator.gateways.futures_rest.render import JSON as FUTURES
from simulator.gateways.jsonw import Raw, dumpb, dumps


def test_exact_tokens_and_decimal_spelling() -> None:
    assert dumps({"p": Raw("60000.10"), "q": Decimal("0.00000001"), "s": "é\n"}) == (
        '{"p":60000.10,"q":0.00000001,"s":"é\\n"}'
    )
    assert FUTURES.text({"a": Decimal("60000.00"), "b": Decimal("1E-8"), "c": Decimal(5), "z": Decimal(0)}) == (
        '{"a":60000.0,"b":0.00000001,"c":5.0,"z":0.0}'
    )


def test_key_order_and_compact_separators() -> None:
    assert dumpb({"b": 1, "a": [True, None, (1, 2)]}) == b'{"b":1,"a":[true,null,[1,2]]}'


def test_wide_integers_are_written_whole() -> None:
    big = 10**30
    assert dumps({"req_id": big, "n": [-(10**25)]}) == f'{{"req_id":{big},"n":[{-(10**25)}]}}'
    assert json.loads(dumps({"x": (1 << 64) - 1})) == {"x": (1 << 64) - 1}


def test_lone_surrogates_and_odd_keys_do_not_fail() -> None:
    text = dumps({"method": "\ud800x", 1: "one"})
    assert text == '{"method":"\\ud800x","1":"one"}'
    assert json.loads(text)["method"] == "\ud800x"
