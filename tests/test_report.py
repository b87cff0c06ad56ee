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
from trendcast.reporting import analysis_figures, figures, html, i18n, write_report

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


# -- trends, analysis, training, languages ------------------------------------------------------


def analysis_inputs(run: dict[str, object]) -> dict[str, object]:
    """Trends, category trends, analysis tables and a training history for ``run``'s products,
    in the shapes trendcast.analysis gives them: the first product rises, the second falls."""
    panel = run["panel"]
    assert isinstance(panel, pd.DataFrame)
    ids = list(dict.fromkeys(panel["unique_id"]))
    n = len(ids)
    labels = (["rising", "falling"] + ["stable", "new", "dead"] * n)[:n]
    growth = [80.0, -45.0] + [5.0] * (n - 2)
    trends = pd.DataFrame(
        {
            "unique_id": ids,
            "trend": labels,
            "slope": [0.5, -0.3] + [0.01] * (n - 2),
            "growth_pct": growth[:n],
            "p_value": [0.0001, 0.002] + [0.5] * (n - 2),
        }
    )
    categories = pd.DataFrame(
        {
            "level": ["category", "category", "total"],
            "unique_id": ["toys", "garden", "total"],
            "trend": ["rising", "stable", "stable"],
            "slope": [0.3, 0.0, 0.1],
            "growth_pct": [12.0, -1.0, 2.0],
            "p_value": [0.01, 0.7, 0.4],
        }
    )
    first = panel[panel["unique_id"] == ids[0]]
    components = pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": ids[0],
                    "ds": first["ds"].to_numpy(),
                    "method": "stl",
                    "component": name,
                    "value": first["y"].to_numpy() * share,
                }
            )
            for name, share in (
                ("observed", 1.0),
                ("trend", 0.8),
                ("seasonal_7", 0.1),
                ("remainder", 0.1),
            )
        ],
        ignore_index=True,
    )
    lags = np.arange(1, 15)
    acf = pd.DataFrame(
        {
            "unique_id": ids[0],
            "lag": lags,
            "acf": 0.8**lags,
            "acf_bound": 0.2 + 0.01 * lags,
            "pacf": np.r_[0.8, np.zeros(13)],
            "pacf_bound": 0.2,
            "significant": 0.8**lags > 0.2,
        }
    )
    names = ["sales", "price", "promo"]
    matrix = [[1.0, -0.6, 0.4], [-0.6, 1.0, -0.2], [0.4, -0.2, 1.0]]
    correlation = pd.DataFrame(
        [
            (method, x, y, matrix[i][j])
            for method in ("pearson", "spearman")
            for i, x in enumerate(names)
            for j, y in enumerate(names)
        ],
        columns=["method", "var_x", "var_y", "corr"],
    )
    anomalies = pd.DataFrame(
        {
            "unique_id": [ids[0], ids[0], ids[1]],
            "ds": [first["ds"].iloc[-3], first["ds"].iloc[-10], first["ds"].iloc[-5]],
            "y": [90.0, 0.0, 70.0],
            "expected": [40.0, 38.0, 35.0],
            "score": [5.2, -4.1, 3.3],
            "kind": ["spike", "stockout", "spike"],
            "likely_cause": ["promotion", MALICIOUS, "holiday"],
        }
    )
    analysis = {
        "decomposition": components,
        "autocorrelation": acf,
        "strengths": pd.DataFrame(
            {"unique_id": ids, "trend_strength": 0.5, "seasonal_strength": 0.25}
        ),
        "stationarity": pd.DataFrame(
            {"unique_id": ids, "verdict": "stationary", "d": 0, "D": 1, "adf_p": 0.01}
        ),
        "drivers_correlation": correlation,
        "drivers_pca_variance": pd.DataFrame(
            {"component": ["PC1", "PC2"], "eigenvalue": [1.4, 0.6]}
        ).assign(explained_variance_ratio=[0.7, 0.3], cumulative=[0.7, 1.0]),
        "drivers_regression": pd.DataFrame(
            {"term": ["const", "PC1"], "coef": [0.0, 0.4], "p_value": [0.9, 0.001]}
        ),
        "drivers_fit": pd.DataFrame({"r_squared": [0.42], "n_obs": [1200]}),
        "anomalies": anomalies,
        "notes": pd.DataFrame({"note": ["drivers: no behaviour columns in the data"]}),
    }
    history = pd.DataFrame(
        {"step": [0, 50, 100], "train_loss": [1.0, 0.5, 0.4], "valid_loss": [1.1, 0.7, 0.6]}
    )
    return {
        "trends": trends,
        "category_trends": categories,
        "analysis": analysis,
        "training_history": {"nhits": history},
    }


