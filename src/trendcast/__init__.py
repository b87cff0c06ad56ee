"""trendcast: e-commerce sales trend forecasting.

From raw order lines to clean per-product series, backtested forecasts with
intervals, and a report::

    import trendcast as tc

    data = tc.load_sales("orders.csv")            # clean + aggregate, report in data.report
    fc = tc.forecast(data, horizon=28)            # auto model choice per product
    bt = tc.backtest(data, horizon=28, windows=3) # leaderboard in bt.leaderboard
"""

from trendcast.config import BacktestConfig, CleaningConfig, ForecastConfig
from trendcast.data.columns import ColumnMap
from trendcast.data.prepare import PreparedData, prepare_sales
from trendcast.exceptions import (
    ConfigError,
    InputError,
    MissingDependencyError,
    ModelError,
    StoreError,
    TrendcastError,
)
from trendcast.models import Forecaster, available_models, make_model, register
from trendcast.pipeline import RunResult, backtest, forecast, load_sales, run, to_output

__version__ = "0.1.0"

__all__ = [
    "BacktestConfig",
    "CleaningConfig",
    "ColumnMap",
    "ConfigError",
    "Forecaster",
    "ForecastConfig",
    "InputError",
    "MissingDependencyError",
    "ModelError",
    "PreparedData",
    "RunResult",
    "StoreError",
    "TrendcastError",
    "available_models",
    "backtest",
    "forecast",
    "load_sales",
    "make_model",
    "prepare_sales",
    "register",
    "run",
    "to_output",
]
