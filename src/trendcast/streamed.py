"""Forecasting a file larger than memory: products read, prepared and forecast a chunk at a time.

:func:`forecast_file_in_chunks` is what ``trendcast forecast --chunk-size N``
runs on a file (CSV or Parquet, a glob, or a DuckDB table): memory holds one
chunk of products at a time, from reading to forecasting, not the whole panel.

1. DuckDB lists the input's products (the distinct values of its id columns,
   read from a sample of rows) and takes a census of its days: the last day the
   input covers and, for daily data, the weekdays it never trades on. That is
   the whole input's calendar.
2. Each chunk of ``chunk_size`` products is read with a semi-join on its keys,
   cleaned and prepared by :func:`~trendcast.data.prepare.prepare_sales` with
   that calendar (every series filled to the input's end, as when the whole
   input is prepared at once), forecast, and written to ``<output>.parts/``
   with its prepared history, ids, cleaning report and hierarchy sums.
3. When every chunk is done, DuckDB writes the output CSV from the parts, the
   run is recorded in the store (its history copied from the parts, never
   whole in memory) and the work folder is removed.

An interrupted run resumes from the last finished chunk; a changed input or
setting is refused unless ``restart`` (see :mod:`trendcast.chunked`). Local
models give the same forecast as the in-memory path; global models are fitted
per chunk. The first chunk also decides, for ``mode="auto"``, whether the
input is order lines or a sales table, and (unless ``freq`` is given) the
frequency; every later chunk is read the same way.

Examples
--------
>>> from trendcast.streamed import forecast_file_in_chunks
>>> result = forecast_file_in_chunks("orders/*.parquet", "forecast.csv", chunk_size=20_000,
...                                  horizon=28, model="auto")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from trendcast.chunked import (
    _part,
    _start,
    chunks_engine,
    engine_setting,
    parts_folder,
    remove_parts,
)
from trendcast.config import CleaningConfig
from trendcast.data.calendar import TradingCalendar, detect_closed_weekdays
from trendcast.data.columns import ColumnMap, resolve_columns
from trendcast.data.hierarchy import aggregate_levels
from trendcast.data.io import _open_text_head, _sniff, split_duckdb_target
from trendcast.data.outofcore import (
    _connect,
    _date,
    _is_duckdb,
    _is_parquet,
    _number,
    _quote,
    _source_sql,
    resolve_files,
)
from trendcast.data.prepare import PreparedData, prepare_sales
from trendcast.data.report import CleaningReport, RuleResult
from trendcast.engines import Engine, as_engine
from trendcast.exceptions import ConfigError, InputError, NoSalesLeftError, StoreError
from trendcast.pipeline import _is_m5_folder, fit_forecast, write_atomic
from trendcast.store import ParquetTable, RunRecord, RunStore, new_run_id

__all__ = ["StreamedForecast", "can_stream", "forecast_file_in_chunks"]

Progress = Callable[[str], None]
#: rows read to detect the columns before the products are listed
SAMPLE_ROWS = 50_000
_FORMAT = 1
_KEYS = "_trendcast_chunk_keys"


@dataclass(frozen=True)
class StreamedForecast:
    """What a streamed forecast wrote: row and series counts, the output and the run id."""

    rows: int
    series: int
    output: Path
    run_id: str | None
    report: CleaningReport


@dataclass(frozen=True)
class _Plan:
    columns: ColumnMap
    mode: str
    calendar: TradingCalendar
    end: pd.Timestamp
    keys: pd.DataFrame
    first: PreparedData | None = None
    first_chunk: int = 0


def _quiet(_msg: str) -> None:
    return None


def can_stream(source: str | Path) -> bool:
    """Whether DuckDB can read ``source`` a chunk at a time: CSV (UTF-8 or Latin-1) or
    Parquet files, folders or globs, or a DuckDB table. An M5 folder, an Excel workbook or a
    GBK-encoded CSV is read whole by pandas instead (then forecast in chunks in memory)."""
    db, _table = split_duckdb_target(str(source))
    if _is_duckdb(db):
        return Path(db).is_file()
    if _is_m5_folder(source):
        return False
    try:
        files = resolve_files(source)
    except InputError:
        return False  # the whole-file reader says what is missing
    first = Path(files[0])
    if _is_parquet(str(first)):
        return True
    if first.suffix.lower() in (".xlsx", ".xls"):
        return False
    head = _open_text_head(first)
    return bool(head.strip()) and _sniff(head)[0] != "gb18030"


def _files_fingerprint(source: str | Path) -> list[list[Any]]:
    """Path, size and modification time of every input file: a changed input is a new forecast."""
    db, _table = split_duckdb_target(str(source))
    files = [db] if db and Path(db).is_file() else resolve_files(source)
    out = []
    for name in files:
        stat = Path(name).stat()
        out.append([str(Path(name).resolve()), stat.st_size, stat.st_mtime_ns])
    return out


def _sample_columns(
    con: Any, src: str, columns: ColumnMap | None, freq: str | None, mode: Any, config: Any
) -> ColumnMap:
    """The input's column roles, resolved on its first rows as the in-memory reader would."""
    sample = con.execute(f"SELECT * FROM ({src}) LIMIT {SAMPLE_ROWS}").df()
    if sample.empty:
        raise InputError("The input has no rows.")
    try:
        return prepare_sales(sample, columns, freq=freq, mode=mode, config=config).columns
    except InputError:
        # the first rows alone may not prepare (all returns, say): their columns still resolve
        return resolve_columns(sample, columns)


