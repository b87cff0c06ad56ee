"""Replenishment plan: calibrated protection-interval demand, order rounding, stock, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson
from typer.testing import CliRunner

from trendcast.cli.main import app
from trendcast.data.columns import ColumnMap
from trendcast.decisions import (
    PLAN_COLUMNS,
    error_model,
    order_quantities,
    plan_output,
    read_stock,
    replenishment_plan,
)
from trendcast.exceptions import ConfigError, InputError
from trendcast.pipeline import load_sales

runner = CliRunner()


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def poisson_sales(n_products: int, periods: int, seed: int = 1, freq: str = "D") -> pd.DataFrame:
    """A sales table of iid Poisson demand: product ``p<i>`` sells ``rate`` a period on average."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-02", periods=periods, freq=freq)
    rates = np.linspace(2.0, 40.0, n_products)
    return pd.DataFrame(
        {
            "product": np.repeat([f"p{i:03d}" for i in range(n_products)], periods),
            "date": np.tile(dates, n_products),
            "units": rng.poisson(np.repeat(rates, periods)).astype(float),
        }
    )


def load(table: pd.DataFrame) -> object:
    return load_sales(
        table, ColumnMap(id_cols=("product",), time_col="date", target_col="units"), mode="sales"
    )


RATES = dict(zip([f"p{i:03d}" for i in range(80)], np.linspace(2.0, 40.0, 80), strict=True))


@pytest.fixture(scope="module")
def iid_data() -> object:
    return load(poisson_sales(80, 200))


def test_order_up_to_levels_meet_the_target_service_level_on_iid_poisson_demand(
    iid_data: object,
) -> None:
    lead, review = 4, 2
    for target in (0.90, 0.95):
        result = replenishment_plan(
            iid_data,
            lead_time=lead,
            review_period=review,
            service_level=target,
            model="historic_average",
        )
        plan = result.plan.set_index("unique_id")
        rate = plan.index.map(RATES).to_numpy() * (lead + review)
        # the true chance that demand over the protection interval stays within the stock
        # that whole-unit orders reach
        covered = poisson.cdf(np.ceil(plan["order_up_to"].to_numpy() - 1e-9), rate)
        assert covered.mean() == pytest.approx(target, abs=0.02)
        # with nothing in stock the order reaches the level, rounded up: risk at most 1 - target
        assert (plan["stockout_risk"] <= 1 - target + 1e-9).all()


def test_the_protection_interval_quantile_is_below_the_sum_of_per_period_quantiles(
    iid_data: object,
) -> None:
    lead, review = 6, 1
    result = replenishment_plan(
        iid_data,
        lead_time=lead,
        review_period=review,
        service_level=0.95,
        model="historic_average",
    )
    plan = result.plan.set_index("unique_id")
    rate = plan.index.map(RATES).to_numpy()
    summed_quantiles = (lead + review) * poisson.ppf(0.95, rate)
    mean = (lead + review) * rate
    # demand over 7 iid days spreads like sqrt(7), not like 7 one-day extremes in a row
    assert (plan["order_up_to"].to_numpy() < summed_quantiles).all()
    assert (plan["order_up_to"].to_numpy() > mean).all()
    np.testing.assert_allclose(plan["expected_demand"], mean, rtol=0.1)


def test_errors_scale_with_the_products_level_as_poisson_noise_does(iid_data: object) -> None:
    result = replenishment_plan(iid_data, lead_time=3, review_period=1, model="naive")
    # the spread of a Poisson sum grows like the square root of its mean: b near 0.5
    assert result.errors.exponents[4] == pytest.approx(0.5, abs=0.1)
    spread = result.plan.set_index("unique_id")["safety_stock"]
    assert spread["p079"] > spread["p000"] * 2


def test_order_quantities_round_up_to_the_minimum_and_whole_packs() -> None:
    up_to = np.array([10.2, 5.0, 30.0, 3.0, 41.0])
    position = np.array([0.0, 8.0, 0.0, 0.0, 1.0])
    moq = np.array([12.0, 12.0, 12.0, 0.0, 0.0])
    pack = np.array([5.0, 5.0, 5.0, 1.0, 6.0])
    # 10.2 -> 11 units -> MOQ 12 -> 3 packs of 5; nothing when the position covers the level
    assert order_quantities(up_to, position, moq, pack).tolist() == [15.0, 0.0, 30.0, 3.0, 42.0]


