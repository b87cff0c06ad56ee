"""The synthetic catalogue: reproducible, chunkable, and its planted effects are in the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from trendcast.data.calendar import TradingCalendar
from trendcast.data.columns import ColumnMap
from trendcast.datasets import CatalogueKnobs, SyntheticData, generate_catalogue
from trendcast.datasets.synthetic import BLOCK_PRODUCTS, catalogue_to_parquet, iter_catalogue
from trendcast.evaluation.segments import classify_demand
from trendcast.exceptions import ConfigError, InputError
from trendcast.features.covariates import model_frame
from trendcast.models import make_model
from trendcast.pipeline import load_sales

WEEKDAYS = [f"weekly_{d}" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]
# a plain catalogue: no stock-outs, launches or discontinuations to blur an effect
STEADY: dict[str, Any] = {"stockout_rate": 0.0, "new_share": 0.0, "discontinued_share": 0.0}


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return generate_catalogue(300, "2024-01-01", 200, seed=7)


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as strings: chunks' categoricals have different categories."""
    cats = frame.select_dtypes("category").columns
    return frame.astype({c: str for c in cats}).reset_index(drop=True)


def as_panel(sales: pd.DataFrame) -> pd.DataFrame:
    panel = sales.rename(columns={"product_id": "unique_id", "date": "ds", "units": "y"})
    return panel.astype({"unique_id": str, "y": float})


def within(values: Any, groups: pd.Series) -> pd.Series:
    """Values minus their group's mean: a fixed-effects regression's view of them."""
    series = pd.Series(values, index=groups.index)
    return series - series.groupby(groups, observed=True).transform("mean")


def assert_same(a: SyntheticData, b: SyntheticData) -> None:
    for name in ("sales", "events", "truth", "truth_by_period"):
        left, right = getattr(a, name), getattr(b, name)
        assert (left is None) == (right is None), name
        if left is not None:
            pd.testing.assert_frame_equal(plain(left), plain(right), obj=name)


# -- reproducibility and chunks --------------------------------------------------------------


def test_the_same_seed_gives_identical_data_and_another_seed_different_data() -> None:
    first = generate_catalogue(40, "2024-01-01", 90, seed=3)
    again = generate_catalogue(40, "2024-01-01", 90, seed=3)
    other = generate_catalogue(40, "2024-01-01", 90, seed=4)
    assert_same(first, again)
    assert not first.truth["level"].equals(other.truth["level"])
    assert not np.array_equal(first.sales["units"][:500], other.sales["units"][:500])


def test_generating_in_chunks_gives_the_same_catalogue_as_one_call() -> None:
    whole = generate_catalogue(600, "2024-01-01", 60, seed=1, truth_by_period=True)
    chunks = list(
        iter_catalogue(600, "2024-01-01", 60, seed=1, chunk_products=300, truth_by_period=True)
    )
    assert len(chunks) == 2  # 300 rounds up to two blocks of 256: 512 + 88 products
    for name in ("sales", "events", "truth", "truth_by_period"):
        joined = pd.concat([plain(getattr(c, name)) for c in chunks], ignore_index=True)
        pd.testing.assert_frame_equal(joined, plain(getattr(whole, name)), obj=name)


def test_a_small_catalogue_is_the_first_products_of_a_larger_one() -> None:
    small = generate_catalogue(100, "2024-01-01", 60, seed=2)
    large = generate_catalogue(BLOCK_PRODUCTS + 50, "2024-01-01", 60, seed=2)
    head = large.sales[large.sales["product_id"].cat.codes < 100]
    pd.testing.assert_frame_equal(plain(head), plain(small.sales))
    pd.testing.assert_frame_equal(plain(large.truth.head(100)), plain(small.truth))


def test_behaviour_and_period_truth_do_not_change_the_sales() -> None:
    full = generate_catalogue(50, "2024-01-01", 60, seed=5)
    lean = generate_catalogue(50, "2024-01-01", 60, seed=5, behaviour=False, truth_by_period=False)
    pd.testing.assert_frame_equal(full.sales, lean.sales)
    assert lean.events is None and lean.truth_by_period is None


