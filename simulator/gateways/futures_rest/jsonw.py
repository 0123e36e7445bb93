"""JSON output with exact numbers.

Kraken's derivatives API sends prices, sizes and balances as JSON numbers;
`json.dumps` cannot write a Decimal as a number without a float round trip,
so this writer emits Decimals as number tokens verbatim.
"""

from __future__ import annotations

from decimal import Decimal

from simulator.gateways.jsonw import writer


def num_text(d: Decimal) -> str:
    """Plain number text the way Kraken's Java side writes doubles: no
    exponent, and at least one fractional digit (`91415.0`, `0.0001`)."""
    if not d.is_finite():
        return "null"
    if d == 0:
        return "0.0"
    text = f"{d.normalize():f}"
    if "." not in text:
        text += ".0"
    return text


dumps = writer(num_text)