def test_stock_on_hand_and_on_order_reduce_the_order_and_its_risk(iid_data: object) -> None:
    stock = pd.DataFrame(
        {
            "product": ["p000", "p040", "p079"],
            "On Hand": [5, 100, 0],
            "on_order": [0, 50, 0],
            "MOQ": ["", "", "500"],
            "pack size": [1, 1, 24],
        }
    )
    bare = replenishment_plan(iid_data, lead_time=4, review_period=2, model="naive")
    stocked = replenishment_plan(iid_data, lead_time=4, review_period=2, model="naive", stock=stock)
    before = bare.plan.set_index("unique_id")
    after = stocked.plan.set_index("unique_id")
    assert after.loc["p040", "order_qty"] == max(
        np.ceil(before.loc["p040", "order_up_to"] - 150), 0
    )
    assert after.loc["p000", "order_qty"] == np.ceil(before.loc["p000", "order_up_to"] - 5)
    assert after.loc["p079", "order_qty"] == 504  # MOQ 500 in packs of 24
    assert after.loc["p079", "stockout_risk"] < 0.001
    assert after.loc["p040", "days_of_cover"] == pytest.approx(
        150 / (before.loc["p040", "expected_demand"] / 6), rel=1e-6
    )
    untouched = after.index.difference(["p000", "p040", "p079"])
    pd.testing.assert_frame_equal(after.loc[untouched], before.loc[untouched])


