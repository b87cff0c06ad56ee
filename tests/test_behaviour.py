"""User behaviour (views, carts, favourites, purchases) as past-only covariates of the models."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trendcast.exceptions import InputError
from trendcast.features.covariates import model_frame
from trendcast.models import make_model
from trendcast.pipeline import load_sales

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mlforecast") is None, reason="the ai extra is not installed"
)

DAYS = pd.date_range("2024-01-01", periods=150, freq="D")


def _tables(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sales that follow views two weeks earlier, and the raw event log behind the views."""
    rng = np.random.default_rng(seed)
    sales, events = [], []
    for p in range(6):
        views = rng.poisson(20 + 15 * np.sin(np.arange(len(DAYS)) / (9 + p)) + 15)
        units = rng.poisson(0.3 * np.r_[np.full(14, views.mean()), views[:-14]])
        sales += [{"sku": f"P{p}", "day": d, "units": u} for d, u in zip(DAYS, units, strict=True)]
        for d, v in zip(DAYS, views, strict=True):
            stamp = int(d.timestamp()) + 3600
            events += [{"item_id": f"P{p}", "behavior_type": "pv", "timestamp": stamp}] * int(v)
            events += [{"item_id": f"P{p}", "behavior_type": "cart", "timestamp": stamp}] * int(
                v // 5
            )
    return pd.DataFrame(sales), pd.DataFrame(events)


def test_an_event_log_joins_the_panel_as_counts_and_rates_per_product_and_day() -> None:
    sales, events = _tables()
    data = load_sales(sales, events=events)
    panel = data.panel
    assert {"views", "carts", "favourites", "purchases", "cart_rate", "conversion"} <= set(
        panel.columns
    )
    p0 = panel[panel["unique_id"] == "P0"].set_index("ds")
    raw = events[(events["item_id"] == "P0") & (events["behavior_type"] == "pv")]
    per_day = pd.to_datetime(raw["timestamp"], unit="s").dt.normalize().value_counts()
    assert p0["views"].reindex(per_day.index).tolist() == per_day.tolist()
    assert (p0["cart_rate"] <= 1).all() and p0["favourites"].eq(0).all()


def test_the_boosting_model_learns_from_lagged_views_and_never_reads_them_after_the_origin() -> (
    None
):
    sales, events = _tables()
    data = load_sales(sales, events=events)
    frame = model_frame(data.panel, True, True)
    model = make_model("lightgbm", season_length=7, calendar=data.calendar)
    model.fit(frame)
    features = model.importance_.set_index("feature")["importance"]
    assert "views_lag28" in features.index and features["views_lag28"] > 0
    fc = model.predict(14)

    # behaviour after the origin is unknown at forecast time: in a backtest, changing the
    # window's own views and carts changes nothing
    cut = frame["ds"].max() - pd.Timedelta(days=10)
    altered = frame.copy()
    late = altered["ds"] > cut
    altered.loc[late, ["views", "carts"]] = altered.loc[late, ["views", "carts"]] * 10 + 50
    runs = [
        make_model("lightgbm", season_length=7, calendar=data.calendar).cross_validation(
            f, h=10, n_windows=1
        )
        for f in (frame, altered)
    ]
    assert runs[0]["cutoff"].iloc[0] == cut
    assert np.allclose(runs[0]["lightgbm"], runs[1]["lightgbm"])
    assert len(fc) == 6 * 14


def test_a_horizon_beyond_the_behaviour_lag_refits_with_a_longer_lag() -> None:
    sales, events = _tables()
    data = load_sales(sales, events=events)
    model = make_model("lightgbm", season_length=7, calendar=data.calendar, past_lag=7)
    model.fit(model_frame(data.panel, True, True))
    assert "views_lag7" in set(model.importance_["feature"])
    fc = model.predict(21)
    assert model.past_lag_ == 21 and "views_lag21" in set(model.importance_["feature"])
    assert len(fc) == 6 * 21


def test_a_backtest_of_auto_and_lightgbm_runs_with_behaviour_columns() -> None:
    from trendcast.evaluation.backtest import run_backtest

    sales, events = _tables()
    data = load_sales(sales, events=events)
    result = run_backtest(
        data.panel, data.calendar, horizon=14, windows=2, models=["auto", "lightgbm"]
    )
    assert set(result.leaderboard["model"]) == {"auto", "lightgbm"}
    assert result.leaderboard["mase"].notna().all()


def test_an_event_log_without_known_columns_or_products_is_refused_with_the_fix() -> None:
    sales, events = _tables()
    with pytest.raises(InputError, match="--events-col type=COL"):
        load_sales(sales, events=events.rename(columns={"behavior_type": "what"}))
    with pytest.raises(InputError, match="same product ids"):
        load_sales(sales, events=events.assign(item_id="X" + events["item_id"]))
    data = load_sales(
        sales,
        events=events.rename(columns={"behavior_type": "what"}),
        events_columns={"behaviour": "what"},
    )
    assert "views" in data.panel.columns


def test_forecast_cli_reads_a_behaviour_log_and_refuses_a_malformed_column_role(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from trendcast.cli.main import app

    sales, events = _tables()
    sales.to_csv(tmp_path / "sales.csv", index=False)
    events.rename(columns={"behavior_type": "what"}).to_csv(tmp_path / "events.csv", index=False)
    out = tmp_path / "fc.csv"
    args = ["forecast", "-i", tmp_path / "sales.csv", "-o", out, "--model", "lightgbm", "-h", "7"]
    args += ["--events", tmp_path / "events.csv", "--store", tmp_path / "runs.duckdb"]
    result = CliRunner().invoke(app, [str(a) for a in [*args, "--events-col", "type=what"]])
    assert result.exit_code == 0, result.output
    fc = pd.read_csv(out)
    assert len(fc) == 6 * 7 and fc["forecast"].notna().all()
    bad = CliRunner().invoke(app, [str(a) for a in [*args, "--events-col", "kind=what"]])
    assert bad.exit_code == 2 and "ROLE=COLUMN" in bad.output
