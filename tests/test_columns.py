"""Column roles: detection from English and Chinese names, user mappings and their errors."""

from __future__ import annotations

import pandas as pd
import pytest

from trendcast.data.columns import ColumnMap, resolve_columns
from trendcast.exceptions import InputError


def frame(*columns: str) -> pd.DataFrame:
    return pd.DataFrame({c: ["x"] for c in columns})


def test_resolve_columns_detects_the_online_retail_names():
    cmap = resolve_columns(
        frame(
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        )
    )
    assert cmap.id_cols == ("StockCode",)
    assert cmap.time_col == "InvoiceDate"
    assert cmap.target_col == "Quantity"
    assert cmap.order_col == "InvoiceNo"
    assert cmap.price_col == "UnitPrice"
    assert cmap.customer_col == "CustomerID"
    assert cmap.attributes == {"country": "Country"}


def test_resolve_columns_detects_a_chinese_order_export():
    cmap = resolve_columns(frame("订单号", "商品编码", "数量", "下单时间", "单价", "门店", "品牌"))
    assert cmap.order_col == "订单号"
    assert cmap.id_cols == ("商品编码",)
    assert cmap.target_col == "数量"
    assert cmap.time_col == "下单时间"
    assert cmap.price_col == "单价"
    assert cmap.attributes == {"brand": "品牌", "store": "门店"}


def test_resolve_columns_ignores_case_spaces_underscores_and_dashes():
    cmap = resolve_columns(
        frame("Order-ID", "Product Code", "units_sold", "Order Date", "Unit Price", "On Promotion")
    )
    assert cmap.order_col == "Order-ID"
    assert cmap.id_cols == ("Product Code",)
    assert cmap.target_col == "units_sold"
    assert cmap.time_col == "Order Date"
    assert cmap.price_col == "Unit Price"
    assert cmap.promo_col == "On Promotion"


@pytest.mark.parametrize(
    "quantity", ["sold", "Qty Sold", "quantity_sold", "Units Ordered", "order_qty", "OrderQuantity"]
)
def test_resolve_columns_detects_common_names_of_the_quantity(quantity: str) -> None:
    cmap = resolve_columns(frame("item", "day", quantity))
    assert (cmap.id_cols, cmap.time_col, cmap.target_col) == (("item",), "day", quantity)


def test_resolve_columns_detects_a_weekly_sales_table_with_store_and_category():
    cmap = resolve_columns(frame("store_id", "sku", "category", "week", "sales"))
    assert cmap.id_cols == ("sku",)
    assert cmap.time_col == "week"
    assert cmap.target_col == "sales"
    assert cmap.order_col is None and cmap.price_col is None
    assert cmap.attributes == {"category": "category", "store": "store_id"}


def test_resolve_columns_keeps_the_users_mapping_and_detects_the_rest():
    df = frame("code", "when", "qty", "date", "store")
    cmap = resolve_columns(df, ColumnMap(id_cols=("code",), time_col="when"))
    assert cmap.id_cols == ("code",)
    assert cmap.time_col == "when"
    assert cmap.target_col == "qty"
    assert cmap.attributes == {"store": "store"}


def test_resolve_columns_keeps_several_id_columns_in_the_given_order():
    df = frame("store", "sku", "date", "units")
    cmap = resolve_columns(df, ColumnMap(id_cols=("store", "sku")))
    assert cmap.id_cols == ("store", "sku")
    # a column used as an id is not also a hierarchy attribute
    assert "store" not in cmap.attributes


def test_resolve_columns_prefers_the_users_column_over_a_detectable_synonym():
    df = frame("sku", "date", "quantity", "net_units")
    cmap = resolve_columns(df, ColumnMap(target_col="net_units"))
    assert cmap.target_col == "net_units"
    assert "quantity" not in cmap.used()


def test_resolve_columns_does_not_give_a_mapped_column_a_second_role():
    # 'invoice' would be detected as the order id, but the user made it the product id
    df = frame("invoice", "date", "units")
    cmap = resolve_columns(df, ColumnMap(id_cols=("invoice",)))
    assert cmap.id_cols == ("invoice",)
    assert cmap.order_col is None


def test_resolve_columns_names_a_missing_mapped_column_and_the_columns_that_exist():
    df = frame("sku", "date", "units")
    with pytest.raises(
        InputError,
        match=r"Columns missing from the input: \['Sku'\]\. "
        r"The input has \['sku', 'date', 'units'\]\. "
        r"Check the spelling \(names are case-sensitive\) or the column flags",
    ):
        resolve_columns(df, ColumnMap(id_cols=("Sku",)))


def test_resolve_columns_names_every_role_it_cannot_find_and_the_flag_that_maps_it():
    df = frame("code", "when", "n")
    with pytest.raises(InputError) as info:
        resolve_columns(df)
    message = str(info.value)
    assert "the product id (map it with --id-col)" in message
    assert "the date/time (map it with --time-col)" in message
    assert "the quantity sold (map it with --target-col)" in message
    assert "['code', 'when', 'n']" in message


def test_resolve_columns_asks_only_for_the_role_it_is_missing():
    with pytest.raises(
        InputError, match=r"Could not find the quantity sold \(map it with --target-col\)"
    ):
        resolve_columns(frame("sku", "date", "colour"))


def test_column_map_lists_the_columns_it_uses_and_serialises_to_a_dict():
    cmap = ColumnMap(
        id_cols=("store", "sku"),
        time_col="date",
        target_col="units",
        price_col="price",
        attributes={"category": "cat"},
    )
    assert cmap.used() == {"store", "sku", "date", "units", "price", "cat"}
    assert cmap.to_dict() == {
        "id_cols": ["store", "sku"],
        "time_col": "date",
        "target_col": "units",
        "order_col": None,
        "price_col": "price",
        "customer_col": None,
        "promo_col": None,
        "attributes": {"category": "cat"},
    }