def test_parquet_written_in_chunks_reads_back_as_the_generated_tables(tmp_path: Path) -> None:
    paths = catalogue_to_parquet(
        tmp_path / "cat", 300, "2024-01-01", 40, seed=9, chunk_products=100, truth_by_period=True
    )
    assert set(paths) == {"sales", "events", "truth", "truth_by_period"}
    whole = generate_catalogue(300, "2024-01-01", 40, seed=9)
    for name, path in paths.items():
        back = pd.read_parquet(path)
        pd.testing.assert_frame_equal(plain(back), plain(getattr(whole, name)), obj=name)


# -- shapes and types ------------------------------------------------------------------------


def test_tables_have_the_documented_columns_types_and_alignment(data: SyntheticData) -> None:
    sales, events, truth, by_period = data.sales, data.events, data.truth, data.truth_by_period
    assert events is not None and by_period is not None
    assert sales.dtypes.astype(str).to_dict() == {
        "product_id": "category",
        "date": "datetime64[ns]",
        "units": "int32",
        "price": "float64",
        "promo": "int8",
        "category": "category",
        "brand": "category",
        "store": "category",
    }
    assert events.columns.tolist() == [
        "product_id",
        "date",
        "views",
        "carts",
        "favourites",
        "purchases",
    ]
    assert by_period.columns.tolist() == ["product_id", "date", "expected", "stockout"]
    assert len(events) == len(sales) == len(by_period)
    assert events["date"].equals(sales["date"]) and by_period["date"].equals(sales["date"])
    assert len(truth) == truth["product_id"].nunique() == 300
    assert not sales.duplicated(["product_id", "date"]).any()
    assert sales.equals(sales.sort_values(["product_id", "date"]))
    assert set(truth["segment"]) == {"smooth", "intermittent", "lumpy"}
    assert np.allclose(truth[WEEKDAYS].mean(axis=1), 1.0)
    assert (sales["units"] >= 0).all() and (sales["price"] > 0).all()
    assert data.festival_effect.index.equals(pd.date_range("2024-01-01", periods=200))
    assert data.festival_effect.loc["2024-06-18"] == pytest.approx(2.0)  # 618 at its peak


def test_the_funnel_narrows_from_views_to_carts_to_purchases(data: SyntheticData) -> None:
    events = data.events
    assert events is not None
    assert (events["views"] >= events["carts"]).all()
    assert (events["carts"] >= events["purchases"]).all()
    assert events["purchases"].equals(data.sales["units"])
    conversion = events["purchases"].sum() / events["views"].sum()
    assert 0.01 < conversion < 0.15


def test_weekly_catalogues_are_labelled_by_week_end_and_have_no_weekday_profile() -> None:
    weekly = generate_catalogue(60, "2024-01-01", 52, freq="W", seed=2, **STEADY)
    assert set(weekly.sales["date"].dt.dayofweek) == {6}
    assert weekly.freq == "W-SUN"
    assert (weekly.truth[WEEKDAYS] == 1.0).all().all()
    daily = generate_catalogue(60, "2024-01-01", 364, seed=2, **STEADY)
    # a week's level is seven days' worth (the same draws scaled)
    assert weekly.truth["level"].sum() == pytest.approx(7 * daily.truth["level"].sum(), rel=0.5)


# -- planted effects -------------------------------------------------------------------------


def test_units_are_unbiased_draws_of_the_expected_demand(data: SyntheticData) -> None:
    by_period = data.truth_by_period
    assert by_period is not None
    in_stock = ~by_period["stockout"]
    observed = data.sales.loc[in_stock, "units"].sum()
    assert observed == pytest.approx(by_period.loc[in_stock, "expected"].sum(), rel=0.05)


def test_segment_shares_are_as_configured_and_classified_as_such() -> None:
    data = generate_catalogue(
        600, "2024-01-01", 365, seed=2, intermittent_share=0.3, lumpy_share=0.1, **STEADY
    )
    drawn = data.truth["segment"].value_counts(normalize=True)
    assert drawn["intermittent"] == pytest.approx(0.3, abs=0.05)
    assert drawn["lumpy"] == pytest.approx(0.1, abs=0.04)
    classified = classify_demand(as_panel(data.sales))["segment"].value_counts(normalize=True)
    assert classified["intermittent"] == pytest.approx(drawn["intermittent"], abs=0.03)
    assert classified["lumpy"] == pytest.approx(drawn["lumpy"], abs=0.03)


