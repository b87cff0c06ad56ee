"""The distributed engines give the local engine's forecasts.

Dask runs on one module-wide ``LocalCluster`` of two worker processes, Spark in
``local[2]`` mode and Ray with ``num_cpus=2``. The statistical models agree with
the local engine exactly: each partition runs the same statsforecast call on whole
products, and the results keep float64. LightGBM trained on the Dask workers is a different, equally valid model:
data-parallel LightGBM bins each feature from every worker's own rows and draws its
bagging sample per worker, and which partition lands on which worker (its rank)
varies from run to run; its forecasts are compared within a tolerance instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import pickle
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import trendcast as tc
from trendcast.engines import Engine, PartitionedForecaster
from trendcast.exceptions import ConfigError, MissingDependencyError
from trendcast.pipeline import backtest, fit_forecast

HAS_DASK = all(importlib.util.find_spec(m) for m in ("distributed", "fugue_dask"))
HAS_SPARK = importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None
HAS_RAY = all(importlib.util.find_spec(m) for m in ("ray", "fugue_ray"))
HORIZON = 14
SAME = {"rtol": 1e-12, "atol": 0.0}


def _sales(n_series: int = 8, n_days: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    dates = pd.date_range("2024-01-01", periods=n_days, freq="D")
    frames = []
    for i in range(n_series):
        weekly = 1 + 0.4 * np.sin(2 * np.pi * np.arange(n_days) / 7)
        qty = rng.poisson((3 + 2 * i) * weekly).astype(float)
        frames.append(pd.DataFrame({"sku": f"sku{i}", "date": dates, "qty": qty}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def data() -> tc.PreparedData:
    return tc.load_sales(_sales(), mode="sales", cleaning=tc.CleaningConfig(outliers="none"))


@pytest.fixture(scope="module")
def dask_engine() -> Iterator[Engine]:
    if not HAS_DASK:
        pytest.skip('Dask is not installed (pip install "trendcast[dask]")')
    with Engine("dask", workers=2) as engine:
        yield engine


def _assert_same_forecast(local: pd.DataFrame, other: pd.DataFrame, **tol: float) -> None:
    """Same rows, columns, dtypes and labels; values equal within ``tol``."""
    assert list(other.columns) == list(local.columns)
    assert other.dtypes.to_dict() == local.dtypes.to_dict()
    labels = [c for c in local.columns if not c.startswith("forecast")]
    pd.testing.assert_frame_equal(other[labels], local[labels])
    values = [c for c in local.columns if c.startswith("forecast")]
    np.testing.assert_allclose(other[values].to_numpy(), local[values].to_numpy(), **tol)


# -- Dask ---------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("model", ["croston", "auto"])
def test_dask_statistical_forecasts_match_the_local_engine(
    data: tc.PreparedData, dask_engine: Engine, model: str
) -> None:
    local, _ = fit_forecast(data, horizon=HORIZON, model=model)
    on_dask, _ = fit_forecast(data, horizon=HORIZON, model=model, engine=dask_engine)
    _assert_same_forecast(local, on_dask, **SAME)


@pytest.mark.slow
def test_dask_backtest_matches_the_local_engine(data: tc.PreparedData, dask_engine: Engine) -> None:
    models = ["naive", "croston"]
    local = backtest(data, horizon=HORIZON, windows=2, models=models)
    on_dask = backtest(data, horizon=HORIZON, windows=2, models=models, engine=dask_engine)
    _assert_same_forecast(local.backtest, on_dask.backtest, **SAME)
    pd.testing.assert_frame_equal(
        on_dask.leaderboard.drop(columns="time_s"),
        local.leaderboard.drop(columns="time_s"),
        rtol=1e-4,
    )


@pytest.mark.slow
def test_dask_trains_lightgbm_on_the_workers_close_to_the_local_model(
    data: tc.PreparedData, dask_engine: Engine
) -> None:
    params = {"n_estimators": 60}
    local, _ = fit_forecast(data, horizon=HORIZON, model="lightgbm", params=params)
    on_dask, fitted = fit_forecast(
        data, horizon=HORIZON, model="lightgbm", params=params, engine=dask_engine
    )
    labels = ["unique_id", "ds", "model"]
    pd.testing.assert_frame_equal(on_dask[labels], local[labels])
    assert on_dask.dtypes.to_dict() == local.dtypes.to_dict()
    # a different fit of the same model: close per product, not equal (see the module doc)
    level = local.groupby("unique_id")["forecast"].mean()
    gap = (on_dask["forecast"] - local["forecast"]).abs().groupby(local["unique_id"]).mean()
    assert (gap / level).max() < 0.2
    lo, hi = on_dask["forecast-lo-80"], on_dask["forecast-hi-80"]
    assert (lo <= on_dask["forecast"]).all() and (on_dask["forecast"] <= hi).all()
    # the booster came back to the driver: the fitted model pickles and predicts locally
    assert type(fitted.model_.models_["lightgbm"]).__name__ == "LGBMRegressor"
    again = pickle.loads(pickle.dumps(fitted)).predict(HORIZON, levels=[80, 95])
    np.testing.assert_allclose(again["lightgbm"], on_dask["forecast"])


@pytest.mark.slow
def test_dask_runs_a_foundation_model_per_partition_with_the_local_forecasts(
    data: tc.PreparedData,
    dask_engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("chronos")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # imported here, not at collection: importing registers models other files count
    foundation = importlib.import_module("trendcast.models.foundation")
    path = foundation.save_random_model(tmp_path_factory.mktemp("bolt") / "m", "chronos_bolt")
    params = {"model_path": str(path)}
    local, _ = fit_forecast(data, horizon=HORIZON, model="chronos_bolt", params=params)
    on_dask, fitted = fit_forecast(
        data, horizon=HORIZON, model="chronos_bolt", params=params, engine=dask_engine
    )
    # zero-shot and one series at a time: partitioning the products changes nothing
    _assert_same_forecast(local, on_dask, rtol=1e-4, atol=1e-4)
    # two partitions of four products (every product has as many rows)
    assert isinstance(fitted, PartitionedForecaster)
    assert [len(ids) for ids in fitted.ids_] == [4, 4]
    assert set().union(*fitted.ids_) == set(data.panel["unique_id"])
    # the fitted copies came back: the wrapper pickles for the run store and predicts locally
    again = pickle.loads(pickle.dumps(fitted)).predict(HORIZON, levels=[80, 95])
    np.testing.assert_allclose(again["chronos_bolt"], on_dask["forecast"], rtol=1e-4, atol=1e-4)


def _cli_local_and_on_dask(
    tmp_path: Path, dask_engine: Engine, model: str, *extra: object
) -> dict[str, tuple[str, str]]:
    """``trendcast forecast`` of the same sales file locally and on the running cluster:
    per engine, the output CSV's text and what the command said."""
    from trendcast.cli.main import app

    sales = tmp_path / "sales.csv"
    _sales().to_csv(sales, index=False)
    args = ["--input", sales, "--sales-table", "--horizon", HORIZON, "--model", model, *extra]
    args += ["--store", tmp_path / "runs.duckdb"]
    address = dask_engine.client.scheduler.address
    outputs = {}
    for name, where in {
        "local": [],
        "dask": ["--engine", "dask", "--engine-address", address],
    }.items():
        out = tmp_path / f"{name}.csv"
        result = CliRunner().invoke(app, [str(a) for a in ["forecast", "-o", out, *args, *where]])
        assert result.exit_code == 0, result.output
        outputs[name] = (out.read_text(), result.output)
    return outputs


