"""Data that ships with trendcast, and loaders for public data formats.

The embedded demo is a slice of real e-commerce order lines (UCI Online Retail,
CC BY 4.0; see ``ATTRIBUTION.md`` next to this file): about 300 products plus
postage, fee and adjustment codes, 2010-12-01 .. 2011-12-09, raw and uncleaned.
Cancellations, negative quantities, zero prices, missing customers and duplicate
lines are all still there, so the demo goes through the same cleaning as a real
export. :data:`DEMO_COLUMNS` maps trendcast's column roles to the file's names.

For M5 (Walmart) data see :func:`load_m5`, which reads the official files from
a folder the user points at; M5 data is not shipped. For synthetic catalogues with
known ground truth (for tests and scale benchmarks) see :func:`generate_catalogue`.

Examples
--------
>>> from trendcast.datasets import DEMO_COLUMNS, load_demo_orders
>>> orders = load_demo_orders()
>>> orders[DEMO_COLUMNS["quantity"]].dtype
dtype('int64')
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from trendcast.datasets.m5 import M5Data, load_m5
from trendcast.datasets.synthetic import (
    CatalogueKnobs,
    SyntheticData,
    catalogue_to_parquet,
    generate_catalogue,
    iter_catalogue,
)

__all__ = [
    "DEMO_CITATION",
    "DEMO_COLUMNS",
    "CatalogueKnobs",
    "M5Data",
    "SyntheticData",
    "catalogue_to_parquet",
    "demo_orders_path",
    "generate_catalogue",
    "iter_catalogue",
    "load_demo_orders",
    "load_m5",
]

_DEMO_FILE = "online_retail_demo.csv.gz"

DEMO_COLUMNS: dict[str, str] = {
    "order_id": "InvoiceNo",
    "product_id": "StockCode",
    "quantity": "Quantity",
    "timestamp": "InvoiceDate",
    "unit_price": "UnitPrice",
    "customer_id": "CustomerID",
    "country": "Country",
    "description": "Description",
}
"""Column role -> column name in the demo order lines."""

DEMO_CITATION = (
    "Demo data: a slice of 'Online Retail' (UCI Machine Learning Repository, donor Daqing Chen, "
    "doi:10.24432/C5BW33), licensed CC BY 4.0; Chen, Sain & Guo (2012), Journal of Database "
    "Marketing and Customer Strategy Management 19(3)."
)
"""One-line attribution to show wherever the demo data is used."""


def demo_orders_path() -> Path:
    """Path of the embedded demo order lines (a gzip-compressed CSV).

    Returns
    -------
    Path
        The installed ``online_retail_demo.csv.gz``.
    """
    return Path(str(resources.files(__name__).joinpath(_DEMO_FILE)))


def load_demo_orders() -> pd.DataFrame:
    """Read the embedded demo order lines, raw and uncleaned.

    Identifiers (``InvoiceNo``, ``StockCode``, ``CustomerID``) stay strings, so codes
    such as ``'C536379'`` or ``'85123A'`` are kept as written; a missing
    ``CustomerID`` or ``Description`` is NaN. ``Quantity`` is int64, ``UnitPrice``
    float64 and ``InvoiceDate`` datetime64 (the file's ``YYYY-MM-DD HH:MM:SS``).
    Nothing else is changed: cleaning is the job of ``trendcast.data``.

    Returns
    -------
    pd.DataFrame
        One row per order line, in :data:`DEMO_COLUMNS`' eight columns.
    """
    orders = pd.read_csv(
        demo_orders_path(),
        dtype={
            "InvoiceNo": "object",
            "StockCode": "object",
            "Description": "object",
            "CustomerID": "object",
            "Country": "object",
            "Quantity": "int64",
            "UnitPrice": "float64",
        },
        # Only an empty field is missing; no code or description reads as NA.
        keep_default_na=False,
        na_values={"Description": [""], "CustomerID": [""]},
    )
    orders["InvoiceDate"] = pd.to_datetime(orders["InvoiceDate"], format="%Y-%m-%d %H:%M:%S")
    return orders
