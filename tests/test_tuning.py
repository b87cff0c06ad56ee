"""Hyperparameter search and its use through --params."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from trendcast.cli.main import app
from trendcast.data.calendar import TradingCalendar
from trendcast.evaluation.tuning import tune
from trendcast.exceptions import ConfigError

pytest.importorskip("optuna")
pytest.importorskip("lightgbm")


def _panel() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    dates = pd.date_range("2024-01-01", periods=120, freq="D")
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": f"s{i}",
                    "ds": dates,
                    "y": rng.poisson(5 + i * (1 + np.sin(np.arange(120) / 7 * 2 * np.pi))).astype(
                        float
                    ),
                }
            )
            for i in range(5)
        ],
        ignore_index=True,
    )


def test_tuning_keeps_every_trial_and_returns_the_best() -> None:
    result = tune(
        _panel(), TradingCalendar("D"), model="linear", horizon=7, time_budget=60, n_trials=4
    )
    assert len(result.history) == 4
    assert {"trial", "mase", "seconds", "state", "alpha"} <= set(result.history.columns)
    assert result.best_mase == pytest.approx(result.history["mase"].min())
    assert set(result.best_params) == {"alpha"}


def test_a_model_without_a_search_space_is_refused() -> None:
    with pytest.raises(ConfigError, match="'seasonal_naive' cannot be tuned"):
        tune(_panel(), TradingCalendar("D"), model="seasonal_naive", horizon=7)


def test_tune_writes_params_that_forecast_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "sales.csv"
    _panel().rename(columns={"unique_id": "sku", "ds": "date", "y": "units"}).to_csv(
        src, index=False
    )
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "tune",
            "--input",
            str(src),
            "--model",
            "lightgbm",
            "--horizon",
            "7",
            "--trials",
            "2",
            "--time-budget",
            "120",
            "--output",
            "p.json",
        ],
    )
    assert result.exit_code == 0, result.output
    from trendcast.store import RunStore

    with RunStore(tmp_path / "trendcast.duckdb", read_only=True) as store:
        record = store.get_run("latest")
    assert record.kind == "tune" and len(record.tables["tuning_history"]) == 2
    payload = json.loads((tmp_path / "p.json").read_text())
    assert payload["model"] == "lightgbm" and "num_leaves" in payload["params"]
    result = runner.invoke(
        app,
        [
            "forecast",
            "--input",
            str(src),
            "--model",
            "lightgbm",
            "--horizon",
            "7",
            "--params",
            "p.json",
            "--output",
            "fc.csv",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "fc.csv")) == 35
    result = runner.invoke(
        app, ["forecast", "--input", str(src), "--params", "missing.json", "--output", "fc.csv"]
    )
    assert result.exit_code == 2 and "Parameter file not found" in result.output
