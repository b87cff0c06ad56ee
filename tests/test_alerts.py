"""Alerts: stock-out risk and overstock from a replenishment plan, dead and slow movers,
trend breaks, recent demand anomalies, the report section and ``trendcast alerts``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import trendcast as tc
from trendcast.cli.main import app
from trendcast.decisions.alerts import ALERT_COLUMNS, AlertSettings, alerts_output, find_alerts
from trendcast.decisions.plan import ReplenishmentPlan, replenishment_plan
from trendcast.exceptions import ConfigError
from trendcast.reporting import write_report
from trendcast.store import RunStore

DAYS = 220


def _sales() -> pd.DataFrame:
    """Daily sales of six products, each built to raise (or not raise) one kind of alert."""
    rng = np.random.default_rng(11)
    dates = pd.date_range("2024-01-01", periods=DAYS, freq="D")
    t = np.arange(DAYS)
    rates = {
        "steady": np.full(DAYS, 20.0),
        "dead": np.where(t < DAYS - 60, 10.0, 0.0),
        "slow": np.where(t < DAYS - 91, 20.0, 5.0),
        # up over the window before the latest quarter, down over the latest one
        "reversal": np.where(t < DAYS - 91, 5 + 0.25 * np.clip(t - (DAYS - 182), 0, None), 0.0)
        + np.where(t >= DAYS - 91, 27.75 - 0.25 * (t - (DAYS - 91)), 0.0),
        "spike_now": np.full(DAYS, 20.0),
        "spike_before": np.full(DAYS, 20.0),
    }
    frames = []
    for sku, rate in rates.items():
        qty = rng.poisson(rate).astype(float)
        if sku == "spike_now":
            qty[-2] = 200.0
        if sku == "spike_before":
            qty[-60] = 200.0
        frames.append(pd.DataFrame({"sku": sku, "date": dates, "qty": qty}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def data() -> tc.PreparedData:
    # spikes are kept as they are so the anomaly detection sees them
    return tc.load_sales(_sales(), mode="sales", cleaning=tc.CleaningConfig(outliers="none"))


@pytest.fixture(scope="module")
def found(data: tc.PreparedData) -> pd.DataFrame:
    return find_alerts(data)


def _kinds(found: pd.DataFrame, sku: str) -> set[str]:
    return set(found.loc[found["unique_id"] == sku, "alert"])


def test_alerts_have_the_documented_columns_and_high_severity_first(found: pd.DataFrame) -> None:
    assert list(found.columns) == ALERT_COLUMNS
    assert set(found["severity"]) <= {"high", "medium"}
    order = found["severity"].map({"high": 0, "medium": 1})
    assert order.is_monotonic_increasing
    assert found["reason"].str.len().min() > 10


def test_a_product_without_sales_for_60_days_is_a_dead_mover(found: pd.DataFrame) -> None:
    row = found[(found["unique_id"] == "dead") & (found["alert"] == "dead_mover")].iloc[0]
    assert row["value"] >= 60 and row["threshold"] == 56  # 8 weeks of daily trading days
    assert "no sale in the last" in row["reason"] and "(threshold 56)" in row["reason"]
    assert row["severity"] == "medium"


def test_a_product_selling_a_quarter_of_the_quarter_before_is_a_slow_mover(
    found: pd.DataFrame,
) -> None:
    row = found[(found["unique_id"] == "slow") & (found["alert"] == "slow_mover")].iloc[0]
    assert 0.15 < row["value"] < 0.35 and row["threshold"] == 0.5
    assert row["severity"] == "high"
    assert "of the" in row["reason"] and "in the 91 before" in row["reason"]
    assert "slow_mover" not in _kinds(found, "steady")


def test_a_product_that_rose_and_now_falls_is_a_trend_break(found: pd.DataFrame) -> None:
    row = found[(found["unique_id"] == "reversal") & (found["alert"] == "trend_break")].iloc[0]
    assert row["severity"] == "high"
    assert row["reason"].startswith("trend changed from rising")
    assert "to falling" in row["reason"]
    assert row["value"] < row["threshold"] == 0.05
    assert "trend_break" not in _kinds(found, "steady")


def test_only_anomalies_of_the_latest_periods_are_alerts(found: pd.DataFrame) -> None:
    row = found[(found["unique_id"] == "spike_now") & (found["alert"] == "demand_anomaly")]
    assert len(row) == 1
    assert row.iloc[0]["value"] == 200 and row.iloc[0]["value"] > row.iloc[0]["threshold"]
    assert "a spike: sold 200" in row.iloc[0]["reason"]
    assert "demand_anomaly" not in _kinds(found, "spike_before")


@pytest.fixture(scope="module")
def plan(data: tc.PreparedData) -> ReplenishmentPlan:
    stock = pd.DataFrame(
        {
            "sku": ["steady", "slow", "reversal", "dead"],
            "on_hand": [20.0, 180.0, 5000.0, 10.0],
            "on_order": [0.0, 20.0, 0.0, 0.0],
        }
    )
    return replenishment_plan(
        data, lead_time=7, review_period=1, stock=stock, model="seasonal_naive"
    )


def test_stock_alerts_flag_short_and_excess_stock_from_the_plan(
    data: tc.PreparedData, plan: ReplenishmentPlan
) -> None:
    found = find_alerts(data, plan=plan, kinds=("stockout_risk", "overstock"))
    short = found[(found["unique_id"] == "steady") & (found["alert"] == "stockout_risk")].iloc[0]
    assert short["value"] > 0.9 and short["severity"] == "high"
    assert re.match(r"9\d% chance that the 20 units on hand and on order run out", short["reason"])
    assert "within 8 periods" in short["reason"] and "the plan orders" in short["reason"]
    # 200 units against about 5 a day: neither short nor in excess
    assert "slow" not in set(found["unique_id"])
    excess = found[(found["unique_id"] == "reversal") & (found["alert"] == "overstock")].iloc[0]
    expected = plan.plan.set_index("unique_id").loc["reversal", "days_of_cover"]
    assert excess["value"] == pytest.approx(expected) and excess["value"] > 180
    assert excess["severity"] == "high" and excess["threshold"] == 90
    assert excess["reason"].endswith("days of the expected demand (threshold 90 days)")
    idle = found[(found["unique_id"] == "dead") & (found["alert"] == "overstock")].iloc[0]
    assert np.isinf(idle["value"]) and "none is expected" in idle["reason"]
    assert "stockout_risk" not in _kinds(found, "dead")


def test_a_dead_mover_with_stock_on_hand_is_high_severity(
    data: tc.PreparedData, plan: ReplenishmentPlan
) -> None:
    found = find_alerts(data, plan=plan, kinds=("dead_mover",))
    row = found.iloc[0]
    assert row["severity"] == "high" and row["reason"].endswith("; 10 units on hand")


def test_bad_settings_are_refused_with_the_fix(data: tc.PreparedData) -> None:
    with pytest.raises(ConfigError, match="stock-out risk threshold must lie between 0 and 1"):
        AlertSettings(stockout_risk=1.5)
    with pytest.raises(ConfigError, match="slow-mover ratio must lie between 0 and 1"):
        AlertSettings(slow_ratio=2)
    with pytest.raises(ConfigError, match="dead_periods must be at least 1 period"):
        AlertSettings(dead_periods=0)
    with pytest.raises(ConfigError, match=r"Unknown alert kind\(s\) \['late'\]"):
        find_alerts(data, kinds=("late",))


def test_the_report_shows_the_alerts_in_the_decisions_section(
    data: tc.PreparedData, found: pd.DataFrame, tmp_path: Path
) -> None:
    empty = pd.DataFrame()
    path = write_report(
        tmp_path / "report.html",
        title="Alerts",
        summary={"Series": data.n_series},
        cleaning=data.report.to_frame(),
        series_notes=data.report.series_notes,
        leaderboard=empty,
        segment_leaderboard=empty,
        per_series=empty,
        panel=data.panel[["unique_id", "ds", "y"]],
        backtest=empty,
        forecast=empty,
        alerts=found,
        lang="zh",
    )
    document = path.read_text(encoding="utf-8")
    assert 'id="decisions"' in document and 'data-nav="decisions"' in document
    assert "趋势转折" in document and "滞销（无销售）" in document
    assert "a spike: sold 200" in document


def test_alerts_command_writes_the_csv_under_the_input_columns_and_records_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _sales().to_csv("sales.csv", index=False)
    pd.DataFrame({"sku": ["steady", "reversal"], "on_hand": [5, 9000]}).to_csv(
        "stock.csv", index=False
    )
    result = CliRunner().invoke(
        app,
        [
            "alerts",
            "-i",
            "sales.csv",
            "-o",
            "alerts.csv",
            "--stock",
            "stock.csv",
            "--model",
            "seasonal_naive",
            "--lead-time",
            "3",
            "--overstock-days",
            "60",
        ],
    )
    assert result.exit_code == 0, result.output
    out = pd.read_csv(tmp_path / "alerts.csv")
    assert list(out.columns) == ["sku", *ALERT_COLUMNS[1:]]
    assert {"stockout_risk", "overstock", "dead_mover", "trend_break"} <= set(out["alert"])
    with RunStore("trendcast.duckdb", read_only=True) as store:
        run = store.get_run("latest")
    assert run.kind == "alerts"
    assert len(run.tables["alerts"]) == len(out)
    bad = CliRunner().invoke(app, ["alerts", "-i", "sales.csv", "--slow-ratio", "3"])
    assert bad.exit_code == 2 and "slow-mover ratio must lie between 0 and 1" in bad.output


def test_alerts_output_keeps_the_input_id_columns(
    data: tc.PreparedData, found: pd.DataFrame
) -> None:
    out = alerts_output(found, data)
    assert list(out.columns) == ["sku", *ALERT_COLUMNS[1:]]
