"""Trend detection: Mann-Kendall and Theil-Sen against independent implementations, the labels,
growth, rankings, category trends and the ``trendcast trends`` command."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pymannkendall as mk
import pytest
from scipy.stats import theilslopes
from typer.testing import CliRunner

from trendcast.analysis.trends import (
    MannKendall,
    category_trends,
    default_window,
    detect_trends,
    mann_kendall,
    trending_products,
)
from trendcast.cli.main import app
from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import ConfigError, InputError

WEEKLY = TradingCalendar("W")
TOL = {"rel": 1e-9, "abs": 1e-12}


def _random_series(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(10, 3, n) + rng.normal(0, 0.05) * np.arange(n)


def _intermittent_series(seed: int, n: int) -> np.ndarray:
    """Mostly zeros with a few small counts: heavy ties, the usual long-tail product."""
    rng = np.random.default_rng(seed)
    rate = np.linspace(0.1, rng.uniform(0.1, 1.5), n)
    return rng.poisson(rate).astype(float)


def _assert_matches_pymannkendall(x: np.ndarray, row: int, result: MannKendall) -> None:
    ref = mk.original_test(x)
    assert result.s[row] == ref.s
    assert result.var_s[row] == pytest.approx(ref.var_s, **TOL)
    assert result.z[row] == pytest.approx(ref.z, **TOL)
    assert result.p_value[row] == pytest.approx(ref.p, rel=1e-9, abs=1e-14)
    assert result.slope[row] == pytest.approx(ref.slope, **TOL)


@pytest.mark.parametrize(("seed", "n"), [(0, 3), (1, 8), (2, 13), (3, 60), (4, 91)])
def test_mann_kendall_matches_pymannkendall_and_scipy_on_random_series(seed: int, n: int) -> None:
    x = _random_series(seed, n)
    result = mann_kendall(x)
    _assert_matches_pymannkendall(x, 0, result)
    assert result.intercept[0] == pytest.approx(mk.original_test(x).intercept, **TOL)
    assert result.slope[0] == pytest.approx(theilslopes(x).slope, **TOL)
    assert result.intercept[0] == pytest.approx(theilslopes(x).intercept, **TOL)


@pytest.mark.parametrize(("seed", "n"), [(5, 13), (6, 40), (7, 91), (8, 120)])
def test_mann_kendall_corrects_the_variance_for_ties_in_intermittent_series(
    seed: int, n: int
) -> None:
    x = _intermittent_series(seed, n)
    assert len(np.unique(x)) < n / 3  # many ties
    result = mann_kendall(x)
    _assert_matches_pymannkendall(x, 0, result)
    assert result.slope[0] == pytest.approx(theilslopes(x).slope, **TOL)


def test_mann_kendall_of_many_series_at_once_equals_each_series_alone() -> None:
    rng = np.random.default_rng(11)
    width = 30
    matrix = np.full((40, width), np.nan)
    series = []
    for row in range(40):
        start = int(rng.integers(0, width - 3))
        x = _intermittent_series(row, width - start) if row % 2 else _random_series(row, width)
        x = x[: width - start]
        matrix[row, start:] = x
        series.append(x)
    result = mann_kendall(matrix)
    for row, x in enumerate(series):
        _assert_matches_pymannkendall(x, row, result)
        assert result.n[row] == len(x)


def test_mann_kendall_skips_missing_periods_but_keeps_their_distance_in_the_slope() -> None:
    x = _random_series(12, 25)
    x[[3, 4, 17]] = np.nan
    result = mann_kendall(x)
    ref = mk.original_test(x)
    assert result.n[0] == 22
    assert result.s[0] == ref.s
    assert result.var_s[0] == pytest.approx(ref.var_s, **TOL)
    assert result.p_value[0] == pytest.approx(ref.p, **TOL)
    assert result.slope[0] == pytest.approx(mk.sens_slope(x).slope, **TOL)
    keep = ~np.isnan(x)
    assert result.slope[0] == pytest.approx(theilslopes(x[keep], np.arange(25)[keep]).slope, **TOL)


def test_a_constant_series_has_no_trend_and_a_too_short_one_no_statistics() -> None:
    result = mann_kendall([[0.0] * 10, [4.0, 5.0] + [np.nan] * 8])
    assert result.s[0] == 0 and result.var_s[0] == 0
    assert result.p_value[0] == 1.0 and result.slope[0] == 0.0
    assert result.n[1] == 2 and np.isnan(result.p_value[1]) and np.isnan(result.slope[1])


def test_the_default_window_is_a_quarter_of_a_year_of_the_calendar() -> None:
    assert default_window(WEEKLY) == 13
    assert default_window(TradingCalendar("D")) == 91
    assert default_window(TradingCalendar("D", closed_weekdays=(5,))) == 78
    assert default_window(TradingCalendar("MS")) == 12


def _weekly_panel(series: dict[str, np.ndarray], weeks: int = 52) -> pd.DataFrame:
    """Series end together in the last week, as the prepared panel's do."""
    dates = pd.date_range("2023-01-01", periods=weeks, freq="W-SUN")
    frames = [
        pd.DataFrame({"unique_id": uid, "ds": dates[weeks - len(y) :], "y": y})
        for uid, y in series.items()
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def labelled_panel() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    t = np.arange(52)
    dead = rng.poisson(10, 52).astype(float)
    dead[-4:] = 0
    almost_dead = rng.poisson(10, 52).astype(float)
    almost_dead[-3:] = 0
    return _weekly_panel(
        {
            "rising": 20 + 2 * t + rng.normal(0, 1, 52),
            "falling": 100 - 1.5 * t + rng.normal(0, 1, 52),
            "flat": rng.poisson(20, 52).astype(float),
            "new": np.arange(5.0, 12.0),
            "dead": dead,
            "almost_dead": almost_dead,
            "never_sold": np.zeros(52),
        }
    )


def test_products_are_labelled_rising_falling_stable_new_and_dead(
    labelled_panel: pd.DataFrame,
) -> None:
    trends = detect_trends(labelled_panel, WEEKLY).set_index("unique_id")
    assert trends["trend"].drop(index="almost_dead").to_dict() == {
        "dead": "dead",
        "falling": "falling",
        "flat": "stable",
        "never_sold": "dead",
        "new": "new",
        "rising": "rising",
    }
    # a quarter of 13 weeks is 4: three silent weeks are not yet dead
    assert trends.loc["almost_dead", "trend"] != "dead"
    assert trends.loc["rising", "p_value"] < 0.05 < trends.loc["flat", "p_value"]
    assert trends.loc["rising", "slope"] == pytest.approx(2, abs=0.3)
    assert trends.loc["falling", "slope"] == pytest.approx(-1.5, abs=0.3)
    assert trends.loc["new", "periods"] == 7
    assert (trends.drop(index="new")["periods"] == 13).all()


def test_the_output_has_one_row_per_product_and_the_documented_columns(
    labelled_panel: pd.DataFrame,
) -> None:
    trends = detect_trends(labelled_panel, WEEKLY)
    assert list(trends.columns) == [
        "unique_id",
        "trend",
        "slope",
        "growth_pct",
        "p_value",
        "mann_kendall_s",
        "periods",
        "fitted_start",
        "fitted_end",
    ]
    assert trends["unique_id"].is_unique
    assert len(trends) == labelled_panel["unique_id"].nunique()


def test_a_significant_trend_needs_the_slope_to_agree_in_sign() -> None:
    # S is strongly positive, but most pairs are ties at zero, so the Theil-Sen slope is zero
    y = np.r_[np.zeros(9), 1.0, 0.0, 1.0, 1.0]
    trends = detect_trends(_weekly_panel({"a": np.r_[np.zeros(20), y]}), WEEKLY)
    row = trends.iloc[0]
    assert row["p_value"] < 0.05 and row["mann_kendall_s"] > 0
    assert row["slope"] == 0
    assert row["trend"] == "stable"


def test_a_lower_alpha_makes_a_weak_trend_stable() -> None:
    rng = np.random.default_rng(4)
    y = 20 + 0.25 * np.arange(13) + rng.normal(0, 1, 13)
    panel = _weekly_panel({"a": np.r_[np.full(10, 20.0), y]})
    p = detect_trends(panel, WEEKLY)["p_value"].iloc[0]
    assert 0.001 < p < 0.05
    assert detect_trends(panel, WEEKLY)["trend"].iloc[0] == "rising"
    assert detect_trends(panel, WEEKLY, alpha=0.001)["trend"].iloc[0] == "stable"


def test_growth_pct_is_the_theil_sen_change_over_the_window_relative_to_its_start() -> None:
    panel = _weekly_panel(
        {
            "up": np.r_[np.zeros(10), np.arange(10.0, 23.0)],
            "down": np.r_[np.zeros(10), np.arange(22.0, 9.0, -1)],
            "from_zero": np.r_[np.zeros(10), np.zeros(7), np.arange(5.0, 35.0, 5)],
            "new": np.arange(5.0, 12.0),
        }
    )
    trends = detect_trends(panel, WEEKLY).set_index("unique_id")
    assert trends.loc["up", ["slope", "fitted_start", "fitted_end"]].tolist() == [1, 10, 22]
    assert trends.loc["up", "growth_pct"] == pytest.approx(120)
    assert trends.loc["down", "growth_pct"] == pytest.approx(-12 / 22 * 100)
    # a new product grows from its own first period
    assert trends.loc["new", "growth_pct"] == pytest.approx((11 - 5) / 5 * 100)
    # from nothing there is no relative change
    assert trends.loc["from_zero", "fitted_start"] <= 0
    assert np.isnan(trends.loc["from_zero", "growth_pct"])
    assert trends.loc["from_zero", "trend"] == "rising"


def test_a_window_longer_than_the_history_uses_what_exists(labelled_panel: pd.DataFrame) -> None:
    short = labelled_panel[
        labelled_panel["ds"] >= labelled_panel["ds"].max() - pd.Timedelta(weeks=19)
    ]
    trends = detect_trends(short, WEEKLY, window=100).set_index("unique_id")
    assert trends.loc["rising", "periods"] == 20
    assert trends.loc["rising", "trend"] == "rising"
    assert trends.loc["new", "trend"] == "new"


def test_a_history_shorter_than_min_periods_is_new(labelled_panel: pd.DataFrame) -> None:
    last = labelled_panel[labelled_panel["ds"] > labelled_panel["ds"].max() - pd.Timedelta(weeks=6)]
    trends = detect_trends(last, WEEKLY).set_index("unique_id")
    assert trends.loc["rising", "periods"] == 6
    assert trends.loc["rising", "trend"] == "new"
    assert trends.loc["dead", "trend"] == "dead"


def test_daily_trends_step_over_closed_weekdays() -> None:
    cal = TradingCalendar("D", closed_weekdays=(6,))
    dates = cal.range(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-06-30"))
    y = np.random.default_rng(5).poisson(np.linspace(5, 30, len(dates))).astype(float)
    panel = pd.DataFrame({"unique_id": "a", "ds": dates, "y": y})
    row = detect_trends(panel, cal).iloc[0]
    assert row["periods"] == 78 and row["trend"] == "rising"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"window": 2}, ConfigError, "--window must be at least 3"),
        ({"alpha": 1.5}, ConfigError, "alpha must lie between 0 and 1"),
        ({"min_periods": 1}, ConfigError, "min_periods must be at least 3"),
    ],
)
def test_bad_options_are_refused_with_the_fix(
    labelled_panel: pd.DataFrame, kwargs: dict[str, float], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        detect_trends(labelled_panel, WEEKLY, **kwargs)  # type: ignore[arg-type]


def test_a_panel_without_its_columns_or_off_the_calendar_is_refused(
    labelled_panel: pd.DataFrame,
) -> None:
    with pytest.raises(InputError, match=re.escape("Columns missing from the panel: ['y']")):
        detect_trends(labelled_panel.drop(columns="y"), WEEKLY)
    with pytest.raises(InputError, match="fall off the weekly calendar"):
        detect_trends(labelled_panel, TradingCalendar("W-MON"))
    with pytest.raises(InputError, match="several rows for the same product and period"):
        detect_trends(pd.concat([labelled_panel, labelled_panel.tail(1)]), WEEKLY)


def test_trending_products_ranks_the_biggest_risers_and_fallers() -> None:
    trends = pd.DataFrame(
        {
            "unique_id": list("abcdefg"),
            "trend": ["rising", "rising", "rising", "falling", "falling", "stable", "rising"],
            "slope": [1.0, 5.0, 2.0, -1.0, -3.0, 0.0, 9.0],
            "growth_pct": [10.0, 50.0, np.nan, -20.0, -60.0, 500.0, 30.0],
        }
    )
    top = trending_products(trends, n=2)
    assert top[["rank", "unique_id"]].values.tolist() == [[1, "b"], [2, "g"], [1, "e"], [2, "d"]]
    everything = trending_products(trends, n=10)
    assert everything["unique_id"].tolist() == ["b", "g", "a", "c", "e", "d"]
    only_risers = trending_products(trends[trends["trend"] != "falling"], n=3)
    assert only_risers["trend"].eq("rising").all()
    with pytest.raises(ConfigError, match="n must be at least 1"):
        trending_products(trends, n=0)


def test_category_trends_sum_the_products_of_each_attribute_value() -> None:
    t = np.arange(30.0)
    panel = _weekly_panel(
        {
            "a1": 10 + t,
            "a2": 5 + 0.5 * t,
            "b1": 150 - 4 * t,
            "c1": np.full(30, 7.0),
            "l1": np.arange(1.0, 6.0),
        },
        weeks=30,
    )
    static = pd.DataFrame(
        {
            "unique_id": ["a1", "a2", "b1", "c1", "l1"],
            "category": ["up", "up", "down", None, "launch"],
        }
    )
    cats = category_trends(panel, static, WEEKLY)
    assert cats.columns[:3].tolist() == ["level", "unique_id", "trend"]
    got = dict(zip(zip(cats["level"], cats["unique_id"], strict=True), cats["trend"], strict=True))
    assert got == {
        ("category", "up"): "rising",
        ("category", "down"): "falling",
        ("category", "(none)"): "stable",
        ("category", "launch"): "new",
        ("total", "total"): "falling",
    }
    up = cats[cats["unique_id"] == "up"].iloc[0]
    assert up["slope"] == pytest.approx(1.5)
    assert category_trends(panel, None, WEEKLY)["level"].tolist() == ["total"]


# -- the command ----------------------------------------------------------------------------

runner = CliRunner()


def invoke(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["trends", *[str(a) for a in args]])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def daily_sales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two shops x products with every kind of trend, a gap and a net return."""
    rng = np.random.default_rng(8)
    dates = pd.date_range("2024-01-01", periods=150, freq="D")
    t = np.arange(150)
    rates = {
        "rising": 5 + 0.3 * t,
        "falling": np.clip(60 - 0.35 * t, 1, None),
        "flat": np.full(150, 12.0),
    }
    rows = []
    for shop in ("north", "south"):
        for product, rate in rates.items():
            rows += [
                (shop, product, d, int(q)) for d, q in zip(dates, rng.poisson(rate), strict=True)
            ]
    rows += [
        ("north", "launch", d, int(q)) for d, q in zip(dates[-30:], rng.poisson(8, 30), strict=True)
    ]
    rows += [
        ("south", "retired", d, int(q))
        for d, q in zip(dates[:100], rng.poisson(8, 100), strict=True)
    ]
    df = pd.DataFrame(rows, columns=["shop", "product", "date", "units"])
    df = df.drop(index=[10, 11, 12])  # a gap: filled with zeros
    df.loc[20, "units"] = -3  # a net return: floored at zero
    path = tmp_path_factory.mktemp("daily") / "sales.csv"
    df.to_csv(path, index=False)
    return path


def test_trends_writes_one_row_per_product_under_the_input_id_columns(
    daily_sales: Path, tmp_path: Path
) -> None:
    out = tmp_path / "trends.csv"
    code, output = invoke(
        "--input",
        daily_sales,
        "--id-col",
        "shop",
        "--id-col",
        "product",
        "--time-col",
        "date",
        "--target-col",
        "units",
        "--output",
        out,
    )
    assert code == 0, output
    assert "last 91 periods" in output
    trends = pd.read_csv(out)
    assert list(trends.columns) == ["shop", "product", "trend", "slope", "growth_pct", "p_value"]
    labels = {
        (s, p): tr for s, p, tr in trends[["shop", "product", "trend"]].itertuples(index=False)
    }
    assert labels == {
        ("north", "falling"): "falling",
        ("north", "flat"): "stable",
        ("north", "launch"): "new",
        ("north", "rising"): "rising",
        ("south", "falling"): "falling",
        ("south", "flat"): "stable",
        ("south", "retired"): "dead",
        ("south", "rising"): "rising",
    }
    assert set(trends["trend"]) <= {"rising", "falling", "stable", "new", "dead"}


def test_trends_reads_weekly_data_with_a_chosen_window(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    dates = pd.date_range("2023-01-02", periods=40, freq="W-MON")
    df = pd.concat(
        [
            pd.DataFrame(
                {"sku": "A-1", "week": dates, "qty": rng.poisson(np.linspace(20, 60, 40))}
            ),
            pd.DataFrame(
                {"sku": "B-2", "week": dates, "qty": rng.poisson(np.linspace(60, 20, 40))}
            ),
        ]
    )
    path = tmp_path / "weekly.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "out" / "trends.csv"
    code, output = invoke(
        "--input",
        path,
        "--id-col",
        "sku",
        "--time-col",
        "week",
        "--target-col",
        "qty",
        "--window",
        "26",
        "--output",
        out,
    )
    assert code == 0, output
    assert "weekly" in output and "last 26 periods" in output
    trends = pd.read_csv(out)
    assert list(trends.columns) == ["sku", "trend", "slope", "growth_pct", "p_value"]
    assert trends.set_index("sku")["trend"].to_dict() == {"A-1": "rising", "B-2": "falling"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-col", "nope"], re.escape("Columns missing from the input: ['nope']")),
        (["--time-col", "date", "--window", "2"], "--window must be at least 3"),
    ],
)
def test_bad_input_to_trends_exits_2_with_one_clear_line(
    daily_sales: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "o.csv"
    code, output = invoke(
        "--input",
        daily_sales,
        "--id-col",
        "shop",
        "--id-col",
        "product",
        "--target-col",
        "units",
        *args,
        "--output",
        out,
    )
    assert code == 2, output
    assert re.search(message, output), output
    assert "Traceback" not in output
    assert not out.exists()
