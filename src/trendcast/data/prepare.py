"""From a raw table to a clean, validated long panel: the one entry point for data.

``prepare_sales`` reads order lines or a pre-aggregated sales table, parses
and cleans it rule by rule (every dropped or changed row is counted in the
:class:`~trendcast.data.report.CleaningReport`), aggregates to the frequency,
fills missing periods with explicit zeros and returns the panel
``unique_id, ds, y`` (plus ``price``, ``promo``, ``revenue``, ``orders`` where
the input has them), the static attributes and the trading calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from trendcast.config import CleaningConfig
from trendcast.data.calendar import TradingCalendar, detect_closed_weekdays, infer_freq
from trendcast.data.columns import ID_SEPARATOR, ColumnMap, resolve_columns
from trendcast.data.parse import parse_dates, parse_numbers
from trendcast.data.report import CleaningReport
from trendcast.exceptions import InputError, NoSalesLeftError, format_examples

__all__ = ["PreparedData", "prepare_sales", "InputMode"]

InputMode = Literal["auto", "orders", "sales"]


@dataclass
class PreparedData:
    """A clean panel and everything learned while making it."""

    panel: pd.DataFrame
    static_df: pd.DataFrame
    ids: pd.DataFrame  # unique_id plus the original id columns, for output
    calendar: TradingCalendar
    columns: ColumnMap
    report: CleaningReport
    is_orders: bool

    @property
    def n_series(self) -> int:
        return int(self.panel["unique_id"].nunique())


def _examples(df: pd.DataFrame, mask: pd.Series, cols: list[str]) -> pd.DataFrame:
    return df.loc[mask, [c for c in cols if c in df.columns]].head(3)


def _check_parse(
    raw: pd.Series, parsed: pd.Series, col: str, what: str, fix: str, max_bad: float
) -> pd.Series:
    """Rows whose non-empty value failed to parse; raise when there are too many."""
    bad = parsed.isna() & raw.notna()
    if raw.notna().sum() == 0:
        raise InputError(f"The column {col!r} ({what}) is empty. {fix}")
    share = bad.sum() / max(raw.notna().sum(), 1)
    if share > max_bad:
        raise InputError(
            f"The column {col!r} ({what}) has {bad.sum():,} value(s) that cannot be read as "
            f"{'dates' if 'date' in what else 'numbers'}, e.g. {format_examples(raw[bad].unique())}. "
            f"{fix}"
        )
    return bad


def _has_time_of_day(times: pd.Series) -> bool:
    known = times.dropna()
    return bool((known != known.dt.normalize()).any())


def _detect_orders(df: pd.DataFrame, cmap: ColumnMap, times: pd.Series) -> bool:
    """Order lines have an order id, times of day, or several rows per product and period."""
    if cmap.order_col or _has_time_of_day(times):
        return True
    return bool(df.duplicated(["unique_id", "ts"]).any())


def _complete_ids_with_store(df: pd.DataFrame, cmap: ColumnMap) -> ColumnMap:
    """For a sales table with an auto-detected id, add the store column when it makes keys unique."""
    keys = [*cmap.id_cols, cmap.time_col]
    if not df.duplicated(keys).any():
        return cmap
    for level in ("store", "country"):
        col = cmap.attributes.get(level)
        if col and not df.duplicated([col, *keys]).any():
            attributes = {k: v for k, v in cmap.attributes.items() if k != level}
            return ColumnMap(
                id_cols=(col, *cmap.id_cols),
                time_col=cmap.time_col,
                target_col=cmap.target_col,
                order_col=cmap.order_col,
                price_col=cmap.price_col,
                customer_col=cmap.customer_col,
                promo_col=cmap.promo_col,
                attributes=attributes,
            )
    return cmap


#: text columns while preparing: Arrow-backed, so grouping and joining on ids is done in
#: Arrow's compute kernels rather than over Python string objects
TEXT = pd.StringDtype("pyarrow")


def _stripped(values: pd.Series) -> pd.Series:
    """``values`` as Arrow-backed text with surrounding spaces stripped, stripping each distinct
    value once: ids and attributes repeat on every row of a product, so there are far fewer
    values than rows."""
    text = values.astype(TEXT)
    codes, uniques = pd.factorize(text)
    if len(uniques) > len(text) // 4:
        return text.str.strip()
    stripped = pd.Series(uniques, dtype=TEXT).str.strip().array
    return pd.Series(stripped.take(codes, allow_fill=True), index=values.index, dtype=TEXT)


def _parse(
    raw: pd.DataFrame, cmap: ColumnMap, config: CleaningConfig, report: CleaningReport
) -> pd.DataFrame:
    """Typed working frame with canonical column names; drops and reports unreadable rows."""
    df = pd.DataFrame(index=raw.index)
    ids = raw[list(cmap.id_cols)].apply(_stripped)
    missing_id = ids.isna().any(axis=1) | (ids == "").any(axis=1)
    df["unique_id"] = (
        # rows missing a part are dropped below; filled here only so the join does not fail
        ids.iloc[:, 0] if len(cmap.id_cols) == 1 else ids.fillna("").agg(ID_SEPARATOR.join, axis=1)
    )
    for col in cmap.id_cols:
        df[f"id::{col}"] = ids[col]
    assert cmap.time_col and cmap.target_col
    df["ts"] = parse_dates(raw[cmap.time_col])
    bad_time = _check_parse(
        raw[cmap.time_col],
        df["ts"],
        cmap.time_col,
        "dates",
        "Map the right column with --time-col, or fix the dates (e.g. 2024-03-31).",
        config.max_bad_share,
    )
    df["qty"] = parse_numbers(raw[cmap.target_col])
    bad_qty = _check_parse(
        raw[cmap.target_col],
        df["qty"],
        cmap.target_col,
        "quantity",
        "Map the quantity column with --target-col; it must hold numbers.",
        config.max_bad_share,
    )
    if cmap.price_col:
        df["price"] = parse_numbers(raw[cmap.price_col])
    if cmap.promo_col:
        promo_text = _stripped(raw[cmap.promo_col]).str.lower()
        truthy = promo_text.isin(["true", "yes", "y", "t", "是", "促销"])
        df["promo"] = parse_numbers(raw[cmap.promo_col]).fillna(truthy.astype(float)).clip(0, 1)
    if cmap.order_col:
        df["order"] = _stripped(raw[cmap.order_col])
    if cmap.customer_col:
        df["customer"] = _stripped(raw[cmap.customer_col])
    for level, col in cmap.attributes.items():
        df[f"attr::{level}"] = _stripped(raw[col])

    shown = [*cmap.id_cols, cmap.time_col, cmap.target_col]
    for name, mask, reason in (
        ("missing product id", missing_id, "no product id, so the row cannot be attributed"),
        ("unreadable date", bad_time & ~missing_id, "the date could not be parsed"),
        ("unreadable quantity", bad_qty & ~missing_id & ~bad_time, "the quantity is not a number"),
        (
            "empty date or quantity",
            (df["ts"].isna() | df["qty"].isna()) & ~missing_id & ~bad_time & ~bad_qty,
            "the date or quantity is empty",
        ),
    ):
        report.add(name, "dropped", int(mask.sum()), reason, examples=_examples(raw, mask, shown))
    keep = ~(missing_id | df["ts"].isna() | df["qty"].isna())
    return df[keep]


def _clean_orders(
    df: pd.DataFrame,
    raw: pd.DataFrame,
    cmap: ColumnMap,
    config: CleaningConfig,
    report: CleaningReport,
) -> pd.DataFrame:
    shown = [
        c
        for c in [cmap.order_col, *cmap.id_cols, cmap.time_col, cmap.target_col, cmap.price_col]
        if c
    ]

    dup = raw.loc[df.index].duplicated(keep="first")
    report.add(
        "exact duplicates",
        "dropped",
        int(dup.sum()),
        "identical order lines exported twice",
        units=float(df.loc[dup, "qty"].sum()),
        examples=_examples(raw, dup.reindex(raw.index, fill_value=False), shown),
    )
    df = df[~dup]

    codes = df["unique_id"].str.upper()
    upper_codes = {c.upper() for c in config.non_product_codes}
    non_product = codes.isin(upper_codes)
    for prefix in config.non_product_prefixes:
        non_product |= codes.str.startswith(prefix.upper())
    report.add(
        "non-product codes",
        "dropped",
        int(non_product.sum()),
        "postage, fees, manual adjustments and similar codes are not demand "
        "(list: cleaning.non_product_codes)",
        units=float(df.loc[non_product, "qty"].sum()),
        examples=sorted(df.loc[non_product, "unique_id"].unique())[:5],
    )
    df = df[~non_product]

    cancelled = df["qty"] < 0
    if "order" in df.columns and config.cancel_prefix:
        cancelled |= (
            df["order"].str.upper().str.startswith(config.cancel_prefix.upper()).fillna(False)
        )
    cancel_examples = _examples(raw, cancelled.reindex(raw.index, fill_value=False), shown)
    if config.returns == "drop":
        report.add(
            "cancellations and returns",
            "dropped",
            int(cancelled.sum()),
            "cancelled order lines and returns (negative quantities) are not new demand "
            "(cleaning.returns = 'drop')",
            units=float(df.loc[cancelled, "qty"].abs().sum()),
            examples=cancel_examples,
        )
        df = df[~cancelled]
    else:
        df.loc[cancelled, "qty"] = -df.loc[cancelled, "qty"].abs()
        report.add(
            "cancellations and returns",
            "netted",
            int(cancelled.sum()),
            "returns are subtracted from demand in the period they happen; periods are floored "
            "at zero (cleaning.returns = 'net')",
            units=float(df.loc[cancelled, "qty"].abs().sum()),
            examples=cancel_examples,
        )

    zero_qty = df["qty"] == 0
    report.add(
        "zero quantity",
        "dropped",
        int(zero_qty.sum()),
        "a line with no units sold",
        examples=_examples(raw, zero_qty.reindex(raw.index, fill_value=False), shown),
    )
    df = df[~zero_qty]

    if "price" in df.columns:
        bad_price = (df["price"] <= 0) & (df["qty"] > 0)
        report.add(
            "zero or negative price",
            "dropped",
            int(bad_price.sum()),
            "free or negative-priced lines are samples, write-offs or adjustments, not sales",
            units=float(df.loc[bad_price, "qty"].sum()),
            examples=_examples(raw, bad_price.reindex(raw.index, fill_value=False), shown),
        )
        df = df[~bad_price]
    return df


def _clean_sales(
    df: pd.DataFrame, raw: pd.DataFrame, cmap: ColumnMap, report: CleaningReport
) -> pd.DataFrame:
    keys = ["unique_id", "ts"]
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        shown = df.loc[dup].sort_values(keys).head(4)
        example = [
            f"{u} @ {t:%Y-%m-%d}" for u, t in zip(shown["unique_id"], shown["ts"], strict=True)
        ]
        raise InputError(
            f"The sales table has {int(dup.sum()):,} rows with duplicate keys (the same "
            f"{list(cmap.id_cols)} and {cmap.time_col!r}), e.g. {format_examples(example)}. "
            "Add the missing id column with another --id-col (for example the store), or pass "
            "--orders to treat the rows as order lines and sum them."
        )
    negative = df["qty"] < 0
    report.add(
        "negative quantities",
        "netted",
        int(negative.sum()),
        "net returns exceed sales in the period; demand is floored at zero",
        units=float(df.loc[negative, "qty"].abs().sum()),
        examples=_examples(
            raw,
            negative.reindex(raw.index, fill_value=False),
            [*cmap.id_cols, str(cmap.time_col), str(cmap.target_col)],
        ),
    )
    return df


def _aggregate(df: pd.DataFrame, calendar: TradingCalendar) -> pd.DataFrame:
    """One row per product and period, sorted by both: units, revenue, price, promotion and
    orders. The (product, period) key is made once as an integer and every sum groups by it."""
    ids, id_values = pd.factorize(df["unique_id"], sort=True)
    days, day_values = pd.factorize(calendar.floor(df["ts"]), sort=True)
    n_days = max(len(day_values), 1)
    keys, group = np.unique(ids.astype(np.int64) * n_days + days, return_inverse=True)
    out = pd.DataFrame(
        {"unique_id": id_values.take(keys // n_days), "ds": day_values.take(keys % n_days)}
    )

    def per_group(values: Any, rows: Any = slice(None)) -> Any:
        return pd.Series(np.asarray(values)[rows]).groupby(group[rows])

    every = np.arange(len(keys))
    out["y"] = per_group(df["qty"]).sum().reindex(every).to_numpy()
    if "price" in df.columns:
        # a period's price is its revenue per unit over the lines with a known price; a
        # period without one stays unknown (filled from the series' neighbours later), not 0
        qty, price = df["qty"].to_numpy(), df["price"].to_numpy()
        positive = (qty > 0) & ~np.isnan(price)
        revenue = per_group(qty * price, positive).sum()
        units = per_group(qty, positive).sum()
        out["revenue"] = revenue.reindex(every).fillna(0.0).to_numpy()
        out["price"] = (revenue / units).reindex(every).to_numpy()
    if "promo" in df.columns:
        out["promo"] = per_group(df["promo"]).max().reindex(every).to_numpy()
    if "order" in df.columns:
        out["orders"] = per_group(df["order"]).nunique().reindex(every).astype(float).to_numpy()
    out["y"] = out["y"].clip(lower=0)
    return out


def _move_closed_day_sales(
    df: pd.DataFrame, calendar: TradingCalendar, report: CleaningReport
) -> pd.DataFrame:
    on_closed = df["ts"].dt.dayofweek.isin(calendar.closed_weekdays)
    if on_closed.any():
        days = df.loc[on_closed, "ts"].dt.normalize()
        next_open = {d: calendar.future(d, 1)[0] for d in days.unique()}
        df = df.copy()
        df.loc[on_closed, "ts"] = days.map(next_open)
    report.add(
        "sales on closed days",
        "moved",
        int(on_closed.sum()),
        "the few sales dated on a non-trading weekday are counted on the next trading day",
    )
    return df


def _fill_and_trim(
    panel: pd.DataFrame,
    calendar: TradingCalendar,
    report: CleaningReport,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Start each series at its first sale and fill missing periods up to the panel's end
    (``end`` when given: the last period of the whole input, of which this is a part) with zeros."""
    first_sale = panel[panel["y"] > 0].groupby("unique_id")["ds"].min()
    first_seen = panel.groupby("unique_id")["ds"].min()
    never = first_seen.index.difference(first_sale.index)
    # a product that never sold keeps its observed span: its forecast is an honest zero
    first_sale = pd.concat([first_sale, first_seen[never]]).sort_index()
    before = panel["ds"] < panel["unique_id"].map(first_sale)
    report.add(
        "periods before the first sale",
        "dropped",
        int(before.sum()),
        "a series starts at its first sale (products that never sold keep all their rows)",
    )
    panel = panel[~before]
    if end is None:
        end = panel["ds"].max()
    elif panel["ds"].max() > end:
        raise InputError(
            f"The data runs to {panel['ds'].max():%Y-%m-%d}, past the end it was prepared for "
            f"({end:%Y-%m-%d}); the input changed while it was read. Run the command again."
        )
    grid = calendar.range(panel["ds"].min(), end)
    pos = pd.Series(np.arange(len(grid)), index=grid)
    start_pos = first_sale.map(pos)
    if start_pos.isna().any():
        raise InputError("Internal calendar mismatch while filling periods; please report this.")
    # the filled panel, product by product (sorted) and period by period, is laid out by
    # arithmetic: a product's rows start at the sum of the earlier products' lengths
    starts = start_pos.to_numpy(dtype=np.int64)
    counts = len(grid) - starts
    offsets = np.cumsum(counts) - counts
    total = int(counts.sum())
    product = np.repeat(np.arange(len(counts)), counts)
    ds_idx = np.arange(total) - np.repeat(offsets, counts) + np.repeat(starts, counts)
    out = pd.DataFrame(
        {
            "unique_id": first_sale.index.to_numpy()[product],
            "ds": grid[ds_idx],
        }
    )
    code = first_sale.index.get_indexer(pd.Index(panel["unique_id"]))
    at = grid.get_indexer(pd.DatetimeIndex(panel["ds"]))
    if (code < 0).any() or (at < 0).any():
        raise InputError("Internal calendar mismatch while filling periods; please report this.")
    source = np.full(total, -1, dtype=np.int64)
    source[offsets[code] + at - starts[code]] = np.arange(len(panel))
    for col in panel.columns.drop(["unique_id", "ds"]):
        # a period without a row gets NaN, as a left join would give it
        out[col] = pd.api.extensions.take(panel[col].to_numpy(), source, allow_fill=True)
    filled = out["y"].isna()
    out["y"] = out["y"].fillna(0.0)
    report.add(
        "missing periods",
        "filled",
        int(filled.sum()),
        "periods with no sales inside a series' life are explicit zero demand",
    )
    if "price" in out.columns:
        # carried forward, then back over a series' first gaps (vectorised per series)
        out["price"] = out.groupby("unique_id", sort=False, observed=True)["price"].ffill()
        out["price"] = out.groupby("unique_id", sort=False, observed=True)["price"].bfill()
    for col in ("revenue", "orders", "promo"):
        if col in out.columns:
            out[col] = out[col].fillna(0.0)
    return out


