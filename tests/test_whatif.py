"""What-if scenarios: a planted price elasticity, uplift only where the scenario changes the
price, the uplift's bootstrap interval, scenario tables, refusals and ``trendcast whatif``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import trendcast as tc
from trendcast.cli.main import app
from trendcast.decisions.whatif import (
    WhatIfResult,
    check_whatif_model,
    future_covariates,
    parse_change,
    read_scenario,
    scenario_changes,
    whatif,
)
from trendcast.exceptions import ConfigError, InputError

DAYS = 240
ELASTICITY = -2.0
START, END = "2024-08-31", "2024-09-04"  # days 3 to 7 of the 14-day horizon


def _sales(with_price: bool = True) -> pd.DataFrame:
    """Eight products whose demand follows (price / list price) ** -2 through random discounts."""
    rng = np.random.default_rng(5)
    dates = pd.date_range("2024-01-01", periods=DAYS, freq="D")
    weekly = 1 + 0.3 * np.sin(2 * np.pi * np.arange(DAYS) / 7)
    frames = []
    for i in range(8):
        list_price = 10.0 + i
        price = np.full(DAYS, list_price)
        cut = rng.random(DAYS) < 0.2
        price[cut] *= rng.uniform(0.6, 0.9, cut.sum())
        demand = (6 + 2 * i) * weekly * (price / list_price) ** ELASTICITY
        frame = pd.DataFrame({"sku": f"p{i}", "date": dates, "qty": rng.poisson(demand)})
        if with_price:
            frame["price"] = price
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def data() -> tc.PreparedData:
    return tc.load_sales(_sales(), mode="sales", cleaning=tc.CleaningConfig(outliers="none"))


@pytest.fixture(scope="module")
def cut(data: tc.PreparedData) -> WhatIfResult:
    changes = pd.concat(
        [
            scenario_changes(
                data, 14, products=["p1", "p4"], start=START, end=END, price_change="-20%"
            ),
            # a no-op row keeps an untouched product in the result
            scenario_changes(data, 14, products=["p2"], price_change=0.0),
        ],
        ignore_index=True,
    )
    return whatif(data, changes, horizon=14, model="lightgbm", refits=3)


def test_a_price_cut_raises_the_forecast_of_the_chosen_products_in_its_periods(
    cut: WhatIfResult,
) -> None:
    fc = cut.forecast
    chosen = fc[fc["unique_id"].isin(["p1", "p4"])]
    inside = chosen[chosen["in_scenario"]]
    assert len(inside) == 2 * 5
    np.testing.assert_allclose(inside["price_scenario"], 0.8 * inside["price_base"])
    assert (inside["uplift"] > 0).mean() >= 0.8
    # a 20% cut at elasticity -2 is worth about +56%; the model finds a clear rise
    summary = cut.summary.set_index("unique_id")
    assert (summary.loc[["p1", "p4"], "uplift_pct"] > 15).all()
    before = chosen[chosen["ds"] < pd.Timestamp(START)]
    assert (before["uplift"] == 0).all() and (before["base"] > 0).all()


def test_products_without_a_change_keep_their_base_forecast(
    cut: WhatIfResult,
) -> None:
    untouched = cut.forecast[cut.forecast["unique_id"] == "p2"]
    assert len(untouched) == 14
    np.testing.assert_array_equal(untouched["scenario"], untouched["base"])
    assert (untouched["uplift_lo"] == 0).all() and (untouched["uplift_hi"] == 0).all()


def test_the_uplift_has_a_bootstrap_interval_around_it(cut: WhatIfResult) -> None:
    summary = cut.summary.set_index("unique_id").loc[["p1", "p4"]]
    assert (summary["uplift_lo"] < summary["uplift"]).all()
    assert (summary["uplift"] < summary["uplift_hi"]).all()
    assert cut.refits == 3 and cut.level == 80
    assert list(cut.summary.columns) == [
        "unique_id",
        "periods",
        "base",
        "scenario",
        "uplift",
        "uplift_lo",
        "uplift_hi",
        "uplift_pct",
    ]


def test_the_linear_model_sees_the_price_cut_too(data: tc.PreparedData) -> None:
    changes = scenario_changes(data, 7, products=["p3"], price_change=-0.3)
    result = whatif(data, changes, horizon=7, model="linear", refits=0)
    assert (result.forecast["uplift"] > 0).all()
    assert (result.forecast["uplift_lo"] == result.forecast["uplift"]).all()


def test_future_price_features_follow_the_scenario_price(data: tc.PreparedData) -> None:
    changes = scenario_changes(data, 3, products=["p0"], price_change="-50%")
    base = future_covariates(data, 3).query("unique_id == 'p0'")
    scenario = future_covariates(data, 3, changes).query("unique_id == 'p0'")
    np.testing.assert_allclose(scenario["price"], 0.5 * base["price"].to_numpy())
    assert (scenario["rel_price"] < base["rel_price"].to_numpy()).all()
    assert (scenario["discount"] > base["discount"].to_numpy()).all()


def test_models_that_ignore_covariates_and_data_without_prices_are_refused() -> None:
    with pytest.raises(ConfigError, match="auto_ets cannot use future prices or promotions"):
        check_whatif_model("auto_ets")
    with pytest.raises(ConfigError, match="auto chooses a model per product"):
        check_whatif_model("auto")
    no_price = tc.load_sales(_sales(with_price=False), mode="sales")
    changes = scenario_changes(no_price, 7, products=["p0"], price_change=-0.1)
    with pytest.raises(ConfigError, match="The data has no price column"):
        whatif(no_price, changes, horizon=7, model="linear")
    with pytest.raises(ConfigError, match="The data has no promotion column"):
        whatif(no_price, scenario_changes(no_price, 7, promo=True), horizon=7, model="linear")


def test_scenarios_are_checked_before_any_fit(data: tc.PreparedData) -> None:
    assert parse_change("-10%") == -0.1 and parse_change("+5%") == 0.05
    assert parse_change("-0.25") == -0.25
    with pytest.raises(ConfigError, match="ambiguous"):
        parse_change("-10")
    with pytest.raises(ConfigError, match="must stay above -100%"):
        parse_change("-120%")
    with pytest.raises(ConfigError, match="A scenario needs a change"):
        scenario_changes(data, 7, products=["p0"])
    with pytest.raises(InputError, match=r"Unknown product\(s\) \['nope'\]"):
        scenario_changes(data, 7, products=["nope"], price_change=-0.1)
    with pytest.raises(ConfigError, match="fall outside the forecast horizon"):
        scenario_changes(data, 7, price_change=-0.1, start="2030-01-01", end="2030-01-07")


def test_a_scenario_table_holds_one_change_per_row(data: tc.PreparedData) -> None:
    table = pd.DataFrame(
        {
            "sku": ["p0", "p1", None],
            "from": [START, None, END],
            "to": [END, None, END],
            "Price Change": ["-10%", None, None],
            "price": [None, 9.5, None],
        }
    )
    with pytest.raises(InputError, match="Row 3 of the scenario table: A scenario needs a change"):
        read_scenario(table, data, 14)
    table.loc[2, "price"] = 20.0
    with pytest.raises(InputError, match="Rows of the scenario table overlap, e.g. on p0"):
        read_scenario(table, data, 14)
    changes = read_scenario(table.iloc[:2], data, 14)
    assert len(changes) == 5 + 14
    assert changes.loc[changes["unique_id"] == "p1", "price"].eq(9.5).all()
    assert changes.loc[changes["unique_id"] == "p0", "price_change"].eq(-0.1).all()


def test_whatif_command_writes_base_scenario_and_uplift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _sales().to_csv("sales.csv", index=False)
    runner = CliRunner()
    args = ["whatif", "-i", "sales.csv", "-h", "7", "--products", "p1,p2"]
    result = runner.invoke(
        app, [*args, "--price-change", "-20%", "--model", "linear", "--refits", "2"]
    )
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "whatif.csv")
    assert list(out.columns[:6]) == ["sku", "date", "in_scenario", "base", "scenario", "uplift"]
    assert set(out["sku"]) == {"p1", "p2"} and (out["uplift"] > 0).all()
    refused = runner.invoke(app, [*args, "--price-change", "-20%", "--model", "auto_ets"])
    assert refused.exit_code == 2
    assert "auto_ets cannot use future prices or promotions" in refused.output
    _sales(with_price=False).to_csv("no_price.csv", index=False)
    no_price = runner.invoke(
        app, ["whatif", "-i", "no_price.csv", "--price-change", "-20%", "--model", "linear"]
    )
    assert no_price.exit_code == 2 and "The data has no price column" in no_price.output
