"""Streamed chunked forecasting of a file: one chunk in memory, the same forecast as at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from panels import weekly_panel
from trendcast import streamed
from trendcast.chunked import parts_folder
from trendcast.cli.main import app
from trendcast.data.prepare import PreparedData
from trendcast.exceptions import ConfigError
from trendcast.pipeline import fit_forecast, load_sales, to_output
from trendcast.store import RunStore
from trendcast.streamed import forecast_file_in_chunks


def messy_orders(path: Path) -> Path:
    """Order lines of 7 products over 20 weeks, closed on Saturdays, with returns, a product
    that stops selling a month before the end, one that only ever had returns, and text dates."""
    rng = np.random.default_rng(3)
    days = pd.date_range("2024-01-01", "2024-05-19", freq="D")
    days = days[days.dayofweek != 5]
    rows = []
    for p in range(7):
        last = days[-30] if p == 2 else days[-1]
        for day in days[days <= last]:
            for _ in range(rng.poisson(1 + p)):
                rows.append(
                    {
                        "Invoice": f"I{len(rows)}",
                        "SKU": f"P{p:02d}",
                        "OrderDate": f"{day:%d/%m/%Y} {rng.integers(8, 20):02d}:15",
                        "Qty": int(rng.integers(1, 4)),
                        "Price": 2.5 + p,
                    }
                )
    frame = pd.DataFrame(rows)
    returns = frame.sample(15, random_state=1).assign(
        Invoice=lambda f: "C" + f["Invoice"], Qty=lambda f: -f["Qty"]
    )
    only_returns = pd.DataFrame(
        [{"Invoice": "C-x", "SKU": "P99", "OrderDate": "02/02/2024 10:00", "Qty": -2, "Price": 1.0}]
    )
    pd.concat([frame, returns, only_returns], ignore_index=True).to_csv(path, index=False)
    return path


def whole_csv(data: PreparedData, path: Path, model: str, horizon: int) -> str:
    fc, _ = fit_forecast(data, horizon=horizon, model=model)
    to_output(fc, data).to_csv(path, index=False, date_format="%Y-%m-%d")
    return path.read_text()


@pytest.mark.parametrize("model", ["seasonal_naive", "croston"])
def test_streamed_orders_give_the_forecast_and_report_of_the_whole_file(
    tmp_path: Path, model: str
) -> None:
    source = messy_orders(tmp_path / "orders.csv")
    out = tmp_path / "forecast.csv"
    said: list[str] = []

    result = forecast_file_in_chunks(
        source, out, chunk_size=3, horizon=14, model=model, progress=said.append
    )

    whole = load_sales(source)
    assert whole.calendar.closed_weekdays == (5,)
    assert out.read_text() == whole_csv(whole, tmp_path / "whole.csv", model, 14)
    assert (result.series, result.rows) == (7, 7 * 14)
    assert any("8 products, 3 chunk(s)" in s for s in said)  # P99 is read, then dropped
    counts = result.report.to_frame().set_index("rule")["rows"]
    assert counts.to_dict() == whole.report.to_frame().set_index("rule")["rows"].to_dict()
    assert not parts_folder(out).exists()


def test_a_product_that_stopped_selling_is_filled_to_the_end_of_the_whole_file(
    tmp_path: Path,
) -> None:
    """The chunk holding only the early leaver still runs to the input's last week."""
    panel = weekly_panel(n_series=4, n_days=7 * 40).rename(
        columns={"unique_id": "item", "ds": "week", "y": "units"}
    )
    panel = panel[panel["week"].dt.dayofweek == 0]  # weekly, Mondays
    panel = panel[(panel["item"] != "sku0") | (panel["week"] < "2024-08-01")]
    source = tmp_path / "weekly.parquet"
    panel.to_parquet(source, index=False)
    out = tmp_path / "forecast.csv"

    forecast_file_in_chunks(source, out, chunk_size=1, horizon=4, model="naive", mode="sales")

    whole = load_sales(source, mode="sales")
    assert out.read_text() == whole_csv(whole, tmp_path / "whole.csv", "naive", 4)
    written = pd.read_csv(out, parse_dates=["week"])
    assert written.groupby("item")["week"].min().nunique() == 1  # every item forecast from the end


