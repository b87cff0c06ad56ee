"""Pinned forecast quality on a small real slice, so a regression in accuracy fails CI.

The slice: the 40 busiest products of the embedded demo (real UCI Online Retail
order lines), daily, horizon 14, 2 rolling windows. Numbers pinned on
2026-11-21; they may only move down (better) or within the tolerance.
"""

from __future__ import annotations

import pytest

from trendcast.evaluation.backtest import run_backtest
from trendcast.pipeline import load_sales

PINNED_MASE = {"auto": 0.911, "seasonal_naive": 1.174, "window_average": 0.885}
TOLERANCE = 0.02


@pytest.fixture(scope="module")
def board():  # type: ignore[no-untyped-def]
    data = load_sales(None)
    selling = data.panel[data.panel["y"] > 0].groupby("unique_id").size()
    top = selling.sort_values(ascending=False, kind="stable").index[:40]
    panel = data.panel[data.panel["unique_id"].isin(top)]
    result = run_backtest(
        panel,
        data.calendar,
        horizon=14,
        windows=2,
        models=["auto", "seasonal_naive", "window_average"],
        levels=[80],
    )
    return result.leaderboard.set_index("model")


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(PINNED_MASE))
def test_mase_on_the_demo_slice_does_not_regress(board, model: str) -> None:  # type: ignore[no-untyped-def]
    assert board.loc[model, "mase"] <= PINNED_MASE[model] * (1 + TOLERANCE)


@pytest.mark.slow
def test_auto_beats_seasonal_naive_by_a_clear_margin(board) -> None:  # type: ignore[no-untyped-def]
    assert board.loc["auto", "mase"] <= 0.85 * board.loc["seasonal_naive", "mase"]
