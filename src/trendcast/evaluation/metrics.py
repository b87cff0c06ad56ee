"""Forecast accuracy metrics, on arrays and over a whole backtest.

The array functions take actuals and forecasts of the same shape and return one
float. Percentages are on a 0-100 scale (sMAPE on 0-200), and so is interval
coverage, so ``coverage_80`` is read directly against 80.

:func:`evaluate` scores a long backtest frame (``unique_id, ds, cutoff, y,
model, forecast`` and ``forecast-lo-<L>``/``forecast-hi-<L>`` per level) with
one row per model and series. Errors are pooled over all windows of a series.
utilsforecast's losses are not used there: they score wide frames per cutoff,
while this contract pools windows, skips zero actuals in MAPE, reports sMAPE
on 0-200 and fixes the MASE scale at the first cutoff.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from trendcast.exceptions import ConfigError, InputError, format_examples

__all__ = [
    "bias",
    "coverage",
    "evaluate",
    "mae",
    "mape",
    "mse",
    "pinball_loss",
    "r2",
    "rmse",
    "smape",
]

BACKTEST_COLUMNS = ("unique_id", "ds", "cutoff", "y", "model", "forecast")
HISTORY_COLUMNS = ("unique_id", "ds", "y")
#: seasons of history (before the first cutoff) whose sales weigh a series
REVENUE_SEASONS = 4


def _pair(y: npt.ArrayLike, y_hat: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    actual = np.asarray(y, dtype=float)
    forecast = np.asarray(y_hat, dtype=float)
    if actual.shape != forecast.shape:
        raise InputError(
            f"Actuals and forecasts differ in shape: {actual.shape} vs {forecast.shape}. "
            "Pass one forecast per actual."
        )
    return actual, forecast


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def mae(y: npt.ArrayLike, y_hat: npt.ArrayLike) -> float:
    """Mean absolute error.

    Examples
    --------
    >>> mae([1, 2, 3], [2, 2, 5])
    1.0
    """
    actual, forecast = _pair(y, y_hat)
    return _mean(np.abs(actual - forecast))


def mse(y: npt.ArrayLike, y_hat: npt.ArrayLike) -> float:
    """Mean squared error."""
    actual, forecast = _pair(y, y_hat)
    return _mean((actual - forecast) ** 2)


def rmse(y: npt.ArrayLike, y_hat: npt.ArrayLike) -> float:
    """Root mean squared error."""
    return float(np.sqrt(mse(y, y_hat)))


def mape(y: npt.ArrayLike, y_hat: npt.ArrayLike) -> float:
    """Mean absolute percentage error in percent, over the periods with a nonzero actual.

    Periods whose actual is 0 have no defined percentage error and are left
    out; with no nonzero actual at all the result is NaN.

    Examples
    --------
    >>> mape([0, 10, 20], [5, 12, 15])
    22.5
    """
    actual, forecast = _pair(y, y_hat)
    nonzero = actual != 0
    return 100 * _mean(np.abs(actual - forecast)[nonzero] / np.abs(actual[nonzero]))


def _smape_terms(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    denominator = np.abs(actual) + np.abs(forecast)
    safe = np.where(denominator == 0, 1.0, denominator)
    # A zero forecast of a zero actual is perfect, not undefined.
    return np.where(denominator == 0, 0.0, 200 * np.abs(actual - forecast) / safe)


def smape(y: npt.ArrayLike, y_hat: npt.ArrayLike) -> float:
    """Symmetric MAPE on a 0-200 scale; a period with actual and forecast both 0 scores 0.

    Examples
    --------
    >>> smape([0, 0, 10], [0, 5, 30])
    100.0
    """
    actual, forecast = _pair(y, y_hat)
    return _mean(_smape_terms(actual, forecast))


def bias(y: npt.ArrayLike, y_hat: npt.ArrayLike) -> float:
    """Mean of forecast minus actual: positive when the forecast runs high."""
    actual, forecast = _pair(y, y_hat)
    return _mean(forecast - actual)


def r2(y: npt.ArrayLike, y_hat: npt.ArrayLike) -> float:
    """Coefficient of determination, ``1 - SSE / SST``; NaN when the actuals are constant."""
    actual, forecast = _pair(y, y_hat)
    total = float(((actual - actual.mean()) ** 2).sum()) if actual.size else 0.0
    if total == 0:
        return float("nan")
    return 1 - float(((actual - forecast) ** 2).sum()) / total


def _pinball_terms(actual: np.ndarray, quantile: np.ndarray, q: float) -> np.ndarray:
    diff = actual - quantile
    return np.maximum(q * diff, (q - 1) * diff)


def pinball_loss(y: npt.ArrayLike, y_q: npt.ArrayLike, q: float) -> float:
    """Mean pinball (quantile) loss of the forecast quantile ``y_q`` at level ``q``.

    Under-forecasts cost ``q`` per unit and over-forecasts ``1 - q``; at
    ``q=0.5`` it is half the MAE.

    Examples
    --------
    >>> pinball_loss([10, 10], [8, 13], q=0.9)
    1.05
    """
    if not 0 < q < 1:
        raise ConfigError(f"The quantile q must lie strictly between 0 and 1, got {q}.")
    actual, quantile = _pair(y, y_q)
    return _mean(_pinball_terms(actual, quantile, q))


def coverage(y: npt.ArrayLike, lo: npt.ArrayLike, hi: npt.ArrayLike) -> float:
    """Percent of actuals inside the closed interval ``[lo, hi]``.

    Examples
    --------
    >>> coverage([1, 5, 9, 4], [0, 0, 0, 4], [2, 4, 9, 6])
    75.0
    """
    actual, lower = _pair(y, lo)
    _, upper = _pair(y, hi)
    return 100 * _mean(((actual >= lower) & (actual <= upper)).astype(float))


def _interval_columns(levels: Sequence[int]) -> list[str]:
    return [f"forecast-{side}-{level}" for level in levels for side in ("lo", "hi")]


def _require_columns(frame: pd.DataFrame, required: Sequence[str], what: str) -> None:
    """Raise an InputError naming the columns of ``required`` that ``frame`` lacks."""
    missing = [col for col in required if col not in frame.columns]
    if missing:
        raise InputError(f"Columns missing from the {what}: {missing}. It needs {list(required)}.")


def _check_inputs(
    backtest: pd.DataFrame, history: pd.DataFrame, season_length: int, levels: list[int]
) -> None:
    if season_length < 1:
        raise ConfigError(f"season_length must be at least 1, got {season_length}.")
    bad_levels = [level for level in levels if not 0 < level < 100]
    if bad_levels:
        raise ConfigError(
            f"Interval levels must lie between 0 and 100 (exclusive), got {bad_levels}."
        )
    _require_columns(backtest, [*BACKTEST_COLUMNS, *_interval_columns(levels)], "backtest frame")
    _require_columns(history, HISTORY_COLUMNS, "history panel")
    series = pd.Series(backtest["unique_id"].unique())
    unknown = series[~series.isin(history["unique_id"].unique())]
    if len(unknown):
        raise InputError(
            f"Series in the backtest have no history: {format_examples(sorted(unknown))}. "
            "Pass the panel the backtest was run on."
        )
    gaps = backtest[backtest[["y", "forecast"]].isna().any(axis=1)]
    if len(gaps):
        pairs = sorted(set(zip(gaps["model"], gaps["unique_id"], strict=True)))
        raise InputError(
            f"The backtest has missing actuals or forecasts for (model, unique_id) "
            f"{format_examples(pairs)}. Drop the failed model or fill the forecasts first."
        )


def _first_positive(*candidates: pd.Series) -> pd.Series:
    """Per series, the first candidate that is positive; NaN when none is."""
    result = pd.Series(np.nan, index=candidates[0].index)
    for candidate in reversed(candidates):
        result = candidate.where(candidate > 0, result)
    return result


def _training_rows(history: pd.DataFrame, first_cutoff: pd.Series) -> pd.DataFrame:
    """History up to and including each series' first cutoff, sorted by series and date."""
    train = history[history["ds"] <= history["unique_id"].map(first_cutoff)]
    return train.sort_values(["unique_id", "ds"], kind="stable")


