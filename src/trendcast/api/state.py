"""The service's own state: API keys, uploaded datasets and jobs, in DuckDB or PostgreSQL.

The service keeps two DuckDB files in its data directory:

- ``service.duckdb`` (this module): ``api_keys``, ``datasets`` and ``jobs``. Only the
  server and the ``trendcast keys`` command write it.
- ``runs.duckdb``: the ordinary :class:`trendcast.store.RunStore`, written by the job
  workers exactly as the CLI writes it, read by the server.

A connection is opened for each operation and closed after it, so the CLI can add a key
while the server runs; an operation that finds the file locked by another process
retries for a few seconds before it gives up. Every query is parameterised.

Given a ``postgresql://`` URL instead of a file (``trendcast serve --database-url``), the
same tables live in that PostgreSQL database (through psycopg), for teams that keep
their service state there; results stay in the data directory's run store.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from trendcast.exceptions import ConfigError, MissingDependencyError, StoreError

__all__ = ["ServiceState", "open_state", "utc_now"]

SCHEMA_VERSION = 1
FINISHED = ("succeeded", "failed", "cancelled")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS service_schema (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS api_keys (
        key_id VARCHAR PRIMARY KEY,
        secret_hash VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        label VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        revoked_at TIMESTAMPTZ
    )""",
    """CREATE TABLE IF NOT EXISTS datasets (
        dataset_id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        filename VARCHAR NOT NULL,
        stored_as VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        bytes BIGINT NOT NULL,
        columns VARCHAR NOT NULL,
        options VARCHAR NOT NULL,
        profile VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        created_by VARCHAR NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS jobs (
        job_id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,
        dataset_id VARCHAR NOT NULL,
        params VARCHAR NOT NULL,
        state VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        run_id VARCHAR,
        error VARCHAR,
        pid INTEGER,
        created_by VARCHAR NOT NULL
    )""",
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def open_state(data_dir: Path, database_url: str | None = None) -> ServiceState:
    """The state of the service over ``data_dir``: its ``service.duckdb``, or the PostgreSQL
    database at ``database_url``."""
    if database_url is not None and not is_database_url(database_url):
        raise ConfigError(
            f"--database-url must start with postgresql://, got {database_url.split(':')[0]}:..."
        )
    return ServiceState(database_url or data_dir / "service.duckdb")


