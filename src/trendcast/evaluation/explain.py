"""What drives a forecast: feature importance and SHAP contributions of the boosting model.

LightGBM computes exact TreeSHAP contributions itself (``pred_contrib=True``),
so no extra package is needed. mlforecast forecasts recursively; the features
of every step are captured as they are built, so the contributions are those
of the forecast actually served.

Raw feature names are grouped into drivers a planner reads without a
glossary: "recent sales level", "day of week", "festival: double11",
"price", "promotion", "season of year", "public holiday".
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from trendcast.exceptions import ModelError

__all__ = ["driver_of", "forecast_contributions", "drivers_summary"]

_DRIVERS: tuple[tuple[str, str], ...] = (
    (r"^fest_(.+)$", "festival: {0}"),
    (r"^days_to_festival$", "festival: days to the next"),
    (r"^holiday$", "public holiday"),
    (r"^(rel_price|discount|price_change|price)$", "price"),
    (r"^promo$", "promotion"),
    (r"^dayofweek$", "day of week"),
    (r"^(dayofmonth|is_month_start|is_month_end)$", "day of month"),
    (r"^(month|weekofyear|quarter)$", "season of year"),
    (r"^(lag\d+|rolling_.*|expanding_.*|seasonal_.*)$", "recent sales level"),
)


def driver_of(feature: str) -> str:
    """The planner-facing driver a raw feature belongs to (static attributes keep their name)."""
    for pattern, label in _DRIVERS:
        match = re.match(pattern, feature)
        if match:
            return label.format(*match.groups())
    return feature


def forecast_contributions(model: Any, h: int, X_df: pd.DataFrame | None = None) -> pd.DataFrame:
    """SHAP contributions of every feature to every forecast step of a fitted ``lightgbm`` model.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, step, feature, contribution`` (on the model's raw output
        scale: log demand for the Tweedie objective).
    """
    mlf = getattr(model, "model_", None)
    if mlf is None or model.alias not in getattr(mlf, "models_", {}):
        raise ModelError("Explanations need a fitted lightgbm model; fit it first.")
    booster = mlf.models_[model.alias]
    captured: list[pd.DataFrame] = []

    def capture(features: pd.DataFrame) -> pd.DataFrame:
        captured.append(features.copy())
        return features

    ids = sorted(set(model.train_["unique_id"]) - model.short_)
    future = model._future_design(h, X_df, ids)
    mlf.predict(h, X_df=future, before_predict_callback=capture)
    frames = []
    for step, features in enumerate(captured, start=1):
        contrib = booster.predict(features, pred_contrib=True)
        names = list(features.columns)
        values = pd.DataFrame(np.asarray(contrib)[:, : len(names)], columns=names)
        # mlforecast builds one row per series in the sorted order of the ids it forecasts
        values["unique_id"] = np.asarray(mlf.ts.uids)
        long = values.melt(id_vars="unique_id", var_name="feature", value_name="contribution")
        frames.append(long.assign(step=step))
    out = pd.concat(frames, ignore_index=True)
    return out[["unique_id", "step", "feature", "contribution"]]


def drivers_summary(contributions: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """Per product, the ``top`` drivers by mean absolute contribution over the horizon.

    Returns ``unique_id, rank, driver, effect, direction`` where ``effect`` is the
    mean contribution over the horizon and ``direction`` is ``raises`` or ``lowers``.
    """
    frame = contributions.assign(driver=contributions["feature"].map(driver_of))
    per = frame.groupby(["unique_id", "driver", "step"])["contribution"].sum().reset_index()
    per["strength"] = per["contribution"].abs()
    agg = (
        per.groupby(["unique_id", "driver"])[["contribution", "strength"]]
        .mean()
        .rename(columns={"contribution": "effect"})
        .reset_index()
        .sort_values(["unique_id", "strength"], ascending=[True, False])
    )
    agg["rank"] = agg.groupby("unique_id").cumcount() + 1
    agg = agg[agg["rank"] <= top]
    agg["direction"] = np.where(agg["effect"] >= 0, "raises", "lowers")
    return agg[["unique_id", "rank", "driver", "effect", "direction"]].reset_index(drop=True)
