"""Stationarity, decomposition, residual diagnostics, drivers, anomalies and the analysis bundle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trendcast.analysis.anomalies import detect_anomalies
from trendcast.analysis.decomposition import (
    autocorrelations,
    component_strengths,
    decompose,
    strengths,
)
from trendcast.analysis.diagnostics import (
    NOT_NORMAL,
    fitted_residuals,
    residual_acf,
    residual_diagnostics,
)
from trendcast.analysis.drivers import driver_analysis
from trendcast.analysis.stationarity import stationarity_tests
from trendcast.analysis.summary import analyze
from trendcast.data.calendar import TradingCalendar
from trendcast.data.columns import ColumnMap
from trendcast.data.prepare import prepare_sales
from trendcast.exceptions import ConfigError, InputError

DAILY = TradingCalendar("D")


def frame(uid: str, y: np.ndarray, start: str = "2023-01-01", **cols: np.ndarray) -> pd.DataFrame:
    ds = pd.date_range(start, periods=len(y), freq="D")
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": np.asarray(y, float), **cols})


def weekly_wave(n: int, amplitude: float = 10.0) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * np.arange(n) / 7)


# stationarity


def test_random_walks_are_unit_roots_needing_one_difference_and_white_noise_is_stationary() -> None:
    # tests at the 5% level err on about one series in twenty: judge twenty of each
    rng = np.random.default_rng(3)
    walks = [frame(f"walk{i}", 100 + rng.normal(size=400).cumsum()) for i in range(20)]
    noises = [frame(f"noise{i}", 50 + rng.normal(size=400)) for i in range(20)]
    out = stationarity_tests(pd.concat(walks + noises), DAILY)
    walk = out[out["unique_id"].str.startswith("walk")]
    noise = out[out["unique_id"].str.startswith("noise")]
    unit_root = walk[walk["verdict"] == "difference-stationary (unit root)"]
    assert len(unit_root) >= 17
    assert (unit_root["adf_p"] > 0.05).all() and (unit_root["kpss_p"] < 0.05).all()
    assert walk["d"].median() == 1 and walk["d"].eq(1).mean() >= 0.8 and walk["D"].eq(0).all()
    stationary = noise[noise["verdict"] == "stationary"]
    assert len(stationary) >= 17
    assert stationary["d"].eq(0).all() and noise["D"].eq(0).all()


def test_a_strong_weekly_season_gets_a_seasonal_difference_and_a_high_strength() -> None:
    rng = np.random.default_rng(4)
    panel = frame("weekly", 50 + weekly_wave(364) + rng.normal(size=364))
    out = stationarity_tests(panel, DAILY)
    assert out.loc[0, "D"] == 1
    assert out.loc[0, "seasonal_strength"] > 0.9
    assert "seasonal difference" in out.loc[0, "note"]


def test_a_linear_trend_plus_noise_is_trend_stationary() -> None:
    rng = np.random.default_rng(5)
    panel = frame("trend", 10 + 0.1 * np.arange(400) + 2 * rng.normal(size=400))
    assert stationarity_tests(panel, DAILY).loc[0, "verdict"] == "trend-stationary"


def test_constant_never_sold_and_short_series_get_a_verdict_instead_of_an_error() -> None:
    panel = pd.concat(
        [
            frame("zeros", np.zeros(100)),
            frame("flat", np.full(100, 3.0)),
            frame("short", np.arange(10.0)),
        ]
    )
    out = stationarity_tests(panel, DAILY).set_index("unique_id")
    assert out.loc["zeros", "verdict"] == "constant"
    assert "never sold" in out.loc["zeros", "note"]
    assert out.loc["flat", "verdict"] == "constant"
    assert out.loc["short", "verdict"] == "too short to test"
    assert out[["d", "D"]].eq(0).all().all()


def test_stationarity_refuses_an_alpha_outside_the_kpss_table() -> None:
    panel = frame("a", np.arange(50.0))
    with pytest.raises(ConfigError, match="between 0.01 and 0.10"):
        stationarity_tests(panel, DAILY, alpha=0.2)


# decomposition


def test_stl_recovers_a_planted_trend_slope_and_weekly_season() -> None:
    rng = np.random.default_rng(6)
    n = 210
    season = np.tile([3.0, 1.0, 0.0, -1.0, -2.0, -3.0, 2.0], n // 7)
    panel = frame("a", 20 + 0.2 * np.arange(n) + season + 0.3 * rng.normal(size=n))
    parts = decompose(panel, DAILY, ["a"])
    assert set(parts["component"]) == {"observed", "trend", "seasonal_7", "remainder"}
    assert parts["method"].eq("stl").all()
    trend = parts.loc[parts["component"] == "trend", "value"].to_numpy()
    slope = np.polyfit(np.arange(n)[20:-20], trend[20:-20], 1)[0]
    assert slope == pytest.approx(0.2, abs=0.01)
    seasonal = parts.loc[parts["component"] == "seasonal_7", "value"].to_numpy()
    profile = seasonal.reshape(-1, 7).mean(axis=0)
    np.testing.assert_allclose(profile, season[:7], atol=0.25)
    scores = component_strengths(parts).iloc[0]
    assert scores["trend_strength"] > 0.9 and scores["seasonal_strength"] > 0.9


def test_moving_average_strengths_score_season_trend_and_noise_for_every_product() -> None:
    rng = np.random.default_rng(7)
    n = 140
    panel = pd.concat(
        [
            frame("season", 50 + weekly_wave(n) + rng.normal(size=n)),
            frame("trend", 10 + 0.5 * np.arange(n) + rng.normal(size=n)),
            frame("noise", 50 + rng.normal(size=n)),
            frame("short", 50 + rng.normal(size=14)),
        ]
    )
    out = strengths(panel, DAILY).set_index("unique_id")
    assert out.loc["season", "seasonal_strength"] > 0.9
    assert out.loc["trend", "trend_strength"] > 0.9
    assert out.loc["noise", ["trend_strength", "seasonal_strength"]].max() < 0.4
    assert np.isnan(out.loc["short", "seasonal_strength"])


def test_acf_peaks_at_the_weekly_lag_with_bounds() -> None:
    rng = np.random.default_rng(8)
    panel = frame("a", 50 + weekly_wave(140) + rng.normal(size=140))
    acf = autocorrelations(panel, DAILY, ["a"]).set_index("lag")
    assert list(acf.index) == list(range(1, 22))
    assert acf.loc[7, "acf"] > 0.8 and acf.loc[7, "significant"]
    assert (acf["acf_bound"] > 0).all() and (acf["pacf_bound"] > 0).all()


def test_decomposing_an_unknown_product_says_so() -> None:
    with pytest.raises(InputError, match="Unknown product id"):
        decompose(frame("a", np.arange(30.0)), DAILY, ["b"])


# diagnostics


def test_diagnostics_flag_a_naive_model_on_a_seasonal_series_and_pass_a_good_one() -> None:
    rng = np.random.default_rng(9)
    n = 280
    wave = weekly_wave(n)
    panel = frame("a", 50 + wave + rng.normal(size=n))
    naive = fitted_residuals(panel, DAILY, model="naive")
    good = panel.assign(model="truth", residual=panel["y"] - 50 - wave)
    out = residual_diagnostics(pd.concat([naive, good]), DAILY).set_index("model")
    assert "leaves weekly structure" in out.loc["naive", "flag"]
    assert out.loc["naive", "lb_p_season"] < 0.01
    assert out.loc["truth", "flag"] == "fine"
    assert NOT_NORMAL not in out.loc["truth", "flag"]


def test_diagnostics_name_a_biased_model_and_read_a_backtests_errors() -> None:
    rng = np.random.default_rng(10)
    y = 100 + rng.normal(size=200)
    backtest = frame("a", y).assign(forecast=y - 20 + rng.normal(size=200), model="low")
    out = residual_diagnostics(backtest, DAILY)
    assert "under-forecasts by 20%" in out.loc[0, "flag"]
    assert out.loc[0, "bias_pct"] == pytest.approx(20, abs=1)
    acf = residual_acf(backtest, DAILY)
    assert list(acf["lag"]) == list(range(1, 15))


def test_diagnostics_refuse_a_table_without_residuals() -> None:
    with pytest.raises(InputError, match="needs a 'residual' column"):
        residual_diagnostics(frame("a", np.arange(30.0)), DAILY)


def test_ets_residuals_of_a_seasonal_series_leave_no_weekly_structure() -> None:
    rng = np.random.default_rng(11)
    panel = frame("a", 50 + weekly_wave(140) + rng.normal(size=140))
    residuals = fitted_residuals(panel, DAILY, model="ets")
    assert len(residuals) == 140
    flag = residual_diagnostics(residuals, DAILY).loc[0, "flag"]
    assert "weekly" not in flag


def test_seasonal_naive_residuals_start_after_the_first_season() -> None:
    panel = frame("a", np.arange(30.0))
    out = fitted_residuals(panel, DAILY, model="seasonal_naive")
    assert len(out) == 23 and out["residual"].eq(7).all()
    with pytest.raises(ConfigError, match="Unknown residual model"):
        fitted_residuals(panel, DAILY, model="prophet")  # type: ignore[arg-type]


# drivers


def price_panel(n_products: int = 12, n: int = 200) -> pd.DataFrame:
    """Products whose sales fall when their own price rises (and rise at weekends)."""
    rng = np.random.default_rng(12)
    frames = []
    for i in range(n_products):
        base = 10.0 + i
        price = base * np.where(rng.random(n) < 0.2, 0.8, 1.0)
        weekend = (pd.date_range("2023-01-01", periods=n).dayofweek >= 5).astype(float)
        y = 50 - 3 * (price - base) + 5 * weekend + rng.normal(size=n) * 2
        frames.append(frame(f"p{i}", y, price=price))
    return pd.concat(frames, ignore_index=True)


def test_correlation_shows_the_planted_price_effect_and_its_sign() -> None:
    out = driver_analysis(price_panel(), DAILY)
    corr = out.sales_correlation.set_index("driver")
    assert corr.loc["price", "pearson"] < -0.5
    assert corr.loc["discount", "spearman"] > 0.5
    assert corr.loc["is_weekend", "pearson"] > 0.2
    matrix = out.correlation
    pearson = matrix[(matrix["method"] == "pearson") & (matrix["var_x"] == "sales")]
    assert pearson.set_index("var_y").loc["sales", "corr"] == pytest.approx(1.0)
    assert out.groups_missing == ["promotion", "behaviour"]


def test_pca_variance_sums_to_at_most_one_and_loadings_have_a_row_per_driver() -> None:
    out = driver_analysis(price_panel(), DAILY, n_components=3)
    n_drivers = len(out.sales_correlation)
    assert out.pca_variance["explained_variance_ratio"].sum() <= 1 + 1e-9
    assert out.pca_variance["cumulative"].is_monotonic_increasing
    assert out.pca_loadings.shape == (n_drivers, 2 + 3)
    assert list(out.pca_loadings.columns[2:]) == ["PC1", "PC2", "PC3"]
    factors = [c for c in out.factor_loadings.columns if c.startswith("F")]
    assert len(out.factor_variance) == len(factors)
    assert out.factor_variance["variance_share"].sum() <= 1 + 1e-9
    assert list(out.regression["term"]) == ["const", "PC1", "PC2", "PC3"]
    assert 0 < out.r_squared < 1


def test_drivers_work_with_calendar_only_and_say_which_groups_are_missing() -> None:
    panel = price_panel()[["unique_id", "ds", "y"]]
    out = driver_analysis(panel, DAILY)
    assert out.groups_used == ["calendar"]
    assert out.groups_missing == ["price", "promotion", "behaviour"]
    assert any("no price columns" in n for n in out.notes)
    assert set(out.sales_correlation["group"]) == {"calendar"}
    assert "is_weekend" in set(out.sales_correlation["driver"])
    assert not out.regression.empty


def test_driver_analysis_refuses_a_bad_variance_target() -> None:
    with pytest.raises(ConfigError, match="variance_target"):
        driver_analysis(price_panel(2, 60), DAILY, variance_target=1.5)


# anomalies


def regular_panel(n_products: int = 6, n: int = 365) -> pd.DataFrame:
    rng = np.random.default_rng(13)
    lam = 20 * (1 + 0.3 * np.sin(2 * np.pi * np.arange(n) / 7))
    return pd.concat(
        [frame(f"p{i}", rng.poisson(lam).astype(float)) for i in range(n_products)],
        ignore_index=True,
    )


def test_anomalies_find_planted_spikes_and_a_stockout_run_and_nothing_else() -> None:
    panel = regular_panel()
    p0 = panel.index[panel["unique_id"] == "p0"]
    panel.loc[p0[[60, 150]], "y"] = 140.0
    panel.loc[p0[200:206], "y"] = 0.0
    out = detect_anomalies(panel, DAILY)
    spikes = out[out["kind"] == "spike"]
    assert list(spikes["ds"]) == list(panel.loc[p0[[60, 150]], "ds"])
    assert (spikes["y"] > spikes["upper"]).all() and (spikes["score"] > 5).all()
    stockout = out[out["kind"] == "stockout"]
    assert list(stockout["ds"]) == list(panel.loc[p0[200:206], "ds"])
    assert stockout["likely_cause"].str.startswith("stock-out signature: 6 zero periods").all()
    assert set(out["unique_id"]) == {"p0"}


def test_a_planted_festival_spike_is_attributed_to_its_festival() -> None:
    panel = regular_panel()
    singles_day = (panel["unique_id"] == "p1") & (panel["ds"] == "2023-11-11")
    panel.loc[singles_day, "y"] = 150.0
    out = detect_anomalies(panel, DAILY)
    row = out[(out["unique_id"] == "p1") & (out["ds"] == "2023-11-11")].iloc[0]
    assert row["kind"] == "spike"
    assert "festival: double11" in row["likely_cause"]


def test_a_spike_on_a_price_cut_with_a_promotion_names_both() -> None:
    panel = regular_panel(4).assign(price=10.0, promo=0.0)
    row = panel.index[(panel["unique_id"] == "p2") & (panel["ds"] == "2023-03-15")]
    panel.loc[row, ["y", "price", "promo"]] = [130.0, 7.0, 1.0]
    out = detect_anomalies(panel, DAILY)
    cause = out.loc[out["ds"] == "2023-03-15", "likely_cause"].iloc[0]
    assert "promotion" in cause and "price cut (-30% vs recent median)" in cause


def test_intermittent_products_are_skipped_rather_than_flagged() -> None:
    rng = np.random.default_rng(14)
    y = rng.poisson(0.2, size=365) * rng.integers(1, 20, size=365)
    out = detect_anomalies(frame("rare", y), DAILY)
    assert out.empty
    assert list(out.columns[:3]) == ["unique_id", "ds", "y"]


def test_anomaly_detection_refuses_a_missing_target_column() -> None:
    with pytest.raises(InputError, match=r"Columns missing from the panel: \['y'\]"):
        detect_anomalies(
            pd.DataFrame({"unique_id": ["a"], "ds": [pd.Timestamp("2024-01-01")]}), DAILY
        )


# the bundle


def test_analyze_bundles_every_table_and_reports_each_step() -> None:
    rng = np.random.default_rng(15)
    n = 120
    lam = np.outer([5, 20, 40], 1 + 0.4 * np.sin(2 * np.pi * np.arange(n) / 7))
    raw = pd.DataFrame(
        {
            "sku": np.repeat(["a", "b", "c"], n),
            "date": np.tile(pd.date_range("2024-01-01", periods=n), 3),
            "qty": rng.poisson(lam).ravel(),
        }
    )
    data = prepare_sales(raw, ColumnMap(id_cols=("sku",), time_col="date", target_col="qty"))
    lines: list[str] = []
    result = analyze(data, top_n=2, residual_model="seasonal_naive", progress=lines.append)
    assert result.focus_ids == ["c", "b"]
    assert set(result.decomposition["unique_id"]) == {"b", "c"}
    assert len(result.stationarity) == len(result.strengths) == 3
    assert set(result.strengths.set_index("unique_id")["method"]) == {"stl", "moving_average"}
    assert len(result.diagnostics) == 3
    assert [line.split(":")[0] for line in lines] == [
        f"analysis {s}"
        for s in (
            "strengths",
            "stationarity",
            "decomposition",
            "diagnostics",
            "drivers",
            "anomalies",
        )
    ]
    assert set(result.timings) == {
        "strengths",
        "stationarity",
        "decomposition",
        "diagnostics",
        "drivers",
        "anomalies",
    }
    tables = result.tables()
    assert all(isinstance(t, pd.DataFrame) for t in tables.values())
    assert tables["drivers_fit"].loc[0, "groups_missing"] == "price, promotion, behaviour"
