"""The run store: a DuckDB file that records every run of the pipeline.

Layout of the database (schema version :data:`SCHEMA_VERSION`):

- ``schema_version``: one row, the layout version of the file.
- ``runs``: one row per run (id, UTC time, kind, status, input fingerprint,
  config and summary as JSON text, error text of a failed run).
- ``run_tables``: the catalogue of result tables (run id, name, position,
  physical table, row count, columns and dtypes as JSON, index levels as JSON).
- ``run_data."<run_id>/<name>"``: one physical table per result table, with the
  DataFrame's own column names, so it can be queried with plain SQL.

A connection is opened for each operation and closed after it, so the file is
locked only while a store call runs: several :class:`RunStore` objects, and
read-only readers in other processes, can share one file between writes.

Example::

    with RunStore("runs/trendcast.duckdb") as store:
        store.save_run(record)
        forecast = store.load_table("latest", "forecast")
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path, PurePath
from types import TracebackType
from typing import Any, NamedTuple, Self

import duckdb
import numpy as np
import pandas as pd

from trendcast.exceptions import InputError, StoreError, format_examples

__all__ = [
    "RUN_KINDS",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "RunRecord",
    "ParquetTable",
    "RunStore",
    "fingerprint_file",
    "fingerprint_frame",
    "new_run_id",
]

SCHEMA_VERSION = 1
RUN_KINDS = ("run", "forecast", "backtest", "ingest", "tune", "analysis", "alerts", "whatif")
RUN_STATUSES = ("succeeded", "failed")

_DATA_SCHEMA = "run_data"
_FRAME_VIEW = "_trendcast_frame"
_RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file
_CHUNK_SIZE = 1 << 20

_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY,
        created_at TIMESTAMPTZ NOT NULL,
        kind VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        input_fingerprint VARCHAR NOT NULL,
        config VARCHAR NOT NULL,
        summary VARCHAR NOT NULL,
        error VARCHAR
    )""",
    """CREATE TABLE run_tables (
        run_id VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        position INTEGER NOT NULL,
        table_name VARCHAR NOT NULL,
        n_rows BIGINT NOT NULL,
        columns VARCHAR NOT NULL,
        index_columns VARCHAR NOT NULL,
        PRIMARY KEY (run_id, name)
    )""",
    f"CREATE SCHEMA IF NOT EXISTS {_DATA_SCHEMA}",
)


@dataclass(frozen=True)
class ParquetTable:
    """A result table kept in Parquet files (the parts of one table, same columns), copied
    into the store by DuckDB without passing through memory: for a table larger than memory,
    such as the history of a forecast streamed chunk by chunk."""

    paths: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.paths:
            raise InputError("A ParquetTable needs at least one Parquet file.")


@dataclass(frozen=True, eq=False)
class RunRecord:
    """Everything the store keeps about one run.

    ``eq=False`` because comparing the DataFrames in ``tables`` has no single
    truth value; compare fields one by one instead.

    Attributes
    ----------
    run_id
        Unique id, letters, digits, ``_``, ``.`` and ``-``; see :func:`new_run_id`.
    created_at
        Timezone-aware start time; stored and returned in UTC.
    kind
        One of :data:`RUN_KINDS`.
    status
        One of :data:`RUN_STATUSES`.
    input_fingerprint
        sha256 of the input, from :func:`fingerprint_file` or :func:`fingerprint_frame`.
    config
        JSON-serialisable run configuration.
    summary
        JSON-serialisable headline numbers (series count, chosen models, timings...).
    tables
        Named result tables, e.g. ``"leaderboard"``, ``"metrics"``, ``"forecast"``.
    error
        The error message of a failed run, else ``None``.
    parquet_tables
        Tables too large for memory, saved from Parquet files by DuckDB (see
        :class:`ParquetTable`); read back, they are ordinary ``tables``.
    """

    run_id: str
    created_at: datetime
    kind: str
    status: str
    input_fingerprint: str
    config: dict
    summary: dict
    tables: dict[str, pd.DataFrame]
    error: str | None = None
    #: tables to copy from Parquet files when saving (read back as DataFrames with the rest)
    parquet_tables: dict[str, ParquetTable] = field(default_factory=dict)