def test_a_log_log_regression_recovers_the_planted_price_elasticity() -> None:
    data = generate_catalogue(
        200,
        "2024-01-01",
        365,
        seed=3,
        intermittent_share=0.0,
        lumpy_share=0.0,
        level_median=40.0,
        weekly_strength=0.0,
        yearly_amplitude=0.0,
        growth_sd=0.0,
        festivals={},
        elasticity_mean=-1.5,
        elasticity_sd=0.0,
        promo_rate=0.05,
        **STEADY,
    )
    sales = data.sales.merge(data.truth[["product_id", "base_price"]], on="product_id")
    sales = sales[sales["units"] > 0]
    x = within(np.log(sales["price"] / sales["base_price"]), sales["product_id"])
    y = within(np.log(sales["units"]), sales["product_id"])
    slope = float((x * y).sum() / (x * x).sum())
    assert slope == pytest.approx(-1.5, abs=0.1)
    assert sales["promo"].mean() > 0.1


def test_promotions_cut_the_price_within_the_discount_range(data: SyntheticData) -> None:
    sales = data.sales.merge(data.truth[["product_id", "base_price"]], on="product_id")
    ratio = sales["price"] / sales["base_price"]
    on = sales["promo"] == 1
    assert np.allclose(ratio[~on], 1.0)
    assert ratio[on].between(0.5 - 0.01, 0.9 + 0.01).all()
    assert 0.05 < on.mean() < 0.25


@pytest.mark.parametrize("name", ["linear", "lightgbm"])
def test_a_trendcast_model_fitted_on_the_data_recovers_the_weekly_profile(name: str) -> None:
    pytest.importorskip("mlforecast")
    pytest.importorskip("lightgbm")
    data = generate_catalogue(
        40,
        "2023-01-01",
        365,
        seed=5,
        intermittent_share=0.0,
        lumpy_share=0.0,
        n_categories=1,
        weekly_strength=0.2,
        level_median=30.0,
        festivals={},
        yearly_amplitude=0.1,
        **STEADY,
    )
    panel = as_panel(data.sales)[["unique_id", "ds", "y", "price", "promo"]]
    params = {"n_estimators": 100} if name == "lightgbm" else {}
    model = make_model(name, season_length=7, calendar=TradingCalendar("D"), **params)
    model.fit(model_frame(panel, True))
    future = pd.date_range(panel["ds"].max() + pd.Timedelta(days=1), periods=14)
    base = data.truth.set_index(data.truth["product_id"].astype(str))["base_price"]
    plan = pd.DataFrame(
        [(u, d) for u in base.index for d in future], columns=["unique_id", "ds"]
    ).assign(promo=0.0, rel_price=1.0, discount=0.0, price_change=0.0)
    plan["price"] = plan["unique_id"].map(base)
    forecast = model.predict(14, X_df=plan)
    share = forecast[name] / forecast.groupby("unique_id")[name].transform("mean")
    profile = share.groupby(forecast["ds"].dt.dayofweek).mean().to_numpy()
    planted = data.truth[WEEKDAYS].mean().to_numpy()
    assert np.corrcoef(profile, planted)[0, 1] > 0.95
    assert np.abs(profile - planted).max() < 0.15


def test_a_regression_on_each_product_recovers_the_sign_of_its_trend() -> None:
    data = generate_catalogue(
        150,
        "2024-01-01",
        728,
        seed=6,
        intermittent_share=0.0,
        lumpy_share=0.0,
        growth_sd=0.4,
        yearly_amplitude=0.0,
        festivals={},
        promo_rate=0.0,
        **STEADY,
    )
    weeks = data.sales.groupby(["product_id", data.sales["date"].dt.to_period("W")], observed=True)[
        "units"
    ].sum()
    frame = weeks.rename("units").reset_index()
    product = frame["product_id"]
    t = within(frame.groupby("product_id", observed=True).cumcount().astype(float), product)
    y = within(np.log1p(frame["units"]), product)
    slopes = (t * y).groupby(product, observed=True).sum() / (t * t).groupby(
        product, observed=True
    ).sum()
    truth = data.truth.set_index("product_id")["trend"].reindex(slopes.index)
    clear = truth.abs() * 728 > 0.2  # at least a fifth up or down over the two years
    assert clear.sum() > 50
    agree = (np.sign(slopes[clear]) == np.sign(truth[clear])).mean()
    assert agree > 0.95