def test_an_interrupted_streamed_forecast_resumes_from_the_last_finished_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = messy_orders(tmp_path / "orders.csv")
    out = tmp_path / "forecast.csv"
    calls: list[list[str]] = []
    real = streamed.fit_forecast

    def second_chunk_fails_once(part: PreparedData, **kwargs: Any) -> Any:
        calls.append(sorted(part.panel["unique_id"].unique()))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(part, **kwargs)

    monkeypatch.setattr(streamed, "fit_forecast", second_chunk_fails_once)
    with pytest.raises(KeyboardInterrupt):
        forecast_file_in_chunks(source, out, chunk_size=3, horizon=7, model="naive")
    assert not out.exists()
    assert (parts_folder(out) / "chunk-00000.parquet").exists()

    said: list[str] = []
    forecast_file_in_chunks(
        source, out, chunk_size=3, horizon=7, model="naive", progress=said.append
    )

    assert any("resuming: 1 of 3 chunk(s) already finished" in s for s in said)
    assert calls[2:] == [calls[1], ["P06"]]  # the first chunk was not read or forecast again
    assert out.read_text() == whole_csv(load_sales(source), tmp_path / "whole.csv", "naive", 7)


def test_a_chunk_of_products_that_never_sold_counts_in_the_report_only(tmp_path: Path) -> None:
    source = messy_orders(tmp_path / "orders.csv")
    out = tmp_path / "forecast.csv"

    result = forecast_file_in_chunks(source, out, chunk_size=1, horizon=7, model="naive")

    whole = load_sales(source)
    assert result.series == 7  # P99, alone in the last chunk, had only a return
    assert out.read_text() == whole_csv(whole, tmp_path / "whole.csv", "naive", 7)
    counts = result.report.to_frame().set_index("rule")["rows"]
    assert (
        counts["cancellations and returns"]
        == whole.report.to_frame().set_index("rule").loc["cancellations and returns", "rows"]
    )
    assert not parts_folder(out).exists()


