"""Load the M5 (Walmart, Kaggle 2020) competition data from its official files.

M5 is not shipped with trendcast (it is under the competition's terms); :func:`load_m5` reads
the files a user downloaded, unmodified, from one folder:

- ``sales_train_validation.csv`` (d_1 .. d_1913) or ``sales_train_evaluation.csv``
  (d_1 .. d_1941): one row per item x store, ``id, item_id, dept_id, cat_id,
  store_id, state_id, d_1 .. d_N``;
- ``sales_test_validation.csv`` / ``sales_test_evaluation.csv`` (optional): the
  same layout with only the later ``d_`` columns;
- ``calendar.csv``: ``date, wm_yr_wk, d, event_name_1, event_type_1, snap_CA ...``;
- ``sell_prices.csv``: ``store_id, item_id, wm_yr_wk, sell_price`` (weekly).

The wide table becomes trendcast's long panel (``unique_id, ds, y`` plus covariates)
by array indexing on the series x day matrix (the vectorised equivalent of a melt and
merges on ``d`` and on ``(store_id, item_id, wm_yr_wk)``): a full-size set (30,490
series x 1,941 days) loads in about 15-30 s on two cores, most of it CSV parsing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trendcast.exceptions import ConfigError, InputError, format_examples

__all__ = ["LEVELS", "M5Data", "load_m5"]

SALES_VALIDATION = "sales_train_validation.csv"
SALES_EVALUATION = "sales_train_evaluation.csv"
TEST_VALIDATION = "sales_test_validation.csv"
TEST_EVALUATION = "sales_test_evaluation.csv"
CALENDAR = "calendar.csv"
PRICES = "sell_prices.csv"

ID_COLUMNS = ("id", "item_id", "dept_id", "cat_id", "store_id", "state_id")
STATIC_COLUMNS = ("item_id", "dept_id", "cat_id", "store_id", "state_id")
CALENDAR_COLUMNS = ("date", "wm_yr_wk", "d", "event_name_1", "event_type_1")
PRICE_COLUMNS = ("store_id", "item_id", "wm_yr_wk", "sell_price")
EVENT_COLUMNS = ("event_name_1", "event_type_1")

LEVELS: dict[str, tuple[str, ...]] = {
    "item_store": ("item_id", "store_id"),
    "item_state": ("item_id", "state_id"),
    "item": ("item_id",),
    "store_dept": ("store_id", "dept_id"),
    "store_cat": ("store_id", "cat_id"),
    "state_dept": ("state_id", "dept_id"),
    "state_cat": ("state_id", "cat_id"),
    "store": ("store_id",),
    "state": ("state_id",),
    "dept": ("dept_id",),
    "cat": ("cat_id",),
    "total": (),
}
"""The M5 hierarchy: level name -> the columns a series at that level is keyed by."""

# A key fixes the levels above it in the hierarchy (a store lies in one state...).
_IMPLIED = {"item_id": ("dept_id", "cat_id"), "store_id": ("state_id",), "dept_id": ("cat_id",)}
_DAY = re.compile(r"d_(\d+)")
_FIX = "Point --m5-dir at the folder with the official files."


@dataclass(frozen=True)
class M5Data:
    """The M5 data in trendcast's long format.

    Attributes
    ----------
    panel
        One row per series and day from the series' first sale: ``unique_id, ds, y``,
        ``price`` (where meaningful for the level), ``event_name_1, event_type_1``
        (categorical, NaN on days without an event) and ``snap`` (int8, 0/1, where
        the series lies in one state).
    static_df
        One row per series: ``unique_id`` and the hierarchy columns fixed at its level.
    calendar
        ``calendar.csv`` with ``date`` parsed into ``ds`` (first column), covering
        every calendar day, including those after the sales (for future covariates).
    """

    panel: pd.DataFrame
    static_df: pd.DataFrame
    calendar: pd.DataFrame


def load_m5(
    directory: str | os.PathLike[str],
    *,
    sales_file: str | os.PathLike[str] | None = None,
    include_test: bool = False,
    level: str = "item_store",
) -> M5Data:
    """Read the official M5 files from a folder into a long panel.

    Parameters
    ----------
    directory
        Folder holding the official, unmodified M5 CSV files.
    sales_file
        Wide sales file, as a name inside ``directory`` or a path. By default
        ``sales_train_evaluation.csv`` when present, else ``sales_train_validation.csv``.
    include_test
        Append the days of the matching test file (``sales_test_validation.csv``
        for the validation file, ``sales_test_evaluation.csv`` for the evaluation
        file); days the sales file already has are taken from the sales file.
    level
        Level of the M5 hierarchy to return (see :data:`LEVELS`). ``"item_store"``
        gives the 30,490 original series with ``unique_id`` = the M5 ``id``; higher
        levels sum ``y`` over their item x store series and are named by their keys
        joined with ``_`` (``"CA_1"``, ``"FOODS_1_001_CA"``), or ``"Total"``.

    Returns
    -------
    M5Data
        ``panel``, ``static_df`` and ``calendar``.

    Raises
    ------
    InputError
        A file or column is missing, a file cannot be parsed, ids repeat, sales have
        gaps or empty cells, or the calendar lacks some sales days.
    ConfigError
        ``level`` is unknown.

    Notes
    -----
    - Each series starts at its first nonzero sale: M5 series carry zeros from
      d_1 until the item was launched in the store, which are not demand. Totals of
      ``y`` are unchanged. A series that never sells is kept whole, from d_1.
    - ``y`` and ``price`` are float64, ``unique_id`` str, the event columns
      categorical (categories from the whole calendar) and ``snap`` int8: about 35
      bytes a row, so the full bottom level (about 46 million rows after trimming)
      takes about 1.6 GB, and about 4 GB at peak while loading.
    - ``price`` is the weekly ``sell_price`` of the series' store and item, NaN for
      weeks without one (before a launch, or when the price file lacks the
      store). At ``item_state`` and ``item`` level it is the plain mean over the
      stores that have a price; other levels have no ``price`` column.
    - ``snap`` is the calendar's ``snap_<state>`` flag for the series' own state;
      levels spanning states (``item``, ``dept``, ``cat``, ``total``) have none.

    Examples
    --------
    >>> m5 = load_m5("~/data/m5", include_test=True)  # doctest: +SKIP
    >>> m5.panel.columns.tolist()  # doctest: +SKIP
    ['unique_id', 'ds', 'y', 'price', 'event_name_1', 'event_type_1', 'snap']
    """
    if level not in LEVELS:
        raise ConfigError(f"Unknown M5 level {level!r}. Use one of {list(LEVELS)}.")
    folder = Path(directory).expanduser()
    if not folder.is_dir():
        raise InputError(f"M5 folder {str(folder)!r} not found. {_FIX}")

    sales_path = _sales_path(folder, sales_file)
    calendar = _read_calendar(_require(folder, CALENDAR))
    sales = _read_sales(sales_path)
    if include_test:
        test_path = _test_path(folder, sales_path)
        sales = _append_test(sales, _read_sales(test_path), test_path.name)
    sales = sales.sorted_by_id()
    snap_columns = tuple(f"snap_{state}" for state in sales.series["state_id"].unique())
    _check_columns(calendar.columns, snap_columns, CALENDAR)
    _check_consecutive(sales.days, sales_path.name)
    day_rows = _calendar_rows(calendar, sales.days, sales_path.name)

    weeks = calendar["wm_yr_wk"].to_numpy()[day_rows]
    store_prices = _price_matrix(_read_prices(_require(folder, PRICES)), sales.series, weeks)
    series, values, prices = _aggregate(sales.series, sales.values, store_prices, level)
    states = series["state_id"] if "state_id" in series else None
    panel = _long_panel(series["unique_id"], values, prices, states, calendar, day_rows)
    return M5Data(panel=panel, static_df=series, calendar=calendar)


@dataclass(frozen=True)
class _WideSales:
    """A wide sales file: series table, sales matrix (series x day) and day numbers."""

    series: pd.DataFrame
    values: np.ndarray
    days: np.ndarray

    def sorted_by_id(self) -> _WideSales:
        order = np.argsort(self.series["id"].to_numpy(), kind="stable")
        series = self.series.iloc[order].reset_index(drop=True)
        return _WideSales(series=series, values=self.values[order], days=self.days)


def _require(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise InputError(f"M5 file {name!r} not found in {folder}. {_FIX}")
    return path


def _sales_path(folder: Path, sales_file: str | os.PathLike[str] | None) -> Path:
    if sales_file is not None:
        path = folder / Path(sales_file).expanduser()
        if not path.is_file():
            raise InputError(f"M5 sales file {str(path)!r} not found. Check sales_file. {_FIX}")
        return path
    for name in (SALES_EVALUATION, SALES_VALIDATION):
        if (folder / name).is_file():
            return folder / name
    raise InputError(
        f"No M5 sales file in {folder}: expected {SALES_EVALUATION!r} or {SALES_VALIDATION!r}. "
        f"{_FIX}"
    )


def _test_path(folder: Path, sales_path: Path) -> Path:
    name = TEST_EVALUATION if "evaluation" in sales_path.name else TEST_VALIDATION
    path = folder / name
    if not path.is_file():
        raise InputError(
            f"M5 file {name!r} not found in {folder}, but include_test asks for it. "
            "Add the file to the folder or load without include_test."
        )
    return path


def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **kwargs)
    except ValueError as exc:  # pandas' parser errors and pyarrow's ArrowInvalid
        raise InputError(
            f"Cannot read M5 file {path.name!r}: {exc}. Use the official, unmodified file."
        ) from exc


def _check_columns(columns: pd.Index, required: tuple[str, ...], name: str) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise InputError(
            f"Columns missing from M5 file {name!r}: {missing}. Use the official, unmodified file."
        )


def _read_calendar(path: Path) -> pd.DataFrame:
    calendar = _read_csv(path)
    _check_columns(calendar.columns, CALENDAR_COLUMNS, path.name)
    repeated = calendar.loc[calendar["d"].duplicated(), "d"]
    if len(repeated):
        raise InputError(
            f"M5 file {path.name!r} repeats days {format_examples(repeated)}. "
            "Use the official, unmodified file."
        )
    ds = pd.to_datetime(calendar["date"], format="%Y-%m-%d", errors="coerce")
    if ds.isna().any():
        raise InputError(
            f"M5 file {path.name!r} has dates that are not YYYY-MM-DD: "
            f"{format_examples(calendar.loc[ds.isna(), 'date'])}. "
            "Use the official, unmodified file."
        )
    flags = ["wm_yr_wk", *(c for c in calendar.columns if c.startswith("snap_"))]
    not_integer = [c for c in flags if not pd.api.types.is_integer_dtype(calendar[c])]
    not_flag = [c for c in flags[1:] if c not in not_integer and not calendar[c].isin([0, 1]).all()]
    if not_integer or not_flag:
        raise InputError(
            f"M5 file {path.name!r} has non-integer or non-0/1 values in {not_integer + not_flag}. "
            "Use the official, unmodified file."
        )
    return pd.concat([ds.rename("ds"), calendar.drop(columns="date")], axis=1)


def _read_sales(path: Path) -> _WideSales:
    header = _read_csv(path, nrows=0).columns
    _check_columns(header, ID_COLUMNS, path.name)
    day_columns = {int(m.group(1)): c for c in header if (m := _DAY.fullmatch(c))}
    if not day_columns:
        raise InputError(
            f"M5 sales file {path.name!r} has no day columns (d_1, d_2, ...). "
            "Use the official wide sales file."
        )
    days = np.sort(np.fromiter(day_columns, dtype=np.int64))
    ordered = [day_columns[d] for d in days]
    # Unit sales are integers; the C parser reads them faster than pyarrow for ~2,000 columns.
    dtype: dict[str, str] = dict.fromkeys(ID_COLUMNS, "object")
    dtype.update(dict.fromkeys(ordered, "int32"))
    try:
        frame = pd.read_csv(path, usecols=[*ID_COLUMNS, *ordered], dtype=dtype)
    except ValueError:
        raw = _read_csv(path, usecols=ordered, dtype=str, keep_default_na=False)
        bad = [c for c in ordered if not raw[c].str.fullmatch(r"\d+").all()]
        raise InputError(
            f"M5 sales file {path.name!r} has empty or non-integer unit sales in columns "
            f"{format_examples(bad)}. Use the official, unmodified file."
        ) from None
    for key, columns in (("id", ["id"]), ("item and store", ["item_id", "store_id"])):
        repeated = frame.duplicated(columns)
        if repeated.any():
            raise InputError(
                f"M5 sales file {path.name!r} repeats the {key} of "
                f"{format_examples(frame.loc[repeated, 'id'])}. Each series must appear once."
            )
    values = frame[ordered].to_numpy(dtype=np.float64)
    return _WideSales(series=frame[list(ID_COLUMNS)], values=values, days=days)


def _append_test(sales: _WideSales, test: _WideSales, name: str) -> _WideSales:
    """Add the test file's later days; days both files hold come from the sales file."""
    missing = sales.series.loc[~sales.series["id"].isin(test.series["id"]), "id"]
    extra = test.series.loc[~test.series["id"].isin(sales.series["id"]), "id"]
    if len(missing) or len(extra):
        raise InputError(
            f"M5 file {name!r} does not hold the same series as the sales file: missing "
            f"{format_examples(missing)}, extra {format_examples(extra)}. Use the test file "
            "that belongs to the sales file."
        )
    rows = pd.Index(test.series["id"]).get_indexer(sales.series["id"])
    later = ~np.isin(test.days, sales.days)
    days = np.concatenate([sales.days, test.days[later]])
    values = np.hstack([sales.values, test.values[rows][:, later]])
    order = np.argsort(days, kind="stable")
    return _WideSales(series=sales.series, values=values[:, order], days=days[order])