def test_festival_days_carry_the_planted_uplift() -> None:
    data = generate_catalogue(
        300,
        "2024-09-01",
        100,
        seed=8,
        intermittent_share=0.0,
        lumpy_share=0.0,
        weekly_strength=0.0,
        yearly_amplitude=0.0,
        growth_sd=0.0,
        promo_rate=0.0,
        festivals={"double11": 3.0},
        **STEADY,
    )
    assert data.festival_effect.loc["2024-11-11"] == pytest.approx(3.0)
    assert data.festival_effect.loc["2024-10-01":"2024-10-31"].eq(1.0).all()
    daily = data.sales.groupby("date")["units"].sum()
    observed = daily.loc["2024-11-11"] / daily.loc["2024-10-01":"2024-10-31"].mean()
    truth = data.truth
    planted = (truth["level"] * 3.0 ** truth["festival_uplift"]).sum() / truth["level"].sum()
    assert observed == pytest.approx(planted, rel=0.1)
    assert planted > 2.0


def test_stock_outs_zero_the_units_but_not_the_views(data: SyntheticData) -> None:
    by_period, events = data.truth_by_period, data.events
    assert by_period is not None and events is not None
    out = by_period["stockout"].to_numpy()
    assert 0.005 < out.mean() < 0.1
    assert (data.sales["units"].to_numpy()[out] == 0).all()
    assert (events["carts"].to_numpy()[out] == 0).all()
    assert events["views"].to_numpy()[out].sum() > 0
    assert (by_period["expected"].to_numpy()[out] > 0).all()  # demand was there, censored


def test_products_are_sold_only_from_launch_until_discontinuation(data: SyntheticData) -> None:
    truth = data.truth.set_index("product_id")
    life = data.sales.groupby("product_id", observed=True)["date"].agg(["min", "max", "size"])
    assert life["min"].equals(truth["launch"].rename("min"))
    after_end = data.festival_effect.index[-1] + pd.Timedelta(days=1)
    last = truth["discontinued"].fillna(after_end)
    assert life["max"].equals((last - pd.Timedelta(days=1)).rename("max"))
    assert (life["size"] == (life["max"] - life["min"]).dt.days + 1).all()
    assert truth.loc[truth["is_new"], "launch"].gt(pd.Timestamp("2024-01-01")).all()
    assert truth.loc[~truth["is_new"], "launch"].eq(pd.Timestamp("2024-01-01")).all()
    assert 0.08 < truth["is_new"].mean() < 0.25
    assert 0.04 < truth["discontinued"].notna().mean() < 0.2


# -- into the pipeline -----------------------------------------------------------------------


def test_load_sales_detects_every_column_of_the_sales_table(data: SyntheticData) -> None:
    prepared = load_sales(data.sales)
    columns = prepared.columns
    assert columns.id_cols == ("product_id",)
    assert (columns.time_col, columns.target_col) == ("date", "units")
    assert (columns.price_col, columns.promo_col) == ("price", "promo")
    assert columns.attributes == {"category": "category", "brand": "brand", "store": "store"}
    assert prepared.calendar.freq == "D"
    assert prepared.n_series == 300
    assert set(prepared.static_df.columns) == {"unique_id", "category", "brand", "store"}
    # spikes may be capped by the default cleaning, never raised
    assert prepared.panel["y"].sum() <= data.sales["units"].sum()


