"""The trading calendar: frequencies, closed weekdays and the grid of open periods."""

from __future__ import annotations

import pandas as pd
import pytest

from trendcast.data.calendar import (
    TradingCalendar,
    detect_closed_weekdays,
    infer_freq,
    normalize_freq,
)
from trendcast.exceptions import ConfigError, InputError

SATURDAY = 5


def days(start: str, periods: int, freq: str = "D") -> pd.Series:
    return pd.Series(pd.date_range(start, periods=periods, freq=freq))


def open_days(start: str, periods: int, closed: tuple[int, ...] = (SATURDAY,)) -> pd.Series:
    all_days = days(start, periods)
    return all_days[~all_days.dt.dayofweek.isin(closed)].reset_index(drop=True)


@pytest.mark.parametrize(
    ("given", "alias"),
    [
        ("daily", "D"),
        ("d", "D"),
        ("W", "W-SUN"),
        ("weekly", "W-SUN"),
        ("W-MON", "W-MON"),
        ("monthly", "MS"),
        ("M", "MS"),
        ("ME", "ME"),
        ("q", "QS"),
        ("hourly", "h"),
        (" D ", "D"),
    ],
)
def test_normalize_freq_turns_user_words_into_pandas_aliases(given, alias):
    assert normalize_freq(given) == alias


def test_normalize_freq_rejects_an_unknown_frequency_and_lists_the_choices():
    with pytest.raises(ConfigError, match=r"Unknown frequency 'fortnightly'\. Use D \(daily\), W"):
        normalize_freq("fortnightly")


@pytest.mark.parametrize(
    ("dates", "freq"),
    [
        (days("2024-01-01", 30), "D"),
        (open_days("2024-01-01", 60), "D"),
        (days("2024-01-07", 20, "W-SUN"), "W-SUN"),
        (days("2024-01-01", 20, "W-MON"), "W-MON"),
        (days("2022-01-01", 24, "MS"), "MS"),
        (days("2022-01-31", 24, "ME"), "ME"),
        (days("2020-01-01", 12, "QS"), "QS"),
        (days("2024-01-01 08:00", 48, "h"), "h"),
    ],
    ids=[
        "daily",
        "daily-closed-saturdays",
        "weekly-sunday",
        "weekly-monday",
        "month-start",
        "month-end",
        "quarterly",
        "hourly",
    ],
)
def test_infer_freq_reads_the_frequency_from_the_spacing_of_dates(dates, freq):
    assert infer_freq(dates) == freq


def test_infer_freq_is_not_fooled_by_missing_weeks():
    weeks = days("2024-01-07", 30, "W-SUN").drop([3, 4, 10, 17, 18, 19]).reset_index(drop=True)
    assert infer_freq(weeks) == "W-SUN"


def test_infer_freq_treats_order_times_within_the_day_as_daily():
    stamps = pd.Series(pd.to_datetime(["2024-01-01 09:15", "2024-01-02 14:30", "2024-01-04 10:00"]))
    assert infer_freq(stamps) == "D"


def test_infer_freq_reads_dates_stored_in_microseconds_like_duckdb_and_parquet_give():
    weekly = days("2024-01-07", 10, "W-SUN").astype("datetime64[us]")
    monthly = days("2024-01-01", 10, "MS").astype("datetime64[s]")
    assert infer_freq(weekly) == "W-SUN"
    assert infer_freq(monthly) == "MS"


def test_infer_freq_needs_two_distinct_dates_and_says_to_pass_freq():
    with pytest.raises(InputError, match=r"fewer than two distinct dates\. Pass it with --freq"):
        infer_freq(pd.Series(pd.to_datetime(["2024-01-01", "2024-01-01"])))


def test_infer_freq_refuses_an_irregular_spacing_and_says_to_pass_freq():
    with pytest.raises(
        InputError, match=r"most common gap between dates is 10 days\. Pass it with --freq"
    ):
        infer_freq(days("2024-01-01", 10, "10D"))


def test_detect_closed_weekdays_finds_a_shop_closed_on_saturdays():
    assert detect_closed_weekdays(open_days("2024-01-01", 7 * 12)) == (SATURDAY,)


def test_detect_closed_weekdays_tolerates_a_rare_sale_on_the_closed_day():
    dates = pd.concat([open_days("2023-01-02", 7 * 52), pd.Series(pd.to_datetime(["2023-06-10"]))])
    assert detect_closed_weekdays(dates) == (SATURDAY,)


def test_detect_closed_weekdays_finds_several_closed_days():
    assert detect_closed_weekdays(open_days("2024-01-01", 7 * 10, closed=(5, 6))) == (5, 6)


def test_detect_closed_weekdays_finds_none_for_a_shop_open_every_day():
    assert detect_closed_weekdays(days("2024-01-01", 7 * 10)) == ()


def test_detect_closed_weekdays_needs_enough_history():
    assert detect_closed_weekdays(open_days("2024-01-01", 7 * 7)) == ()


def test_detect_closed_weekdays_ignores_a_sparse_series_where_no_day_trades_regularly():
    sparse = days("2024-01-01", 20, "5D")
    assert detect_closed_weekdays(sparse) == ()