def visible_text(document: str) -> str:
    """The page's text without its scripts, styles and tags."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", document, flags=re.S)
    return re.sub(r"<[^>]+>", " ", text)


def plots(document: str) -> dict[str, dict]:
    """Every embedded figure by its element id."""
    found = re.findall(
        r'<script type="application/json" data-plot="([^"]+)">(.*?)</script>', document
    )
    return {key: json.loads(body) for key, body in found}


def test_report_without_analysis_inputs_keeps_its_sections_and_adds_none(tmp_path):
    document = write_report(tmp_path / "r.html", **synthetic_run()).read_text(encoding="utf-8")

    for section in ("trends", "drivers", "analysis", "training"):
        assert f'id="{section}"' not in document
    assert 'href="#quality"' in document and 'lang="en"' in document


def test_trends_section_lists_risers_and_fallers_linked_to_the_explorer(tmp_path):
    run = synthetic_run(ids=[f"SKU-{i}" for i in range(8)], days=60)
    extra = analysis_inputs(run)
    # the riser is the smallest product: the explorer takes it in although max_series is 2
    extra["trends"] = extra["trends"].assign(
        unique_id=lambda t: t["unique_id"].iloc[::-1].to_list()
    )
    path = write_report(tmp_path / "r.html", **run, **extra, max_series=2)
    document = path.read_text(encoding="utf-8")

    trends = document.split('<section id="trends"')[1].split("</section>")[0]
    assert 'href="#trends" data-nav="trends"' in document
    assert 'data-product="SKU-7"' in trends and 'data-product="SKU-6"' in trends
    assert "+80%" in document.split('<section id="overview"')[1].split("</section>")[0]
    products = {p["id"]: p for p in explorer_payload(document)["products"]}
    assert {"SKU-0", "SKU-1", "SKU-7", "SKU-6"} <= set(products)
    assert products["SKU-7"]["trend"] == ["rising", 80.0]
    trending = plots(document)["fig-trending"]["data"][0]
    assert trending["y"] == ["SKU-6", "SKU-7"]
    assert "category: toys" in plots(document)["fig-category-trends"]["data"][0]["y"]


def test_analysis_section_draws_the_chosen_products_and_marks_anomalies(tmp_path):
    run = synthetic_run()
    path = write_report(tmp_path / "r.html", **run, **analysis_inputs(run))
    document = path.read_text(encoding="utf-8")

    analysis = document.split('<section id="analysis"')[1].split("</section>")[0]
    assert '<select id="analysis-product"><option value="0">SKU-1</option></select>' in analysis
    assert 'data-plot-set="fig-decomposition"' in analysis and 'data-plot-set="fig-acf"' in analysis
    assert MALICIOUS not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in analysis
    marks = explorer_payload(document)["products"][0]["anomalies"]
    assert len(marks["t"]) == 2 and marks["cause"] == [MALICIOUS, "promotion"]
    assert {"fig-correlation", "fig-explained-variance"} <= set(plots(document))


def test_training_curves_join_model_quality_when_a_network_was_trained(tmp_path):
    run = synthetic_run()
    history = analysis_inputs(run)["training_history"]
    document = write_report(tmp_path / "r.html", **run, training_history=history).read_text(
        encoding="utf-8"
    )

    assert '<section id="training"' in document and 'href="#training"' in document
    names = [trace["name"] for trace in plots(document)["fig-training"]["data"]]
    assert names == ["nhits · train", "nhits · validation"]


def test_chinese_report_translates_every_section_and_leaves_no_catalogue_key(tmp_path):
    run = synthetic_run()
    extra = analysis_inputs(run)
    drivers = pd.DataFrame(
        {
            "unique_id": ["SKU-1"],
            "rank": [1],
            "driver": ["price"],
            "effect": [0.2],
            "direction": ["raises"],
        }
    )
    document = write_report(
        tmp_path / "r.html", **run, **extra, drivers=drivers, lang="zh"
    ).read_text(encoding="utf-8")

    assert '<html lang="zh-CN">' in document
    for title in (
        "概览",
        "商品浏览",
        "销售趋势",
        "驱动因素",
        "时间序列分析",
        "模型质量",
        "模型排行榜",
        "预测与实际",
        "训练曲线",
        "数据与清洗",
    ):
        assert f">{title}<" in document, title
    visible = visible_text(document)
    assert [key for key in i18n.MESSAGES if "." in key and key in visible] == []
    english = [
        entry["en"]
        for entry in i18n.MESSAGES.values()
        if len(entry["en"]) > 15 and "{" not in entry["en"] and entry["en"] in visible
    ]
    assert english == []
    assert "auto</strong> 比 SeasonalNaive（MASE：0.820 对 1.000）好 18%" in document


def test_every_catalogue_entry_has_both_languages_with_the_same_placeholders():
    for key, entry in i18n.MESSAGES.items():
        assert set(entry) == set(i18n.LANGUAGES), key
        fields = [set(re.findall(r"\{(\w+)\}", entry[lang])) for lang in i18n.LANGUAGES]
        assert all(entry.values()) and fields[0] == fields[1], key


def test_an_unknown_report_language_raises_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown report language 'fr'"):
        write_report(tmp_path / "r.html", **synthetic_run(), lang="fr")


def test_calendar_heatmap_puts_each_day_under_its_weekday_and_week():
    panel = synthetic_run(ids=("A",), days=21)["panel"]  # 2011-01-01 is a Saturday
    figure = analysis_figures.calendar_heatmap_figure(panel)
    z = np.asarray(figure.data[0].z, dtype=float)

    assert z.shape == (7, 4)
    assert np.isnan(z[:5, 0]).all() and z[5, 0] == panel["y"].iloc[0]
    assert figure.data[0].x[0] == "2010-12-27"


def test_calendar_heatmap_says_it_needs_daily_sales():
    panel = pd.DataFrame(
        {"unique_id": "A", "ds": pd.date_range("2024-01-07", periods=10, freq="W"), "y": 1.0}
    )
    figure = analysis_figures.calendar_heatmap_figure(panel)

    assert figure.layout.annotations[0].text == "The calendar needs daily sales."


def test_acf_figure_draws_the_band_from_the_bounds_per_lag():
    acf = analysis_inputs(synthetic_run())["analysis"]["autocorrelation"]
    figure = analysis_figures.acf_figure(acf)

    band, bars, partial = figure.data
    assert band.fill == "toself" and np.isclose(np.max(band.y), 0.34)
    assert (bars.name, partial.name) == ("ACF", "PACF") and len(bars.x) == 14


def test_decomposition_figure_has_one_panel_per_component():
    components = analysis_inputs(synthetic_run())["analysis"]["decomposition"]
    figure = analysis_figures.decomposition_figure(components, lang="zh")

    titles = [annotation.text for annotation in figure.layout.annotations]
    assert titles == ["观测值", "趋势", "季节 (7)", "残差"]


def test_training_curves_switch_to_a_log_axis_over_a_wide_range():
    history = pd.DataFrame({"step": [1, 2, 3], "train_loss": [100.0, 1.0, 0.5], "valid_loss": 2.0})
    figure = analysis_figures.training_curves_figure({"lstm": history})

    assert figure.layout.yaxis.type == "log"
    assert analysis_figures.training_curves_figure({}).layout.annotations[0].text == (
        "No training history."
    )


def test_an_analysis_without_models_leaves_out_model_quality(tmp_path):
    run = synthetic_run()
    extra = analysis_inputs(run)
    empty = pd.DataFrame()
    run.update(leaderboard=empty, segment_leaderboard=empty, per_series=empty, backtest=empty)
    run.update(forecast=empty)
    document = write_report(tmp_path / "r.html", **run, trends=extra["trends"]).read_text(
        encoding="utf-8"
    )

    assert 'id="quality"' not in document and 'class="headline"' not in document
    assert '<section id="trends"' in document and '<section id="explorer"' in document


# -- the analysis pipeline and the report of a recorded run -------------------------------------


def sales_table(products: int = 6, days: int = 150) -> pd.DataFrame:
    """One row per product and day: the first product's sales double, the second's halve."""
    rng = np.random.default_rng(3)
    t = np.arange(days)
    rows = []
    for i in range(products):
        trend = np.exp((1.0 if i == 0 else -0.7 if i == 1 else 0.0) * t / days)
        weekly = 1 + 0.3 * np.sin(2 * np.pi * t / 7)
        units = rng.poisson((30 - 3 * i) * trend * weekly)
        rows.append(
            pd.DataFrame(
                {
                    "sku": f"P{i}",
                    "date": pd.date_range("2024-01-01", periods=days, freq="D"),
                    "units": units.astype(float),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def analysis_run(tmp_path_factory):
    from trendcast.data.columns import ColumnMap
    from trendcast.pipeline import analyze

    folder = tmp_path_factory.mktemp("analysis")
    columns = ColumnMap(id_cols=("sku",), time_col="date", target_col="units")
    result = analyze(
        sales_table(),
        columns,
        out_dir=folder / "out",
        store_path=folder / "runs.duckdb",
        mode="sales",
        top_n=2,
        lang="zh",
    )
    return folder, result


def test_analyze_writes_its_tables_the_report_and_an_analysis_run(analysis_run):
    from trendcast.store import RunStore

    folder, result = analysis_run
    document = result.report_path.read_text(encoding="utf-8")
    trends = result.tables["trends"].set_index("unique_id")["trend"]

    assert (trends["P0"], trends["P1"]) == ("rising", "falling")
    assert {"trends.csv", "analysis_stationarity.csv", "analysis_anomalies.csv"} <= {
        path.name for path in result.table_paths
    }
    assert all(path.exists() for path in result.table_paths)
    assert '<html lang="zh-CN">' in document and "销售趋势" in document
    assert '<section id="analysis"' in document and 'id="quality"' not in document
    with RunStore(folder / "runs.duckdb", read_only=True) as store:
        record = store.get_run(result.run_id)
    assert record.kind == "analysis" and record.status == "succeeded"
    assert "seasonal_D" in record.tables["analysis_stationarity"].columns


def test_report_command_redraws_a_recorded_analysis_in_another_language(analysis_run):
    from typer.testing import CliRunner

    from trendcast.cli.main import app

    folder, result = analysis_run
    output = folder / "again" / "report.html"
    outcome = CliRunner().invoke(
        app,
        ["report", "--store", str(folder / "runs.duckdb"), "-o", str(output), "--lang", "en"],
    )

    assert outcome.exit_code == 0, outcome.output
    document = output.read_text(encoding="utf-8")
    assert '<html lang="en">' in document and "trendcast trend analysis" in document
    assert '<section id="trends"' in document and "Seasonal differences D" in document


def test_stored_insight_gives_back_what_insight_tables_flattened():
    from trendcast.pipeline import insight_tables, storable, stored_insight

    run = synthetic_run()
    extra = analysis_inputs(run)
    tables = storable(insight_tables(extra, extra["training_history"]))
    back = stored_insight(tables)

    assert "seasonal_D" in tables["analysis_stationarity"].columns
    assert list(back["analysis"]["stationarity"].columns) == list(
        extra["analysis"]["stationarity"].columns
    )
    pd.testing.assert_frame_equal(back["trends"], extra["trends"])
    assert list(back["training_history"]) == ["nhits"]
    pd.testing.assert_frame_equal(
        back["training_history"]["nhits"], extra["training_history"]["nhits"]
    )


def test_predicted_vs_actual_draws_many_points_with_webgl():
    run = synthetic_run(ids=[f"SKU-{i}" for i in range(60)], windows=3, horizon=7)
    figure = figures.predicted_vs_actual_figure(run["backtest"], models=["auto"])

    assert [trace.type for trace in figure.data] == ["scattergl"] * 3 + ["scatter"]
    assert len(figure.data[0].x) == 60 * 3 * 7 > figures.WEBGL_POINTS


def test_training_histories_come_from_a_network_or_from_the_networks_auto_trained():
    from trendcast.pipeline import training_histories

    history = analysis_inputs(synthetic_run())["training_history"]["nhits"]

    class Network:
        history_ = history

    class Auto:
        histories_ = {"nhits": history, "lstm": pd.DataFrame()}

    assert list(training_histories(Network(), "nhits")) == ["nhits"]
    assert list(training_histories(Auto(), "auto")) == ["nhits"]
    assert training_histories(object(), "auto_ets") == {}


def test_report_figures_of_an_analysis_without_models_are_the_analysis_pictures():
    from trendcast.reporting.static import report_figures

    run = synthetic_run()
    extra = analysis_inputs(run)
    empty = pd.DataFrame()
    pictures = report_figures(
        panel=run["panel"], forecast=empty, leaderboard=empty, backtest=empty, **extra
    )

    assert list(pictures) == [
        "total_sales",
        "sales_calendar",
        "forecast_top_product",
        "forecast_top_rising",
        "forecast_top_falling",
        "trending_products",
        "category_trends",
        "correlation",
        "explained_variance",
        "decomposition",
        "autocorrelation",
        "training_curves",
    ]
    assert all(len(figure.data) for figure in pictures.values())
