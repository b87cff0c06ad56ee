"""Column roles: which input column is the product, the time, the quantity...

Users map columns with flags or a TOML file; what they leave out is detected
from common names in English and Chinese (``StockCode``, ``sku``, ``商品编码``,
``数量``, ``下单时间``...). Several id columns combine into ``unique_id``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import pandas as pd

from trendcast.exceptions import InputError

__all__ = ["ColumnMap", "resolve_columns", "ROLE_SYNONYMS", "ID_SEPARATOR"]

ID_SEPARATOR = "/"

# normalised names (lower case, no spaces/underscores/dashes) per role, most specific first
ROLE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "order": (
        "invoiceno",
        "invoice",
        "invoiceid",
        "orderid",
        "orderno",
        "ordernumber",
        "order",
        "transactionid",
        "订单号",
        "订单编号",
        "订单id",
        "订单",
        "单号",
        "交易号",
    ),
    "id": (
        "stockcode",
        "sku",
        "skuid",
        "productid",
        "productcode",
        "product",
        "itemid",
        "item",
        "itemcode",
        "uniqueid",
        "商品编码",
        "商品id",
        "商品编号",
        "商品",
        "sku编码",
        "货号",
        "产品编码",
        "产品id",
        "产品",
    ),
    "time": (
        "invoicedate",
        "orderdate",
        "orderdatetime",
        "ordertime",
        "ds",
        "date",
        "datetime",
        "timestamp",
        "time",
        "day",
        "week",
        "month",
        "period",
        "下单时间",
        "订单时间",
        "日期",
        "时间",
        "交易时间",
        "销售日期",
        "付款时间",
    ),
    "target": (
        "quantity",
        "qty",
        "units",
        "unitssold",
        "qtysold",
        "quantitysold",
        "sold",
        "orderqty",
        "orderquantity",
        "qtyordered",
        "quantityordered",
        "unitsordered",
        "sales",
        "demand",
        "y",
        "volume",
        "amount",
        "数量",
        "销量",
        "购买数量",
        "件数",
        "销售数量",
    ),
    "price": (
        "unitprice",
        "price",
        "sellprice",
        "saleprice",
        "单价",
        "价格",
        "售价",
        "销售单价",
    ),
    "customer": ("customerid", "customer", "userid", "user", "buyerid", "客户", "客户id", "用户id"),
    "promo": ("promo", "promotion", "onpromotion", "onpromo", "promoflag", "促销", "是否促销"),
}

# static attributes used for hierarchy levels when present
ATTRIBUTE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "category": ("category", "cat", "catid", "categoryid", "类目", "品类", "分类"),
    "brand": ("brand", "品牌"),
    "store": ("store", "storeid", "shop", "shopid", "门店", "店铺"),
    "country": ("country", "国家", "地区"),
    "dept": ("dept", "deptid", "department", "部门"),
}


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-./()]+", "", name.strip().lower())


def _detect(columns: list[str], synonyms: tuple[str, ...], taken: set[str]) -> str | None:
    by_norm = {_norm(c): c for c in columns if c not in taken}
    for candidate in synonyms:
        if candidate in by_norm:
            return by_norm[candidate]
    return None


@dataclass(frozen=True)
class ColumnMap:
    """The roles of the input's columns.

    ``id_cols``, ``time_col`` and ``target_col`` are required; the rest are
    optional. ``attributes`` maps hierarchy levels (category, store...) to columns.
    """

    id_cols: tuple[str, ...] = ()
    time_col: str | None = None
    target_col: str | None = None
    order_col: str | None = None
    price_col: str | None = None
    customer_col: str | None = None
    promo_col: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def used(self) -> set[str]:
        cols = {*self.id_cols, *self.attributes.values()}
        for c in (
            self.time_col,
            self.target_col,
            self.order_col,
            self.price_col,
            self.customer_col,
            self.promo_col,
        ):
            if c:
                cols.add(c)
        return cols

    def to_dict(self) -> dict[str, object]:
        return {
            "id_cols": list(self.id_cols),
            "time_col": self.time_col,
            "target_col": self.target_col,
            "order_col": self.order_col,
            "price_col": self.price_col,
            "customer_col": self.customer_col,
            "promo_col": self.promo_col,
            "attributes": dict(self.attributes),
        }


def resolve_columns(df: pd.DataFrame, given: ColumnMap | None = None) -> ColumnMap:
    """Complete ``given`` with detected columns and check every named column exists.

    Raises
    ------
    InputError
        When a named column is missing (with close matches) or a required role
        cannot be detected (with the flag that maps it).
    """
    given = given or ColumnMap()
    columns = list(df.columns)
    named = [
        *given.id_cols,
        given.time_col,
        given.target_col,
        given.order_col,
        given.price_col,
        given.customer_col,
        given.promo_col,
        *given.attributes.values(),
    ]
    missing = [c for c in named if c and c not in columns]
    if missing:
        raise InputError(
            f"Columns missing from the input: {missing}. The input has {columns}. "
            "Check the spelling (names are case-sensitive) or the column flags (--id-col, "
            "--time-col, --target-col)."
        )
    taken = {c for c in named if c}
    resolved: dict[str, object] = {}
    for role, attr in (
        ("time", "time_col"),
        ("target", "target_col"),
        ("order", "order_col"),
        ("price", "price_col"),
        ("customer", "customer_col"),
        ("promo", "promo_col"),
    ):
        value = getattr(given, attr)
        if value is None:
            value = _detect(columns, ROLE_SYNONYMS[role], taken)
            if value:
                taken.add(value)
        resolved[attr] = value
    id_cols = given.id_cols
    if not id_cols:
        found = _detect(columns, ROLE_SYNONYMS["id"], taken)
        id_cols = (found,) if found else ()
        taken.update(id_cols)
    attributes = dict(given.attributes)
    for level, synonyms in ATTRIBUTE_SYNONYMS.items():
        if level not in attributes:
            found = _detect(columns, synonyms, taken)
            if found:
                attributes[level] = found
                taken.add(found)
    cmap = replace(given, id_cols=tuple(id_cols), attributes=attributes, **resolved)  # type: ignore[arg-type]
    problems = []
    if not cmap.id_cols:
        problems.append("the product id (map it with --id-col)")
    if not cmap.time_col:
        problems.append("the date/time (map it with --time-col)")
    if not cmap.target_col:
        problems.append("the quantity sold (map it with --target-col)")
    if problems:
        raise InputError(f"Could not find {', '.join(problems)} among the columns {columns}.")
    return cmap
