"""Out-of-core ingestion: order lines far larger than memory, cleaned and aggregated by DuckDB.

:func:`ingest_out_of_core` reads CSV or Parquet files (a file, a folder, or a glob
such as ``orders/*.parquet``), applies the cleaning rules of
:func:`~trendcast.data.prepare.prepare_sales` for order lines in SQL, aggregates
to the product and period, fills the missing periods, caps demand spikes and
writes the panel as Parquet. DuckDB works under a memory limit and spills to a
temporary folder, so the input may be many times larger than memory; only
per-day and per-product summaries ever reach pandas.

An input of one and a half times :data:`PART_LINES` order lines or more is first
split by product, in the order of the ids, into parts of about that many lines (one
pass writes them as Parquet to the temporary folder). Each part is de-duplicated, cleaned, aggregated,
filled and written on its own, one after the other, so no step's hash table or
sort grows with the input and time grows about linearly with it (DuckDB's buffer
cache still fills up to its memory limit); only the day census (the trading
calendar), the report's tallies and per-product summaries span the parts, and the
parts' panels follow each other in id order into one Parquet file.

On the same input the panel equals the in-memory ``prepare_sales`` panel (to
floating-point rounding) and the cleaning report counts the same rows and units
rule by rule. Differences, by design: the input is always read as order lines
(``--orders``); text dates are read with the formats that agree best with the
in-memory reader on a sample of the column; a static attribute that varies
within a product keeps its smallest value, not its first; CSV files must be
UTF-8 or Latin-1 (DuckDB reads no GBK: convert with ``iconv`` or use Parquet).

Examples
--------
>>> from trendcast.data.outofcore import ingest_out_of_core
>>> result = ingest_out_of_core("orders/*.parquet", "panel.parquet",
...                             memory_limit="8GB", threads=2)  # doctest: +SKIP
"""

from __future__ import annotations

import glob
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trendcast.config import CleaningConfig
from trendcast.data.calendar import TradingCalendar, detect_closed_weekdays
from trendcast.data.columns import ID_SEPARATOR, ColumnMap, resolve_columns
from trendcast.data.io import _open_text_head, _sniff, split_duckdb_target
from trendcast.data.parse import parse_dates
from trendcast.data.report import CleaningReport
from trendcast.exceptions import ConfigError, InputError, format_examples

__all__ = [
    "DUCKDB_SHARE",
    "OutOfCoreResult",
    "duckdb_memory_limit",
    "ingest_out_of_core",
    "is_glob",
    "resolve_files",
]

Progress = Callable[[str], None]

_GLOB_CHARS = ("*", "?", "[")
_PARQUET = (".parquet", ".pq")
_TRUTHY = ["true", "yes", "y", "t", "是", "促销"]
_NUMERIC_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
)
# text date formats after the ISO cast: year first (unambiguous), then month- or day-first
_YMD = [
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y.%m.%d %H:%M:%S",
    "%Y.%m.%d",
    "%Y%m%d",
    "%d %b %Y",
    "%b %d, %Y",
    "%d-%b-%Y",
]
_TIMES = (" %H:%M:%S", " %H:%M", "", " %I:%M:%S %p", " %I:%M %p")
_MDY = [f"%m{s}%d{s}%Y{t}" for s in "/-." for t in _TIMES]
_DMY = [f"%d{s}%m{s}%Y{t}" for s in "/-." for t in _TIMES]


def _quote(name: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A SQL string literal, quoted (for view definitions, which take no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def _say_nothing(_msg: str) -> None:
    return None


@dataclass
class OutOfCoreResult:
    """What an out-of-core ingest wrote and learned (the panel stays on disk)."""

    panel_path: Path
    report: CleaningReport
    calendar: TradingCalendar
    columns: ColumnMap
    static_df: pd.DataFrame
    ids: pd.DataFrame
    n_series: int
    n_rows: int
    timings: dict[str, float]


def is_glob(path: str | Path) -> bool:
    """Whether ``path`` is a glob pattern such as ``orders/*.parquet``."""
    return any(c in str(path) for c in _GLOB_CHARS)


def resolve_files(source: str | Path | Sequence[str | Path]) -> list[str]:
    """The files behind a path, a folder (its Parquet or CSV files) or a glob pattern.

    Raises
    ------
    InputError
        When nothing matches, naming the pattern or path.
    """
    if not isinstance(source, str | Path):
        return sorted(f for s in source for f in resolve_files(s))
    text = str(source)
    if is_glob(text):
        files = sorted(f for f in glob.glob(text, recursive=True) if Path(f).is_file())
        if not files:
            raise InputError(
                f"No files match the pattern {text!r}. Check the folder and the pattern "
                "(e.g. 'orders/*.parquet'; quote it so the shell does not expand it)."
            )
        return files
    path = Path(text)
    if not path.exists():
        raise InputError(f"Input file not found: {path}. Check the path given to --input.")
    if path.is_dir():
        for pattern in ("**/*.parquet", "**/*.pq", "**/*.csv", "**/*.csv.gz"):
            files = sorted(str(f) for f in path.glob(pattern) if f.is_file())
            if files:
                return files
        raise InputError(f"The folder {path} holds no Parquet or CSV files.")
    return [text]


def _is_parquet(file: str) -> bool:
    return any(s.lower() in _PARQUET for s in Path(file).suffixes)


def _is_duckdb(file: str) -> bool:
    return Path(file).suffix.lower() in (".duckdb", ".db", ".ddb")


def _source_sql(con: Any, source: str | Path | Sequence[str | Path]) -> str:
    """A SELECT over the raw input, with column names trimmed as the in-memory reader does."""
    db, table = split_duckdb_target(str(source)) if isinstance(source, str | Path) else ("", None)
    if db and _is_duckdb(db) and not is_glob(db):
        if not Path(db).exists():
            raise InputError(f"Input file not found: {db}. Check the path given to --input.")
        con.execute(f"ATTACH {_literal(str(Path(db).resolve()))} AS source_db (READ_ONLY)")
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'source_db'"
            ).fetchall()
        ]
        if table is None and len(tables) == 1:
            table = tables[0]
        if table not in tables:
            raise InputError(f"Name one of the tables {tables} in {db} as {db}::TABLE.")
        assert table is not None
        relation = f"source_db.{_quote(table)}"
    else:
        files = resolve_files(source)
        kinds = {_is_parquet(f) for f in files}
        if len(kinds) > 1:
            raise InputError(
                f"The input mixes Parquet and CSV files ({format_examples(files)}); pass one kind."
            )
        listed = "[" + ", ".join(_literal(str(Path(f).resolve())) for f in files) + "]"
        if kinds == {True}:
            relation = f"read_parquet({listed}, union_by_name = true)"
        else:
            relation = _csv_relation(files, listed)
    names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
    projection = ", ".join(f"{_quote(n)} AS {_quote(n.strip())}" for n in names)
    return f"SELECT {projection} FROM {relation}"


