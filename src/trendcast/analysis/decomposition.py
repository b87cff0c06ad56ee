"""Trend and seasonality per product: components, their strengths, ACF and PACF.

- :func:`strengths` scores every product at once: a classical moving-average
  decomposition (centred ``m``-period moving average for the trend, the mean
  detrended value per phase of the season for the seasonal part) computed with
  numpy across the whole panel, so a thousand products take well under a second.
- :func:`decompose` gives the components of a few chosen products (by default
  the ``top_n`` by volume) with statsmodels: STL for one season, MSTL (weekly
  and yearly) for daily series covering at least two years.
- :func:`component_strengths` scores those STL/MSTL components the same way.
- :func:`autocorrelations` gives ACF and PACF values with their confidence bounds.

Strengths follow Wang, Smith & Hyndman (2006), as in *Forecasting: Principles
and Practice* (3rd ed., section 4.3), with trend ``T``, season ``S`` and
remainder ``R``::

    trend_strength    = max(0, 1 - var(R) / var(T + R))
    seasonal_strength = max(0, 1 - var(R) / var(S + R))

Near 0 the component is lost in the noise; above about 0.64 a season is strong
enough for a seasonal difference (the rule of ``feasts::unitroot_nsdiffs``).
A constant series has strengths 0; too short a series has NaN (see
:func:`strengths`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from threadpoolctl import threadpool_limits

from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import ConfigError, InputError, format_examples

__all__ = [
    "strengths",
    "decompose",
    "component_strengths",
    "autocorrelations",
    "top_series",
    "season_periods",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def check_panel(panel: pd.DataFrame, purpose: str) -> pd.DataFrame:
    """The panel sorted by ``unique_id, ds`` with a fresh index; raise on unusable input."""
    missing = [c for c in ("unique_id", "ds", "y") if c not in panel.columns]
    if missing:
        raise InputError(
            f"Columns missing from the panel: {missing}. {purpose} needs the long panel "
            "unique_id, ds, y (see trendcast.data.prepare.prepare_sales)."
        )
    if panel.empty:
        raise InputError(f"The panel has no rows; {purpose.lower()} needs some history.")
    empty = [c for c in ("unique_id", "ds", "y") if panel[c].isna().any()]
    if empty:
        raise InputError(
            f"The panel has empty values in {empty}; drop or fill those rows first "
            "(prepare_sales fills missing periods with zeros)."
        )
    if not pd.api.types.is_numeric_dtype(panel["y"]):
        raise InputError(
            f"The panel's 'y' column holds {panel['y'].dtype} values; it must be numeric."
        )
    dup = panel.duplicated(["unique_id", "ds"])
    if dup.any():
        shown = panel.loc[dup, "unique_id"].unique()
        raise InputError(
            f"The panel has {int(dup.sum()):,} duplicate (unique_id, ds) rows, e.g. for "
            f"{format_examples(shown)}. Aggregate to one row per product and period first."
        )
    out = panel.sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)
    out["y"] = out["y"].astype(float)
    return out


def series_layout(panel: pd.DataFrame) -> tuple[pd.Index, IntArray, IntArray, IntArray]:
    """For a panel sorted by ``unique_id, ds``: ids, each row's series code, position, length."""
    codes, ids = pd.factorize(panel["unique_id"], sort=False)
    codes = codes.astype(np.intp)
    counts = np.bincount(codes, minlength=len(ids))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(codes)) - starts[codes]
    return pd.Index(ids), codes, pos, counts[codes]


def season_name(calendar: TradingCalendar) -> str:
    """The plain name of the calendar's season: weekly for daily data, yearly for weekly..."""
    base = calendar.freq.split("-")[0]
    if calendar.is_daily:
        return "weekly"
    if base == "h":
        return "daily"
    if calendar.season_length > 1:
        return "yearly"
    return "seasonal"


def season_periods(calendar: TradingCalendar, n: int, min_cycles: int = 2) -> list[int]:
    """Seasonal periods a series of ``n`` periods can be decomposed with.

    The calendar's season when the series covers ``min_cycles`` of it; for daily
    data also the year (:attr:`TradingCalendar.periods_per_year`) when it covers
    ``min_cycles`` years.
    """
    m = calendar.season_length
    periods = [m] if m > 1 and n >= min_cycles * m + 1 else []
    year = calendar.periods_per_year
    if calendar.is_daily and periods and n >= min_cycles * year:
        periods.append(year)
    return periods


