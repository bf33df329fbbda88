"""A bounded map that forgets its least recently used keys.

The channels keep small per-user memories (last buttons, recent event ids) in process: bounded so
that a flood of senders cannot grow them without end, and lost on restart, which only costs a
user typing their answer instead of a number.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Hashable, Optional, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    def __init__(self, maxsize: int = 10_000) -> None:
        self._items: "OrderedDict[Hashable, V]" = OrderedDict()
        self._maxsize = maxsize

    def get(self, key: Hashable) -> Optional[V]:
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: Hashable, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._maxsize:
            self._items.popitem(last=False)

    def pop(self, key: Hashable) -> Optional[V]:
        return self._items.pop(key, None)

    def first_time(self, key: Hashable) -> bool:
        """True the first time `key` is seen (within the memory of this map), then False."""
        if key in self._items:
            self._items.move_to_end(key)
            return False
        self.put(key, True)  # type: ignore[arg-type]
        return True
