"""Sales per hierarchy level: category, brand, store... and the total.

Levels come from static attributes that are constant within each product
(``PreparedData.static_df``); every level sums the product panel, so the
levels always add up to the total.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["aggregate_levels"]


def aggregate_levels(panel: pd.DataFrame, static_df: pd.DataFrame | None = None) -> pd.DataFrame:
    """Sum demand per level and period.

    Returns
    -------
    pandas.DataFrame
        ``level, unique_id, ds, y``: one series per attribute value (``level`` is the
        attribute, e.g. ``category``; ``unique_id`` its value) plus ``level="total"``.

    Examples
    --------
    >>> panel = pd.DataFrame({"unique_id": ["a", "b"], "ds": pd.Timestamp("2024-01-01"),
    ...                       "y": [1.0, 2.0]})
    >>> aggregate_levels(panel, pd.DataFrame({"unique_id": ["a", "b"], "category": ["x", "x"]}))
          level unique_id         ds    y
    0  category         x 2024-01-01  3.0
    1     total     total 2024-01-01  3.0
    """
    frames = []
    attributes = [] if static_df is None else [c for c in static_df.columns if c != "unique_id"]
    if static_df is not None and attributes:
        merged = panel[["unique_id", "ds", "y"]].merge(static_df, on="unique_id", how="left")
        for level in attributes:
            keyed = merged.assign(key=merged[level].astype("string").fillna("(none)"))
            part = keyed.groupby(["key", "ds"], sort=True)["y"].sum().reset_index()
            frames.append(part.rename(columns={"key": "unique_id"}).assign(level=level))
    total = panel.groupby("ds", sort=True)["y"].sum().reset_index().assign(unique_id="total")
    frames.append(total.assign(level="total"))
    out = pd.concat(frames, ignore_index=True)
    return out[["level", "unique_id", "ds", "y"]]
