"""Build the embedded demo data: a small slice of raw UCI Online Retail order lines.

Reads the full UCI "Online Retail" file (541,909 order lines, CC BY 4.0) and writes
``src/trendcast/datasets/online_retail_demo.csv.gz``: every original row, untouched
and in the original order, for about 300 products plus every row of the non-product
codes (postage, manual adjustments, fees, discounts, vouchers...).

Products are chosen deterministically and stratified by how many days they sell on
(after dropping cancellations, Quantity <= 0 and UnitPrice <= 0), so the demo holds
mostly regular sellers and a spread of slow, intermittent movers. All rows of the
chosen products are kept, mess included: cancellations, negative quantities, zero
prices, missing customers and exact duplicate lines are what cleaning must handle.

Rerunning gives a byte-identical file (hash-ordered picks, gzip with a fixed mtime).

Usage::

    .venv/bin/python benchmarks/make_demo_slice.py [--source PATH] [--output PATH]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"
DEFAULT_OUTPUT = REPO_ROOT / "src" / "trendcast" / "datasets" / "online_retail_demo.csv.gz"

COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]

# Order lines that are not merchandise: postage, carriage, manual entries, bank and
# marketplace fees, discounts, samples, charity commission, bad-debt adjustments and
# gift vouchers. All their rows are kept so that cleaning has something to remove.
NON_PRODUCT_CODES = (
    "POST",
    "DOT",
    "M",
    "m",
    "C2",
    "D",
    "S",
    "BANK CHARGES",
    "AMAZONFEE",
    "CRUK",
    "B",
    "gift_0001_10",
    "gift_0001_20",
    "gift_0001_30",
    "gift_0001_40",
    "gift_0001_50",
)

# (min selling days, max selling days exclusive, products to take). Mostly regular
# sellers (60% sell on >= 100 of the 305 trading days), plus slower and intermittent ones.
STRATA = (
    (200, 10_000, 90),
    (100, 200, 90),
    (50, 100, 50),
    (20, 50, 35),
    (5, 20, 25),
    (1, 5, 10),
)

SALT = "trendcast-demo-v1"
MAX_BYTES = 3_000_000


def selling_days(orders: pd.DataFrame) -> pd.Series:
    """Number of distinct days each regular product sells on, after dropping the mess."""
    quantity = pd.to_numeric(orders["Quantity"])
    price = pd.to_numeric(orders["UnitPrice"])
    sold = ~orders["InvoiceNo"].str.startswith("C") & (quantity > 0) & (price > 0)
    # Regular catalogue codes start with five digits (e.g. 85123A); the rest are
    # fees, adjustments or one-off dotcom items.
    product = orders["StockCode"].str.match(r"^\d{5}")
    keep = sold & product
    day = orders.loc[keep, "InvoiceDate"].str.slice(0, 10)
    return day.groupby(orders.loc[keep, "StockCode"]).nunique()


def _stable_hash(code: str) -> str:
    return hashlib.sha256(f"{SALT}:{code}".encode()).hexdigest()


def pick_products(days: pd.Series) -> list[str]:
    """Take a fixed number of products per selling-days stratum, in a stable hashed order."""
    picked: list[str] = []
    for low, high, count in STRATA:
        stratum = days[(days >= low) & (days < high)].index
        ordered = sorted(stratum, key=_stable_hash)
        if len(ordered) < count:
            raise SystemExit(f"Stratum [{low}, {high}) has {len(ordered)} products, need {count}.")
        picked.extend(ordered[:count])
    return sorted(picked)


def build_slice(orders: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Return the demo rows (original order, original values) and the chosen products."""
    products = pick_products(selling_days(orders))
    keep = orders["StockCode"].isin(products) | orders["StockCode"].isin(NON_PRODUCT_CODES)
    return orders.loc[keep, COLUMNS], products


def summarize(demo: pd.DataFrame, products: list[str], output: Path) -> str:
    """One block of text describing what was written."""
    non_product = demo["StockCode"].isin(NON_PRODUCT_CODES)
    quantity = pd.to_numeric(demo["Quantity"])
    price = pd.to_numeric(demo["UnitPrice"])
    lines = [
        f"wrote {output}",
        f"  rows                 {len(demo):>9,}",
        f"  products             {len(products):>9,}",
        f"  non-product codes    {demo.loc[non_product, 'StockCode'].nunique():>9,}"
        f" ({int(non_product.sum()):,} rows)",
        f"  dates                {demo['InvoiceDate'].min()} .. {demo['InvoiceDate'].max()}",
        f"  cancellation lines   {int(demo['InvoiceNo'].str.startswith('C').sum()):>9,}",
        f"  Quantity <= 0        {int((quantity <= 0).sum()):>9,}",
        f"  UnitPrice <= 0       {int((price <= 0).sum()):>9,}",
        f"  no CustomerID        {int((demo['CustomerID'] == '').sum()):>9,}",
        f"  exact duplicates     {int(demo.duplicated().sum()):>9,}",
        f"  size (gzip)          {output.stat().st_size:>9,} bytes",
    ]
    return "\n".join(lines)


def main() -> None:
    """Read the full file, write the slice and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()

    # Everything as text and no NA parsing, so values are written back exactly as read.
    orders = pd.read_csv(args.source, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in orders.columns]
    if missing:
        raise SystemExit(f"Columns missing from {args.source}: {missing}")

    demo, products = build_slice(orders)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    demo.to_csv(
        args.output,
        index=False,
        lineterminator="\n",
        compression={"method": "gzip", "compresslevel": 9, "mtime": 0},
    )
    print(summarize(demo, products, args.output))
    size = args.output.stat().st_size
    if size >= MAX_BYTES:
        raise SystemExit(f"{args.output} is {size:,} bytes; the package limit is {MAX_BYTES:,}.")


if __name__ == "__main__":
    main()
