"""Policy simulator: the stock ledger balances, a perfect-knowledge policy meets its target,
policies replay over real-like history, and the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, poisson
from typer.testing import CliRunner

from trendcast.cli.main import app
from trendcast.data.columns import ColumnMap
from trendcast.decisions import (
    MOVING_AVERAGE,
    moving_average_levels,
    simulate_policies,
    simulate_policy,
)
from trendcast.decisions.simulate import policy_scores
from trendcast.exceptions import ConfigError, InputError
from trendcast.pipeline import load_sales

runner = CliRunner()


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_the_stock_ledger_balances_every_period() -> None:
    rng = np.random.default_rng(0)
    demand = rng.poisson(5.0, size=(30, 4 * 3 + 2)).astype(float)
    up_to = rng.uniform(5, 40, size=(30, 4))
    ledger = simulate_policy(demand, up_to, lead_time=2, review_period=3)
    on_hand = np.concatenate([ledger.start_on_hand[:, None], ledger.on_hand], axis=1)
    on_order = np.concatenate([np.zeros((30, 1)), ledger.on_order], axis=1)
    np.testing.assert_allclose(np.diff(on_hand, axis=1), ledger.arrivals - ledger.sales)
    np.testing.assert_allclose(np.diff(on_order, axis=1), ledger.orders - ledger.arrivals)
    np.testing.assert_allclose(ledger.sales + ledger.lost, demand)
    assert (ledger.on_hand >= 0).all() and (ledger.lost >= 0).all()
    # lost sales only when the shelf is empty
    assert (ledger.on_hand[ledger.lost > 0] == 0).all()
    # every order arrives after exactly the lead time, in full
    np.testing.assert_allclose(ledger.arrivals[:, 2:], ledger.orders[:, :-2])
    assert ledger.orders.sum() == pytest.approx(
        ledger.arrivals.sum() + ledger.on_order[:, -1].sum()
    )


def test_orders_are_placed_at_reviews_only_and_bring_the_position_up_to_the_level() -> None:
    demand = np.full((1, 3 * 2 + 1), 4.0)
    up_to = np.array([[12.0, 12.0, 15.0]])
    ledger = simulate_policy(demand, up_to, lead_time=1, review_period=2)
    assert ledger.start_on_hand.tolist() == [12.0]
    # period 0 starts at the level: no order; period 2: position 12 - 8 = 4, order 8
    assert ledger.orders.tolist() == [[0.0, 0.0, 8.0, 0.0, 11.0, 0.0, 0.0]]
    assert ledger.arrivals.tolist() == [[0.0, 0.0, 0.0, 8.0, 0.0, 11.0, 0.0]]
    assert ledger.lost.sum() == 0.0


def test_demand_beyond_the_stock_is_lost_and_the_cycle_counts_a_stockout() -> None:
    demand = np.array([[1.0, 1.0, 9.0, 1.0, 1.0]])  # reviews at 0 and 2, lead time 1
    ledger = simulate_policy(demand, np.array([[5.0, 5.0]]), lead_time=1, review_period=2)
    assert ledger.lost.tolist() == [[0.0, 0.0, 6.0, 0.0, 0.0]]
    # cycle 0 covers periods 1-2 (its order's arrival to the next), cycle 1 periods 3-4
    assert ledger.cycle_stockouts().tolist() == [[True, False]]
    scores = policy_scores(ledger, holding_per_period=0.1, stockout_penalty=2.0)
    assert scores.loc[0, "stockout_cycles"] == 1
    assert scores.loc[0, "lost"] == 6.0
    assert scores.loc[0, "demand"] == 12.0  # periods 1-4, after the lead time
    assert scores.loc[0, "total_cost"] == pytest.approx(
        0.1 * ledger.on_hand[0, 1:].sum() + 2.0 * 6.0
    )


def poisson_policy(target: float, lead: int, review: int) -> tuple[float, float]:
    """Achieved and theoretical cycle service level of S = the target quantile of
    Poisson demand over L + R periods, 400 products x 60 reviews."""
    rng = np.random.default_rng(11)
    reviews, n = 60, 400
    rate = rng.uniform(20, 60, size=n)
    demand = rng.poisson(rate[:, None], size=(n, reviews * review + lead)).astype(float)
    level = poisson.ppf(target, rate * (lead + review))
    up_to = np.repeat(level[:, None], reviews, axis=1)
    ledger = simulate_policy(demand, up_to, lead_time=lead, review_period=review)
    achieved = 1 - ledger.cycle_stockouts().mean()
    return achieved, poisson.cdf(level, rate * (lead + review)).mean()


@pytest.mark.parametrize("target", [0.90, 0.95])
def test_a_policy_that_knows_the_demand_distribution_meets_its_target(target: float) -> None:
    # with no lead time every cycle starts at the level: exactly P(demand over R <= S)
    achieved, expected = poisson_policy(target, lead=0, review=3)
    assert achieved == pytest.approx(expected, abs=0.01)
    assert achieved == pytest.approx(target, abs=0.02)


@pytest.mark.parametrize("target", [0.90, 0.95])
def test_lost_sales_only_raise_the_service_a_policy_achieves(target: float) -> None:
    # demand lost in one cycle is not carried into the next, whose lead time overlaps it
    achieved, expected = poisson_policy(target, lead=3, review=2)
    assert expected - 0.01 <= achieved <= expected + 0.03


def test_the_moving_average_policy_is_the_textbook_formula() -> None:
    history = np.array([[1.0, 3.0, 5.0, 7.0, 100.0], [2.0, 2.0, 2.0, 2.0, 2.0]])
    got = moving_average_levels(history[:, :4], protection=4, service_level=0.95, window=4)
    sd = np.std([1, 3, 5, 7], ddof=1)
    assert got == pytest.approx([4 * 4 + norm.ppf(0.95) * sd * 2, 8.0])


def test_simulating_with_the_wrong_number_of_periods_is_refused() -> None:
    with pytest.raises(ConfigError, match="need 8 periods of demand"):
        simulate_policy(np.ones((2, 7)), np.ones((2, 3)), lead_time=2, review_period=2)


def seasonal_sales(n_products: int = 40, periods: int = 260) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    dates = pd.date_range("2023-01-02", periods=periods, freq="D")
    weekly = 1 + 0.4 * np.sin(2 * np.pi * np.arange(periods) / 7)
    rows = []
    for i in range(n_products):
        base = rng.uniform(1, 30)
        rows.append(
            pd.DataFrame(
                {"sku": f"s{i:02d}", "day": dates, "qty": rng.poisson(base * weekly).astype(float)}
            )
        )
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def seasonal_data() -> object:
    return load_sales(
        seasonal_sales(),
        ColumnMap(id_cols=("sku",), time_col="day", target_col="qty"),
        mode="sales",
    )


def test_policies_replay_side_by_side_with_the_moving_average(seasonal_data: object) -> None:
    result = simulate_policies(
        seasonal_data,
        lead_time=3,
        review_period=7,
        service_levels=(0.9, 0.95),
        models=("seasonal_naive",),
        reviews=8,
    )
    summary = result.summary.set_index(["policy", "service_level"])
    assert set(summary.index) == {
        (p, t) for p in ("seasonal_naive", MOVING_AVERAGE) for t in (0.9, 0.95)
    }
    assert (summary["series"] == 40).all()
    for col in ("cycle_service_level", "fill_rate", "stockout_period_share"):
        assert summary[col].between(0, 1).all()
    # a higher target holds more stock and stocks out less
    for policy in ("seasonal_naive", MOVING_AVERAGE):
        low, high = summary.loc[(policy, 0.9)], summary.loc[(policy, 0.95)]
        assert high["avg_inventory"] > low["avg_inventory"]
        assert high["stockout_periods"] <= low["stockout_periods"]
    # stationary demand with a weekly cycle: the learned errors hit the target
    assert summary.loc[("seasonal_naive", 0.95), "cycle_service_level"] == pytest.approx(
        0.95, abs=0.04
    )
    # the stretch ends L + R = 10 days before the data, where the last window's forecast ends
    assert result.end == pd.Timestamp("2023-09-18") - pd.Timedelta(days=10)
    assert (result.end - result.start).days == 8 * 7 + 3 - 1
    per = result.per_series
    assert len(per) == 4 * 40 and per["cycles"].eq(8).all()


def test_a_history_too_short_to_simulate_is_refused(seasonal_data: object) -> None:
    with pytest.raises(InputError, match="needs .* periods of history"):
        simulate_policies(seasonal_data, lead_time=7, review_period=7, reviews=40)
    with pytest.raises(ConfigError, match="--reviews must be at least 1"):
        simulate_policies(seasonal_data, lead_time=1, reviews=0)


def test_simulate_command_writes_the_summary_and_per_product_scores(tmp_path: Path) -> None:
    src = tmp_path / "sales.csv"
    seasonal_sales(12, 200).to_csv(src, index=False)
    out = tmp_path / "sim.csv"
    result = runner.invoke(
        app,
        [
            "simulate", "--input", str(src), "--id-col", "sku", "--time-col", "day",
            "--target-col", "qty", "--lead-time", "2", "--review-period", "7",
            "--service-level", "0.9", "--service-level", "0.95", "--model", "seasonal_naive",
            "--reviews", "6", "--output", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out)
    assert list(summary.columns) == [
        "policy",
        "service_level",
        "series",
        "cycle_service_level",
        "fill_rate",
        "stockout_periods",
        "stockout_period_share",
        "avg_inventory",
        "total_cost",
    ]
    assert sorted(summary["policy"].unique()) == [MOVING_AVERAGE, "seasonal_naive"]
    assert len(pd.read_csv(tmp_path / "sim_by_product.csv")) == 2 * 2 * 12


def test_simulate_command_exits_with_code_2_on_a_bad_service_level(tmp_path: Path) -> None:
    src = tmp_path / "sales.csv"
    seasonal_sales(3, 120).to_csv(src, index=False)
    result = runner.invoke(
        app, ["simulate", "--input", str(src), "--lead-time", "2", "--service-level", "1.5"]
    )
    assert result.exit_code == 2
    assert "--service-level must be between 0 and 1" in result.output
