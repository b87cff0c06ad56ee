"""The foundation models (Chronos-Bolt, Chronos-2, TimesFM), on tiny random-weight models.

The models have the real architectures at toy sizes, are saved to temporary
folders and load through the same path users take (``model_path=DIR``), fully
offline. Their forecasts are noise: these tests check the plumbing (calendar
grid, intervals, covariates, fine-tuning, errors), not accuracy.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import ModelError
from trendcast.models import make_model, models_table
from trendcast.models.base import interval_columns

pytest.importorskip("chronos")
pytest.importorskip("torch")

HAS_TIMESFM = importlib.util.find_spec("timesfm3") is not None
TIMESFM = pytest.param(
    "timesfm", marks=pytest.mark.skipif(not HAS_TIMESFM, reason="timesfm is not installed")
)
CHRONOS = ["chronos_bolt", "chronos2"]
MODELS = [*CHRONOS, TIMESFM]
LEVELS = [80, 95]
H = 14


@pytest.fixture(scope="session")
def foundation() -> ModuleType:
    # imported when the tests run, not when collected: importing registers the models, and
    # collecting this file must not change the registry that other test files parametrise over
    return importlib.import_module("trendcast.models.foundation")


@pytest.fixture(scope="session")
def tiny_models(
    tmp_path_factory: pytest.TempPathFactory, foundation: ModuleType
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("foundation")
    kinds = [*CHRONOS, "timesfm"] if HAS_TIMESFM else CHRONOS
    return {kind: foundation.save_random_model(root / kind, kind, "toy") for kind in kinds}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, foundation: ModuleType) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads the variable when first imported: set its flag too
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def _panel(
    closed: tuple[int, ...] = (), n_days: int = 120, covariates: bool = False
) -> pd.DataFrame:
    """Three weekly-seasonal series; ``late`` starts later and ``early`` stops a week early."""
    rng = np.random.default_rng(3)
    cal = TradingCalendar("D", closed_weekdays=closed)
    dates = cal.range(
        pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-01") + pd.Timedelta(days=n_days)
    )
    frames = []
    for i, uid in enumerate(["early", "late", "steady"]):
        d = dates[:-7] if uid == "early" else dates[40:] if uid == "late" else dates
        weekly = 1 + 0.5 * np.sin(2 * np.pi * np.arange(len(d)) / 7)
        frame = pd.DataFrame(
            {"unique_id": uid, "ds": d, "y": rng.poisson((20 + 10 * i) * weekly).astype(float)}
        )
        if covariates:
            frame["promo"] = (rng.random(len(d)) < 0.2).astype(float)
            frame["channel"] = rng.choice(["app", "web"], size=len(d))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _model(name: str, paths: dict[str, Path], **params: Any) -> Any:
    cal = params.pop("calendar", TradingCalendar("D"))
    return make_model(name, model_path=paths[name], calendar=cal, n_jobs=1, **params)


@pytest.mark.parametrize("name", MODELS)
def test_every_series_gets_h_periods_with_ordered_non_negative_intervals(
    name: str, tiny_models: dict[str, Path]
) -> None:
    panel = _panel()
    fc = _model(name, tiny_models).fit(panel).predict(H, levels=LEVELS)
    cols = [name, *interval_columns(name, LEVELS)]
    assert list(fc.columns) == ["unique_id", "ds", *cols]
    assert fc.groupby("unique_id").size().to_dict() == {"early": H, "late": H, "steady": H}
    # each series continues from its own last date
    last = panel.groupby("unique_id")["ds"].max()
    first = fc.groupby("unique_id")["ds"].min()
    assert (first == last + pd.Timedelta(days=1)).all()
    values = fc[cols].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all()
    assert (fc[f"{name}-lo-95"] <= fc[f"{name}-lo-80"] + 1e-9).all()
    assert (fc[f"{name}-lo-80"] <= fc[name] + 1e-9).all()
    assert (fc[name] <= fc[f"{name}-hi-80"] + 1e-9).all()
    assert (fc[f"{name}-hi-80"] <= fc[f"{name}-hi-95"] + 1e-9).all()


@pytest.mark.parametrize("name", MODELS)
def test_a_closed_weekday_never_appears_in_forecasts(
    name: str, tiny_models: dict[str, Path]
) -> None:
    cal = TradingCalendar("D", closed_weekdays=(6,))
    fc = _model(name, tiny_models, calendar=cal).fit(_panel(closed=(6,))).predict(H)
    assert len(fc) == 3 * H
    assert not (fc["ds"].dt.dayofweek == 6).any()


@pytest.mark.parametrize("name", ["chronos_bolt", TIMESFM])
def test_bounds_beyond_the_trained_quantiles_are_stretched_not_clamped(
    name: str, tiny_models: dict[str, Path]
) -> None:
    panel = _panel().assign(y=lambda d: d["y"] + 1000.0)
    fc = _model(name, tiny_models).fit(panel).predict(H, levels=LEVELS)
    # where the floor at zero does not bite (random weights give wide intervals)
    fc = fc[fc[f"{name}-lo-95"] > 0]
    assert len(fc) > 10
    med, lo80, lo95 = fc[name], fc[f"{name}-lo-80"], fc[f"{name}-lo-95"]
    hi80, hi95 = fc[f"{name}-hi-80"], fc[f"{name}-hi-95"]
    # 0.025 lies beyond the trained 0.1: the 0.1 bound's distance times z(0.025) / z(0.1)
    assert np.allclose(med - lo95, (med - lo80) * 1.959964 / 1.281552, rtol=1e-4)
    assert np.allclose(hi95 - med, (hi80 - med) * 1.959964 / 1.281552, rtol=1e-4)
    assert (lo95 < lo80).any()


def test_horizons_past_the_trained_length_are_unrolled_quietly(
    tiny_models: dict[str, Path],
) -> None:
    # Chronos-Bolt is trained for 64 periods; warnings are errors in this suite
    fc = _model("chronos_bolt", tiny_models, context_length=60).fit(_panel()).predict(70)
    assert len(fc) == 3 * 70 and np.isfinite(fc["chronos_bolt"]).all()


def test_levels_between_trained_quantiles_are_interpolated(tiny_models: dict[str, Path]) -> None:
    fc = _model("chronos_bolt", tiny_models).fit(_panel()).predict(H, levels=[60, 70, 80])
    # 0.15 lies halfway between the trained 0.1 and 0.2: strictly inside, ordered
    assert (fc["chronos_bolt-lo-80"] <= fc["chronos_bolt-lo-70"] + 1e-9).all()
    assert (fc["chronos_bolt-lo-70"] <= fc["chronos_bolt-lo-60"] + 1e-9).all()
    assert (fc["chronos_bolt-hi-60"] <= fc["chronos_bolt-hi-70"] + 1e-9).all()


def test_chronos2_reads_past_and_future_covariates(tiny_models: dict[str, Path]) -> None:
    panel = _panel(covariates=True)
    cal = TradingCalendar("D")
    future = pd.concat(
        [
            pd.DataFrame(
                {"unique_id": uid, "ds": cal.future(last, H), "promo": 1.0, "channel": "app"}
            )
            for uid, last in panel.groupby("unique_id")["ds"].max().items()
        ]
    )
    model = _model("chronos2", tiny_models).fit(panel)
    assert model.covariates_ == ["promo", "channel"]
    with_future = model.predict(H, X_df=future, levels=LEVELS)
    without = model.predict(H, levels=LEVELS)
    assert with_future[["unique_id", "ds"]].equals(without[["unique_id", "ds"]])
    assert np.isfinite(with_future["chronos2"]).all()
    # the future values reach the network
    assert not np.allclose(with_future["chronos2"], without["chronos2"])
    # and so do the past ones: the same target without covariates forecasts differently
    plain = _model("chronos2", tiny_models).fit(panel[["unique_id", "ds", "y"]]).predict(H)
    assert not np.allclose(plain["chronos2"], without["chronos2"])


@pytest.mark.parametrize("name", ["chronos_bolt", TIMESFM])
def test_univariate_models_ignore_covariate_columns(
    name: str, tiny_models: dict[str, Path]
) -> None:
    panel = _panel(covariates=True)
    model = _model(name, tiny_models).fit(panel)
    assert model.covariates_ == []
    plain = _model(name, tiny_models).fit(panel[["unique_id", "ds", "y"]]).predict(H)
    assert np.allclose(model.predict(H)[name], plain[name])


def test_chronos2_backtests_with_the_window_covariates(tiny_models: dict[str, Path]) -> None:
    panel = _panel(covariates=True)
    cv = _model("chronos2", tiny_models).cross_validation(panel, h=7, n_windows=2, levels=[80])
    assert {"unique_id", "ds", "cutoff", "y", "chronos2", "chronos2-lo-80"} <= set(cv.columns)
    assert cv["cutoff"].nunique() == 2
    assert (cv["ds"] > cv["cutoff"]).all()


def test_chronos2_fine_tuning_a_few_steps_changes_the_forecast_and_not_the_shared_model(
    tiny_models: dict[str, Path],
) -> None:
    panel = _panel()
    zero_shot = _model("chronos2", tiny_models).fit(panel).predict(H)
    tuned = _model(
        "chronos2", tiny_models, fine_tune=True, fine_tune_steps=3, learning_rate=1e-2
    ).fit(panel)
    fc = tuned.predict(H, levels=[80])
    assert np.isfinite(fc["chronos2"]).all()
    assert not np.allclose(fc["chronos2"], zero_shot["chronos2"])
    assert tuned.fine_tuned_[(H, ())] is not tuned.pipeline_
    # the pretrained pipeline, shared through the cache, is untouched
    again = _model("chronos2", tiny_models).fit(panel).predict(H)
    assert np.allclose(again["chronos2"], zero_shot["chronos2"])


def test_chronos2_fine_tuning_on_series_shorter_than_two_horizons_says_what_to_do(
    tiny_models: dict[str, Path],
) -> None:
    panel = _panel(n_days=30)
    model = _model("chronos2", tiny_models, fine_tune=True, fine_tune_steps=1).fit(panel)
    with pytest.raises(ModelError, match="needs series with at least 56 periods.*fine_tune=False"):
        model.predict(28)


def test_series_too_short_fall_back_to_historic_average_and_are_named(
    tiny_models: dict[str, Path],
) -> None:
    panel = _panel()
    newcomer = pd.DataFrame(
        {
            "unique_id": "new",
            "ds": panel["ds"].max() - pd.to_timedelta([2, 1, 0], unit="D"),
            "y": [1.0, 3.0, 2.0],
        }
    )
    model = _model("chronos_bolt", tiny_models)
    fc = model.fit(pd.concat([panel, newcomer], ignore_index=True)).predict(H, levels=[80])
    assert model.fallback_ == {"new"}
    assert np.allclose(fc.loc[fc["unique_id"] == "new", "chronos_bolt"], 2.0)
    assert len(fc) == 4 * H and fc["chronos_bolt-lo-80"].notna().all()


def test_a_pipeline_loads_once_per_path(
    tiny_models: dict[str, Path], foundation: ModuleType
) -> None:
    first = foundation.load_chronos_pipeline(tiny_models["chronos_bolt"])
    again = foundation.load_chronos_pipeline(str(tiny_models["chronos_bolt"]))
    assert first is again
    assert type(first).__name__ == "ChronosBoltPipeline"
    assert (
        type(foundation.load_chronos_pipeline(tiny_models["chronos2"])).__name__
        == "Chronos2Pipeline"
    )


def test_an_unreachable_hub_id_says_how_to_get_the_weights() -> None:
    started = time.perf_counter()
    with pytest.raises(
        ModelError,
        match=r"Cannot load Chronos weights 'amazon/chronos-2': no local folder by that name and "
        r"the Hugging Face Hub cannot be reached.*hf download amazon/chronos-2 --local-dir DIR",
    ):
        make_model("chronos2").fit(_panel())
    assert time.perf_counter() - started < 20


def test_a_missing_local_folder_says_how_to_get_the_weights(tmp_path: Path) -> None:
    with pytest.raises(
        ModelError, match="no folder at that path.*hf download amazon/chronos-bolt-small"
    ):
        make_model("chronos_bolt", model_path=tmp_path / "nowhere").fit(_panel())


def test_a_folder_without_a_chronos_model_says_so(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="holds no Chronos model.*config.json"):
        make_model("chronos2", model_path=tmp_path).fit(_panel())


def test_weights_of_the_other_chronos_model_say_which_model_runs_them(
    tiny_models: dict[str, Path],
) -> None:
    with pytest.raises(ModelError, match="ChronosBoltPipeline model.*use the model 'chronos_bolt'"):
        make_model("chronos2", model_path=tiny_models["chronos_bolt"]).fit(_panel())


@pytest.mark.skipif(not HAS_TIMESFM, reason="timesfm is not installed")
def test_timesfm_weights_that_cannot_be_had_say_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(
        ModelError,
        match=r"Cannot load TimesFM weights 'google/timesfm-3.0-pytorch'.*"
        r"hf download google/timesfm-3.0-pytorch --local-dir DIR",
    ):
        make_model("timesfm").fit(_panel())
    with pytest.raises(ModelError, match="holds no TimesFM model"):
        make_model("timesfm", model_path=tmp_path).fit(_panel())


def test_foundation_models_declare_their_capabilities() -> None:
    table = models_table().set_index("model")
    for name in [*CHRONOS, "timesfm"]:
        assert table.loc[name, "family"] == "foundation"
        assert table.loc[name, "global"] and table.loc[name, "intervals"]
    assert table.loc["chronos2", "future_covariates"]
    assert not table.loc["chronos_bolt", "future_covariates"]
    assert not table.loc["timesfm", "future_covariates"]


def test_importing_trendcast_and_the_module_does_not_import_torch() -> None:
    code = (
        "import sys, trendcast, trendcast.models.foundation; "
        "heavy = ('torch', 'chronos', 'transformers', 'timesfm3'); "
        "sys.exit(int(any(m in sys.modules for m in heavy)))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