def _group_sum(values: FloatArray, codes: IntArray, n_groups: int) -> FloatArray:
    return np.bincount(codes, weights=values, minlength=n_groups).astype(float)


def _group_var(
    values: FloatArray, valid: npt.NDArray[np.bool_], codes: IntArray, k: int
) -> FloatArray:
    """Per-group variance (ddof 0) over ``valid`` rows, two-pass for accuracy."""
    count = np.bincount(codes[valid], minlength=k).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = _group_sum(values[valid], codes[valid], k) / count
        dev = values[valid] - mean[codes[valid]]
        return _group_sum(dev * dev, codes[valid], k) / count


def centred_moving_average(
    values: FloatArray, pos: IntArray, length: IntArray, m: int
) -> FloatArray:
    """Centred ``m``-period moving average within each series (``2 x m`` when ``m`` is even).

    Rows whose window leaves their series are NaN. ``values`` is sorted by
    series and time; ``pos`` and ``length`` come from :func:`series_layout`.
    """
    h = m // 2
    csum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(len(values))
    valid = (pos >= h) & (pos + h <= length - 1)
    out = np.full(len(values), np.nan)
    i = idx[valid]
    if m % 2:
        out[valid] = (csum[i + h + 1] - csum[i - h]) / m
    else:
        inner = csum[i + h] - csum[i - h + 1]
        out[valid] = (inner + 0.5 * values[i - h] + 0.5 * values[i + h]) / m
    return out


