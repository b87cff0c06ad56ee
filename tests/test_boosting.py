"""The global machine-learning models: features used, covariates, explanations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trendcast.data.calendar import TradingCalendar
from trendcast.evaluation.explain import driver_of, drivers_summary, forecast_contributions
from trendcast.exceptions import ModelError
from trendcast.features.covariates import model_frame
from trendcast.models import make_model

pytest.importorskip("mlforecast")
pytest.importorskip("lightgbm")


def _promo_panel(n_series: int = 6, n_days: int = 200) -> pd.DataFrame:
    """Demand that doubles on promotion days: a model using the covariate must see it."""
    rng = np.random.default_rng(11)
    dates = pd.date_range("2024-01-01", periods=n_days, freq="D")
    frames = []
    for i in range(n_series):
        promo = (rng.random(n_days) < 0.2).astype(float)
        base = 10 + 3 * i
        y = rng.poisson(base * (1 + promo)).astype(float)
        frames.append(
            pd.DataFrame(
                {"unique_id": f"p{i}", "ds": dates, "y": y, "promo": promo, "price": 5.0 - promo}
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def fitted() -> tuple[object, pd.DataFrame]:
    panel = _promo_panel()
    model = make_model("lightgbm", season_length=7, calendar=TradingCalendar("D"), n_estimators=80)
    model.fit(model_frame(panel, future_covariates=True))
    return model, panel


def test_lightgbm_uses_planned_promotions_in_the_forecast(
    fitted: tuple[object, pd.DataFrame],
) -> None:
    model, panel = fitted
    future = pd.date_range(panel["ds"].max() + pd.Timedelta(days=1), periods=7)
    ids = panel["unique_id"].unique()
    plan = pd.DataFrame([(u, d) for u in ids for d in future], columns=["unique_id", "ds"])
    on = model.predict(
        7, X_df=plan.assign(promo=1.0, price=4.0, rel_price=0.8, discount=0.2, price_change=0.0)
    )
    off = model.predict(
        7, X_df=plan.assign(promo=0.0, price=5.0, rel_price=1.0, discount=0.0, price_change=0.0)
    )
    assert on["lightgbm"].sum() > 1.3 * off["lightgbm"].sum()


def test_feature_importance_names_the_promotion(fitted: tuple[object, pd.DataFrame]) -> None:
    model, _ = fitted
    top = model.importance_.head(5)["feature"].tolist()
    assert any(f in top for f in ("promo", "discount", "rel_price", "price"))


def test_shap_contributions_cover_every_product_and_step_and_name_drivers(
    fitted: tuple[object, pd.DataFrame],
) -> None:
    model, _ = fitted
    contrib = forecast_contributions(model, 7)
    assert set(contrib.columns) == {"unique_id", "step", "feature", "contribution"}
    assert contrib["step"].max() == 7
    assert set(contrib["unique_id"]) == {f"p{i}" for i in range(6)}
    summary = drivers_summary(contrib, top=3)
    assert summary.groupby("unique_id").size().eq(3).all()
    assert set(summary["direction"]) <= {"raises", "lowers"}
    assert "promotion" in set(summary["driver"]) or "price" in set(summary["driver"])


def test_drivers_have_planner_names() -> None:
    assert driver_of("fest_double11") == "festival: double11"
    assert driver_of("rolling_mean_lag1_window_size28") == "recent sales level"
    assert driver_of("rel_price") == "price"
    assert driver_of("dayofweek") == "day of week"
    assert driver_of("category") == "category"


def test_linear_model_reports_its_coefficients() -> None:
    panel = _promo_panel()
    model = make_model("linear", season_length=7, calendar=TradingCalendar("D"))
    model.fit(model_frame(panel, future_covariates=True)).predict(7)
    coefs = model.coefficients_.set_index("feature")["coefficient"]
    assert coefs["promo"] > 0


def test_explaining_an_unfitted_model_is_a_model_error() -> None:
    model = make_model("lightgbm", season_length=7, calendar=TradingCalendar("D"))
    with pytest.raises(ModelError, match="fitted lightgbm"):
        forecast_contributions(model, 7)
