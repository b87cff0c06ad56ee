"""Demand segments, so forecast accuracy can be read per kind of series.

A slow, intermittent SKU and a best-seller are not forecast the same way; the
leaderboard per segment shows which model wins where.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trendcast.evaluation.metrics import _require_columns
from trendcast.exceptions import ConfigError, InputError, format_examples

__all__ = ["ADI_THRESHOLD", "CV2_THRESHOLD", "classify_demand"]

#: Syntetos-Boylan cut-offs on the average inter-demand interval and on CV²
ADI_THRESHOLD = 1.32
CV2_THRESHOLD = 0.49


def classify_demand(panel: pd.DataFrame, recent: int | None = None) -> pd.DataFrame:
    """Put each series of a panel in a demand segment.

    A period has demand when ``y > 0``. Per series:

    - ``adi``: average inter-demand interval, the number of periods divided by
      the number of periods with demand (1 means demand every period);
    - ``cv2``: squared coefficient of variation (population) of the nonzero
      demand sizes;
    - ``mean_demand``: mean ``y`` over all periods; ``zero_share``: share
      (0-1) of periods without demand.

    The rule (after Syntetos and Boylan): a series with no demand at all is
    ``"dead"``; with ``adi >= 1.32`` it is ``"lumpy"`` when also
    ``cv2 >= 0.49`` and ``"intermittent"`` otherwise. The remaining series are
    ``"fast"`` when their ``mean_demand`` is at least the median
    ``mean_demand`` of these remaining series, else ``"slow"``.

    Parameters
    ----------
    panel
        Long panel with ``unique_id, ds, y``.
    recent
        Use only the last ``recent`` periods of each series (all when None).

    Returns
    -------
    pandas.DataFrame
        ``unique_id, segment, adi, cv2, mean_demand, zero_share``, one row per
        series, sorted by ``unique_id``; ``adi`` and ``cv2`` are NaN for dead
        series.

    Examples
    --------
    >>> panel = pd.DataFrame(
    ...     {"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=4), "y": [0, 3, 0, 3.0]}
    ... )
    >>> classify_demand(panel).loc[0, "segment"]  # ADI 4 / 2 = 2, CV² 0
    'intermittent'
    """
    _require_columns(panel, ("unique_id", "ds", "y"), "panel")
    if recent is not None and recent < 1:
        raise ConfigError(f"recent must be at least 1 period, got {recent}.")
    gaps = panel.loc[panel["y"].isna(), "unique_id"]
    if len(gaps):
        raise InputError(
            f"The panel has missing y for series {format_examples(gaps.unique())}. "
            "Fill them (e.g. with 0 for no sales) before classifying demand."
        )

    data = panel[["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"], kind="stable")
    if recent is not None:
        data = data.groupby("unique_id", sort=False, observed=True).tail(recent)
    demand = data["y"].where(data["y"] > 0)
    by_series = data.groupby("unique_id", sort=True, observed=True)
    periods = by_series.size()
    sizes = demand.groupby(data["unique_id"], sort=True, observed=True)
    demand_periods = sizes.count()
    cv2 = (sizes.std(ddof=0) / sizes.mean()) ** 2
    adi = periods / demand_periods.where(demand_periods > 0)
    mean_demand = by_series["y"].mean()

    dead = demand_periods == 0
    sporadic = adi >= ADI_THRESHOLD
    regular = ~dead & ~sporadic
    median_regular = mean_demand[regular].median()
    segment = np.select(
        [dead, sporadic & (cv2 >= CV2_THRESHOLD), sporadic, mean_demand >= median_regular],
        ["dead", "lumpy", "intermittent", "fast"],
        default="slow",
    )
    return pd.DataFrame(
        {
            "unique_id": periods.index.to_numpy(),
            "segment": segment,
            "adi": adi.to_numpy(),
            "cv2": cv2.to_numpy(),
            "mean_demand": mean_demand.to_numpy(),
            "zero_share": (1 - demand_periods / periods).to_numpy(),
        }
    )