def _csv_relation(files: list[str], listed: str) -> str:
    head = _open_text_head(Path(files[0]))
    if not head.strip():
        raise InputError(
            f"The input file {files[0]} is empty. Export the table again with its rows."
        )
    encoding, delimiter = _sniff(head)
    if encoding == "gb18030":
        raise InputError(
            f"{files[0]} is not UTF-8 (it looks like GBK/GB18030), which the out-of-core reader "
            f"cannot read. Convert it first, e.g. `iconv -f GB18030 -t UTF-8 {files[0]} > "
            "orders.csv`, or ingest it without --out-of-core."
        )
    duck_encoding = "latin-1" if encoding == "latin-1" else "utf-8"
    return (
        f"read_csv({listed}, all_varchar = true, header = true, union_by_name = true, "
        f"delim = {_literal(delimiter)}, encoding = {_literal(duck_encoding)})"
    )


# -- parsing expressions (the SQL twins of trendcast.data.parse) ------------------------------


def _text(col: str) -> str:
    return f"trim(CAST({_quote(col)} AS VARCHAR))"


def _number(col: str, dtype: str) -> str:
    """SQL for :func:`~trendcast.data.parse.parse_numbers`."""
    if dtype.upper() in _NUMERIC_TYPES or dtype.upper().startswith("DECIMAL"):
        return f"CAST({_quote(col)} AS DOUBLE)"
    cleaned = f"regexp_replace({_text(col)}, '[^0-9,.\\-+eE]', '', 'g')"
    return (
        f"TRY_CAST(CASE WHEN regexp_full_match({cleaned}, '[-+]?\\d{{1,3}}(,\\d{{3}})+(\\.\\d*)?') "
        f"THEN replace({cleaned}, ',', '') "
        f"WHEN regexp_full_match({cleaned}, '[-+]?\\d*,\\d+') THEN replace({cleaned}, ',', '.') "
        f"ELSE {cleaned} END AS DOUBLE)"
    )


def _normalised_date_text(col: str) -> str:
    """Chinese 年月日 as dashes and UTC offsets dropped, as parse_dates does."""
    text = f"regexp_replace({_text(col)}, '(\\d)\\s*[年月]\\s*', '\\1-', 'g')"
    text = f"replace({text}, '日', '')"
    return (
        f"regexp_replace({text}, "
        "'(\\d{1,2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?)\\s*(?:Z|[+-]\\d{2}(?::?\\d{2})?)$', '\\1')"
    )


def _text_date(text: str, formats: list[str]) -> str:
    listed = "[" + ", ".join(_literal(f) for f in formats) + "]"
    return f"coalesce(TRY_CAST({text} AS TIMESTAMP), try_strptime({text}, {listed}))"


def _date(con: Any, src: str, col: str, dtype: str, say: Progress) -> str:
    """SQL for :func:`~trendcast.data.parse.parse_dates`, choosing text formats on a sample."""
    upper = dtype.upper()
    quoted = _quote(col)
    if upper.startswith("TIMESTAMP") or upper == "DATE":
        return f"CAST({quoted} AS TIMESTAMP)"
    if upper in _NUMERIC_TYPES or upper.startswith("DECIMAL"):
        typical = con.execute(f"SELECT median(abs({quoted})) FROM ({src})").fetchall()[0][0] or 0
        if typical >= 1e11:
            return f"make_timestamp(CAST(round({quoted} * 1000) AS BIGINT))"
        if typical >= 1e9:
            return f"make_timestamp(CAST(round({quoted} * 1000000) AS BIGINT))"
        return f"try_strptime(CAST(CAST({quoted} AS BIGINT) AS VARCHAR), '%Y%m%d')"
    text = _normalised_date_text(col)
    sample = con.execute(
        f"SELECT DISTINCT raw, norm FROM (SELECT CAST({quoted} AS VARCHAR) AS raw, {text} AS norm "
        f"FROM ({src}) USING SAMPLE reservoir(20000 ROWS) REPEATABLE (7)) WHERE raw IS NOT NULL"
    ).df()
    if sample.empty:
        return _text_date(text, _YMD)
    truth = parse_dates(sample["raw"].astype("string"))
    con.register("date_sample", sample[["norm"]])
    best: tuple[int, list[str]] | None = None
    for formats in (_YMD, _YMD + _MDY, _YMD + _DMY):
        got = con.execute(f"SELECT {_text_date('norm', formats)} FROM date_sample").df().iloc[:, 0]
        agree = int(((got.to_numpy() == truth.to_numpy()) | (got.isna() & truth.isna())).sum())
        if best is None or agree > best[0]:
            best = (agree, formats)
    assert best is not None
    agree, formats = best
    # the formats most of the column uses go first, so most values parse at the first try
    hits = con.execute(
        "SELECT "
        + ", ".join(f"count(try_strptime(norm, {_literal(f)}))" for f in formats)
        + " FROM date_sample"
    ).fetchall()[0]
    con.unregister("date_sample")
    ordered = [f for _, f in sorted(zip(hits, formats, strict=True), key=lambda p: -p[0]) if _]
    if agree < len(sample):
        say(
            f"  dates: {len(sample) - agree:,} of {len(sample):,} sampled values of {col!r} read "
            "differently from the in-memory reader"
        )
    return _text_date(text, ordered or _YMD)


# -- the pipeline --------------------------------------------------------------------------------


class _Steps:
    """Log one line per step with its time; keep the timings.

    A step done once per part is timed with :meth:`lap` in each part (its times add up) and
    logged once with :meth:`tell` after the last part."""

    def __init__(self, say: Progress) -> None:
        self.say = say
        self.timings: dict[str, float] = {}
        self.start = time.perf_counter()
        self.last = self.start

    def lap(self, step: str) -> float:
        now = time.perf_counter()
        seconds = now - self.last
        self.timings[step] = self.timings.get(step, 0.0) + seconds
        self.last = now
        return seconds

    def tell(self, step: str, detail: str = "") -> None:
        self.say(f"{step}: {detail} ({self.timings.get(step, 0.0):.1f}s)" if detail else step)

    def done(self, step: str, detail: str = "") -> None:
        self.lap(step)
        self.tell(step, detail)


def _one(con: Any, sql: str, params: dict[str, Any] | None = None) -> Any:
    return con.execute(sql, params or {}).fetchall()[0]


def _examples(con: Any, where: str, columns: str) -> list[str]:
    """Up to three flagged order lines matching ``where``, for the cleaning report."""
    frame = con.execute(
        f"SELECT {columns} FROM flagged WHERE {where} ORDER BY uid, ts LIMIT 3"
    ).df()
    return [
        "; ".join(f"{k}={v}" for k, v in row.items())
        for row in frame.astype(str).to_dict("records")
    ]


#: DuckDB's buffers get this share of the ingest's memory budget; the rest is for what its
#: buffer manager does not count (file readers and writers, the Python side): DuckDB's own
#: guide to out-of-memory errors advises limits well below the memory there is
DUCKDB_SHARE = 0.75

#: About this many order lines go into one part. A part holds whole products, in the order of
#: their ids; it is de-duplicated, cleaned, aggregated, filled and written on its own, so no
#: step's hash table or sort grows with the input (DuckDB's GROUP BY slows down as its groups
#: grow: ``benchmarks/duckdb_groupby.py``), and the parts' panels follow each other in id order
PART_LINES = 10_000_000