def _treat_outliers(
    panel: pd.DataFrame, config: CleaningConfig, report: CleaningReport
) -> pd.DataFrame:
    """Cap or flag spikes: robust z-score of log demand on selling periods, per series."""
    if config.outliers == "none":
        report.add(
            "demand spikes", "info", 0, "outlier treatment is off (cleaning.outliers = 'none')"
        )
        return panel
    selling = panel[panel["y"] > 0]
    logs = np.log1p(selling["y"])
    grp = logs.groupby(selling["unique_id"])
    med = grp.transform("median")
    mad = (logs - med).abs().groupby(selling["unique_id"]).transform("median") * 1.4826
    # a series needs enough selling periods for a robust bound
    n = grp.transform("size")
    bound = np.expm1(med + config.outlier_threshold * mad.clip(lower=0.25))
    spike = (selling["y"] > bound) & (n >= 10)
    idx = selling.index[spike]
    panel = panel.copy()
    panel["outlier"] = False
    panel.loc[idx, "outlier"] = True
    examples = [
        f"{u} {d:%Y-%m-%d}: {y:,.0f} > {b:,.0f}"
        for u, d, y, b in zip(
            panel.loc[idx, "unique_id"],
            panel.loc[idx, "ds"],
            panel.loc[idx, "y"],
            bound[spike],
            strict=True,
        )
    ]
    excess = float((panel.loc[idx, "y"] - bound[spike]).sum())
    if config.outliers == "cap":
        panel.loc[idx, "y"] = np.floor(bound[spike].to_numpy())
        report.add(
            "demand spikes",
            "capped",
            len(idx),
            f"a period's demand above exp(median + {config.outlier_threshold:g}·MAD) of the "
            "product's log selling-period demand is capped at that bound",
            units=excess,
            examples=examples,
        )
    else:
        report.add(
            "demand spikes",
            "flagged",
            len(idx),
            "spikes are marked in the `outlier` column and left as they are",
            units=excess,
            examples=examples,
        )
    return panel


