"""Calendar, festival, price and behaviour features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import ConfigError, InputError
from trendcast.features.calendar import FestivalWindows, calendar_features, festival_dates
from trendcast.features.covariates import behaviour_features, normalise_behaviour, price_features


def test_festival_dates_follow_their_rules() -> None:
    dates = festival_dates([2023, 2024])
    by = (
        festival_dates([2023, 2024])
        .assign(year=lambda d: d["ds"].dt.year)
        .set_index(["festival", "year"])["ds"]
    )
    assert by["black_friday", 2023] == pd.Timestamp("2023-11-24")
    assert by["black_friday", 2024] == pd.Timestamp("2024-11-29")
    assert by["cyber_monday", 2024] == pd.Timestamp("2024-12-02")
    assert by["618", 2024] == pd.Timestamp("2024-06-18")
    assert by["double11", 2023] == pd.Timestamp("2023-11-11")
    assert by["spring_festival", 2024] == pd.Timestamp("2024-02-10")
    assert by["spring_festival", 2023] == pd.Timestamp("2023-01-22")
    assert len(dates) == 14


def test_festival_windows_cover_days_before_and_after() -> None:
    days = pd.date_range("2024-11-01", "2024-11-15")
    f = calendar_features(days, windows=FestivalWindows(default=(3, 2)))
    flagged = f.index[f["fest_double11"] == 1]
    assert list(flagged) == list(pd.date_range("2024-11-08", "2024-11-13"))
    assert f.loc["2024-11-11", "days_to_festival"] == 0
    assert f.loc["2024-11-10", "days_to_festival"] == 1


def test_holidays_come_from_the_country_calendar() -> None:
    f = calendar_features(pd.date_range("2024-12-23", "2024-12-27"), country="GB")
    assert f["holiday"].tolist() == [0, 0, 1, 1, 0]
    assert f["is_weekend"].sum() == 0


def test_unknown_country_and_festival_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="Unknown holiday country 'XX'"):
        calendar_features(pd.date_range("2024-01-01", periods=3), country="XX")
    with pytest.raises(ConfigError, match="Unknown festival"):
        calendar_features(pd.date_range("2024-01-01", periods=3), festivals=["prime_day"])


def test_relative_price_uses_only_past_prices() -> None:
    panel = pd.DataFrame(
        {
            "unique_id": "a",
            "ds": pd.date_range("2024-01-01", periods=6),
            "y": 1.0,
            "price": [10, 10, 10, 8, 10, 12.0],
        }
    )
    f = price_features(panel, window=3)
    assert f["rel_price"].round(3).tolist() == [1.0, 1.0, 1.0, 0.8, 1.0, 1.2]
    assert f["discount"].round(3).tolist() == [0, 0, 0, 0.2, 0, 0]
    assert f["price_change"].round(3).tolist() == [0, 0, 0, -0.2, 0.25, 0.2]
    # changing a later price never changes an earlier feature
    later = panel.assign(price=[10, 10, 10, 8, 10, 99.0])
    assert price_features(later, window=3)["rel_price"].iloc[:5].equals(f["rel_price"].iloc[:5])


def test_behaviour_counts_and_rates_per_product_and_day() -> None:
    events = pd.DataFrame(
        {
            "user": ["u1", "u1", "u2", "u2", "u3", "u1"],
            "item": ["a", "a", "a", "a", "a", "b"],
            "type": ["pv", "cart", "pv", "buy", "浏览", "fav"],
            "time": [
                "2024-01-01 10:00",
                "2024-01-01 10:05",
                "2024-01-01 12:00",
                "2024-01-01 12:30",
                "2024-01-02 09:00",
                "2024-01-01 08:00",
            ],
        }
    )
    f = behaviour_features(
        events,
        TradingCalendar("D"),
        product_col="item",
        behaviour_col="type",
        time_col="time",
        user_col="user",
    ).set_index(["unique_id", "ds"])
    day1 = f.loc[("a", pd.Timestamp("2024-01-01"))]
    assert (day1["views"], day1["carts"], day1["purchases"], day1["buyers"]) == (2, 1, 1, 1)
    assert day1["conversion"] == pytest.approx(0.5)
    assert f.loc[("a", pd.Timestamp("2024-01-02")), "views"] == 1
    assert f.loc[("b", pd.Timestamp("2024-01-01")), "favourites"] == 1


def test_behaviour_labels_of_common_platforms_are_recognised() -> None:
    labels = pd.Series(["pv", "addtocart", "transaction", "收藏", "Add-To-Cart", "weird"])
    assert normalise_behaviour(labels).tolist()[:5] == [
        "views",
        "carts",
        "purchases",
        "favourites",
        "carts",
    ]
    assert pd.isna(normalise_behaviour(labels).iloc[5])


def test_a_behaviour_table_without_known_types_is_refused() -> None:
    events = pd.DataFrame({"item": ["a"], "type": ["zzz"], "time": ["2024-01-01"]})
    with pytest.raises(InputError, match="No known behaviour types in 'type'"):
        behaviour_features(
            events, TradingCalendar("D"), product_col="item", behaviour_col="type", time_col="time"
        )


def test_event_flags_mark_each_event_type_and_keep_snap_days() -> None:
    from trendcast.features.calendar import event_flags

    cal = pd.DataFrame(
        {
            "ds": pd.date_range("2016-02-06", periods=4),
            "event_type_1": ["Sporting", None, "Cultural", None],
            "event_type_2": [None, None, "Religious", None],
            "snap_TX": [0, 1, 1, 0],
        }
    )
    flags = event_flags(cal)
    assert flags.columns.tolist() == [
        "event_Cultural",
        "event_Religious",
        "event_Sporting",
        "snap_TX",
    ]
    assert flags["event_Sporting"].tolist() == [1, 0, 0, 0]
    assert flags["event_Religious"].tolist() == [0, 0, 1, 0]
    # days the events table does not cover get 0, not NaN
    feats = calendar_features(pd.date_range("2016-02-05", periods=3), events=flags)
    assert feats["snap_TX"].tolist() == [0, 0, 1]
    assert feats["event_Sporting"].tolist() == [0, 1, 0]


def test_price_features_are_computed_within_each_product_as_for_it_alone() -> None:
    rng = np.random.default_rng(3)
    frames = []
    for k, n in enumerate([40, 1, 17, 60]):
        price = np.round(rng.uniform(1, 5, n), 1)
        price[rng.random(n) < 0.3] = np.nan
        price[rng.random(n) < 0.05] = 0.0
        dates = pd.date_range("2024-01-01", periods=n)
        frames.append(pd.DataFrame({"unique_id": f"p{k}", "ds": dates, "price": price}))
    panel = pd.concat(frames, ignore_index=True)
    together = price_features(panel, window=5)
    for k, alone in enumerate(frames):
        own = price_features(alone.reset_index(drop=True), window=5)
        mine = together[together["unique_id"] == f"p{k}"].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, own)
    # a product's first period has no past price: it is its own reference
    firsts = together.groupby("unique_id").head(1)
    assert (firsts["rel_price"] == 1.0).all() and (firsts["price_change"] == 0.0).all()


def test_a_forecast_whose_models_read_no_prices_builds_no_price_features(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import trendcast.features.covariates as covariates
    from trendcast.data.prepare import prepare_sales
    from trendcast.pipeline import fit_forecast

    days = pd.date_range("2024-01-01", periods=60)
    raw = pd.DataFrame(
        {
            "sku": np.repeat(["a", "b"], 60),
            "date": np.tile(days, 2),
            "units": np.tile(np.arange(60) % 7, 2),
            "price": 9.5,
        }
    )
    data = prepare_sales(raw, None, mode="sales")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("price features were built")

    monkeypatch.setattr(covariates, "price_features", refuse)
    params = {"candidates": ["seasonal_naive", "croston"]}
    fc, _ = fit_forecast(data, horizon=7, model="auto", params=params)
    assert len(fc) == 14
    with pytest.raises(AssertionError, match="price features were built"):
        fit_forecast(data, horizon=7, model="lightgbm")