def duckdb_memory_limit(budget: str) -> str:
    """DuckDB's ``memory_limit`` for a whole-process ``budget`` such as ``8GB``, ``8GiB`` or
    ``500MB`` (units of 1000 or, with an ``i``, 1024): :data:`DUCKDB_SHARE` of it."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*(?:([kmgt])(i?)b?|b)\s*", budget, re.IGNORECASE)
    if not match:
        raise ConfigError(
            f"Cannot read the memory limit {budget!r}; give it with a unit, e.g. 8GB, 8GiB or "
            "500MB."
        )
    number, prefix, binary = match.groups()
    power = " kmgt".index((prefix or " ").lower())
    size = float(number) * ((1024 if binary else 1000) ** power)
    if size < 100 * 10**6:
        raise ConfigError(f"The memory limit {budget!r} is too small; give at least 100MB.")
    return f"{int(size * DUCKDB_SHARE) // 2**20}MiB"


def _connect(workdir: Path, memory_limit: str | None, threads: int | None) -> Any:
    import duckdb

    config: dict[str, Any] = {"temp_directory": str(workdir / "spill")}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        if threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {threads}.")
        config["threads"] = threads
    try:
        con = duckdb.connect(str(workdir / "ingest.duckdb"), config=config)
    except duckdb.Error as exc:
        raise ConfigError(
            f"DuckDB refused the settings {config}: {str(exc).splitlines()[0]}. Give the memory "
            "limit as e.g. 8GB or 500MB."
        ) from None
    # tz-aware timestamps keep their UTC wall time; the in-memory reader keeps the file's zone
    con.execute("SET TimeZone = 'UTC'")
    return con


def ingest_out_of_core(
    source: str | Path | Sequence[str | Path] | None,
    output: str | Path,
    columns: ColumnMap | None = None,
    *,
    freq: str | None = None,
    config: CleaningConfig | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: str | Path | None = None,
    part_lines: int = PART_LINES,
    progress: Progress | None = None,
) -> OutOfCoreResult:
    """Clean and aggregate order lines to a product-period panel out of core; write Parquet.

    Parameters
    ----------
    source
        A CSV or Parquet file, a folder of them, a glob such as ``orders/*.parquet``,
        a list of files, or ``db.duckdb::table``. ``None`` is the embedded demo.
    output
        The panel's Parquet file, written atomically.
    columns
        Known column roles; the rest is detected from the names, as in-memory.
    freq
        ``D`` (default), ``W`` (or ``W-MON``...), ``MS``...
    memory_limit, threads
        The ingest's memory budget (e.g. ``8GB``) and DuckDB's worker threads.
        DuckDB's buffers get :data:`DUCKDB_SHARE` of the budget, leaving the rest
        for what DuckDB does not count; beyond its share DuckDB spills to
        ``temp_directory`` (default: a folder beside ``output``, removed afterwards).
    part_lines
        About how many order lines make one part (:data:`PART_LINES`). An input of
        one and a half times this or more is first split by product into parts of
        about this size, written to the temporary folder, and each part is cleaned and
        aggregated on its own.
    progress
        Called with one line per step.
    """
    import duckdb

    say = progress or _say_nothing
    config = config or CleaningConfig()
    output = Path(output)
    if output.suffix.lower() not in _PARQUET:
        raise ConfigError(
            f"The out-of-core ingest writes Parquet; name the output *.parquet, not {output.name}."
        )
    if part_lines < 1:
        raise ConfigError(f"part_lines must be at least 1, got {part_lines}.")
    if source is None:
        from trendcast.datasets import DEMO_COLUMNS, demo_orders_path

        source = str(demo_orders_path())
        columns = columns or ColumnMap(
            id_cols=(DEMO_COLUMNS["product_id"],),
            time_col=DEMO_COLUMNS["timestamp"],
            target_col=DEMO_COLUMNS["quantity"],
            order_col=DEMO_COLUMNS["order_id"],
            price_col=DEMO_COLUMNS["unit_price"],
            customer_col=DEMO_COLUMNS["customer_id"],
        )
    calendar = TradingCalendar(freq or "D")
    duckdb_limit = duckdb_memory_limit(memory_limit) if memory_limit else None
    # a folder of our own, even inside a given one: it is removed afterwards
    parent = Path(temp_directory) if temp_directory else output.parent
    parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f".{output.name}.work-", dir=parent))
    try:
        con = _connect(workdir, duckdb_limit, threads)
    except ConfigError:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    try:
        steps = _Steps(say)
        src = _source_sql(con, source)
        job = _Ingest(con, src, workdir, config, steps, part_lines)
        return job.run(output, columns, calendar)
    except duckdb.OutOfMemoryException as exc:
        raise InputError(
            f"DuckDB ran out of memory ({str(exc).splitlines()[0]}). Raise --memory-limit, lower "
            "--threads, or free disk space for spilling."
        ) from None
    except duckdb.IOException as exc:
        raise InputError(f"DuckDB cannot read the input: {str(exc).splitlines()[0]}") from None
    except duckdb.InvalidInputException as exc:
        raise InputError(f"DuckDB cannot read the input: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class _Tally:
    """A cleaning rule's counts summed over the parts, and its first examples in id order."""

    rows: float = 0.0
    units: float = 0.0
    examples: list[str] | None = None

    def add(self, rows: float, units: float = 0.0, examples: list[str] | None = None) -> None:
        self.rows += rows
        self.units += units
        if examples is not None:
            self.examples = (self.examples or []) + examples

    def first(self, n: int) -> list[str] | None:
        return None if self.examples is None else self.examples[:n]


class _Ingest:
    """One out-of-core ingest: the steps share the connection, the SQL and the tallies.

    The input is split by product into parts of about ``part_lines`` order lines (in the
    order of the ids); every step that grows with the data runs on one part at a time.
    Only per-day and per-product summaries, and the report's tallies, span the parts."""

    def __init__(
        self,
        con: Any,
        src: str,
        workdir: Path,
        config: CleaningConfig,
        steps: _Steps,
        part_lines: int,
    ) -> None:
        self.con = con
        self.src = src
        self.workdir = workdir
        self.config = config
        self.steps = steps
        self.part_lines = part_lines
        self.tallies: dict[str, _Tally] = {}

    def tally(self, rule: str) -> _Tally:
        return self.tallies.setdefault(rule, _Tally())

    # -- the whole run ---------------------------------------------------------------------------

    def run(
        self, output: Path, given: ColumnMap | None, calendar: TradingCalendar
    ) -> OutOfCoreResult:
        con, steps = self.con, self.steps
        types = {r[0]: r[1] for r in con.execute(f"DESCRIBE {self.src}").fetchall()}
        cmap = resolve_columns(pd.DataFrame(columns=list(types)), given)
        assert cmap.time_col and cmap.target_col
        report = CleaningReport()
        report.facts["input kind"] = "order lines"
        report.facts["columns"] = cmap.to_dict()
        steps.done("columns", ", ".join(f"{k}={v}" for k, v in cmap.to_dict().items() if v))

        ids = [f"NULLIF({_text(c)}, '')" for c in cmap.id_cols]
        missing_id = " OR ".join(f"{e} IS NULL" for e in ids)
        joined = (
            ids[0] if len(ids) == 1 else f"concat_ws({_literal(ID_SEPARATOR)}, {', '.join(ids)})"
        )
        uid = f"CASE WHEN {missing_id} THEN NULL ELSE {joined} END"
        ts = _date(con, self.src, cmap.time_col, types[cmap.time_col], steps.say)
        qty = _number(cmap.target_col, types[cmap.target_col])
        day = (
            "date_trunc('hour', ts)"
            if calendar.freq == "h"
            else "CAST(CAST(ts AS DATE) AS TIMESTAMP)"
        )
        parsed = [
            f"{uid} AS uid",
            # with one id column the id is uid itself: not stored twice
            *(f"{e} AS id_{k}" for k, e in enumerate(ids) if len(ids) > 1),
            f"{ts} AS ts",
            f"{_quote(cmap.time_col)} IS NOT NULL AS has_time",
            f"{qty} AS qty",
            f"{_quote(cmap.target_col)} IS NOT NULL AS has_qty",
        ]
        if cmap.price_col:
            parsed.append(f"{_number(cmap.price_col, types[cmap.price_col])} AS price")
        if cmap.promo_col:
            truthy = (
                f"lower({_text(cmap.promo_col)}) IN ({', '.join(_literal(t) for t in _TRUTHY)})"
            )
            parsed.append(
                f"least(greatest(coalesce({_number(cmap.promo_col, types[cmap.promo_col])}, "
                f"CASE WHEN {truthy} THEN 1.0 ELSE 0.0 END), 0), 1) AS promo"
            )
        if cmap.order_col:
            parsed.append(f"{_text(cmap.order_col)} AS ord")
        levels = list(cmap.attributes.items())
        parsed += [f"{_text(col)} AS attr_{k}" for k, (_, col) in enumerate(levels)]

        total, parts = self.census(uid, cmap.id_cols)
        relations = self.partition(uid, cmap.id_cols, parts, total, types)
        days = self.read_and_clean(
            relations, parsed, cmap, report, {"ts": ts, "qty": qty}, day, total
        )
        calendar = self.trading_calendar(days, calendar, report)
        tmp = output.with_name(f".{output.name}.tmp")
        output.parent.mkdir(parents=True, exist_ok=True)
        try:
            summary = self.aggregate_and_write(parts, days, calendar, cmap, report, tmp)
            tmp.replace(output)
        finally:
            tmp.unlink(missing_ok=True)
        steps.tell("written", str(output))

        stats, static_parts, id_parts, n_rows, first, last = summary
        report.series_notes = _series_notes(stats, calendar)
        static = _static(static_parts, levels, report)
        id_frame = pd.concat(id_parts, ignore_index=True)
        n_series = len(stats)
        report.rows_out = n_rows
        report.facts["series"] = n_series
        report.facts["periods"] = f"{first:%Y-%m-%d} .. {last:%Y-%m-%d}"
        steps.done("summarised", f"{n_series:,} series")
        return OutOfCoreResult(
            output, report, calendar, cmap, static, id_frame, n_series, n_rows, steps.timings
        )

    # -- products and parts ----------------------------------------------------------------------

    def census(self, uid: str, id_cols: tuple[str, ...]) -> tuple[int, list[int]]:
        """Count the lines of every product (one pass over the id columns); number the products
        in id order (``pid``) and cut them into parts of about ``part_lines`` lines.

        ``raw_ids`` maps each distinct raw id (the id columns as read) to its part: the product
        id's SQL (trimming, joining) runs once per distinct id, not once per line."""
        con, config = self.con, self.config
        raw = ", ".join(_quote(c) for c in id_cols)
        con.execute(
            f"CREATE TABLE raw_ids AS SELECT {raw}, count(*) AS __n FROM ({self.src}) "
            f"GROUP BY {raw}"
        )
        con.execute(
            f"CREATE TABLE counted AS SELECT {uid} AS __uid, sum(__n) AS __n FROM raw_ids "
            "GROUP BY __uid"
        )
        total = int(_one(con, "SELECT coalesce(sum(__n), 0) FROM counted")[0])
        if not total:
            raise InputError("The input has no rows.")
        # as many parts as part_lines fits best, cut at equal shares of the lines (no small
        # last part); a product is never cut
        n_parts = max(1, round(total / self.part_lines))
        con.execute(
            f"""
            CREATE TABLE census AS
            SELECT __uid, __n, CAST((sum(__n) OVER (ORDER BY __uid NULLS FIRST ROWS BETWEEN
                UNBOUNDED PRECEDING AND CURRENT ROW) - __n) * {n_parts} // {total} AS INTEGER)
                AS __part
            FROM counted
            """
        )
        # product codes are few: flag them once, not on every order line; from here on products
        # are keyed by pid, an integer in the order of their ids, which hashes, joins and sorts
        # faster than the text (sorting by pid is sorting by id)
        con.execute(
            "CREATE TABLE products AS SELECT __uid AS uid, "
            "row_number() OVER (ORDER BY __uid) AS pid, "
            "list_contains($codes::VARCHAR[], upper(__uid)) "
            "OR len(list_filter($prefixes::VARCHAR[], lambda p: starts_with(upper(__uid), p))) "
            "> 0 AS non_product FROM census WHERE __uid IS NOT NULL",
            {
                "codes": sorted({c.upper() for c in config.non_product_codes}),
                "prefixes": [p.upper() for p in config.non_product_prefixes],
            },
        )
        parts = [
            r[0] for r in con.execute("SELECT DISTINCT __part FROM census ORDER BY 1").fetchall()
        ]
        n_products = _one(con, "SELECT count(*) FROM products")[0]
        self.steps.done(
            "census",
            f"{int(total):,} order lines, {n_products:,} products, {len(parts):,} part(s)",
        )
        return int(total), parts

    def partition(
        self,
        uid: str,
        id_cols: tuple[str, ...],
        parts: list[int],
        total: int,
        types: dict[str, str],
    ) -> list[tuple[int, str]]:
        """Each part's raw lines as SQL: the input itself if there is one part, else Parquet
        files that one pass over the input writes, a folder per part."""
        if len(parts) == 1:
            return [(parts[0], self.src)]
        folder = self.workdir / "parts"
        raw = ", ".join(_quote(c) for c in id_cols)
        self.con.execute(
            f"CREATE TABLE id_parts AS SELECT {raw}, c.__part FROM raw_ids "
            f"JOIN census c ON ({uid}) IS NOT DISTINCT FROM c.__uid"
        )
        same = " AND ".join(f"s.{_quote(c)} IS NOT DISTINCT FROM i.{_quote(c)}" for c in id_cols)
        written = _one(
            self.con,
            f"COPY (SELECT s.*, i.__part FROM ({self.src}) s JOIN id_parts i ON {same}) "
            f"TO {_literal(str(folder))} (FORMAT parquet, PARTITION_BY (__part))",
        )[0]
        if written != total:
            raise InputError(
                f"The input changed while it was read ({total:,} order lines, then "
                f"{written:,}); run the ingest again when its files are complete."
            )
        relations = []
        for k in parts:
            files = _literal(str(folder / f"__part={k}" / "*.parquet"))
            relation = f"read_parquet({files}, hive_partitioning = false)"
            described = self.con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
            stored = {r[0]: r[1] for r in described}
            # Parquet keeps DuckDB's types; should one differ, the parsing SQL still sees the
            # input's type
            projection = ", ".join(
                _quote(c) if stored.get(c) == t else f"CAST({_quote(c)} AS {t}) AS {_quote(c)}"
                for c, t in types.items()
            )
            relations.append((k, f"SELECT {projection} FROM {relation}"))
        self.steps.done("partitioned", f"by product into {len(parts):,} parts in {folder}")
        return relations

    def use(self, part: int) -> None:
        """Point the views (``lines``, ``flagged``, ``clean``) at one part's lines."""
        self.con.execute(f"CREATE OR REPLACE VIEW lines AS SELECT * FROM lines_{part}")

    # -- reading and cleaning, part by part ------------------------------------------------------

    def read_and_clean(
        self,
        relations: list[tuple[int, str]],
        parsed: list[str],
        cmap: ColumnMap,
        report: CleaningReport,
        expressions: dict[str, str],
        day: str,
        total: int,
    ) -> pd.DataFrame:
        """De-duplicate, parse and clean every part; report the rules; return the day census."""
        con, steps = self.con, self.steps
        counts = np.zeros(8)
        distinct = 0
        days = []
        for i, (k, relation) in enumerate(relations):
            # one row per distinct raw line and how often it occurs: exact duplicates in one pass
            con.execute(
                f"CREATE TABLE lines_{k} AS SELECT {', '.join(parsed)}, __copies FROM "
                f"(SELECT *, count(*) AS __copies FROM ({relation}) GROUP BY ALL)"
            )
            shutil.rmtree(self.workdir / "parts" / f"__part={k}", ignore_errors=True)
            self.use(k)
            part_distinct = _one(con, "SELECT count(*) FROM lines")[0]
            distinct += part_distinct
            seconds = steps.lap("read and de-duplicated")
            counts += _parse_counts(con)
            if len(relations) > 1:
                # a share of bad values already too high for all the lines stops the run early
                _check_parsed(con, cmap, self.config, self.src, counts, expressions, total)
            seconds += steps.lap("parsed")
            if i == 0:
                self.flag_views(
                    has_order=bool(cmap.order_col), has_price=bool(cmap.price_col), day=day
                )
            self.order_counts(has_order=bool(cmap.order_col), has_price=bool(cmap.price_col))
            part_days = con.execute(
                "SELECT day, bool_or(qty > 0) AS sold, count(*) AS n FROM clean GROUP BY day"
            ).df()
            days.append(part_days)
            seconds += steps.lap("cleaned")
            if len(relations) > 1:
                steps.say(
                    f"part {i + 1}/{len(relations)} read: {part_distinct:,} distinct order lines, "
                    f"{int(part_days['n'].sum()):,} kept ({seconds:.1f}s)"
                )
        steps.tell("read and de-duplicated", f"{total:,} order lines, {distinct:,} distinct")
        _check_parsed(con, cmap, self.config, self.src, counts, expressions)
        missing_id, bad_time, bad_qty, empty = counts[:4]
        for name, rows, reason in (
            ("missing product id", missing_id, "no product id, so the row cannot be attributed"),
            ("unreadable date", bad_time, "the date could not be parsed"),
            ("unreadable quantity", bad_qty, "the quantity is not a number"),
            ("empty date or quantity", empty, "the date or quantity is empty"),
        ):
            report.add(name, "dropped", int(rows), reason)
        steps.tell("parsed", "ids, dates and quantities")
        self.add_order_rules(report, has_price=bool(cmap.price_col))
        merged = pd.concat(days, ignore_index=True)
        merged = merged.groupby("day", as_index=False).agg(sold=("sold", "any"), n=("n", "sum"))
        steps.tell("cleaned", f"{int(merged['n'].sum()):,} order lines kept")
        if merged.empty or not merged["sold"].any():
            raise InputError("No sales are left after cleaning; see the cleaning report for why.")
        merged["day"] = pd.to_datetime(merged["day"]).astype("datetime64[ns]")
        return merged

    def flag_views(self, *, has_order: bool, has_price: bool, day: str) -> None:
        """``flagged``: the readable lines with their product's flags; ``clean``: the lines kept,
        with their ``day`` (SQL over ``ts``). Views over ``lines``: each is read twice per part
        (counts, then days or the aggregation), which costs less than writing every line
        again."""
        config = self.config
        cancel_by_order = (
            f"coalesce(starts_with(upper(ord), {_literal(config.cancel_prefix.upper())}), false)"
            if has_order and config.cancel_prefix
            else "false"
        )
        self.con.execute(
            f"""
            CREATE VIEW flagged AS SELECT lines.*, pid, non_product,
                qty < 0 OR {cancel_by_order} AS cancelled
            FROM lines JOIN products USING (uid)
            WHERE ts IS NOT NULL AND qty IS NOT NULL
            """
        )
        keep_cancelled = "" if self.net else "AND NOT cancelled"
        self.con.execute(
            f"""
            CREATE VIEW clean AS
            SELECT * EXCLUDE (ts, has_time, has_qty, __copies, non_product, cancelled)
                REPLACE ({self.signed} AS qty), {day} AS day
            FROM flagged
            WHERE NOT non_product {keep_cancelled} AND {self.signed} <> 0
                AND NOT {self.price_rule(has_price)}
            """
        )

    @property
    def net(self) -> bool:
        return self.config.returns == "net"

    @property
    def signed(self) -> str:
        return "CASE WHEN cancelled THEN -abs(qty) ELSE qty END" if self.net else "qty"

    def price_rule(self, has_price: bool) -> str:
        return f"coalesce(price <= 0 AND {self.signed} > 0, false)" if has_price else "false"

    def order_counts(self, *, has_order: bool, has_price: bool) -> None:
        """Duplicates, non-products, cancellations, zero quantities and prices in this part, as
        in _clean_orders: counted, with examples, into the tallies."""
        con, signed, price_rule = self.con, self.signed, self.price_rule(has_price)
        live = "NOT non_product" + ("" if self.net else " AND NOT cancelled")
        dup, dup_units, non_product, np_units, cancelled, c_units, zero, bad, bad_units = _one(
            con,
            f"""
            SELECT
                coalesce(sum(__copies - 1), 0),
                coalesce(sum((__copies - 1) * qty), 0),
                count(*) FILTER (WHERE non_product),
                coalesce(sum(qty) FILTER (WHERE non_product), 0),
                count(*) FILTER (WHERE NOT non_product AND cancelled),
                coalesce(sum(abs(qty)) FILTER (WHERE NOT non_product AND cancelled), 0),
                count(*) FILTER (WHERE {live} AND {signed} = 0),
                count(*) FILTER (WHERE {live} AND {signed} <> 0 AND {price_rule}),
                coalesce(sum({signed}) FILTER (WHERE {live} AND {signed} <> 0
                                               AND {price_rule}), 0)
            FROM flagged
            """,
        )
        shown = ", ".join(
            ["uid AS product", "ts AS time", "qty AS quantity"]
            + (["price"] if has_price else [])
            + (["ord AS order_id"] if has_order else [])
        )
        # examples are the first in id order: parts follow the ids, so the first parts' are
        self.tally("exact duplicates").add(
            dup, dup_units, _examples(con, "__copies > 1", shown) if dup else None
        )
        self.tally("non-product codes").add(
            non_product,
            np_units,
            [
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT uid FROM flagged WHERE non_product ORDER BY uid LIMIT 5"
                ).fetchall()
            ],
        )
        self.tally("cancellations and returns").add(
            cancelled,
            c_units,
            _examples(con, "NOT non_product AND cancelled", shown) if cancelled else None,
        )
        self.tally("zero quantity").add(
            zero, 0.0, _examples(con, f"{live} AND {signed} = 0", shown) if zero else None
        )
        self.tally("zero or negative price").add(
            bad,
            bad_units,
            _examples(con, f"{live} AND {signed} <> 0 AND {price_rule}", shown) if bad else None,
        )

    def add(
        self, report: CleaningReport, rule: str, action: str, reason: str, examples: int = 3
    ) -> None:
        """A rule's tally, summed over the parts, into the report."""
        tally = self.tally(rule)
        report.add(
            rule,
            action,
            int(tally.rows),
            reason,
            units=float(tally.units),
            examples=tally.first(examples),
        )

    def add_order_rules(self, report: CleaningReport, *, has_price: bool) -> None:
        """The order rules' tallies into the report, in the in-memory ingest's order."""
        self.add(report, "exact duplicates", "dropped", "identical order lines exported twice")
        self.add(
            report,
            "non-product codes",
            "dropped",
            "postage, fees, manual adjustments and similar codes are not demand "
            "(list: cleaning.non_product_codes)",
            examples=5,
        )
        if self.net:
            self.add(
                report,
                "cancellations and returns",
                "netted",
                "returns are subtracted from demand in the period they happen; periods are "
                "floored at zero (cleaning.returns = 'net')",
            )
        else:
            self.add(
                report,
                "cancellations and returns",
                "dropped",
                "cancelled order lines and returns (negative quantities) are not new demand "
                "(cleaning.returns = 'drop')",
            )
        self.add(report, "zero quantity", "dropped", "a line with no units sold")
        if has_price:
            self.add(
                report,
                "zero or negative price",
                "dropped",
                "free or negative-priced lines are samples, write-offs or adjustments, not sales",
            )

    def trading_calendar(
        self, days: pd.DataFrame, calendar: TradingCalendar, report: CleaningReport
    ) -> TradingCalendar:
        """Closed weekdays (detected from the day census) and the ``periods`` table: each day's
        period."""
        moved_day = days["day"]
        if calendar.is_daily and self.config.trading_days == "detect":
            closed = detect_closed_weekdays(days.loc[days["sold"], "day"])
            if closed:
                calendar = TradingCalendar(calendar.freq, closed_weekdays=closed)
                on_closed = days["day"].dt.dayofweek.isin(closed)
                moved_day = days["day"].where(
                    ~on_closed, days["day"].map(lambda d: calendar.future(d, 1)[0])
                )
                report.add(
                    "sales on closed days",
                    "moved",
                    int(days.loc[on_closed, "n"].sum()),
                    "the few sales dated on a non-trading weekday are counted on the next "
                    "trading day",
                )
        report.facts["frequency"] = calendar.describe()
        day_map = pd.DataFrame({"day": days["day"], "ds": calendar.floor(moved_day)})
        self.con.register("day_map", day_map)
        self.con.execute("CREATE TABLE periods AS SELECT * FROM day_map")
        self.con.unregister("day_map")
        return calendar

    # -- aggregating, filling and writing, part by part ------------------------------------------

    def aggregate_and_write(
        self,
        parts: list[int],
        days: pd.DataFrame,
        calendar: TradingCalendar,
        cmap: ColumnMap,
        report: CleaningReport,
        tmp: Path,
    ) -> tuple[
        pd.DataFrame, list[pd.DataFrame], list[pd.DataFrame], int, pd.Timestamp, pd.Timestamp
    ]:
        """Aggregate, fill, cap and write each part's panel to ``tmp``, in id order; return the
        series' statistics, static attributes and ids, the rows, and the first and last period."""
        import pyarrow.parquet as pq

        con, steps = self.con, self.steps
        periods = pd.to_datetime(con.execute("SELECT DISTINCT ds FROM periods").df()["ds"])
        last_period = periods.max()
        partial = None
        if not calendar.is_daily:
            last_day = days["day"].max().normalize()
            if last_day < calendar.period_end(last_period):
                partial = last_period
                if (periods < partial).sum() == 0:
                    raise InputError(
                        f"The data ends on {last_day:%Y-%m-%d}, inside its only period "
                        f"({partial:%Y-%m-%d}); a partial period would look like a drop in "
                        "demand. Give more data or a shorter frequency (e.g. --freq D)."
                    )
        grid = calendar.range(periods.min(), periods[periods != partial].max())
        con.register("grid_frame", pd.DataFrame({"ds": grid, "pos": np.arange(len(grid))}))
        con.execute("CREATE TABLE grid AS SELECT * FROM grid_frame")
        con.unregister("grid_frame")

        # two plain aggregations (by order, then by period) are cheaper than count(DISTINCT)
        by_order = ", ord" if cmap.order_col else ""
        inner = ["sum(qty) AS qty"]
        outer = ["greatest(sum(qty), 0) AS y"]
        value_cols = []
        if cmap.price_col:
            inner += [
                # over the lines with a known price: a period without one has no price (filled
                # from the series' neighbours below), not a price of 0
                "sum(qty * price) FILTER (WHERE qty > 0 AND price IS NOT NULL) AS pos_revenue",
                "sum(qty) FILTER (WHERE qty > 0 AND price IS NOT NULL) AS pos_units",
            ]
            outer += [
                "coalesce(sum(pos_revenue), 0) AS revenue",
                "CASE WHEN sum(pos_units) IS NOT NULL THEN coalesce(sum(pos_revenue), 0) "
                "/ sum(pos_units) END AS price",
            ]
            value_cols += ["revenue", "price"]
        if cmap.promo_col:
            inner.append("max(promo) AS promo")
            outer.append("max(promo) AS promo")
            value_cols.append("promo")
        if cmap.order_col:
            outer.append("CAST(count(ord) AS DOUBLE) AS orders")
            value_cols.append("orders")
        levels = list(cmap.attributes.items())
        aggregated = n_rows = 0
        first, last = pd.Timestamp.max, pd.Timestamp.min
        stats, statics, id_parts = [], [], []
        writer = None
        try:
            for i, k in enumerate(parts):
                self.use(k)
                con.execute(
                    f"CREATE OR REPLACE TABLE agg AS SELECT pid, ds, {', '.join(outer)} FROM ("
                    f"SELECT pid, p.ds{by_order}, {', '.join(inner)} FROM clean "
                    f"JOIN periods p USING (day) GROUP BY pid, p.ds{by_order}) GROUP BY pid, ds"
                )
                aggregated += _one(con, "SELECT count(*) FROM agg")[0]
                if partial is not None:
                    where = {"d": partial}
                    self.tally("partial last period").add(
                        _one(con, "SELECT count(*) FROM agg WHERE ds = $d", where)[0]
                    )
                    con.execute("DELETE FROM agg WHERE ds = $d", where)
                seconds = steps.lap("aggregated")
                self.fill(value_cols, len(grid))
                seconds += steps.lap("filled")
                final = self.spikes(value_cols)
                batches = con.sql(
                    f"SELECT * EXCLUDE (pid) FROM ({final}) ORDER BY pid, ds"
                ).to_arrow_reader(_BATCH_ROWS)
                for batch in batches:
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, batch.schema, compression="zstd")
                    writer.write_batch(batch)
                stats.append(_series_stats(con, len(grid)))
                statics.append(_static_part(con, levels))
                id_parts.append(_ids(con, cmap))
                rows, lo, hi = _one(con, "SELECT count(*), min(ds), max(ds) FROM filled")
                if rows:
                    n_rows += rows
                    first, last = min(first, pd.Timestamp(lo)), max(last, pd.Timestamp(hi))
                con.execute(f"DROP TABLE lines_{k}")
                seconds += steps.lap("written")
                if len(parts) > 1:
                    steps.say(
                        f"part {i + 1}/{len(parts)} written: {rows:,} panel rows ({seconds:.1f}s)"
                    )
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise InputError("No panel rows are left after cleaning; see the cleaning report.")
        steps.tell("aggregated", f"{aggregated:,} product-periods")
        if partial is not None:
            self.add(
                report,
                "partial last period",
                "dropped",
                f"the data ends on {days['day'].max():%Y-%m-%d}, inside the period labelled "
                f"{partial:%Y-%m-%d}; a partial period would look like a drop in demand",
            )
        self.add(
            report,
            "periods before the first sale",
            "dropped",
            "a series starts at its first sale (products that never sold keep all their rows)",
        )
        self.add(
            report,
            "missing periods",
            "filled",
            "periods with no sales inside a series' life are explicit zero demand",
        )
        steps.tell("filled", f"{n_rows:,} panel rows")
        self.add_spikes(report)
        return pd.concat(stats, ignore_index=True), statics, id_parts, n_rows, first, last

    def fill(self, value_cols: list[str], n_grid: int) -> None:
        """Start each series at its first sale; fill missing periods to the panel's end with
        zeros (this part's ``filled``)."""
        con = self.con
        con.execute(
            "CREATE OR REPLACE TABLE starts AS SELECT pid, "
            "coalesce(min(ds) FILTER (WHERE y > 0), min(ds)) AS start FROM agg GROUP BY pid"
        )
        self.tally("periods before the first sale").add(
            _one(con, "SELECT count(*) FROM agg JOIN starts USING (pid) WHERE ds < start")[0]
        )
        missing = _one(
            con, "SELECT count(*) FROM starts LEFT JOIN grid ON start = ds WHERE pos IS NULL"
        )
        if missing[0]:
            raise InputError(
                "Internal calendar mismatch while filling periods; please report this."
            )
        fills = {
            "price": "coalesce(last_value(a.price IGNORE NULLS) OVER past, "
            "first_value(a.price IGNORE NULLS) OVER future) AS price",
            "revenue": "coalesce(a.revenue, 0) AS revenue",
            "promo": "coalesce(a.promo, 0) AS promo",
            "orders": "coalesce(a.orders, 0) AS orders",
        }
        windows = (
            " WINDOW past AS (PARTITION BY f.pid ORDER BY f.ds ROWS BETWEEN UNBOUNDED PRECEDING "
            "AND CURRENT ROW), future AS (PARTITION BY f.pid ORDER BY f.ds ROWS BETWEEN CURRENT "
            "ROW AND UNBOUNDED FOLLOWING)"
            if "price" in value_cols
            else ""
        )
        con.execute(
            f"""
            CREATE OR REPLACE TABLE filled AS
            WITH frame AS (
                SELECT s.pid, g.ds FROM (
                    SELECT pid, unnest(range(pos, {n_grid})) AS pos
                    FROM starts JOIN grid ON start = ds
                ) s JOIN grid g USING (pos)
            )
            SELECT f.pid, f.ds, coalesce(a.y, 0) AS y, a.y IS NULL AS was_filled
                {"".join(", " + fills[c] for c in value_cols)}
            FROM frame f LEFT JOIN agg a ON a.pid = f.pid AND a.ds = f.ds
            {windows}
            """
        )
        self.tally("missing periods").add(
            _one(con, "SELECT count(*) FILTER (WHERE was_filled) FROM filled")[0]
        )

    def spikes(self, value_cols: list[str]) -> str:
        """Cap or flag this part's spikes (robust z-score of log demand per series), tallied;
        returns the part's final SELECT."""
        con, config = self.con, self.config
        values = "".join(
            f", {c}" for c in ("revenue", "price", "promo", "orders") if c in value_cols
        )
        if config.outliers == "none":
            return (
                f"SELECT pid, uid AS unique_id, ds, y{values} FROM filled JOIN products USING (pid)"
            )
        con.execute(
            f"""
            CREATE OR REPLACE TABLE bounds AS
            WITH stats AS (
                SELECT pid, median(ln(1 + y)) AS med, count(*) AS n FROM filled WHERE y > 0
                GROUP BY pid
            ), spread AS (
                SELECT pid, any_value(med) AS med, any_value(n) AS n,
                       median(abs(ln(1 + y) - med)) * 1.4826 AS mad
                FROM filled JOIN stats USING (pid) WHERE y > 0 GROUP BY pid
            )
            SELECT pid, exp(med + {float(config.outlier_threshold)!r} * greatest(mad, 0.25)) - 1
                   AS bound
            FROM spread WHERE n >= 10
            """
        )
        spikes, excess = _one(
            con,
            "SELECT count(*), coalesce(sum(y - bound), 0) FROM filled JOIN bounds USING (pid) "
            "WHERE y > 0 AND y > bound",
        )
        examples = [
            f"{u} {pd.Timestamp(d):%Y-%m-%d}: {y:,.0f} > {b:,.0f}"
            for u, d, y, b in con.execute(
                "SELECT uid, ds, y, bound FROM filled JOIN bounds USING (pid) JOIN products "
                "USING (pid) WHERE y > 0 AND y > bound ORDER BY pid, ds LIMIT 3"
            ).fetchall()
        ]
        self.tally("demand spikes").add(spikes, excess, examples)
        spike = "coalesce(f.y > 0 AND f.y > b.bound, false)"
        y = (
            f"CASE WHEN {spike} THEN floor(b.bound) ELSE f.y END"
            if config.outliers == "cap"
            else "f.y"
        )
        return (
            f"SELECT f.pid, u.uid AS unique_id, f.ds, {y} AS y{values.replace(', ', ', f.')}, "
            f"{spike} AS outlier FROM filled f JOIN products u USING (pid) "
            "LEFT JOIN bounds b USING (pid)"
        )

    def add_spikes(self, report: CleaningReport) -> None:
        config = self.config
        if config.outliers == "none":
            report.add(
                "demand spikes", "info", 0, "outlier treatment is off (cleaning.outliers = 'none')"
            )
        elif config.outliers == "cap":
            self.add(
                report,
                "demand spikes",
                "capped",
                f"a period's demand above exp(median + {config.outlier_threshold:g}·MAD) of the "
                "product's log selling-period demand is capped at that bound",
            )
        else:
            self.add(
                report,
                "demand spikes",
                "flagged",
                "spikes are marked in the `outlier` column and left as they are",
            )


#: rows per Arrow batch from DuckDB to the Parquet writer: one row group each
_BATCH_ROWS = 1 << 20


def _parse_counts(con: Any) -> np.ndarray:
    """This part's unreadable rows, counted as prepare_sales counts them: missing id, bad date,
    bad quantity, empty date or quantity; then the lines with a date and with a quantity, and
    those of them that cannot be read."""
    return np.array(
        _one(
            con,
            """
            SELECT
                coalesce(sum(__copies) FILTER (WHERE uid IS NULL), 0),
                coalesce(sum(__copies) FILTER (WHERE uid IS NOT NULL AND ts IS NULL
                                               AND has_time), 0),
                coalesce(sum(__copies) FILTER (WHERE uid IS NOT NULL AND ts IS NOT NULL
                                               AND qty IS NULL AND has_qty), 0),
                coalesce(sum(__copies) FILTER (WHERE uid IS NOT NULL
                                               AND (ts IS NULL OR qty IS NULL)
                                               AND NOT (ts IS NULL AND has_time)
                                               AND NOT (qty IS NULL AND has_qty)), 0),
                coalesce(sum(__copies) FILTER (WHERE has_time), 0),
                coalesce(sum(__copies) FILTER (WHERE has_qty), 0),
                coalesce(sum(__copies) FILTER (WHERE ts IS NULL AND has_time), 0),
                coalesce(sum(__copies) FILTER (WHERE qty IS NULL AND has_qty), 0)
            FROM lines
            """,
        ),
        dtype=float,
    )


def _check_parsed(
    con: Any,
    cmap: ColumnMap,
    config: CleaningConfig,
    src: str,
    counts: np.ndarray,
    expressions: dict[str, str],
    bound: int | None = None,
) -> None:
    """Refuse a date or quantity column with too many unreadable values.

    Mid-way, ``bound`` is the input's line count, at least as many as will have a value in
    the end: a share of the bound already over the limit is over it for the whole input."""
    has_time, has_qty, all_bad_time, all_bad_qty = counts[4:]
    for col, what, n_given, n_bad, expr, fix in (
        (
            cmap.time_col,
            "dates",
            has_time,
            all_bad_time,
            expressions["ts"],
            "Map the right column with --time-col, or fix the dates (e.g. 2024-03-31).",
        ),
        (
            cmap.target_col,
            "quantity",
            has_qty,
            all_bad_qty,
            expressions["qty"],
            "Map the quantity column with --target-col; it must hold numbers.",
        ),
    ):
        assert col
        if bound is None and n_given == 0:
            raise InputError(f"The column {col!r} ({what}) is empty. {fix}")
        if n_bad / (bound or n_given) > config.max_bad_share:
            quoted = _quote(col)
            shown = [
                r[0]
                for r in con.execute(
                    f"SELECT DISTINCT CAST({quoted} AS VARCHAR) FROM ({src}) "
                    f"WHERE {quoted} IS NOT NULL AND ({expr}) IS NULL LIMIT 3"
                ).fetchall()
            ]
            raise InputError(
                f"The column {col!r} ({what}) has {'at least ' if bound else ''}{int(n_bad):,} "
                f"value(s) that cannot be read as {'dates' if what == 'dates' else 'numbers'}, "
                f"e.g. {format_examples(shown)}. {fix}"
            )


def _series_stats(con: Any, n_grid: int) -> pd.DataFrame:
    """This part's series: periods, units, and periods since the last sale."""
    return con.execute(
        f"""
        SELECT any_value(uid) AS uid, count(*) AS n, sum(y) AS total,
               coalesce({n_grid} - 1 - max(pos) FILTER (WHERE y > 0), {n_grid}) AS since
        FROM filled JOIN grid USING (ds) JOIN products USING (pid) GROUP BY pid ORDER BY pid
        """
    ).df()


def _series_notes(per: pd.DataFrame, calendar: TradingCalendar) -> pd.DataFrame:
    """Never sold, short and dead series, as prepare_sales notes them."""
    season = calendar.season_length
    short_len = 2 * season if season > 1 else 8
    dead_after = {"W": 13, "M": 6}.get(calendar.freq[0], max(8 * season, 8))
    never = per[per["total"] == 0]
    short = per[per["n"] < short_len]
    dead = per[(per["since"] >= dead_after) & (per["total"] > 0)]
    notes = [
        pd.DataFrame(
            {
                "unique_id": never["uid"],
                "issue": "never sold",
                "detail": "no sales in the data; the forecast is zero",
            }
        ),
        pd.DataFrame(
            {
                "unique_id": short["uid"],
                "issue": "short",
                "detail": [
                    f"{k} period(s) of history; forecasts lean on simple models" for k in short["n"]
                ],
            }
        ),
        pd.DataFrame(
            {
                "unique_id": dead["uid"],
                "issue": "dead",
                "detail": [f"no sales in the last {int(k)} periods" for k in dead["since"]],
            }
        ),
    ]
    return pd.concat(notes, ignore_index=True)[["unique_id", "issue", "detail"]]


def _static_part(con: Any, levels: list[tuple[str, str]]) -> pd.DataFrame:
    """This part's attributes per product: how many values each has, and the smallest."""
    if not levels:
        return con.execute(
            "SELECT uid AS unique_id FROM products JOIN starts USING (pid) ORDER BY pid"
        ).df()
    parts = ", ".join(
        f"count(DISTINCT attr_{k}) AS n_{k}, min(attr_{k}) AS v_{k}" for k in range(len(levels))
    )
    return con.execute(
        f"SELECT uid AS unique_id, {parts} FROM clean WHERE pid IN (SELECT pid FROM starts) "
        "GROUP BY uid ORDER BY uid"
    ).df()


def _static(
    parts: list[pd.DataFrame], levels: list[tuple[str, str]], report: CleaningReport
) -> pd.DataFrame:
    """Attributes constant within products (category, brand, store) for hierarchy levels."""
    per = pd.concat(parts, ignore_index=True)
    static = per[["unique_id"]].copy()
    for k, (level, _) in enumerate(levels):
        if (per[f"n_{k}"] > 1).mean() > 0.05:
            report.facts[f"attribute {level}"] = "varies within products; not a hierarchy level"
            continue
        static[level] = per[f"v_{k}"].astype("string")
    return static.reset_index(drop=True)


def _ids(con: Any, cmap: ColumnMap) -> pd.DataFrame:
    """This part's unique_id and original id columns, for output under the input's names."""
    names = [f"id_{k}" for k in range(len(cmap.id_cols))] if len(cmap.id_cols) > 1 else ["uid"]
    parts = ", ".join(f"min({n}) AS {_quote(c)}" for n, c in zip(names, cmap.id_cols, strict=True))
    return con.execute(
        f"SELECT uid AS unique_id, {parts} FROM lines WHERE uid IN "
        "(SELECT uid FROM products JOIN starts USING (pid)) GROUP BY uid ORDER BY uid"
    ).df()
