"""Which products are rising, falling, stable, new or dead: Mann-Kendall and Theil-Sen per product.

Every product's last ``window`` periods are tested at once: the panel becomes a
products x periods matrix and the Mann-Kendall statistic ``S``, its
tie-corrected variance and the Theil-Sen slope are computed with numpy across
all rows together (no per-series loop), so a thousand products of two years'
daily sales take about a second.

The default window is a quarter of a year of the calendar's periods (13 weeks;
13 weeks of trading days, i.e. 91 days, or 78 when one weekday is closed), and
at least :data:`MIN_WINDOW` periods (so monthly data looks at a year).

Labels, checked in this order:

- ``dead``: not one unit sold in the recent part of the window, its last
  quarter (``ceil(window / 4)`` periods: 4 of 13 weeks, 23 of 91 days).
- ``new``: the product's history starts inside the window (its first period
  comes after the window's first), or it has fewer than ``min_periods``
  periods in the window: too short to call a trend.
- ``rising`` / ``falling``: the two-sided Mann-Kendall p-value is below
  ``alpha`` and the signs of ``S`` and of the Theil-Sen slope agree
  (both positive / both negative).
- ``stable``: everything else.

``growth_pct`` is the change along the Theil-Sen line over the window
relative to the line's level at the start of the product's window, in percent:
``100 * slope * (t_end - t_start) / fitted_start``, with the line through the
median point (Conover's intercept, as ``scipy.stats.theilslopes`` and
``pymannkendall`` draw it). It is NaN when the fitted start is zero or below,
where a relative change has no meaning.

Examples
--------
>>> import pandas as pd
>>> from trendcast.data.calendar import TradingCalendar
>>> ds = pd.date_range("2024-01-07", periods=13, freq="W-SUN")
>>> panel = pd.DataFrame({"unique_id": "a", "ds": ds, "y": [float(10 + i) for i in range(13)]})
>>> detect_trends(panel, TradingCalendar("W"))[["unique_id", "trend", "slope", "growth_pct"]]
  unique_id   trend  slope  growth_pct
0         a  rising    1.0       120.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtr

from trendcast.data.calendar import TradingCalendar
from trendcast.data.hierarchy import aggregate_levels
from trendcast.data.prepare import PreparedData
from trendcast.exceptions import ConfigError, InputError, format_examples

__all__ = [
    "MIN_WINDOW",
    "TREND_LABELS",
    "MannKendall",
    "category_trends",
    "default_window",
    "detect_trends",
    "mann_kendall",
    "trending_products",
    "trends_output",
]

#: the labels :func:`detect_trends` gives
TREND_LABELS = ("rising", "falling", "stable", "new", "dead")
#: the shortest default window: a quarter of monthly or quarterly data is too short to test
MIN_WINDOW = 12
#: the columns of :func:`detect_trends` the CLI writes after the id columns
OUTPUT_COLUMNS = ["trend", "slope", "growth_pct", "p_value"]
# pairwise differences are built for this many (product, pair) cells at a time, ~32 MB each
_CHUNK_CELLS = 1 << 22


@dataclass(frozen=True)
class MannKendall:
    """Mann-Kendall test and Theil-Sen line for each row of a matrix.

    All arrays have one entry per row; rows with fewer than 3 observations have
    NaN statistics (``n`` and ``s`` stay counts).

    Attributes
    ----------
    n
        Observations (non-NaN values) in the row.
    s
        The Mann-Kendall statistic: concordant minus discordant pairs.
    var_s
        Variance of ``s`` under no trend, corrected for ties.
    z
        Normal score of ``s`` with the continuity correction.
    p_value
        Two-sided p-value of no trend.
    slope
        Theil-Sen slope: the median of all pairwise slopes, per column step.
    intercept
        The line's value at column 0, through the median point (Conover).
    """

    n: npt.NDArray[np.int64]
    s: npt.NDArray[np.float64]
    var_s: npt.NDArray[np.float64]
    z: npt.NDArray[np.float64]
    p_value: npt.NDArray[np.float64]
    slope: npt.NDArray[np.float64]
    intercept: npt.NDArray[np.float64]


def default_window(calendar: TradingCalendar) -> int:
    """A quarter of a year of the calendar's periods, at least :data:`MIN_WINDOW`.

    Examples
    --------
    >>> default_window(TradingCalendar("W")), default_window(TradingCalendar("D"))
    (13, 91)
    >>> default_window(TradingCalendar("D", closed_weekdays=(6,))), default_window(
    ...     TradingCalendar("MS"))
    (78, 12)
    """
    return max(calendar.periods_per_year // 4, MIN_WINDOW)


def _row_median(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Median of each row over its non-NaN entries (NaN for a row with none), without warnings."""
    counts = (~np.isnan(a)).sum(axis=1)
    out = np.full(a.shape[0], np.nan)
    filled = np.where(np.isnan(a), np.inf, a)
    # rows with the same number of values share the median's positions, so one partition serves
    for count in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == count)
        lo, hi = (count - 1) // 2, count // 2
        part = np.partition(filled[rows], [lo, hi] if lo != hi else lo, axis=1)
        out[rows] = (part[:, lo] + part[:, hi]) / 2
    return out


