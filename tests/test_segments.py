import math

import numpy as np
import pandas as pd
import pytest

from trendcast.evaluation import classify_demand
from trendcast.exceptions import ConfigError, InputError


def panel(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.concat(
        [
            pd.DataFrame(
                {"unique_id": uid, "ds": pd.date_range("2024-01-01", periods=len(ys)), "y": ys}
            )
            for uid, ys in values.items()
        ],
        ignore_index=True,
    )


SERIES = {
    "big": [10.0] * 12,
    "mid": [5.0] * 12,
    "small": [2.0] * 12,
    # demand every other period, always 4: ADI 12/6 = 2, CV² 0
    "sporadic": [0.0, 4.0] * 6,
    # 4 demands in 12 periods (ADI 3), sizes 1, 1, 1, 9: mean 3, variance 12, CV² 12/9
    "lumpy": [1.0, 0, 0, 1.0, 0, 0, 1.0, 0, 0, 9.0, 0, 0],
    "never": [0.0] * 12,
}


def test_classify_demand_puts_constructed_series_in_their_segments():
    result = classify_demand(panel(SERIES)).set_index("unique_id")

    # the median mean demand of the regular series (10, 5, 2) is 5
    assert result["segment"].to_dict() == {
        "big": "fast",
        "lumpy": "lumpy",
        "mid": "fast",
        "never": "dead",
        "small": "slow",
        "sporadic": "intermittent",
    }


def test_classify_demand_reports_adi_cv2_mean_demand_and_zero_share():
    result = classify_demand(panel(SERIES)).set_index("unique_id")

    assert list(result.reset_index().columns) == [
        "unique_id",
        "segment",
        "adi",
        "cv2",
        "mean_demand",
        "zero_share",
    ]
    assert result.loc["sporadic", ["adi", "cv2", "mean_demand", "zero_share"]].tolist() == [
        2.0,
        0.0,
        2.0,
        0.5,
    ]
    assert result.loc["lumpy", "adi"] == 3.0
    assert result.loc["lumpy", "cv2"] == pytest.approx(12 / 9)
    assert result.loc["lumpy", "mean_demand"] == 1.0
    assert result.loc["lumpy", "zero_share"] == pytest.approx(8 / 12)


def test_a_dead_series_has_no_adi_or_cv2():
    dead = classify_demand(panel(SERIES)).set_index("unique_id").loc["never"]

    assert math.isnan(dead["adi"]) and math.isnan(dead["cv2"])
    assert (dead["mean_demand"], dead["zero_share"]) == (0.0, 1.0)


def test_a_series_exactly_at_the_adi_threshold_is_intermittent():
    ys = [0.0] * 8 + [3.0] * 25  # 33 periods / 25 demands = 1.32

    result = classify_demand(panel({"edge": ys, "regular": [3.0] * 33}))

    assert result["segment"].tolist() == ["intermittent", "fast"]


def test_recent_window_classifies_only_the_last_periods():
    stopped = [6.0] * 20 + [0.0] * 6

    full = classify_demand(panel({"stopped": stopped}))
    recent = classify_demand(panel({"stopped": stopped}), recent=6)

    assert full.loc[0, "segment"] == "fast"
    assert recent.loc[0, "segment"] == "dead"


def test_classify_demand_sorts_an_unsorted_panel_first():
    shuffled = panel(SERIES).sample(frac=1.0, random_state=3)

    pd.testing.assert_frame_equal(classify_demand(shuffled), classify_demand(panel(SERIES)))


def test_classify_demand_names_the_missing_columns():
    with pytest.raises(InputError, match=r"missing from the panel: \['y'\]"):
        classify_demand(panel(SERIES).drop(columns="y"))


def test_classify_demand_rejects_missing_sales_values():
    data = panel(SERIES)
    data.loc[3, "y"] = np.nan

    with pytest.raises(InputError, match=r"missing y for series \['big'\]"):
        classify_demand(data)


def test_classify_demand_rejects_an_empty_recent_window():
    with pytest.raises(ConfigError, match="recent must be at least 1"):
        classify_demand(panel(SERIES), recent=0)
