"""Reading input tables: delimited text in several encodings, gzip, Parquet and DuckDB."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from trendcast.data.io import read_table, split_duckdb_target
from trendcast.exceptions import InputError

CHINESE_EXPORT = (
    "订单号{d}商品编码{d}数量{d}下单时间{d}单价\n"
    "0001{d}00123{d}3 件{d}2024年1月5日 10:30{d}¥12.50\n"
    "0002{d}00456{d}1{d}2024年1月6日 11:00{d}¥8\n"
)
CHINESE_COLUMNS = ["订单号", "商品编码", "数量", "下单时间", "单价"]


def make_duckdb(path: Path, *tables: str) -> None:
    con = duckdb.connect(str(path))
    try:
        for name in tables:
            con.execute(
                f"create table {name} as select 'A' || (i % 2) as sku, "
                "date '2024-01-01' + i::int as day, (i + 1)::int as units from range(4) t(i)"
            )
    finally:
        con.close()


@pytest.mark.parametrize(
    ("delimiter", "name"), [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")]
)
def test_read_table_sniffs_the_delimiter(tmp_path, delimiter, name):
    path = tmp_path / f"{name}.csv"
    path.write_text(f"sku{delimiter}date{delimiter}units\n007{delimiter}2024-01-01{delimiter}3\n")
    df = read_table(path)
    assert list(df.columns) == ["sku", "date", "units"]
    assert df.iloc[0].tolist() == ["007", "2024-01-01", "3"]


def test_read_table_keeps_every_value_as_text_so_codes_keep_leading_zeros(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text("sku,units,price\n00123,3,1.50\n00456,,2\n")
    df = read_table(path)
    assert df["sku"].tolist() == ["00123", "00456"]
    assert df["units"].iloc[0] == "3" and pd.isna(df["units"].iloc[1])
    assert df["price"].tolist() == ["1.50", "2"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_read_table_decodes_chinese_exports_in_utf8_with_or_without_bom_and_gb18030(
    tmp_path, encoding
):
    path = tmp_path / "orders.csv"
    path.write_bytes(CHINESE_EXPORT.format(d=",").encode(encoding))
    df = read_table(path)
    assert list(df.columns) == CHINESE_COLUMNS
    assert df.iloc[0].tolist() == ["0001", "00123", "3 件", "2024年1月5日 10:30", "¥12.50"]


def test_read_table_keeps_utf8_when_the_sniffed_head_splits_a_character(tmp_path):
    # the sniffer reads the first 64 KiB; a Chinese character cut at that boundary must not
    # make the file look like GB18030 or Latin-1
    rows = "".join(
        f"{i},商品{i % 7},{i % 5 + 1},2024年01月{i % 28 + 1:02d}日\n" for i in range(4000)
    )
    for pad in range(3):
        data = ("订单号,商品编码,数量,下单时间" + "x" * pad + "\n" + rows).encode("utf-8")
        try:
            data[:65536].decode("utf-8")
        except UnicodeDecodeError:
            break
    else:
        pytest.fail("could not build a file whose first 64 KiB end inside a character")
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    df = read_table(path)
    assert list(df.columns)[:3] == ["订单号", "商品编码", "数量"]
    assert df["商品编码"].iloc[-1] == f"商品{3999 % 7}"


def test_read_table_reads_a_gzipped_csv(tmp_path):
    path = tmp_path / "orders.csv.gz"
    with gzip.open(path, "wt", encoding="gb18030") as fh:
        fh.write(CHINESE_EXPORT.format(d=";"))
    df = read_table(path)
    assert list(df.columns) == CHINESE_COLUMNS
    assert len(df) == 2


def test_read_table_strips_spaces_around_column_names(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(" sku , date ,units \nA,2024-01-01,1\n")
    assert list(read_table(path).columns) == ["sku", "date", "units"]


def test_read_table_reads_a_parquet_file_and_a_folder_of_parquet_files(tmp_path):
    frame = pd.DataFrame({"sku": ["A", "B"], "units": [1, 2]})
    frame.to_parquet(tmp_path / "sales.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "sales.parquet"), frame)

    folder = tmp_path / "parts"
    folder.mkdir()
    frame.iloc[:1].to_parquet(folder / "part-0.parquet")
    frame.iloc[1:].to_parquet(folder / "part-1.parquet")
    assert sorted(read_table(folder)["sku"]) == ["A", "B"]


def test_read_table_round_trips_a_named_duckdb_table(tmp_path):
    db = tmp_path / "shop.duckdb"
    make_duckdb(db, "sales", "returns")
    df = read_table(f"{db}::sales")
    assert list(df.columns) == ["sku", "day", "units"]
    assert df["sku"].tolist() == ["A0", "A1", "A0", "A1"]
    assert df["units"].tolist() == [1, 2, 3, 4]
    assert df["day"].iloc[-1] == pd.Timestamp("2024-01-04")


def test_read_table_takes_the_only_table_of_a_duckdb_file_without_a_name(tmp_path):
    db = tmp_path / "shop.duckdb"
    make_duckdb(db, "sales")
    assert len(read_table(db)) == 4


def test_read_table_asks_for_a_table_name_when_the_duckdb_file_holds_several(tmp_path):
    db = tmp_path / "shop.duckdb"
    make_duckdb(db, "sales", "returns")
    with pytest.raises(
        InputError, match=r"holds 2 tables \['returns', 'sales'\]; name one as .*::TABLE"
    ):
        read_table(db)


def test_read_table_lists_the_tables_when_the_named_duckdb_table_is_missing(tmp_path):
    db = tmp_path / "shop.duckdb"
    make_duckdb(db, "sales")
    with pytest.raises(
        InputError, match=r"No table 'orders' in .*shop.duckdb\. Tables there: \['sales'\]"
    ):
        read_table(f"{db}::orders")


def test_read_table_reports_a_file_that_is_not_a_duckdb_database(tmp_path):
    db = tmp_path / "shop.duckdb"
    db.write_text("sku,units\nA,1\n")
    with pytest.raises(InputError, match="Cannot open the DuckDB database .*shop.duckdb"):
        read_table(db)


def test_read_table_reports_a_missing_file_and_the_flag_to_check(tmp_path):
    with pytest.raises(
        InputError, match=r"Input file not found: .*sales\.csv\. Check the path given to --input"
    ):
        read_table(tmp_path / "sales.csv")


def test_read_table_reports_a_missing_duckdb_file(tmp_path):
    with pytest.raises(InputError, match=r"Input file not found: .*shop\.duckdb\. Check the path"):
        read_table(f"{tmp_path / 'shop.duckdb'}::sales")


@pytest.mark.parametrize(
    ("name", "content"),
    # mtime=0: a gzip header holds its write time, and test ids must be equal on every worker
    [("empty.csv", b""), ("blank.csv", b"\n  \n\n"), ("empty.csv.gz", gzip.compress(b"", mtime=0))],
    ids=["empty", "blank", "empty-gzip"],
)
def test_read_table_reports_an_empty_file_and_asks_for_a_new_export(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"is empty\. Export the table again with its rows"):
        read_table(path)


def test_read_table_reports_a_file_with_a_header_but_no_rows(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text("sku,date,units\n")
    with pytest.raises(InputError, match=r"has a header but no rows\. Export the table again"):
        read_table(path)


@pytest.mark.parametrize("name", ["sales.xlsx", "sales.xls", "SALES.XLSX"])
def test_read_table_asks_to_save_an_excel_workbook_as_csv(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(InputError, match=r"is an Excel workbook; save the sheet as CSV \(UTF-8\)"):
        read_table(path)


def test_read_table_reports_a_broken_parquet_file(tmp_path):
    path = tmp_path / "sales.parquet"
    path.write_text("not parquet")
    with pytest.raises(InputError, match=r"Cannot read .*sales\.parquet as Parquet"):
        read_table(path)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("shop.duckdb::sales", ("shop.duckdb", "sales")),
        ("shop.duckdb", ("shop.duckdb", None)),
        ("dir/shop.db::main::t", ("dir/shop.db::main", "t")),
    ],
)
def test_split_duckdb_target_separates_the_database_from_the_table(target, expected):
    assert split_duckdb_target(target) == expected