def is_database_url(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


class _Postgres:
    """A psycopg connection that takes DuckDB's ``?`` placeholders."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise MissingDependencyError(
                "psycopg", "postgres", "keeping the service state in PostgreSQL"
            ) from None
        self.error: type[Exception] = psycopg.Error
        try:
            self.con = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"Cannot connect to the service database: {exc}") from None

    def execute(self, sql: str, params: list[Any] | None = None) -> Any:
        return self.con.execute(sql.replace("?", "%s"), params or [])

    def close(self) -> None:
        self.con.close()


class ServiceState:
    """Keys, datasets and jobs of one service.

    Parameters
    ----------
    target
        The ``service.duckdb`` file (created with its tables when missing), or the
        ``postgresql://user:password@host/db`` URL of a PostgreSQL database.
    lock_timeout
        Seconds to keep retrying when another process holds the DuckDB file.
    """

    def __init__(self, target: str | Path, lock_timeout: float = 10.0) -> None:
        self.url = str(target) if is_database_url(target) else None
        self.path = Path("service.duckdb") if self.url else Path(target)
        self.lock_timeout = lock_timeout
        self._lock = threading.Lock()
        if self.url is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            for statement in _SCHEMA:
                con.execute(statement)
            row = con.execute("SELECT max(version) FROM service_schema").fetchone()
            if row is None or row[0] is None:
                con.execute("INSERT INTO service_schema VALUES (?)", [SCHEMA_VERSION])
            elif row[0] != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.where} has service schema version {row[0]}, but this trendcast reads "
                    f"version {SCHEMA_VERSION}; use the trendcast that wrote it or a new --data-dir."
                )

    @property
    def where(self) -> str:
        """The state's location for messages (a URL without its password)."""
        if self.url is None:
            return str(self.path)
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.url)

    def stamp(self) -> tuple[int, ...] | None:
        """Modification times of the database and its write-ahead log: any write changes it.
        None for PostgreSQL, where no cheap sign of a change exists."""
        if self.url is not None:
            return None
        stamps = []
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                stamps.append(path.stat().st_mtime_ns)
            except FileNotFoundError:
                stamps.append(0)
        return tuple(stamps)

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        """One connection for one operation; waits while another process holds the file."""
        if self.url is not None:
            pg = _Postgres(self.url)
            try:
                yield pg
            except pg.error as exc:
                raise StoreError(f"The service database {self.where} failed: {exc}") from exc
            finally:
                pg.close()
            return
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        with self._lock:
            while True:
                try:
                    con = duckdb.connect(str(self.path))
                    break
                except duckdb.IOException as exc:
                    if time.monotonic() >= deadline:
                        raise StoreError(
                            f"The service state {self.path} stayed locked by another process "
                            f"for {self.lock_timeout:.0f}s: {exc}"
                        ) from exc
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
                except duckdb.Error as exc:
                    raise StoreError(f"Cannot open the service state {self.path}: {exc}") from exc
            try:
                yield con
            except duckdb.Error as exc:
                raise StoreError(f"The service state {self.path} failed: {exc}") from exc
            finally:
                con.close()

    def _rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        with self._connect() as con:
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def _execute(self, sql: str, params: list[Any] | None = None) -> None:
        with self._connect() as con:
            con.execute(sql, params or [])

    # -- keys ---------------------------------------------------------------------------------

    def add_key(self, key_id: str, secret_hash: str, role: str, label: str) -> None:
        self._execute(
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
            [key_id, secret_hash, role, label, utc_now()],
        )

    def key(self, key_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM api_keys WHERE key_id = ?", [key_id])
        return rows[0] if rows else None

    def keys(self) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT key_id, role, label, created_at, revoked_at FROM api_keys ORDER BY created_at"
        )

    def revoke_key(self, key_id: str) -> bool:
        with self._connect() as con:
            found = con.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL "
                "RETURNING key_id",
                [utc_now(), key_id],
            ).fetchall()
        return bool(found)

    def count_admins(self) -> int:
        row = self._rows(
            "SELECT count(*) AS n FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL"
        )
        return int(row[0]["n"])

    # -- datasets -----------------------------------------------------------------------------

    def add_dataset(self, record: dict[str, Any]) -> None:
        self._execute(
            "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record["dataset_id"],
                record["name"],
                record["filename"],
                record["stored_as"],
                record["format"],
                record["bytes"],
                json.dumps(record["columns"]),
                json.dumps(record["options"]),
                json.dumps(record["profile"], default=str),
                record["created_at"],
                record["created_by"],
            ],
        )

    def datasets(self) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM datasets ORDER BY created_at DESC")
        return [_decode_dataset(r) for r in rows]

    def dataset(self, dataset_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM datasets WHERE dataset_id = ?", [dataset_id])
        return _decode_dataset(rows[0]) if rows else None

    def delete_dataset(self, dataset_id: str) -> None:
        self._execute("DELETE FROM datasets WHERE dataset_id = ?", [dataset_id])

    # -- jobs ---------------------------------------------------------------------------------

    def add_job(
        self, job_id: str, kind: str, dataset_id: str, params: dict[str, Any], created_by: str
    ) -> None:
        self._execute(
            "INSERT INTO jobs (job_id, kind, dataset_id, params, state, created_at, created_by) "
            "VALUES (?, ?, ?, ?, 'queued', ?, ?)",
            [job_id, kind, dataset_id, json.dumps(params), utc_now(), created_by],
        )

    def jobs(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        if state is None:
            rows = self._rows("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", [limit])
        else:
            rows = self._rows(
                "SELECT * FROM jobs WHERE state = ? ORDER BY created_at LIMIT ?", [state, limit]
            )
        return [_decode_job(r) for r in rows]

    def job(self, job_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM jobs WHERE job_id = ?", [job_id])
        return _decode_job(rows[0]) if rows else None

    def update_job(self, job_id: str, **fields: Any) -> None:
        allowed = {"state", "started_at", "finished_at", "run_id", "error", "pid"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"Unknown job fields {sorted(unknown)}")
        # column names come from the fixed set above; the values are parameters
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?", [*fields.values(), job_id])

    def jobs_using(self, dataset_id: str) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT * FROM jobs WHERE dataset_id = ? AND state IN ('queued', 'running')",
            [dataset_id],
        )
        return [_decode_job(r) for r in rows]


def _decode_dataset(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "columns": json.loads(row["columns"]),
        "options": json.loads(row["options"]),
        "profile": json.loads(row["profile"]),
    }


def _decode_job(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "params": json.loads(row["params"])}
