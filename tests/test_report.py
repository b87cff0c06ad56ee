"""The HTML report: offline, escaped, complete, atomic, and small enough to mail."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from trendcast.exceptions import ConfigError, InputError
from trendcast.reporting import figures, html, write_report

SECTIONS = ("overview", "data", "leaderboard", "explorer", "accuracy", "segments")
MALICIOUS = "<script>alert(1)</script>"


def synthetic_run(
    ids: Sequence[str] = ("SKU-1", "SKU-2", "SKU-3", "SKU-4"),
    days: int = 120,
    models: Sequence[str] = ("auto", "SeasonalNaive", "ETS"),
    windows: int = 2,
    horizon: int = 7,
    levels: Sequence[int] = (80, 95),
) -> dict[str, object]:
    """The keyword arguments of write_report for a small run; earlier ids sell more."""
    rng = np.random.default_rng(0)
    n = len(ids)
    dates = pd.date_range("2011-01-01", periods=days, freq="D")
    rate = np.repeat(np.linspace(40, 1, n), days)
    panel = pd.DataFrame(
        {
            "unique_id": np.repeat(list(ids), days),
            "ds": np.tile(dates, n),
            "y": rng.poisson(rate).astype(float),
        }
    )
    cutoffs = [dates[-1 - (windows - k) * horizon] for k in range(windows)]
    grid = pd.DataFrame(
        [(c, c + pd.Timedelta(days=d)) for c in cutoffs for d in range(1, horizon + 1)],
        columns=["cutoff", "ds"],
    )
    backtest = panel.merge(grid, on="ds").merge(pd.DataFrame({"model": list(models)}), "cross")
    backtest["forecast"] = backtest["y"] * rng.uniform(0.7, 1.3, len(backtest)) + 0.5
    future_dates = pd.date_range(dates[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
    forecast = pd.DataFrame(
        {
            "unique_id": np.repeat(list(ids), horizon),
            "ds": np.tile(future_dates, n),
            "forecast": np.repeat(np.linspace(40, 1, n), horizon),
            "model": np.repeat([models[i % len(models)] for i in range(n)], horizon),
        }
    )
    for frame in (backtest, forecast):
        for level in levels:
            half = level / 40 * np.sqrt(frame["forecast"])
            frame[f"forecast-lo-{level}"] = frame["forecast"] - half
            frame[f"forecast-hi-{level}"] = frame["forecast"] + half
    segments = np.array(["fast", "slow", "intermittent", "lumpy", "dead"])[np.arange(n) % 5]
    per_series = pd.DataFrame(
        {
            "model": np.repeat(list(models), n),
            "unique_id": np.tile(list(ids), len(models)),
            "mase": rng.uniform(0.5, 1.5, n * len(models)),
            "mae": rng.uniform(1, 10, n * len(models)),
            "segment": np.tile(segments, len(models)),
        }
    )
    leaderboard = (
        per_series.groupby("model", sort=False)[["mase", "mae"]].mean().reset_index()
    ).assign(series=n, coverage_80=0.78, time_s=1.25)
    leaderboard.loc[leaderboard["model"] == "auto", "mase"] = 0.82
    leaderboard.loc[leaderboard["model"] == "SeasonalNaive", "mase"] = 1.0
    leaderboard["rank"] = leaderboard["mase"].rank(method="first").astype(int)
    segment_leaderboard = (
        per_series.groupby(["model", "segment"])[["mase", "mae"]].mean().reset_index()
    ).assign(series=3)
    cleaning = pd.DataFrame(
        {
            "rule": ["cancelled_orders", "negative_quantity"],
            "action": ["dropped", "dropped"],
            "rows": [1234, 56],
            "units": [5678.0, 90.0],
            "reason": ["Invoice starts with C", "Returns are not demand"],
            "examples": ["C536379, C536383", "536414 (-56)"],
        }
    )
    series_notes = pd.DataFrame(
        {"unique_id": [ids[-1]], "issue": ["short"], "detail": ["30 days of history"]}
    )
    return {
        "title": "Online Retail & friends",
        "summary": {"Series": n, "Horizon": horizon, "Run": "run-42", "History": "2011"},
        "cleaning": cleaning,
        "series_notes": series_notes,
        "leaderboard": leaderboard,
        "segment_leaderboard": segment_leaderboard,
        "per_series": per_series,
        "panel": panel,
        "backtest": backtest,
        "forecast": forecast,
        "levels": tuple(levels),
    }


def explorer_payload(document: str) -> dict:
    match = re.search(
        r'<script type="application/json" id="explorer-data">(.*?)</script>', document
    )
    assert match is not None
    return json.loads(match.group(1))


def test_report_is_one_offline_file_with_plotly_inlined_once_and_every_section(tmp_path):
    path = write_report(tmp_path / "report.html", **synthetic_run())
    document = path.read_text(encoding="utf-8")
    bundle = get_plotlyjs()

    assert path == tmp_path / "report.html"
    assert document.count(bundle) == 1
    assert not re.search(r"<script[^>]*\bsrc\s*=", document)
    assert "://" not in document.replace(bundle, "")
    for section in SECTIONS:
        assert f'<section id="{section}"' in document
        assert f'href="#{section}"' in document


def test_report_headline_compares_the_best_model_with_seasonal_naive(tmp_path):
    document = write_report(tmp_path / "r.html", **synthetic_run()).read_text(encoding="utf-8")

    assert "<strong>auto</strong> is 18% better than SeasonalNaive on MASE" in document
    assert "Online Retail &amp; friends" in document


def test_report_escapes_a_malicious_product_id_everywhere(tmp_path):
    ids = (MALICIOUS, '商品 "A" & <b>', "SKU-3")
    path = write_report(tmp_path / "report.html", **synthetic_run(ids=ids))
    document = path.read_text(encoding="utf-8")

    assert MALICIOUS not in document
    assert "<td>SKU-3</td>" in document  # the series note of the last id
    assert document.count("<script") == document.count("</script>")
    assert [p["id"] for p in explorer_payload(document)["products"]] == list(ids)


def test_series_notes_show_an_escaped_product_id(tmp_path):
    run = synthetic_run()
    run["series_notes"] = pd.DataFrame(
        {"unique_id": [MALICIOUS], "issue": ["dead"], "detail": ["no sales & no stock"]}
    )
    document = write_report(tmp_path / "r.html", **run).read_text(encoding="utf-8")

    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in document
    assert "no sales &amp; no stock" in document


def test_explorer_holds_the_largest_products_up_to_max_series(tmp_path):
    ids = [f"SKU-{i}" for i in range(8)]
    run = synthetic_run(ids=ids, days=60)
    path = write_report(tmp_path / "r.html", **run, max_series=5, history_periods=30)
    data = explorer_payload(path.read_text(encoding="utf-8"))

    products = data["products"]
    volumes = [p["volume"] for p in products]
    assert [p["id"] for p in products] == ids[:5]
    assert volumes == sorted(volumes, reverse=True)
    first = products[0]
    start, length = first["history"]["t"]
    assert length == 30
    assert data["dates"][start + length - 1] == "2011-03-01"
    assert data["models"][first["model"]] == "auto"
    assert len(first["backtest"]) == 2
    assert data["levels"] == [80, 95]
    assert set(first["future"]["lo"]) == {"80", "95"}


@pytest.mark.parametrize("levels", [(), (80, 95)])
def test_report_without_interval_columns_draws_no_bands(tmp_path, levels):
    run = synthetic_run(levels=())
    path = write_report(tmp_path / "r.html", **{**run, "levels": levels})
    data = explorer_payload(path.read_text(encoding="utf-8"))

    assert data["levels"] == []
    assert data["products"][0]["future"]["lo"] == {}


def test_report_works_with_an_empty_backtest(tmp_path):
    run = synthetic_run()
    run["backtest"] = pd.DataFrame()
    document = write_report(tmp_path / "r.html", **run).read_text(encoding="utf-8")

    assert "No backtest in this run." in document
    assert all(p["backtest"] == [] for p in explorer_payload(document)["products"])


def test_leaderboard_shows_only_the_metrics_it_was_given(tmp_path):
    run = synthetic_run()
    run["leaderboard"] = pd.DataFrame({"model": ["auto", "ETS"], "mae": [1.5, 2.25]})
    document = write_report(tmp_path / "r.html", **run).read_text(encoding="utf-8")

    assert "<strong>auto</strong> has the best MAE (1.500) of 2 models." in document
    assert ">MASE</th>" not in document.split('id="leaderboard"')[1].split("</table>")[0]


def test_failed_render_leaves_the_existing_report_untouched(tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    path.write_text("previous report", encoding="utf-8")

    def broken(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(figures, "segment_error_figure", broken)
    with pytest.raises(RuntimeError, match="figure failed"):
        write_report(path, **synthetic_run())

    assert path.read_text(encoding="utf-8") == "previous report"
    assert list(tmp_path.iterdir()) == [path]


def test_failed_write_leaves_the_existing_report_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    path.write_text("previous report", encoding="utf-8")

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(html.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_report(path, **synthetic_run())

    assert path.read_text(encoding="utf-8") == "previous report"
    assert list(tmp_path.iterdir()) == [path]


def test_missing_columns_raise_an_input_error_naming_them(tmp_path):
    run = synthetic_run()
    run["panel"] = run["panel"].drop(columns="y")
    with pytest.raises(InputError, match=r"Columns missing from the panel table: \['y'\]"):
        write_report(tmp_path / "r.html", **run)


def test_dates_that_are_not_datetimes_raise_an_input_error(tmp_path):
    run = synthetic_run()
    run["forecast"] = run["forecast"].assign(ds=lambda f: f["ds"].dt.strftime("%Y-%m-%d"))
    with pytest.raises(InputError, match=r"forecast table are not datetimes: \['ds'\]"):
        write_report(tmp_path / "r.html", **run)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"levels": (80, 120)}, "between 0 and 100"),
        ({"max_series": 0}, "max_series"),
        ({"history_periods": 0}, "history_periods"),
    ],
)
def test_out_of_range_options_raise_a_config_error(tmp_path, option, message):
    with pytest.raises(ConfigError, match=message):
        write_report(tmp_path / "r.html", **{**synthetic_run(), **option})


def test_predicted_vs_actual_samples_the_same_points_for_every_model():
    backtest = synthetic_run()["backtest"]
    figure = figures.predicted_vs_actual_figure(backtest, models=["auto"], max_points=30)

    models = [trace for trace in figure.data if trace.mode == "markers"]
    assert [trace.name for trace in models] == ["auto", "ETS", "SeasonalNaive"]
    assert [trace.visible for trace in models] == [True, "legendonly", "legendonly"]
    assert {len(trace.x) for trace in models} == {10}
    assert len({tuple(trace.text) for trace in models}) == 1


def test_segment_boxes_follow_the_demand_segment_order():
    per_series = synthetic_run(ids=[f"SKU-{i}" for i in range(10)])["per_series"]
    figure = figures.segment_error_figure(per_series)

    assert list(figure.layout.xaxis.categoryarray) == [
        "fast (2)",
        "slow (2)",
        "intermittent (2)",
        "lumpy (2)",
        "dead (2)",
    ]


@pytest.mark.slow
def test_report_of_300_products_and_10_models_stays_well_under_10_mb(tmp_path):
    run = synthetic_run(
        ids=[f"SKU-{i:04d}" for i in range(320)],
        days=400,
        models=[f"model_{i}" for i in range(9)] + ["SeasonalNaive"],
        windows=3,
        horizon=28,
    )
    path = write_report(tmp_path / "report.html", **run)

    assert len(explorer_payload(path.read_text(encoding="utf-8"))["products"]) == 300
    assert path.stat().st_size < 8_000_000


def test_drivers_section_explains_products_when_given(tmp_path: Path) -> None:
    panel = pd.DataFrame(
        {
            "unique_id": ["a"] * 30 + ["b"] * 30,
            "ds": list(pd.date_range("2024-01-01", periods=30)) * 2,
            "y": [1.0] * 60,
        }
    )
    drivers = pd.DataFrame(
        {
            "unique_id": ["a", "a", "b"],
            "rank": [1, 2, 1],
            "driver": ["promotion", "<b>price</b>", "day of week"],
            "effect": [0.4, -0.1, 0.2],
            "direction": ["raises", "lowers", "raises"],
        }
    )
    empty = pd.DataFrame()
    path = write_report(
        tmp_path / "r.html",
        title="t",
        summary={},
        cleaning=empty,
        series_notes=empty,
        leaderboard=empty,
        segment_leaderboard=empty,
        per_series=empty,
        panel=panel,
        backtest=empty,
        forecast=empty,
        drivers=drivers,
    )
    html = path.read_text(encoding="utf-8")
    assert 'id="drivers"' in html and "What drives the forecasts" in html
    assert "&lt;b&gt;price&lt;/b&gt;" in html and "<b>price</b>" not in html
