"""The CLI contract: forecast/backtest/run/ingest/report, column names in any language, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from trendcast.cli.main import app
from trendcast.datasets import load_demo_orders

runner = CliRunner()
M5_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "m5_sample"


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands write their run store into the working directory: keep it out of the repo."""
    monkeypatch.chdir(tmp_path)


def invoke(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def chinese_orders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real demo order lines for 12 busy products, exported with Chinese headers."""
    orders = load_demo_orders()
    orders = orders[orders["StockCode"].str.match(r"^\d")]  # products, not POST or fees
    top = orders.groupby("StockCode")["InvoiceDate"].nunique().nlargest(12).index
    part = orders[orders["StockCode"].isin(top)].rename(
        columns={
            "InvoiceNo": "订单号",
            "StockCode": "商品编码",
            "Quantity": "数量",
            "InvoiceDate": "下单时间",
            "UnitPrice": "单价",
            "Description": "商品名称",
            "CustomerID": "客户",
            "Country": "国家",
        }
    )
    path = tmp_path_factory.mktemp("zh") / "订单.csv"
    part.to_csv(path, index=False, encoding="utf-8-sig")
    return path


@pytest.fixture(scope="module")
def store_sales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(3)
    dates = pd.date_range("2023-01-02", periods=30, freq="W-MON")
    rows = [
        (store, f"item-{item}", d, int(rng.poisson(20 + 5 * item)))
        for store in ("north", "south")
        for item in range(3)
        for d in dates
    ]
    df = pd.DataFrame(rows, columns=["shop", "product", "week", "units"])
    df = df.drop(index=[5, 40])  # a gap in two series: filled with zeros, not lost
    path = tmp_path_factory.mktemp("weekly") / "sales.csv"
    df.to_csv(path, index=False)
    return path


def test_forecast_reads_a_chinese_order_export_and_keeps_its_column_names(
    chinese_orders: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fc.csv"
    code, output = invoke(
        "forecast",
        "--input",
        chinese_orders,
        "--id-col",
        "商品编码",
        "--time-col",
        "下单时间",
        "--target-col",
        "数量",
        "--horizon",
        "14",
        "--output",
        out,
    )
    assert code == 0, output
    fc = pd.read_csv(out, dtype={"商品编码": str})
    assert list(fc.columns) == [
        "商品编码",
        "下单时间",
        "forecast",
        "forecast-lo-80",
        "forecast-hi-80",
        "forecast-lo-95",
        "forecast-hi-95",
        "model",
    ]
    assert fc.groupby("商品编码").size().eq(14).all()
    assert fc["商品编码"].nunique() == 12
    # the demo shop never trades on Saturdays: no Saturday is forecast
    assert not (pd.to_datetime(fc["下单时间"]).dt.dayofweek == 5).any()
    assert (fc["forecast-lo-95"] <= fc["forecast"]).all() and (
        fc["forecast"] <= fc["forecast-hi-95"]
    ).all()


def test_forecast_combines_several_id_columns_and_infers_weekly_data(
    store_sales: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fc.csv"
    code, output = invoke(
        "forecast",
        "--input",
        store_sales,
        "--id-col",
        "shop",
        "--id-col",
        "product",
        "--time-col",
        "week",
        "--target-col",
        "units",
        "--horizon",
        "4",
        "--model",
        "seasonal_naive",
        "--level",
        "90",
        "--output",
        out,
    )
    assert code == 0, output
    fc = pd.read_csv(out)
    assert list(fc.columns) == [
        "shop",
        "product",
        "week",
        "forecast",
        "forecast-lo-90",
        "forecast-hi-90",
        "model",
    ]
    assert len(fc) == 6 * 4
    assert set(pd.to_datetime(fc["week"]).dt.dayofweek) == {0}
    assert set(fc["model"]) <= {"seasonal_naive", "historic_average"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "missing.csv"], "Input file not found"),
        (["--time-col", "nope"], "Columns missing from the input: \\['nope'\\]"),
        (["--horizon", "0"], "--horizon must be at least 1"),
        (["--freq", "fortnightly"], "Unknown frequency"),
        (["--freq", "MS", "--sales-table"], "does not fit the dates"),
        (["--orders", "--sales-table"], "exclude each other"),
        (["--model", "prophet"], "Unknown model 'prophet'"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(
    store_sales: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    base = {
        "--input": str(store_sales),
        "--id-col": "product",
        "--time-col": "week",
        "--target-col": "units",
    }
    for flag in ("--input", "--time-col"):
        if flag in args:
            base.pop(flag)
    argv = [x for kv in base.items() for x in kv] + [
        "--id-col",
        "shop",
        *args,
        "--output",
        str(tmp_path / "o.csv"),
    ]
    code, output = invoke("forecast", *argv)
    assert code == 2, output
    assert "Traceback" not in output
    assert pytest.importorskip("re").search(message, output), output
    assert not (tmp_path / "o.csv").exists()


def test_duplicate_keys_in_a_sales_table_are_an_error_with_the_fix(
    store_sales: Path, tmp_path: Path
) -> None:
    code, output = invoke(
        "forecast",
        "--input",
        store_sales,
        "--id-col",
        "product",
        "--time-col",
        "week",
        "--target-col",
        "units",
        "--sales-table",
        "--output",
        tmp_path / "o.csv",
    )
    assert code == 2
    assert "duplicate keys" in output and "--id-col" in output and "--orders" in output


def test_non_numeric_quantities_are_refused_with_examples(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("sku,date,qty\na,2024-01-01,one\na,2024-01-02,two\na,2024-01-03,3\n")
    code, output = invoke("forecast", "--input", path, "--output", tmp_path / "o.csv")
    assert code == 2
    assert "'qty'" in output and "'one'" in output and "--target-col" in output


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    code, output = invoke("forecast", "--input", path, "--output", tmp_path / "o.csv")
    assert code == 2 and "empty" in output


def test_the_console_script_exits_2_without_a_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "trendcast",
            "forecast",
            "--input",
            str(tmp_path / "none.csv"),
            "--output",
            str(tmp_path / "o.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Input file not found" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_models_lists_every_family() -> None:
    code, output = invoke("models")
    assert code == 0
    for name in (
        "naive",
        "seasonal_naive",
        "window_average",
        "auto_ets",
        "auto_arima",
        "auto_theta",
        "croston",
        "tsb",
        "adida",
        "imapa",
        "auto",
    ):
        assert name in output


def test_backtest_writes_a_ranked_leaderboard(store_sales: Path, tmp_path: Path) -> None:
    out = tmp_path / "board.csv"
    code, output = invoke(
        "backtest",
        "--input",
        store_sales,
        "--id-col",
        "shop",
        "--id-col",
        "product",
        "--time-col",
        "week",
        "--target-col",
        "units",
        "--horizon",
        "4",
        "--windows",
        "2",
        "--model",
        "naive",
        "--model",
        "seasonal_naive",
        "--model",
        "window_average",
        "--output",
        out,
    )
    assert code == 0, output
    board = pd.read_csv(out)
    assert set(board["model"]) == {"naive", "seasonal_naive", "window_average"}
    assert board["mase"].is_monotonic_increasing
    assert {"mase", "rmsse", "pinball", "coverage_80", "coverage_95", "wrmsse", "time_s"} <= set(
        board.columns
    )
    assert (tmp_path / "board_by_segment.csv").exists()


@pytest.mark.slow
def test_run_on_the_demo_writes_report_forecast_and_store(tmp_path: Path) -> None:
    store = tmp_path / "runs.duckdb"
    code, output = invoke(
        "run",
        "--out",
        tmp_path / "out",
        "--store",
        store,
        "--horizon",
        "7",
        "--windows",
        "1",
        "--jobs",
        "2",
        "--lead-time",
        "3",
    )
    assert code == 0, output
    plan = pd.read_csv(tmp_path / "out" / "plan.csv", dtype={"StockCode": str})
    assert plan.columns[0] == "StockCode" and (plan["order_qty"] >= 0).all()
    assert (plan["order_up_to"] >= plan["expected_demand"]).all()
    assert "Plan:" in output
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Plotly" in report and "<script src=" not in report
    fc = pd.read_csv(tmp_path / "out" / "forecast.csv", dtype={"StockCode": str})
    assert list(fc.columns[:2]) == ["StockCode", "InvoiceDate"]
    assert fc.groupby("StockCode").size().eq(7).all()
    assert fc["StockCode"].nunique() >= 280
    assert "Report:" in output

    code, output = invoke("runs", "--store", store)
    assert code == 0 and "succeeded" in output
    code, output = invoke("report", "--store", store, "--output", tmp_path / "again.html")
    assert code == 0, output
    assert (tmp_path / "again.html").stat().st_size > 1_000_000


def test_ingest_writes_the_clean_panel_and_the_cleaning_report(
    chinese_orders: Path, tmp_path: Path
) -> None:
    out = tmp_path / "panel.parquet"
    code, output = invoke("ingest", "--input", chinese_orders, "--output", out)
    assert code == 0, output
    panel = pd.read_parquet(out)
    assert {"unique_id", "ds", "y"} <= set(panel.columns)
    report = pd.read_csv(tmp_path / "panel_cleaning.csv")
    assert "cancellations and returns" in set(report["rule"])
    assert "exact duplicates" in output


def test_forecast_and_backtest_are_recorded_in_the_store(store_sales: Path, tmp_path: Path) -> None:
    code, output = invoke(
        "forecast",
        "--input",
        store_sales,
        "--id-col",
        "shop",
        "--id-col",
        "product",
        "--time-col",
        "week",
        "--target-col",
        "units",
        "--horizon",
        "4",
        "--model",
        "naive",
        "--output",
        tmp_path / "fc.csv",
    )
    assert code == 0, output
    from trendcast.store import RunStore

    with RunStore(tmp_path / "trendcast.duckdb", read_only=True) as store:
        runs = store.list_runs()
        record = store.get_run("latest")
    assert list(runs["kind"]) == ["forecast"]
    assert len(record.tables["forecast"]) == 24
    levels = record.tables["levels"]
    assert set(levels["level"]) == {"total"}
    assert levels["y"].sum() == pytest.approx(record.tables["panel"]["y"].sum())


@pytest.mark.skipif(not M5_SAMPLE.exists(), reason="the shared M5 sample is not on this machine")
def test_forecast_reads_an_m5_folder(tmp_path: Path) -> None:
    out = tmp_path / "m5.csv"
    code, output = invoke(
        "forecast",
        "--input",
        M5_SAMPLE,
        "--horizon",
        "28",
        "--model",
        "seasonal_naive",
        "--output",
        out,
    )
    assert code == 0, output
    fc = pd.read_csv(out)
    assert list(fc.columns[:2]) == ["id", "date"]
    assert fc["id"].nunique() == 10 and len(fc) == 280
    assert fc["date"].min() == "2016-04-25"
