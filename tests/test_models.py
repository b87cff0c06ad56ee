"""Contract tests over every registered model, plus the statsforecast engine's edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from panels import weekly_panel
from trendcast.data.calendar import TradingCalendar
from trendcast.exceptions import ModelError
from trendcast.models import available_models, get_model_class, make_model, models_table, register
from trendcast.models.base import Forecaster, cutoffs_for, interval_columns

LEVELS = [80, 95]
H = 7


_panel = weekly_panel


# the networks and foundation models run the same assertions with tiny settings in their own
# test files; at default settings they would add minutes here
CONTRACT_MODELS = [
    m for m in available_models() if get_model_class(m).family not in ("neural", "foundation")
]


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return _panel()


@pytest.mark.parametrize("name", CONTRACT_MODELS)
def test_every_model_forecasts_every_series_with_ordered_non_negative_intervals(
    name: str, panel: pd.DataFrame
) -> None:
    model = make_model(name, season_length=7, calendar=TradingCalendar("D"))
    fc = model.fit(panel).predict(H, levels=LEVELS)
    cols = [name, *interval_columns(name, LEVELS)]
    assert list(fc.columns[:2]) == ["unique_id", "ds"]
    assert set(cols) <= set(fc.columns)
    assert fc.groupby("unique_id").size().to_dict() == {f"sku{i}": H for i in range(4)}
    first = fc.groupby("unique_id")["ds"].min()
    assert (first == panel["ds"].max() + pd.Timedelta(days=1)).all()
    values = fc[cols].to_numpy()
    assert np.isfinite(values).all()
    assert (values >= 0).all()
    assert (fc[f"{name}-lo-95"] <= fc[f"{name}-lo-80"] + 1e-9).all()
    assert (fc[f"{name}-lo-80"] <= fc[name] + 1e-9).all()
    assert (fc[name] <= fc[f"{name}-hi-80"] + 1e-9).all()
    assert (fc[f"{name}-hi-80"] <= fc[f"{name}-hi-95"] + 1e-9).all()


@pytest.mark.parametrize("name", CONTRACT_MODELS)
def test_every_model_backtests_on_common_cutoffs_with_actuals(
    name: str, panel: pd.DataFrame
) -> None:
    model = make_model(name, season_length=7, calendar=TradingCalendar("D"))
    cv = model.cross_validation(panel, h=H, n_windows=2, step=H, levels=LEVELS)
    assert {"unique_id", "ds", "cutoff", "y", name} <= set(cv.columns)
    assert sorted(cv["cutoff"].unique()) == cutoffs_for(panel, H, 2, H)
    assert len(cv) == 4 * 2 * H
    assert (cv["ds"] > cv["cutoff"]).all()
    truth = panel.set_index(["unique_id", "ds"])["y"]
    assert np.allclose(
        cv.set_index(["unique_id", "ds"])["y"], truth.loc[cv.set_index(["unique_id", "ds"]).index]
    )


@pytest.mark.parametrize("name", available_models())
def test_every_model_declares_its_capabilities(name: str) -> None:
    row = models_table().set_index("model").loc[name]
    assert row["family"] in {
        "baseline",
        "statistical",
        "intermittent",
        "ensemble",
        "machine_learning",
        "neural",
        "foundation",
    }
    assert isinstance(row["description"], str) and row["description"]
    assert row["intervals"]


def test_a_closed_weekday_never_appears_in_forecasts() -> None:
    panel = _panel(n_series=2, closed=(5,))
    cal = TradingCalendar("D", closed_weekdays=(5,))
    fc = (
        make_model("auto_ets", season_length=cal.season_length, calendar=cal).fit(panel).predict(14)
    )
    assert len(fc) == 28
    assert not (fc["ds"].dt.dayofweek == 5).any()


def test_series_too_short_for_a_model_fall_back_and_are_named() -> None:
    panel = _panel(n_series=2)
    short = pd.DataFrame(
        {
            "unique_id": "new",
            "ds": panel["ds"].max() - pd.to_timedelta([2, 1, 0], unit="D"),
            "y": [1.0, 0, 2],
        }
    )
    model = make_model("auto_ets", season_length=7, calendar=TradingCalendar("D"))
    fc = model.fit(pd.concat([panel, short])).predict(H, levels=LEVELS)
    assert model.fallback_ == {"new"}
    assert np.allclose(fc.loc[fc["unique_id"] == "new", "auto_ets"], 1.0)
    assert fc["auto_ets-lo-80"].notna().all()


def test_remembered_normal_quantiles_are_statsforecasts_own_numbers() -> None:
    import statsforecast.models as sf_models
    import statsforecast.utils as sf_utils
    from scipy import stats

    from trendcast.models.statistical import remember_normal_quantiles

    remember_normal_quantiles()
    remember_normal_quantiles()  # idempotent: still one layer over the original
    remembered = sf_models._quantiles
    assert remembered is sf_utils._quantiles and remembered.remembers
    for levels in ([80, 95], [95, 80], np.array([50.0, 99.0]), [80, 95]):
        z = remembered(levels)
        assert np.array_equal(z, stats.norm.ppf(0.5 + np.asarray(levels) / 200))
        z[:] = 0.0  # a caller changing its copy changes nothing remembered
    assert np.array_equal(remembered([80, 95]), stats.norm.ppf([0.9, 0.975]))
    # other error distributions are computed every time, as statsforecast does
    t = remembered([80], distribution="t", dist_params={"df": 3})
    assert np.allclose(t, stats.t(df=3).ppf(0.9))
    # and the models' intervals are unchanged by it
    panel = _panel(n_series=2)
    fc = (
        make_model("naive", season_length=7, calendar=TradingCalendar("D"))
        .fit(panel)
        .predict(H, levels=LEVELS)
    )
    last = panel.groupby("unique_id")["y"].last()
    first = fc.groupby("unique_id").head(1).set_index("unique_id")
    sigma = (first["naive-hi-95"] - first["naive"]) / stats.norm.ppf(0.975)
    band80 = first["naive"] + sigma * stats.norm.ppf(0.9)
    assert np.allclose(first["naive-hi-80"], band80)
    assert np.allclose(first["naive"], last.loc[first.index])


def test_seasonal_naive_repeats_last_week_exactly() -> None:
    panel = _panel(n_series=1)
    fc = (
        make_model("seasonal_naive", season_length=7, calendar=TradingCalendar("D"))
        .fit(panel)
        .predict(H)
    )
    assert np.array_equal(fc["seasonal_naive"].to_numpy(), panel["y"].to_numpy()[-7:])


def test_auto_backtest_chooses_each_window_only_on_earlier_windows() -> None:
    panel = _panel(n_series=3)
    auto = make_model(
        "auto",
        season_length=7,
        calendar=TradingCalendar("D"),
        candidates=("naive", "seasonal_naive"),
    )
    cv = auto.cross_validation(panel, h=H, n_windows=2, step=H, levels=LEVELS)
    cand = auto.candidate_cv_
    # the evaluated windows are the last two; the earliest candidate window only feeds the choice
    assert sorted(cv["cutoff"].unique()) == sorted(cand["cutoff"].unique())[-2:]
    # change the actuals of the last window: the choice for that window must not move
    later = cand["cutoff"] == cand["cutoff"].max()
    tampered = cand.copy()
    tampered.loc[later, "y"] = 1e6
    again = auto.select_over_windows(tampered, H, 2, H, LEVELS)
    last = cv["cutoff"] == cv["cutoff"].max()
    assert list(again.loc[last.to_numpy(), "model"]) == list(cv.loc[last, "model"])


def test_auto_picks_the_model_that_wins_on_recent_windows() -> None:
    # a strongly weekly series: seasonal naive is far better than naive
    dates = pd.date_range("2024-01-01", periods=120, freq="D")
    y = np.tile([0, 0, 0, 0, 0, 50, 50], 18)[:120].astype(float)
    panel = pd.DataFrame({"unique_id": "weekly", "ds": dates, "y": y})
    auto = make_model(
        "auto",
        season_length=7,
        calendar=TradingCalendar("D"),
        candidates=("naive", "seasonal_naive"),
    )
    fc = auto.fit(panel).predict(H)
    assert auto.choice_["weekly"] == "seasonal_naive"
    assert np.array_equal(fc["auto"].to_numpy(), y[-7:])


def test_unknown_model_names_the_available_ones() -> None:
    with pytest.raises(ModelError, match="Unknown model 'prophet'.*seasonal_naive"):
        make_model("prophet")


def test_a_backtest_longer_than_the_history_says_what_to_shorten() -> None:
    panel = _panel(n_series=1, n_days=20)
    with pytest.raises(ModelError, match="needs more than 28 periods.*--windows"):
        cutoffs_for(panel, h=14, n_windows=2, step=14)


def test_a_third_party_model_registers_like_a_builtin() -> None:
    @register("test_constant")
    class Constant(Forecaster):
        description = "Always 1."

        def fit(self, df, static_df=None):  # type: ignore[no-untyped-def]
            self.ids_ = df["unique_id"].unique()
            self.last_ = df["ds"].max()
            return self

        def predict(self, h, X_df=None, levels=()):  # type: ignore[no-untyped-def]
            dates = pd.date_range(self.last_, periods=h + 1, freq="D")[1:]
            return pd.DataFrame(
                [(u, d, 1.0) for u in self.ids_ for d in dates],
                columns=["unique_id", "ds", self.alias],
            )

    try:
        assert "test_constant" in available_models()
        cv = make_model("test_constant").cross_validation(_panel(n_series=1), h=3, n_windows=2)
        assert (cv["test_constant"] == 1.0).all() and len(cv) == 6
    finally:
        from trendcast.models import registry

        registry._REGISTRY.pop("test_constant")


def test_a_time_budget_falls_back_to_the_fast_candidates_and_says_what_it_skipped() -> None:
    auto = make_model(
        "auto",
        season_length=7,
        calendar=TradingCalendar("D"),
        time_budget=0.001,
        candidates=("seasonal_naive", "window_average", "auto_ets"),
    )
    fc = auto.fit(_panel(n_series=2)).predict(H, levels=LEVELS)
    assert auto.candidates_ == ("seasonal_naive", "window_average")
    assert "time budget" in auto.skipped_["auto_ets"]
    assert len(fc) == 2 * H


def test_auto_times_an_expensive_statistical_candidate_on_a_sample_before_running_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trendcast.models.auto import PILOT_MIN_SERIES, AutoSelect

    panel = _panel(n_series=4 * PILOT_MIN_SERIES)
    auto = make_model("auto", season_length=7, calendar=TradingCalendar("D"), time_budget=1e6)
    base = panel[["unique_id", "ds", "y"]]
    ets = make_model("auto_ets", season_length=7, calendar=TradingCalendar("D"))
    fast = make_model("seasonal_naive", season_length=7, calendar=TradingCalendar("D"))
    assert auto._pilot_seconds(ets, base, H, LEVELS, 2, H) > 0
    assert auto._pilot_seconds(fast, base, H, LEVELS, 2, H) is None  # the batch is timed itself
    small = base[base["unique_id"].isin(base["unique_id"].unique()[:10])]
    assert auto._pilot_seconds(ets, small, H, LEVELS, 2, H) is None  # too few series to sample
    # on a cluster a small call is mostly the engine's overhead: no sample, the rough estimate
    monkeypatch.setattr("trendcast.engines.active_engine", lambda: object())
    assert auto._pilot_seconds(ets, base, H, LEVELS, 2, H) is None
    monkeypatch.undo()
    # a sample that says the candidate would not fit the budget skips it, saying so
    monkeypatch.setattr(AutoSelect, "_pilot_seconds", lambda self, *a: 1e9)
    picky = make_model(
        "auto",
        season_length=7,
        calendar=TradingCalendar("D"),
        time_budget=1e6,
        candidates=("seasonal_naive", "auto_ets"),
    )
    picky.fit(panel).predict(H)
    assert picky.candidates_ == ("seasonal_naive",)
    assert "estimated from a sample of the series" in picky.skipped_["auto_ets"]


def test_auto_skips_a_foundation_model_whose_weights_are_not_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache, and no network asked
    auto = make_model(
        "auto",
        season_length=7,
        calendar=TradingCalendar("D"),
        time_budget=1e6,
        candidates=("seasonal_naive", "window_average", "chronos_bolt"),
    )
    auto.fit(_panel(n_series=2)).predict(H)
    assert "chronos_bolt" not in auto.candidates_
    assert auto.skipped_["chronos_bolt"].startswith("no local weights")


def test_auto_defaults_to_a_single_model_that_wins_across_the_series() -> None:
    """A model a little better than the ensembles everywhere is the default, though no series
    alone would switch to it (it wins by less than the margin)."""
    auto = make_model("auto", season_length=7, calendar=TradingCalendar("D"))
    auto.candidates_ = ("a", "b", "c")
    rows = []
    for uid in ("s1", "s2", "s3"):
        for day in range(14):
            y = 10.0 + (day % 3)
            rows.append(
                {
                    "unique_id": uid,
                    "ds": day,
                    "cutoff": 0,
                    "y": y,
                    "a": y + 1.0,
                    "b": y - 1.25,
                    "c": y + 1.5,
                    "median_ensemble": y + 1.1,
                    "weighted_ensemble": y + 1.05,
                }
            )
    cv = pd.DataFrame(rows)

    choice = auto.choose(cv)

    assert set(choice) == {"a"}
    cv["a"] += 0.2  # now the weighted ensemble does best overall
    assert set(auto.choose(cv)) == {"weighted_ensemble"}


def _mixed_lengths_panel() -> pd.DataFrame:
    """Intermittent daily series ending together, some long, some between the length a
    backtest needs for points and the longer one it needs for conformal intervals."""
    rng = np.random.default_rng(7)
    end = pd.Timestamp("2024-06-30")
    frames = []
    for k, n in enumerate([120, 90, 26, 22, 19, 10]):
        y = rng.poisson(0.6, n) * rng.integers(1, 6, n)
        y[0] = 3  # each series starts with a sale
        dates = pd.date_range(end=end, periods=n, freq="D")
        frames.append(pd.DataFrame({"unique_id": f"s{k}", "ds": dates, "y": y.astype(float)}))
    return pd.concat(frames, ignore_index=True)


def test_a_points_only_backtest_gives_the_points_and_fallbacks_of_one_with_intervals() -> None:
    from trendcast.models.statistical import sf_cross_validation

    panel = _mixed_lengths_panel()
    calendar = TradingCalendar("D")
    models = [
        make_model(n, season_length=7, calendar=calendar)
        for n in ("seasonal_naive", "croston", "adida", "window_average")
    ]
    full, fb_full = sf_cross_validation(models, panel, H, 2, H, LEVELS, calendar)
    points, fb_points = sf_cross_validation(models, panel, H, 2, H, LEVELS, calendar, 1, True)
    names = [m.alias for m in models]
    assert list(points.columns) == ["unique_id", "ds", "cutoff", "y", *names]
    pd.testing.assert_frame_equal(points, full[points.columns])
    # the short series are too short for the conformal windows: they fall back either way
    assert fb_points == fb_full
    assert fb_full["croston"] >= {"s3", "s4"}


def test_auto_chooses_on_points_alone_and_forecasts_as_if_it_had_the_intervals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trendcast.models.auto import AutoSelect

    panel = _mixed_lengths_panel()
    settings = {
        "season_length": 7,
        "calendar": TradingCalendar("D"),
        "candidates": ("seasonal_naive", "croston", "adida", "window_average"),
    }
    fast = make_model("auto", **settings)
    fc = fast.fit(panel).predict(H, levels=LEVELS)
    original = AutoSelect._run_candidates

    def with_intervals(self: AutoSelect, *args: object, **kwargs: object) -> pd.DataFrame:
        # as auto ran before: intervals in the selection windows, and every candidate's bounds
        # on every series in the forecast
        kwargs = {**kwargs, "points_only": False, "bounds_for": None}
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(AutoSelect, "_run_candidates", with_intervals)
    slow = make_model("auto", **settings)
    expected = slow.fit(panel).predict(H, levels=LEVELS)
    pd.testing.assert_frame_equal(fc, expected)
    assert fast.choice_.equals(slow.choice_)
    # the newest series is too short for the selection windows: it takes a candidate's bounds
    assert "s5" not in set(fast.choice_.index)
    newest = fc[fc["unique_id"] == "s5"]
    assert (newest["auto-hi-95"] > newest["auto"]).any()


def test_auto_reads_covariates_only_when_a_candidate_does() -> None:
    calendar = TradingCalendar("D")
    local = make_model("auto", calendar=calendar, candidates=("seasonal_naive", "croston"))
    assert local.covariates_used() == (False, False)
    boosted = make_model("auto", calendar=calendar, candidates=("seasonal_naive", "lightgbm"))
    assert boosted.covariates_used()[0]
    assert make_model("lightgbm", calendar=calendar).covariates_used()[0]
    assert make_model("croston", calendar=calendar).covariates_used() == (False, False)