@pytest.mark.slow
def test_cli_forecast_connects_to_a_running_dask_scheduler(
    dask_engine: Engine, tmp_path: Path
) -> None:
    outputs = _cli_local_and_on_dask(tmp_path, dask_engine, "seasonal_naive")
    local, on_dask = (pd.read_csv(io.StringIO(outputs[k][0])) for k in ("local", "dask"))
    pd.testing.assert_frame_equal(on_dask, local, rtol=1e-5)


@pytest.mark.slow
def test_chunked_forecasts_on_dask_match_the_local_chunked_forecasts(
    data: tc.PreparedData, dask_engine: Engine, tmp_path: Path
) -> None:
    """``--chunk-size`` with ``--engine dask``: the driver reads and prepares a chunk at a
    time (streamed from a file, or cut from the panel in memory), the cluster forecasts it."""
    from trendcast.chunked import forecast_in_chunks

    outputs = _cli_local_and_on_dask(tmp_path, dask_engine, "croston", "--chunk-size", 3)
    said = outputs["dask"][1]
    assert "streaming" in said and "starting the dask" in said and "chunk 3 of 3" in said
    assert outputs["dask"][0] == outputs["local"][0]

    local = forecast_in_chunks(data, tmp_path / "a.csv", chunk_size=3, horizon=HORIZON, model="tsb")
    on_dask = forecast_in_chunks(
        data, tmp_path / "b.csv", chunk_size=3, horizon=HORIZON, model="tsb", engine=dask_engine
    )
    _assert_same_forecast(local, on_dask, **SAME)
    assert dask_engine.started  # a cluster the caller started stays up


@pytest.mark.slow
def test_a_local_dask_cluster_starts_beside_another_one_without_a_port_clash() -> None:
    """Two trendcast processes on one machine (the service and a command, say) each start
    a local cluster; the scheduler's HTTP server must not fight over Dask's default 8787."""
    if not HAS_DASK:
        pytest.skip('Dask is not installed (pip install "trendcast[dask]")')
    held = socket.socket()
    try:
        held.bind(("127.0.0.1", 8787))
        held.listen()
    except OSError:
        pass  # taken already: by another cluster, which is the case under test anyway
    try:
        with Engine("dask", workers=1) as engine:  # a port warning would fail the test
            assert engine.client.run_on_scheduler(lambda: 1) == 1
    finally:
        held.close()