def test_per_product_lead_times_from_the_stock_table_lengthen_their_interval(
    iid_data: object,
) -> None:
    stock = pd.DataFrame(
        {"product": ["p010", "p020"], "on_hand": [0, 0], "lead_time": [10, ""], "review": [2, 3]}
    )
    result = replenishment_plan(
        iid_data, lead_time=2, review_period=1, model="historic_average", stock=stock
    )
    plan = result.plan.set_index("unique_id")
    assert plan.loc["p010", "expected_demand"] == pytest.approx(12 * RATES["p010"], rel=0.15)
    assert plan.loc["p020", "expected_demand"] == pytest.approx(5 * RATES["p020"], rel=0.15)
    assert plan.loc["p030", "expected_demand"] == pytest.approx(3 * RATES["p030"], rel=0.15)
    assert len(result.forecast) == 80 * 12  # forecast over the longest interval


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            pd.DataFrame({"sku": ["p000"], "on_hand": [1]}),
            r"lacks the id column\(s\) \['product'\]",
        ),
        (pd.DataFrame({"product": ["p000"], "qty": [1]}), "no on-hand column"),
        (
            pd.DataFrame({"product": ["p000", "nope"], "on_hand": [1, 2]}),
            r"not in the sales.*'nope'",
        ),
        (pd.DataFrame({"product": ["p000", "p000"], "on_hand": [1, 2]}), "more than once"),
        (
            pd.DataFrame({"product": ["p000"], "on_hand": ["lots"]}),
            "'on_hand'.*not numbers.*'lots'",
        ),
        (pd.DataFrame({"product": ["p000"], "on_hand": [None]}), "not numbers.*<empty>"),
        (
            pd.DataFrame({"product": ["p000"], "on_hand": [1], "pack_size": [0]}),
            "'pack_size' must be more than 0",
        ),
        (
            pd.DataFrame({"product": ["p000"], "on_hand": [1], "lead_time": [2.5]}),
            "'lead_time' must be whole periods",
        ),
    ],
)
def test_a_bad_stock_table_is_refused_with_the_reason(
    iid_data: object, table: pd.DataFrame, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        read_stock(table, iid_data, lead_time=2, review_period=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lead_time": -1}, "--lead-time must be 0 or more"),
        ({"lead_time": 2, "review_period": 0}, "--review-period must be at least 1"),
        ({"lead_time": 2, "service_level": 1.2}, "--service-level must be between 0 and 1"),
    ],
)
def test_policy_settings_out_of_range_are_refused(
    iid_data: object, kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        replenishment_plan(iid_data, **kwargs)  # type: ignore[arg-type]


def test_a_history_too_short_for_the_protection_interval_is_refused() -> None:
    data = load(poisson_sales(3, 30))
    with pytest.raises(InputError, match="too few to learn the forecast errors"):
        replenishment_plan(data, lead_time=20, review_period=5)


def test_products_missing_from_the_backtest_take_the_pooled_errors(iid_data: object) -> None:
    result = replenishment_plan(iid_data, lead_time=2, review_period=1, model="naive")
    lengths = pd.Series(3, index=["p000", "new"])
    model = error_model(result.backtest, lengths)
    demand = model.demand(np.array([10.0, 10.0]), np.array([2.0, 2.0]))
    np.testing.assert_allclose(demand.quantile(0.95)[0], demand.quantile(0.95)[1])


# -- the command line ----------------------------------------------------------------------------


def write_daily(tmp_path: Path) -> Path:
    table = poisson_sales(6, 150, seed=3)
    table = table.rename(columns={"product": "商品编码", "date": "日期", "units": "销量"})
    table.loc[5, "销量"] = -2  # a return
    table = table.drop(index=[7, 8])  # a gap
    path = tmp_path / "daily.csv"
    table.to_csv(path, index=False)
    return path


def write_weekly(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    dates = pd.date_range("2023-01-02", periods=60, freq="W-MON")
    rows = [
        (shop, f"item-{item}", d, f"{rng.poisson(20 + 5 * item):,}")
        for shop in ("north", "south")
        for item in range(3)
        for d in dates
    ]
    path = tmp_path / "weekly.csv"
    pd.DataFrame(rows, columns=["shop", "product", "week", "units"]).to_csv(path, index=False)
    return path


def invoke(*args: object) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_plan_writes_the_id_columns_then_the_plan_for_daily_sales(tmp_path: Path) -> None:
    src = write_daily(tmp_path)
    stock = tmp_path / "stock.csv"
    pd.DataFrame({"商品编码": ["p001", "p002"], "库存": [30, 0], "在途": [10, ""]}).to_csv(
        stock, index=False
    )
    out = tmp_path / "plan.csv"
    code, output = invoke(
        "plan", "--input", src, "--id-col", "商品编码", "--time-col", "日期", "--target-col",
        "销量", "--lead-time", 5, "--review-period", 2, "--service-level", 0.9, "--stock", stock,
        "--output", out,
    )  # fmt: skip
    assert code == 0, output
    plan = pd.read_csv(out, dtype={"商品编码": str})
    assert list(plan.columns) == ["商品编码", *PLAN_COLUMNS]
    assert sorted(plan["商品编码"]) == [f"p{i:03d}" for i in range(6)]
    row = plan.set_index("商品编码").loc["p001"]
    assert row["order_qty"] == max(np.ceil(row["order_up_to"] - 40 - 0.005), 0)
    assert row["days_of_cover"] > 0
    assert (plan["order_up_to"] >= plan["reorder_point"]).all()
    assert "Wrote the plan for 6 products" in output


def test_plan_reads_weekly_sales_with_two_id_columns(tmp_path: Path) -> None:
    out = tmp_path / "plan.csv"
    code, output = invoke(
        "plan", "--input", write_weekly(tmp_path), "--id-col", "shop", "--id-col", "product",
        "--time-col", "week", "--target-col", "units", "--lead-time", 2, "--output", out,
    )  # fmt: skip
    assert code == 0, output
    plan = pd.read_csv(out)
    assert list(plan.columns) == ["shop", "product", *PLAN_COLUMNS]
    assert len(plan) == 6
    # weekly periods: nothing on hand covers 0 days; a three-week interval of ~20-30 a week
    assert (plan["days_of_cover"] == 0).all()
    assert plan["expected_demand"].between(40, 130).all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--service-level", "95"], "--service-level must be between 0 and 1"),
        (["--lead-time", "-3"], "--lead-time must be 0 or more"),
        (["--stock", "missing.csv"], "not found"),
        (["--stock", "STOCK_UNKNOWN"], "not in the sales data"),
        (["--stock", "STOCK_BAD"], "not numbers"),
    ],
)
def test_plan_mistakes_exit_with_code_2_and_one_line(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    src = write_daily(tmp_path)
    pd.DataFrame({"商品编码": ["zzz"], "on_hand": [1]}).to_csv(
        tmp_path / "unknown.csv", index=False
    )
    pd.DataFrame({"商品编码": ["p001"], "on_hand": ["n/a"]}).to_csv(
        tmp_path / "bad.csv", index=False
    )
    files = {"STOCK_UNKNOWN": str(tmp_path / "unknown.csv"), "STOCK_BAD": str(tmp_path / "bad.csv")}
    extra = [files.get(e, e) for e in extra]
    args = ["plan", "--input", src, "--lead-time", 2, "--output", tmp_path / "p.csv"]
    code, output = invoke(*args, *extra)
    assert code == 2
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in output
    assert not (tmp_path / "p.csv").exists()


def test_plan_output_keeps_the_input_id_names(iid_data: object) -> None:
    result = replenishment_plan(iid_data, lead_time=1, review_period=1, model="naive")
    out = plan_output(result, iid_data)
    assert list(out.columns) == ["product", *PLAN_COLUMNS]
