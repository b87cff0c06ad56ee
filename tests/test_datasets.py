"""The embedded demo data: a raw slice of UCI Online Retail shipped inside the package."""

from __future__ import annotations

import pandas as pd
import pytest

from trendcast.datasets import (
    DEMO_CITATION,
    DEMO_COLUMNS,
    demo_orders_path,
    load_demo_orders,
)

ORIGINAL_COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return load_demo_orders()


def is_product(codes: pd.Series) -> pd.Series:
    return codes.str.match(r"^\d{5}")


def test_demo_file_ships_inside_the_package_with_its_attribution():
    path = demo_orders_path()
    assert path.is_file()
    assert path.parent.name == "datasets" and path.parent.parent.name == "trendcast"
    assert (path.parent / "ATTRIBUTION.md").is_file()


def test_demo_file_is_under_3_mb():
    assert demo_orders_path().stat().st_size < 3_000_000


def test_demo_orders_have_the_eight_original_columns(orders):
    assert list(orders.columns) == ORIGINAL_COLUMNS
    assert sorted(DEMO_COLUMNS.values()) == sorted(ORIGINAL_COLUMNS)


def test_identifiers_stay_strings_and_dates_are_parsed(orders):
    for column in ("InvoiceNo", "StockCode", "CustomerID"):
        assert orders[column].dtype == object
        assert orders[column].dropna().map(type).eq(str).all()
    assert not orders["CustomerID"].dropna().str.contains(".", regex=False).any()
    assert orders["Quantity"].dtype == "int64"
    assert orders["UnitPrice"].dtype == "float64"
    assert orders["InvoiceDate"].dtype == "datetime64[ns]"


def test_demo_holds_about_300_products_plus_non_product_codes(orders):
    codes = orders["StockCode"]
    assert 250 <= codes[is_product(codes)].nunique() <= 350
    assert {"POST", "DOT", "M", "BANK CHARGES", "AMAZONFEE"} <= set(codes[~is_product(codes)])


def test_demo_mixes_regular_sellers_with_intermittent_ones(orders):
    sold = orders[is_product(orders["StockCode"]) & (orders["Quantity"] > 0)]
    selling_days = sold.groupby("StockCode")["InvoiceDate"].agg(lambda ts: ts.dt.date.nunique())
    assert (selling_days >= 100).mean() > 0.5
    assert (selling_days < 20).sum() >= 20


def test_demo_keeps_the_real_mess_for_cleaning_to_remove(orders):
    cancelled = orders["InvoiceNo"].str.startswith("C")
    assert cancelled.sum() > 1000
    assert (orders.loc[cancelled, "Quantity"] < 0).all()
    assert (orders["UnitPrice"] == 0).any()
    assert orders["CustomerID"].isna().any()
    assert orders.duplicated().any()


def test_demo_covers_the_full_date_range(orders):
    assert orders["InvoiceDate"].min().date() == pd.Timestamp("2010-12-01").date()
    assert orders["InvoiceDate"].max().date() == pd.Timestamp("2011-12-09").date()


def test_demo_columns_map_every_role_to_a_demo_column(orders):
    assert set(DEMO_COLUMNS) == {
        "order_id",
        "product_id",
        "quantity",
        "timestamp",
        "unit_price",
        "customer_id",
        "country",
        "description",
    }
    assert set(DEMO_COLUMNS.values()) <= set(orders.columns)


def test_demo_citation_names_the_source_and_the_cc_by_4_licence():
    assert "CC BY 4.0" in DEMO_CITATION
    assert "Online Retail" in DEMO_CITATION
    assert "Chen" in DEMO_CITATION
    assert "\n" not in DEMO_CITATION