# -- Spark and Ray ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SPARK, reason="pyspark or Java is not installed")
def test_spark_local_mode_runs_the_statistical_models_like_the_local_engine(
    data: tc.PreparedData, tmp_path: Path
) -> None:
    from trendcast.chunked import forecast_in_chunks

    local_fc, _ = fit_forecast(data, horizon=HORIZON, model="auto_theta")
    local_bt = backtest(data, horizon=HORIZON, windows=2, models=["naive"])
    local_chunks = forecast_in_chunks(
        data, tmp_path / "local.csv", chunk_size=3, horizon=HORIZON, model="tsb"
    )
    with Engine("spark", workers=2) as spark:
        spark_fc, _ = fit_forecast(data, horizon=HORIZON, model="auto_theta", engine=spark)
        spark_bt = backtest(data, horizon=HORIZON, windows=2, models=["naive"], engine=spark)
        # in chunks (--chunk-size): the driver cuts the chunks, Spark forecasts each one
        spark_chunks = forecast_in_chunks(
            data, tmp_path / "spark.csv", chunk_size=3, horizon=HORIZON, model="tsb", engine=spark
        )
    _assert_same_forecast(local_fc, spark_fc, **SAME)
    _assert_same_forecast(local_bt.backtest, spark_bt.backtest, **SAME)
    _assert_same_forecast(local_chunks, spark_chunks, **SAME)
    assert local_chunks["unique_id"].nunique() > 3  # more than one chunk


@pytest.mark.slow
@pytest.mark.skipif(not HAS_RAY, reason='Ray is not installed (pip install "trendcast[ray]")')
@pytest.mark.skipif(
    not os.environ.get("TRENDCAST_TEST_RAY"),
    reason="starting Ray and its first Fugue jobs takes about a minute on 2 cores; "
    "set TRENDCAST_TEST_RAY=1 to run it",
)
def test_ray_runs_the_statistical_models_like_the_local_engine(
    data: tc.PreparedData, tmp_path: Path
) -> None:
    from trendcast.chunked import forecast_in_chunks

    local, _ = fit_forecast(data, horizon=HORIZON, model="croston")
    local_chunks = forecast_in_chunks(
        data, tmp_path / "local.csv", chunk_size=3, horizon=HORIZON, model="tsb"
    )
    with Engine("ray", workers=2) as ray:
        on_ray, _ = fit_forecast(data, horizon=HORIZON, model="croston", engine=ray)
        # in chunks (--chunk-size): the driver cuts the chunks, Ray forecasts each one
        ray_chunks = forecast_in_chunks(
            data, tmp_path / "ray.csv", chunk_size=3, horizon=HORIZON, model="tsb", engine=ray
        )
    _assert_same_forecast(local, on_ray, **SAME)
    _assert_same_forecast(local_chunks, ray_chunks, **SAME)


# -- refusals -----------------------------------------------------------------------------------


def test_an_unknown_engine_names_the_engines_there_are(data: tc.PreparedData) -> None:
    with pytest.raises(ConfigError, match="Unknown engine 'flink'. Choose one of: local, dask"):
        fit_forecast(data, horizon=HORIZON, model="naive", engine="flink")


@pytest.mark.parametrize(
    ("engine", "model", "why"),
    [
        ("spark", "lightgbm", "SynapseML"),
        ("ray", "lightgbm", "lightgbm_ray, which pulls CUDA"),
        ("spark", "nhits", "no Spark runner"),
        ("ray", "linear", "no Ray runner"),
    ],
)
def test_ray_and_spark_refuse_other_families_saying_why_and_what_runs_everything(
    data: tc.PreparedData, engine: str, model: str, why: str
) -> None:
    pattern = f"The {engine} engine runs the statistical models only.*{why}.*--engine dask"
    with pytest.raises(ConfigError, match=pattern):
        fit_forecast(data, horizon=HORIZON, model=model, engine=engine)
    with pytest.raises(ConfigError, match=pattern):
        backtest(data, horizon=HORIZON, windows=1, models=["naive", model], engine=engine)


def test_auto_with_a_time_budget_is_refused_on_spark_before_any_work(
    data: tc.PreparedData,
) -> None:
    with pytest.raises(ConfigError, match="not auto with a time budget"):
        fit_forecast(data, horizon=HORIZON, model="auto", time_budget=60, engine="spark")


def test_an_address_without_a_distributed_engine_is_refused() -> None:
    with pytest.raises(ConfigError, match="--engine-address needs a distributed engine"):
        Engine("local", address="tcp://scheduler:8786")


def test_a_missing_engine_package_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "fugue_spark", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "trendcast\[spark\]"'):
        Engine("spark").start()


def test_cli_reports_an_unsupported_family_in_one_line_with_exit_code_2(tmp_path: Path) -> None:
    from trendcast.cli.main import app

    sales = tmp_path / "sales.csv"
    _sales(n_series=2, n_days=60).to_csv(sales, index=False)
    args = ["forecast", "-o", tmp_path / "fc.csv", "--input", sales, "--sales-table"]
    args += ["--model", "lightgbm", "--engine", "ray", "--store", tmp_path / "runs.duckdb"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 2
    assert "The ray engine runs the statistical models only" in result.output
    assert "Traceback" not in result.output
