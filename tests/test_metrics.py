import math

import numpy as np
import pandas as pd
import pytest
from utilsforecast import losses

from trendcast.evaluation import (
    bias,
    coverage,
    evaluate,
    mae,
    mape,
    mse,
    pinball_loss,
    r2,
    rmse,
    smape,
)
from trendcast.exceptions import ConfigError, InputError

DAYS = pd.date_range("2024-01-01", periods=10, freq="D")


def panel(values: dict[str, list[float]], price: list[float] | None = None) -> pd.DataFrame:
    frames = []
    for uid, ys in values.items():
        frame = pd.DataFrame({"unique_id": uid, "ds": DAYS[: len(ys)], "y": ys})
        if price is not None:
            frame["price"] = price[: len(ys)]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def backtest_rows(rows: list[tuple], levels: tuple[int, ...] = ()) -> pd.DataFrame:
    """Rows of (model, unique_id, day, cutoff_day, y, forecast, lo/hi per level).

    Values beyond the columns of ``levels`` are ignored, so rows with 80% bounds
    also serve a backtest without intervals.
    """
    columns = ["model", "unique_id", "day", "cutoff_day", "y", "forecast"]
    for level in levels:
        columns += [f"forecast-lo-{level}", f"forecast-hi-{level}"]
    frame = pd.DataFrame([row[: len(columns)] for row in rows], columns=columns)
    frame["ds"] = DAYS[frame.pop("day") - 1]
    frame["cutoff"] = DAYS[frame.pop("cutoff_day") - 1]
    return frame


# Series "a": the first six days train the first window; days 7-10 are test periods
# whose large swings would change the MASE scale if they leaked into it.
HISTORY_A = [1.0, 3.0, 3.0, 5.0, 2.0, 6.0, 10.0, 0.0, 10.0, 0.0]
# model "m" forecasts days 7-8 from cutoff day 6 and days 9-10 from cutoff day 8
BACKTEST_A = [
    ("m", "a", 7, 6, 10.0, 8.0, 6.0, 11.0),
    ("m", "a", 8, 6, 0.0, 1.0, -1.0, 2.0),
    ("m", "a", 9, 8, 10.0, 13.0, 11.0, 15.0),
    ("m", "a", 10, 8, 0.0, 0.0, 0.0, 1.0),
]


def test_mae_mse_and_rmse_match_hand_computed_values():
    y, y_hat = [1, 2, 3, 4], [2, 2, 5, 0]  # errors 1, 0, 2, -4

    assert mae(y, y_hat) == 1.75
    assert mse(y, y_hat) == 5.25
    assert rmse(y, y_hat) == pytest.approx(math.sqrt(5.25))


def test_mape_skips_periods_with_zero_actuals():
    # |10-12|/10 = 0.2 and |20-15|/20 = 0.25; the zero actual is left out
    assert mape([0, 10, 20], [5, 12, 15]) == pytest.approx(22.5)


def test_mape_is_nan_when_every_actual_is_zero():
    assert math.isnan(mape([0, 0], [1, 2]))


def test_smape_counts_zero_forecast_of_zero_actual_as_perfect():
    # terms: 0/0 -> 0, 200*5/5 = 200, 200*20/40 = 100
    assert smape([0, 0, 10], [0, 5, 30]) == pytest.approx(100.0)


def test_smape_reaches_200_when_one_side_is_zero():
    assert smape([0, 4], [3, 0]) == 200.0


def test_bias_is_positive_when_forecasts_run_high():
    assert bias([10, 20], [12, 21]) == 1.5


def test_r2_compares_squared_errors_with_the_spread_of_actuals():
    # SST = 1 + 0 + 1 = 2, SSE = 1
    assert r2([1, 2, 3], [1, 2, 4]) == 0.5


def test_r2_is_nan_for_constant_actuals():
    assert math.isnan(r2([4, 4, 4], [4, 5, 4]))


def test_pinball_loss_weighs_under_forecasts_by_q_and_over_forecasts_by_one_minus_q():
    # under by 2: 0.9 * 2 = 1.8; over by 3: 0.1 * 3 = 0.3
    assert pinball_loss([10, 10], [8, 13], q=0.9) == pytest.approx(1.05)


def test_pinball_loss_at_the_median_is_half_the_mae():
    assert pinball_loss([1, 2, 3, 4], [2, 2, 5, 0], q=0.5) == pytest.approx(0.875)


@pytest.mark.parametrize("q", [0.0, 1.0, 1.5])
def test_pinball_loss_rejects_a_quantile_outside_zero_and_one(q):
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        pinball_loss([1], [1], q=q)


def test_coverage_counts_actuals_on_the_interval_bounds_as_inside():
    # inside, above, on the upper bound, on the lower bound
    assert coverage([1, 5, 9, 4], [0, 0, 0, 4], [2, 4, 9, 6]) == 75.0


