"""From a raw table to a clean long panel: every cleaning rule, counted in the report."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from trendcast.config import DEFAULT_NON_PRODUCT_CODES, CleaningConfig
from trendcast.data.columns import ColumnMap
from trendcast.data.io import read_table
from trendcast.data.prepare import PreparedData, prepare_sales
from trendcast.datasets import demo_orders_path, load_demo_orders
from trendcast.exceptions import InputError

SATURDAY = 5
ORDER_COLUMNS = ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice"]


def rule(prepared: PreparedData, name: str) -> dict[str, object]:
    """One rule's row of the cleaning report as a dict."""
    table = prepared.report.to_frame().set_index("rule")
    assert name in table.index, f"rule {name!r} missing from the report: {list(table.index)}"
    return table.loc[name].to_dict()


def series(prepared: PreparedData, uid: str) -> pd.Series:
    """One series' demand indexed by date."""
    panel = prepared.panel
    return panel.loc[panel["unique_id"] == uid].set_index("ds")["y"]


def daily_orders(skus: dict[str, int], start: str = "2024-03-01", n_days: int = 14) -> list[tuple]:
    """One clean order line per product per day: (order, sku, qty, time, price)."""
    rows = []
    for k, (sku, qty) in enumerate(skus.items()):
        for i, day in enumerate(pd.date_range(start, periods=n_days)):
            rows.append((f"{k + 1}{i:04d}", sku, str(qty), f"{day:%Y-%m-%d} 1{k}:00", "2.50"))
    return rows


def orders_frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=ORDER_COLUMNS)


