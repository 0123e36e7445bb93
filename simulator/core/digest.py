"""Canonical fingerprints of state (replay and restart checks).

Each owner of state (engines, the account registry, the rate limiters)
feeds its own state into a `StateHash`; the venue combines them.  The text
hashed is canonical: dicts and sets in sorted order, a record as its own
fields, a reference to another record as that record's id.  Equal state
hashes equal however it was reached: live, replayed from the journal, or
restored from a snapshot.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
from collections import deque
from decimal import Decimal
from typing import Any


class _Plain(tuple):  # type: ignore[type-arg]
    """Already canonical (a record's fields): not walked again."""

    __slots__ = ()


_PRIMITIVE = frozenset({int, str, bool, type(None), Decimal, float, _Plain})
_GETTERS: dict[tuple[type, tuple[str, ...]], tuple[str, Any]] = {}
_FIELDS: dict[type, tuple[str, ...]] = {}


class StateHash:
    """sha256 over labelled canonical lines."""

    __slots__ = ("_h",)

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, label: str, *values: Any) -> None:
        self._h.update(repr((label, *map(plain, values))).encode() + b"\n")

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def plain(x: Any) -> Any:
    """A value as plain data whose repr is canonical: dicts and sets as
    sorted tuples, sequences as tuples, other records as references."""
    t = type(x)
    if t in _PRIMITIVE:
        return x
    if t is dict:
        items = [(plain(k), plain(v)) for k, v in x.items()]
        try:
            items.sort()
        except TypeError:  # keys of mixed types
            items.sort(key=repr)
        return ("dict", tuple(items))
    if t is set or t is frozenset:
        return ("set", tuple(sorted(map(repr, map(plain, x)))))
    if t is list or t is tuple or t is deque:
        prim = _PRIMITIVE
        return tuple([v if type(v) in prim else plain(v) for v in x])
    return ref(x)


def canon(x: Any) -> str:
    """Canonical text of a value; other records appear as references."""
    return repr(plain(x))


def ref(x: Any) -> Any:
    """Another record by its identity (id, else symbol); a value object
    (a dataclass without one, e.g. an Origin) by its fields."""
    for name in ("id", "symbol"):
        v = getattr(x, name, None)
        if isinstance(v, (str, int)):
            return f"@{v}"
    if dataclasses.is_dataclass(x):
        return record(x)
    raise TypeError(f"no canonical form for {type(x).__name__}")


def field_names(cls: type) -> tuple[str, ...]:
    """Every slot of the class and its bases (or the dataclass fields)."""
    names = _FIELDS.get(cls)
    if names is None:
        out: list[str] = []
        for klass in reversed(cls.__mro__):
            slots = klass.__dict__.get("__slots__", ())
            out.extend([slots] if isinstance(slots, str) else slots)
        if not out and dataclasses.is_dataclass(cls):
            out = [f.name for f in dataclasses.fields(cls)]
        names = _FIELDS[cls] = tuple(n for n in out if n != "__weakref__")
    return names


def record(obj: Any, skip: tuple[str, ...] = ()) -> Any:
    """A record as its own fields (minus `skip`: caches, wiring), references
    to other records by id."""
    cls = type(obj)
    got = _GETTERS.get((cls, skip))
    if got is None:
        names = tuple(n for n in field_names(cls) if n not in skip)
        if not names:  # a plain class: its attributes now (not cached: they may vary)
            return _Plain((cls.__name__, plain({k: v for k, v in vars(obj).items() if k not in skip})))
        got = _GETTERS[(cls, skip)] = (cls.__name__, operator.attrgetter(*names) if len(names) > 1 else
                                       (lambda o, g=operator.attrgetter(names[0]): (g(o),)))
    name, getter = got
    prim = _PRIMITIVE
    return _Plain((name, tuple([v if type(v) in prim else plain(v) for v in getter(obj)])))


__all__ = ["StateHash", "canon", "field_names", "plain", "record", "ref"]
