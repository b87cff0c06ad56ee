"""Out-of-core ingestion: order lines far larger than memory, cleaned and aggregated by DuckDB.

:func:`ingest_out_of_core` reads CSV or Parquet files (a file, a folder, or a glob
such as ``orders/*.parquet``), applies the cleaning rules of
:func:`~trendcast.data.prepare.prepare_sales` for order lines in SQL, aggregates
to the product and period, fills the missing periods, caps demand spikes and
writes the panel as Parquet. DuckDB works under a memory limit and spills to a
temporary folder, so the input may be many times larger than memory; only
per-day and per-product summaries ever reach pandas.

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
    """Log one line per step with its time; keep the timings."""

    def __init__(self, say: Progress) -> None:
        self.say = say
        self.timings: dict[str, float] = {}
        self.start = time.perf_counter()
        self.last = self.start

    def done(self, step: str, detail: str = "") -> None:
        now = time.perf_counter()
        self.timings[step] = now - self.last
        self.last = now
        self.say(f"{step}: {detail} ({self.timings[step]:.1f}s)" if detail else step)


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
        return _ingest(con, src, output, columns, calendar, config, steps)
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


def _ingest(
    con: Any,
    src: str,
    output: Path,
    given: ColumnMap | None,
    calendar: TradingCalendar,
    config: CleaningConfig,
    steps: _Steps,
) -> OutOfCoreResult:
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE {src}").fetchall()}
    cmap = resolve_columns(pd.DataFrame(columns=list(types)), given)
    assert cmap.time_col and cmap.target_col
    report = CleaningReport()
    report.facts["input kind"] = "order lines"
    report.facts["columns"] = cmap.to_dict()
    steps.done("columns", ", ".join(f"{k}={v}" for k, v in cmap.to_dict().items() if v))

    ids = [f"NULLIF({_text(c)}, '')" for c in cmap.id_cols]
    missing_id = " OR ".join(f"{e} IS NULL" for e in ids)
    uid = ids[0] if len(ids) == 1 else f"concat_ws({_literal(ID_SEPARATOR)}, {', '.join(ids)})"
    ts = _date(con, src, cmap.time_col, types[cmap.time_col], steps.say)
    qty = _number(cmap.target_col, types[cmap.target_col])
    hourly = calendar.freq == "h"
    day = "date_trunc('hour', ts)" if hourly else "CAST(CAST(ts AS DATE) AS TIMESTAMP)"
    parsed = [
        f"CASE WHEN {missing_id} THEN NULL ELSE {uid} END AS uid",
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
        truthy = f"lower({_text(cmap.promo_col)}) IN ({', '.join(_literal(t) for t in _TRUTHY)})"
        parsed.append(
            f"least(greatest(coalesce({_number(cmap.promo_col, types[cmap.promo_col])}, "
            f"CASE WHEN {truthy} THEN 1.0 ELSE 0.0 END), 0), 1) AS promo"
        )
    if cmap.order_col:
        parsed.append(f"{_text(cmap.order_col)} AS ord")
    levels = list(cmap.attributes.items())
    parsed += [f"{_text(col)} AS attr_{k}" for k, (_, col) in enumerate(levels)]
    # one row per distinct raw line and how often it occurs: exact duplicates in one pass
    con.execute(
        f"CREATE TABLE lines AS SELECT {', '.join(parsed)}, __copies FROM "
        f"(SELECT *, count(*) AS __copies FROM ({src}) GROUP BY ALL)"
    )
    total, distinct = _one(con, "SELECT sum(__copies), count(*) FROM lines")
    if not total:
        raise InputError("The input has no rows.")
    report.rows_in = int(total)
    steps.done("read and de-duplicated", f"{int(total):,} order lines, {distinct:,} distinct")

    _parse_rules(con, cmap, config, report, src, {"ts": ts, "qty": qty})
    steps.done("parsed", "ids, dates and quantities")
    _order_rules(
        con,
        config,
        report,
        has_order=bool(cmap.order_col),
        has_price=bool(cmap.price_col),
        day=day,
    )
    days = con.execute(
        "SELECT day, bool_or(qty > 0) AS sold, count(*) AS n FROM clean GROUP BY day"
    ).df()
    steps.done("cleaned", f"{int(days['n'].sum()):,} order lines kept")
    if days.empty or not days["sold"].any():
        raise InputError("No sales are left after cleaning; see the cleaning report for why.")
    days["day"] = pd.to_datetime(days["day"]).astype("datetime64[ns]")
    moved_day = days["day"]
    if calendar.is_daily and config.trading_days == "detect":
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
                "the few sales dated on a non-trading weekday are counted on the next trading day",
            )
    report.facts["frequency"] = calendar.describe()
    con.register("day_map", pd.DataFrame({"day": days["day"], "ds": calendar.floor(moved_day)}))
    con.execute("CREATE TABLE periods AS SELECT * FROM day_map")
    con.unregister("day_map")

    # two plain aggregations (by order, then by period) are cheaper than count(DISTINCT)
    by_order = ", ord" if cmap.order_col else ""
    inner = ["sum(qty) AS qty"]
    outer = ["greatest(sum(qty), 0) AS y"]
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
    if cmap.promo_col:
        inner.append("max(promo) AS promo")
        outer.append("max(promo) AS promo")
    if cmap.order_col:
        outer.append("CAST(count(ord) AS DOUBLE) AS orders")
    con.execute(
        f"CREATE TABLE agg AS SELECT pid, ds, {', '.join(outer)} FROM ("
        f"SELECT pid, p.ds{by_order}, {', '.join(inner)} FROM clean JOIN periods p USING (day) "
        f"GROUP BY pid, p.ds{by_order}) GROUP BY pid, ds"
    )
    steps.done("aggregated", f"{_one(con, 'SELECT count(*) FROM agg')[0]:,} product-periods")

    if not calendar.is_daily:
        last_day = days["day"].max().normalize()
        last_period = pd.Timestamp(_one(con, "SELECT max(ds) FROM agg")[0])
        if last_day < calendar.period_end(last_period):
            partial = _one(con, "SELECT count(*) FROM agg WHERE ds = $d", {"d": last_period})[0]
            con.execute("DELETE FROM agg WHERE ds = $d", {"d": last_period})
            report.add(
                "partial last period",
                "dropped",
                int(partial),
                f"the data ends on {last_day:%Y-%m-%d}, inside the period labelled "
                f"{last_period:%Y-%m-%d}; a partial period would look like a drop in demand",
            )
    value_cols = [c for c in ("revenue", "price", "promo", "orders") if _has(con, "agg", c)]
    _fill_and_trim(con, calendar, report, value_cols)
    steps.done("filled", f"{_one(con, 'SELECT count(*) FROM filled')[0]:,} panel rows")
    final = _treat_outliers(con, config, report, value_cols)
    tmp = output.with_name(f".{output.name}.tmp")
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        con.execute(
            f"COPY (SELECT * EXCLUDE (pid) FROM ({final}) ORDER BY pid, ds) "
            f"TO {_literal(str(tmp))} (FORMAT parquet, COMPRESSION zstd)"
        )
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    steps.done("written", str(output))

    report.series_notes = _series_notes(con, calendar)
    static = _static(con, levels, report)
    id_frame = _ids(con, cmap)
    n_rows, n_series, first, last = _one(
        con, "SELECT count(*), count(DISTINCT pid), min(ds), max(ds) FROM filled"
    )
    report.rows_out = int(n_rows)
    report.facts["series"] = int(n_series)
    report.facts["periods"] = f"{pd.Timestamp(first):%Y-%m-%d} .. {pd.Timestamp(last):%Y-%m-%d}"
    steps.done("summarised", f"{int(n_series):,} series")
    return OutOfCoreResult(
        output,
        report,
        calendar,
        cmap,
        static,
        id_frame,
        int(n_series),
        int(n_rows),
        steps.timings,
    )


def _has(con: Any, table: str, column: str) -> bool:
    return column in [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


def _parse_rules(
    con: Any,
    cmap: ColumnMap,
    config: CleaningConfig,
    report: CleaningReport,
    src: str,
    expressions: dict[str, str],
) -> None:
    """Unreadable rows, counted as prepare_sales counts them; too many refuse the input."""
    (
        missing_id,
        bad_time,
        bad_qty,
        empty,
        has_time,
        has_qty,
        all_bad_time,
        all_bad_qty,
    ) = _one(
        con,
        """
        SELECT
            coalesce(sum(__copies) FILTER (WHERE uid IS NULL), 0),
            coalesce(sum(__copies) FILTER (WHERE uid IS NOT NULL AND ts IS NULL AND has_time), 0),
            coalesce(sum(__copies) FILTER (WHERE uid IS NOT NULL AND ts IS NOT NULL
                                           AND qty IS NULL AND has_qty), 0),
            coalesce(sum(__copies) FILTER (WHERE uid IS NOT NULL AND (ts IS NULL OR qty IS NULL)
                                           AND NOT (ts IS NULL AND has_time)
                                           AND NOT (qty IS NULL AND has_qty)), 0),
            coalesce(sum(__copies) FILTER (WHERE has_time), 0),
            coalesce(sum(__copies) FILTER (WHERE has_qty), 0),
            coalesce(sum(__copies) FILTER (WHERE ts IS NULL AND has_time), 0),
            coalesce(sum(__copies) FILTER (WHERE qty IS NULL AND has_qty), 0)
        FROM lines
        """,
    )
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
        if n_given == 0:
            raise InputError(f"The column {col!r} ({what}) is empty. {fix}")
        if n_bad / n_given > config.max_bad_share:
            quoted = _quote(col)
            shown = [
                r[0]
                for r in con.execute(
                    f"SELECT DISTINCT CAST({quoted} AS VARCHAR) FROM ({src}) "
                    f"WHERE {quoted} IS NOT NULL AND ({expr}) IS NULL LIMIT 3"
                ).fetchall()
            ]
            raise InputError(
                f"The column {col!r} ({what}) has {int(n_bad):,} value(s) that cannot be read as "
                f"{'dates' if what == 'dates' else 'numbers'}, e.g. {format_examples(shown)}. "
                f"{fix}"
            )
    for name, rows, reason in (
        ("missing product id", missing_id, "no product id, so the row cannot be attributed"),
        ("unreadable date", bad_time, "the date could not be parsed"),
        ("unreadable quantity", bad_qty, "the quantity is not a number"),
        ("empty date or quantity", empty, "the date or quantity is empty"),
    ):
        report.add(name, "dropped", int(rows), reason)


def _order_rules(
    con: Any,
    config: CleaningConfig,
    report: CleaningReport,
    *,
    has_order: bool,
    has_price: bool,
    day: str,
) -> None:
    """Duplicates, non-products, cancellations, zero quantities and prices, as in _clean_orders.

    ``clean``, the lines kept with their period's ``day`` (SQL over ``ts``), is a view: it is
    read twice (days, then the aggregation), which costs less than writing every line again."""
    params = {
        "codes": sorted({c.upper() for c in config.non_product_codes}),
        "prefixes": [p.upper() for p in config.non_product_prefixes],
        "cancel": config.cancel_prefix.upper(),
    }
    # product codes are few: flag them once, not on every order line; from here on products
    # are keyed by pid, an integer in the order of their ids, which hashes, joins and sorts
    # faster than the text (sorting by pid is sorting by id)
    con.execute(
        "CREATE TABLE products AS SELECT uid, row_number() OVER (ORDER BY uid) AS pid, "
        "list_contains($codes::VARCHAR[], upper(uid)) "
        "OR len(list_filter($prefixes::VARCHAR[], lambda p: starts_with(upper(uid), p))) > 0 "
        "AS non_product FROM (SELECT DISTINCT uid FROM lines WHERE uid IS NOT NULL)",
        {k: v for k, v in params.items() if k != "cancel"},
    )
    cancel_by_order = (
        f"coalesce(starts_with(upper(ord), {_literal(str(params['cancel']))}), false)"
        if has_order and config.cancel_prefix
        else "false"
    )
    con.execute(
        f"""
        CREATE VIEW flagged AS SELECT lines.*, pid, non_product,
            qty < 0 OR {cancel_by_order} AS cancelled
        FROM lines JOIN products USING (uid)
        WHERE ts IS NOT NULL AND qty IS NOT NULL
        """
    )
    net = config.returns == "net"
    signed = "CASE WHEN cancelled THEN -abs(qty) ELSE qty END" if net else "qty"
    price_rule = f"coalesce(price <= 0 AND {signed} > 0, false)" if has_price else "false"
    dup, dup_units, non_product, np_units, cancelled, c_units, zero, bad_price, bp_units = _one(
        con,
        f"""
        SELECT
            coalesce(sum(__copies - 1), 0),
            coalesce(sum((__copies - 1) * qty), 0),
            count(*) FILTER (WHERE non_product),
            coalesce(sum(qty) FILTER (WHERE non_product), 0),
            count(*) FILTER (WHERE NOT non_product AND cancelled),
            coalesce(sum(abs(qty)) FILTER (WHERE NOT non_product AND cancelled), 0),
            count(*) FILTER (WHERE NOT non_product AND {"" if net else "NOT cancelled AND"}
                             {signed} = 0),
            count(*) FILTER (WHERE NOT non_product AND {"" if net else "NOT cancelled AND"}
                             {signed} <> 0 AND {price_rule}),
            coalesce(sum({signed}) FILTER (WHERE NOT non_product
                             AND {"" if net else "NOT cancelled AND"} {signed} <> 0
                             AND {price_rule}), 0)
        FROM flagged
        """,
    )
    not_cancelled = "AND" if net else "AND NOT cancelled AND"
    shown = ", ".join(
        ["uid AS product", "ts AS time", "qty AS quantity"]
        + (["price"] if has_price else [])
        + (["ord AS order_id"] if has_order else [])
    )
    cancel_examples = _examples(con, "NOT non_product AND cancelled", shown) if cancelled else None
    report.add(
        "exact duplicates",
        "dropped",
        int(dup),
        "identical order lines exported twice",
        units=float(dup_units),
        examples=_examples(con, "__copies > 1", shown) if dup else None,
    )
    report.add(
        "non-product codes",
        "dropped",
        int(non_product),
        "postage, fees, manual adjustments and similar codes are not demand "
        "(list: cleaning.non_product_codes)",
        units=float(np_units),
        examples=[
            r[0]
            for r in con.execute(
                "SELECT DISTINCT uid FROM flagged WHERE non_product ORDER BY uid LIMIT 5"
            ).fetchall()
        ],
    )
    if net:
        report.add(
            "cancellations and returns",
            "netted",
            int(cancelled),
            "returns are subtracted from demand in the period they happen; periods are floored "
            "at zero (cleaning.returns = 'net')",
            units=float(c_units),
            examples=cancel_examples,
        )
    else:
        report.add(
            "cancellations and returns",
            "dropped",
            int(cancelled),
            "cancelled order lines and returns (negative quantities) are not new demand "
            "(cleaning.returns = 'drop')",
            units=float(c_units),
            examples=cancel_examples,
        )
    report.add(
        "zero quantity",
        "dropped",
        int(zero),
        "a line with no units sold",
        examples=_examples(con, f"NOT non_product {not_cancelled} {signed} = 0", shown)
        if zero
        else None,
    )
    if has_price:
        report.add(
            "zero or negative price",
            "dropped",
            int(bad_price),
            "free or negative-priced lines are samples, write-offs or adjustments, not sales",
            units=float(bp_units),
            examples=_examples(
                con, f"NOT non_product {not_cancelled} {signed} <> 0 AND {price_rule}", shown
            )
            if bad_price
            else None,
        )
    keep_cancelled = "" if net else "AND NOT cancelled"
    con.execute(
        f"""
        CREATE VIEW clean AS
        SELECT * EXCLUDE (ts, has_time, has_qty, __copies, non_product, cancelled)
            REPLACE ({signed} AS qty), {day} AS day
        FROM flagged WHERE NOT non_product {keep_cancelled} AND {signed} <> 0 AND NOT {price_rule}
        """
    )


def _fill_and_trim(
    con: Any, calendar: TradingCalendar, report: CleaningReport, value_cols: list[str]
) -> None:
    """Start each series at its first sale; fill missing periods to the panel's end with zeros."""
    con.execute(
        "CREATE TABLE starts AS SELECT pid, coalesce(min(ds) FILTER (WHERE y > 0), min(ds)) "
        "AS start FROM agg GROUP BY pid"
    )
    before = _one(con, "SELECT count(*) FROM agg JOIN starts USING (pid) WHERE ds < start")[0]
    report.add(
        "periods before the first sale",
        "dropped",
        int(before),
        "a series starts at its first sale (products that never sold keep all their rows)",
    )
    first, last = _one(con, "SELECT (SELECT min(start) FROM starts), (SELECT max(ds) FROM agg)")
    grid = calendar.range(pd.Timestamp(first), pd.Timestamp(last))
    con.register("grid_frame", pd.DataFrame({"ds": grid, "pos": np.arange(len(grid))}))
    con.execute("CREATE TABLE grid AS SELECT * FROM grid_frame")
    con.unregister("grid_frame")
    missing = _one(
        con, "SELECT count(*) FROM starts LEFT JOIN grid ON start = ds WHERE pos IS NULL"
    )
    if missing[0]:
        raise InputError("Internal calendar mismatch while filling periods; please report this.")
    fills = {
        "price": "coalesce(last_value(a.price IGNORE NULLS) OVER past, "
        "first_value(a.price IGNORE NULLS) OVER future) AS price",
        "revenue": "coalesce(a.revenue, 0) AS revenue",
        "promo": "coalesce(a.promo, 0) AS promo",
        "orders": "coalesce(a.orders, 0) AS orders",
    }
    windows = (
        " WINDOW past AS (PARTITION BY f.pid ORDER BY f.ds ROWS BETWEEN UNBOUNDED PRECEDING AND "
        "CURRENT ROW), future AS (PARTITION BY f.pid ORDER BY f.ds ROWS BETWEEN CURRENT ROW AND "
        "UNBOUNDED FOLLOWING)"
        if "price" in value_cols
        else ""
    )
    con.execute(
        f"""
        CREATE TABLE filled AS
        WITH frame AS (
            SELECT s.pid, g.ds FROM (
                SELECT pid, unnest(range(pos, {len(grid)})) AS pos
                FROM starts JOIN grid ON start = ds
            ) s JOIN grid g USING (pos)
        )
        SELECT f.pid, f.ds, coalesce(a.y, 0) AS y, a.y IS NULL AS was_filled
            {"".join(", " + fills[c] for c in value_cols)}
        FROM frame f LEFT JOIN agg a ON a.pid = f.pid AND a.ds = f.ds
        {windows}
        """
    )
    filled = _one(con, "SELECT count(*) FILTER (WHERE was_filled) FROM filled")[0]
    report.add(
        "missing periods",
        "filled",
        int(filled),
        "periods with no sales inside a series' life are explicit zero demand",
    )


