"""The service's dashboard in a real browser: an analyst signs in with a key, uploads a sales
file, launches a run, watches its progress bar to the end and reads every section, and the
page logs no JavaScript error on the way; a wrong key gets a plain message; a viewer sees
the upload and run controls disabled.

Runs Debian's chromium through playwright (never a browser playwright downloads) against
the service served by uvicorn on a free loopback port. Skipped, with the reason, only where
no chromium executable exists or playwright is not installed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from browser import ARGS, CHROMIUM, NEEDS_BROWSER
from test_api import free_port
from trendcast.api import ServiceConfig, create_app
from trendcast.api.keys import create_key
from trendcast.api.state import ServiceState

pytestmark = [pytest.mark.slow, *NEEDS_BROWSER]

# A product name that would run script if the page ever put API text in as markup.
HOSTILE = "<img src=x onerror=window.pwned=1>"

# The names and point counts of a chart's traces (arrays plain or Plotly's typed arrays).
TRACES = """id => (document.getElementById(id).data || []).map(function (t) {
  const n = function (v) {
    if (!v) return 0;
    if (Array.isArray(v) || ArrayBuffer.isView(v)) return v.length;
    return typeof v.bdata === 'string' ? atob(v.bdata).length / 8 : 0;
  };
  return [t.name, Math.max(n(t.x), n(t.y))];
})"""

# Records every value the progress bar and the step line show while the run goes.
WATCH_PROGRESS = """() => {
  window.seen = {values: [], steps: []};
  const bar = document.getElementById('run-progress');
  const step = document.getElementById('run-step');
  new MutationObserver(function () {
    window.seen.values.push(Number(bar.getAttribute('aria-valuenow')));
  }).observe(bar, {attributes: true, attributeFilter: ['aria-valuenow']});
  new MutationObserver(function () {
    if (step.textContent) window.seen.steps.push(step.textContent);
  }).observe(step, {childList: true, characterData: true, subtree: true});
}"""


@dataclass(frozen=True)
class Service:
    url: str
    keys: dict[str, str]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service on a free loopback port, with an analyst and a viewer key."""
    import uvicorn

    data_dir = tmp_path_factory.mktemp("service")
    port = free_port()
    config = uvicorn.Config(
        create_app(ServiceConfig(data_dir=data_dir)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    state = ServiceState(data_dir / "service.duckdb")
    keys = {role: create_key(state, role)[1] for role in ("analyst", "viewer")}
    yield Service(f"http://127.0.0.1:{port}", keys)
    server.should_exit = True
    thread.join(timeout=60)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def sales_csv(tmp_path: Path) -> Path:
    """6 products x 150 days: two rising, one falling, one that stops selling (alerts)."""
    rng = np.random.default_rng(1)
    t = np.arange(150)
    days = pd.date_range("2024-01-01", periods=150)
    frames = []
    for i, slope in enumerate([0.0, 0.06, -0.04, 0.0, 0.1, 0.0]):
        level = np.clip(5 + 2 * i + slope * t + 2 * np.sin(2 * np.pi * t / 7), 0, None)
        if i == 5:
            level[-30:] = 0
        name = HOSTILE if i == 5 else f"SKU-{i}"
        frames.append(pd.DataFrame({"sku": name, "date": days, "qty": rng.poisson(level)}))
    path = tmp_path / "sales.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def open_page(browser: object, service: Service) -> tuple[object, list[str]]:
    """A fresh page on the dashboard, and the console and page errors it logs."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on(
        "requestfailed",
        lambda request: errors.append(f"request failed: {request.url} ({request.failure})"),
    )
    page.goto(service.url + "/", wait_until="load")
    return page, errors


def sign_in(page: object, key: str) -> None:
    page.fill("#login-key", key)  # type: ignore[attr-defined]
    page.click("#login-submit")  # type: ignore[attr-defined]
    page.wait_for_selector('#tabs [aria-selected="true"]')  # type: ignore[attr-defined]


def table_rows(page: object, container: str) -> list[list[str]]:
    return page.evaluate(  # type: ignore[attr-defined]
        """sel => Array.from(document.querySelectorAll(sel + ' tbody tr')).map(
             tr => Array.from(tr.cells).map(td => td.textContent))""",
        container,
    )


def number(text: str) -> float:
    return float(text.replace(",", "").replace("%", "").replace("+", ""))


def test_analyst_uploads_runs_and_reads_every_section_without_errors(browser, service, sales_csv):
    page, errors = open_page(browser, service)
    sign_in(page, service.keys["analyst"])

    assert page.text_content("#role") == "analyst"
    assert page.get_attribute('[data-tab="upload"]', "aria-selected") == "true"
    page.click('[data-tab="overview"]')
    assert "No finished run yet" in page.inner_text("#no-run")

    page.click('[data-tab="upload"]')
    page.set_input_files("#upload-file", str(sales_csv))
    page.click("#upload-submit")
    page.wait_for_selector("#upload-result:not([hidden])")
    profile = page.inner_text("#upload-profile")
    assert "SERIES\n6" in profile.upper() and "2024-01-01 to 2024-05-29" in profile
    page.wait_for_selector("#datasets-table tbody tr")
    assert table_rows(page, "#datasets-table")[0][0] == "sales.csv"

    page.click('[data-tab="runs"]')
    page.wait_for_function("document.getElementById('run-dataset').value !== ''")
    page.select_option("#run-model", "seasonal_naive")
    page.fill("#run-horizon", "14")
    page.fill("#run-windows", "2")
    page.fill("#run-lead", "3")
    page.evaluate(WATCH_PROGRESS)
    page.click("#run-submit")
    page.wait_for_selector("#run-status:not([hidden])")
    assert page.is_visible("#run-cancel")
    page.wait_for_selector("#run-done:not([hidden])", timeout=240_000)

    seen = page.evaluate("window.seen")
    assert page.get_attribute("#run-progress", "aria-valuenow") == "100"
    assert page.get_attribute("#run-progress", "data-state") == "succeeded"
    assert any(0 < value < 100 for value in seen["values"]), seen["values"]
    assert seen["values"] == sorted(seen["values"])
    assert len(set(seen["steps"])) >= 2, seen["steps"]
    assert "current run" in page.inner_text("#run-done")
    assert not page.is_visible("#run-cancel")
    run_id = page.inner_text("#run-status-id")
    assert page.input_value("#run-picker") == run_id

    page.click("#run-open")
    page.wait_for_selector("#overview-chart .main-svg")
    assert "PRODUCTS\n6" in page.inner_text("#kpis").upper()
    overview = dict(page.evaluate(TRACES, "overview-chart"))
    assert overview["Actual"] == 150 and overview["Forecast"] == 14
    assert len(table_rows(page, "#health-table")) >= 5

    page.click('[data-tab="products"]')
    page.wait_for_selector("#product-chart .main-svg")
    names = page.locator(".product-item .product-name").all_inner_texts()
    assert sorted(names) == sorted([HOSTILE] + [f"SKU-{i}" for i in range(5)])
    page.fill("#product-search", "sku-3")
    page.wait_for_function("document.querySelectorAll('.product-item').length === 1")
    page.click('.product-item[data-product="SKU-3"]')
    page.wait_for_selector('#product-chart[data-product="SKU-3"]')
    traces = dict(page.evaluate(TRACES, "product-chart"))
    assert traces["Forecast"] == 14 and traces["Actual"] == 150
    assert traces["80% interval"] == traces["95% interval"] == 14
    assert "seasonal_naive" in page.inner_text("#product-facts")
    assert "ORDER QTY" in page.inner_text("#product-plan").upper()
    assert page.locator("#product-drivers table, #product-drivers p").count() == 1

    page.fill("#product-search", "img")
    page.wait_for_function(
        "name => document.querySelector('.product-item').dataset.product === name", arg=HOSTILE
    )
    page.click(".product-item")
    page.wait_for_function(
        "name => document.getElementById('product-chart').dataset.product === name", arg=HOSTILE
    )
    assert page.text_content("#product-title") == HOSTILE
    page.wait_for_selector("#product-alerts table")
    assert page.evaluate("window.pwned") is None
    assert page.locator("main img").count() == 0

    page.click('[data-tab="trends"]')
    page.wait_for_selector("#trends-table table")
    assert {row[1] for row in table_rows(page, "#trends-table")} <= {"rising", "falling"}
    page.click('#trend-filter [data-filter="all"]')
    assert len(table_rows(page, "#trends-table")) == 6
    page.click('#trends-table th[data-key="growth_pct"] button')
    growth = [number(row[2]) for row in table_rows(page, "#trends-table")]
    assert growth == sorted(growth)
    page.click('#trends-table tbody button.link >> text="SKU-1"')
    page.wait_for_selector('#product-chart[data-product="SKU-1"]')

    page.click('[data-tab="alerts"]')
    page.wait_for_selector("#alerts-table table")
    alerts = table_rows(page, "#alerts-table")
    assert alerts and HOSTILE in {row[0] for row in alerts}

    page.click('[data-tab="plan"]')
    page.wait_for_selector("#plan-table table")
    plan = table_rows(page, "#plan-table")
    quantities = [number(row[1]) for row in plan]
    assert len(plan) == 6 and quantities == sorted(quantities, reverse=True)
    with page.expect_download() as download:
        page.click('[data-export="plan"]')
    csv_text = Path(download.value.path()).read_text()
    assert download.value.suggested_filename == f"plan-{run_id}.csv"
    assert csv_text.splitlines()[0].startswith("unique_id,") and len(csv_text.splitlines()) == 7

    page.click('[data-tab="leaderboard"]')
    page.wait_for_selector("#leaderboard-table table")
    highlighted = page.locator("#leaderboard-table tr.highlight").all_inner_texts()
    assert len(highlighted) == 1 and "seasonal_naive" in highlighted[0]
    assert dict(page.evaluate(TRACES, "leaderboard-chart"))["MASE"] >= 2

    assert page.evaluate("window.pwned") is None
    assert errors == []
    page.context.close()


def test_a_wrong_key_gets_a_plain_message_and_no_session(browser, service):
    page, errors = open_page(browser, service)
    sign_in_form = page.locator("#login-form")
    assert sign_in_form.is_visible()

    page.fill("#login-key", "tc_00000000_not-a-real-key")
    page.click("#login-submit")
    page.wait_for_selector("#login-error:not([hidden])")

    assert "not valid" in page.inner_text("#login-error")
    assert "unknown or revoked" in page.inner_text("#login-error")
    assert not page.is_visible("#app") and not page.is_visible("#session")
    assert page.evaluate("sessionStorage.getItem('trendcast.key')") is None
    # the browser itself reports the refused request; nothing else may fail
    assert [e for e in errors if "status of 401" not in e] == []
    page.context.close()


def test_a_viewer_sees_upload_and_run_controls_disabled_and_can_log_out(browser, service):
    page, errors = open_page(browser, service)
    sign_in(page, service.keys["viewer"])

    assert page.text_content("#role") == "viewer"
    page.click('[data-tab="upload"]')
    assert page.is_disabled("#upload-file") and page.is_disabled("#upload-submit")
    assert "viewer role" in page.inner_text("#tab-upload .role-note")
    page.click('[data-tab="runs"]')
    assert page.is_disabled("#run-submit") and page.is_visible("#tab-runs .role-note")
    page.wait_for_load_state("networkidle")  # the tabs' requests end before the reload

    page.reload(wait_until="load")
    page.wait_for_selector('#tabs [aria-selected="true"]')
    assert page.text_content("#role") == "viewer"
    page.click("#logout")
    assert page.is_visible("#login-form") and not page.is_visible("#app")
    assert page.evaluate("sessionStorage.getItem('trendcast.key')") is None
    assert errors == []
    page.context.close()