def _naive_scales(train: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """Per series ``mae_scale`` and ``mse_scale`` of in-sample naive forecasts (see evaluate)."""
    by_series = train.groupby("unique_id", sort=True, observed=True)
    y = train["y"]
    seasonal_err = y - by_series["y"].shift(season_length)
    lag1_err = y - by_series["y"].shift(1)
    parts = pd.DataFrame(
        {
            "unique_id": train["unique_id"],
            "seasonal_abs": seasonal_err.abs(),
            "seasonal_sq": seasonal_err**2,
            "lag1_abs": lag1_err.abs(),
            "lag1_sq": lag1_err**2,
            "level_abs": y.abs(),
            "level_sq": y**2,
        }
    )
    means = parts.groupby("unique_id", sort=True, observed=True).mean()
    has_season = by_series.size() > season_length
    primary_abs = means["seasonal_abs"].where(has_season, means["lag1_abs"])
    primary_sq = means["seasonal_sq"].where(has_season, means["lag1_sq"])
    return pd.DataFrame(
        {
            "mae_scale": _first_positive(primary_abs, means["lag1_abs"], means["level_abs"]),
            "mse_scale": _first_positive(primary_sq, means["lag1_sq"], means["level_sq"]),
        }
    )


def _revenue(train: pd.DataFrame, season_length: int) -> pd.Series:
    """Per series sales value ``y * price`` over the last seasons up to the first cutoff."""
    if "price" not in train.columns:
        return pd.Series(dtype=float)
    recent = train.groupby("unique_id", observed=True).tail(season_length * REVENUE_SEASONS)
    return (
        (recent["y"] * recent["price"]).groupby(recent["unique_id"], observed=True).sum(min_count=1)
    )


def evaluate(
    backtest: pd.DataFrame,
    history: pd.DataFrame,
    season_length: int,
    levels: Sequence[int] = (),
) -> pd.DataFrame:
    """Score a long backtest frame per model and series.

    Parameters
    ----------
    backtest
        ``unique_id, ds, cutoff, y, model, forecast`` plus ``forecast-lo-<L>``
        and ``forecast-hi-<L>`` for every level; several models and cutoffs
        stacked. ``y`` and ``forecast`` must not be missing; missing interval
        bounds make that model's ``pinball`` and coverage NaN for the series.
    history
        The panel the backtest ran on (``unique_id, ds, y``, optional ``price``).
    season_length
        Lag of the seasonal naive forecast that scales MASE, RMSSE and
        ``scaled_pinball``.
    levels
        Interval levels in percent (e.g. ``(80, 95)``).

    Returns
    -------
    pandas.DataFrame
        One row per ``(model, unique_id)``: ``model, unique_id, n, mae, mse,
        rmse, mape, smape, bias, r2, mase, rmsse, pinball, scaled_pinball``,
        ``coverage_<L>`` per level, ``volume`` (sum of the evaluated actuals)
        and ``revenue`` (sum of ``y * price`` over the last
        ``4 * season_length`` periods up to the series' first cutoff; NaN
        without a ``price`` column).

    Notes
    -----
    Errors are pooled over all windows. MAPE skips zero actuals. ``pinball``
    averages the pinball loss over the quantiles the intervals imply (level
    ``L`` gives ``(100 - L) / 200`` from the lower and ``1 - (100 - L) / 200``
    from the upper bound) and the median (the point forecast); with no levels
    it is half the MAE. MASE, RMSSE and ``scaled_pinball`` divide by the
    in-sample seasonal naive MAE (MSE for RMSSE) on the history up to the
    series' first cutoff. Series too short for one season use the lag-1 naive;
    a zero scale (a flat series) falls back to the lag-1 naive, then to the
    mean absolute training value (mean square for RMSSE), and stays NaN
    when all are zero.
    """
    levels = sorted(set(levels))
    _check_inputs(backtest, history, season_length, levels)
    groups = backtest.groupby(["model", "unique_id"], sort=True, observed=True)
    keys = groups.size().index
    n = groups.size().to_numpy()
    # Group once on the string keys; the reductions then run on the integer codes.
    codes = groups.ngroup().to_numpy()

    def group_sum(values: np.ndarray) -> np.ndarray:
        # A NaN (an interval bound a model did not give) makes its group's sum NaN.
        return np.bincount(codes, weights=values, minlength=len(n))

    actual = backtest["y"].to_numpy(dtype=float)
    forecast = backtest["forecast"].to_numpy(dtype=float)
    error = forecast - actual
    nonzero = actual != 0
    ape = np.zeros_like(actual)
    ape[nonzero] = 100 * np.abs(error[nonzero]) / np.abs(actual[nonzero])
    nonzero_count = group_sum(nonzero.astype(float))
    mape_sum = group_sum(ape)
    mae_ = group_sum(np.abs(error)) / n
    mse_ = group_sum(error**2) / n
    sst = group_sum((actual - (group_sum(actual) / n)[codes]) ** 2)

    pinball_rows = _pinball_terms(actual, forecast, 0.5)
    coverage_cols = {}
    for level in levels:
        lower = backtest[f"forecast-lo-{level}"].to_numpy(dtype=float)
        upper = backtest[f"forecast-hi-{level}"].to_numpy(dtype=float)
        q_lo = (100 - level) / 200
        pinball_rows += _pinball_terms(actual, lower, q_lo) + _pinball_terms(
            actual, upper, 1 - q_lo
        )
        inside = np.where(
            np.isnan(lower) | np.isnan(upper), np.nan, (actual >= lower) & (actual <= upper)
        )
        coverage_cols[f"coverage_{level}"] = 100 * group_sum(inside) / n
    pinball = group_sum(pinball_rows / (1 + 2 * len(levels))) / n

    train = _training_rows(history, backtest.groupby("unique_id", observed=True)["cutoff"].min())
    scales = _naive_scales(train, season_length)
    ids = keys.get_level_values("unique_id")
    mae_scale = scales["mae_scale"].reindex(ids).to_numpy()
    mse_scale = scales["mse_scale"].reindex(ids).to_numpy()
    nan = np.full(len(n), np.nan)
    result = pd.DataFrame(
        {
            "n": n,
            "mae": mae_,
            "mse": mse_,
            "rmse": np.sqrt(mse_),
            "mape": np.divide(mape_sum, nonzero_count, out=nan.copy(), where=nonzero_count > 0),
            "smape": group_sum(_smape_terms(actual, forecast)) / n,
            "bias": group_sum(error) / n,
            "r2": 1 - np.divide(mse_ * n, sst, out=nan.copy(), where=sst > 0),
            "mase": mae_ / mae_scale,
            "rmsse": np.sqrt(mse_ / mse_scale),
            "pinball": pinball,
            "scaled_pinball": pinball / mae_scale,
            **coverage_cols,
            "volume": group_sum(actual),
            "revenue": _revenue(train, season_length).reindex(ids).to_numpy(),
        },
        index=keys,
    )
    return result.reset_index()