def _treat_outliers(
    con: Any, config: CleaningConfig, report: CleaningReport, value_cols: list[str]
) -> str:
    """Cap or flag spikes (robust z-score of log demand per series); returns the final SELECT."""
    order = ["revenue", "price", "promo", "orders"]
    values = "".join(f", {c}" for c in order if c in value_cols)
    if config.outliers == "none":
        report.add(
            "demand spikes", "info", 0, "outlier treatment is off (cleaning.outliers = 'none')"
        )
        return f"SELECT pid, uid AS unique_id, ds, y{values} FROM filled JOIN products USING (pid)"
    con.execute(
        f"""
        CREATE TABLE bounds AS
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
    spike = "coalesce(f.y > 0 AND f.y > b.bound, false)"
    if config.outliers == "cap":
        report.add(
            "demand spikes",
            "capped",
            int(spikes),
            f"a period's demand above exp(median + {config.outlier_threshold:g}·MAD) of the "
            "product's log selling-period demand is capped at that bound",
            units=float(excess),
            examples=examples,
        )
        y = f"CASE WHEN {spike} THEN floor(b.bound) ELSE f.y END AS y"
    else:
        report.add(
            "demand spikes",
            "flagged",
            int(spikes),
            "spikes are marked in the `outlier` column and left as they are",
            units=float(excess),
            examples=examples,
        )
        y = "f.y"
    return (
        f"SELECT f.pid, u.uid AS unique_id, f.ds, {y}{values.replace(', ', ', f.')}, "
        f"{spike} AS outlier FROM filled f JOIN products u USING (pid) "
        "LEFT JOIN bounds b USING (pid)"
    )


def _series_notes(con: Any, calendar: TradingCalendar) -> pd.DataFrame:
    """Never sold, short and dead series, as prepare_sales notes them."""
    season = calendar.season_length
    short_len = 2 * season if season > 1 else 8
    dead_after = {"W": 13, "M": 6}.get(calendar.freq[0], max(8 * season, 8))
    n_grid = _one(con, "SELECT count(*) FROM grid")[0]
    per = con.execute(
        f"""
        SELECT any_value(uid) AS uid, count(*) AS n, sum(y) AS total,
               coalesce({n_grid} - 1 - max(pos) FILTER (WHERE y > 0), {n_grid}) AS since
        FROM filled JOIN grid USING (ds) JOIN products USING (pid) GROUP BY pid ORDER BY pid
        """
    ).df()
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


def _static(con: Any, levels: list[tuple[str, str]], report: CleaningReport) -> pd.DataFrame:
    """Attributes constant within products (category, brand, store) for hierarchy levels."""
    if not levels:
        return con.execute(
            "SELECT uid AS unique_id FROM products JOIN starts USING (pid) ORDER BY pid"
        ).df()
    parts = ", ".join(
        f"count(DISTINCT attr_{k}) AS n_{k}, min(attr_{k}) AS v_{k}" for k in range(len(levels))
    )
    per = con.execute(
        f"SELECT uid AS unique_id, {parts} FROM clean WHERE pid IN (SELECT pid FROM starts) "
        "GROUP BY uid ORDER BY uid"
    ).df()
    static = per[["unique_id"]].copy()
    for k, (level, _) in enumerate(levels):
        if (per[f"n_{k}"] > 1).mean() > 0.05:
            report.facts[f"attribute {level}"] = "varies within products; not a hierarchy level"
            continue
        static[level] = per[f"v_{k}"].astype("string")
    return static.reset_index(drop=True)


def _ids(con: Any, cmap: ColumnMap) -> pd.DataFrame:
    """unique_id and the original id columns, for output under the input's names."""
    names = [f"id_{k}" for k in range(len(cmap.id_cols))] if len(cmap.id_cols) > 1 else ["uid"]
    parts = ", ".join(f"min({n}) AS {_quote(c)}" for n, c in zip(names, cmap.id_cols, strict=True))
    return con.execute(
        f"SELECT uid AS unique_id, {parts} FROM lines WHERE uid IN "
        "(SELECT uid FROM products JOIN starts USING (pid)) GROUP BY uid ORDER BY uid"
    ).df()