def _census(con: Any, src: str, cmap: ColumnMap, say: Progress) -> pd.DataFrame:
    """Per day of the input: whether any row sold (quantity above zero)."""
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE {src}").fetchall()}
    assert cmap.time_col and cmap.target_col
    day = _date(con, src, cmap.time_col, types[cmap.time_col], say)
    qty = _number(cmap.target_col, types[cmap.target_col])
    return con.execute(
        f"SELECT CAST({day} AS DATE) AS day, "
        f"bool_or(coalesce({qty} > 0, false)) AS sold FROM ({src}) "
        f"WHERE {day} IS NOT NULL GROUP BY 1 ORDER BY 1"
    ).df()


def _read_chunk(con: Any, src: str, cmap: ColumnMap, keys: pd.DataFrame) -> pd.DataFrame:
    """The input rows of the products in ``keys``, in the input's order.

    The products are listed in sorted order, so a chunk's keys span a range of the first id
    column. Rows outside that range are left out before any is numbered: DuckDB skips the
    row groups of a Parquet file sorted by product, and no chunk numbers the whole input.
    The semi-join on every id column then keeps exactly the chunk's products."""
    on = " AND ".join(f"s.{_quote(c)} IS NOT DISTINCT FROM k.{_quote(c)}" for c in cmap.id_cols)
    names = [r[0] for r in con.execute(f"DESCRIBE {src}").fetchall()]
    used = cmap.used()
    # only the columns with a role: the rest would be read, then ignored
    projection = ", ".join(f"s.{_quote(n)}" for n in names if n in used)
    first = _quote(cmap.id_cols[0])
    con.register(_KEYS, keys)
    try:
        low, high, has_null = con.execute(
            f"SELECT min({first}), max({first}), bool_or({first} IS NULL) FROM {_KEYS}"
        ).fetchone()
        # missing ids sort last: only the chunk whose keys hold one reads their rows
        params = {} if low is None else {"low": low, "high": high}
        where = " OR ".join(
            ([f"{first} BETWEEN $low AND $high"] if params else [])
            + ([f"{first} IS NULL"] if has_null else [])
        )
        return con.execute(
            f"SELECT {projection} FROM (SELECT *, row_number() OVER () AS _row "
            f"FROM ({src}) WHERE {where}) s SEMI JOIN {_KEYS} k ON {on} ORDER BY s._row",
            params,
        ).df()
    finally:
        con.unregister(_KEYS)


