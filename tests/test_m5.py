"""The M5 loader, on ten real M5 series in the official file format."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trendcast.datasets import M5Data, load_m5
from trendcast.exceptions import ConfigError, InputError

M5_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "m5_sample"
FILES = (
    "sales_train_validation.csv",
    "sales_test_validation.csv",
    "calendar.csv",
    "sell_prices.csv",
)

pytestmark = pytest.mark.skipif(
    not M5_DIR.is_dir(), reason=f"M5 sample data not found at {M5_DIR} (development data only)"
)


@pytest.fixture(scope="module")
def m5() -> M5Data:
    return load_m5(M5_DIR)


@pytest.fixture(scope="module")
def m5_with_test() -> M5Data:
    return load_m5(M5_DIR, include_test=True)


@pytest.fixture(scope="module")
def wide() -> pd.DataFrame:
    return pd.read_csv(M5_DIR / "sales_train_validation.csv").set_index("id")


@pytest.fixture(scope="module")
def wide_test() -> pd.DataFrame:
    return pd.read_csv(M5_DIR / "sales_test_validation.csv").set_index("id")


def copy_sample(target: Path, skip: tuple[str, ...] = ()) -> Path:
    for name in FILES:
        if name not in skip:
            shutil.copy(M5_DIR / name, target / name)
    return target


def day_values(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.filter(regex=r"^d_\d+$")


def test_load_m5_returns_the_ten_sample_series_with_their_hierarchy(m5, wide):
    assert m5.panel["unique_id"].nunique() == 10
    assert set(m5.panel["unique_id"]) == set(wide.index)
    assert list(m5.panel.columns) == [
        "unique_id",
        "ds",
        "y",
        "price",
        "event_name_1",
        "event_type_1",
        "snap",
    ]
    assert list(m5.static_df.columns) == [
        "unique_id",
        "item_id",
        "dept_id",
        "cat_id",
        "store_id",
        "state_id",
    ]
    static = m5.static_df.set_index("unique_id")
    pd.testing.assert_frame_equal(static, wide.loc[static.index, static.columns], check_names=False)


def test_panel_is_sorted_with_float_y_and_datetime_ds(m5):
    panel = m5.panel
    assert panel["y"].dtype == np.float64
    assert panel["price"].dtype == np.float64
    assert panel["ds"].dtype == "datetime64[ns]"
    assert panel["snap"].dtype == np.int8
    assert panel.equals(panel.sort_values(["unique_id", "ds"], ignore_index=True))


def test_day_one_maps_to_2011_01_29_and_training_ends_on_2016_04_24(m5, wide):
    series = "FOODS_1_001_CA_3_validation"  # sells on d_1
    rows = m5.panel[m5.panel["unique_id"] == series]
    assert rows["ds"].iloc[0] == pd.Timestamp("2011-01-29")
    assert rows["y"].iloc[0] == wide.loc[series, "d_1"]
    assert m5.panel["ds"].max() == pd.Timestamp("2016-04-24")  # d_1913
    assert m5.calendar.loc[m5.calendar["d"] == "d_1", "ds"].item() == pd.Timestamp("2011-01-29")


def test_series_start_at_their_first_sale_with_unchanged_totals(m5, wide):
    days = day_values(wide)
    for series, rows in m5.panel.groupby("unique_id"):
        sales = days.loc[series].to_numpy()
        first_sale = int(np.flatnonzero(sales)[0])
        assert rows["y"].iloc[0] > 0
        assert len(rows) == len(sales) - first_sale
        assert rows["y"].sum() == sales.sum()
        assert (rows["ds"].diff().dropna() == pd.Timedelta(days=1)).all()


def test_include_test_adds_the_28_test_days_to_every_series(m5, m5_with_test, wide, wide_test):
    before = m5.panel.groupby("unique_id").size()
    after = m5_with_test.panel.groupby("unique_id").size()
    assert (after - before == 28).all()
    assert m5_with_test.panel["ds"].max() == pd.Timestamp("2016-05-22")  # d_1941
    last_days = m5_with_test.panel.groupby("unique_id")["ds"].max()
    assert (last_days == pd.Timestamp("2016-05-22")).all()
    totals = m5_with_test.panel.groupby("unique_id")["y"].sum()
    expected = day_values(wide).sum(axis=1) + day_values(wide_test).sum(axis=1)
    expected = expected.loc[totals.index].astype(float)
    pd.testing.assert_series_equal(totals, expected, check_names=False)


def test_prices_are_present_for_ca_1_and_ca_2_items_and_nan_for_the_others(m5):
    store = m5.panel["unique_id"].str.extract(r"_([A-Z]{2}_\d)_validation$")[0]
    priced = store.isin(["CA_1", "CA_2"])
    assert m5.panel.loc[priced, "price"].notna().all()
    assert m5.panel.loc[~priced, "price"].isna().all()


def test_price_is_the_weekly_sell_price_of_the_series_store_and_item(m5):
    prices = pd.read_csv(M5_DIR / "sell_prices.csv")
    rows = m5.panel[m5.panel["unique_id"] == "HOUSEHOLD_1_002_CA_2_validation"]
    weeks = rows.merge(m5.calendar[["ds", "wm_yr_wk"]], on="ds")
    shop = prices[(prices["store_id"] == "CA_2") & (prices["item_id"] == "HOUSEHOLD_1_002")]
    expected = weeks.merge(shop, on="wm_yr_wk", how="left")["sell_price"]
    np.testing.assert_array_equal(weeks["price"].to_numpy(), expected.to_numpy())


def test_snap_follows_each_series_own_state(m5):
    panel = m5.panel.merge(m5.static_df[["unique_id", "state_id"]], on="unique_id")
    panel = panel.merge(m5.calendar[["ds", "snap_CA", "snap_TX", "snap_WI"]], on="ds")
    for state in ("CA", "TX", "WI"):
        rows = panel[panel["state_id"] == state]
        assert len(rows) > 0
        assert (rows["snap"] == rows[f"snap_{state}"]).all()


def test_event_columns_come_from_the_calendar(m5):
    panel = m5.panel.merge(m5.calendar[["ds", "event_name_1"]], on="ds", suffixes=("", "_cal"))
    np.testing.assert_array_equal(
        panel["event_name_1"].astype(object).fillna("").to_numpy(),
        panel["event_name_1_cal"].fillna("").to_numpy(),
    )
    assert "SuperBowl" in set(m5.panel["event_name_1"].dropna())


def test_aggregate_levels_sum_the_item_store_series(m5):
    store = load_m5(M5_DIR, level="store")
    assert sorted(store.panel["unique_id"].unique()) == ["CA_1", "CA_2", "CA_3", "TX_1", "WI_1"]
    assert list(store.static_df.columns) == ["unique_id", "store_id", "state_id"]
    assert "price" not in store.panel.columns
    total = load_m5(M5_DIR, level="total")
    assert list(total.panel["unique_id"].unique()) == ["Total"]
    assert "snap" not in total.panel.columns
    for level in (store, total):
        assert level.panel["y"].sum() == m5.panel["y"].sum()


def test_item_level_averages_the_store_prices_and_has_no_snap():
    item = load_m5(M5_DIR, level="item")
    assert "snap" not in item.panel.columns
    priced = item.panel[item.panel["unique_id"] == "HOBBIES_1_001"]
    assert priced["price"].notna().all()


def test_sales_file_can_be_named_explicitly(m5):
    named = load_m5(M5_DIR, sales_file="sales_train_validation.csv")
    pd.testing.assert_frame_equal(named.panel, m5.panel)


def test_unknown_level_raises_config_error():
    with pytest.raises(ConfigError, match="Unknown M5 level 'sku'"):
        load_m5(M5_DIR, level="sku")


def test_missing_folder_raises_input_error_with_the_fix(tmp_path):
    with pytest.raises(InputError, match="not found. Point --m5-dir"):
        load_m5(tmp_path / "nowhere")


def test_missing_calendar_raises_input_error_naming_the_file(tmp_path):
    folder = copy_sample(tmp_path, skip=("calendar.csv",))
    with pytest.raises(InputError, match=r"M5 file 'calendar.csv' not found in .*Point --m5-dir"):
        load_m5(folder)


def test_missing_sales_file_raises_input_error_naming_the_expected_files(tmp_path):
    folder = copy_sample(tmp_path, skip=("sales_train_validation.csv",))
    with pytest.raises(InputError, match="expected 'sales_train_evaluation.csv' or"):
        load_m5(folder)


def test_include_test_without_the_test_file_raises_input_error(tmp_path):
    folder = copy_sample(tmp_path, skip=("sales_test_validation.csv",))
    with pytest.raises(InputError, match="'sales_test_validation.csv' not found.*include_test"):
        load_m5(folder, include_test=True)


def test_sales_file_without_id_columns_raises_input_error_naming_them(tmp_path):
    folder = copy_sample(tmp_path)
    sales = pd.read_csv(folder / "sales_train_validation.csv").drop(columns=["store_id"])
    sales.to_csv(folder / "sales_train_validation.csv", index=False)
    with pytest.raises(InputError, match=r"Columns missing .*\['store_id'\]"):
        load_m5(folder)


def test_calendar_without_the_series_snap_column_raises_input_error(tmp_path):
    folder = copy_sample(tmp_path)
    calendar = pd.read_csv(folder / "calendar.csv").drop(columns=["snap_WI"])
    calendar.to_csv(folder / "calendar.csv", index=False)
    with pytest.raises(InputError, match=r"Columns missing .*'calendar.csv': \['snap_WI'\]"):
        load_m5(folder)


def test_repeated_prices_raise_input_error_naming_the_key(tmp_path):
    folder = copy_sample(tmp_path)
    prices = pd.read_csv(folder / "sell_prices.csv")
    pd.concat([prices, prices.head(1)]).to_csv(folder / "sell_prices.csv", index=False)
    key = r"\('CA_1', 'HOBBIES_1_001', 11325\)"
    with pytest.raises(InputError, match=f"more than one price .*{key}"):
        load_m5(folder)


def test_non_numeric_sales_raise_input_error_naming_the_column(tmp_path):
    folder = copy_sample(tmp_path)
    sales = pd.read_csv(folder / "sales_train_validation.csv")
    sales["d_5"] = sales["d_5"].astype(object)
    sales.loc[0, "d_5"] = "n/a"
    sales.to_csv(folder / "sales_train_validation.csv", index=False)
    with pytest.raises(InputError, match=r"non-integer unit sales in columns \['d_5'\]"):
        load_m5(folder)


def test_m5_events_and_snap_days_become_known_ahead_features_of_the_global_models() -> None:
    from trendcast.features.covariates import model_frame
    from trendcast.models import make_model
    from trendcast.pipeline import load_sales

    data = load_sales(M5_DIR)
    events = data.calendar.events
    assert events is not None
    calendar = pd.read_csv(M5_DIR / "calendar.csv", parse_dates=["date"]).set_index("date")
    # the flags cover the forecast horizon too: the M5 calendar runs past the sales
    assert events.index.max() == calendar.index.max() > data.panel["ds"].max()
    sporting = calendar.index[
        (calendar["event_type_1"] == "Sporting") | (calendar["event_type_2"] == "Sporting")
    ]
    assert set(events.index[events["event_Sporting"] == 1]) == set(sporting)
    assert (events["snap_CA"].to_numpy() == calendar["snap_CA"].to_numpy()).all()

    model = make_model("lightgbm", season_length=7, calendar=data.calendar)
    model.fit(model_frame(data.panel, True), static_df=data.static_df)
    features = set(model._importance()["feature"])
    assert {"event_Sporting", "event_National", "snap_CA", "snap_TX", "snap_WI"} <= features