def test_load_sales_takes_a_column_map_and_the_expanded_event_log(data: SyntheticData) -> None:
    chosen = data.truth["product_id"].astype(str).head(4).tolist()
    sales = data.sales[data.sales["product_id"].isin(chosen)].rename(columns={"units": "qty"})
    log = data.event_log(chosen, seed=1)
    prepared = load_sales(
        sales, ColumnMap(id_cols=("product_id",), time_col="date", target_col="qty"), events=log
    )
    panel = prepared.panel
    assert data.events is not None
    counts = plain(data.events).rename(columns={"product_id": "unique_id", "date": "ds"})
    joined = panel.merge(counts, on=["unique_id", "ds"], suffixes=("", "_drawn"), how="left")
    # the panel starts at each product's first sale and runs on past a discontinuation
    alive = joined["views_drawn"].notna()
    gone = joined["unique_id"].map(plain(data.truth).set_index("product_id")["discontinued"])
    assert (alive | (joined["ds"] >= gone)).all()
    for kind in ("views", "carts", "favourites", "purchases"):
        assert (joined.loc[alive, kind] == joined.loc[alive, f"{kind}_drawn"]).all(), kind
        assert (joined.loc[~alive, kind] == 0).all(), kind
    assert (panel["buyers"] <= panel["purchases"]).all()


def test_the_event_log_expands_the_counts_with_buyers_who_viewed_first() -> None:
    data = generate_catalogue(5, "2024-01-01", 14, freq="W", seed=4)
    log = data.event_log(n_users=500)
    assert log.columns.tolist() == ["user_id", "product_id", "behaviour", "timestamp"]
    assert log["timestamp"].is_monotonic_increasing
    events = data.events
    assert events is not None
    totals = log["behaviour"].value_counts()
    assert totals["pv"] == events["views"].sum() and totals["buy"] == events["purchases"].sum()
    # weekly periods: every action lies inside the week its period label ends
    week_end = log["timestamp"].dt.to_period("W-SUN").dt.end_time.dt.normalize()
    per_week = log.assign(date=week_end).groupby(["product_id", "date", "behaviour"]).size()
    assert per_week.sum() == len(log)
    assert per_week.xs("pv", level="behaviour").sum() == events["views"].sum()
    pairs = log[["user_id", "product_id"]].apply(tuple, axis=1)
    assert set(pairs[log["behaviour"] == "buy"]) <= set(pairs[log["behaviour"] == "pv"])


# -- bad inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"colour": "red"}, r"Unknown knob\(s\) of the synthetic catalogue: \['colour'\]"),
        ({"intermittent_share": 1.5}, "intermittent_share must be between 0 and 1"),
        ({"intermittent_share": 0.7, "lumpy_share": 0.5}, "at most 1"),
        ({"promo_days": (5, 2)}, "promo_days must be whole days"),
        ({"n_stores": 2.5}, "n_stores must be a whole number"),
        ({"festivals": {"diwali": 2.0}}, r"Unknown festival\(s\) \['diwali'\]"),
        ({"festivals": {"double11": 0.0}}, "must be positive"),
        ({"freq": "MS"}, "daily or weekly"),
        ({"n_products": 0}, "n_products must be a whole number of at least 1"),
        ({"periods": 0}, "periods must be a whole number"),
        ({"start": "not a date"}, "start must be a date"),
        ({"seed": -1}, "seed must be a non-negative whole number"),
    ],
)
def test_bad_settings_are_refused_with_a_message_naming_them(
    kwargs: dict[str, object], message: str
) -> None:
    settings: dict[str, object] = {"n_products": 5, "periods": 10} | kwargs
    with pytest.raises(ConfigError, match=message):
        generate_catalogue(**settings)  # type: ignore[arg-type]


def test_knobs_are_a_documented_dataclass_with_sane_defaults() -> None:
    knobs = CatalogueKnobs()
    assert knobs.intermittent_share + knobs.lumpy_share < 1
    assert set(knobs.festivals) <= {
        "618",
        "double11",
        "double12",
        "black_friday",
        "cyber_monday",
        "christmas",
        "spring_festival",
    }


def test_an_oversized_or_unknown_event_log_request_is_refused(data: SyntheticData) -> None:
    with pytest.raises(ConfigError, match="more than max_events=1,000"):
        data.event_log(max_events=1_000)
    with pytest.raises(InputError, match="Products not in the synthetic catalogue"):
        data.event_log(["nope"])
    lean = generate_catalogue(3, periods=10, behaviour=False)
    with pytest.raises(ConfigError, match="made without behaviour"):
        lean.event_log()