def _plan(
    con: Any,
    src: str,
    columns: ColumnMap | None,
    freq: str | None,
    mode: Any,
    config: CleaningConfig,
    chunk_size: int,
    say: Progress,
) -> _Plan:
    cmap = _sample_columns(con, src, columns, freq, mode, config)
    if not cmap.id_cols or not cmap.time_col or not cmap.target_col:
        raise InputError(
            "Cannot tell the product, date and quantity columns of the input from its first "
            "rows; name them with --id-col, --time-col and --target-col."
        )
    say("listing the products")
    id_list = ", ".join(_quote(c) for c in cmap.id_cols)
    keys = con.execute(f"SELECT DISTINCT {id_list} FROM ({src}) ORDER BY ALL NULLS LAST").df()
    say(f"  {len(keys):,} products, {-(-len(keys) // chunk_size):,} chunk(s)")
    say("taking a census of the days")
    days = _census(con, src, cmap, say)
    if days.empty:
        raise InputError(f"No dates in the column {cmap.time_col!r} could be read.")
    end = pd.Timestamp(days["day"].max())
    # the first chunk's products decide what the input is (order lines or a sales table) and,
    # unless given, its frequency, as the whole input would
    first, first_chunk = None, 0
    while first is None:
        if first_chunk * chunk_size >= len(keys):
            raise InputError("No sales are left after cleaning; see the cleaning report for why.")
        rows = _read_chunk(con, src, cmap, keys.iloc[first_chunk * chunk_size :][:chunk_size])
        try:
            first = prepare_sales(rows, cmap, freq=freq, mode=mode, config=config)
        except NoSalesLeftError:  # products that never sold tell nothing: try the next chunk
            first_chunk += 1
    calendar = TradingCalendar(first.calendar.freq)
    if calendar.is_daily and config.trading_days == "detect":
        closed = detect_closed_weekdays(pd.to_datetime(days.loc[days["sold"], "day"]))
        if closed:
            calendar = TradingCalendar(calendar.freq, closed_weekdays=closed)
    # the first chunk as prepared here is the one the loop would make when the whole input's
    # calendar and end agree with its own: it is kept rather than read and prepared again
    last = calendar.floor(pd.Series([end])).iloc[0]
    same = first.calendar == calendar and first.panel["ds"].max() == last
    mode_used = "orders" if first.is_orders else "sales"
    return _Plan(
        first.columns, mode_used, calendar, end, keys, first if same else None, first_chunk
    )


def _part_files(folder: Path, number: int) -> dict[str, Path]:
    stem = f"chunk-{number:05d}"
    return {
        name: folder / f"{stem}.{name}.parquet"
        for name in ("panel", "ids", "static", "notes", "levels")
    } | {"report": folder / f"{stem}.report.json"}


def _to_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)


def _write_report(path: Path, report: CleaningReport) -> None:
    raw = {
        "rows_in": report.rows_in,
        "rows_out": report.rows_out,
        "facts": report.facts,
        "rules": [r.__dict__ for r in report.rules],
    }
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(raw, default=str)))


def _empty_marker(folder: Path, number: int) -> Path:
    return folder / f"chunk-{number:05d}.empty"


def _write_empty_chunk(folder: Path, number: int, report: CleaningReport) -> None:
    """A chunk of products with no sales left: its cleaning report, then the finished mark."""
    files = _part_files(folder, number)
    _write_report(files["report"], report)
    notes = report.series_notes if len(report.series_notes) else pd.DataFrame()
    write_atomic(files["notes"], partial(_to_parquet, notes))
    write_atomic(_empty_marker(folder, number), lambda tmp: tmp.write_text(""))


def _finished(folder: Path, number: int) -> bool:
    return _part(folder, number).exists() or _empty_marker(folder, number).exists()


def _write_chunk(folder: Path, number: int, data: PreparedData, fc: pd.DataFrame) -> None:
    files = _part_files(folder, number)
    tables = {
        "panel": data.panel,
        "ids": data.ids,
        "static": data.static_df,
        "notes": data.report.series_notes,
        "levels": aggregate_levels(data.panel, data.static_df),
    }
    for name, frame in tables.items():
        write_atomic(files[name], partial(_to_parquet, frame))
    _write_report(files["report"], data.report)
    # the forecast last: its file marks the chunk finished
    write_atomic(_part(folder, number), partial(_to_parquet, fc))


def _read_report(folder: Path, number: int) -> CleaningReport:
    files = _part_files(folder, number)
    raw = json.loads(files["report"].read_text())
    report = CleaningReport(raw["rows_in"], raw["rows_out"], facts=raw["facts"])
    report.rules = [RuleResult(**r) for r in raw["rules"]]
    notes = pd.read_parquet(files["notes"])
    if len(notes):
        report.series_notes = notes
    return report


