import math

import numpy as np
import pandas as pd
import pytest

from trendcast.evaluation import (
    best_model_per_series,
    classify_demand,
    evaluate,
    leaderboard,
    segment_leaderboard,
)
from trendcast.exceptions import ConfigError, InputError

METRICS = ["mae", "mse", "rmse", "mape", "smape", "bias", "r2", "rmsse", "pinball"]


def scores(rows: list[dict]) -> pd.DataFrame:
    """Per-series scores as evaluate returns them; unspecified metrics are 1.0."""
    frame = pd.DataFrame(rows)
    for metric in METRICS:
        if metric not in frame:
            frame[metric] = 1.0
    frame["scaled_pinball"] = frame["pinball"] / 2
    frame["n"] = 28
    frame["coverage_80"] = frame.get("coverage_80", 80.0)
    return frame


def three_models() -> pd.DataFrame:
    # revenue: s1 is 3/4 of sales value; volume: s2 is 3/4 of units
    base = {
        "s1": {"volume": 10.0, "revenue": 300.0},
        "s2": {"volume": 30.0, "revenue": 100.0},
        "s3": {"volume": 0.0, "revenue": 0.0},
    }
    mase = {"a": [0.6, 1.0, np.nan], "b": [0.5, 0.5, 0.5], "c": [np.nan] * 3}
    rmsse = {"a": [1.0, 2.0, np.nan], "b": [1.0, 1.0, 1.0], "c": [np.nan] * 3}
    rows = [
        {"model": model, "unique_id": uid, "mase": mase[model][i], "rmsse": rmsse[model][i]}
        | base[uid]
        for model in mase
        for i, uid in enumerate(base)
    ]
    return scores(rows)


def test_leaderboard_ranks_models_by_mean_mase_and_puts_nan_last():
    board = leaderboard(three_models())

    assert board["model"].tolist() == ["b", "a", "c"]
    assert board["rank"].tolist() == [1, 2, 3]
    assert board["mase"].tolist()[:2] == [0.5, pytest.approx(0.8)]  # a: NaN ignored
    assert math.isnan(board["mase"].iloc[2])


def test_leaderboard_has_the_documented_columns():
    board = leaderboard(three_models(), timings={"a": 1.5, "b": 0.2})

    assert list(board.columns) == [
        "model", "series", "mae", "rmse", "mape", "smape", "mase", "rmsse", "r2", "bias",
        "pinball", "scaled_pinball", "coverage_80", "wrmsse", "time_s", "rank",
    ]  # fmt: skip
    assert board["series"].tolist() == [3, 3, 3]
    assert board["time_s"].tolist()[:2] == [0.2, 1.5]
    assert math.isnan(board["time_s"].iloc[2])


def test_leaderboard_omits_time_without_timings():
    assert "time_s" not in leaderboard(three_models()).columns


def test_wrmsse_weighs_series_by_revenue_share_when_every_series_has_revenue():
    board = leaderboard(three_models()).set_index("model")

    # a: 3/4 * 1.0 + 1/4 * 2.0; s3 has no RMSSE and drops out
    assert board.loc["a", "wrmsse"] == pytest.approx(1.25)
    assert board.loc["b", "wrmsse"] == pytest.approx(1.0)
    assert math.isnan(board.loc["c", "wrmsse"])


def test_wrmsse_falls_back_to_volume_share_when_a_revenue_is_missing():
    per_series = three_models()
    per_series.loc[per_series["unique_id"] == "s3", "revenue"] = np.nan

    board = leaderboard(per_series).set_index("model")

    # a: 1/4 * 1.0 + 3/4 * 2.0
    assert board.loc["a", "wrmsse"] == pytest.approx(1.75)


def test_leaderboard_averages_coverage_over_series():
    per_series = three_models()
    per_series["coverage_80"] = [70.0, 80.0, 90.0] * 3

    board = leaderboard(per_series)

    assert board["coverage_80"].tolist() == [80.0, 80.0, 80.0]


