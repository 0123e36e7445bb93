"""WS v2's JSON writer: exact number tokens travel as `Raw` strings."""

from __future__ import annotations

from simulator.gateways.jsonw import Raw, writer

dumps = writer()

__all__ = ["Raw", "dumps"]