def _strength(var_r: FloatArray, var_total: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        s = 1.0 - var_r / var_total
    s = np.clip(s, 0.0, 1.0)
    # a constant series has no trend or season to speak of
    return np.where(var_total <= 1e-12, 0.0, s)


def strengths(panel: pd.DataFrame, calendar: TradingCalendar) -> pd.DataFrame:
    """Strength of trend and season for every product, from a moving-average decomposition.

    Parameters
    ----------
    panel
        Long panel ``unique_id, ds, y`` on the calendar's grid.
    calendar
        Gives the season length ``m`` (7 for daily data, 52 for weekly...).

    Returns
    -------
    pandas.DataFrame
        ``unique_id, n, method, period, trend_strength, seasonal_strength``, one
        row per product. ``method`` is ``moving_average``. ``trend_strength``
        is NaN for series shorter than ``2 * m + 1`` periods, ``seasonal_strength``
        for series shorter than three seasons (with fewer, noise alone scores as
        a strong season) and when the calendar has no season.

    Examples
    --------
    >>> t = np.arange(70)
    >>> panel = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=70),
    ...                       "y": 10 + 5 * (t % 7 == 5)})
    >>> strengths(panel, TradingCalendar("D"))["seasonal_strength"].round(2).tolist()
    [1.0]
    """
    panel = check_panel(panel, "Decomposition")
    ids, codes, pos, length = series_layout(panel)
    k = len(ids)
    y = panel["y"].to_numpy(float)
    m = calendar.season_length
    window = m if m > 1 else 3
    trend = centred_moving_average(y, pos, length, window)
    valid = ~np.isnan(trend)
    detrended = y - trend
    if m > 1:
        phase = pos % m
        key = codes * m + phase
        sums = np.bincount(key[valid], weights=detrended[valid], minlength=k * m)
        counts = np.bincount(key[valid], minlength=k * m)
        with np.errstate(invalid="ignore", divide="ignore"):
            index = (sums / counts).reshape(k, m)
        known = ~np.isnan(index)
        with np.errstate(invalid="ignore", divide="ignore"):
            level = np.where(known, index, 0.0).sum(axis=1) / known.sum(axis=1)
        index = index - level[:, None]
        season = index.reshape(-1)[key]
    else:
        season = np.zeros(len(y))
    remainder = detrended - season
    var_r = _group_var(remainder, valid, codes, k)
    trend_strength = _strength(var_r, _group_var(y - season, valid, codes, k))
    seasonal_strength = _strength(var_r, _group_var(detrended, valid, codes, k))
    n = np.bincount(codes, minlength=k)
    trend_strength[n < 2 * window + 1] = np.nan
    # with fewer than three seasons each phase's mean rests on one or two values, and
    # noise alone would score as a strong season
    seasonal_strength[(n < 3 * m) | (m <= 1)] = np.nan
    return pd.DataFrame(
        {
            "unique_id": ids,
            "n": n,
            "method": "moving_average",
            "period": m,
            "trend_strength": trend_strength,
            "seasonal_strength": seasonal_strength,
        }
    )


def top_series(panel: pd.DataFrame, n: int) -> list[str]:
    """The ``n`` products with the most units sold (ties broken by id)."""
    if n < 0:
        raise ConfigError(f"The number of products to pick must be zero or more (got {n}).")
    volume = panel.groupby("unique_id", sort=True)["y"].sum()
    order = volume.reset_index().sort_values(["y", "unique_id"], ascending=[False, True])
    return [str(u) for u in order["unique_id"].head(n)]


def _chosen(panel: pd.DataFrame, ids: Sequence[str] | None, top_n: int) -> list[str]:
    if ids is None:
        return top_series(panel, top_n)
    ids = list(ids)
    unknown = sorted(set(ids) - set(panel["unique_id"].unique()))
    if unknown:
        raise InputError(f"Unknown product id(s) {format_examples(unknown)}: not in the panel.")
    return ids


def _decompose_one(
    uid: str, part: pd.DataFrame, calendar: TradingCalendar, robust: bool, min_cycles: int
) -> pd.DataFrame | None:
    """One product's components, long; None when it is too short for a season."""
    from statsmodels.tsa.seasonal import MSTL, STL

    y = part["y"].to_numpy(float)
    periods = season_periods(calendar, len(y), min_cycles)
    if not periods:
        return None
    if len(periods) == 1:
        fit = STL(y, period=periods[0], robust=robust).fit()
        seasonal = {f"seasonal_{periods[0]}": np.asarray(fit.seasonal)}
        method = "stl"
    else:
        fit = MSTL(y, periods=periods, stl_kwargs={"robust": robust}).fit()
        seasons = np.asarray(fit.seasonal).reshape(len(y), -1)
        seasonal = {f"seasonal_{p}": seasons[:, i] for i, p in enumerate(periods)}
        method = "mstl"
    components = {
        "observed": y,
        "trend": np.asarray(fit.trend),
        **seasonal,
        "remainder": np.asarray(fit.resid),
    }
    n = len(y)
    return pd.DataFrame(
        {
            "unique_id": uid,
            "ds": np.tile(part["ds"].to_numpy(), len(components)),
            "method": method,
            "component": np.repeat(list(components), n),
            "value": np.concatenate(list(components.values())),
        }
    )


def decompose(
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    ids: Sequence[str] | None = None,
    *,
    top_n: int = 5,
    robust: bool = False,
    min_cycles: int = 2,
) -> pd.DataFrame:
    """Trend, seasonal and remainder components of chosen products (STL or MSTL).

    Parameters
    ----------
    panel
        Long panel ``unique_id, ds, y``.
    calendar
        Gives the season length, and the year length for daily data.
    ids
        Products to decompose; by default the ``top_n`` by volume.
    top_n
        How many of the best-selling products to decompose when ``ids`` is None.
    robust
        Robust STL fitting (slower; resists spikes).
    min_cycles
        Whole seasons a series must cover for that season to be fitted:
        MSTL with a yearly season needs ``min_cycles`` years of daily data.

    Returns
    -------
    pandas.DataFrame
        Long frame ``unique_id, ds, method, component, value`` with components
        ``observed, trend, seasonal_<period>..., remainder`` (``seasonal_7``;
        ``seasonal_364`` for a yearly season of daily data). ``method`` is
        ``stl`` or ``mstl``. Series too short for one season have no rows.
    """
    panel = check_panel(panel, "Decomposition")
    chosen = _chosen(panel, ids, top_n)
    with threadpool_limits(1, "blas"):
        frames = [
            _decompose_one(str(uid), part, calendar, robust, min_cycles)
            for uid, part in panel[panel["unique_id"].isin(chosen)].groupby("unique_id", sort=False)
        ]
    frames = [f for f in frames if f is not None]
    if not frames:
        return pd.DataFrame(
            {
                "unique_id": pd.Series(dtype=object),
                "ds": pd.Series(dtype="datetime64[ns]"),
                "method": pd.Series(dtype=object),
                "component": pd.Series(dtype=object),
                "value": pd.Series(dtype=float),
            }
        )
    return pd.concat(frames, ignore_index=True)


def component_strengths(components: pd.DataFrame) -> pd.DataFrame:
    """Strengths of trend and each season from :func:`decompose`'s components.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, n, method, period, trend_strength, seasonal_strength,
        seasonal_strength_yearly``: ``period`` and ``seasonal_strength`` are the
        shortest season's; ``seasonal_strength_yearly`` is the second (yearly)
        season's under MSTL and NaN otherwise.
    """
    wide = components.pivot_table(
        index=["unique_id", "ds", "method"], columns="component", values="value", aggfunc="first"
    ).reset_index()
    rows = []
    for (uid, method), part in wide.groupby(["unique_id", "method"], sort=False):
        seasonal_cols = sorted(
            (c for c in part.columns if str(c).startswith("seasonal_") and part[c].notna().all()),
            key=lambda c: int(str(c).split("_")[1]),
        )
        r = part["remainder"].to_numpy(float)
        t = part["trend"].to_numpy(float)
        var_r = np.array([r.var()])
        season_strengths = [
            float(_strength(var_r, np.array([(part[c].to_numpy(float) + r).var()]))[0])
            for c in seasonal_cols
        ]
        rows.append(
            {
                "unique_id": uid,
                "n": len(part),
                "method": method,
                "period": int(str(seasonal_cols[0]).split("_")[1]) if seasonal_cols else 1,
                "trend_strength": float(_strength(var_r, np.array([(t + r).var()]))[0]),
                "seasonal_strength": season_strengths[0] if season_strengths else np.nan,
                "seasonal_strength_yearly": (
                    season_strengths[1] if len(season_strengths) > 1 else np.nan
                ),
            }
        )
    columns = [
        "unique_id",
        "n",
        "method",
        "period",
        "trend_strength",
        "seasonal_strength",
        "seasonal_strength_yearly",
    ]
    return pd.DataFrame(rows, columns=columns)


def autocorrelations(
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    ids: Sequence[str] | None = None,
    *,
    top_n: int = 5,
    nlags: int | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """ACF and PACF of chosen products' sales, with the bounds a correlogram draws.

    Parameters
    ----------
    panel
        Long panel ``unique_id, ds, y``.
    calendar
        Gives the season length for the default number of lags.
    ids
        Products; by default the ``top_n`` by volume.
    nlags
        Lags to compute; by default three seasons (21 for daily data), at most
        half the series' length minus one.
    alpha
        The bounds are the ``1 - alpha`` confidence band of a zero correlation.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, lag, acf, acf_bound, pacf, pacf_bound, significant`` for lags
        1..nlags. ``acf_bound`` uses Bartlett's formula (it widens with the lag,
        as statsmodels' ``plot_acf`` draws it), ``pacf_bound`` is ``z / sqrt(n)``;
        ``significant`` says the ACF lies outside its bound.
    """
    from statsmodels.tsa.stattools import acf, pacf

    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie between 0 and 1 (got {alpha}).")
    if nlags is not None and nlags < 1:
        raise ConfigError(f"nlags must be at least 1 (got {nlags}).")
    panel = check_panel(panel, "Autocorrelation")
    chosen = _chosen(panel, ids, top_n)
    m = calendar.season_length
    frames = []
    for uid, part in panel[panel["unique_id"].isin(chosen)].groupby("unique_id", sort=False):
        y = part["y"].to_numpy(float)
        lags = min(nlags or max(3 * m, 10), len(y) // 2 - 1)
        if lags < 1 or np.ptp(y) == 0:
            continue
        a = acf(y, nlags=lags, alpha=alpha, fft=True, result_object=True)
        p = pacf(y, nlags=lags, alpha=alpha, result_object=True)
        acf_values = np.asarray(a.acf)[1:]
        pacf_values = np.asarray(p.pacf)[1:]
        acf_bound = (np.asarray(a.confint)[:, 1] - np.asarray(a.acf))[1:]
        pacf_bound = (np.asarray(p.confint)[:, 1] - np.asarray(p.pacf))[1:]
        frames.append(
            pd.DataFrame(
                {
                    "unique_id": uid,
                    "lag": np.arange(1, lags + 1),
                    "acf": acf_values,
                    "acf_bound": acf_bound,
                    "pacf": pacf_values,
                    "pacf_bound": pacf_bound,
                    "significant": np.abs(acf_values) > acf_bound,
                }
            )
        )
    columns = ["unique_id", "lag", "acf", "acf_bound", "pacf", "pacf_bound", "significant"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]