def _tie_term(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per row, the sum over groups of equal values of ``t (t - 1) (2 t + 5)``."""
    rows, cols = x.shape
    if x.size == 0:
        return np.zeros(rows)
    ordered = np.sort(x, axis=1)  # NaN sort last
    starts = np.ones_like(ordered, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]  # NaN != NaN: each NaN is its own group
    group = np.cumsum(starts.ravel()) - 1
    valid = ~np.isnan(ordered.ravel())
    t = np.bincount(group[valid], minlength=int(group[-1]) + 1).astype(float)
    row_of_group = np.repeat(np.arange(rows), cols)[starts.ravel()]
    terms = np.bincount(row_of_group, weights=t * (t - 1) * (2 * t + 5), minlength=rows)
    return terms.astype(float)


def mann_kendall(values: npt.ArrayLike) -> MannKendall:
    """Mann-Kendall trend test and Theil-Sen slope of every row, vectorised across rows.

    Parameters
    ----------
    values
        A matrix, one series per row and one period per column (a 1-D array is
        one series). NaN marks a period without an observation: its pairs are
        left out, and the slope keeps the true distance between the periods.

    Returns
    -------
    MannKendall
        ``S``, its tie-corrected variance ``(n(n-1)(2n+5) - sum t(t-1)(2t+5)) / 18``,
        the continuity-corrected ``z``, the two-sided p-value, the Theil-Sen slope
        and intercept, one entry per row.

    Examples
    --------
    >>> mk = mann_kendall([[1.0, 2.0, 2.0, 5.0, 4.0]])
    >>> float(mk.s[0]), round(float(mk.var_s[0]), 2), float(mk.slope[0])
    (7.0, 15.67, 0.875)
    """
    x = np.atleast_2d(np.asarray(values, dtype=float))
    rows, cols = x.shape
    n = (~np.isnan(x)).sum(axis=1)
    s = np.zeros(rows)
    slope = np.full(rows, np.nan)
    first, second = np.triu_indices(cols, 1)
    lag = (second - first).astype(float)
    chunk = max(1, _CHUNK_CELLS // max(len(lag), 1))
    for start in range(0, rows, chunk):
        block = x[start : start + chunk]
        diff = block[:, second] - block[:, first]
        s[start : start + chunk] = np.where(np.isnan(diff), 0.0, np.sign(diff)).sum(axis=1)
        slope[start : start + chunk] = _row_median(diff / lag)

    var_s = (n * (n - 1) * (2 * n + 5) - _tie_term(x)) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, (s - 1) / np.sqrt(var_s), np.where(s < 0, (s + 1) / np.sqrt(var_s), 0))
    p_value = 2 * ndtr(-np.abs(z))
    positions = np.where(np.isnan(x), np.nan, np.arange(cols, dtype=float))
    intercept = _row_median(x) - _row_median(positions) * slope

    short = n < 3
    for stat in (z, p_value, slope, intercept):
        stat[short] = np.nan
    return MannKendall(n.astype(np.int64), s, var_s, z, p_value, slope, intercept)


def _validate(panel: pd.DataFrame, window: int | None, alpha: float, min_periods: int) -> None:
    missing = [c for c in ("unique_id", "ds", "y") if c not in panel.columns]
    if missing:
        raise InputError(
            f"Columns missing from the panel: {missing}. Trends need the long panel "
            "unique_id, ds, y (see trendcast.load_sales)."
        )
    empty = [c for c in ("unique_id", "ds") if panel[c].isna().any()]
    if empty:
        raise InputError(f"The panel has empty values in {empty}; drop or fill those rows first.")
    if window is not None and window < 3:
        raise ConfigError(
            f"--window must be at least 3 periods for a trend test (got {window}); "
            "leave it out for a quarter of a year."
        )
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie between 0 and 1 (got {alpha}).")
    if min_periods < 3:
        raise ConfigError(f"min_periods must be at least 3 (got {min_periods}).")


def _window_matrix(
    panel: pd.DataFrame, calendar: TradingCalendar, window: int
) -> tuple[pd.Index, npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Products, their last ``window`` periods as a matrix (NaN = no row), and which are new.

    A product is new when its first period comes after the window's first.
    """
    ds = pd.DatetimeIndex(panel["ds"])
    grid = calendar.range(ds.min(), ds.max())
    grid = grid[-min(window, len(grid)) :]
    codes, products = pd.factorize(panel["unique_id"], sort=True)
    first = pd.Series(ds, index=panel.index).groupby(codes).min().to_numpy()
    recent = np.asarray(ds >= grid[0])
    pos = grid.get_indexer(ds[recent])
    if (pos < 0).any():
        off = ds[recent][pos < 0].strftime("%Y-%m-%d")
        raise InputError(
            f"{int((pos < 0).sum()):,} date(s) of the panel fall off the {calendar.describe()} "
            f"calendar, e.g. {format_examples(off.unique())}. Pass the calendar the panel was "
            "prepared with."
        )
    keys = pd.DataFrame({"code": codes[recent], "pos": pos})
    if keys.duplicated().any():
        dup = products[keys.loc[keys.duplicated(), "code"].unique()]
        raise InputError(
            f"The panel has several rows for the same product and period, e.g. "
            f"{format_examples(dup)}. Aggregate it first (trendcast.load_sales does)."
        )
    matrix = np.full((len(products), len(grid)), np.nan)
    matrix[codes[recent], pos] = panel["y"].to_numpy(dtype=float)[recent]
    return pd.Index(products, name="unique_id"), matrix, first > grid[0].to_datetime64()


def detect_trends(
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    window: int | None = None,
    alpha: float = 0.05,
    *,
    min_periods: int = 8,
) -> pd.DataFrame:
    """Label each product's trend over its last ``window`` periods.

    Parameters
    ----------
    panel
        Long panel ``unique_id, ds, y`` on ``calendar``'s grid, as
        :func:`trendcast.load_sales` prepares it (missing periods there are
        explicit zeros; in another panel a missing period is not observed).
    calendar
        The panel's trading calendar.
    window
        Periods to test, counted back from the panel's last period; default
        :func:`default_window`. A window longer than the history uses what exists.
    alpha
        Significance level of the two-sided Mann-Kendall test.
    min_periods
        Fewer periods than this in the window make a product ``new``.

    Returns
    -------
    pandas.DataFrame
        One row per product, sorted by ``unique_id``: ``trend`` (see the module
        docstring for the rules), ``slope`` (Theil-Sen, units per period),
        ``growth_pct``, ``p_value``, ``mann_kendall_s``, ``periods`` (observed in
        the window), ``fitted_start`` and ``fitted_end`` (the Theil-Sen line at the
        product's first and last period in the window).
    """
    _validate(panel, window, alpha, min_periods)
    columns = [
        "unique_id",
        *OUTPUT_COLUMNS,
        "mann_kendall_s",
        "periods",
        "fitted_start",
        "fitted_end",
    ]
    if panel.empty:
        return pd.DataFrame(columns=columns)
    products, x, started_inside = _window_matrix(
        panel, calendar, window or default_window(calendar)
    )
    width = x.shape[1]
    mk = mann_kendall(x)

    observed = ~np.isnan(x)
    t_start = np.where(observed.any(axis=1), observed.argmax(axis=1), np.nan)
    t_end = np.where(observed.any(axis=1), width - 1 - observed[:, ::-1].argmax(axis=1), np.nan)
    fitted_start = mk.intercept + mk.slope * t_start
    fitted_end = mk.intercept + mk.slope * t_end
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(
            fitted_start > 0, 100 * (fitted_end - fitted_start) / fitted_start, np.nan
        )

    recent = max(1, math.ceil(width / 4))
    dead = ~(x[:, -recent:] > 0).any(axis=1)
    new = started_inside | (mk.n < min_periods)
    significant = mk.p_value < alpha
    trend = np.select(
        [
            dead,
            new,
            significant & (mk.s > 0) & (mk.slope > 0),
            significant & (mk.s < 0) & (mk.slope < 0),
        ],
        ["dead", "new", "rising", "falling"],
        default="stable",
    )
    return pd.DataFrame(
        {
            "unique_id": products.to_numpy(),
            "trend": trend,
            "slope": mk.slope,
            "growth_pct": growth,
            "p_value": mk.p_value,
            "mann_kendall_s": mk.s,
            "periods": mk.n,
            "fitted_start": fitted_start,
            "fitted_end": fitted_end,
        }
    )[columns]


def trending_products(trends: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` biggest risers and the ``n`` biggest fallers among significant trends.

    Risers rank by ``growth_pct`` from the highest, fallers from the lowest;
    rows whose growth is undefined (a fitted start of zero or below) follow,
    ranked by the size of their slope.

    Parameters
    ----------
    trends
        Output of :func:`detect_trends` or :func:`category_trends`.
    n
        Products to keep in each direction.

    Returns
    -------
    pandas.DataFrame
        The rising rows then the falling rows of ``trends``, with ``rank``
        (1 = the biggest move) in front.
    """
    if n < 1:
        raise ConfigError(f"n must be at least 1 (got {n}).")
    parts = []
    for label, ascending in (("rising", False), ("falling", True)):
        part = trends[trends["trend"] == label].sort_values(
            ["growth_pct", "slope"], ascending=ascending, na_position="last", kind="stable"
        )
        parts.append(part.head(n).assign(rank=np.arange(1, min(n, len(part)) + 1)))
    out = pd.concat(parts, ignore_index=True)
    return out[["rank", *trends.columns]]


def category_trends(
    panel: pd.DataFrame,
    static_df: pd.DataFrame | None,
    calendar: TradingCalendar,
    window: int | None = None,
    alpha: float = 0.05,
    *,
    min_periods: int = 8,
) -> pd.DataFrame:
    """Trends of the sales summed per attribute value (category, brand, store...) and in total.

    Parameters
    ----------
    panel, calendar, window, alpha, min_periods
        As for :func:`detect_trends`.
    static_df
        ``unique_id`` plus attribute columns (``PreparedData.static_df``); products
        without a value count under ``(none)``. Without it only the total is tested.

    Returns
    -------
    pandas.DataFrame
        :func:`detect_trends`' columns with ``level`` (the attribute, or ``total``)
        in front; ``unique_id`` holds the attribute's value.
    """
    _validate(panel, window, alpha, min_periods)
    levels = aggregate_levels(panel, static_df)
    frames = [
        detect_trends(
            part[["unique_id", "ds", "y"]], calendar, window, alpha, min_periods=min_periods
        ).assign(level=level)
        for level, part in levels.groupby("level", sort=False)
    ]
    if not frames:
        return pd.DataFrame(columns=["level", *detect_trends(panel, calendar).columns])
    out = pd.concat(frames, ignore_index=True)
    return out[["level", *[c for c in out.columns if c != "level"]]]


def trends_output(trends: pd.DataFrame, data: PreparedData) -> pd.DataFrame:
    """The CLI's table: the input's own id columns, then ``trend, slope, growth_pct, p_value``."""
    out = data.ids.merge(trends, on="unique_id", how="right")
    return out[[*data.columns.id_cols, *OUTPUT_COLUMNS]]