def _series_notes(panel: pd.DataFrame, calendar: TradingCalendar) -> pd.DataFrame:
    """Series a planner should know about: never sold, short history, no recent sales."""
    season = calendar.season_length
    short_len = 2 * season if season > 1 else 8
    dead_after = {"W": 13, "M": 6}.get(calendar.freq[0], max(8 * season, 8))
    grid = calendar.range(panel["ds"].min(), panel["ds"].max())
    pos = pd.Series(np.arange(len(grid)), index=grid)
    by_id = panel.groupby("unique_id")
    n = by_id.size()
    total = by_id["y"].sum()
    last_sale = panel[panel["y"] > 0].groupby("unique_id")["ds"].max().reindex(n.index)
    since_sale = (len(grid) - 1 - last_sale.map(pos)).fillna(len(grid)).astype(int)
    notes = [
        pd.DataFrame(
            {
                "unique_id": total.index[total == 0],
                "issue": "never sold",
                "detail": "no sales in the data; the forecast is zero",
            }
        ),
        pd.DataFrame(
            {
                "unique_id": n.index[n < short_len],
                "issue": "short",
                "detail": [
                    f"{k} period(s) of history; forecasts lean on simple models"
                    for k in n[n < short_len]
                ],
            }
        ),
        pd.DataFrame(
            {
                "unique_id": since_sale.index[(since_sale >= dead_after) & (total > 0)],
                "issue": "dead",
                "detail": [
                    f"no sales in the last {k} periods"
                    for k in since_sale[(since_sale >= dead_after) & (total > 0)]
                ],
            }
        ),
    ]
    return pd.concat(notes, ignore_index=True)[["unique_id", "issue", "detail"]]


