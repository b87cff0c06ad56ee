"""The neural models (LSTM, N-HiTS, PatchTST): protocol, quantiles, fallback, reproducibility.

Every network here is tiny and trained for a few steps, so the file runs in
seconds; forecast quality is measured in benchmarks/, not here.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

# registers lstm, nhits and patchtst even before the registry loads them as built-ins
import trendcast.models.neural  # noqa: F401
from panels import weekly_panel
from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import ModelError
from trendcast.models import make_model, models_table
from trendcast.models.base import cutoffs_for, interval_columns

if importlib.util.find_spec("neuralforecast") is None:
    # find_spec, not importorskip: importing torch here would cost every test run seconds
    pytest.skip("neuralforecast is not installed", allow_module_level=True)

NEURAL = ["lstm", "nhits", "patchtst"]
LEVELS = [80, 95]
H = 7
TINY: dict[str, Any] = {
    "hidden_size": 8,
    "max_steps": 8,
    "val_check_steps": 4,
    "early_stop_patience_steps": 2,
    "batch_size": 8,
    "windows_batch_size": 32,
    "n_jobs": 1,
}
CLOSED_SAT = TradingCalendar("D", closed_weekdays=(5,))


_panel = weekly_panel


def _model(name: str, calendar: TradingCalendar = CLOSED_SAT, **params: Any) -> Any:
    return make_model(
        name, season_length=calendar.season_length, calendar=calendar, **{**TINY, **params}
    )


def _assert_ordered_non_negative(fc: pd.DataFrame, name: str) -> None:
    cols = [name, *interval_columns(name, LEVELS)]
    values = fc[cols].to_numpy()
    assert np.isfinite(values).all()
    assert (values >= 0).all()
    assert (fc[f"{name}-lo-95"] <= fc[f"{name}-lo-80"] + 1e-9).all()
    assert (fc[f"{name}-lo-80"] <= fc[name] + 1e-9).all()
    assert (fc[name] <= fc[f"{name}-hi-80"] + 1e-9).all()
    assert (fc[f"{name}-hi-80"] <= fc[f"{name}-hi-95"] + 1e-9).all()


@pytest.fixture(scope="module")
def closed_panel() -> pd.DataFrame:
    return _panel(closed=(5,))


@pytest.fixture(scope="module", params=NEURAL)
def fitted(request: pytest.FixtureRequest, closed_panel: pd.DataFrame) -> tuple[str, Any, Any]:
    """Each model fitted on a shop closed on Saturdays, with its first forecast."""
    name = request.param
    model = _model(name)
    fc = model.fit(closed_panel).predict(H, levels=LEVELS)
    return name, model, fc


# -- the protocol, on the common contract panel (as tests/test_models.py) --------------------


@pytest.mark.parametrize("name", NEURAL)
def test_every_neural_model_forecasts_every_series_with_ordered_non_negative_intervals(
    name: str,
) -> None:
    panel = _panel()
    fc = _model(name, TradingCalendar("D")).fit(panel).predict(H, levels=LEVELS)
    cols = [name, *interval_columns(name, LEVELS)]
    assert list(fc.columns) == ["unique_id", "ds", *cols]
    assert fc.groupby("unique_id").size().to_dict() == {f"sku{i}": H for i in range(4)}
    first = fc.groupby("unique_id")["ds"].min()
    assert (first == panel["ds"].max() + pd.Timedelta(days=1)).all()
    _assert_ordered_non_negative(fc, name)


@pytest.mark.parametrize("name", NEURAL)
def test_every_neural_model_backtests_on_common_cutoffs_with_actuals(name: str) -> None:
    panel = _panel()
    cv = _model(name, TradingCalendar("D")).cross_validation(
        panel, h=H, n_windows=2, step=H, levels=LEVELS
    )
    assert {"unique_id", "ds", "cutoff", "y", name} <= set(cv.columns)
    assert sorted(cv["cutoff"].unique()) == cutoffs_for(panel, H, 2, H)
    assert len(cv) == 4 * 2 * H
    assert (cv["ds"] > cv["cutoff"]).all()
    truth = panel.set_index(["unique_id", "ds"])["y"]
    got = cv.set_index(["unique_id", "ds"])["y"]
    assert np.allclose(got, truth.loc[got.index])


@pytest.mark.parametrize("name", NEURAL)
def test_every_neural_model_declares_its_capabilities(name: str) -> None:
    row = models_table().set_index("model").loc[name]
    assert row["family"] == "neural"
    assert row["intervals"] and row["global"]
    assert not row["future_covariates"]
    assert isinstance(row["description"], str) and row["description"]


# -- on a shop closed on Saturdays ------------------------------------------------------------


def test_neural_forecasts_skip_the_closed_weekday_and_keep_quantiles_in_order(
    fitted: tuple[str, Any, Any], closed_panel: pd.DataFrame
) -> None:
    name, model, fc = fitted
    assert fc.groupby("unique_id").size().to_dict() == {f"sku{i}": H for i in range(4)}
    assert not (fc["ds"].dt.dayofweek == 5).any()
    expected = CLOSED_SAT.future(closed_panel["ds"].max(), H)
    for _, rows in fc.groupby("unique_id"):
        assert list(rows["ds"]) == list(expected)
    _assert_ordered_non_negative(fc, name)
    assert model.fallback_ == set()


def test_neural_training_records_train_and_validation_losses(fitted: tuple[str, Any, Any]) -> None:
    _, model, _ = fitted
    history = model.history_
    assert list(history.columns) == ["step", "train_loss", "valid_loss"]
    assert history["train_loss"].notna().sum() >= 4
    assert history["valid_loss"].notna().sum() >= 1
    assert history["step"].is_monotonic_increasing


def test_the_same_seed_gives_the_same_forecast(
    fitted: tuple[str, Any, Any], closed_panel: pd.DataFrame
) -> None:
    name, _, fc = fitted
    again = _model(name).fit(closed_panel).predict(H, levels=LEVELS)
    pd.testing.assert_frame_equal(fc, again)


def test_a_level_the_network_was_not_trained_for_raises(fitted: tuple[str, Any, Any]) -> None:
    _, model, _ = fitted
    with pytest.raises(ModelError, match=r"trained for the levels \[80, 95\], not \[90\]"):
        model.predict(H, levels=[90])


def test_a_shorter_horizon_reuses_the_trained_network(fitted: tuple[str, Any, Any]) -> None:
    name, model, fc = fitted
    short = model.predict(3, levels=[80])
    assert list(model.networks_) == [H]
    head = fc.groupby("unique_id").head(3).reset_index(drop=True)
    pd.testing.assert_frame_equal(short, head[short.columns])


# -- horizons, levels, short series -----------------------------------------------------------


def test_a_fixed_horizon_trains_at_fit_and_a_longer_one_trains_another_network() -> None:
    panel = _panel(n_series=2, n_days=150)
    model = _model("nhits", TradingCalendar("D"), horizon=H, levels=(50, 80, 95))
    model.fit(panel)
    assert list(model.networks_) == [H]
    assert model.history_["train_loss"].notna().any()
    fc = model.predict(H, levels=[50, 95])
    assert {"nhits-lo-50", "nhits-hi-95"} <= set(fc.columns)
    longer = model.predict(2 * H, levels=LEVELS)
    assert sorted(model.networks_) == [H, 2 * H]
    assert longer.groupby("unique_id").size().eq(2 * H).all()


def test_levels_asked_at_the_first_predict_are_trained_along_with_the_default_ones() -> None:
    panel = _panel(n_series=2)
    model = _model("lstm", TradingCalendar("D"))
    fc = model.fit(panel).predict(H, levels=[90])
    assert model.networks_[H].levels == (80, 90, 95)
    assert {"lstm-lo-90", "lstm-hi-90"} <= set(fc.columns)
    assert not model.predict(H, levels=[80, 95]).empty


def test_series_too_short_for_the_network_fall_back_to_the_historic_average() -> None:
    panel = _panel(n_series=2)
    short = pd.DataFrame(
        {
            "unique_id": "new",
            "ds": panel["ds"].max() - pd.to_timedelta([2, 1, 0], unit="D"),
            "y": [1.0, 0, 2],
        }
    )
    model = _model("nhits", TradingCalendar("D"))
    fc = model.fit(pd.concat([panel, short], ignore_index=True)).predict(H, levels=LEVELS)
    assert model.fallback_ == {"new"}
    assert np.allclose(fc.loc[fc["unique_id"] == "new", "nhits"], 1.0)
    assert fc.groupby("unique_id").size().eq(H).all()
    _assert_ordered_non_negative(fc, "nhits")


def test_when_every_series_is_too_short_all_fall_back_without_training() -> None:
    panel = _panel(n_series=2, n_days=20)
    model = _model("patchtst", TradingCalendar("D"))
    fc = model.fit(panel).predict(H, levels=LEVELS)
    assert model.fallback_ == {"sku0", "sku1"}
    assert model.networks_[H].nf is None and model.history_.empty
    assert len(fc) == 2 * H


def test_training_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    _model("lstm", TradingCalendar("D")).fit(_panel(n_series=2)).predict(H, levels=LEVELS)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_importing_the_neural_models_does_not_import_torch() -> None:
    code = (
        "import sys, trendcast, trendcast.models.neural; "
        "assert 'torch' not in sys.modules and 'neuralforecast' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_new_history_is_forecast_from_its_end_without_retraining(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = _panel(n_series=3, closed=(5,))
    cut = full["ds"].unique()[-12]
    model = _model("lstm", horizon=H).fit(full[full["ds"] <= cut])
    before = model.predict(H)

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was retrained")

    monkeypatch.setattr(type(model), "_train", no_training)
    after = model.update(full).predict(H)
    assert after["ds"].min() == CLOSED_SAT.future(full["ds"].max(), 1)[0]
    assert before["ds"].max() < after["ds"].min()
    assert len(after) == 3 * H and not (after["ds"].dt.dayofweek == 5).any()


def test_a_backtest_trains_one_network_and_no_window_sees_its_future(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = _panel(n_series=3, closed=(5,))
    model = _model("nhits")
    trained: list[pd.Timestamp] = []
    train = type(model)._train

    def counting(self: Any, h: int, levels: Any) -> Any:
        trained.append(self.train_["ds"].max())
        return train(self, h, levels)

    monkeypatch.setattr(type(model), "_train", counting)
    cv = model.cross_validation(full, h=H, n_windows=3, step=H, levels=LEVELS)
    cutoffs = sorted(cv["cutoff"].unique())
    assert len(cutoffs) == 3 and trained == [cutoffs[0]]
    assert (cv["ds"] > cv["cutoff"]).all()
    assert cv.groupby("cutoff").size().eq(3 * H).all()
    # later windows forecast from their own cutoff's history, so they differ from a replay
    first = cv[cv["cutoff"] == cutoffs[0]]["nhits"].to_numpy()
    last = cv[cv["cutoff"] == cutoffs[-1]]["nhits"].to_numpy()
    assert not np.allclose(first, last)