def _check_consecutive(days: np.ndarray, name: str) -> None:
    gaps = days[1:][np.diff(days) != 1]
    if len(gaps):
        raise InputError(
            f"M5 sales in {name!r} skip days before {format_examples(f'd_{d}' for d in gaps)}. "
            "Use the official file (and its own test file with include_test)."
        )


def _calendar_rows(calendar: pd.DataFrame, days: np.ndarray, name: str) -> np.ndarray:
    """Row of the calendar for each sales day."""
    rows = pd.Index(calendar["d"]).get_indexer([f"d_{d}" for d in days])
    if (rows < 0).any():
        absent = [f"d_{d}" for d in days[rows < 0]]
        raise InputError(
            f"M5 file {CALENDAR!r} lacks days {format_examples(absent)} that {name!r} has. "
            "Use the official calendar (d_1 .. d_1969)."
        )
    return rows


def _read_prices(path: Path) -> pd.DataFrame:
    header = _read_csv(path, nrows=0).columns
    _check_columns(header, PRICE_COLUMNS, path.name)
    dtype = {"store_id": "category", "item_id": "category", "wm_yr_wk": "int64"}
    dtype["sell_price"] = "float64"
    return _read_csv(path, usecols=list(PRICE_COLUMNS), dtype=dtype, engine="pyarrow")


