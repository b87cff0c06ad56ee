"""Hierarchical reconciliation: the hierarchy from product attributes, coherent and non-negative
forecasts with intervals for every method, MinTrace's accuracy gain, and ``--reconcile``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from typer.testing import CliRunner

import trendcast as tc
from trendcast.cli.main import app
from trendcast.decisions.reconcile import (
    PRODUCT_LEVEL,
    RECONCILE_METHODS,
    TOTAL,
    Hierarchy,
    build_hierarchy,
    hierarchy_forecast,
    reconcile_forecasts,
)
from trendcast.exceptions import ConfigError, InputError

LEVELS = (80, 95)


def _sales(n_products: int = 8, days: int = 150, seed: int = 0) -> pd.DataFrame:
    """A daily sales table: products in two categories and two stores, weekly cycles."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    weekly = 1 + 0.4 * np.sin(2 * np.pi * np.arange(days) / 7)
    frames = []
    for i in range(n_products):
        frames.append(
            pd.DataFrame(
                {
                    "sku": f"p{i}",
                    "date": dates,
                    "qty": rng.poisson((1 + i) * weekly),
                    "category": "toys" if i % 2 else "books",
                    "store": f"s{i // 4}",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def data() -> tc.PreparedData:
    return tc.load_sales(_sales(), mode="sales")


def _assert_coherent(frame: pd.DataFrame, hierarchy_series: pd.DataFrame, s: np.ndarray) -> None:
    ids = hierarchy_series["unique_id"].to_numpy()
    wide = frame.pivot(index="unique_id", columns="ds", values="forecast").loc[ids].to_numpy()
    bottom = wide[-s.shape[1] :]
    np.testing.assert_allclose(wide, s @ bottom, rtol=1e-9, atol=1e-6)


def test_build_hierarchy_has_the_total_every_attribute_value_and_the_products(
    data: tc.PreparedData,
) -> None:
    hierarchy, history = build_hierarchy(data.panel, data.static_df)
    assert hierarchy.levels == [TOTAL, "category", "store", PRODUCT_LEVEL]
    assert hierarchy.series["unique_id"].tolist()[:5] == [
        "total",
        "category/books",
        "category/toys",
        "store/s0",
        "store/s1",
    ]
    assert hierarchy.summing.shape == (5 + 8, 8)
    totals = history.groupby("unique_id")["y"].sum()
    assert totals["total"] == pytest.approx(data.panel["y"].sum())
    books = data.static_df.loc[data.static_df["category"] == "books", "unique_id"]
    assert totals["category/books"] == pytest.approx(
        data.panel.loc[data.panel["unique_id"].isin(books), "y"].sum()
    )


def test_attributes_that_add_no_level_are_left_out() -> None:
    panel = pd.DataFrame(
        {"unique_id": ["a", "b", "c"], "ds": pd.Timestamp("2024-01-01"), "y": [1.0, 2.0, 3.0]}
    )
    static = pd.DataFrame(
        {"unique_id": ["a", "b", "c"], "country": "UK", "name": ["x", "y", "z"], "cat": "k"}
    )
    static.loc[2, "cat"] = "m"
    hierarchy, _ = build_hierarchy(panel, static)
    assert hierarchy.levels == [TOTAL, "cat", PRODUCT_LEVEL]
    with pytest.raises(ConfigError, match=r"Unknown hierarchy level\(s\) \['brand'\]"):
        build_hierarchy(panel, static, attributes=["brand"])


@pytest.mark.parametrize("method", RECONCILE_METHODS)
def test_every_method_gives_coherent_non_negative_forecasts_with_intervals(
    data: tc.PreparedData, method: str
) -> None:
    result = hierarchy_forecast(data, horizon=7, model="auto_ets", method=method, windows=2)
    fc = result.forecast
    assert set(fc["level"]) == {TOTAL, "category", "store", PRODUCT_LEVEL}
    assert len(fc) == len(result.hierarchy.series) * 7
    _assert_coherent(fc, result.hierarchy.series, result.hierarchy.summing)
    value_cols = [
        "forecast",
        "forecast-lo-80",
        "forecast-hi-80",
        "forecast-lo-95",
        "forecast-hi-95",
    ]
    assert fc[value_cols].notna().all().all()
    assert (fc[value_cols] >= 0).all().all()
    assert (fc["forecast-lo-95"] <= fc["forecast-lo-80"]).all()
    assert (fc["forecast-lo-80"] <= fc["forecast"] + 1e-9).all()
    assert (fc["forecast"] <= fc["forecast-hi-80"] + 1e-9).all()
    assert (fc["forecast-hi-80"] <= fc["forecast-hi-95"]).all()
    out = result.products()
    assert list(out.columns) == ["unique_id", "ds", *value_cols, "model"]
    assert set(out["unique_id"]) == set(data.panel["unique_id"])


def test_bottom_up_keeps_the_product_forecasts_and_sums_them(data: tc.PreparedData) -> None:
    result = hierarchy_forecast(data, horizon=7, model="auto_ets", method="bottom_up")
    products = result.forecast[result.forecast["level"] == PRODUCT_LEVEL]
    np.testing.assert_allclose(products["forecast"], products["base_forecast"], atol=1e-9)


def test_top_down_splits_the_total_by_last_year_shares(data: tc.PreparedData) -> None:
    result = hierarchy_forecast(data, horizon=7, model="auto_ets", method="top_down")
    fc = result.forecast
    total = fc[fc["unique_id"] == TOTAL].set_index("ds")
    np.testing.assert_allclose(total["forecast"], total["base_forecast"], rtol=1e-9)
    share = data.panel.groupby("unique_id")["y"].sum() / data.panel["y"].sum()
    p3 = fc[fc["unique_id"] == "p3"].set_index("ds")
    np.testing.assert_allclose(p3["forecast"], total["forecast"] * share["p3"], rtol=1e-9)


def _synthetic_hierarchy(
    rng: np.random.Generator, h: int, n_errors: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Hierarchy]:
    """Two categories of three products; base forecasts = truth + correlated noise."""
    panel = pd.DataFrame(
        {"unique_id": [f"p{i}" for i in range(6)], "ds": pd.Timestamp("2024-01-01"), "y": 1.0}
    )
    static = pd.DataFrame({"unique_id": panel["unique_id"], "cat": ["a"] * 3 + ["b"] * 3})
    hierarchy, _ = build_hierarchy(panel, static)
    s = hierarchy.summing
    n = s.shape[0]
    # products are noisy; the aggregates' own forecasts are relatively good
    sd = np.array([4.0, 3.0, 3.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0])
    corr = 0.3 + 0.7 * np.eye(n)
    cov = corr * np.outer(sd, sd)

    def noise(k: int) -> np.ndarray:
        return rng.multivariate_normal(np.zeros(n), cov, size=k).T

    dates = pd.date_range("2024-02-01", periods=h, freq="D")
    truth = s @ rng.uniform(40, 60, (6, h))
    base = truth + noise(h)
    ids = hierarchy.series["unique_id"].to_numpy()
    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(ids, h),
            "ds": np.tile(dates, n),
            "forecast": base.ravel(),
        }
    )
    for level in LEVELS:
        z = norm.ppf(0.5 + level / 200)
        frame[f"forecast-lo-{level}"] = frame["forecast"] - z * np.repeat(sd, h)
        frame[f"forecast-hi-{level}"] = frame["forecast"] + z * np.repeat(sd, h)
    past = pd.date_range("2023-01-01", periods=n_errors, freq="D")
    errors = pd.DataFrame(
        {
            "unique_id": np.repeat(ids, n_errors),
            "ds": np.tile(past, n),
            "error": noise(n_errors).ravel(),
        }
    )
    actual = pd.DataFrame(
        {"unique_id": np.repeat(ids, h), "ds": np.tile(dates, n), "y": truth.ravel()}
    )
    return frame, errors, actual, hierarchy


def test_mint_shrink_is_more_accurate_than_the_base_forecasts_on_average() -> None:
    rng = np.random.default_rng(3)
    base_sq, mint_sq = [], []
    for _ in range(40):
        base, errors, actual, hierarchy = _synthetic_hierarchy(rng, h=5, n_errors=60)
        mint = reconcile_forecasts(base, hierarchy, method="mint_shrink", errors=errors)
        _assert_coherent(mint, hierarchy.series, hierarchy.summing)
        truth = actual.set_index(["unique_id", "ds"])["y"]
        base_sq.append(((base.set_index(["unique_id", "ds"])["forecast"] - truth) ** 2).mean())
        mint_sq.append(((mint.set_index(["unique_id", "ds"])["forecast"] - truth) ** 2).mean())
    assert np.mean(mint_sq) < 0.9 * np.mean(base_sq)


def test_negative_mint_results_are_solved_again_with_products_at_zero_or_above() -> None:
    rng = np.random.default_rng(0)
    base, errors, _, hierarchy = _synthetic_hierarchy(rng, h=3, n_errors=60)
    # a category forecast far below its products pushes a plain MinTrace result below zero
    low = base["unique_id"].isin(["p0", "p1"])
    base.loc[low, [c for c in base.columns if c.startswith("forecast")]] = 0.0
    base.loc[base["unique_id"] == "cat/a", "forecast"] = 1.0
    out = reconcile_forecasts(base, hierarchy, method="wls_struct")
    assert (out["forecast"] >= 0).all()
    _assert_coherent(out, hierarchy.series, hierarchy.summing)


def test_bad_inputs_are_refused_with_the_fix() -> None:
    rng = np.random.default_rng(0)
    base, _, _, hierarchy = _synthetic_hierarchy(rng, h=2, n_errors=10)
    with pytest.raises(ConfigError, match="Unknown reconciliation method 'middle_out'"):
        reconcile_forecasts(base, hierarchy, method="middle_out")
    with pytest.raises(InputError, match="mint_shrink needs the backtest errors"):
        reconcile_forecasts(base, hierarchy, method="mint_shrink")
    with pytest.raises(
        InputError, match=r"Base forecasts are missing for 1 series, e\.g\. \['cat/b'\]"
    ):
        reconcile_forecasts(base[base["unique_id"] != "cat/b"], hierarchy, method="bottom_up")


def test_forecast_reconcile_writes_the_product_level_in_the_forecast_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _sales().to_csv(tmp_path / "sales.csv", index=False)
    result = CliRunner().invoke(
        app,
        [
            "forecast",
            "-i",
            "sales.csv",
            "-o",
            "fc.csv",
            "--model",
            "auto_ets",
            "-h",
            "7",
            "--reconcile",
            "bottom_up",
        ],
    )
    assert result.exit_code == 0, result.output
    fc = pd.read_csv(tmp_path / "fc.csv")
    assert list(fc.columns[:3]) == ["sku", "date", "forecast"]
    assert len(fc) == 8 * 7
    levels = pd.read_csv(tmp_path / "fc_levels.csv")
    assert set(levels["level"]) == {TOTAL, "category", "store", PRODUCT_LEVEL}
    total = levels[levels["level"] == TOTAL].set_index("date")["forecast"]
    np.testing.assert_allclose(total, fc.groupby("date")["forecast"].sum(), rtol=1e-6)


def test_run_with_reconcile_writes_every_level_and_reports_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = tc.run(
        _sales(),
        out_dir=tmp_path / "out",
        store_path=tmp_path / "runs.duckdb",
        mode="sales",
        horizon=7,
        windows=2,
        model="auto_ets",
        models=["seasonal_naive"],
        reconcile="mint_shrink",
    )
    levels = pd.read_csv(tmp_path / "out" / "forecast_levels.csv")
    total = levels[levels["level"] == TOTAL].set_index("date")["forecast"]
    products = pd.read_csv(tmp_path / "out" / "forecast.csv")
    np.testing.assert_allclose(total, products.groupby("date")["forecast"].sum(), rtol=1e-6)
    assert result.config["reconcile"] == "mint_shrink" and "reconcile" in result.timings
    document = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert 'id="hierarchy-level"' in document and 'data-plot-set="fig-hierarchy"' in document
    assert "category/books" not in document  # the table shows the value under its level
    assert ">books<" in document and 'data-nav="decisions"' in document
    reported = CliRunner().invoke(
        app, ["report", "--store", str(tmp_path / "runs.duckdb"), "-o", "again.html"]
    )
    assert reported.exit_code == 0, reported.output
    again = (tmp_path / "again.html").read_text(encoding="utf-8")
    assert 'id="hierarchy-level"' in again and 'id="decisions"' in again
