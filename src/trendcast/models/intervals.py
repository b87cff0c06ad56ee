"""Empirical prediction intervals from a model's own backtest errors.

For a series, the errors ``y - forecast`` of the last few rolling windows
(about ``windows x h`` of them) give the quantiles that turn a point forecast
into an interval: lower bound at quantile ``(100 - L) / 200`` of the errors,
upper bound at ``1 - (100 - L) / 200``. This is split conformal prediction
pooled over the horizon, as mlforecast and statsforecast do it, but robust to
series too short for the windows: those borrow the pooled errors of all
series, scaled by their own level.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trendcast.models.base import interval_columns

__all__ = ["MIN_RESIDUALS", "residual_offsets", "apply_offsets"]

MIN_RESIDUALS = 10


def residual_offsets(
    errors: pd.Series, levels: Sequence[int], min_residuals: int = MIN_RESIDUALS
) -> pd.DataFrame:
    """Per series, the error quantiles for ``levels``.

    Parameters
    ----------
    errors
        ``y - forecast`` indexed by ``unique_id`` (one value per backtest row).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``unique_id`` with columns ``-lo-L`` and ``-hi-L``; only series
        with at least ``min_residuals`` errors.
    """
    grouped = errors.groupby(level=0)
    counts = grouped.size()
    out = pd.DataFrame(index=counts.index[counts >= min_residuals])
    for level in sorted(levels):
        tail = (100 - level) / 200
        out[f"-lo-{level}"] = grouped.quantile(tail).reindex(out.index)
        out[f"-hi-{level}"] = grouped.quantile(1 - tail).reindex(out.index)
    return out


def apply_offsets(
    fc: pd.DataFrame, alias: str, offsets: pd.DataFrame, levels: Sequence[int]
) -> pd.DataFrame:
    """Fill ``<alias>-lo-L`` / ``-hi-L`` from the point forecast plus the series' offsets.

    Series without offsets get the median offsets of all series, scaled by
    the ratio of their mean forecast to the median mean forecast (a slow mover
    gets a narrow band, a best-seller a wide one). Bounds never cross the
    point forecast and never go below zero.
    """
    fc = fc.copy()
    point = fc[alias].to_numpy()
    own = offsets.reindex(fc["unique_id"].to_numpy())
    if len(offsets):
        level_now = fc.groupby("unique_id")[alias].transform("mean").to_numpy()
        typical = float(np.median(fc.groupby("unique_id")[alias].mean())) or 1.0
        pooled = offsets.median()
    for suffix in interval_columns("", levels):
        lower = "-lo-" in suffix
        if len(offsets):
            borrowed = pooled[suffix] * level_now / typical
            shift = np.where(own[suffix].notna(), own[suffix].to_numpy(), borrowed)
            bound = point + shift
        else:
            bound = point.copy()
        bound = np.minimum(bound, point) if lower else np.maximum(bound, point)
        fc[f"{alias}{suffix}"] = np.clip(bound, 0.0, None)
    return fc
