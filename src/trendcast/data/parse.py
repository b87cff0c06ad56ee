"""Parsing messy text columns into numbers and timestamps, without losing track of failures."""

from __future__ import annotations

import warnings

import pandas as pd
from pandas.api.types import is_datetime64_any_dtype, is_numeric_dtype

__all__ = ["parse_numbers", "parse_dates"]


def parse_numbers(values: pd.Series) -> pd.Series:
    """Numbers from text such as ``'1,234'``, ``'12,5'``, ``'¥12.50'`` or ``'3 件'``.

    Unparseable values become NaN; the caller decides whether that is an error.
    """
    if is_numeric_dtype(values):
        return values.astype(float)
    text = values.astype("string").str.strip()
    text = text.str.replace(r"[^\d,.\-+eE]", "", regex=True)
    thousands = text.str.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?").fillna(False).astype(bool)
    text = text.where(~thousands, text.str.replace(",", "", regex=False))
    decimal_comma = text.str.fullmatch(r"[-+]?\d*,\d+").fillna(False).astype(bool)
    text = text.where(~decimal_comma, text.str.replace(",", ".", regex=False))
    return pd.to_numeric(text, errors="coerce").astype(float)


def _to_naive(parsed: pd.Series) -> pd.Series:
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_localize(None)
    return parsed


def parse_dates(values: pd.Series) -> pd.Series:
    """Timestamps from ISO text, ``2011/12/09 08:26``, ``09.12.2011``, ``2011年12月9日``,
    compact ``20111209`` or Unix seconds/milliseconds...

    Time zones are dropped keeping local wall time (a sale at 23:30 +08:00
    stays on its local day). Unparseable values become NaT.
    """
    if is_datetime64_any_dtype(values):
        return _to_naive(values)
    if is_numeric_dtype(values):
        typical = values.dropna().abs().median() if values.notna().any() else 0
        if typical >= 1e11:  # Unix milliseconds (2001 onwards)
            return pd.to_datetime(values, unit="ms", errors="coerce")
        if typical >= 1e9:  # Unix seconds (2001 onwards); compact dates stay below 1e8
            return pd.to_datetime(values, unit="s", errors="coerce")
        # compact dates such as 20111209
        return pd.to_datetime(
            values.astype("Int64").astype("string"), format="%Y%m%d", errors="coerce"
        )
    text = values.astype("string").str.strip()
    text = text.str.replace(r"(\d)\s*[年月]\s*", r"\1-", regex=True).str.replace(
        "日", "", regex=False
    )
    # drop UTC offsets from the text itself: mixed offsets (daylight saving) would give pandas
    # an object column of tz-aware values instead of one local wall time per row
    text = text.str.replace(
        r"(\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$", r"\1", regex=True
    )
    best: pd.Series | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for kwargs in (
            {"format": "ISO8601"},
            # one format inferred for the whole column first, so day-first dates such as
            # 09/12/2011 next to 13/12/2011 are not read month-first row by row
            {"dayfirst": False},
            {"dayfirst": True},
            {"format": "mixed", "dayfirst": False},
            {"format": "mixed", "dayfirst": True},
        ):
            try:
                parsed = pd.to_datetime(text, errors="coerce", **kwargs)
            except (ValueError, TypeError):
                parsed = pd.to_datetime(text, errors="coerce", utc=True, **kwargs)
            parsed = _to_naive(parsed)
            if best is None or parsed.isna().sum() < best.isna().sum():
                best = parsed
            if not best.isna().any():
                break
    assert best is not None
    return best
