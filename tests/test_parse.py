"""Parsing messy text into numbers and timestamps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trendcast.data.parse import parse_dates, parse_numbers


def text(*values: object) -> pd.Series:
    return pd.Series(list(values), dtype=object)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234", 1234.0),
        ("1,234,567", 1234567.0),
        ("1,234.5", 1234.5),
        ("12,5", 12.5),
        ("¥12.50", 12.5),
        ("￥8", 8.0),
        ("$ 3.99", 3.99),
        ("3 件", 3.0),
        ("-2", -2.0),
        (" 7 ", 7.0),
        ("1e3", 1000.0),
    ],
)
def test_parse_numbers_reads_thousands_separators_decimal_commas_currency_and_units(raw, expected):
    assert parse_numbers(text(raw)).iloc[0] == pytest.approx(expected)


def test_parse_numbers_turns_unreadable_and_empty_values_into_nan():
    parsed = parse_numbers(text("lots", "", None, np.nan, "4"))
    assert parsed.isna().tolist() == [True, True, True, True, False]
    assert parsed.dtype == float


def test_parse_numbers_passes_numeric_columns_through_as_float():
    parsed = parse_numbers(pd.Series([1, 2, 3], dtype="int32"))
    assert parsed.dtype == float
    assert parsed.tolist() == [1.0, 2.0, 3.0]


def test_parse_numbers_keeps_the_index():
    values = pd.Series(["1", "2"], index=[10, 20])
    assert parse_numbers(values).index.tolist() == [10, 20]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (("2011-12-09", "2011-12-10 08:26"), ("2011-12-09 00:00", "2011-12-10 08:26")),
        (("2011-12-09T08:26:00",), ("2011-12-09 08:26",)),
        (("2011/12/09 08:26", "2011/12/10"), ("2011-12-09 08:26", "2011-12-10 00:00")),
        (("12/09/2011", "12/13/2011"), ("2011-12-09 00:00", "2011-12-13 00:00")),
        (("2011年12月9日", "2011年12月10日 08:26"), ("2011-12-09 00:00", "2011-12-10 08:26")),
        (("2011 年 1 月 5 日",), ("2011-01-05 00:00",)),
    ],
    ids=["iso", "iso-t", "slashes", "month-first", "chinese", "chinese-spaced"],
)
def test_parse_dates_reads_common_formats(values, expected):
    assert parse_dates(text(*values)).tolist() == [pd.Timestamp(e) for e in expected]


@pytest.mark.parametrize(
    "values",
    [
        ("09/12/2011", "13/12/2011"),
        ("13/12/2011", "09/12/2011"),
        ("09.12.2011", "13.12.2011"),
        ("09-12-2011", "13-12-2011"),
    ],
)
def test_parse_dates_reads_a_day_first_column_day_first_throughout(values):
    parsed = parse_dates(text(*values))
    assert sorted(parsed.tolist()) == [pd.Timestamp("2011-12-09"), pd.Timestamp("2011-12-13")]


def test_parse_dates_keeps_local_wall_time_when_offsets_are_given():
    # a sale at 23:30 in Shanghai belongs to that local day, not to 15:30 UTC
    parsed = parse_dates(text("2011-12-09T23:30:00+08:00", "2011-12-10 00:15:00+0800"))
    assert parsed.dtype == "datetime64[ns]"
    assert parsed.tolist() == [pd.Timestamp("2011-12-09 23:30"), pd.Timestamp("2011-12-10 00:15")]


def test_parse_dates_handles_offsets_that_change_with_daylight_saving():
    parsed = parse_dates(
        text(
            "2024-03-30T23:30:00+01:00",
            "2024-03-31T23:30:00+02:00",
            "2024-04-01 08:00:00Z",
            "2024-04-02",
        )
    )
    assert parsed.dtype == "datetime64[ns]"
    assert parsed.tolist() == [
        pd.Timestamp("2024-03-30 23:30"),
        pd.Timestamp("2024-03-31 23:30"),
        pd.Timestamp("2024-04-01 08:00"),
        pd.Timestamp("2024-04-02"),
    ]


def test_parse_dates_drops_the_zone_of_typed_timestamps_keeping_local_time():
    aware = pd.Series(pd.to_datetime(["2011-12-09 23:30"]).tz_localize("Asia/Shanghai"))
    assert parse_dates(aware).tolist() == [pd.Timestamp("2011-12-09 23:30")]


def test_parse_dates_reads_compact_numeric_dates():
    assert parse_dates(pd.Series([20111209, 20111210])).tolist() == [
        pd.Timestamp("2011-12-09"),
        pd.Timestamp("2011-12-10"),
    ]


def test_parse_dates_turns_unreadable_values_into_nat_and_keeps_the_rest():
    parsed = parse_dates(text("2011-12-09", "soon", None, "2011-12-11"))
    assert parsed.isna().tolist() == [False, True, True, False]
    assert parsed.iloc[3] == pd.Timestamp("2011-12-11")