def _positions(column: pd.Series, index: pd.Index) -> np.ndarray:
    """Position of each value in ``index`` (-1 when absent), via the categories when there are."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        lookup = np.append(index.get_indexer(column.cat.categories), -1)
        return lookup[column.cat.codes.to_numpy()]  # code -1 (missing) picks the appended -1
    return index.get_indexer(pd.Index(column))


def _price_matrix(prices: pd.DataFrame, series: pd.DataFrame, weeks: np.ndarray) -> np.ndarray:
    """Price per series and sales day (NaN where the price file has none)."""
    stores = pd.Index(series["store_id"].unique())
    items = pd.Index(series["item_id"].unique())
    week_index = pd.Index(np.unique(weeks))
    series_at = np.full((len(stores), len(items)), -1, dtype=np.int64)
    series_at[stores.get_indexer(series["store_id"]), items.get_indexer(series["item_id"])] = (
        np.arange(len(series))
    )
    store_pos = _positions(prices["store_id"], stores)
    item_pos = _positions(prices["item_id"], items)
    week_pos = week_index.get_indexer(prices["wm_yr_wk"])
    # Prices of other items, stores or weeks are simply not needed.
    used = np.flatnonzero((store_pos >= 0) & (item_pos >= 0) & (week_pos >= 0))
    rows = series_at[store_pos[used], item_pos[used]]
    used, rows = used[rows >= 0], rows[rows >= 0]
    cols = week_pos[used]
    cells = rows * len(week_index) + cols
    if np.bincount(cells).max(initial=0) > 1:
        repeated = prices.iloc[used[pd.Index(cells).duplicated()]]
        keys = repeated[["store_id", "item_id", "wm_yr_wk"]].itertuples(index=False)
        raise InputError(
            f"M5 file {PRICES!r} has more than one price for (store, item, week) "
            f"{format_examples(map(tuple, keys))}. Use the official, unmodified file."
        )
    weekly = np.full((len(series), len(week_index)), np.nan)
    weekly[rows, cols] = prices["sell_price"].to_numpy()[used]
    return np.take(weekly, week_index.get_indexer(weeks), axis=1)


def _aggregate(
    series: pd.DataFrame, values: np.ndarray, prices: np.ndarray, level: str
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """Series table (with ``unique_id``), sales and prices (or None) at the requested level."""
    if level == "item_store":
        return series.rename(columns={"id": "unique_id"}), values, prices

    keys = list(LEVELS[level])
    static = [c for c in STATIC_COLUMNS if c in keys or any(c in _IMPLIED.get(k, ()) for k in keys)]
    if keys:
        group = series.groupby(keys, sort=True).ngroup().to_numpy()
        table = series[static].drop_duplicates(keys).sort_values(keys, ignore_index=True)
        unique_id = table[keys].astype(str).agg("_".join, axis=1)
    else:
        group = np.zeros(len(series), dtype=np.int64)
        table = pd.DataFrame(index=pd.RangeIndex(1))
        unique_id = pd.Series(["Total"])
    table.insert(0, "unique_id", unique_id)
    summed = pd.DataFrame(values).groupby(group).sum().to_numpy()
    mean_price = None
    if "item_id" in keys:
        mean_price = pd.DataFrame(prices).groupby(group).mean().to_numpy()
    order = np.argsort(table["unique_id"].to_numpy(), kind="stable")
    table = table.iloc[order].reset_index(drop=True)
    return table, summed[order], None if mean_price is None else mean_price[order]


def _long_panel(
    unique_id: pd.Series,
    values: np.ndarray,
    prices: np.ndarray | None,
    states: pd.Series | None,
    calendar: pd.DataFrame,
    day_rows: np.ndarray,
) -> pd.DataFrame:
    """Wide series x day matrices -> long rows from each series' first nonzero sale."""
    n_days = values.shape[1]
    first = np.argmax(values != 0, axis=1)  # 0 for a series that never sells: kept whole
    # Boolean selection walks the matrices in row-major order: series by series, day by day.
    keep = np.arange(n_days) >= first[:, None]

    def per_day(column: np.ndarray) -> np.ndarray:
        return np.broadcast_to(column[day_rows], values.shape)[keep]

    columns: dict[str, np.ndarray | pd.Categorical] = {
        "unique_id": np.repeat(unique_id.to_numpy(dtype=object), n_days - first),
        "ds": per_day(calendar["ds"].to_numpy()),
        "y": values[keep],
    }
    if prices is not None:
        columns["price"] = prices[keep]
    for name in EVENT_COLUMNS:
        events = pd.Categorical(calendar[name])
        columns[name] = pd.Categorical.from_codes(per_day(events.codes), events.categories)
    if states is not None:
        state_names = pd.Index(states.unique())
        flags = calendar[[f"snap_{s}" for s in state_names]].to_numpy(dtype=np.int8).T
        by_series = np.take(flags[:, day_rows], state_names.get_indexer(states), axis=0)
        columns["snap"] = by_series[keep]
    # The arrays are fresh; copy=False spares a consolidating copy of ~1 GB on the full set.
    return pd.DataFrame(columns, copy=False)