def test_array_metrics_reject_forecasts_of_a_different_length():
    with pytest.raises(InputError, match=r"differ in shape: \(3,\) vs \(2,\)"):
        mae([1, 2, 3], [1, 2])


def test_evaluate_returns_one_row_per_model_and_series_with_the_documented_columns():
    rows = BACKTEST_A + [
        ("n", "a", day, cut, y, y, lo, hi) for _, _, day, cut, y, _, lo, hi in BACKTEST_A
    ]
    result = evaluate(backtest_rows(rows, (80,)), panel({"a": HISTORY_A}), 2, levels=[80])

    assert list(result.columns) == [
        "model", "unique_id", "n", "mae", "mse", "rmse", "mape", "smape", "bias", "r2",
        "mase", "rmsse", "pinball", "scaled_pinball", "coverage_80", "volume", "revenue",
    ]  # fmt: skip
    assert result[["model", "unique_id", "n"]].values.tolist() == [["m", "a", 4], ["n", "a", 4]]
    perfect = result.iloc[1]
    assert (perfect["mae"], perfect["mase"], perfect["r2"]) == (0.0, 0.0, 1.0)


def test_evaluate_pools_errors_over_all_windows():
    result = evaluate(backtest_rows(BACKTEST_A), panel({"a": HISTORY_A}), season_length=2)
    row = result.iloc[0]

    # errors (forecast - actual): -2, 1, 3, 0 on actuals 10, 0, 10, 0
    assert row["mae"] == 1.5
    assert row["mse"] == 3.5
    assert row["rmse"] == pytest.approx(math.sqrt(3.5))
    assert row["bias"] == 0.5
    assert row["mape"] == pytest.approx(25.0)  # (2/10 + 3/10) / 2, zero actuals skipped
    assert row["smape"] == pytest.approx((200 * 2 / 18 + 200 * 1 / 1 + 200 * 3 / 23 + 0) / 4)
    assert row["r2"] == pytest.approx(1 - 14 / 100)  # SST: 4 * 5**2
    assert row["volume"] == 20.0
    assert math.isnan(row["revenue"])


def test_mase_uses_only_history_before_the_first_cutoff():
    result = evaluate(backtest_rows(BACKTEST_A), panel({"a": HISTORY_A}), season_length=2)
    row = result.iloc[0]

    # lag-2 errors on days 1-6: 2, 2, -1, 1 -> MAE scale 1.5, MSE scale 2.5.
    # With the test days leaking in the MAE scale would be 20/8 and MASE 0.6.
    assert row["mase"] == pytest.approx(1.5 / 1.5)
    assert row["rmsse"] == pytest.approx(math.sqrt(3.5 / 2.5))


def test_pinball_averages_the_quantiles_implied_by_the_intervals_and_the_median():
    result = evaluate(backtest_rows(BACKTEST_A, (80,)), panel({"a": HISTORY_A}), 2, levels=(80,))
    row = result.iloc[0]

    # per-quantile means: q=0.5 -> 0.75, q=0.1 (lo) -> 0.35, q=0.9 (hi) -> 0.225
    expected = (0.75 + 0.35 + 0.225) / 3
    assert row["pinball"] == pytest.approx(expected)
    assert row["scaled_pinball"] == pytest.approx(expected / 1.5)
    # inside, inside, below the lower bound, on the lower bound
    assert row["coverage_80"] == 75.0


def test_pinball_without_levels_is_half_the_mae():
    result = evaluate(backtest_rows(BACKTEST_A), panel({"a": HISTORY_A}), season_length=2)

    assert result.loc[0, "pinball"] == pytest.approx(0.75)


def test_a_model_without_intervals_gets_nan_coverage_and_pinball():
    rows = BACKTEST_A + [("naive", "a", 7, 6, 10.0, 6.0, np.nan, np.nan)]
    result = evaluate(backtest_rows(rows, (80,)), panel({"a": HISTORY_A}), 2, levels=(80,))
    naive = result.set_index("model").loc["naive"]

    assert math.isnan(naive["coverage_80"])
    assert math.isnan(naive["pinball"])
    assert naive["mae"] == 4.0


@pytest.mark.parametrize(
    ("train", "season_length", "y", "forecast", "expected_mase", "expected_rmsse"),
    [
        # seasonally flat: lag-2 scale 0, lag-1 errors all 2 -> scales 2 and 4
        ([1.0, 3.0, 1.0, 3.0, 1.0, 3.0], 2, 1.0, 3.0, 1.0, 1.0),
        # fully flat: both naive scales 0 -> mean |y| = 5 and mean y² = 25
        ([5.0, 5.0, 5.0, 5.0], 2, 5.0, 7.0, 0.4, 0.4),
        # shorter than a season plus one: lag-1 errors 1 and 2 -> scales 1.5 and 2.5
        ([1.0, 2.0, 4.0], 7, 4.0, 7.0, 2.0, math.sqrt(9 / 2.5)),
    ],
)
def test_scaled_errors_fall_back_when_the_seasonal_scale_is_zero_or_undefined(
    train, season_length, y, forecast, expected_mase, expected_rmsse
):
    cutoff_day = len(train)
    history = panel({"s": [*train, y]})
    backtest = backtest_rows([("m", "s", cutoff_day + 1, cutoff_day, y, forecast)])

    row = evaluate(backtest, history, season_length).iloc[0]

    assert row["mase"] == pytest.approx(expected_mase)
    assert row["rmsse"] == pytest.approx(expected_rmsse)
    assert row["scaled_pinball"] == pytest.approx(expected_mase / 2)