def test_leaderboard_names_missing_columns():
    with pytest.raises(InputError, match=r"missing from the per-series scores: \['mase'\]"):
        leaderboard(three_models().drop(columns="mase"))


def test_segment_leaderboard_ranks_models_within_each_segment():
    per_series = scores(
        [
            {"model": "a", "unique_id": "s1", "mase": 0.5, "volume": 1.0},
            {"model": "b", "unique_id": "s1", "mase": 0.9, "volume": 1.0},
            {"model": "a", "unique_id": "s2", "mase": 1.4, "volume": 1.0},
            {"model": "b", "unique_id": "s2", "mase": 1.1, "volume": 1.0},
        ]
    )
    segments = pd.DataFrame({"unique_id": ["s1", "s2"], "segment": ["fast", "lumpy"]})

    board = segment_leaderboard(per_series, segments)

    assert board[["segment", "model", "rank"]].values.tolist() == [
        ["fast", "a", 1],
        ["fast", "b", 2],
        ["lumpy", "b", 1],
        ["lumpy", "a", 2],
    ]
    assert board.columns[:3].tolist() == ["segment", "model", "series"]


def test_segment_leaderboard_rejects_series_without_a_segment():
    segments = pd.DataFrame({"unique_id": ["s1", "s2"], "segment": ["fast", "slow"]})

    with pytest.raises(InputError, match=r"no segment: \['s3'\]"):
        segment_leaderboard(three_models(), segments)


def test_best_model_per_series_picks_the_lowest_score_and_breaks_ties_by_name():
    per_series = scores(
        [
            {"model": "b", "unique_id": "s1", "mase": 0.7},
            {"model": "a", "unique_id": "s1", "mase": 0.9},
            {"model": "b", "unique_id": "s2", "mase": 0.4},
            {"model": "a", "unique_id": "s2", "mase": 0.4},
            {"model": "a", "unique_id": "s3", "mase": np.nan},
            {"model": "b", "unique_id": "s3", "mase": np.nan},
        ]
    )

    best = best_model_per_series(per_series)

    assert best.columns.tolist() == ["unique_id", "model", "score"]
    assert best.iloc[:2].values.tolist() == [["s1", "b", 0.7], ["s2", "a", 0.4]]
    assert best.loc[2, "unique_id"] == "s3"
    assert pd.isna(best.loc[2, "model"]) and math.isnan(best.loc[2, "score"])


def test_best_model_per_series_rejects_a_metric_where_higher_is_better():
    with pytest.raises(ConfigError, match="Cannot pick a best model by 'r2'"):
        best_model_per_series(three_models(), metric="r2")


def test_leaderboard_and_segments_accept_the_output_of_evaluate():
    days = pd.date_range("2024-01-01", periods=8, freq="D")
    history = pd.DataFrame(
        {
            "unique_id": np.repeat(["s1", "s2"], 8),
            "ds": np.tile(days, 2),
            "y": [1.0, 2, 3, 4, 5, 6, 7, 8, 0, 3, 0, 0, 3, 0, 0, 3],
        }
    )
    test = history[history["ds"] > days[5]].assign(cutoff=days[5])
    backtest = pd.concat(
        [test.assign(model="exact", forecast=test["y"]), test.assign(model="off", forecast=1.0)]
    )

    per_series = evaluate(backtest, history, season_length=1)
    board = leaderboard(per_series)
    by_segment = segment_leaderboard(per_series, classify_demand(history))

    assert board[["model", "rank"]].values.tolist() == [["exact", 1], ["off", 2]]
    assert board.loc[0, "wrmsse"] == 0.0
    assert by_segment[["segment", "model"]].values.tolist() == [
        ["fast", "exact"],
        ["fast", "off"],
        ["intermittent", "exact"],
        ["intermittent", "off"],
    ]
