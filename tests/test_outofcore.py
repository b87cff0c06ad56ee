"""Out-of-core ingestion: DuckDB's panel and cleaning report equal the in-memory ingest's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from trendcast.cli.main import app
from trendcast.config import CleaningConfig
from trendcast.data.columns import ColumnMap
from trendcast.data.io import read_table
from trendcast.data.outofcore import PART_LINES, ingest_out_of_core, resolve_files
from trendcast.data.prepare import prepare_sales
from trendcast.datasets import demo_orders_path
from trendcast.exceptions import ConfigError, InputError
from trendcast.pipeline import load_sales

HEADER = "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,Store"


def messy_lines() -> list[str]:
    """Order lines that trip every cleaning rule, in the text forms real exports use."""
    rng = np.random.default_rng(11)
    lines = []
    days = [d for d in pd.date_range("2024-01-01", periods=84) if d.dayofweek != 6]  # no Sundays
    for i, day in enumerate(days):
        for sku, mean in (("A1", 4), ("B2", 2), ("00C3", 9)):
            if rng.random() < 0.8:
                qty = int(rng.poisson(mean)) + 1
                when = f"{day:%Y-%m-%d} 1{i % 10}:15" if i % 7 else f"{day:%Y/%m/%d} 09:00"
                lines.append(f"{10000 + i},{sku},{qty},{when},2.50,S1")
        if i >= 30:  # a product launched later, sold in two stores
            lines.append(f'{20000 + i},D4,"1,200" ,{day:%Y-%m-%d} 12:00,"¥3,10",S{1 + i % 2}')
    lines += [
        "10001,A1,500,2024-02-01 10:00,2.50,S1",  # a spike
        "10002,A1,3,2024-01-03 11:00,2.50,S1",  # exported twice
        "10002,A1,3,2024-01-03 11:00,2.50,S1",
        "C10003,A1,-2,2024-01-04 11:00,2.50,S1",  # a cancellation
        "10004,B2,-1,2024-01-05 11:00,2.50,S1",  # a return
        "10005,B2,-4,2024-01-01 08:00,2.50,S1",  # a return before B2's first sale
        "10006,B2,0,2024-01-06 11:00,2.50,S1",  # no units
        "10007,00C3,2,2024-01-08 11:00,0,S1",  # a free sample
        "10008,00C3,2,2024-01-09 11:00,-1.0,S1",  # a negative price
        "10009,,5,2024-01-10 11:00,2.50,S1",  # no product
        "10010, ,5,2024-01-10 11:00,2.50,S1",
        "10011,A1,5,not a date,2.50,S1",  # unreadable date
        "10012,A1,,2024-01-11 11:00,2.50,S1",  # empty quantity
        "10013,A1,many,2024-01-11 11:00,2.50,S1",  # unreadable quantity
        "10014,POST,1,2024-01-12 11:00,18.00,S1",  # postage
        "10015,gift_0001_20,1,2024-01-12 11:00,20.00,S1",  # a gift card
        "10016,E5,-3,2024-02-20 11:00,4.00,S1",  # only ever returned
        "10017,A1,2,2024-03-05 11:00,,S1",  # no price
    ]
    return lines


@pytest.fixture(scope="module")
def messy_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("messy") / "orders.csv"
    path.write_text("\n".join([HEADER, *messy_lines()]) + "\n", encoding="utf-8")
    return path


def ingest_both(
    source: str | Path,
    memory_source: str | Path,
    tmp_path: Path,
    columns: ColumnMap | None = None,
    part_lines: int = PART_LINES,
    **options: object,
) -> tuple[pd.DataFrame, pd.DataFrame, object, object]:
    """The out-of-core panel and the in-memory panel of the same input, and both results."""
    expected = prepare_sales(read_table(memory_source), columns, mode="orders", **options)  # type: ignore[arg-type]
    result = ingest_out_of_core(
        source,
        tmp_path / "panel.parquet",
        columns,
        part_lines=part_lines,
        **options,  # type: ignore[arg-type]
    )
    got = pd.read_parquet(result.panel_path)
    got["ds"] = got["ds"].astype("datetime64[ns]")
    return got, expected.panel, result, expected


def assert_same_report(result: object, expected: object) -> None:
    got = result.report.to_frame()[["rule", "action", "rows", "units"]]  # type: ignore[attr-defined]
    want = expected.report.to_frame()[["rule", "action", "rows", "units"]]  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)


@pytest.mark.parametrize("part_lines", [PART_LINES, 4_000], ids=["one-part", "parts"])
def test_out_of_core_ingest_of_the_demo_equals_the_in_memory_panel_and_report(
    tmp_path: Path, part_lines: int
) -> None:
    expected = load_sales()
    result = ingest_out_of_core(
        None, tmp_path / "panel.parquet", threads=2, memory_limit="1GB", part_lines=part_lines
    )
    got = pd.read_parquet(result.panel_path)
    got["ds"] = got["ds"].astype("datetime64[ns]")

    pd.testing.assert_frame_equal(got, expected.panel, check_exact=False, rtol=1e-9)
    assert_same_report(result, expected)
    assert result.calendar == expected.calendar
    pd.testing.assert_frame_equal(result.report.series_notes, expected.report.series_notes)
    assert result.n_series == expected.n_series == 300


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"config": CleaningConfig(returns="net")},
        {"config": CleaningConfig(outliers="flag", trading_days="all")},
        {"config": CleaningConfig(outliers="none")},
        {"freq": "W"},
        {"freq": "MS", "config": CleaningConfig(returns="net")},
    ],
    ids=["default", "net-returns", "flag-spikes-all-days", "no-outliers", "weekly", "monthly-net"],
)
@pytest.mark.parametrize("part_lines", [PART_LINES, 40], ids=["one-part", "parts"])
def test_out_of_core_ingest_of_a_messy_file_equals_the_in_memory_ingest(
    messy_csv: Path, tmp_path: Path, options: dict[str, object], part_lines: int
) -> None:
    got, want, result, expected = ingest_both(
        messy_csv, messy_csv, tmp_path, part_lines=part_lines, **options
    )

    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)
    assert_same_report(result, expected)
    pd.testing.assert_frame_equal(result.report.series_notes, expected.report.series_notes)  # type: ignore[attr-defined]


def test_the_messy_file_trips_every_order_rule_out_of_core(messy_csv: Path, tmp_path: Path) -> None:
    result = ingest_out_of_core(messy_csv, tmp_path / "panel.parquet")
    rows = result.report.to_frame().set_index("rule")["rows"]

    for rule in (
        "missing product id",
        "unreadable date",
        "unreadable quantity",
        "empty date or quantity",
        "exact duplicates",
        "non-product codes",
        "cancellations and returns",
        "zero quantity",
        "zero or negative price",
        "missing periods",
        "demand spikes",
    ):
        assert rows[rule] > 0, rule
    assert result.calendar.closed_weekdays == (6,)
    assert "D4" in set(result.ids["unique_id"])


def test_out_of_core_ingest_combines_several_id_columns_like_the_in_memory_ingest(
    messy_csv: Path, tmp_path: Path
) -> None:
    columns = ColumnMap(id_cols=("Store", "StockCode"))
    got, want, result, expected = ingest_both(messy_csv, messy_csv, tmp_path, columns, 30)

    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)
    assert "S2/D4" in set(got["unique_id"])
    assert list(result.ids.columns) == ["unique_id", "Store", "StockCode"]  # type: ignore[attr-defined]


def test_a_glob_of_typed_parquet_parts_gives_the_in_memory_panel(tmp_path: Path) -> None:
    orders = read_table(demo_orders_path())
    typed = orders.assign(
        Quantity=orders["Quantity"].astype(int),
        UnitPrice=orders["UnitPrice"].astype(float),
        InvoiceDate=pd.to_datetime(orders["InvoiceDate"]),
    )
    folder = tmp_path / "orders"
    folder.mkdir()
    half = len(typed) // 2
    typed.iloc[:half].to_parquet(folder / "part-0.parquet", index=False)
    typed.iloc[half:].to_parquet(folder / "part-1.parquet", index=False)

    got, want, result, expected = ingest_both(
        str(folder / "*.parquet"), folder, tmp_path, part_lines=5_000
    )

    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)
    assert_same_report(result, expected)


def test_parts_give_the_one_part_panel_report_examples_ids_and_attributes(
    messy_csv: Path, tmp_path: Path
) -> None:
    columns = ColumnMap(id_cols=("StockCode",), attributes={"store": "Store"})
    whole = ingest_out_of_core(messy_csv, tmp_path / "whole.parquet", columns)
    logged: list[str] = []
    parts = ingest_out_of_core(
        messy_csv, tmp_path / "parts.parquet", columns, part_lines=25, progress=logged.append
    )

    pd.testing.assert_frame_equal(
        pd.read_parquet(parts.panel_path), pd.read_parquet(whole.panel_path)
    )
    pd.testing.assert_frame_equal(parts.report.to_frame(), whole.report.to_frame())
    assert parts.report.facts == whole.report.facts
    pd.testing.assert_frame_equal(parts.report.series_notes, whole.report.series_notes)
    pd.testing.assert_frame_equal(parts.static_df, whole.static_df)
    pd.testing.assert_frame_equal(parts.ids, whole.ids)
    assert (parts.n_series, parts.n_rows, parts.calendar) == (
        whole.n_series,
        whole.n_rows,
        whole.calendar,
    )
    n_parts = sum(line.startswith("part ") and " written: " in line for line in logged)
    assert n_parts >= 4, logged
    assert any(line.startswith("partitioned: by product into") for line in logged)
    assert set(parts.timings) >= {"census", "partitioned", "read and de-duplicated", "written"}


def test_a_duckdb_table_is_ingested_out_of_core_like_in_memory(tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "shop.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(
            "CREATE TABLE orders AS SELECT * FROM read_csv(?, all_varchar = true)",
            [str(demo_orders_path())],
        )

    got, want, _, _ = ingest_both(f"{db}::orders", f"{db}::orders", tmp_path)

    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)


def test_unix_timestamps_are_read_as_the_in_memory_ingest_reads_them(tmp_path: Path) -> None:
    days = pd.date_range("2024-01-01 09:30", periods=40, freq="D")
    raw = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(80)],
            "sku": ["a", "b"] * 40,
            "qty": np.arange(80) % 5 + 1,
            "timestamp": np.repeat(days.astype("int64") // 10**9, 2),
        }
    )
    path = tmp_path / "unix.parquet"
    raw.to_parquet(path, index=False)

    got, want, _, _ = ingest_both(path, path, tmp_path)

    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)
    assert got["ds"].min() == pd.Timestamp("2024-01-01")


def test_chinese_headers_numbers_and_dates_are_read_out_of_core(tmp_path: Path) -> None:
    lines = ["订单号,商品编码,数量,下单时间,单价"]
    for i, day in enumerate(pd.date_range("2024-01-01", periods=20)):
        lines.append(f"A{i:03d},00123,3 件,{day.year}年{day.month}月{day.day}日 10:30,¥12.50")
        lines.append(f'B{i:03d},00456,"1,000",{day.year}年{day.month}月{day.day}日 23:59,"¥1,200"')
    path = tmp_path / "订单导出.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    got, want, _, _ = ingest_both(path, path, tmp_path)

    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)
    assert set(got["unique_id"]) == {"00123", "00456"}


def test_a_glob_matching_no_files_is_refused_naming_the_pattern(tmp_path: Path) -> None:
    pattern = str(tmp_path / "nowhere" / "*.parquet")
    with pytest.raises(InputError, match=r"No files match the pattern .*nowhere"):
        resolve_files(pattern)
    with pytest.raises(InputError, match="No files match"):
        ingest_out_of_core(pattern, tmp_path / "panel.parquet")


def test_too_many_unreadable_dates_are_refused_with_examples(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    rows = [f"o{i},a,1,{'someday' if i % 2 else '2024-01-0' + str(1 + i % 9)}" for i in range(40)]
    path.write_text("order,sku,qty,date\n" + "\n".join(rows) + "\n")
    with pytest.raises(InputError, match=r"'date' \(dates\) has 20 value\(s\).*someday"):
        ingest_out_of_core(path, tmp_path / "panel.parquet")
    # in parts, a share too high for the whole input already stops the run at the first part
    more = [f"o{i},b,1,{'someday' if i < 30 else '2024-01-01'}" for i in range(40, 100)]
    path.write_text("order,sku,qty,date\n" + "\n".join(rows + more) + "\n")
    with pytest.raises(InputError, match=r"has at least 20 value\(s\).*someday"):
        ingest_out_of_core(path, tmp_path / "panel.parquet", part_lines=30)


def test_a_bad_memory_limit_and_a_csv_output_are_refused(messy_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="memory limit 'lots'.*8GB"):
        ingest_out_of_core(messy_csv, out / "panel.parquet", memory_limit="lots")
    with pytest.raises(ConfigError, match="at least 100MB"):
        ingest_out_of_core(messy_csv, out / "panel.parquet", memory_limit="20MB")
    with pytest.raises(ConfigError, match="threads"):
        ingest_out_of_core(messy_csv, out / "panel.parquet", threads=-1)
    assert not out.exists() or not list(out.iterdir())  # no work folder left behind
    with pytest.raises(ConfigError, match=r"writes Parquet.*panel\.csv"):
        ingest_out_of_core(messy_csv, tmp_path / "panel.csv")


def test_the_memory_limit_is_the_whole_ingests_and_duckdb_gets_a_share() -> None:
    from trendcast.data.outofcore import DUCKDB_SHARE, duckdb_memory_limit

    assert DUCKDB_SHARE < 1
    assert duckdb_memory_limit("8GiB") == f"{int(8 * 1024 * DUCKDB_SHARE)}MiB"
    assert duckdb_memory_limit("8GB") == duckdb_memory_limit("8 gb") == duckdb_memory_limit("8G")
    assert duckdb_memory_limit("8GB") == f"{int(8e9 * DUCKDB_SHARE) // 2**20}MiB"
    assert duckdb_memory_limit("1.5GiB") == f"{int(1.5 * 1024 * DUCKDB_SHARE)}MiB"


def test_a_gbk_csv_is_refused_with_a_conversion_hint(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("订单号,商品编码,数量,下单时间\nA1,001,3,2024-01-01\n".encode("gb18030"))
    with pytest.raises(InputError, match="iconv"):
        ingest_out_of_core(path, tmp_path / "panel.parquet")


def test_the_work_folder_is_removed_and_a_failed_run_leaves_no_panel(
    messy_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "panel.parquet"
    ingest_out_of_core(messy_csv, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["panel.parquet"]

    with pytest.raises(InputError):
        ingest_out_of_core(messy_csv, tmp_path / "other.parquet", ColumnMap(id_cols=("nope",)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["panel.parquet"]


def test_ingest_cli_goes_out_of_core_for_a_glob_and_writes_panel_and_report(
    messy_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "panel.parquet"
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            "--input",
            str(messy_csv.parent / "*.csv"),
            "--output",
            str(out),
            "--memory-limit",
            "500MB",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "out of core" in result.output and "aggregated:" in result.output
    assert "exact duplicates" in result.output
    expected = prepare_sales(read_table(messy_csv), mode="orders").panel
    got = pd.read_parquet(out)
    assert len(got) == len(expected)
    report = pd.read_csv(tmp_path / "panel_cleaning.csv")
    assert report.loc[report["rule"] == "exact duplicates", "rows"].item() == 1


def test_ingest_cli_refuses_out_of_core_with_a_sales_table(messy_csv: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["ingest", "--input", str(messy_csv), "--out-of-core", "--sales-table", "-o", "p.parquet"],
    )
    assert result.exit_code == 2
    assert "reads order lines" in result.output


def test_a_weekly_ingest_whose_data_ends_inside_its_only_week_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    rows = [f"o{i},a,2,2024-01-0{1 + i % 3} 10:00" for i in range(12)]  # Mon to Wed, one week
    path.write_text("order,sku,qty,date\n" + "\n".join(rows) + "\n")
    with pytest.raises(InputError, match=r"inside its only period.*--freq D"):
        ingest_out_of_core(path, tmp_path / "panel.parquet", freq="W")
    assert not (tmp_path / "panel.parquet").exists()
