"""Reading input tables: CSV (any delimiter, UTF-8 or GBK), Parquet, or a DuckDB table.

Everything is read as text first, so product codes keep their leading zeros and
messy numbers can be parsed and reported by the cleaning step rather than
failing deep inside pandas.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pandas as pd

from trendcast.exceptions import InputError

__all__ = ["read_table", "split_duckdb_target"]

_ENCODINGS = ("utf-8-sig", "gb18030", "latin-1")


def split_duckdb_target(path: str) -> tuple[str, str | None]:
    """Split ``db.duckdb::table`` into the database path and the table name."""
    if "::" in path:
        db, table = path.rsplit("::", 1)
        return db, table
    return path, None


def _open_text_head(path: Path, n: int = 65536) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return fh.read(n)


def _sniff(head: bytes) -> tuple[str, str]:
    # cut a possibly broken last line before decoding: a multi-byte character split at the
    # end of the head would otherwise fail UTF-8 and mislabel the file as another encoding
    head = head[: head.rfind(b"\n")] if b"\n" in head else head
    for encoding in _ENCODINGS:
        try:
            text = head.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # latin-1 never fails, kept for the type checker
        encoding, text = "latin-1", head.decode("latin-1")
    try:
        delimiter = csv.Sniffer().sniff(text, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    return encoding, delimiter


def _read_csv(path: Path) -> pd.DataFrame:
    head = _open_text_head(path)
    if not head.strip():
        raise InputError(f"The input file {path} is empty. Export the table again with its rows.")
    encoding, delimiter = _sniff(head)
    try:
        return pd.read_csv(
            path,
            sep=delimiter,
            dtype=str,
            encoding=encoding,
            keep_default_na=False,
            na_values=[""],
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError:
        raise InputError(f"The input file {path} has no columns.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(
            f"Cannot parse {path} as CSV ({str(exc).splitlines()[0]}). Check that it is a "
            "delimited text file with one header row."
        ) from None


def _read_duckdb(db: str, table: str | None) -> pd.DataFrame:
    import duckdb

    try:
        con = duckdb.connect(db, read_only=True)
    except duckdb.Error as exc:
        raise InputError(f"Cannot open the DuckDB database {db}: {exc}") from None
    try:
        tables = [
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        ]
        if table is None:
            if len(tables) != 1:
                raise InputError(
                    f"The DuckDB database {db} holds {len(tables)} tables {tables}; name one as "
                    f"{db}::TABLE."
                )
            table = tables[0]
        if table not in tables:
            raise InputError(f"No table {table!r} in {db}. Tables there: {tables}.")
        quoted = '"' + table.replace('"', '""') + '"'
        return con.execute(f"select * from {quoted}").df()
    finally:
        con.close()


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, Parquet or DuckDB table into a DataFrame.

    Parameters
    ----------
    path
        ``sales.csv``, ``sales.csv.gz``, ``sales.parquet``, a folder of Parquet
        files, or ``db.duckdb::table`` (the table may be left out when the
        database holds one table).
    """
    db, table = split_duckdb_target(str(path))
    p = Path(db)
    if not p.exists():
        raise InputError(f"Input file not found: {p}. Check the path given to --input.")
    suffixes = [s.lower() for s in p.suffixes]
    if p.is_dir() or ".parquet" in suffixes or ".pq" in suffixes:
        try:
            df = pd.read_parquet(p)
        except Exception as exc:  # pyarrow raises many types for bad files
            raise InputError(f"Cannot read {p} as Parquet: {exc}") from None
    elif suffixes and suffixes[-1] in (".duckdb", ".db", ".ddb"):
        df = _read_duckdb(db, table)
    elif suffixes and suffixes[-1] in (".xlsx", ".xls"):
        raise InputError(
            f"{p.name} is an Excel workbook; save the sheet as CSV (UTF-8) and pass that file."
        )
    else:
        if p.stat().st_size == 0:
            raise InputError(f"The input file {p} is empty. Export the table again with its rows.")
        df = _read_csv(p)
    if df.empty:
        raise InputError(
            f"The input {path} has a header but no rows. Export the table again with its rows."
        )
    df.columns = [str(c).strip() for c in df.columns]
    return df
