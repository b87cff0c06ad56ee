"""The whole path in a few calls: load -> prepare -> backtest -> forecast -> store -> report.

The CLI, the API and the dashboard call these functions; they hold no
forecasting logic of their own.

Examples
--------
>>> import trendcast as tc
>>> data = tc.load_sales()                      # the embedded demo order lines
>>> fc = tc.forecast(data, horizon=28)          # doctest: +SKIP
>>> result = tc.run(out_dir="trendcast-out")    # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from trendcast.config import BacktestConfig, CleaningConfig, ForecastConfig
from trendcast.data.columns import ColumnMap
from trendcast.data.io import read_table
from trendcast.data.prepare import InputMode, PreparedData, prepare_sales
from trendcast.engines import Engine, as_engine, distribute, engine_scope
from trendcast.evaluation.backtest import DEFAULT_BACKTEST_MODELS, BacktestResult, run_backtest
from trendcast.exceptions import ConfigError
from trendcast.features.calendar import event_flags
from trendcast.features.covariates import behaviour_table, join_behaviour, model_frame
from trendcast.models.auto import AutoSelect
from trendcast.models.base import interval_columns
from trendcast.models.registry import make_model
from trendcast.models.statistical import FALLBACK_MODEL

__all__ = [
    "load_sales",
    "forecast",
    "backtest",
    "run",
    "analyze",
    "AnalysisRun",
    "analysis_inputs",
    "insight_tables",
    "storable",
    "stored_insight",
    "training_histories",
    "RunResult",
    "data_tables",
    "fit_forecast",
    "forecast_from_run",
    "record",
    "to_output",
    "write_atomic",
    "write_csv_atomic",
]

Progress = Callable[[str], None]
#: ``DataFrame.attrs`` key of the known-ahead calendar flags a reader found (M5 events, SNAP)
CALENDAR_EVENTS = "trendcast_calendar_events"


def _quiet(_msg: str) -> None:
    return None


def load_sales(
    input: str | Path | pd.DataFrame | None = None,
    columns: ColumnMap | None = None,
    *,
    freq: str | None = None,
    mode: InputMode = "auto",
    cleaning: CleaningConfig | None = None,
    events: str | Path | pd.DataFrame | None = None,
    events_columns: dict[str, str | None] | None = None,
) -> PreparedData:
    """Read (or take) a raw table and prepare the clean panel.

    With no input the embedded demo (UCI Online Retail order lines) is used.
    ``events`` is an optional user-behaviour table (one row per view, cart,
    favourite or purchase: product, behaviour type, timestamp, optional user);
    its counts and rates per product and period join the panel as past-only
    covariates (see :func:`trendcast.features.covariates.behaviour_table`;
    ``events_columns`` names its ``product``, ``behaviour``, ``time`` and
    ``user`` columns when they are not detected).
    """
    raw, columns = _read_input(input, columns)
    data = prepare_sales(raw, columns, freq=freq, mode=mode, config=cleaning)
    flags = raw.attrs.get(CALENDAR_EVENTS)
    if flags is not None and data.calendar.is_daily:
        # known-ahead calendar flags (M5 events, SNAP) ride on the calendar into every model
        data = replace(data, calendar=replace(data.calendar, events=flags))
    if events is not None:
        table = events if isinstance(events, pd.DataFrame) else read_table(events)
        names = {f"{k}_col": v for k, v in (events_columns or {}).items()}
        behaviour = behaviour_table(table, data.calendar, **names)
        behaviour = behaviour[behaviour["ds"] <= data.panel["ds"].max()]
        data = replace(data, panel=join_behaviour(data.panel, behaviour))
    return data


def _read_input(
    input: str | Path | pd.DataFrame | None, columns: ColumnMap | None
) -> tuple[pd.DataFrame, ColumnMap | None]:
    if input is None:
        from trendcast.datasets import DEMO_COLUMNS, demo_orders_path

        input = demo_orders_path()
        if columns is None:
            columns = ColumnMap(
                id_cols=(DEMO_COLUMNS["product_id"],),
                time_col=DEMO_COLUMNS["timestamp"],
                target_col=DEMO_COLUMNS["quantity"],
                order_col=DEMO_COLUMNS["order_id"],
                price_col=DEMO_COLUMNS["unit_price"],
                customer_col=DEMO_COLUMNS["customer_id"],
            )
    if not isinstance(input, pd.DataFrame) and _is_m5_folder(input):
        return _read_m5(input, columns)
    raw = input if isinstance(input, pd.DataFrame) else read_table(input)
    return raw, columns


def _is_m5_folder(path: str | Path) -> bool:
    folder = Path(path)
    return folder.is_dir() and (folder / "calendar.csv").exists()


def _read_m5(folder: str | Path, columns: ColumnMap | None) -> tuple[pd.DataFrame, ColumnMap]:
    """The official M5 files as a sales table: one row per item x store and day."""
    from trendcast.datasets.m5 import load_m5

    m5 = load_m5(folder)
    table = m5.panel.merge(m5.static_df, on="unique_id", how="left")
    table.attrs[CALENDAR_EVENTS] = event_flags(m5.calendar)
    table = table.rename(
        columns={"unique_id": "id", "ds": "date", "y": "sales", "price": "sell_price"}
    )
    keep = ["id", "date", "sales", "sell_price", "store_id", "dept_id", "cat_id", "state_id"]
    given = columns or ColumnMap()
    return table[keep], ColumnMap(
        id_cols=given.id_cols or ("id",),
        time_col=given.time_col or "date",
        target_col=given.target_col or "sales",
        price_col=given.price_col or "sell_price",
        attributes={
            "store": "store_id",
            "dept": "dept_id",
            "category": "cat_id",
            "state": "state_id",
        },
    )


def _model(
    name: str,
    data: PreparedData,
    n_jobs: int,
    time_budget: float | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    extra = {"time_budget": time_budget} if name == "auto" else {}
    extra.update(params or {})
    return make_model(
        name,
        season_length=data.calendar.season_length,
        calendar=data.calendar,
        n_jobs=n_jobs,
        **extra,
    )


def _model_column(model: Any, name: str, fc: pd.DataFrame) -> pd.Series:
    """The name of the model that produced each row (fallbacks and auto's choices included)."""
    fallback = getattr(model, "fallback_", {})
    if isinstance(model, AutoSelect):
        chosen = fc["model"]
        fell_back = [
            uid in fallback.get(c, set()) for uid, c in zip(fc["unique_id"], chosen, strict=True)
        ]
        return chosen.where(~pd.Series(fell_back, index=fc.index), FALLBACK_MODEL)
    return pd.Series(name, index=fc.index).where(~fc["unique_id"].isin(fallback), FALLBACK_MODEL)


def forecast(
    data: PreparedData,
    *,
    horizon: int,
    model: str = "auto",
    levels: Sequence[int] = (80, 95),
    n_jobs: int = 1,
    selection_cv: pd.DataFrame | None = None,
    X_df: pd.DataFrame | None = None,
    time_budget: float | None = None,
    params: dict[str, Any] | None = None,
    engine: Engine | str | None = None,
) -> pd.DataFrame:
    """Forecast every series ``horizon`` periods past the end of the data (see
    :func:`fit_forecast`, which also returns the fitted model)."""
    return fit_forecast(
        data,
        horizon=horizon,
        model=model,
        levels=levels,
        n_jobs=n_jobs,
        selection_cv=selection_cv,
        X_df=X_df,
        time_budget=time_budget,
        params=params,
        engine=engine,
    )[0]


def fit_forecast(
    data: PreparedData,
    *,
    horizon: int,
    model: str = "auto",
    levels: Sequence[int] = (80, 95),
    n_jobs: int = 1,
    selection_cv: pd.DataFrame | None = None,
    X_df: pd.DataFrame | None = None,
    time_budget: float | None = None,
    params: dict[str, Any] | None = None,
    engine: Engine | str | None = None,
) -> tuple[pd.DataFrame, Any]:
    """Fit ``model`` and forecast every series ``horizon`` periods past the end of the data.

    ``engine`` (``local``, ``dask``, ``ray``, ``spark`` or an :class:`~trendcast.engines.Engine`)
    says where the work runs; the output is the same on every engine.

    ``params`` are hyperparameters for the model, e.g. from ``trendcast tune``.
    ``X_df`` holds planned future prices or promotions (``unique_id, ds, price,
    promo``) for models that use them; without it the last price is carried
    forward and promotions are off.

    Returns the forecast ``unique_id, ds, forecast, forecast-lo-L, forecast-hi-L...,
    model`` and the fitted model.
    """
    ForecastConfig(horizon=horizon, model=model, levels=tuple(levels))  # validates
    levels = sorted(levels)
    as_engine(engine, n_jobs).check_models([model], time_budget)
    with engine_scope(engine, n_jobs):
        m = distribute(_model(model, data, n_jobs, time_budget, params))
        if selection_cv is not None and isinstance(m, AutoSelect):
            m.selection_cv_ = selection_cv
        if isinstance(m, AutoSelect):
            _check_history(data, horizon, m.selection_windows)
        frame = model_frame(data.panel, *m.covariates_used())
        static = _static(data) if m.supports_static_covariates else None
        fc = m.fit(frame, static_df=static).predict(horizon, X_df=X_df, levels=levels)
    return _forecast_frame(m, model, fc, levels), m


def _forecast_frame(m: Any, name: str, fc: pd.DataFrame, levels: Sequence[int]) -> pd.DataFrame:
    cols = [m.alias, *interval_columns(m.alias, levels)]
    out = fc[["unique_id", "ds", *cols]].rename(
        columns={c: "forecast" + c[len(m.alias) :] for c in cols}
    )
    out["model"] = _model_column(m, name, fc).to_numpy()
    return out.reset_index(drop=True)


def forecast_from_run(
    store_path: str | Path,
    run_id: str,
    *,
    horizon: int,
    levels: Sequence[int] = (80, 95),
    input: str | Path | pd.DataFrame | None = None,
    mode: InputMode = "auto",
    cleaning: CleaningConfig | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forecast with a run's saved model, from new data when given, without refitting.

    ``input`` holds the longer history (same columns as the run's input); it is
    cleaned and aggregated exactly as the run's data was. Returns the forecast
    (see :func:`forecast`) and the output frame under the input's column names.
    """
    from trendcast.store import RunStore
    from trendcast.store.models import load_model

    ForecastConfig(horizon=horizon, levels=tuple(levels))
    with RunStore(store_path, read_only=True) as store:
        run_id = store.get_run(run_id).run_id
    saved = load_model(store_path, run_id)
    m = saved.model
    ids, columns = saved.ids, saved.columns
    if input is not None:
        raw, _ = _read_input(input, saved.columns)
        data = prepare_sales(
            raw, saved.columns, freq=saved.calendar.freq, mode=mode, config=cleaning
        )
        frame = model_frame(data.panel, *m.covariates_used())
        m.update(frame, static_df=_static(data) if m.supports_static_covariates else None)
        ids = pd.concat([saved.ids, data.ids]).drop_duplicates("unique_id")
    fc = _forecast_frame(m, saved.model_name, m.predict(horizon, levels=sorted(levels)), levels)
    return fc, _output_frame(fc, ids, columns)


def _static(data: PreparedData) -> pd.DataFrame | None:
    """Static attributes, when the data has any beyond the id."""
    return data.static_df if len(data.static_df.columns) > 1 else None


def _check_history(data: PreparedData, horizon: int, windows: int) -> None:
    periods = data.panel["ds"].nunique()
    if periods <= horizon * windows:
        raise ConfigError(
            f"auto chooses models on {windows} backtest windows of {horizon} periods, which needs "
            f"more than {horizon * windows} periods of history; the data has {periods}. Use a "
            "shorter --horizon or pick a model with --model (e.g. seasonal_naive)."
        )


def backtest(
    data: PreparedData,
    *,
    horizon: int,
    windows: int = 3,
    step: int | None = None,
    models: Sequence[str] = DEFAULT_BACKTEST_MODELS,
    levels: Sequence[int] = (80, 95),
    n_jobs: int = 1,
    progress: Progress | None = None,
    time_budget: float | None = None,
    engine: Engine | str | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of ``models`` with a leaderboard (see :func:`run_backtest`),
    on ``engine`` (see :func:`fit_forecast`)."""
    ForecastConfig(horizon=horizon, levels=tuple(levels))
    BacktestConfig(windows=windows, step=step)
    as_engine(engine, n_jobs).check_models(models, time_budget)
    with engine_scope(engine, n_jobs):
        return run_backtest(
            data.panel,
            data.calendar,
            horizon=horizon,
            windows=windows,
            step=step,
            models=models,
            levels=levels,
            n_jobs=n_jobs,
            progress=progress,
            static_df=_static(data),
            time_budget=time_budget,
        )


def to_output(fc: pd.DataFrame, data: PreparedData) -> pd.DataFrame:
    """Forecast rows under the input's own column names (id columns, time column)."""
    return _output_frame(fc, data.ids, data.columns)


def _output_frame(fc: pd.DataFrame, ids: pd.DataFrame, columns: ColumnMap) -> pd.DataFrame:
    out = ids.merge(fc, on="unique_id", how="right")
    id_cols = list(columns.id_cols)
    time_col = columns.time_col or "ds"
    value_cols = [c for c in fc.columns if c not in ("unique_id", "ds")]
    out = out.rename(columns={"ds": time_col})
    return out[[*id_cols, time_col, *value_cols]]


def write_atomic(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Write ``path`` through ``write(tmp)`` and a rename, so a failure leaves no half file
    and an earlier file intact."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        write(tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def write_csv_atomic(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a CSV atomically (see :func:`write_atomic`)."""
    return write_atomic(path, lambda tmp: df.to_csv(tmp, index=False, date_format="%Y-%m-%d"))


@dataclass
class RunResult:
    """Everything one run produced."""

    run_id: str
    data: PreparedData
    backtest: BacktestResult
    forecast: pd.DataFrame
    report_path: Path | None
    forecast_path: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


def data_tables(data: PreparedData) -> dict[str, pd.DataFrame]:
    """The tables every recorded run keeps about its data."""
    from trendcast.data.hierarchy import aggregate_levels

    return {
        "cleaning_report": data.report.to_frame(),
        "series_notes": data.report.series_notes,
        "panel": data.panel,
        "static": data.static_df,
        "levels": aggregate_levels(data.panel, data.static_df),
    }


def record(
    store_path: str | Path,
    kind: str,
    data: PreparedData,
    config: dict[str, Any],
    tables: dict[str, pd.DataFrame],
    summary: dict[str, Any] | None = None,
    model: tuple[str, Any] | None = None,
    run_id: str | None = None,
) -> str:
    """Record a ``forecast`` or ``backtest`` step in the store; returns its run id
    (``run_id``, or a new one).

    ``model`` (name, fitted model) is saved beside the store for ``--from-run``.
    """
    from trendcast.store import RunRecord, RunStore, fingerprint_frame, new_run_id
    from trendcast.store.models import SavedModel, save_model

    run_id = run_id or new_run_id()
    with RunStore(store_path) as store:
        store.save_run(
            RunRecord(
                run_id=run_id,
                created_at=datetime.now(UTC),
                kind=kind,
                status="succeeded",
                input_fingerprint=fingerprint_frame(data.panel),
                config={**config, "columns": data.columns.to_dict()},
                summary=summary or {"Series": data.n_series},
                tables={**data_tables(data), **tables},
            )
        )
    if model is not None:
        save_model(
            store_path,
            SavedModel(
                run_id=run_id,
                model_name=model[0],
                model=model[1],
                fingerprint=fingerprint_frame(data.panel),
                config=dict(config),
                calendar=data.calendar,
                columns=data.columns,
                ids=data.ids,
            ),
        )
    return run_id


def _drivers(data: PreparedData, horizon: int, n_jobs: int, say: Progress) -> pd.DataFrame | None:
    """Per-product drivers from a LightGBM fit (None when LightGBM is not installed)."""
    from trendcast.evaluation.explain import drivers_summary, forecast_contributions
    from trendcast.exceptions import MissingDependencyError

    try:
        m = _model("lightgbm", data, n_jobs)
        m.fit(model_frame(data.panel, True, True), static_df=_static(data))
        if m.model_ is None:
            return None
        say("explaining forecasts (LightGBM SHAP contributions)")
        return drivers_summary(forecast_contributions(m, horizon))
    except MissingDependencyError:
        return None


def report_title(key: str, lang: str) -> str:
    """The default title of a report, in its language."""
    from trendcast.reporting.i18n import text

    return text(key, lang)


def training_histories(model: Any, name: str) -> dict[str, pd.DataFrame]:
    """Loss curves of the neural networks behind a fitted model, by model name.

    A neural model keeps its own in ``history_``; a model that trained networks
    among others (``auto``) keeps them by name in ``histories_``. Empty for models
    that train no network.
    """
    found: dict[str, pd.DataFrame] = {}
    own = getattr(model, "history_", None)
    if isinstance(own, pd.DataFrame) and not own.empty:
        found[name] = own
    for alias, history in (getattr(model, "histories_", None) or {}).items():
        if isinstance(history, pd.DataFrame) and not history.empty:
            found[str(alias)] = history
    return found


def analysis_inputs(
    data: PreparedData,
    *,
    window: int | None = None,
    alpha: float = 0.05,
    top_n: int = 10,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The trend analysis and the time-series analysis of a prepared panel, for the report.

    Trends are tested for every product and category (cheap, vectorised); the
    costly parts of :func:`trendcast.analysis.summary.analyze` (STL/MSTL, about two
    seconds per product on two years of daily sales, and ACF) cover only the
    ``top_n`` best sellers. Returns ``trends``, ``category_trends`` and
    ``analysis``, the keyword arguments of :func:`trendcast.reporting.write_report`.
    """
    from trendcast.analysis.summary import analyze as analyze_panel
    from trendcast.analysis.trends import category_trends, detect_trends

    say = progress or _quiet
    say(f"testing the trends of {data.n_series:,} products")
    trends = detect_trends(data.panel, data.calendar, window, alpha)
    categories = category_trends(data.panel, _static(data), data.calendar, window, alpha)
    analysis = analyze_panel(data, top_n=top_n, alpha=alpha, progress=say)
    return {"trends": trends, "category_trends": categories, "analysis": analysis}


def insight_tables(
    insight: dict[str, Any], histories: dict[str, pd.DataFrame] | None = None
) -> dict[str, pd.DataFrame]:
    """The tables of :func:`analysis_inputs` and the training curves, flat, for the store and CSVs.

    Analysis tables are named ``analysis_<name>``; the curves are one
    ``training_history`` table with a ``model`` column.
    """
    from trendcast.reporting.insight_sections import analysis_tables

    tables: dict[str, pd.DataFrame] = {}
    for name in ("trends", "category_trends"):
        if insight.get(name) is not None:
            tables[name] = insight[name]
    for name, frame in analysis_tables(insight.get("analysis")).items():
        tables[f"analysis_{name}"] = frame
    if histories:
        tables["training_history"] = pd.concat(
            [frame.assign(model=name) for name, frame in histories.items()], ignore_index=True
        )
    return tables


#: columns the run store (case-insensitive, as DuckDB) keeps under another name
_STORED_NAMES = {"D": "seasonal_D"}


def storable(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The tables with the columns that differ from another only in case renamed for the store
    (the stationarity table's ``d`` and ``D``); :func:`stored_insight` renames them back."""
    return {
        name: frame.rename(columns=_STORED_NAMES)
        if any(col in frame.columns for col in _STORED_NAMES)
        else frame
        for name, frame in tables.items()
    }


def stored_insight(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The report's analysis arguments back from a recorded run's tables (see
    :func:`insight_tables`): ``trends``, ``category_trends``, ``analysis`` and
    ``training_history``, each only when the run kept it."""
    out: dict[str, Any] = {
        name: tables[name] for name in ("trends", "category_trends") if name in tables
    }
    back = {stored: name for name, stored in _STORED_NAMES.items()}
    analysis = {
        name.removeprefix("analysis_"): frame.rename(columns=back)
        for name, frame in tables.items()
        if name.startswith("analysis_")
    }
    if analysis:
        out["analysis"] = analysis
    if "training_history" in tables:
        history = tables["training_history"]
        out["training_history"] = {
            str(name): frame.drop(columns="model")
            for name, frame in history.groupby("model", sort=False)
        }
    return out


def _write_pictures(folder: Path, say: Progress, **figure_inputs: Any) -> list[Path]:
    """The report's main figures as PNG images in ``folder``."""
    from trendcast.reporting.static import export_figures, report_figures

    pictures = report_figures(**figure_inputs)
    say(f"drawing {len(pictures)} figures as PNG images in {folder}")
    return export_figures(pictures, folder)


def _run_decisions(
    data: PreparedData,
    fc: pd.DataFrame,
    result: BacktestResult,
    reconcile: str | None,
    out: Path,
    say: Progress,
    timings: dict[str, float],
    config: dict[str, Any],
) -> dict[str, pd.DataFrame]:
    """A run's reconciled forecast (``forecast``, every level in ``hierarchy`` and its
    history) and its ``alerts``: the report's keyword arguments and the store's tables."""
    from trendcast.decisions.alerts import find_alerts
    from trendcast.decisions.reconcile import hierarchy_forecast, levels_output

    found: dict[str, pd.DataFrame] = {}
    if reconcile:
        started = time.perf_counter()
        model = config["model"]
        reconciled = hierarchy_forecast(
            data,
            horizon=config["horizon"],
            model=model,
            method=reconcile,
            levels=config["levels"],
            windows=config["windows"],
            n_jobs=config["n_jobs"],
            time_budget=config["time_budget"],
            product_forecast=fc,
            product_backtest=result.backtest[result.backtest["model"] == model],
            progress=say,
        )
        found["forecast"] = reconciled.products()
        found["hierarchy"] = reconciled.forecast
        found["hierarchy_history"] = data_tables(data)["levels"]
        write_csv_atomic(levels_output(reconciled, data), out / "forecast_levels.csv")
        timings["reconcile"] = time.perf_counter() - started
    say("looking for alerts: dead and slow movers, trend breaks, recent anomalies")
    found["alerts"] = find_alerts(data)
    if config.get("lead_time") is not None:
        from trendcast.decisions.plan import plan_from_backtest

        say(f"planning replenishment for a lead time of {config['lead_time']} periods")
        chosen = result.backtest[result.backtest["model"] == config["model"]]
        found["plan"] = plan_from_backtest(
            data,
            found.get("forecast", fc),
            chosen,
            lead_time=config["lead_time"],
            review_period=config["review_period"],
            service_level=config["service_level"],
        )
    return found


def _summary(
    data: PreparedData, result: BacktestResult, horizon: int, model: str
) -> dict[str, Any]:
    panel = data.panel
    board = result.leaderboard
    summary: dict[str, Any] = {
        "Series": data.n_series,
        "Input": data.report.facts.get("input kind", ""),
        "Frequency": data.calendar.describe(),
        "History": f"{panel['ds'].min():%Y-%m-%d} .. {panel['ds'].max():%Y-%m-%d}",
        "Horizon": horizon,
        "Model": model,
    }
    if not board.empty:
        best = board.iloc[0]
        summary["Best in backtest"] = f"{best['model']} (MASE {best['mase']:.3f})"
    return summary


def _prepared_with_fingerprint(
    input: str | Path | pd.DataFrame | None,
    columns: ColumnMap | None,
    freq: str | None,
    mode: InputMode,
    cleaning: CleaningConfig | None,
    events: str | Path | pd.DataFrame | None,
    events_columns: dict[str, str | None] | None,
) -> tuple[PreparedData, str]:
    """The prepared data and the fingerprint of the raw input it came from (for the store)."""
    from trendcast.store import fingerprint_frame

    raw, columns = _read_input(input, columns)
    fingerprint = fingerprint_frame(raw)
    data = load_sales(
        raw,
        columns,
        freq=freq,
        mode=mode,
        cleaning=cleaning,
        events=events,
        events_columns=events_columns,
    )
    return data, fingerprint


def run(
    input: str | Path | pd.DataFrame | None = None,
    columns: ColumnMap | None = None,
    *,
    out_dir: str | Path = "trendcast-out",
    store_path: str | Path | None = "trendcast.duckdb",
    freq: str | None = None,
    mode: InputMode = "auto",
    horizon: int = 28,
    windows: int = 3,
    step: int | None = None,
    model: str = "auto",
    models: Sequence[str] = DEFAULT_BACKTEST_MODELS,
    levels: Sequence[int] = (80, 95),
    cleaning: CleaningConfig | None = None,
    n_jobs: int = 1,
    title: str | None = None,
    progress: Progress | None = None,
    time_budget: float | None = None,
    events: str | Path | pd.DataFrame | None = None,
    events_columns: dict[str, str | None] | None = None,
    lang: str = "en",
    png: bool = False,
    reconcile: str | None = None,
    lead_time: int | None = None,
    review_period: int = 1,
    service_level: float = 0.95,
    run_id: str | None = None,
    engine: Engine | str | None = None,
) -> RunResult:
    """Run the whole path and write the forecast CSV and the HTML report into ``out_dir``.

    The report also shows the products' trends and the time-series analysis of the
    best sellers (see :func:`analysis_inputs`), in ``lang`` (``en`` or ``zh``); with
    ``png`` its main figures are saved as images in ``out_dir/figures``.
    With ``reconcile`` (a method of :data:`trendcast.decisions.reconcile.RECONCILE_METHODS`)
    the total, every attribute level and the products are forecast and reconciled;
    ``forecast.csv`` holds the reconciled products and ``forecast_levels.csv`` every level.
    The report and the store also get the alerts of :func:`trendcast.decisions.find_alerts`
    (those needing no stock). With ``lead_time`` (periods) it also makes the replenishment
    plan of :func:`trendcast.decisions.plan.plan_from_backtest` from the run's own forecast
    and backtest (nothing on hand: a planning baseline) into ``plan.csv`` and the store.
    The run is recorded in the DuckDB store at ``store_path`` (None: no store) under
    ``run_id`` (a new one by default).
    A run that fails is recorded as failed and leaves earlier runs intact.
    The backtest and the forecast run on ``engine`` (see :func:`fit_forecast`), started
    once for both; the rest of the run is local.
    """
    from trendcast.reporting import write_report
    from trendcast.store import RunRecord, RunStore, new_run_id

    say = progress or _quiet
    ForecastConfig(horizon=horizon, model=model, levels=tuple(levels), freq=freq)
    BacktestConfig(windows=windows, step=step)
    session = as_engine(engine, n_jobs)
    session.check_models(list(dict.fromkeys([model, *models])), time_budget)
    owned = not session.started
    if reconcile:
        from trendcast.decisions.reconcile import check_reconcile_method

        check_reconcile_method(reconcile)
    if lead_time is not None:
        from trendcast.decisions.plan import check_policy

        check_policy(lead_time, review_period, service_level)
        if lead_time + review_period > horizon:
            raise ConfigError(
                f"The plan covers lead time + review period = {lead_time + review_period} "
                f"periods, more than the horizon {horizon}; use a longer --horizon."
            )
    run_id = run_id or new_run_id()
    timings: dict[str, float] = {}
    config: dict[str, Any] = {
        "input": str(input) if not isinstance(input, pd.DataFrame) else "<DataFrame>",
        "freq": freq,
        "mode": mode,
        "horizon": horizon,
        "windows": windows,
        "step": step,
        "model": model,
        "models": list(models),
        "levels": list(levels),
        "n_jobs": n_jobs,
        "time_budget": time_budget,
        "cleaning": (cleaning or CleaningConfig()).__dict__,
        "reconcile": reconcile,
        "engine": session.describe(),
        "lead_time": lead_time,
        "review_period": review_period,
        "service_level": service_level,
    }
    store = RunStore(store_path) if store_path else None
    fingerprint = ""
    try:
        started = time.perf_counter()
        say("reading and cleaning the input")
        data, fingerprint = _prepared_with_fingerprint(
            input, columns, freq, mode, cleaning, events, events_columns
        )
        config["columns"] = data.columns.to_dict()
        timings["prepare"] = time.perf_counter() - started
        say(
            f"prepared {data.n_series:,} series ({data.calendar.describe()}) in "
            f"{timings['prepare']:.1f}s"
        )

        started = time.perf_counter()
        bt_models = list(dict.fromkeys([model, *models]))
        if not session.is_local:
            say(f"starting the {session.describe()} engine")
        session.start()
        result = backtest(
            data,
            horizon=horizon,
            windows=windows,
            step=step,
            models=bt_models,
            levels=levels,
            n_jobs=n_jobs,
            progress=say,
            time_budget=time_budget,
            engine=session,
        )
        timings["backtest"] = time.perf_counter() - started

        started = time.perf_counter()
        say(f"forecasting {horizon} periods with {model}")
        fc, fitted = fit_forecast(
            data,
            horizon=horizon,
            model=model,
            levels=levels,
            n_jobs=n_jobs,
            selection_cv=result.candidate_cv if step in (None, horizon) else None,
            time_budget=time_budget,
            engine=session,
        )
        timings["forecast"] = time.perf_counter() - started
        if owned:
            session.close()

        out = Path(out_dir)
        decisions = _run_decisions(data, fc, result, reconcile, out, say, timings, config)
        fc = decisions.pop("forecast", fc)
        plan = decisions.pop("plan", None)
        if plan is not None:
            shown = [
                *data.columns.id_cols,
                *plan.columns.drop(["unique_id", *data.columns.id_cols], errors="ignore"),
            ]
            write_csv_atomic(plan[shown], out / "plan.csv")
        forecast_path = write_csv_atomic(to_output(fc, data), out / "forecast.csv")
        write_csv_atomic(result.leaderboard, out / "leaderboard.csv")
        write_csv_atomic(data.report.to_frame(), out / "cleaning_report.csv")
        started = time.perf_counter()
        say("writing the report")
        drivers = _drivers(data, horizon, n_jobs, say)
        insight = analysis_inputs(data, progress=say)
        histories = training_histories(fitted, model)
        report_path = write_report(
            out / "report.html",
            title=title or report_title("report.title", lang),
            summary={**_summary(data, result, horizon, model), "Run": run_id},
            cleaning=data.report.to_frame(),
            series_notes=data.report.series_notes,
            leaderboard=result.leaderboard,
            segment_leaderboard=result.segment_leaderboard,
            per_series=result.per_series,
            panel=data.panel[["unique_id", "ds", "y"]],
            backtest=result.backtest,
            forecast=fc,
            levels=levels,
            drivers=drivers,
            lang=lang,
            training_history=histories,
            **insight,
            **decisions,
        )
        if png:
            _write_pictures(
                out / "figures",
                say,
                panel=data.panel,
                forecast=fc,
                leaderboard=result.leaderboard,
                backtest=result.backtest,
                per_series=result.per_series,
                training_history=histories,
                levels=tuple(levels),
                lang=lang,
                **insight,
            )
        timings["report"] = time.perf_counter() - started
        if store is not None:
            store.save_run(
                RunRecord(
                    run_id=run_id,
                    created_at=datetime.now(UTC),
                    kind="run",
                    status="succeeded",
                    input_fingerprint=fingerprint,
                    config=config,
                    summary={**_summary(data, result, horizon, model), "timings": timings},
                    tables={
                        **data_tables(data),
                        "leaderboard": result.leaderboard,
                        "segment_leaderboard": result.segment_leaderboard,
                        "metrics": result.per_series,
                        "backtest": result.backtest,
                        "forecast": fc,
                        **({"drivers": drivers} if drivers is not None else {}),
                        **{k: v for k, v in decisions.items() if k != "hierarchy_history"},
                        **({"plan": plan} if plan is not None else {}),
                        **storable(insight_tables(insight, histories)),
                    },
                )
            )
        from trendcast.tracking import log_run

        mlflow_id = log_run(
            run_id,
            config,
            result.leaderboard,
            timings,
            [report_path, forecast_path, out / "leaderboard.csv"],
        )
        if mlflow_id:
            say(f"logged to MLflow as run {mlflow_id}")
    except Exception as exc:
        if store is not None:
            store.record_failure(run_id, "run", fingerprint, config, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if owned:
            session.close()
        if store is not None:
            store.close()
    return RunResult(run_id, data, result, fc, report_path, forecast_path, timings, config)


@dataclass
class AnalysisRun:
    """Everything one analysis produced."""

    run_id: str | None
    data: PreparedData
    tables: dict[str, pd.DataFrame]
    report_path: Path
    table_paths: list[Path]


def analyze(
    input: str | Path | pd.DataFrame | None = None,
    columns: ColumnMap | None = None,
    *,
    out_dir: str | Path = "trendcast-analysis",
    store_path: str | Path | None = "trendcast.duckdb",
    freq: str | None = None,
    mode: InputMode = "auto",
    cleaning: CleaningConfig | None = None,
    window: int | None = None,
    alpha: float = 0.05,
    top_n: int = 10,
    lang: str = "en",
    title: str | None = None,
    png: bool = False,
    progress: Progress | None = None,
    events: str | Path | pd.DataFrame | None = None,
    events_columns: dict[str, str | None] | None = None,
) -> AnalysisRun:
    """Analyse the sales without forecasting: trends, decomposition, drivers, anomalies.

    Writes one CSV per table and the HTML report (in ``lang``) into ``out_dir``,
    with ``png`` the main figures as images in ``out_dir/figures``, and records the
    tables in the store at ``store_path`` (None: no store) as an ``analysis`` run.
    An analysis that fails is recorded as failed and leaves earlier runs intact.
    """
    from trendcast.reporting import write_report
    from trendcast.reporting.i18n import check_language
    from trendcast.store import RunRecord, RunStore, new_run_id

    say = progress or _quiet
    check_language(lang)
    run_id = new_run_id()
    config: dict[str, Any] = {
        "input": str(input) if not isinstance(input, pd.DataFrame) else "<DataFrame>",
        "freq": freq,
        "mode": mode,
        "window": window,
        "alpha": alpha,
        "top_n": top_n,
        "lang": lang,
        "cleaning": (cleaning or CleaningConfig()).__dict__,
    }
    store = RunStore(store_path) if store_path else None
    fingerprint = ""
    try:
        say("reading and cleaning the input")
        data, fingerprint = _prepared_with_fingerprint(
            input, columns, freq, mode, cleaning, events, events_columns
        )
        config["columns"] = data.columns.to_dict()
        say(f"prepared {data.n_series:,} series ({data.calendar.describe()})")
        insight = analysis_inputs(data, window=window, alpha=alpha, top_n=top_n, progress=say)
        tables = insight_tables(insight)
        out = Path(out_dir)
        paths = [write_csv_atomic(frame, out / f"{name}.csv") for name, frame in tables.items()]
        panel = data.panel
        summary = {
            "Series": data.n_series,
            "Frequency": data.calendar.describe(),
            "History": f"{panel['ds'].min():%Y-%m-%d} .. {panel['ds'].max():%Y-%m-%d}",
        }
        empty = pd.DataFrame()
        report_path = write_report(
            out / "report.html",
            title=title or report_title("analysis.title", lang),
            summary={**summary, "Run": run_id},
            cleaning=data.report.to_frame(),
            series_notes=data.report.series_notes,
            leaderboard=empty,
            segment_leaderboard=empty,
            per_series=empty,
            panel=panel[["unique_id", "ds", "y"]],
            backtest=empty,
            forecast=empty,
            lang=lang,
            **insight,
        )
        if png:
            _write_pictures(out / "figures", say, panel=panel, lang=lang, **insight)
        if store is not None:
            store.save_run(
                RunRecord(
                    run_id=run_id,
                    created_at=datetime.now(UTC),
                    kind="analysis",
                    status="succeeded",
                    input_fingerprint=fingerprint,
                    config=config,
                    summary=summary,
                    tables={**data_tables(data), **storable(tables)},
                )
            )
    except Exception as exc:
        if store is not None:
            store.record_failure(
                run_id, "analysis", fingerprint, config, f"{type(exc).__name__}: {exc}"
            )
        raise
    finally:
        if store is not None:
            store.close()
    return AnalysisRun(run_id if store is not None else None, data, tables, report_path, paths)
