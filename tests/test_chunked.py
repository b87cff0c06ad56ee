"""Chunked, resumable forecasting: the same forecast as at once, and an interruption costs one chunk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from panels import weekly_panel
from trendcast import chunked
from trendcast.chunked import forecast_in_chunks, parts_folder
from trendcast.cli.main import app
from trendcast.data.prepare import PreparedData
from trendcast.engines import Engine
from trendcast.exceptions import ConfigError
from trendcast.pipeline import fit_forecast, load_sales, to_output


def sales_table(n_days: int) -> pd.DataFrame:
    panel = weekly_panel(n_series=7, n_days=n_days)
    return panel.rename(columns={"unique_id": "sku", "ds": "date", "y": "units"})


@pytest.fixture(scope="module")
def data() -> PreparedData:
    """Seven daily series as a sales table (three chunks of three, three and one)."""
    return load_sales(sales_table(90), mode="sales")


def unchunked_csv(data: PreparedData, path: Path, model: str) -> str:
    fc, _ = fit_forecast(data, horizon=14, model=model)
    to_output(fc, data).to_csv(path, index=False, date_format="%Y-%m-%d")
    return path.read_text()


@pytest.mark.parametrize("model", ["auto_ets", "seasonal_naive", "croston"])
def test_chunked_forecast_equals_the_unchunked_forecast_for_a_local_model(
    data: PreparedData, tmp_path: Path, model: str
) -> None:
    out = tmp_path / "forecast.csv"
    fc = forecast_in_chunks(data, out, chunk_size=3, horizon=14, model=model)

    assert out.read_text() == unchunked_csv(data, tmp_path / "whole.csv", model)
    assert fc["unique_id"].nunique() == 7
    assert not parts_folder(out).exists()


def test_an_interrupted_chunked_forecast_resumes_from_the_last_finished_chunk(
    data: PreparedData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def second_chunk_fails_once(part: PreparedData, **kwargs: Any) -> Any:
        ids = sorted(part.panel["unique_id"].unique())
        calls.append(ids)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fit_forecast(part, **kwargs)

    monkeypatch.setattr(chunked, "fit_forecast", second_chunk_fails_once)
    out = tmp_path / "forecast.csv"
    with pytest.raises(KeyboardInterrupt):
        forecast_in_chunks(data, out, chunk_size=3, horizon=14, model="seasonal_naive")
    assert not out.exists()
    assert sorted(p.name for p in parts_folder(out).iterdir()) == [
        "chunk-00000.parquet",
        "manifest.json",
    ]

    said: list[str] = []
    forecast_in_chunks(
        data, out, chunk_size=3, horizon=14, model="seasonal_naive", progress=said.append
    )

    assert any("resuming: 1 of 3 chunk(s) already finished" in s for s in said)
    assert calls[2:] == [calls[1], ["sku6"]]  # the first chunk was not forecast again
    assert out.read_text() == unchunked_csv(data, tmp_path / "whole.csv", "seasonal_naive")
    assert not parts_folder(out).exists()


def leave_one_chunk(data: PreparedData, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run until the second chunk fails, leaving the first chunk in the work folder."""
    real = chunked.fit_forecast
    seen: list[int] = []

    def fail_second(part: PreparedData, **kwargs: Any) -> Any:
        seen.append(1)
        if len(seen) == 2:
            raise RuntimeError("power cut")
        return real(part, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(chunked, "fit_forecast", fail_second)
        with pytest.raises(RuntimeError, match="power cut"):
            forecast_in_chunks(data, out, chunk_size=3, horizon=14, model="seasonal_naive")


def test_finished_chunks_of_other_settings_are_refused_unless_restarted(
    data: PreparedData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "forecast.csv"
    leave_one_chunk(data, out, monkeypatch)

    with pytest.raises(ConfigError, match=r"another forecast \(changed: settings\).*--restart"):
        forecast_in_chunks(data, out, chunk_size=3, horizon=7, model="seasonal_naive")

    said: list[str] = []
    fc = forecast_in_chunks(
        data,
        out,
        chunk_size=3,
        horizon=7,
        model="seasonal_naive",
        restart=True,
        progress=said.append,
    )
    assert any("starting fresh: discarded 1 chunk(s)" in s for s in said)
    assert len(fc) == 7 * 7


def test_finished_chunks_of_another_engine_are_refused_before_it_starts(
    data: PreparedData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "forecast.csv"
    leave_one_chunk(data, out, monkeypatch)
    dask = Engine("dask", workers=1)

    with pytest.raises(ConfigError, match=r"another forecast \(changed: settings\)"):
        forecast_in_chunks(data, out, chunk_size=3, horizon=14, model="seasonal_naive", engine=dask)
    assert not dask.started


def test_finished_chunks_of_other_data_are_refused(
    data: PreparedData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "forecast.csv"
    leave_one_chunk(data, out, monkeypatch)
    other = load_sales(sales_table(91), mode="sales")

    with pytest.raises(ConfigError, match=r"another forecast \(changed: data\)"):
        forecast_in_chunks(other, out, chunk_size=3, horizon=14, model="seasonal_naive")


def test_a_chunk_size_below_one_is_refused(data: PreparedData, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--chunk-size must be at least 1, got 0"):
        forecast_in_chunks(data, tmp_path / "f.csv", chunk_size=0, horizon=7, model="naive")


def test_forecast_cli_with_chunk_size_writes_the_unchunked_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sales_table(90).to_csv("sales.csv", index=False)
    runner = CliRunner()
    common = ["forecast", "-i", "sales.csv", "--model", "seasonal_naive", "--horizon", "14"]
    whole = runner.invoke(app, [*common, "-o", "whole.csv", "--store", "runs.duckdb"])
    chunks = runner.invoke(
        app, [*common, "-o", "chunks.csv", "--chunk-size", "3", "--store", "runs.duckdb"]
    )

    assert whole.exit_code == 0, whole.output
    assert chunks.exit_code == 0, chunks.output
    assert "chunk 3 of 3: reading 1 products" in chunks.output  # a file is streamed
    assert Path("chunks.csv").read_text() == Path("whole.csv").read_text()
    assert pd.read_csv("chunks.csv")["sku"].nunique() == 7


def test_forecast_cli_refuses_chunks_with_reconcile(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "forecast",
            "-o",
            str(tmp_path / "f.csv"),
            "--chunk-size",
            "10",
            "--reconcile",
            "bottom_up",
            "--model",
            "naive",
            "--store",
            str(tmp_path / "runs.duckdb"),
        ],
    )
    assert result.exit_code == 2
    assert "leave out --reconcile" in result.output


def test_a_written_panel_forecasts_in_chunks_under_its_own_column_names(tmp_path: Path) -> None:
    panel = weekly_panel(n_series=4, n_days=60)  # unique_id, ds, y: as ingest writes it
    data = load_sales(panel, mode="sales")
    out = tmp_path / "forecast.csv"

    forecast_in_chunks(data, out, chunk_size=3, horizon=7, model="naive")

    written = pd.read_csv(out)
    assert list(written.columns[:3]) == ["unique_id", "ds", "forecast"]
    assert written["unique_id"].nunique() == 4
