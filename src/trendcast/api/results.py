"""Finished runs' tables, read from the run store once and kept in memory.

A finished run never changes, so its tables are cached (least recently used first out);
requests then filter a DataFrame in memory instead of opening the database, which is
what keeps reads fast when many clients ask at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path

import pandas as pd

from trendcast.exceptions import StoreError

__all__ = ["ResponseCache", "RunTables"]


class RunTables:
    """Read-through cache of ``(run_id, table)`` from a run store file."""

    def __init__(self, store_path: Path, capacity: int = 64, lock_wait: float = 15.0) -> None:
        self.store_path = store_path
        self.capacity = capacity
        self.lock_wait = lock_wait
        self._cache: OrderedDict[tuple[str, str], pd.DataFrame | None] = OrderedDict()
        self._indexes: dict[tuple[str, str], dict[str, pd.Index]] = {}
        self._lock = threading.Lock()

    def table(self, run_id: str, name: str) -> pd.DataFrame | None:
        """The table ``name`` of ``run_id``, or None when that run has no such table."""
        key = (run_id, name)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        frame = self._load(run_id, name)
        with self._lock:
            self._cache[key] = frame
            while len(self._cache) > self.capacity:
                old, _ = self._cache.popitem(last=False)
                self._indexes.pop(old, None)
        return frame

    def cached(self, run_id: str, name: str) -> bool:
        """Whether a table is in memory already (reading it needs no database)."""
        with self._lock:
            return (run_id, name) in self._cache

    def rows_of(self, run_id: str, name: str, product: str) -> pd.DataFrame | None:
        """The rows of ``product`` (a ``unique_id``) in a table, through a per-product index."""
        frame = self.table(run_id, name)
        if frame is None or "unique_id" not in frame.columns:
            return None
        key = (run_id, name)
        with self._lock:
            index = self._indexes.get(key)
        if index is None:
            groups = frame.groupby("unique_id", sort=False, observed=True).indices
            index = {str(k): pd.Index(v) for k, v in groups.items()}
            with self._lock:
                self._indexes[key] = index
        rows = index.get(product)
        return frame.iloc[rows] if rows is not None else frame.iloc[0:0]

    def _load(self, run_id: str, name: str) -> pd.DataFrame | None:
        from trendcast.store import RunStore

        deadline = time.monotonic() + self.lock_wait
        while True:
            try:
                with RunStore(self.store_path, read_only=True) as store:
                    names = store.table_names(run_id)
                    return store.load_table(run_id, name) if name in names else None
            except StoreError as exc:
                # a worker writing its run holds the file for a moment
                if "Could not open" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


class ResponseCache:
    """Finished responses' bodies by key, least recently used first out, within a byte budget.

    A finished run's answer to the same question never changes, so the hot read (one
    product's forecasts) is served as bytes made once, not filtered and serialised again.
    """

    def __init__(self, max_bytes: int = 64 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._bodies: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> bytes | None:
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def put(self, key: tuple[str, ...], body: bytes) -> None:
        if len(body) > self.max_bytes // 16:
            return  # big answers (whole tables) are not worth holding
        with self._lock:
            old = self._bodies.pop(key, None)
            self._size += len(body) - (len(old) if old is not None else 0)
            self._bodies[key] = body
            while self._size > self.max_bytes:
                _, dropped = self._bodies.popitem(last=False)
                self._size -= len(dropped)
