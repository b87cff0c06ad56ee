"""The report in a real browser: headless Chromium loads it offline without a JavaScript error,
draws every chart with data, and its navigation, product explorer and languages work.

Runs Debian's chromium through playwright (never a browser playwright downloads). Skipped,
with the reason, only where no chromium executable exists or playwright is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from browser import ARGS, CHROMIUM, NEEDS_BROWSER
from test_report import analysis_inputs, synthetic_run
from trendcast.reporting import i18n, write_report

pytestmark = [*NEEDS_BROWSER]

# Counts the points of a trace, arrays given plainly or as Plotly's base64 typed arrays.
POINTS = """() => {
  const size = {i1: 1, u1: 1, i2: 2, u2: 2, i4: 4, u4: 4, f4: 4, f8: 8};
  const count = function (v) {
    if (v === null || v === undefined) return 0;
    if (Array.isArray(v) || ArrayBuffer.isView(v)) return v.length;
    if (typeof v.bdata === 'string') return atob(v.bdata).length / (size[v.dtype] || 1);
    return 0;
  };
  return Array.from(document.querySelectorAll('.plotly-graph-div, .js-plotly-plot')).map(
    function (gd) {
      return [gd.id, (gd.data || []).map(function (trace) {
        return Math.max.apply(null, ['x', 'y', 'z', 'values', 'q1', 'median'].map(
          function (key) { return count(trace[key]); }));
      })];
    });
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same small run with every section, in English and in Chinese."""
    run = synthetic_run(ids=[f"SKU-{i}" for i in range(6)], days=200)
    extra = analysis_inputs(run)
    analysis = dict(extra["analysis"])  # type: ignore[call-overload]
    second = analysis["decomposition"].assign(unique_id="SKU-2", value=lambda d: d["value"] / 2)
    analysis["decomposition"] = pd.concat([analysis["decomposition"], second])
    acf = analysis["autocorrelation"].assign(unique_id="SKU-2", acf=lambda a: -a["acf"])
    analysis["autocorrelation"] = pd.concat([analysis["autocorrelation"], acf])
    drivers = pd.DataFrame(
        {
            "unique_id": ["SKU-0", "SKU-1"],
            "rank": [1, 1],
            "driver": ["price", "promotion"],
            "effect": [0.3, -0.2],
            "direction": ["raises", "lowers"],
        }
    )
    folder = tmp_path_factory.mktemp("reports")
    return {
        lang: write_report(
            folder / f"report_{lang}.html",
            **run,
            **{**extra, "analysis": analysis},
            drivers=drivers,
            lang=lang,
        )
        for lang in ("en", "zh")
    }


def open_report(browser: object, path: Path) -> tuple[object, list[str]]:
    """A page showing the report once every chart is drawn, and the errors it logged."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("document.documentElement.dataset.rendered === 'true'", timeout=30_000)
    return page, errors


def charts_without_points(page: object) -> list[str]:
    charts = page.evaluate(POINTS)  # type: ignore[attr-defined]
    assert charts, "no chart was drawn"
    return [name for name, points in charts if not any(count > 0 for count in points)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_loads_without_errors_and_draws_every_chart_with_data(browser, reports, lang):
    page, errors = open_report(browser, reports[lang])

    assert errors == []
    assert charts_without_points(page) == []
    containers = page.locator("div.figure").count()
    assert page.locator(".js-plotly-plot").count() == containers >= 14
    page.close()


def test_chinese_report_shows_chinese_titles_and_no_catalogue_key(browser, reports):
    page, errors = open_report(browser, reports["zh"])
    text = page.inner_text("body")

    assert errors == [] and page.get_attribute("html", "lang") == "zh-CN"
    for title in ("概览", "销售趋势", "时间序列分析", "模型质量", "实际"):
        assert title in text
    assert [key for key in i18n.MESSAGES if "." in key and key in text] == []
    page.close()


def test_navigation_links_scroll_to_their_section_and_mark_it(browser, reports):
    page, errors = open_report(browser, reports["en"])
    links = page.locator(".topbar a[data-nav]")
    keys = [links.nth(i).get_attribute("data-nav") for i in range(links.count())]

    assert keys == ["overview", "explorer", "trends", "drivers", "analysis", "quality", "data"]
    for key in ["trends", "quality", "analysis", "explorer", "data"]:
        page.click(f'.topbar a[data-nav="{key}"]')
        page.wait_for_function(
            "key => Math.abs(document.getElementById(key).getBoundingClientRect().top - 66) < 40",
            arg=key,
            timeout=5_000,
        )
        page.wait_for_selector(f'.topbar a[data-nav="{key}"][aria-current="true"]', timeout=5_000)
    page.click('.subnav a[href="#segments"]')
    page.wait_for_function(
        "() => Math.abs(document.getElementById('segments').getBoundingClientRect().top - 66) < 40"
    )
    assert errors == []
    page.close()


def test_explorer_switches_product_from_its_list_and_from_a_trend_link(browser, reports):
    page, errors = open_report(browser, reports["en"])
    data = page.evaluate("JSON.parse(document.getElementById('explorer-data').textContent)")
    actual = """() => document.getElementById('explorer-chart').data
      .find(function (t) { return t.name === 'Actual'; }).y.slice(-3)"""
    history = [product["history"]["y"][-3:] for product in data["products"]]

    assert page.evaluate(actual) == history[0]
    page.select_option("#product-select", "2")
    assert page.evaluate(actual) == history[2] != history[0]
    assert "Volume:" in page.inner_text("#product-facts")

    page.click('#trends a.product-link[data-product="SKU-1"]')
    page.wait_for_function("document.getElementById('product-select').value === '1'")
    assert page.evaluate(actual) == history[1]
    assert "Trend: falling (-45%)" in page.inner_text("#product-facts")
    anomalies = page.evaluate(
        "document.getElementById('explorer-chart').data.filter(t => t.name === 'Anomaly').length"
    )
    assert anomalies == 1
    assert errors == []
    page.close()


def test_analysis_product_choice_redraws_decomposition_and_autocorrelation(browser, reports):
    page, errors = open_report(browser, reports["en"])
    traces = """() => ['fig-decomposition', 'fig-acf'].map(function (id) {
      return JSON.stringify(document.getElementById(id).data.map(function (t) { return t.y; }));
    })"""
    options = page.locator("#analysis-product option")
    before = page.evaluate(traces)

    assert [options.nth(i).inner_text() for i in range(options.count())] == ["SKU-0", "SKU-2"]
    page.select_option("#analysis-product", "1")
    after = page.evaluate(traces)
    assert after[0] != before[0] and after[1] != before[1]
    assert charts_without_points(page) == []
    assert errors == []
    page.close()


def test_export_png_draws_a_figure_with_the_local_chromium(tmp_path):
    pytest.importorskip("kaleido", reason="kaleido is not installed (pip install kaleido)")
    from trendcast.reporting.analysis_figures import trending_products_figure
    from trendcast.reporting.static import export_png

    trends = analysis_inputs(synthetic_run())["trends"]
    path = export_png(trending_products_figure(trends), tmp_path / "movers.png", width=600)

    assert path == tmp_path / "movers.png"
    header = path.read_bytes()[:8]
    assert header == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
    assert [p.name for p in tmp_path.iterdir()] == ["movers.png"]