def _static(df: pd.DataFrame, report: CleaningReport) -> pd.DataFrame:
    """Attributes constant within each product (category, brand, store) for hierarchy levels."""
    attr_cols = [c for c in df.columns if c.startswith("attr::")]
    # integer codes instead of grouping by text: the same answer, many times faster
    ids, products = pd.factorize(df["unique_id"])
    static = pd.DataFrame({"unique_id": products})
    for col in attr_cols:
        level = col.removeprefix("attr::")
        codes, values = pd.factorize(df[col])
        pairs = pd.DataFrame({"id": ids, "value": codes})
        pairs = pairs[pairs["value"] >= 0].drop_duplicates()
        varies = pairs.groupby("id").size().reindex(range(len(products)), fill_value=0)
        if (varies > 1).mean() > 0.05:
            report.facts[f"attribute {level}"] = "varies within products; not a hierarchy level"
            continue
        first = pairs.groupby("id")["value"].first().reindex(range(len(products)))
        taken = first.fillna(-1).astype(int).to_numpy()
        known = pd.Series(values, dtype=df[col].dtype).array
        static[level] = known.take(taken, allow_fill=True)
    return static


def prepare_sales(
    raw: pd.DataFrame,
    columns: ColumnMap | None = None,
    *,
    freq: str | None = None,
    mode: InputMode = "auto",
    config: CleaningConfig | None = None,
    calendar: TradingCalendar | None = None,
    end: pd.Timestamp | None = None,
) -> PreparedData:
    """Validate, clean and aggregate a raw table into a long panel.

    Parameters
    ----------
    raw
        Order lines or a sales table, as read by :func:`trendcast.data.io.read_table`.
    columns
        Known column roles; the rest is detected.
    freq
        Target frequency (``D``, ``W``, ``MS``...). Order lines default to daily;
        sales tables infer it from their dates.
    mode
        ``orders`` cleans and aggregates order lines, ``sales`` reads one row per
        product and period (duplicate keys are an error), ``auto`` decides from
        the data (an order id column, times of day or several rows per key).
    calendar, end
        For a part of a larger input, prepared piece by piece (see
        :mod:`trendcast.chunked`): the whole input's calendar, used as it is
        instead of inferring the frequency and detecting closed weekdays from
        this part, and the last day the whole input covers, to which every
        series is filled (instead of this part's own last period).
    """
    config = config or CleaningConfig()
    if raw.empty:
        raise InputError("The input has no rows.")
    report = CleaningReport(rows_in=len(raw))
    user_gave_ids = bool(columns and columns.id_cols)
    cmap = resolve_columns(raw, columns)
    raw = raw.reset_index(drop=True)
    df = _parse(raw, cmap, config, report)
    if df.empty:
        raise NoSalesLeftError(
            "No usable rows are left after parsing; see the cleaning report above.", report
        )
    # a per-store sales table whose detected id is the item alone: the store completes the key
    maybe_sales = mode == "sales" or (
        mode == "auto" and not cmap.order_col and not _has_time_of_day(df["ts"])
    )
    if maybe_sales and not user_gave_ids:
        completed = _complete_ids_with_store(raw.loc[df.index], cmap)
        if completed != cmap:
            cmap = completed
            df = _parse(raw, cmap, config, CleaningReport())
    is_orders = mode == "orders" or (mode == "auto" and _detect_orders(df, cmap, df["ts"]))
    report.facts["input kind"] = "order lines" if is_orders else "sales table"
    report.facts["columns"] = cmap.to_dict()

    df = (
        _clean_orders(df, raw, cmap, config, report)
        if is_orders
        else _clean_sales(df, raw, cmap, report)
    )
    if df.empty or not (df["qty"] > 0).any():
        raise NoSalesLeftError(
            "No sales are left after cleaning; see the cleaning report for why.", report
        )

    if calendar is None:
        # frequency: order lines default to daily, sales tables infer theirs
        calendar_freq = freq or ("D" if is_orders else infer_freq(df["ts"]))
        calendar = TradingCalendar(calendar_freq)
        if not is_orders and freq:
            calendar.check_fits(calendar.floor(df["ts"]) if calendar.is_daily else df["ts"])
        if calendar.is_daily and config.trading_days == "detect":
            closed = detect_closed_weekdays(df.loc[df["qty"] > 0, "ts"])
            if closed:
                calendar = TradingCalendar(calendar.freq, closed_weekdays=closed)
    elif not is_orders:
        calendar.check_fits(calendar.floor(df["ts"]) if calendar.is_daily else df["ts"])
    if calendar.closed_weekdays:
        df = _move_closed_day_sales(df, calendar, report)
    report.facts["frequency"] = calendar.describe()

    panel = _aggregate(df, calendar)
    fill_to = None if end is None else calendar.floor(pd.Series([end])).iloc[0]
    if is_orders and not calendar.is_daily:
        last_day = df["ts"].max().normalize() if end is None else end.normalize()
        last_period = panel["ds"].max() if fill_to is None else fill_to
        if last_day < calendar.period_end(last_period):
            partial = panel["ds"] == last_period
            report.add(
                "partial last period",
                "dropped",
                int(partial.sum()),
                f"the data ends on {last_day:%Y-%m-%d}, inside the period labelled "
                f"{last_period:%Y-%m-%d}; a partial period would look like a drop in demand",
            )
            panel = panel[~partial]
            if fill_to is not None:
                fill_to = fill_to - calendar.offset
    panel = _fill_and_trim(panel, calendar, report, fill_to)
    panel = _treat_outliers(panel, config, report)
    report.series_notes = _series_notes(panel, calendar)
    ids = df.drop_duplicates("unique_id")[["unique_id", *[f"id::{c}" for c in cmap.id_cols]]]
    ids = ids.rename(columns={f"id::{c}": c for c in cmap.id_cols})
    # an input whose id column is itself called unique_id (e.g. a written panel) keeps one
    ids = ids.loc[:, ~ids.columns.duplicated()]
    ids = ids[ids["unique_id"].isin(panel["unique_id"].unique())].reset_index(drop=True)
    static = _static(df, report)
    static = static[static["unique_id"].isin(ids["unique_id"])].reset_index(drop=True)
    report.rows_out = len(panel)
    report.facts["series"] = int(panel["unique_id"].nunique())
    report.facts["periods"] = f"{panel['ds'].min():%Y-%m-%d} .. {panel['ds'].max():%Y-%m-%d}"
    return PreparedData(panel, static, ids, calendar, cmap, report, is_orders)
