"""Answering a ResendRequest from the store: what to replay and what to gap-fill.

Application messages are replayed as they were (PossDup added by the
encoder); admin messages, and anything missing from the store, collapse into
SequenceReset-GapFill runs, as QuickFIX does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from simulator.gateways.fix import tags
from simulator.gateways.fix.codec import DecodeError, Msg, decode


@dataclass(frozen=True)
class GapFill:
    seq: int
    new_seq: int


@dataclass(frozen=True)
class Replay:
    seq: int
    msg: Msg


def resend_range(begin: int, end: int, last_sent: int) -> tuple[int, int] | None:
    """Clamp EndSeqNo (0 = infinity) to what was sent; None if nothing to resend."""
    end = last_sent if end == 0 or end > last_sent else end
    return (begin, end) if begin <= end else None


def plan_resend(stored: Mapping[int, bytes], begin: int, end: int) -> list[GapFill | Replay]:
    plan: list[GapFill | Replay] = []
    gap_start: int | None = None
    for seq in range(begin, end + 1):
        original = _replayable(stored.get(seq))
        if original is None:
            gap_start = seq if gap_start is None else gap_start
            continue
        if gap_start is not None:
            plan.append(GapFill(gap_start, seq))
            gap_start = None
        plan.append(Replay(seq, original))
    if gap_start is not None:
        plan.append(GapFill(gap_start, end + 1))
    return plan


def _replayable(raw: bytes | None) -> Msg | None:
    if raw is None:
        return None
    try:
        msg = decode(raw)
    except DecodeError:
        return None
    return None if msg.msg_type in tags.ADMIN_MSG_TYPES else msg