def test_calendar_closed_on_saturdays_steps_over_them_in_the_future():
    cal = TradingCalendar("D", closed_weekdays=(SATURDAY,))
    friday = pd.Timestamp("2011-12-09")
    assert list(cal.future(friday, 3).strftime("%a %d")) == ["Sun 11", "Mon 12", "Tue 13"]
    assert cal.season_length == 6
    assert cal.periods_per_year == 52 * 6
    assert cal.describe() == "daily, closed on Sat"


def test_calendar_future_from_a_closed_day_starts_at_the_next_open_day():
    cal = TradingCalendar("D", closed_weekdays=(SATURDAY,))
    saturday = pd.Timestamp("2011-12-10")
    assert list(cal.future(saturday, 2).strftime("%a %d")) == ["Sun 11", "Mon 12"]


def test_calendar_range_lists_only_open_days():
    cal = TradingCalendar("D", closed_weekdays=(SATURDAY,))
    grid = cal.range(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-14"))
    assert len(grid) == 12
    assert SATURDAY not in set(grid.dayofweek)


@pytest.mark.parametrize(
    ("freq", "last", "expected"),
    [
        ("D", "2024-01-31", ["2024-02-01", "2024-02-02"]),
        ("W-SUN", "2024-01-07", ["2024-01-14", "2024-01-21"]),
        ("W-MON", "2024-01-01", ["2024-01-08", "2024-01-15"]),
        ("MS", "2024-01-01", ["2024-02-01", "2024-03-01"]),
        ("ME", "2024-01-31", ["2024-02-29", "2024-03-31"]),
    ],
)
def test_calendar_future_continues_the_grid(freq, last, expected):
    assert list(TradingCalendar(freq).future(pd.Timestamp(last), 2)) == [
        pd.Timestamp(e) for e in expected
    ]


@pytest.mark.parametrize(
    ("freq", "season"), [("D", 7), ("W", 52), ("W-MON", 52), ("MS", 12), ("QS", 4), ("h", 24)]
)
def test_calendar_season_length_follows_the_frequency(freq, season):
    assert TradingCalendar(freq).season_length == season


def test_calendar_refuses_closed_weekdays_for_weekly_data():
    with pytest.raises(ConfigError, match="Closed weekdays only apply to daily data"):
        TradingCalendar("W", closed_weekdays=(SATURDAY,))


def test_calendar_normalises_its_frequency():
    assert TradingCalendar("weekly").freq == "W-SUN"
    with pytest.raises(ConfigError, match="Unknown frequency"):
        TradingCalendar("sometimes")


@pytest.mark.parametrize(
    ("freq", "stamp", "label"),
    [
        ("D", "2024-01-03 17:45", "2024-01-03"),
        ("W-SUN", "2024-01-03 17:45", "2024-01-07"),
        ("W-SUN", "2024-01-07 23:00", "2024-01-07"),
        ("W-MON", "2024-01-03", "2024-01-08"),
        ("MS", "2024-02-29 10:00", "2024-02-01"),
        ("ME", "2024-02-10", "2024-02-29"),
        ("h", "2024-01-03 17:45", "2024-01-03 17:00"),
    ],
)
def test_calendar_floor_maps_timestamps_to_their_period_label(freq, stamp, label):
    floored = TradingCalendar(freq).floor(pd.Series(pd.to_datetime([stamp])))
    assert floored.iloc[0] == pd.Timestamp(label)


def test_calendar_period_end_is_the_last_day_a_period_covers():
    assert TradingCalendar("MS").period_end(pd.Timestamp("2024-02-01")) == pd.Timestamp(
        "2024-02-29"
    )
    assert TradingCalendar("W-SUN").period_end(pd.Timestamp("2024-01-07")) == pd.Timestamp(
        "2024-01-07"
    )
    assert TradingCalendar("D").period_end(pd.Timestamp("2024-01-07")) == pd.Timestamp("2024-01-07")


def test_calendar_labels_weeks_and_month_ends_by_their_last_day_and_month_starts_by_the_first():
    assert TradingCalendar("W-MON").labels_at_end
    assert TradingCalendar("ME").labels_at_end
    assert not TradingCalendar("MS").labels_at_end


def test_check_fits_accepts_dates_on_the_grid():
    TradingCalendar("W-SUN").check_fits(days("2024-01-07", 10, "W-SUN"))
    TradingCalendar("D", closed_weekdays=(SATURDAY,)).check_fits(open_days("2024-01-01", 30))


def test_check_fits_refuses_a_frequency_that_does_not_fit_and_says_the_fix():
    with pytest.raises(
        InputError,
        match=r"The frequency 'W-SUN' does not fit the dates: 12 date\(s\) fall off its grid, "
        r"e\.g\. \['2024-01-01', .*\]\. Pass the right --freq, or let trendcast infer it",
    ):
        TradingCalendar("W").check_fits(days("2024-01-01", 14))


def test_check_fits_refuses_sunday_weeks_read_as_monday_weeks():
    with pytest.raises(InputError, match="The frequency 'W-MON' does not fit the dates"):
        TradingCalendar("W-MON").check_fits(days("2024-01-07", 5, "W-SUN"))


def test_check_fits_refuses_sales_on_a_closed_day():
    dates = pd.Series(pd.to_datetime(["2024-01-05", "2024-01-06", "2024-01-07"]))
    with pytest.raises(InputError, match=r"1 date\(s\) fall off its grid, e\.g\. \['2024-01-06'\]"):
        TradingCalendar("D", closed_weekdays=(SATURDAY,)).check_fits(dates)
