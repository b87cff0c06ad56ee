"""MLflow tracking of runs when MLFLOW_TRACKING_URI is set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trendcast as tc

mlflow = pytest.importorskip("mlflow")


def _sales() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    dates = pd.date_range("2024-01-01", periods=90, freq="D")
    return pd.concat(
        [
            pd.DataFrame({"sku": f"s{i}", "date": dates, "units": rng.poisson(4 + i, 90)})
            for i in range(3)
        ],
        ignore_index=True,
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside MLflow's own modules
@pytest.mark.filterwarnings("ignore::FutureWarning")  # likewise
def test_a_run_is_logged_with_params_metrics_and_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "trendcast-test")
    monkeypatch.chdir(tmp_path)
    result = tc.run(
        _sales(),
        out_dir=tmp_path / "out",
        store_path=tmp_path / "runs.duckdb",
        horizon=7,
        windows=1,
        model="seasonal_naive",
        models=["naive"],
    )
    runs = mlflow.search_runs(experiment_names=["trendcast-test"])
    assert len(runs) == 1
    row = runs.iloc[0]
    assert row["tags.trendcast.run_id"] == result.run_id
    assert row["params.horizon"] == "7"
    assert row["metrics.seasonal_naive.mase"] > 0
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(row["run_id"])}
    assert {"report.html", "forecast.csv", "leaderboard.csv"} <= artifacts


def test_nothing_is_logged_without_a_tracking_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from trendcast.tracking import log_run

    assert log_run("r1", {}, pd.DataFrame(), {}) is None