def test_finished_chunks_of_a_changed_file_are_refused_unless_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = messy_orders(tmp_path / "orders.csv")
    out = tmp_path / "forecast.csv"
    real = streamed.fit_forecast
    seen: list[int] = []

    def fail_second(part: PreparedData, **kwargs: Any) -> Any:
        seen.append(1)
        if len(seen) == 2:
            raise RuntimeError("power cut")
        return real(part, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(streamed, "fit_forecast", fail_second)
        with pytest.raises(RuntimeError, match="power cut"):
            forecast_file_in_chunks(source, out, chunk_size=3, horizon=7, model="naive")
    with source.open("a") as more:
        more.write("I-new,P00,20/05/2024 10:00,1,2.5\n")

    with pytest.raises(ConfigError, match=r"another forecast \(changed: end, input\)"):
        forecast_file_in_chunks(source, out, chunk_size=3, horizon=7, model="naive")
    forecast_file_in_chunks(source, out, chunk_size=3, horizon=7, model="naive", restart=True)
    assert pd.read_csv(out)["OrderDate"].min() == "2024-05-21"


def test_the_forecast_cli_streams_a_file_and_records_its_whole_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    messy_orders(tmp_path / "orders.csv")
    result = CliRunner().invoke(
        app,
        [
            "forecast",
            "-i",
            "orders.csv",
            "-o",
            "forecast.csv",
            "--model",
            "seasonal_naive",
            "--horizon",
            "7",
            "--chunk-size",
            "2",
            "--store",
            "runs.duckdb",
        ],
    )

    assert result.exit_code == 0, result.output
    assert "chunk 4 of 4: reading 2 products" in result.output
    assert "cleaning: cancellations and returns" in result.output
    whole = load_sales("orders.csv")
    with RunStore("runs.duckdb") as store:
        run = store.get_run("latest")
    assert run.summary["Series"] == 7
    pd.testing.assert_frame_equal(
        run.tables["panel"][["unique_id", "ds", "y"]].reset_index(drop=True),
        whole.panel[["unique_id", "ds", "y"]].reset_index(drop=True),
        check_dtype=False,
    )
    assert len(run.tables["forecast"]) == 7 * 7
    total = run.tables["levels"].query("level == 'total'")
    assert total["y"].sum() == pytest.approx(whole.panel["y"].sum())


def test_a_per_store_sales_table_streams_by_store_and_item(tmp_path: Path) -> None:
    """The item alone is not the key of a per-store table: the store completes it, in chunks
    as at once."""
    panel = weekly_panel(n_series=6, n_days=70)
    table = pd.DataFrame(
        {
            "date": panel["ds"].dt.strftime("%Y-%m-%d"),
            "store": "S" + (panel["unique_id"].str[-1].astype(int) % 2).astype(str),
            "item": "I" + (panel["unique_id"].str[-1].astype(int) // 2).astype(str),
            "sales": panel["y"],
        }
    )
    source = tmp_path / "train.csv"
    table.to_csv(source, index=False)
    out = tmp_path / "forecast.csv"

    result = forecast_file_in_chunks(source, out, chunk_size=4, horizon=7, model="naive")

    whole = load_sales(source)
    assert whole.columns.id_cols == ("store", "item")
    assert result.series == 6
    assert out.read_text() == whole_csv(whole, tmp_path / "whole.csv", "naive", 7)


def test_only_what_duckdb_reads_is_streamed(tmp_path: Path) -> None:
    from trendcast.streamed import can_stream

    sales = tmp_path / "sales.csv"
    sales.write_text("sku,date,units\na,2024-01-01,1\n", encoding="utf-8")
    chinese = tmp_path / "gbk.csv"
    chinese.write_bytes("商品,日期,数量\n甲,2024-01-01,1\n".encode("gb18030"))
    (tmp_path / "book.xlsx").write_bytes(b"PK")
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "p.parquet")

    assert can_stream(sales) and can_stream(tmp_path / "p.parquet")
    assert can_stream(str(tmp_path / "*.parquet"))
    assert not can_stream(chinese)  # DuckDB reads no GBK: pandas reads it whole
    assert not can_stream(tmp_path / "book.xlsx")
    assert not can_stream(tmp_path / "missing.csv")


def test_each_chunk_reads_its_products_rows_once_in_the_files_order(tmp_path: Path) -> None:
    """A chunk is read by the range of its first id column, then matched on every id column:
    over a shuffled file with two id columns and missing ids (a number, then text), every row
    is read once, by its own product's chunk, in the file's order."""
    import duckdb

    from trendcast.data.columns import ColumnMap

    rng = np.random.default_rng(5)
    n = 800
    frame = pd.DataFrame(
        {
            "store": pd.array(rng.choice([1, 2, 3, -1], n), dtype="Int64"),
            "item": rng.choice([f"I{i:02d}" for i in range(9)] + ["?"], n),
            "day": "2024-01-01",
            "units": np.arange(n),  # the row's place in the file
        }
    )
    frame.loc[frame["store"] == -1, "store"] = pd.NA
    frame.loc[frame["item"] == "?", "item"] = None
    path = tmp_path / "rows.parquet"
    frame.to_parquet(path, row_group_size=64)
    con = duckdb.connect()
    src = f"SELECT * FROM read_parquet('{path}')"
    keys = con.execute(f"SELECT DISTINCT store, item FROM ({src}) ORDER BY ALL NULLS LAST").df()
    cmap = ColumnMap(id_cols=("store", "item"), time_col="day", target_col="units")

    def label(ids: pd.DataFrame) -> pd.Series:
        store = ids["store"].map(lambda v: "-" if pd.isna(v) else str(int(v)))
        return store + "|" + ids["item"].map(lambda v: "-" if pd.isna(v) else v)

    key = label(frame)

    seen: list[int] = []
    for start in range(0, len(keys), 7):
        chunk = keys.iloc[start : start + 7]
        rows = streamed._read_chunk(con, src, cmap, chunk)
        assert rows["units"].is_monotonic_increasing
        assert set(key[rows["units"]]) == set(label(chunk))
        seen.extend(rows["units"])
    assert sorted(seen) == list(range(n))
