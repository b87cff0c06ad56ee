"""Saved models: forecast new periods with --from-run, refuse other library versions."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from trendcast.cli.main import app
from trendcast.exceptions import ModelError
from trendcast.store.models import load_model, model_path

pytest.importorskip("lightgbm")
runner = CliRunner()


def _sales(days: int) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    weekly = np.tile([1, 1, 1, 1, 1, 2, 2], days // 7 + 1)[:days]
    return pd.concat(
        [
            pd.DataFrame({"商品": f"p{i}", "日期": dates, "销量": rng.poisson((3 + i) * weekly)})
            for i in range(4)
        ],
        ignore_index=True,
    )


@pytest.fixture()
def saved_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.chdir(tmp_path)
    _sales(120).to_csv(tmp_path / "old.csv", index=False)
    _sales(134).to_csv(tmp_path / "new.csv", index=False)
    result = runner.invoke(
        app,
        [
            "forecast",
            "--input",
            "old.csv",
            "--id-col",
            "商品",
            "--time-col",
            "日期",
            "--target-col",
            "销量",
            "--model",
            "lightgbm",
            "--horizon",
            "7",
            "--output",
            "fc.csv",
        ],
    )
    assert result.exit_code == 0, result.output
    return tmp_path, tmp_path / "trendcast.duckdb"


def test_from_run_forecasts_after_the_new_history_without_refitting(
    saved_run: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, store = saved_run
    saved = load_model(store, next(p.stem for p in model_path(store, "x").parent.glob("*.pkl")))
    booster_before = saved.model.model_.models_["lightgbm"].booster_.model_to_string()

    import trendcast.models.boosting as boosting

    def no_refit(*args: object, **kwargs: object) -> None:
        raise AssertionError("the saved model was refitted")

    monkeypatch.setattr(boosting.LightGBMModel, "fit", no_refit)
    result = runner.invoke(
        app,
        [
            "forecast",
            "--from-run",
            "latest",
            "--input",
            "new.csv",
            "--horizon",
            "7",
            "--output",
            "fc2.csv",
        ],
    )
    assert result.exit_code == 0, result.output
    fc = pd.read_csv(tmp / "fc2.csv")
    assert list(fc.columns[:2]) == ["商品", "日期"]
    assert fc["日期"].min() == "2024-05-14"  # the day after the new history ends
    assert len(fc) == 28 and (fc["model"] == "lightgbm").all()
    again = load_model(store, saved.run_id)
    assert again.model.model_.models_["lightgbm"].booster_.model_to_string() == booster_before


def test_a_model_saved_under_other_versions_is_refused(saved_run: tuple[Path, Path]) -> None:
    _, store = saved_run
    path = next(model_path(store, "x").parent.glob("*.pkl"))
    saved = pickle.loads(path.read_bytes())
    saved.versions["lightgbm"] = "0.0.1"
    path.write_bytes(pickle.dumps(saved))
    with pytest.raises(ModelError, match=r"lightgbm 0\.0\.1 -> .*refit"):
        load_model(store, path.stem)
    result = runner.invoke(
        app, ["forecast", "--from-run", path.stem, "--horizon", "7", "--output", "x.csv"]
    )
    assert result.exit_code == 2 and "other versions" in result.output


def test_an_unknown_run_is_a_clear_error(saved_run: tuple[Path, Path]) -> None:
    result = runner.invoke(
        app, ["forecast", "--from-run", "nope", "--horizon", "7", "--output", "x.csv"]
    )
    assert result.exit_code == 2 and "nope" in result.output
