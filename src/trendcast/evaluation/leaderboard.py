"""Leaderboards: per-series scores from :func:`evaluate` rolled up per model.

Each metric is the mean over series, skipping NaN. ``wrmsse`` weighs each
series' RMSSE by its share of revenue (as in the M5 competition) when every
series has a revenue, else by its share of sold volume; series with a NaN
RMSSE are left out and the remaining weights renormalised.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from trendcast.evaluation.metrics import _require_columns
from trendcast.exceptions import ConfigError, InputError, format_examples

__all__ = ["HEADLINE_COLUMNS", "best_model_per_series", "leaderboard", "segment_leaderboard"]

MEAN_COLUMNS = (
    "mae",
    "rmse",
    "mape",
    "smape",
    "mase",
    "rmsse",
    "r2",
    "bias",
    "pinball",
    "scaled_pinball",
)
#: metrics where lower is better, the ones a best model can be picked by
LOSS_COLUMNS = ("mae", "mse", "rmse", "mape", "smape", "mase", "rmsse", "pinball", "scaled_pinball")

#: the leaderboard columns printed by the CLI and the benchmarks
HEADLINE_COLUMNS = (
    "rank",
    "model",
    "mase",
    "rmsse",
    "scaled_pinball",
    "coverage_80",
    "coverage_95",
    "time_s",
)


def _series_weights(per_series: pd.DataFrame) -> pd.Series:
    if "revenue" in per_series.columns and per_series["revenue"].notna().all():
        return per_series["revenue"]
    return per_series["volume"]


def _aggregate(per_series: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    _require_columns(
        per_series, ["model", "unique_id", *MEAN_COLUMNS, "volume"], "per-series scores"
    )
    coverage = [col for col in per_series.columns if col.startswith("coverage_")]
    keys = [*by, "model"]
    weight = _series_weights(per_series).where(per_series["rmsse"].notna())
    rows = per_series.assign(_weight=weight, _weighted=weight * per_series["rmsse"])
    grouped = rows.groupby(keys, sort=True, observed=True)
    table = grouped[[*MEAN_COLUMNS, *coverage]].mean()
    table.insert(0, "series", grouped["unique_id"].nunique())
    total_weight = grouped["_weight"].sum()
    table["wrmsse"] = grouped["_weighted"].sum() / total_weight.where(total_weight > 0)
    table = table.reset_index()
    mase = table.groupby(by, observed=True)["mase"] if by else table["mase"]
    table["rank"] = mase.rank(method="min", na_option="bottom").astype(int)
    return table.sort_values([*by, "rank", "model"], ignore_index=True)


def leaderboard(
    per_series: pd.DataFrame, timings: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Rank models by their mean MASE over series.

    Parameters
    ----------
    per_series
        Output of :func:`trendcast.evaluation.evaluate`.
    timings
        Seconds each model took; models absent from it get a NaN ``time_s``.

    Returns
    -------
    pandas.DataFrame
        One row per model, best first: ``model, series, mae, rmse, mape,
        smape, mase, rmsse, r2, bias, pinball, scaled_pinball``,
        ``coverage_<L>`` per level, ``wrmsse``, ``time_s`` (only with
        ``timings``) and ``rank`` (1 is best; ties share a rank, NaN MASE
        ranks last).
    """
    table = _aggregate(per_series, by=[])
    if timings is not None:
        table.insert(len(table.columns) - 1, "time_s", table["model"].map(timings).astype(float))
    return table


def segment_leaderboard(per_series: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """Rank models within each demand segment, as :func:`leaderboard` does overall.

    Parameters
    ----------
    per_series
        Output of :func:`trendcast.evaluation.evaluate`.
    segments
        ``unique_id, segment``, e.g. from :func:`trendcast.evaluation.classify_demand`.

    Returns
    -------
    pandas.DataFrame
        ``segment`` followed by the :func:`leaderboard` columns (without
        ``time_s``), one row per segment and model, ranked within the segment;
        ``wrmsse`` weights are shares within the segment.
    """
    _require_columns(segments, ["unique_id", "segment"], "segments table")
    duplicated = segments.loc[segments["unique_id"].duplicated(), "unique_id"]
    if len(duplicated):
        raise InputError(
            f"Series appear more than once in the segments table: "
            f"{format_examples(duplicated.unique())}. Give each series one segment."
        )
    unassigned = set(per_series["unique_id"]) - set(segments["unique_id"])
    if unassigned:
        raise InputError(
            f"Series have no segment: {format_examples(sorted(unassigned))}. "
            "Classify the same panel the scores come from."
        )
    labelled = per_series.merge(segments[["unique_id", "segment"]], on="unique_id")
    return _aggregate(labelled, by=["segment"])


def best_model_per_series(per_series: pd.DataFrame, metric: str = "mase") -> pd.DataFrame:
    """The model with the lowest ``metric`` for each series.

    Ties go to the alphabetically first model. A series where every model
    scores NaN keeps its row with a missing model and score.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, model, score``, one row per series, sorted by ``unique_id``.
    """
    if metric not in LOSS_COLUMNS:
        raise ConfigError(
            f"Cannot pick a best model by {metric!r}; use one of {list(LOSS_COLUMNS)}, "
            "where lower is better."
        )
    _require_columns(per_series, ["unique_id", "model", metric], "per-series scores")
    best = per_series.sort_values(["unique_id", metric, "model"], na_position="last")
    best = best.drop_duplicates("unique_id")
    score = best[metric].astype(float)
    return pd.DataFrame(
        {
            "unique_id": best["unique_id"].to_numpy(),
            "model": best["model"].where(score.notna()).to_numpy(),
            "score": score.to_numpy(),
        }
    )