def test_scaled_errors_are_nan_for_a_series_that_never_sold():
    history = panel({"s": [0.0, 0.0, 0.0, 0.0, 0.0]})
    backtest = backtest_rows([("m", "s", 5, 4, 0.0, 1.0)])

    row = evaluate(backtest, history, season_length=2).iloc[0]

    assert (
        math.isnan(row["mase"]) and math.isnan(row["rmsse"]) and math.isnan(row["scaled_pinball"])
    )
    assert row["mae"] == 1.0


def test_revenue_sums_price_times_sales_over_the_last_four_seasons_before_the_first_cutoff():
    history = panel({"a": HISTORY_A}, price=[1, 1, 1, 1, 2, 2, 2, 2, 2, 2])

    result = evaluate(backtest_rows(BACKTEST_A), history, season_length=1)

    # days 3-6: 3*1 + 5*1 + 2*2 + 6*2
    assert result.loc[0, "revenue"] == 24.0


def test_evaluate_names_the_columns_missing_from_the_backtest():
    backtest = backtest_rows(BACKTEST_A).drop(columns=["cutoff", "forecast"])

    with pytest.raises(
        InputError, match=r"missing from the backtest frame: \['cutoff', 'forecast'\]"
    ):
        evaluate(backtest, panel({"a": HISTORY_A}), season_length=2)


def test_evaluate_names_the_interval_columns_missing_for_a_level():
    with pytest.raises(InputError, match=r"\['forecast-lo-95', 'forecast-hi-95'\]"):
        evaluate(backtest_rows(BACKTEST_A), panel({"a": HISTORY_A}), 2, levels=(95,))


def test_evaluate_rejects_series_without_history():
    with pytest.raises(InputError, match=r"no history: \['a'\]"):
        evaluate(backtest_rows(BACKTEST_A), panel({"b": HISTORY_A}), season_length=2)


def test_evaluate_rejects_missing_forecasts_and_names_the_model():
    rows = [*BACKTEST_A[:3], ("m", "a", 10, 8, 0.0, np.nan)]

    with pytest.raises(InputError, match=r"\(model, unique_id\) \[\('m', 'a'\)\]"):
        evaluate(backtest_rows(rows), panel({"a": HISTORY_A}), 2)


@pytest.mark.parametrize(("season_length", "levels"), [(0, ()), (2, (0,)), (2, (100,))])
def test_evaluate_rejects_an_invalid_season_length_or_level(season_length, levels):
    with pytest.raises(ConfigError, match="season_length|levels"):
        evaluate(backtest_rows(BACKTEST_A), panel({"a": HISTORY_A}), season_length, levels)


def test_evaluate_agrees_with_utilsforecast_on_a_single_window():
    rng = np.random.default_rng(7)
    dates = pd.date_range("2024-01-01", periods=60, freq="D")
    history = pd.DataFrame(
        {
            "unique_id": np.repeat(["a", "b", "c"], 60),
            "ds": np.tile(dates, 3),
            "y": rng.poisson(8, 180).astype(float),
        }
    )
    cutoff = dates[45]
    test = history[history["ds"] > cutoff].assign(cutoff=cutoff)
    test["m"] = test["y"] + rng.normal(0, 2, len(test))
    test["m-lo-80"], test["m-hi-80"] = test["m"] - 2.5, test["m"] + 2.5
    backtest = test.rename(
        columns={"m": "forecast", "m-lo-80": "forecast-lo-80", "m-hi-80": "forecast-hi-80"}
    ).assign(model="m")

    ours = evaluate(backtest, history, season_length=7, levels=(80,)).set_index("unique_id")
    train = history[history["ds"] <= cutoff]
    theirs = {
        "mae": losses.mae(test, ["m"]),
        "mse": losses.mse(test, ["m"]),
        "mase": losses.mase(test, ["m"], seasonality=7, train_df=train),
        "coverage_80": losses.coverage(test, ["m"], level=80).assign(m=lambda d: 100 * d["m"]),
    }
    for metric, frame in theirs.items():
        expected = frame.set_index("unique_id")["m"]
        np.testing.assert_allclose(ours[metric], expected.loc[ours.index], err_msg=metric)