def sales_table(
    uid_to_values: dict[str, list[object]], start: str, freq: str, **extra
) -> pd.DataFrame:
    """A pre-aggregated sales table: one row per product and period, values as text."""
    frames = []
    for uid, values in uid_to_values.items():
        dates = pd.date_range(start, periods=len(values), freq=freq)
        frames.append(
            pd.DataFrame(
                {
                    "sku": uid,
                    "date": dates.strftime("%Y-%m-%d"),
                    "units": [str(v) for v in values],
                    **extra,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


# --- input kinds and columns -------------------------------------------------------------


def test_prepare_reads_a_chinese_order_export_unchanged_with_auto_detected_columns(tmp_path):
    lines = ["订单号,商品编码,数量,下单时间,单价"]
    for i, day in enumerate(pd.date_range("2024-01-01", periods=10)):
        lines.append(f"A{i:03d},00123,3 件,{day.year}年{day.month}月{day.day}日 10:30,¥12.50")
        lines.append(f'B{i:03d},00456,"1,000",{day.year}年{day.month}月{day.day}日 23:59,"¥1,200"')
    path = tmp_path / "订单导出.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("gb18030"))

    prepared = prepare_sales(read_table(path))

    assert prepared.is_orders
    assert prepared.columns == ColumnMap(
        id_cols=("商品编码",),
        time_col="下单时间",
        target_col="数量",
        order_col="订单号",
        price_col="单价",
    )
    assert prepared.calendar.freq == "D"
    assert sorted(prepared.panel["unique_id"].unique()) == ["00123", "00456"]
    first = prepared.panel.iloc[0]
    assert (first["unique_id"], first["ds"], first["y"]) == (
        "00123",
        pd.Timestamp("2024-01-01"),
        3.0,
    )
    assert first["price"] == 12.5 and first["revenue"] == 37.5
    assert series(prepared, "00456").tolist() == [1000.0] * 10
    assert prepared.panel.loc[prepared.panel["unique_id"] == "00456", "price"].eq(1200.0).all()
    assert prepared.report.facts["input kind"] == "order lines"


def test_several_id_columns_combine_into_unique_id_with_a_slash():
    raw = pd.DataFrame(
        {
            "store": ["S1", "S1", "S2", "S2"],
            "sku": ["007", "007", "007", "008"],
            "date": ["2024-01-01", "2024-01-02", "2024-01-01", "2024-01-02"],
            "units": ["1", "2", "3", "4"],
        }
    )
    prepared = prepare_sales(raw, ColumnMap(id_cols=("store", "sku")))
    assert sorted(prepared.panel["unique_id"].unique()) == ["S1/007", "S2/007", "S2/008"]
    assert prepared.ids.sort_values("unique_id").to_dict("records") == [
        {"unique_id": "S1/007", "store": "S1", "sku": "007"},
        {"unique_id": "S2/007", "store": "S2", "sku": "007"},
        {"unique_id": "S2/008", "store": "S2", "sku": "008"},
    ]
    assert prepared.n_series == 3


@pytest.mark.parametrize(("anchor", "start"), [("W-SUN", "2024-01-07"), ("W-MON", "2024-01-01")])
def test_weekly_sales_table_is_read_with_its_week_anchor(anchor, start):
    raw = sales_table({"A": [5, 6, 4, 7, 5, 6, 5, 4], "B": [1, 0, 2, 1, 3, 1, 2, 1]}, start, anchor)
    prepared = prepare_sales(raw)
    assert not prepared.is_orders
    assert prepared.calendar.freq == anchor
    assert prepared.calendar.season_length == 52
    assert prepared.report.facts["frequency"] == "weekly"
    weeks = pd.date_range(start, periods=8, freq=anchor)
    assert series(prepared, "A").index.tolist() == list(weeks)
    assert series(prepared, "A").tolist() == [5, 6, 4, 7, 5, 6, 5, 4]
    assert prepared.calendar.future(weeks[-1], 1)[0] == weeks[-1] + pd.Timedelta(days=7)


def test_monthly_sales_table_is_read_as_month_starts():
    raw = sales_table({"A": list(range(1, 25))}, "2022-01-01", "MS")
    prepared = prepare_sales(raw)
    assert prepared.calendar.freq == "MS"
    assert prepared.calendar.season_length == 12
    assert series(prepared, "A").index[-1] == pd.Timestamp("2023-12-01")
    assert prepared.calendar.future(pd.Timestamp("2023-12-01"), 1)[0] == pd.Timestamp("2024-01-01")


def test_daily_rows_without_times_or_repeats_are_read_as_a_sales_table_in_auto_mode():
    raw = sales_table({"A": [1, 2, 3, 4, 5]}, "2024-01-01", "D")
    prepared = prepare_sales(raw)
    assert not prepared.is_orders
    assert prepared.report.facts["input kind"] == "sales table"


def test_repeated_rows_per_product_and_day_are_summed_as_order_lines_in_auto_mode():
    raw = pd.DataFrame(
        {
            "sku": ["A", "A", "A"],
            "date": ["2024-01-01", "2024-01-01", "2024-01-02"],
            "units": ["1", "2", "5"],
        }
    )
    prepared = prepare_sales(raw)
    assert prepared.is_orders
    assert series(prepared, "A").tolist() == [3.0, 5.0]


def test_sales_table_adds_the_store_to_the_id_when_the_product_alone_is_not_unique():
    raw = pd.concat(
        [
            sales_table({"A": [1, 2, 3]}, "2024-01-01", "D", store="S1"),
            sales_table({"A": [4, 5, 6]}, "2024-01-01", "D", store="S2"),
        ]
    )
    prepared = prepare_sales(raw, mode="sales")
    assert prepared.columns.id_cols == ("store", "sku")
    assert "store" not in prepared.columns.attributes
    assert series(prepared, "S2/A").tolist() == [4, 5, 6]
    assert prepared.report.facts["columns"]["id_cols"] == ["store", "sku"]


def test_duplicate_keys_in_a_sales_table_raise_with_the_hint():
    raw = pd.DataFrame(
        {
            "sku": ["A", "A", "B"],
            "date": ["2024-01-01", "2024-01-01", "2024-01-01"],
            "units": ["1", "2", "3"],
        }
    )
    with pytest.raises(
        InputError,
        match=r"The sales table has 2 rows with duplicate keys \(the same \['sku'\] and 'date'\), "
        r"e\.g\. \['A @ 2024-01-01', 'A @ 2024-01-01'\]\. Add the missing id column with another "
        r"--id-col \(for example the store\), or pass --orders",
    ):
        prepare_sales(raw, mode="sales")


def test_duplicate_keys_raise_when_the_user_named_the_ids_even_if_a_store_would_fix_them():
    raw = pd.concat(
        [
            sales_table({"A": [1, 2]}, "2024-01-01", "D", store="S1"),
            sales_table({"A": [4, 5]}, "2024-01-01", "D", store="S2"),
        ]
    )
    with pytest.raises(InputError, match="rows with duplicate keys"):
        prepare_sales(raw, ColumnMap(id_cols=("sku",)), mode="sales")


def test_mode_orders_sums_a_table_that_looks_like_sales():
    raw = sales_table({"A": [1, 2, 3]}, "2024-01-01", "D")
    prepared = prepare_sales(raw, mode="orders")
    assert prepared.is_orders
    assert rule(prepared, "exact duplicates")["rows"] == 0


def test_duckdb_sales_table_round_trips_through_read_table_and_prepare(tmp_path):
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))
    try:
        con.execute(
            "create table weekly as select sku, date '2024-01-07' + 7 * i::int as week, "
            "(i % 3 + 1)::int as units from range(12) t(i), (values ('A'), ('B')) s(sku)"
        )
    finally:
        con.close()
    prepared = prepare_sales(read_table(f"{db}::weekly"))
    assert prepared.calendar.freq == "W-SUN"
    assert prepared.n_series == 2
    assert series(prepared, "B").tolist() == [1, 2, 3] * 4
    assert prepared.panel["ds"].max() == pd.Timestamp("2024-03-24")


# --- order-line cleaning -------------------------------------------------------------------


@pytest.fixture
def messy_orders() -> pd.DataFrame:
    """14 days of two products plus exactly 2 duplicates, 3 cancellations, 1 POST, 1 zero price."""
    rows = daily_orders({"85123A": 2, "22423": 1})
    rows += [rows[0], rows[20]]  # 2 exact duplicates (2 + 1 units)
    rows += [
        ("C536379", "85123A", "-2", "2024-03-05 12:00", "2.50"),  # cancelled order
        ("C536380", "22423", "-1", "2024-03-06 12:00", "2.50"),  # cancelled order
        ("536381", "85123A", "-4", "2024-03-07 12:00", "2.50"),  # return: negative quantity
        ("536382", "POST", "1", "2024-03-02 09:00", "18.00"),  # postage
        ("536383", "85123A", "5", "2024-03-03 09:00", "0"),  # free line
    ]
    return orders_frame(rows)


def test_clean_counts_each_rule_exactly_on_a_constructed_mess(messy_orders):
    prepared = prepare_sales(messy_orders)
    report = prepared.report
    assert report.rows_in == 28 + 7
    duplicates = rule(prepared, "exact duplicates")
    assert (duplicates["action"], duplicates["rows"], duplicates["units"]) == ("dropped", 2, 3.0)
    non_product = rule(prepared, "non-product codes")
    assert (non_product["rows"], non_product["units"], non_product["examples"]) == (1, 1.0, "POST")
    cancel = rule(prepared, "cancellations and returns")
    assert (cancel["action"], cancel["rows"], cancel["units"]) == ("dropped", 3, 7.0)
    assert "C536379" in cancel["examples"]
    price = rule(prepared, "zero or negative price")
    assert (price["rows"], price["units"]) == (1, 5.0)
    for untouched in (
        "missing product id",
        "unreadable date",
        "unreadable quantity",
        "empty date or quantity",
        "zero quantity",
        "missing periods",
        "demand spikes",
    ):
        assert rule(prepared, untouched)["rows"] == 0, untouched
    assert report.summary_lines()[0].startswith("exact duplicates: dropped 2 row(s)")
    # what is left is exactly the clean demand
    assert series(prepared, "85123A").tolist() == [2.0] * 14
    assert series(prepared, "22423").tolist() == [1.0] * 14
    assert "POST" not in set(prepared.panel["unique_id"])
    assert report.rows_out == 28


def test_clean_drops_cancelled_orders_and_reports_them(messy_orders):
    prepared = prepare_sales(messy_orders, config=CleaningConfig(returns="drop"))
    assert rule(prepared, "cancellations and returns")["action"] == "dropped"
    assert series(prepared, "85123A").loc["2024-03-05"] == 2.0


def test_clean_nets_returns_against_demand_when_asked(messy_orders):
    prepared = prepare_sales(messy_orders, config=CleaningConfig(returns="net"))
    cancel = rule(prepared, "cancellations and returns")
    assert (cancel["action"], cancel["rows"], cancel["units"]) == ("netted", 3, 7.0)
    a = series(prepared, "85123A")
    assert a.loc["2024-03-05"] == 0.0  # 2 sold - 2 cancelled
    assert a.loc["2024-03-07"] == 0.0  # 2 sold - 4 returned, floored at zero
    assert series(prepared, "22423").loc["2024-03-06"] == 0.0
    assert a.drop(pd.to_datetime(["2024-03-05", "2024-03-07"])).eq(2.0).all()
    # revenue only counts what was sold
    panel = prepared.panel.set_index(["unique_id", "ds"])
    assert panel.loc[("85123A", pd.Timestamp("2024-03-05")), "revenue"] == 5.0


def test_clean_reads_a_cancellation_from_the_order_prefix_even_with_a_positive_quantity():
    rows = daily_orders({"85123A": 2}, n_days=5) + [
        ("c900", "85123A", "3", "2024-03-02 18:00", "2.50")
    ]
    prepared = prepare_sales(orders_frame(rows))
    assert rule(prepared, "cancellations and returns")["rows"] == 1
    assert series(prepared, "85123A").loc["2024-03-02"] == 2.0


def test_clean_drops_zero_quantity_lines_and_reports_them():
    rows = daily_orders({"85123A": 2}, n_days=5) + [
        ("900", "85123A", "0", "2024-03-02 18:00", "2.50")
    ]
    prepared = prepare_sales(orders_frame(rows))
    assert rule(prepared, "zero quantity")["rows"] == 1


def test_clean_drops_listed_codes_and_prefixes_whatever_their_case():
    rows = daily_orders(
        {"85123A": 2, "post": 1, "运费": 1, "gift_0001_20": 1, "fee-x": 1}, n_days=3
    )
    config = CleaningConfig(non_product_prefixes=("GIFT_0001", "FEE-"))
    prepared = prepare_sales(orders_frame(rows), config=config)
    assert rule(prepared, "non-product codes")["rows"] == 12
    assert set(prepared.panel["unique_id"]) == {"85123A"}


def test_clean_ignores_the_order_prefix_when_cancel_prefix_is_empty():
    rows = daily_orders({"85123A": 2}, n_days=3) + [
        ("C900", "85123A", "3", "2024-03-02 18:00", "2.50")
    ]
    prepared = prepare_sales(orders_frame(rows), config=CleaningConfig(cancel_prefix=""))
    assert rule(prepared, "cancellations and returns")["rows"] == 0
    assert series(prepared, "85123A").loc["2024-03-02"] == 5.0


def test_orders_aggregate_to_daily_demand_with_price_revenue_and_order_counts():
    rows = [
        ("1", "A1", "2", "2024-03-01 09:00", "10"),
        ("1", "A1", "1", "2024-03-01 09:00", "10"),  # same order, second line
        ("2", "A1", "1", "2024-03-01 17:00", "13"),
        ("3", "A1", "4", "2024-03-02 08:00", "10"),
    ]
    prepared = prepare_sales(orders_frame(rows))
    panel = prepared.panel.set_index("ds")
    day = panel.loc["2024-03-01"]
    assert (day["y"], day["revenue"], day["orders"]) == (4.0, 43.0, 2.0)
    assert day["price"] == pytest.approx(43 / 4)


def test_order_times_with_utc_offsets_count_on_their_local_day():
    rows = [
        ("1", "A1", "1", "2024-03-30T23:30:00+01:00", "1"),
        ("2", "A1", "1", "2024-03-31T23:30:00+02:00", "1"),
        ("3", "A1", "1", "2024-04-01T00:30:00+02:00", "1"),
    ]
    prepared = prepare_sales(orders_frame(rows))
    assert series(prepared, "A1").to_dict() == {
        pd.Timestamp("2024-03-30"): 1.0,
        pd.Timestamp("2024-03-31"): 1.0,
        pd.Timestamp("2024-04-01"): 1.0,
    }


@pytest.mark.parametrize(
    ("freq", "kept_last"), [("W", pd.Timestamp("2024-03-10")), ("MS", pd.Timestamp("2024-02-01"))]
)
def test_orders_drop_a_partial_last_week_or_month_and_report_it(freq, kept_last):
    days = pd.date_range("2024-01-01", "2024-03-13")  # ends on a Wednesday, mid-month
    raw = orders_frame(
        [(f"o{i}", "A1", "1", f"{d:%Y-%m-%d} 09:00", "1") for i, d in enumerate(days)]
    )
    prepared = prepare_sales(raw, freq=freq)
    partial = rule(prepared, "partial last period")
    assert (partial["action"], partial["rows"]) == ("dropped", 1)
    assert "2024-03-13" in partial["reason"]
    assert prepared.panel["ds"].max() == kept_last


def test_orders_keep_a_complete_last_week():
    days = pd.date_range("2024-01-01", "2024-03-10")  # ends on a Sunday
    raw = orders_frame(
        [(f"o{i}", "A1", "1", f"{d:%Y-%m-%d} 09:00", "1") for i, d in enumerate(days)]
    )
    prepared = prepare_sales(raw, freq="W")
    assert "partial last period" not in set(prepared.report.to_frame()["rule"])
    assert series(prepared, "A1").tolist() == [7.0] * 10


# --- the trading calendar --------------------------------------------------------------------


def test_shop_closed_on_saturdays_is_detected_and_the_forecast_grid_skips_saturdays():
    # 53 weeks Monday..Friday, never trading on Saturday except one stray late sale
    days = pd.date_range("2023-01-02", "2024-01-05")
    rows = [
        (f"o{i}", "A1", "2", f"{d:%Y-%m-%d} 10:00", "1")
        for i, d in enumerate(days)
        if d.dayofweek != SATURDAY
    ]
    rows.append(("stray", "A1", "5", "2023-06-10 19:00", "1"))
    prepared = prepare_sales(orders_frame(rows))

    cal = prepared.calendar
    assert cal.closed_weekdays == (SATURDAY,)
    assert cal.season_length == 6
    assert prepared.report.facts["frequency"] == "daily, closed on Sat"
    assert SATURDAY not in set(prepared.panel["ds"].dt.dayofweek)
    moved = rule(prepared, "sales on closed days")
    assert (moved["action"], moved["rows"]) == ("moved", 1)
    a1 = series(prepared, "A1")
    assert a1.loc["2023-06-11"] == 7.0  # the Saturday sale counts on Sunday, the next open day
    assert rule(prepared, "missing periods")["rows"] == 0
    last = prepared.panel["ds"].max()
    assert last == pd.Timestamp("2024-01-05")  # a Friday
    assert list(cal.future(last, 3).strftime("%a")) == ["Sun", "Mon", "Tue"]


def test_trading_days_all_keeps_every_weekday():
    days = pd.date_range("2024-01-01", periods=7 * 10)
    rows = [
        (f"o{i}", "A1", "2", f"{d:%Y-%m-%d} 10:00", "1")
        for i, d in enumerate(days)
        if d.dayofweek != SATURDAY
    ]
    prepared = prepare_sales(orders_frame(rows), config=CleaningConfig(trading_days="all"))
    assert prepared.calendar.closed_weekdays == ()
    assert rule(prepared, "missing periods")["rows"] == 10
    assert (series(prepared, "A1")[lambda s: s.index.dayofweek == SATURDAY] == 0).all()


def test_a_freq_that_does_not_fit_the_dates_raises():
    raw = sales_table({"A": list(range(1, 31))}, "2024-01-01", "D")
    with pytest.raises(
        InputError, match=r"The frequency 'W-SUN' does not fit the dates: .*Pass the right --freq"
    ):
        prepare_sales(raw, freq="W")


def test_a_freq_that_fits_a_sales_table_is_used_as_given():
    raw = sales_table({"A": [3, 4, 5, 6]}, "2024-01-01", "W-MON")
    assert prepare_sales(raw, freq="W-MON").calendar.freq == "W-MON"


# --- zero filling, first sale, spikes and notes ------------------------------------------------


def test_missing_periods_are_filled_with_explicit_zeros_and_series_start_at_first_sale():
    rows = [
        ("1", "A1", "2", "2024-03-01 10:00", "1"),
        ("2", "A1", "3", "2024-03-04 10:00", "1"),
        ("3", "B2", "1", "2024-03-03 10:00", "1"),
        ("4", "B2", "1", "2024-03-05 10:00", "1"),
    ]
    prepared = prepare_sales(orders_frame(rows))
    a1, b2 = series(prepared, "A1"), series(prepared, "B2")
    assert a1.tolist() == [2.0, 0.0, 0.0, 3.0, 0.0]
    assert a1.index[0] == pd.Timestamp("2024-03-01")
    assert b2.tolist() == [1.0, 0.0, 1.0]
    assert b2.index[0] == pd.Timestamp("2024-03-03")  # not the panel's first day
    filled = rule(prepared, "missing periods")
    assert (filled["action"], filled["rows"]) == ("filled", 4)


def test_leading_zero_periods_of_a_sales_table_are_dropped_and_reported():
    raw = sales_table({"A": [0, 0, 0, 4, 0, 5], "B": [1, 2, 3, 4, 5, 6]}, "2024-01-01", "D")
    prepared = prepare_sales(raw)
    assert series(prepared, "A").tolist() == [4, 0, 5]
    assert series(prepared, "A").index[0] == pd.Timestamp("2024-01-04")
    assert rule(prepared, "periods before the first sale")["rows"] == 3
    assert rule(prepared, "missing periods")["rows"] == 0


def test_negative_quantities_in_a_sales_table_are_floored_at_zero_and_reported():
    raw = sales_table({"A": [3, -2, 4]}, "2024-01-01", "D")
    prepared = prepare_sales(raw)
    negative = rule(prepared, "negative quantities")
    assert (negative["action"], negative["rows"], negative["units"]) == ("netted", 1, 2.0)
    assert series(prepared, "A").tolist() == [3.0, 0.0, 4.0]


SPIKY = [10] * 15 + [1000] + [10] * 14
SPIKE_BOUND = np.expm1(np.log1p(10) + 5.0 * 0.25)  # median + threshold * (MAD floored at 0.25)


def test_demand_spikes_are_capped_at_the_bound_and_reported():
    prepared = prepare_sales(sales_table({"A": SPIKY}, "2024-01-01", "D"))
    a = series(prepared, "A")
    assert a.iloc[15] == np.floor(SPIKE_BOUND) == 37.0
    assert a.drop(a.index[15]).eq(10).all()
    spikes = rule(prepared, "demand spikes")
    assert (spikes["action"], spikes["rows"]) == ("capped", 1)
    assert spikes["units"] == pytest.approx(1000 - SPIKE_BOUND)
    assert spikes["examples"] == "A 2024-01-16: 1,000 > 37"
    assert prepared.panel["outlier"].sum() == 1


def test_demand_spikes_flag_leaves_values_and_marks_them():
    prepared = prepare_sales(
        sales_table({"A": SPIKY}, "2024-01-01", "D"), config=CleaningConfig(outliers="flag")
    )
    assert series(prepared, "A").tolist() == [float(v) for v in SPIKY]
    assert prepared.panel.loc[prepared.panel["outlier"], "ds"].tolist() == [
        pd.Timestamp("2024-01-16")
    ]
    assert rule(prepared, "demand spikes")["action"] == "flagged"


def test_demand_spikes_none_leaves_the_panel_alone():
    prepared = prepare_sales(
        sales_table({"A": SPIKY}, "2024-01-01", "D"), config=CleaningConfig(outliers="none")
    )
    assert series(prepared, "A").max() == 1000.0
    assert "outlier" not in prepared.panel.columns
    assert rule(prepared, "demand spikes")["action"] == "info"


def test_spikes_are_not_judged_on_too_few_selling_periods():
    prepared = prepare_sales(sales_table({"A": [10] * 8 + [1000]}, "2024-01-01", "D"))
    assert series(prepared, "A").max() == 1000.0
    assert rule(prepared, "demand spikes")["rows"] == 0


def test_series_notes_mark_short_and_dead_series():
    raw = sales_table({"LONG": [2] * 100}, "2024-01-01", "D")
    new = sales_table({"NEW": [1] * 5}, "2024-04-05", "D")
    dead = sales_table({"DEAD": [1] * 20}, "2024-01-01", "D")
    prepared = prepare_sales(pd.concat([raw, new, dead]))
    notes = prepared.report.series_notes
    assert sorted(zip(notes["unique_id"], notes["issue"], strict=True)) == [
        ("DEAD", "dead"),
        ("NEW", "short"),
    ]
    detail = notes.set_index("unique_id")["detail"]
    assert detail["NEW"].startswith("5 period(s) of history")
    assert detail["DEAD"] == "no sales in the last 80 periods"
    assert series(prepared, "DEAD").size == 100  # a dead series is kept, filled with zeros


# --- unreadable input --------------------------------------------------------------------------


def test_a_few_unreadable_rows_are_dropped_and_reported_with_examples():
    raw = sales_table({"A": [2] * 40}, "2024-01-01", "D")
    raw.loc[3, "date"] = "not a date"
    raw.loc[7, "units"] = "lots"
    raw.loc[9, "sku"] = " "
    raw.loc[11, "units"] = None
    prepared = prepare_sales(raw)
    assert rule(prepared, "unreadable date")["rows"] == 1
    assert rule(prepared, "unreadable date")["examples"] == "sku=A; date=not a date; units=2"
    assert rule(prepared, "unreadable quantity")["rows"] == 1
    assert "units=lots" in rule(prepared, "unreadable quantity")["examples"]
    assert rule(prepared, "missing product id")["rows"] == 1
    assert rule(prepared, "empty date or quantity")["rows"] == 1
    # the dropped days become explicit zeros inside the series
    assert rule(prepared, "missing periods")["rows"] == 4
    assert series(prepared, "A").sum() == 2 * 36


def test_unparseable_dates_beyond_max_bad_share_raise_with_examples():
    raw = sales_table({"A": [2] * 40}, "2024-01-01", "D")
    raw.loc[:2, "date"] = ["32/13/2024", "soon", "2024-99-01"]
    with pytest.raises(
        InputError,
        match=r"The column 'date' \(dates\) has 3 value\(s\) that cannot be read as dates, "
        r"e\.g\. \['32/13/2024', 'soon', '2024-99-01'\]\. Map the right column with --time-col, "
        r"or fix the dates",
    ):
        prepare_sales(raw)


def test_unparseable_quantities_beyond_max_bad_share_raise_with_examples():
    raw = sales_table({"A": [2] * 20}, "2024-01-01", "D")
    raw.loc[:1, "units"] = ["two", "n/a"]
    with pytest.raises(
        InputError,
        match=r"The column 'units' \(quantity\) has 2 value\(s\) that cannot be read as numbers, "
        r"e\.g\. \['two', 'n/a'\]\. Map the quantity column with --target-col; "
        r"it must hold numbers",
    ):
        prepare_sales(raw)


def test_max_bad_share_can_be_raised_to_accept_more_unreadable_rows():
    raw = sales_table({"A": [2] * 20}, "2024-01-01", "D")
    raw.loc[:1, "units"] = ["two", "n/a"]
    prepared = prepare_sales(raw, config=CleaningConfig(max_bad_share=0.2))
    assert rule(prepared, "unreadable quantity")["rows"] == 2


def test_an_empty_quantity_column_raises_and_says_which_flag_maps_it():
    raw = sales_table({"A": [1, 2]}, "2024-01-01", "D")
    raw["units"] = None
    with pytest.raises(
        InputError,
        match=r"The column 'units' \(quantity\) is empty\. "
        r"Map the quantity column with --target-col",
    ):
        prepare_sales(raw)


def test_an_empty_input_raises():
    with pytest.raises(InputError, match="The input has no rows"):
        prepare_sales(pd.DataFrame({"sku": [], "date": [], "units": []}))


def test_a_missing_mapped_column_raises_through_prepare():
    raw = sales_table({"A": [1, 2]}, "2024-01-01", "D")
    with pytest.raises(
        InputError, match=r"Columns missing from the input: \['qty'\].*--target-col"
    ):
        prepare_sales(raw, ColumnMap(target_col="qty"))


def test_nothing_left_after_cleaning_raises_and_points_to_the_report():
    rows = [
        ("C1", "A1", "-1", "2024-03-01 10:00", "1"),
        ("C2", "A1", "-2", "2024-03-02 10:00", "1"),
    ]
    with pytest.raises(
        InputError, match="No sales are left after cleaning; see the cleaning report"
    ):
        prepare_sales(orders_frame(rows))


# --- the embedded demo -------------------------------------------------------------------------


def test_demo_orders_find_the_closed_saturday_drop_non_products_and_report_every_rule():
    raw = read_table(demo_orders_path())
    assert len(raw) == len(load_demo_orders())
    prepared = prepare_sales(raw)

    assert prepared.is_orders
    assert prepared.columns.order_col == "InvoiceNo" and prepared.columns.id_cols == ("StockCode",)
    assert prepared.calendar.closed_weekdays == (SATURDAY,)
    assert SATURDAY not in set(prepared.panel["ds"].dt.dayofweek)

    # expected counts, recomputed rule by rule from the raw file
    qty = raw["Quantity"].astype(float)
    price = raw["UnitPrice"].astype(float)
    duplicate = raw.duplicated()
    codes = raw["StockCode"].str.strip().str.upper()
    non_product = ~duplicate & (
        codes.isin(DEFAULT_NON_PRODUCT_CODES) | codes.str.startswith("GIFT_0001")
    )
    cancelled = (
        ~duplicate & ~non_product & ((qty < 0) | raw["InvoiceNo"].str.upper().str.startswith("C"))
    )
    zero_price = ~duplicate & ~non_product & ~cancelled & (price <= 0) & (qty > 0)

    expected = {
        "missing product id": 0,
        "unreadable date": 0,
        "unreadable quantity": 0,
        "empty date or quantity": 0,
        "exact duplicates": int(duplicate.sum()),
        "non-product codes": int(non_product.sum()),
        "cancellations and returns": int(cancelled.sum()),
        "zero quantity": 0,
        "zero or negative price": int(zero_price.sum()),
    }
    table = prepared.report.to_frame().set_index("rule")
    assert table.loc[list(expected), "rows"].to_dict() == expected
    assert all(
        expected[name] > 0
        for name in (
            "exact duplicates",
            "non-product codes",
            "cancellations and returns",
            "zero or negative price",
        )
    )
    assert {
        "sales on closed days",
        "periods before the first sale",
        "missing periods",
        "demand spikes",
    } <= set(table.index)
    assert table.loc["missing periods", "rows"] > 0
    assert table.loc["demand spikes", "action"] == "capped"
    assert not set(prepared.panel["unique_id"]) & set(DEFAULT_NON_PRODUCT_CODES)
    assert prepared.report.rows_in == len(raw)
    assert prepared.report.facts["frequency"] == "daily, closed on Sat"
    assert prepared.n_series == prepared.report.facts["series"] > 250


def test_missing_prices_are_carried_within_each_product_never_across():
    nan = float("nan")
    rows = [
        ("A", "2024-03-01", 1, nan),  # before the first known price: taken back from the next
        ("A", "2024-03-02", 2, 5.0),
        ("A", "2024-03-04", 1, 6.0),  # 03-03 is filled with the price before it
        ("B", "2024-03-01", 1, nan),  # A's last price must not leak into B
        ("B", "2024-03-02", 1, nan),
        ("B", "2024-03-03", 1, 7.0),
        ("B", "2024-03-04", 2, nan),
    ]
    frame = pd.DataFrame(rows, columns=["sku", "date", "units", "price"])
    prepared = prepare_sales(frame, mode="sales")
    prices = prepared.panel.pivot(index="ds", columns="unique_id", values="price")
    assert prices["A"].tolist() == [5.0, 5.0, 5.0, 6.0]
    assert prices["B"].tolist() == [7.0, 7.0, 7.0, 7.0]
