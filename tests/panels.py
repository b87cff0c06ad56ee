"""Synthetic panels shared by the model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trendcast.data.calendar import TradingCalendar


def weekly_panel(
    n_series: int = 4, n_days: int = 120, closed: tuple[int, ...] = ()
) -> pd.DataFrame:
    """Poisson demand with a weekly cycle, one level per series (``sku0``, ``sku1``...)."""
    rng = np.random.default_rng(7)
    cal = TradingCalendar("D", closed_weekdays=closed)
    dates = cal.range(
        pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-01") + pd.Timedelta(days=n_days)
    )
    frames = []
    for i in range(n_series):
        weekly = 1 + 0.5 * np.sin(2 * np.pi * np.arange(len(dates)) / 7)
        y = rng.poisson((3 + 4 * i) * weekly).astype(float)
        frames.append(pd.DataFrame({"unique_id": f"sku{i}", "ds": dates, "y": y}))
    return pd.concat(frames, ignore_index=True)