class _PreparedTable(NamedTuple):
    """A result table checked and flattened for storage."""

    frame: pd.DataFrame | ParquetTable
    columns: list[dict[str, Any]]
    index_columns: list[str]


class RunStore:
    """Record runs in, and read them back from, a DuckDB file.

    Parameters
    ----------
    path
        The database file; created with its parent directories if missing.
    read_only
        Open without writing; the file must already be a store.

    Raises
    ------
    StoreError
        The file is not a DuckDB database, was written by a newer trendcast, is
        locked by a writing process, or (read-only) does not exist.
    """

    def __init__(self, path: str | Path = "trendcast.duckdb", read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._closed = False
        if str(path) == ":memory:":
            raise StoreError("The run store needs a file path; ':memory:' would forget every run.")
        if self.path.exists():
            _check_is_duckdb_file(self.path)
        elif read_only:
            raise StoreError(f"There is no run store at {self.path}. Check the path.")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open_schema()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop using the store; later calls raise :class:`StoreError`."""
        self._closed = True

    def save_run(self, record: RunRecord) -> str:
        """Save a run and all its tables in one transaction and return its id.

        Tables keep their column names, dtypes and row order. A named index
        (every level named) is stored too; an unnamed index is not. If anything
        fails, nothing of the run is kept and earlier runs are untouched.
        """
        created_at = _check_created_at(record.created_at, record.run_id)
        _check_fields(record.run_id, record.kind, record.input_fingerprint)
        if record.status not in RUN_STATUSES:
            raise InputError(
                f"Unknown run status {record.status!r}; use one of {list(RUN_STATUSES)}."
            )
        config = _to_json(record.config, "config", record.run_id)
        summary = _to_json(record.summary, "summary", record.run_id)
        prepared = {name: _prepare_table(name, table) for name, table in record.tables.items()}
        clash = set(prepared) & set(record.parquet_tables)
        if clash:
            raise InputError(f"Tables {sorted(clash)} are given twice, as frames and as Parquet.")
        prepared |= {
            name: _prepare_parquet(name, table) for name, table in record.parquet_tables.items()
        }
        action = f"save run {record.run_id}; nothing of it was kept"
        with self._connect(action, write=True) as con, _transaction(con):
            self._ensure_new(con, record.run_id)
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    record.run_id,
                    created_at,
                    record.kind,
                    record.status,
                    record.input_fingerprint,
                    config,
                    summary,
                    record.error,
                ],
            )
            for position, (name, table) in enumerate(prepared.items()):
                _write_table(con, record.run_id, position, name, table)
        return record.run_id

    def record_failure(
        self, run_id: str, kind: str, fingerprint: str, config: dict, error: str
    ) -> None:
        """Add a ``"failed"`` run row with the error message; nothing else is written.

        The id must be new; a :meth:`save_run` that failed leaves its id free for this.
        """
        _check_fields(run_id, kind, fingerprint)
        config_json = _to_json(config, "config", run_id)
        with self._connect(f"record failed run {run_id}", write=True) as con, _transaction(con):
            self._ensure_new(con, run_id)
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, 'failed', ?, ?, '{}', ?)",
                [run_id, datetime.now(UTC), kind, fingerprint, config_json, str(error)],
            )

    def list_runs(self, kind: str | None = None, limit: int = 50) -> pd.DataFrame:
        """Return up to ``limit`` runs, newest first, optionally of one kind.

        Columns: ``run_id, created_at`` (UTC), ``kind, status, input_fingerprint,
        n_tables, summary`` (JSON text) and ``error``.
        """
        if kind is not None and kind not in RUN_KINDS:
            raise InputError(f"Unknown run kind {kind!r}; use one of {list(RUN_KINDS)}.")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InputError(f"limit must be a positive whole number, got {limit!r}.")
        where = "WHERE r.kind = ?" if kind is not None else ""
        params = [kind, limit] if kind is not None else [limit]
        with self._connect("list runs") as con:
            runs = con.execute(
                f"""SELECT r.run_id, r.created_at, r.kind, r.status, r.input_fingerprint,
                           count(t.name) AS n_tables, r.summary, r.error
                    FROM runs r LEFT JOIN run_tables t USING (run_id)
                    {where}
                    GROUP BY ALL
                    ORDER BY r.created_at DESC, r.run_id DESC
                    LIMIT ?""",
                params,
            ).df()
        runs["created_at"] = runs["created_at"].dt.tz_convert("UTC")
        return runs

    def get_run(self, run_id: str) -> RunRecord:
        """Return a run with all its tables; ``run_id`` may be a unique prefix or ``"latest"``.

        ``"latest"`` is the newest run of any status.
        """
        with self._connect(f"read run {run_id}") as con:
            full_id = self._resolve(con, run_id)
            row = con.execute(
                "SELECT created_at, kind, status, input_fingerprint, config, summary, error "
                "FROM runs WHERE run_id = ?",
                [full_id],
            ).fetchone()
            assert row is not None  # _resolve found it in this same connection
            created_at, kind, status, fingerprint, config, summary, error = row
            catalogue = con.execute(
                "SELECT name, table_name, columns, index_columns FROM run_tables "
                "WHERE run_id = ? ORDER BY position",
                [full_id],
            ).fetchall()
            tables = {entry[0]: _read_table(con, *entry[1:]) for entry in catalogue}
        return RunRecord(
            run_id=full_id,
            created_at=created_at.astimezone(UTC),
            kind=kind,
            status=status,
            input_fingerprint=fingerprint,
            config=json.loads(config),
            summary=json.loads(summary),
            tables=tables,
            error=error,
        )

    def table_names(self, run_id: str) -> list[str]:
        """The names of a run's tables, in the order they were saved."""
        with self._connect(f"list the tables of run {run_id}") as con:
            full_id = self._resolve(con, run_id)
            rows = con.execute(
                "SELECT name FROM run_tables WHERE run_id = ? ORDER BY position", [full_id]
            ).fetchall()
        return [name for (name,) in rows]

    def load_table(self, run_id: str, name: str) -> pd.DataFrame:
        """Return one table of a run; ``run_id`` as in :meth:`get_run`."""
        with self._connect(f"read table {name!r} of run {run_id}") as con:
            full_id = self._resolve(con, run_id)
            entry = con.execute(
                "SELECT table_name, columns, index_columns FROM run_tables "
                "WHERE run_id = ? AND name = ?",
                [full_id, name],
            ).fetchone()
            if entry is None:
                names = con.execute(
                    "SELECT name FROM run_tables WHERE run_id = ? ORDER BY position", [full_id]
                ).fetchall()
                status, error = con.execute(
                    "SELECT status, error FROM runs WHERE run_id = ?", [full_id]
                ).fetchone() or (None, None)
                failed = f" The run failed: {error}" if status == "failed" else ""
                raise StoreError(
                    f"Run {full_id} has no table {name!r}. "
                    f"Its tables: {format_examples([n for (n,) in names], limit=20)}.{failed}"
                )
            return _read_table(con, *entry)

    def delete_run(self, run_id: str) -> None:
        """Delete a run and its tables; ``run_id`` as in :meth:`get_run`."""
        with self._connect(f"delete run {run_id}", write=True) as con, _transaction(con):
            full_id = self._resolve(con, run_id)
            physical = con.execute(
                "SELECT table_name FROM run_tables WHERE run_id = ?", [full_id]
            ).fetchall()
            for (table_name,) in physical:
                con.execute(f"DROP TABLE {_DATA_SCHEMA}.{_quote(table_name)}")
            con.execute("DELETE FROM run_tables WHERE run_id = ?", [full_id])
            con.execute("DELETE FROM runs WHERE run_id = ?", [full_id])

    @contextmanager
    def _connect(self, action: str, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open a connection for one operation; DuckDB errors become :class:`StoreError`."""
        if self._closed:
            raise StoreError(f"The run store {self.path} is closed; open a new RunStore.")
        if write and self.read_only:
            raise StoreError(f"The run store {self.path} is open read-only, so it cannot {action}.")
        try:
            con = duckdb.connect(str(self.path), read_only=self.read_only)
        except duckdb.Error as exc:
            raise StoreError(
                f"Could not open the run store {self.path}: {exc}. Another process may be "
                "writing to it; try again when it has finished."
            ) from exc
        try:
            yield con
        except duckdb.Error as exc:
            raise StoreError(f"The run store {self.path} could not {action}: {exc}") from exc
        finally:
            con.close()

    def _open_schema(self) -> None:
        """Create the tables of a new store, or check the schema version of an existing one."""
        with self._connect("set up its tables", write=not self.read_only) as con:
            found = con.execute(
                "SELECT count(*) FROM duckdb_tables() "
                "WHERE schema_name = 'main' AND table_name = 'schema_version'"
            ).fetchone()
            if not found or not found[0]:
                if self.read_only:
                    raise StoreError(
                        f"{self.path} is not a trendcast store: it is a DuckDB database "
                        "without the run tables. Open it once without read_only to set it up."
                    )
                with _transaction(con):
                    for statement in _SCHEMA:
                        con.execute(statement)
                    con.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])
            row = con.execute("SELECT max(version) FROM schema_version").fetchone()
        version = row[0] if row else None
        if version != SCHEMA_VERSION:
            fix = "use another store path"
            if isinstance(version, int) and version > SCHEMA_VERSION:
                fix = f"it was written by a newer trendcast: upgrade trendcast, or {fix}"
            raise StoreError(
                f"The run store {self.path} has schema version {version}, but this trendcast "
                f"reads version {SCHEMA_VERSION}; {fix}."
            )

    def _resolve(self, con: duckdb.DuckDBPyConnection, ref: str) -> str:
        """Turn a full id, a unique prefix or ``"latest"`` into a full run id."""
        newest_first = "SELECT run_id FROM runs ORDER BY created_at DESC, run_id DESC LIMIT ?"
        if not ref:
            raise StoreError("Give a run id, a unique start of one, or 'latest'.")
        if ref == "latest":
            row = con.execute(newest_first, [1]).fetchone()
            if row is None:
                raise StoreError(f"The run store {self.path} has no runs yet, so no 'latest' run.")
            return row[0]
        matches = [
            run_id
            for (run_id,) in con.execute(
                "SELECT run_id FROM runs WHERE starts_with(run_id, ?) ORDER BY run_id LIMIT 11",
                [ref],
            ).fetchall()
        ]
        if ref in matches:
            return ref
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise StoreError(
                f"The run id {ref!r} is ambiguous: runs {format_examples(matches, limit=10)} "
                "all start with it. Give more of the id."
            )
        recent = [run_id for (run_id,) in con.execute(newest_first, [5]).fetchall()]
        listing = f"Recent runs: {format_examples(recent)}." if recent else "The store is empty."
        raise StoreError(f"No run {ref!r} in the run store {self.path}. {listing}")

    def _ensure_new(self, con: duckdb.DuckDBPyConnection, run_id: str) -> None:
        """Refuse a run id that is already stored."""
        if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone():
            raise StoreError(
                f"A run with id {run_id!r} is already in {self.path}; use new_run_id()."
            )


def fingerprint_file(path: str | Path) -> str:
    """Return the sha256 hex digest of a file's bytes, read in chunks."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Cannot fingerprint {path}: there is no such file.")
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint_frame(df: pd.DataFrame) -> str:
    """Return a stable sha256 hex digest of a DataFrame's content.

    The digest covers column names, dtypes and values in row order, and the index
    when it is named (an unnamed index is row numbering, not content).
    """
    keep_index = any(name is not None for name in df.index.names)
    header = {
        "columns": [[str(name), str(dtype)] for name, dtype in df.dtypes.items()],
        "index": [str(name) for name in df.index.names] if keep_index else [],
    }
    try:
        rows = pd.util.hash_pandas_object(df, index=keep_index)
    except TypeError as exc:
        raise InputError(
            f"Cannot fingerprint the table: {exc}. Convert columns of lists or dicts to text."
        ) from exc
    digest = hashlib.sha256(json.dumps(header, ensure_ascii=False).encode())
    digest.update(rows.to_numpy().tobytes())
    return digest.hexdigest()


def new_run_id() -> str:
    """Return a fresh run id: UTC time plus 6 random hex digits, e.g. ``20261121-071503-ab12cd``."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block in one transaction: commit at the end, roll back on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _check_is_duckdb_file(path: Path) -> None:
    """Refuse an existing path that is not a DuckDB database file."""
    if path.is_file():
        with path.open("rb") as stream:
            header = stream.read(12)
        if header[8:12] != _DUCKDB_MAGIC:
            raise StoreError(
                f"{path} is not a trendcast store: it is not a DuckDB database file. "
                "Give the path of an existing store, or a new path to create one."
            )


def _check_fields(run_id: str, kind: str, fingerprint: str) -> None:
    """Check the fields shared by saved and failed runs."""
    if not isinstance(run_id, str) or not _RUN_ID_PATTERN.fullmatch(run_id) or run_id == "latest":
        raise InputError(
            f"Invalid run id {run_id!r}: use letters, digits, '_', '.' and '-' "
            "(not 'latest'), e.g. from new_run_id()."
        )
    if kind not in RUN_KINDS:
        raise InputError(f"Unknown run kind {kind!r}; use one of {list(RUN_KINDS)}.")
    if not isinstance(fingerprint, str):
        raise InputError(f"The input fingerprint of run {run_id} must be a string.")


def _check_created_at(created_at: datetime, run_id: str) -> datetime:
    """Return ``created_at`` in UTC, refusing a naive datetime."""
    if not isinstance(created_at, datetime) or created_at.utcoffset() is None:
        raise InputError(
            f"created_at of run {run_id} must be a timezone-aware datetime, got "
            f"{created_at!r}; use datetime.now(UTC)."
        )
    return created_at.astimezone(UTC)


def _json_default(value: object) -> object:
    """Encode numpy scalars, dates and paths, which configs and summaries often hold."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON-serialisable")


def _to_json(value: dict, what: str, run_id: str) -> str:
    """Serialise a run's config or summary, with an error that says which one failed."""
    if not isinstance(value, dict):
        raise InputError(f"The {what} of run {run_id} must be a dict, got {type(value).__name__}.")
    try:
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"The {what} of run {run_id} cannot be stored as JSON: {exc}. "
            "Use numbers, strings, lists and dicts."
        ) from exc