def _listed(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _write_output(
    con: Any, folder: Path, filled: list[int], cmap: ColumnMap, output: Path
) -> tuple[int, int]:
    """The output CSV (the input's id and time column names), by DuckDB from the parts;
    returns its rows and series."""
    parts = [_part(folder, k) for k in filled]
    ids = [_part_files(folder, k)["ids"] for k in filled]
    time_col = cmap.time_col or "ds"
    names = [
        r[0]
        for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({_listed(parts)})").fetchall()
    ]
    values = [n for n in names if n not in ("unique_id", "ds")]
    id_cols = ", ".join(f"i.{_quote(c)}" for c in cmap.id_cols)
    select = (
        f"SELECT {id_cols}, CAST(f.ds AS DATE) AS {_quote(time_col)}, "
        + ", ".join(f"f.{_quote(v)}" for v in values)
        + f" FROM read_parquet({_listed(parts)}) f "
        f"LEFT JOIN read_parquet({_listed(ids)}, union_by_name = true) i USING (unique_id) "
        "ORDER BY f.unique_id, f.ds"
    )

    def copy(tmp: Path) -> None:
        con.execute(f"COPY ({select}) TO '{str(tmp).replace(chr(39), chr(39) * 2)}' (HEADER)")

    write_atomic(output, copy)
    rows, series = con.execute(
        f"SELECT count(*), count(DISTINCT unique_id) FROM read_parquet({_listed(parts)})"
    ).fetchone()
    return int(rows), int(series)


def _record(
    store: str | Path,
    folder: Path,
    filled: list[int],
    series: int,
    plan: _Plan,
    report: CleaningReport,
    fingerprint: str,
    config: dict[str, Any],
) -> str:
    """Record the forecast as a run, its history and forecast copied from the parts by DuckDB."""
    files = [_part_files(folder, k) for k in filled]
    levels = pd.concat([pd.read_parquet(f["levels"]) for f in files], ignore_index=True)
    sums = levels.groupby(["level", "unique_id", "ds"], sort=True)["y"].sum().reset_index()
    static = pd.concat([pd.read_parquet(f["static"]) for f in files], ignore_index=True)
    run_id = new_run_id()
    with RunStore(store) as runs:
        runs.save_run(
            RunRecord(
                run_id=run_id,
                created_at=datetime.now(UTC),
                kind="forecast",
                status="succeeded",
                input_fingerprint=fingerprint,
                config={**config, "columns": plan.columns.to_dict()},
                summary={"Series": series, "Streamed in chunks": config["chunks"]},
                tables={
                    "cleaning_report": report.to_frame(),
                    "series_notes": report.series_notes,
                    "static": static,
                    "levels": sums,
                },
                parquet_tables={
                    "panel": ParquetTable(tuple(str(f["panel"]) for f in files)),
                    "forecast": ParquetTable(tuple(str(_part(folder, k)) for k in filled)),
                },
            )
        )
    return run_id


def forecast_file_in_chunks(
    source: str | Path,
    output: str | Path,
    *,
    chunk_size: int,
    horizon: int,
    model: str = "auto",
    levels: Sequence[int] = (80, 95),
    columns: ColumnMap | None = None,
    freq: str | None = None,
    mode: Any = "auto",
    cleaning: CleaningConfig | None = None,
    n_jobs: int = 1,
    time_budget: float | None = None,
    params: dict[str, Any] | None = None,
    restart: bool = False,
    store: str | Path | None = None,
    memory_limit: str | None = None,
    engine: Engine | str | None = None,
    progress: Progress | None = None,
) -> StreamedForecast:
    """Forecast a file ``chunk_size`` products at a time, reading only one chunk into memory.

    Parameters
    ----------
    source
        CSV or Parquet file, folder or glob, or ``file.duckdb::table``: order lines or a
        sales table, as for :func:`trendcast.pipeline.load_sales`.
    output
        The forecast CSV, written atomically once every chunk is done; the chunks go to
        ``<output>.parts/`` meanwhile (see :func:`trendcast.chunked.parts_folder`).
    store
        Record the run there (history, cleaning report, forecast), as ``trendcast
        forecast`` does; ``None`` records nothing.
    memory_limit
        DuckDB's memory limit while listing, counting and joining (e.g. ``"2GB"``).
    engine
        Where each chunk is forecast (see :func:`trendcast.pipeline.fit_forecast`): this
        machine reads and prepares the chunks, one cluster forecasts them all.

    Returns a :class:`StreamedForecast`; the forecast itself is in ``output``.
    """

    if chunk_size < 1:
        raise ConfigError(f"--chunk-size must be at least 1, got {chunk_size}.")
    session = as_engine(engine, n_jobs)
    session.check_models([model], time_budget)
    say = progress or _quiet
    config = cleaning or CleaningConfig()
    output = Path(output)
    folder = parts_folder(output)
    work = Path(tempfile.mkdtemp(prefix="trendcast-stream-"))
    con = _connect(work, memory_limit, None)
    try:
        src = _source_sql(con, source)
        plan = _plan(con, src, columns, freq, mode, config, chunk_size, say)
        n_chunks = -(-len(plan.keys) // chunk_size)
        settings = {
            "horizon": horizon,
            "model": model,
            "levels": sorted(int(v) for v in levels),
            "time_budget": time_budget,
            "params": params or {},
            "freq": freq,
            "mode": mode,
            "cleaning": asdict(config),
            **engine_setting(session),
        }
        settings = json.loads(json.dumps(settings, default=str))  # as the manifest reads back
        inputs = _files_fingerprint(source)
        manifest = {
            "format": _FORMAT,
            "streamed": True,
            "input": inputs,
            "calendar": {"freq": plan.calendar.freq, "closed": list(plan.calendar.closed_weekdays)},
            "end": f"{plan.end:%Y-%m-%d}",
            "chunk_size": chunk_size,
            "chunks": n_chunks,
            "series": len(plan.keys),
            "settings": settings,
        }
        _start(folder, manifest, restart, say)
        done = [k for k in range(n_chunks) if _finished(folder, k)]
        if done:
            say(f"resuming: {len(done)} of {n_chunks} chunk(s) already finished; skipping them")
        with chunks_engine(session, len(done) < n_chunks, n_jobs, say):
            for k in range(n_chunks):
                if k in done:
                    continue
                keys = plan.keys.iloc[k * chunk_size : (k + 1) * chunk_size]
                say(f"chunk {k + 1} of {n_chunks}: reading {len(keys):,} products")
                try:
                    if k == plan.first_chunk and plan.first is not None:
                        data = plan.first
                        plan = replace(plan, first=None)  # held no longer than its chunk
                    else:
                        data = prepare_sales(
                            _read_chunk(con, src, plan.columns, keys),
                            plan.columns,
                            mode=plan.mode,  # type: ignore[arg-type]
                            config=config,
                            calendar=plan.calendar,
                            end=plan.end,
                        )
                except NoSalesLeftError as exc:
                    # products that never sold: only their report counts
                    say(f"chunk {k + 1} of {n_chunks}: no sales left after cleaning")
                    _write_empty_chunk(folder, k, exc.report or CleaningReport())
                    continue
                say(f"chunk {k + 1} of {n_chunks}: forecasting {data.n_series:,} series")
                fc, _ = fit_forecast(
                    data,
                    horizon=horizon,
                    model=model,
                    levels=levels,
                    n_jobs=n_jobs,
                    time_budget=time_budget,
                    params=params,
                    engine=session,
                )
                _write_chunk(folder, k, data, fc)
                del data, fc  # the next chunk is read with this one gone
        report = CleaningReport.combined([_read_report(folder, k) for k in range(n_chunks)])
        filled = [k for k in range(n_chunks) if _part(folder, k).exists()]
        if not filled:
            raise InputError("No sales are left after cleaning; see the cleaning report for why.")
        say("writing the output")
        rows, series = _write_output(con, folder, filled, plan.columns, output)
        run_id = None
        if store is not None:
            fingerprint = hashlib.sha256(
                (json.dumps(inputs) + json.dumps(settings)).encode()
            ).hexdigest()
            used = {"horizon": horizon, "model": model, "levels": list(levels)}
            try:
                run_id = _record(
                    store,
                    folder,
                    filled,
                    series,
                    plan,
                    report,
                    fingerprint,
                    {**used, "chunk_size": chunk_size, "chunks": n_chunks, "streamed": True},
                )
            except StoreError as exc:  # the forecast is written; only its record is lost
                say(f"Warning: the run was not recorded: {exc}")
        parts = [
            path
            for k in range(n_chunks)
            for path in (
                _part(folder, k),
                _empty_marker(folder, k),
                *_part_files(folder, k).values(),
            )
        ]
        remove_parts(folder, parts, say)
        return StreamedForecast(rows, series, output, run_id, report)
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