def _column_problem(column: pd.Series) -> str | None:
    """Say why a column cannot round-trip through DuckDB, or return ``None``."""
    dtype = column.dtype
    if dtype.kind in "biufmM" or isinstance(dtype, pd.StringDtype):
        return None
    if isinstance(dtype, pd.CategoricalDtype):
        if pd.api.types.infer_dtype(dtype.categories) in ("string", "empty"):
            return None
        return "categories that are not text"
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(column, skipna=True)
        if inferred in ("string", "empty"):
            return None
        return f"{inferred} values in an object column"
    return f"dtype {dtype}"


def _prepare_parquet(name: str, table: ParquetTable) -> _PreparedTable:
    """Check a Parquet-backed table by its schema (its first rows are read for the dtypes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = []
    for path in table.paths:
        try:
            schemas.append(pq.read_schema(path))
        except (OSError, ValueError) as exc:
            raise InputError(
                f"Table {name!r}: cannot read the Parquet file {path}: {exc}."
            ) from exc

    def agree(a: Any, b: Any) -> bool:  # a part whose column is all missing has type null
        return a.names == b.names and all(
            x.type == y.type or pa.types.is_null(x.type) or pa.types.is_null(y.type)
            for x, y in zip(a, b, strict=True)
        )

    if any(not agree(schema, schemas[0]) for schema in schemas[1:]):
        raise InputError(f"Table {name!r}: its Parquet parts differ in columns or types.")
    typed = [s for s in schemas if not any(pa.types.is_null(f.type) for f in s)]
    head = (typed or schemas)[0].empty_table().to_pandas()
    checked = _prepare_table(name, head)
    return _PreparedTable(table, checked.columns, [])


def _prepare_table(name: str, table: pd.DataFrame) -> _PreparedTable:
    """Check a result table and flatten a named index into columns."""
    if not isinstance(name, str) or not name:
        raise InputError(f"Table names must be non-empty strings, got {name!r}.")
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"Table {name!r} must be a pandas DataFrame, got {type(table).__name__}.")
    index_names = list(table.index.names)
    index_columns: list[str] = []
    if any(level is not None for level in index_names):
        if any(level is None for level in index_names):
            raise InputError(
                f"Table {name!r} has index levels {index_names}: name every level or none."
            )
        index_columns = [str(level) for level in index_names]
        try:
            table = table.reset_index()
        except ValueError as exc:
            raise InputError(f"Table {name!r} cannot store its index: {exc}.") from exc
    names = list(table.columns)
    if not names:
        raise InputError(f"Table {name!r} has no columns.")
    not_text = [column for column in names if not isinstance(column, str) or not column]
    if not_text:
        raise InputError(
            f"Table {name!r} has column names that are not non-empty strings: "
            f"{format_examples(not_text)}. Rename them, e.g. df.columns = df.columns.map(str)."
        )
    # DuckDB compares identifiers case-insensitively and would rename a clash silently.
    folded = pd.Series([column.lower() for column in names])
    clashes = [names[i] for i in np.flatnonzero(folded.duplicated(keep=False))]
    if clashes:
        raise InputError(
            f"Table {name!r} has column names that differ only in case or repeat: "
            f"{format_examples(clashes)}. Rename them."
        )
    problems = {column: _column_problem(table[column]) for column in names}
    bad = {column: problem for column, problem in problems.items() if problem}
    if bad:
        listing = "; ".join(f"{column!r}: {problem}" for column, problem in bad.items())
        raise InputError(
            f"Table {name!r} has columns the run store cannot keep ({listing}). "
            "Convert them to text, numbers, booleans or datetimes, e.g. df[col].astype(str)."
        )
    columns: list[dict[str, Any]] = []
    for column in names:
        dtype = table[column].dtype
        meta: dict[str, Any] = {"name": column, "dtype": str(dtype)}
        if isinstance(dtype, pd.CategoricalDtype):
            meta["ordered"] = bool(dtype.ordered)
        columns.append(meta)
    return _PreparedTable(table, columns, index_columns)


def _quote(identifier: str) -> str:
    """Quote a SQL identifier, doubling any embedded quote."""
    return '"' + identifier.replace('"', '""') + '"'


def _write_table(
    con: duckdb.DuckDBPyConnection, run_id: str, position: int, name: str, table: _PreparedTable
) -> None:
    """Create the physical table of one result table and add it to the catalogue."""
    table_name = f"{run_id}/{name}"
    if isinstance(table.frame, ParquetTable):
        listed = ", ".join("'" + path.replace("'", "''") + "'" for path in table.frame.paths)
        con.execute(
            f"CREATE TABLE {_DATA_SCHEMA}.{_quote(table_name)} AS "
            f"SELECT * FROM read_parquet([{listed}], union_by_name = true)"
        )
        (n_rows,) = con.execute(
            f"SELECT count(*) FROM {_DATA_SCHEMA}.{_quote(table_name)}"
        ).fetchone() or (0,)
    else:
        con.register(_FRAME_VIEW, table.frame)
        try:
            con.execute(
                f"CREATE TABLE {_DATA_SCHEMA}.{_quote(table_name)} AS SELECT * FROM {_FRAME_VIEW}"
            )
        finally:
            con.unregister(_FRAME_VIEW)
        n_rows = len(table.frame)
    con.execute(
        "INSERT INTO run_tables VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            name,
            position,
            table_name,
            n_rows,
            json.dumps(table.columns, ensure_ascii=False),
            json.dumps(table.index_columns, ensure_ascii=False),
        ],
    )


def _read_table(
    con: duckdb.DuckDBPyConnection, table_name: str, columns: str, index_columns: str
) -> pd.DataFrame:
    """Read a physical table back with its original dtypes and index."""
    frame = con.execute(f"SELECT * FROM {_DATA_SCHEMA}.{_quote(table_name)}").df()
    for column in json.loads(columns):
        name, dtype = column["name"], column["dtype"]
        if dtype == "category" and not isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype("category")  # copied in from Parquet as text
        elif dtype == "category":
            # DuckDB's ENUM keeps categories and their order but always reads back ordered.
            categories = frame[name].cat
            frame[name] = (
                categories.as_ordered() if column["ordered"] else categories.as_unordered()
            )
        elif str(frame[name].dtype) != dtype:
            frame[name] = frame[name].astype(dtype)
    index = json.loads(index_columns)
    return frame.set_index(index) if index else frame
