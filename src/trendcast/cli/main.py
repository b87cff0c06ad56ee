"""The ``trendcast`` command line: a thin shell over :mod:`trendcast.pipeline`.

User mistakes (bad files, columns, options) print one clear message and exit
with code 2; nothing a user can cause prints a traceback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="trendcast",
    help="E-commerce sales trend forecasting: clean order lines, backtest models, forecast, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# -- shared options -----------------------------------------------------------------------------

InputOpt = Annotated[
    str | None,
    typer.Option(
        "--input",
        "-i",
        help="Order lines or sales table: CSV, Parquet, or DB.duckdb::TABLE. Default: the demo.",
    ),
]
IdColOpt = Annotated[
    list[str] | None,
    typer.Option("--id-col", help="Product id column; repeat for several (e.g. store and item)."),
]
TimeColOpt = Annotated[str | None, typer.Option("--time-col", help="Date or timestamp column.")]
TargetColOpt = Annotated[str | None, typer.Option("--target-col", help="Quantity column.")]
PriceColOpt = Annotated[str | None, typer.Option("--price-col", help="Unit price column.")]
OrderColOpt = Annotated[str | None, typer.Option("--order-col", help="Order id column.")]
FreqOpt = Annotated[
    str | None, typer.Option("--freq", help="D, W (or W-MON...), MS. Inferred when left out.")
]
HorizonOpt = Annotated[int, typer.Option("--horizon", "-h", help="Periods to forecast.")]
LevelOpt = Annotated[
    list[int] | None, typer.Option("--level", help="Prediction interval level; repeatable.")
]
OrdersOpt = Annotated[
    bool, typer.Option("--orders", help="Read the input as order lines (clean and aggregate).")
]
SalesOpt = Annotated[
    bool,
    typer.Option("--sales-table", help="Read the input as one row per product and period."),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="TOML settings file (tables: columns, cleaning, forecast, backtest)."
    ),
]
JobsOpt = Annotated[int, typer.Option("--jobs", help="Parallel processes for statistical models.")]
ParamsOpt = Annotated[
    Path | None,
    typer.Option(
        "--params", help="JSON file of model hyperparameters (e.g. from `trendcast tune`)."
    ),
]
ModelPathOpt = Annotated[
    str | None,
    typer.Option(
        "--model-path",
        help="Weights of a foundation model (chronos_bolt, chronos2, timesfm): a local folder "
        "or a Hugging Face Hub id.",
    ),
]
BudgetOpt = Annotated[
    float | None,
    typer.Option(
        "--time-budget",
        help="Seconds auto may spend; with a budget it also tries the machine-learning, "
        "foundation and neural models, cheapest first.",
    ),
]
EventsOpt = Annotated[
    str | None,
    typer.Option(
        "--events",
        help="User-behaviour log (product, behaviour type such as pv/cart/fav/buy, timestamp, "
        "optional user): views, carts, favourites and conversion become past-only features.",
    ),
]
EventsColOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--events-col",
        help="Column of the behaviour log as ROLE=COLUMN (roles: product, type, time, user); "
        "repeatable. Detected by name when left out.",
    ),
]
StoreOpt = Annotated[
    str, typer.Option("--store", help="DuckDB file that records runs.", envvar="TRENDCAST_STORE")
]
LangOpt = Annotated[str, typer.Option("--lang", help="Language of the report: en or zh.")]
PngOpt = Annotated[
    bool,
    typer.Option(
        "--png",
        help="Also save the report's main figures as PNG images in a figures folder beside it "
        "(drawn by the local Chrome or Chromium).",
    ),
]
ReconcileOpt = Annotated[
    str,
    typer.Option(
        "--reconcile",
        help="Also forecast the total and every attribute level (category, store...) and "
        "reconcile them with the products: mint_shrink, wls_struct, bottom_up, top_down or none.",
    ),
]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="Where backtests and forecasts run: local, dask (every model family), ray or spark "
        "(statistical models). See docs/distributed.md.",
    ),
]
EngineAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--engine-address",
        help="Cluster to use: a Dask scheduler (tcp://host:8786), a Ray address (ray://host:10001) "
        "or a Spark master URL (spark://host:7077). Default: a local cluster of --jobs workers.",
    ),
]


def _echo(msg: str) -> None:
    typer.echo(msg, err=True)


class _Progress:
    """One timestamped log line per step on stderr, so long work is never silent."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self, msg: str) -> None:
        _echo(f"[{time.perf_counter() - self.start:6.1f}s] {msg}")


@contextmanager
def _user_errors() -> Iterator[None]:
    from trendcast.exceptions import TrendcastError

    try:
        yield
    except TrendcastError as exc:
        _echo(f"Error: {exc}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        _echo("Interrupted; earlier results are intact.")
        raise typer.Exit(130) from None


def _settings(
    config: Path | None,
    id_col: list[str] | None,
    time_col: str | None,
    target_col: str | None,
    price_col: str | None = None,
    order_col: str | None = None,
) -> dict[str, Any]:
    from trendcast.config import BacktestConfig, CleaningConfig, ForecastConfig, load_config
    from trendcast.data.columns import ColumnMap

    loaded: dict[str, Any] = (
        load_config(config)
        if config
        else {
            "columns": {},
            "cleaning": CleaningConfig(),
            "forecast": ForecastConfig(),
            "backtest": BacktestConfig(),
        }
    )
    cols = dict(loaded["columns"])
    for key, value in (
        ("id_cols", tuple(id_col) if id_col else None),
        ("time_col", time_col),
        ("target_col", target_col),
        ("price_col", price_col),
        ("order_col", order_col),
    ):
        if value:
            cols[key] = value
    if "id_cols" in cols:
        cols["id_cols"] = (
            tuple(cols["id_cols"]) if not isinstance(cols["id_cols"], str) else (cols["id_cols"],)
        )
    from trendcast.exceptions import ConfigError

    try:
        loaded["columns"] = ColumnMap(**cols) if cols else None
    except TypeError as exc:
        raise ConfigError(f"Unknown setting in [columns]: {exc}") from None
    return loaded


def _mode(orders: bool, sales_table: bool) -> Any:
    from trendcast.exceptions import ConfigError

    if orders and sales_table:
        raise ConfigError("--orders and --sales-table exclude each other; pass one.")
    return "orders" if orders else "sales" if sales_table else "auto"


def _events_columns(pairs: list[str] | None) -> dict[str, str | None]:
    """``--events-col ROLE=COLUMN`` pairs as load_sales' ``events_columns``."""
    from trendcast.exceptions import ConfigError

    roles = {"product": "product", "type": "behaviour", "time": "time", "user": "user"}
    out: dict[str, str | None] = {}
    for pair in pairs or []:
        role, _, column = pair.partition("=")
        if role.strip() not in roles or not column.strip():
            raise ConfigError(
                f"--events-col {pair!r} is not ROLE=COLUMN with ROLE one of {list(roles)}; "
                "e.g. --events-col type=behavior_type."
            )
        out[roles[role.strip()]] = column.strip()
    return out


def _load(
    input: str | None,
    settings: dict[str, Any],
    freq: str | None,
    mode: Any,
    say: Callable[[str], None],
    events: str | None = None,
    events_col: list[str] | None = None,
) -> Any:
    from trendcast.pipeline import load_sales

    say(f"reading {input or 'the embedded demo (UCI Online Retail)'}")
    if events:
        say(f"reading the behaviour log {events}")
    data = load_sales(
        input,
        settings["columns"],
        freq=freq or settings["forecast"].freq,
        mode=mode,
        cleaning=settings["cleaning"],
        events=events,
        events_columns=_events_columns(events_col),
    )
    for line in data.report.summary_lines():
        say(f"  cleaning: {line}")
    say(
        f"prepared {data.n_series:,} series, {data.calendar.describe()}, "
        f"{data.panel['ds'].min():%Y-%m-%d} .. {data.panel['ds'].max():%Y-%m-%d}"
    )
    return data


def _streamable(input: str, events: str | None) -> bool:
    """Whether ``--chunk-size`` can stream the input from disk (see ``can_stream``); a
    behaviour log (``--events``) needs the whole input, so it is read whole."""
    from trendcast.streamed import can_stream

    return events is None and can_stream(input)


def _forecast_streamed(
    input: str,
    output: Path,
    settings: dict[str, Any],
    freq: str | None,
    mode: Any,
    chunk_size: int,
    horizon: int,
    model: str,
    levels: list[int],
    jobs: int,
    time_budget: float | None,
    params: Path | None,
    model_path: str | None,
    restart: bool,
    store: str,
    engine: Any,
    say: Callable[[str], None],
) -> None:
    """``forecast --chunk-size`` on a file: read, prepare and forecast a chunk at a time."""
    from trendcast.streamed import forecast_file_in_chunks

    say(f"streaming {input}: {chunk_size:,} products a chunk, {horizon} periods with {model}")
    result = forecast_file_in_chunks(
        input,
        output,
        chunk_size=chunk_size,
        horizon=horizon,
        model=model,
        levels=levels,
        columns=settings["columns"],
        freq=freq or settings["forecast"].freq,
        mode=mode,
        cleaning=settings["cleaning"],
        n_jobs=jobs,
        time_budget=time_budget,
        params={
            **(_read_params(params) or {}),
            **({"model_path": model_path} if model_path else {}),
        },
        restart=restart,
        store=store,
        engine=engine,
        progress=say,
    )
    for line in result.report.summary_lines():
        say(f"  cleaning: {line}")
    if result.run_id:
        _echo(f"recorded as run {result.run_id} in {store}")
    typer.echo(f"Wrote {result.rows:,} rows for {result.series:,} series to {output}")


# -- commands -----------------------------------------------------------------------------------


@app.command()
def forecast(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the CSV.")],
    input: InputOpt = None,
    id_col: IdColOpt = None,
    time_col: TimeColOpt = None,
    target_col: TargetColOpt = None,
    horizon: HorizonOpt = 28,
    freq: FreqOpt = None,
    model: Annotated[
        str, typer.Option("--model", help="auto or a name from `trendcast models`.")
    ] = "auto",
    level: LevelOpt = None,
    orders: OrdersOpt = False,
    sales_table: SalesOpt = False,
    price_col: PriceColOpt = None,
    order_col: OrderColOpt = None,
    config: ConfigOpt = None,
    jobs: JobsOpt = 1,
    time_budget: BudgetOpt = None,
    params: ParamsOpt = None,
    model_path: ModelPathOpt = None,
    events: EventsOpt = None,
    events_col: EventsColOpt = None,
    from_run: Annotated[
        str | None,
        typer.Option(
            "--from-run",
            help="Forecast with this run's saved model (id, prefix or latest), from --input's "
            "newer history when given, without refitting.",
        ),
    ] = None,
    reconcile: ReconcileOpt = "none",
    store: StoreOpt = "trendcast.duckdb",
    engine: EngineOpt = "local",
    engine_address: EngineAddressOpt = None,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            "--chunk-size",
            help="Forecast N products at a time, each finished chunk kept in OUTPUT.parts/; the "
            "same command after an interruption resumes from the last finished chunk. A file "
            "input (CSV, Parquet, glob, DuckDB table) is streamed: only one chunk is ever read "
            "into memory. Local models give the same forecast as without chunks; global models "
            "(lightgbm, linear, networks) are then fitted per chunk, on its series only. With "
            "--engine, each chunk is forecast on the cluster.",
        ),
    ] = None,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart",
            help="With --chunk-size: discard finished chunks of a different forecast (other data "
            "or settings) and start fresh.",
        ),
    ] = False,
) -> None:
    """Forecast every product HORIZON periods ahead and write a CSV.

    With --reconcile the forecast of every level goes to OUTPUT_levels.csv beside it.
    """
    say = _Progress()
    with _user_errors():
        from trendcast.pipeline import fit_forecast, forecast_from_run, to_output, write_csv_atomic

        if from_run and reconcile != "none":
            from trendcast.exceptions import ConfigError

            raise ConfigError("--reconcile needs a fresh forecast; leave out --from-run.")
        if chunk_size is not None and (from_run or reconcile != "none"):
            from trendcast.exceptions import ConfigError

            raise ConfigError(
                "--chunk-size forecasts chunk by chunk, afresh; leave out "
                + ("--from-run." if from_run else "--reconcile (it needs every series at once).")
            )
        if from_run and engine != "local":
            from trendcast.exceptions import ConfigError

            raise ConfigError("--from-run forecasts on this machine; leave out --engine.")
        if from_run:
            say(f"forecasting {horizon} periods with the saved model of run {from_run}")
            fc, out = forecast_from_run(
                store,
                from_run,
                horizon=horizon,
                levels=level or (80, 95),
                input=input,
                mode=_mode(orders, sales_table),
            )
            path = write_csv_atomic(out, output)
            typer.echo(f"Wrote {len(fc):,} rows for {fc['unique_id'].nunique():,} series to {path}")
            return

        settings = _settings(config, id_col, time_col, target_col, price_col, order_col)
        levels = level or list(settings["forecast"].levels)
        if chunk_size is not None and input is not None and _streamable(input, events):
            _forecast_streamed(
                input,
                output,
                settings,
                freq,
                _mode(orders, sales_table),
                chunk_size,
                horizon,
                model,
                levels,
                jobs,
                time_budget,
                params,
                model_path,
                restart,
                store,
                _engine(engine, engine_address, jobs),
                say,
            )
            return
        data = _load(input, settings, freq, _mode(orders, sales_table), say, events, events_col)
        if chunk_size is not None:
            from trendcast.chunked import forecast_in_chunks

            say(f"forecasting {horizon} periods with {model}, {chunk_size:,} series a chunk")
            fc = forecast_in_chunks(
                data,
                output,
                chunk_size=chunk_size,
                horizon=horizon,
                model=model,
                levels=levels,
                n_jobs=jobs,
                time_budget=time_budget,
                params={
                    **(_read_params(params) or {}),
                    **({"model_path": model_path} if model_path else {}),
                },
                restart=restart,
                engine=_engine(engine, engine_address, jobs),
                progress=say,
            )
            used = {"horizon": horizon, "model": model, "levels": levels, "chunk_size": chunk_size}
            _record(store, "forecast", data, used, {"forecast": fc})
            typer.echo(f"Wrote {len(fc):,} rows for {data.n_series:,} series to {output}")
            return
        say(f"forecasting {horizon} periods with {model}")
        fc, fitted = fit_forecast(
            data,
            horizon=horizon,
            model=model,
            levels=levels,
            n_jobs=jobs,
            time_budget=time_budget,
            params={
                **(_read_params(params) or {}),
                **({"model_path": model_path} if model_path else {}),
            },
            engine=_engine(engine, engine_address, jobs),
        )
        tables = {"forecast": fc}
        if reconcile != "none":
            fc, tables = _reconciled(data, fc, reconcile, output, say, model, levels, jobs)
        path = write_csv_atomic(to_output(fc, data), output)
        _record(
            store,
            "forecast",
            data,
            {"horizon": horizon, "model": model, "levels": levels, "reconcile": reconcile},
            tables,
            model=(model, fitted),
        )
        counts = fc["model"].value_counts()
        say("models used: " + ", ".join(f"{k} ({v // horizon})" for k, v in counts.items()))
        typer.echo(f"Wrote {len(fc):,} rows for {data.n_series:,} series to {path}")


@app.command()
def backtest(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the leaderboard CSV.")
    ] = Path("leaderboard.csv"),
    input: InputOpt = None,
    id_col: IdColOpt = None,
    time_col: TimeColOpt = None,
    target_col: TargetColOpt = None,
    horizon: HorizonOpt = 28,
    freq: FreqOpt = None,
    windows: Annotated[int, typer.Option("--windows", help="Backtest windows.")] = 3,
    step: Annotated[int | None, typer.Option("--step", help="Periods between cutoffs.")] = None,
    models: Annotated[
        list[str] | None, typer.Option("--model", help="Models to compare; repeatable.")
    ] = None,
    level: LevelOpt = None,
    orders: OrdersOpt = False,
    sales_table: SalesOpt = False,
    price_col: PriceColOpt = None,
    order_col: OrderColOpt = None,
    config: ConfigOpt = None,
    jobs: JobsOpt = 1,
    time_budget: BudgetOpt = None,
    events: EventsOpt = None,
    events_col: EventsColOpt = None,
    store: StoreOpt = "trendcast.duckdb",
    engine: EngineOpt = "local",
    engine_address: EngineAddressOpt = None,
) -> None:
    """Rolling-origin backtest of several models; writes the leaderboard."""
    say = _Progress()
    with _user_errors():
        from trendcast.evaluation.backtest import DEFAULT_BACKTEST_MODELS
        from trendcast.pipeline import backtest as run_backtest
        from trendcast.pipeline import write_csv_atomic

        settings = _settings(config, id_col, time_col, target_col, price_col, order_col)
        levels = level or list(settings["forecast"].levels)
        data = _load(input, settings, freq, _mode(orders, sales_table), say, events, events_col)
        result = run_backtest(
            data,
            horizon=horizon,
            windows=windows,
            step=step,
            models=models or DEFAULT_BACKTEST_MODELS,
            levels=levels,
            n_jobs=jobs,
            progress=say,
            time_budget=time_budget,
            engine=_engine(engine, engine_address, jobs),
        )
        write_csv_atomic(result.leaderboard, output)
        _record(
            store,
            "backtest",
            data,
            {"horizon": horizon, "windows": windows, "step": step, "levels": levels},
            {
                "leaderboard": result.leaderboard,
                "metrics": result.per_series,
                "segment_leaderboard": result.segment_leaderboard,
                "backtest": result.backtest,
            },
        )
        seg_path = output.with_name(output.stem + "_by_segment.csv")
        write_csv_atomic(result.segment_leaderboard, seg_path)
        _print_board(result.leaderboard)
        typer.echo(f"Wrote the leaderboard to {output} and per segment to {seg_path}")


def _record(
    store: str,
    kind: str,
    data: Any,
    config: dict[str, Any],
    tables: Any,
    model: tuple[str, Any] | None = None,
) -> None:
    """Keep the step in the run store; a store that cannot be written costs only the record."""
    from trendcast.exceptions import StoreError
    from trendcast.pipeline import record

    try:
        run_id = record(store, kind, data, config, tables, model=model)
        _echo(f"recorded as run {run_id} in {store}")
    except StoreError as exc:
        _echo(f"Warning: the run was not recorded: {exc}")


def _engine(name: str, address: str | None, jobs: int) -> Any:
    from trendcast.engines import Engine

    return Engine(name, address=address, workers=jobs)


def _read_params(path: Path | None) -> dict[str, Any] | None:
    import json

    from trendcast.exceptions import ConfigError

    if path is None:
        return None
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"Parameter file not found: {path}.") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}.") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path} must hold a JSON object of hyperparameters.")
    return loaded.get("params", loaded)


def _print_board(board: Any) -> None:
    from trendcast.evaluation.leaderboard import HEADLINE_COLUMNS

    cols = [c for c in HEADLINE_COLUMNS if c in board.columns]
    typer.echo(board[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


@app.command()
def run(
    input: InputOpt = None,
    id_col: IdColOpt = None,
    time_col: TimeColOpt = None,
    target_col: TargetColOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("trendcast-out"),
    horizon: HorizonOpt = 28,
    freq: FreqOpt = None,
    windows: Annotated[int, typer.Option("--windows", help="Backtest windows.")] = 3,
    model: Annotated[str, typer.Option("--model", help="Model for the final forecast.")] = "auto",
    level: LevelOpt = None,
    orders: OrdersOpt = False,
    sales_table: SalesOpt = False,
    price_col: PriceColOpt = None,
    order_col: OrderColOpt = None,
    config: ConfigOpt = None,
    jobs: JobsOpt = 1,
    time_budget: BudgetOpt = None,
    events: EventsOpt = None,
    events_col: EventsColOpt = None,
    lang: LangOpt = "en",
    png: PngOpt = False,
    reconcile: ReconcileOpt = "none",
    store: StoreOpt = "trendcast.duckdb",
    engine: EngineOpt = "local",
    engine_address: EngineAddressOpt = None,
    lead_time: Annotated[
        int | None,
        typer.Option(
            "--lead-time",
            help="Also write plan.csv: order-up-to levels and quantities for this lead time "
            "(periods), from the run's own forecast and backtest, nothing on hand.",
        ),
    ] = None,
    review_period: ReviewOpt = 1,
    service_level: Annotated[
        float, typer.Option("--service-level", help="Target cycle service level of the plan.")
    ] = 0.95,
) -> None:
    """The whole path: clean, backtest, forecast, record the run, write the report."""
    say = _Progress()
    with _user_errors():
        from trendcast.pipeline import run as run_pipeline

        settings = _settings(config, id_col, time_col, target_col, price_col, order_col)
        levels = level or list(settings["forecast"].levels)
        say(f"reading {input or 'the embedded demo (UCI Online Retail, CC BY 4.0)'}")
        result = run_pipeline(
            input,
            settings["columns"],
            out_dir=out,
            store_path=store,
            freq=freq or settings["forecast"].freq,
            mode=_mode(orders, sales_table),
            horizon=horizon,
            windows=windows,
            model=model,
            levels=levels,
            cleaning=settings["cleaning"],
            n_jobs=jobs,
            progress=say,
            time_budget=time_budget,
            lang=lang,
            png=png,
            events=events,
            events_columns=_events_columns(events_col),
            reconcile=None if reconcile == "none" else reconcile,
            engine=_engine(engine, engine_address, jobs),
            lead_time=lead_time,
            review_period=review_period,
            service_level=service_level,
        )
        for line in result.data.report.summary_lines():
            say(f"  cleaning: {line}")
        _print_board(result.backtest.leaderboard)
        typer.echo(f"Run {result.run_id} recorded in {store}")
        typer.echo(f"Forecast: {result.forecast_path}")
        typer.echo(f"Report:   {result.report_path}")
        if lead_time is not None:
            typer.echo(f"Plan:     {out / 'plan.csv'}")
        if png:
            typer.echo(f"Figures:  {out / 'figures'}")


@app.command()
def tune(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the best parameters (JSON).")
    ] = Path("params.json"),
    input: InputOpt = None,
    id_col: IdColOpt = None,
    time_col: TimeColOpt = None,
    target_col: TargetColOpt = None,
    model: Annotated[str, typer.Option("--model", help="Model to tune.")] = "lightgbm",
    horizon: HorizonOpt = 28,
    freq: FreqOpt = None,
    windows: Annotated[int, typer.Option("--windows", help="Backtest windows per trial.")] = 1,
    time_budget: Annotated[
        float, typer.Option("--time-budget", help="Seconds for the whole search.")
    ] = 300.0,
    trials: Annotated[int | None, typer.Option("--trials", help="Stop after N trials.")] = None,
    orders: OrdersOpt = False,
    sales_table: SalesOpt = False,
    config: ConfigOpt = None,
    jobs: JobsOpt = 1,
    store: StoreOpt = "trendcast.duckdb",
) -> None:
    """Search a model's hyperparameters (Optuna) for the lowest backtest MASE."""
    say = _Progress()
    with _user_errors():
        import json

        from trendcast.evaluation.tuning import tune as run_tuning
        from trendcast.pipeline import _static, write_atomic

        settings = _settings(config, id_col, time_col, target_col)
        data = _load(input, settings, freq, _mode(orders, sales_table), say)
        result = run_tuning(
            data.panel,
            data.calendar,
            model=model,
            horizon=horizon,
            windows=windows,
            time_budget=time_budget,
            n_trials=trials,
            static_df=_static(data),
            n_jobs=jobs,
            progress=say,
        )
        payload = {"model": model, "params": result.best_params, "mase": result.best_mase}
        write_atomic(
            output, lambda tmp: tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        )
        _record(
            store,
            "tune",
            data,
            {"model": model, "horizon": horizon, "windows": windows, "time_budget": time_budget},
            {"tuning_history": result.history},
        )
        typer.echo(
            f"Best MASE {result.best_mase:.4f} after {len(result.history)} trial(s): "
            f"{result.best_params}"
        )
        typer.echo(
            f"Wrote {output}; use it with `trendcast forecast --model {model} --params {output}`"
        )


@app.command()
def ingest(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Clean panel: .parquet or .csv.")
    ] = Path("panel.parquet"),
    input: InputOpt = None,
    id_col: IdColOpt = None,
    time_col: TimeColOpt = None,
    target_col: TargetColOpt = None,
    freq: FreqOpt = None,
    orders: OrdersOpt = False,
    sales_table: SalesOpt = False,
    price_col: PriceColOpt = None,
    order_col: OrderColOpt = None,
    config: ConfigOpt = None,
    out_of_core: Annotated[
        bool,
        typer.Option(
            "--out-of-core",
            help="Clean and aggregate order lines with DuckDB, out of core (inputs larger than "
            "memory; CSV or Parquet files, folders, globs); writes Parquet. On by itself when "
            "--input is a glob such as 'orders/*.parquet'.",
        ),
    ] = False,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            "--memory-limit",
            help="Out of core: the ingest's memory budget, e.g. 8GB or 8GiB. DuckDB's buffers "
            "get three quarters of it and spill to disk beyond that.",
        ),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Out of core: DuckDB's threads.")
    ] = None,
    temp_dir: Annotated[
        Path | None,
        typer.Option(
            "--temp-dir", help="Out of core: folder for spilled data (default: beside the output)."
        ),
    ] = None,
) -> None:
    """Clean and aggregate the input into a panel; print the cleaning report."""
    say = _Progress()
    with _user_errors():
        from trendcast.data.outofcore import ingest_out_of_core, is_glob
        from trendcast.pipeline import write_atomic, write_csv_atomic

        settings = _settings(config, id_col, time_col, target_col, price_col, order_col)
        if out_of_core or (input and is_glob(input)):
            if sales_table:
                from trendcast.exceptions import ConfigError

                raise ConfigError("--out-of-core reads order lines; leave out --sales-table.")
            say(f"reading {input or 'the embedded demo'} out of core with DuckDB")
            result = ingest_out_of_core(
                input,
                output,
                settings["columns"],
                freq=freq or settings["forecast"].freq,
                config=settings["cleaning"],
                memory_limit=memory_limit,
                threads=threads,
                temp_directory=temp_dir,
                progress=lambda msg: say(f"  {msg}"),
            )
            table = result.report.to_frame()
            write_csv_atomic(table, output.with_name(output.stem + "_cleaning.csv"))
            typer.echo(table[["rule", "action", "rows", "units"]].to_string(index=False))
            typer.echo(f"Wrote {result.n_rows:,} rows for {result.n_series:,} series to {output}")
            return
        data = _load(input, settings, freq, _mode(orders, sales_table), say)
        if output.suffix == ".parquet":
            write_atomic(output, lambda tmp: data.panel.to_parquet(tmp, index=False))
        else:
            write_csv_atomic(data.panel, output)
        report_path = output.with_name(output.stem + "_cleaning.csv")
        write_csv_atomic(data.report.to_frame(), report_path)
        typer.echo(
            data.report.to_frame()[["rule", "action", "rows", "units"]].to_string(index=False)
        )
        typer.echo(f"Wrote {len(data.panel):,} rows for {data.n_series:,} series to {output}")


@app.command()
def trends(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the CSV.")],
    input: InputOpt = None,
    id_col: IdColOpt = None,
    time_col: TimeColOpt = None,
    target_col: TargetColOpt = None,
    window: Annotated[
        int | None,
        typer.Option(
            "--window",
            help="Periods to test, back from the last one. Default: a quarter of a year "
            "(13 weeks, 91 days), at least 12 periods.",
        ),
    ] = None,
    freq: FreqOpt = None,
    orders: OrdersOpt = False,
    sales_table: SalesOpt = False,
    price_col: PriceColOpt = None,
    order_col: OrderColOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Label every product rising, falling, stable, new or dead (Mann-Kendall); write a CSV."""
    say = _Progress()
    with _user_errors():
        from trendcast.analysis.trends import (
            default_window,
            detect_trends,
            trending_products,
            trends_output,
        )
        from trendcast.pipeline import write_csv_atomic

        settings = _settings(config, id_col, time_col, target_col, price_col, order_col)
        data = _load(input, settings, freq, _mode(orders, sales_table), say)
        periods = min(window or default_window(data.calendar), data.panel["ds"].nunique())
        say(f"testing trends over the last {periods} periods")
        result = detect_trends(data.panel, data.calendar, window=window)
        path = write_csv_atomic(trends_output(result, data), output)
        counts = result["trend"].value_counts()
        say(", ".join(f"{label} {n:,}" for label, n in counts.items()))
        top = trending_products(result, n=5)
        if not top.empty:
            cols = ["rank", "unique_id", "trend", "growth_pct", "p_value"]
            typer.echo(top[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        typer.echo(f"Wrote trends for {len(result):,} products to {path}")


@app.command()
def report(
    run_id: Annotated[
        str, typer.Option("--run", help="Run id, a unique prefix, or latest.")
    ] = "latest",
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file.")] = Path(
        "report.html"
    ),
    lang: LangOpt = "en",
    png: PngOpt = False,
    store: StoreOpt = "trendcast.duckdb",
) -> None:
    """Write the HTML report of a recorded run or analysis."""
    with _user_errors():
        import pandas as pd

        from trendcast.pipeline import report_title, stored_insight
        from trendcast.reporting import write_report
        from trendcast.reporting.i18n import check_language
        from trendcast.store import RunStore

        check_language(lang)
        with RunStore(store, read_only=True) as st:
            rec = st.get_run(run_id)
        t = rec.tables
        empty = pd.DataFrame()
        tables = {
            "panel": t["panel"][["unique_id", "ds", "y"]],
            "forecast": t.get("forecast", empty),
            "leaderboard": t.get("leaderboard", empty),
            "backtest": t.get("backtest", empty),
            "per_series": t.get("metrics", empty),
            **stored_insight(t),
        }
        levels = tuple(rec.config.get("levels", (80, 95)))
        path = write_report(
            output,
            title=report_title(
                "analysis.title" if rec.kind == "analysis" else "report.title", lang
            ),
            summary={**{k: v for k, v in rec.summary.items() if k != "timings"}, "Run": rec.run_id},
            cleaning=t["cleaning_report"],
            series_notes=t["series_notes"],
            segment_leaderboard=t.get("segment_leaderboard", empty),
            drivers=t.get("drivers"),
            levels=levels,
            lang=lang,
            hierarchy=t.get("hierarchy"),
            hierarchy_history=t.get("levels"),
            alerts=t.get("alerts"),
            **tables,
        )
        typer.echo(f"Report: {path}")
        if png:
            from trendcast.reporting.static import export_figures, report_figures

            folder = path.parent / "figures"
            export_figures(report_figures(**tables, levels=levels, lang=lang), folder)
            typer.echo(f"Figures: {folder}")


@app.command()
def analyze(
    input: InputOpt = None,
    id_col: IdColOpt = None,
    time_col: TimeColOpt = None,
    target_col: TargetColOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("trendcast-analysis"),
    freq: FreqOpt = None,
    window: Annotated[
        int | None,
        typer.Option(
            "--window",
            help="Periods of the trend test, back from the last one. Default: a quarter of a "
            "year (13 weeks, 91 days), at least 12 periods.",
        ),
    ] = None,
    top: Annotated[
        int,
        typer.Option(
            "--top",
            help="Best sellers to decompose (STL/MSTL) and show autocorrelations for; about two "
            "seconds each on two years of daily sales.",
        ),
    ] = 10,
    orders: OrdersOpt = False,
    sales_table: SalesOpt = False,
    price_col: PriceColOpt = None,
    order_col: OrderColOpt = None,
    config: ConfigOpt = None,
    lang: LangOpt = "en",
    png: PngOpt = False,
    store: StoreOpt = "trendcast.duckdb",
) -> None:
    """Trends, decomposition, stationarity, drivers and anomalies: tables, report, run record."""
    say = _Progress()
    with _user_errors():
        from trendcast.pipeline import analyze as analyze_sales

        settings = _settings(config, id_col, time_col, target_col, price_col, order_col)
        say(f"reading {input or 'the embedded demo (UCI Online Retail, CC BY 4.0)'}")
        result = analyze_sales(
            input,
            settings["columns"],
            out_dir=out,
            store_path=store,
            freq=freq or settings["forecast"].freq,
            mode=_mode(orders, sales_table),
            cleaning=settings["cleaning"],
            window=window,
            top_n=top,
            lang=lang,
            png=png,
            progress=say,
        )
        trends = result.tables.get("trends")
        if trends is not None:
            counts = trends["trend"].value_counts()
            say("trends: " + ", ".join(f"{label} {n:,}" for label, n in counts.items()))
        typer.echo(f"Analysis {result.run_id} recorded in {store}")
        typer.echo(f"Tables:  {len(result.table_paths)} CSV files in {out}")
        typer.echo(f"Report:  {result.report_path}")
        if png:
            typer.echo(f"Figures: {out / 'figures'}")


def _reconciled(
    data: Any,
    fc: Any,
    method: str,
    output: Path,
    say: Callable[[str], None],
    model: str,
    levels: list[int],
    jobs: int,
) -> tuple[Any, dict[str, Any]]:
    """The products' reconciled forecast and the tables to record; writes every level's CSV."""
    from trendcast.decisions.reconcile import hierarchy_forecast, levels_output
    from trendcast.pipeline import write_csv_atomic

    result = hierarchy_forecast(
        data,
        horizon=int(fc.groupby("unique_id").size().max()),
        model=model,
        method=method,
        levels=levels,
        n_jobs=jobs,
        product_forecast=fc,
        progress=say,
    )
    path = write_csv_atomic(
        levels_output(result, data), output.with_name(output.stem + "_levels.csv")
    )
    say(f"wrote the forecast of every level ({', '.join(result.hierarchy.levels)}) to {path}")
    products = result.products()
    return products, {"forecast": products, "hierarchy": result.forecast}


@app.command()
def alerts(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the alerts CSV.")
    ] = Path("alerts.csv"),
    input: InputOpt = None,
    id_col: IdColOpt = None,
    time_col: TimeColOpt = None,
    target_col: TargetColOpt = None,
    freq: FreqOpt = None,
    stock: Annotated[
        Path | None,
        typer.Option(
            "--stock",
            help="Stock table as for `trendcast plan` (product id column(s), on_hand, optional "
            "on_order, lead_time...): adds stock-out risk and overstock alerts from its plan.",
        ),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", help="Model of the plan behind the stock alerts.")
    ] = "auto",
    stockout_risk: Annotated[
        float,
        typer.Option(
            "--stockout-risk",
            help="Alert when the chance to run out before an order placed now arrives is above.",
        ),
    ] = 0.2,
    lead_time: Annotated[
        int | None,
        typer.Option("--lead-time", help="Lead time in periods (stock alerts). Default: a week."),
    ] = None,
    review_period: Annotated[
        int, typer.Option("--review-period", help="Periods between orders (stock alerts).")
    ] = 1,
    overstock_days: Annotated[
        float, typer.Option("--overstock-days", help="Alert when the stock covers more days.")
    ] = 90.0,
    dead_periods: Annotated[
        int | None,
        typer.Option(
            "--dead-periods",
            help="Periods without a sale that make a dead mover. Default: 8 weeks, 13 weeks or "
            "6 months.",
        ),
    ] = None,
    slow_ratio: Annotated[
        float,
        typer.Option(
            "--slow-ratio",
            help="Slow mover: the last window sold less than this share of the window before.",
        ),
    ] = 0.5,
    window: Annotated[
        int | None,
        typer.Option(
            "--window",
            help="Periods of the slow-mover and trend-break windows. Default: a quarter of a year.",
        ),
    ] = None,
    recent: Annotated[
        int | None,
        typer.Option(
            "--recent",
            help="Latest periods searched for demand anomalies. Default: a week (daily data).",
        ),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Alert kinds to look for (repeatable): stockout_risk, overstock, dead_mover, "
            "slow_mover, trend_break, demand_anomaly. Default: all.",
        ),
    ] = None,
    orders: OrdersOpt = False,
    sales_table: SalesOpt = False,
    price_col: PriceColOpt = None,
    order_col: OrderColOpt = None,
    config: ConfigOpt = None,
    jobs: JobsOpt = 1,
    store: StoreOpt = "trendcast.duckdb",
) -> None:
    """Alerts (stock-out risk, overstock, dead and slow movers, trend breaks, anomalies) to a CSV.

    Each alert comes with its reason and the numbers behind it.
    """
    say = _Progress()
    with _user_errors():
        from trendcast.decisions.alerts import (
            ALERT_KINDS,
            AlertSettings,
            alerts_output,
            default_lead_time,
            find_alerts,
        )
        from trendcast.decisions.plan import replenishment_plan
        from trendcast.pipeline import write_csv_atomic

        settings = AlertSettings(
            stockout_risk=stockout_risk,
            overstock_days=overstock_days,
            dead_periods=dead_periods,
            slow_ratio=slow_ratio,
            window=window,
            recent_periods=recent,
        )
        kinds = tuple(kind) if kind else ALERT_KINDS
        loaded = _settings(config, id_col, time_col, target_col, price_col, order_col)
        data = _load(input, loaded, freq, _mode(orders, sales_table), say)
        plan = None
        if stock is not None:
            plan = replenishment_plan(
                data,
                lead_time=lead_time if lead_time is not None else default_lead_time(data.calendar),
                review_period=review_period,
                stock=stock,
                model=model,
                n_jobs=jobs,
                progress=say,
            )
        found = find_alerts(data, plan=plan, settings=settings, kinds=kinds)
        path = write_csv_atomic(alerts_output(found, data), output)
        resolved = settings.resolved(data.calendar)
        _record(
            store,
            "alerts",
            data,
            {**resolved.__dict__, "kinds": list(kinds), "stock": str(stock) if stock else None},
            {"alerts": found, **({"plan": plan.plan} if plan is not None else {})},
        )
        if found.empty:
            typer.echo(f"No alerts; wrote an empty table to {path}")
            return
        counts = found.groupby(["alert", "severity"]).size().unstack(fill_value=0)
        typer.echo(counts.to_string())
        typer.echo(f"Wrote {len(found):,} alerts to {path}")


@app.command()
def whatif(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the scenario's forecast CSV.")
    ] = Path("whatif.csv"),
    input: InputOpt = None,
    id_col: IdColOpt = None,
    time_col: TimeColOpt = None,
    target_col: TargetColOpt = None,
    freq: FreqOpt = None,
    price_change: Annotated[
        str | None,
        typer.Option("--price-change", help="Relative price change, e.g. -10% or 0.05."),
    ] = None,
    price: Annotated[float | None, typer.Option("--price", help="New unit price.")] = None,
    promo: Annotated[
        bool, typer.Option("--promo", help="Run a promotion (needs a promo column in the data).")
    ] = False,
    products: Annotated[
        str | None,
        typer.Option(
            "--products",
            help="Comma-separated product ids (several id columns joined by /). Default: all.",
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="First date of the change. Default: horizon start.")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last date of the change. Default: horizon end.")
    ] = None,
    scenario: Annotated[
        Path | None,
        typer.Option(
            "--scenario",
            help="Scenario table instead of the options above: product id column(s), from, to, "
            "price_change, price, promo; one change per row.",
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option("--model", help="A model that uses future prices and promotions."),
    ] = "lightgbm",
    horizon: HorizonOpt = 28,
    refits: Annotated[
        int,
        typer.Option("--refits", help="Bootstrap refits for the uplift's interval (0: none)."),
    ] = 10,
    level: Annotated[int, typer.Option("--level", help="Level of the uplift's interval.")] = 80,
    orders: OrdersOpt = False,
    sales_table: SalesOpt = False,
    price_col: PriceColOpt = None,
    order_col: OrderColOpt = None,
    config: ConfigOpt = None,
    jobs: JobsOpt = 1,
    params: ParamsOpt = None,
    store: StoreOpt = "trendcast.duckdb",
) -> None:
    """Forecast a price change or promotion: base, scenario, uplift and its interval.

    For chosen products and periods, with a model that takes future covariates.
    """
    say = _Progress()
    with _user_errors():
        from trendcast.decisions.whatif import (
            check_whatif_model,
            read_scenario,
            scenario_changes,
            whatif_output,
        )
        from trendcast.decisions.whatif import whatif as run_whatif
        from trendcast.exceptions import ConfigError
        from trendcast.pipeline import write_csv_atomic

        check_whatif_model(model)
        options = price_change is not None or price is not None or promo
        if scenario is not None and (options or products or start or end):
            raise ConfigError(
                "--scenario holds the whole scenario; leave out --price-change, --price, --promo, "
                "--products, --from and --to."
            )
        loaded = _settings(config, id_col, time_col, target_col, price_col, order_col)
        data = _load(input, loaded, freq, _mode(orders, sales_table), say)
        if scenario is not None:
            changes = read_scenario(scenario, data, horizon)
        else:
            changes = scenario_changes(
                data,
                horizon,
                products=products.split(",") if products else None,
                start=start,
                end=end,
                price_change=price_change,
                price=price,
                promo=True if promo else None,
            )
        result = run_whatif(
            data,
            changes,
            horizon=horizon,
            model=model,
            refits=refits,
            level=level,
            n_jobs=jobs,
            params=_read_params(params),
            progress=say,
        )
        path = write_csv_atomic(whatif_output(result, data), output)
        _record(
            store,
            "whatif",
            data,
            {"model": model, "horizon": horizon, "refits": refits, "level": level},
            {"whatif": result.forecast, "whatif_summary": result.summary, "scenario": changes},
        )
        if result.fallback:
            say(
                f"{len(result.fallback)} product(s) too short for {model}'s lags get a historic "
                "average that ignores prices: " + ", ".join(result.fallback[:5])
            )
        typer.echo(result.summary.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
        typer.echo(f"Wrote the base and scenario forecasts to {path}")


LeadTimeOpt = Annotated[
    int,
    typer.Option(
        "--lead-time", help="Periods from placing an order to its arrival (data's frequency)."
    ),
]
ReviewOpt = Annotated[
    int, typer.Option("--review-period", help="Periods between stock reviews (orders).")
]


@app.command()
def plan(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the plan CSV.")],
    lead_time: LeadTimeOpt,
    input: InputOpt = None,
    id_col: IdColOpt = None,
    time_col: TimeColOpt = None,
    target_col: TargetColOpt = None,
    review_period: ReviewOpt = 1,
    service_level: Annotated[
        float,
        typer.Option(
            "--service-level",
            help="Target cycle service level: the chance a replenishment cycle has no stock-out.",
        ),
    ] = 0.95,
    stock: Annotated[
        str | None,
        typer.Option(
            "--stock",
            help="Stock table: the id column(s) and on_hand; optionally on_order, lead_time, "
            "review_period, moq, pack_size, unit_cost. Without it nothing is on hand.",
        ),
    ] = None,
    freq: FreqOpt = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="auto (chooses per product among the fast baseline and intermittent models) "
            "or a name from `trendcast models`.",
        ),
    ] = "auto",
    windows: Annotated[
        int, typer.Option("--windows", help="Backtest windows the forecast errors come from.")
    ] = 4,
    orders: OrdersOpt = False,
    sales_table: SalesOpt = False,
    price_col: PriceColOpt = None,
    order_col: OrderColOpt = None,
    config: ConfigOpt = None,
    jobs: JobsOpt = 1,
) -> None:
    """Replenishment plan: safety stock, reorder point, order-up-to level and order quantity."""
    say = _Progress()
    with _user_errors():
        from trendcast.decisions.plan import check_policy, plan_output, replenishment_plan
        from trendcast.pipeline import write_csv_atomic

        check_policy(lead_time, review_period, service_level)
        settings = _settings(config, id_col, time_col, target_col, price_col, order_col)
        data = _load(input, settings, freq, _mode(orders, sales_table), say)
        result = replenishment_plan(
            data,
            lead_time=lead_time,
            review_period=review_period,
            service_level=service_level,
            stock=stock,
            model=model,
            windows=windows,
            n_jobs=jobs,
            progress=say,
        )
        path = write_csv_atomic(plan_output(result, data), output)
        ordering = result.plan[result.plan["order_qty"] > 0]
        say(
            f"{len(ordering):,} of {len(result.plan):,} products to order, "
            f"{ordering['order_qty'].sum():,.0f} units"
        )
        typer.echo(f"Wrote the plan for {len(result.plan):,} products to {path}")


@app.command()
def simulate(
    lead_time: LeadTimeOpt,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the summary CSV.")
    ] = Path("policy_simulation.csv"),
    input: InputOpt = None,
    id_col: IdColOpt = None,
    time_col: TimeColOpt = None,
    target_col: TargetColOpt = None,
    review_period: ReviewOpt = 1,
    service_level: Annotated[
        list[float] | None,
        typer.Option("--service-level", help="Target cycle service level; repeatable."),
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="Model driving trendcast's policy; repeatable. Default: auto, seasonal_naive.",
        ),
    ] = None,
    reviews: Annotated[
        int, typer.Option("--reviews", help="Review cycles to replay, at the end of the data.")
    ] = 12,
    windows: Annotated[
        int, typer.Option("--windows", help="Backtest windows the forecast errors come from.")
    ] = 4,
    holding_rate: Annotated[
        float,
        typer.Option("--holding-rate", help="Cost of holding a unit a year, share of its value."),
    ] = 0.25,
    stockout_penalty: Annotated[
        float,
        typer.Option("--stockout-penalty", help="Cost of a lost sale, share of the unit's value."),
    ] = 0.5,
    freq: FreqOpt = None,
    orders: OrdersOpt = False,
    sales_table: SalesOpt = False,
    price_col: PriceColOpt = None,
    order_col: OrderColOpt = None,
    config: ConfigOpt = None,
    jobs: JobsOpt = 1,
) -> None:
    """Replay (R, S) policies over the data's last review cycles: fill rate, service, stock, cost."""
    say = _Progress()
    with _user_errors():
        from trendcast.decisions.simulate import simulate_policies
        from trendcast.pipeline import write_csv_atomic

        settings = _settings(config, id_col, time_col, target_col, price_col, order_col)
        data = _load(input, settings, freq, _mode(orders, sales_table), say)
        result = simulate_policies(
            data,
            lead_time=lead_time,
            review_period=review_period,
            service_levels=service_level or [0.95],
            models=models or ["auto", "seasonal_naive"],
            reviews=reviews,
            windows=windows,
            holding_rate=holding_rate,
            stockout_penalty=stockout_penalty,
            n_jobs=jobs,
            progress=say,
        )
        path = write_csv_atomic(result.summary, output)
        by_product = write_csv_atomic(
            result.per_series, output.with_name(output.stem + "_by_product.csv")
        )
        say(f"simulated {result.start:%Y-%m-%d} .. {result.end:%Y-%m-%d}")
        typer.echo(result.summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        typer.echo(f"Wrote the summary to {path} and per product to {by_product}")


DataDirOpt = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        help="Where the service keeps its keys, datasets, jobs and runs.",
        envvar="TRENDCAST_DATA_DIR",
    ),
]


DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="postgresql://... to keep keys, datasets and jobs in PostgreSQL (default: a "
        "DuckDB file in --data-dir).",
        envvar="TRENDCAST_DATABASE_URL",
    ),
]


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; 0.0.0.0 exposes it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    data_dir: DataDirOpt = Path("trendcast-data"),
    max_upload_mb: Annotated[
        float, typer.Option("--max-upload-mb", help="Largest upload accepted, in MB.")
    ] = 200.0,
    max_jobs: Annotated[int, typer.Option("--max-jobs", help="Jobs that run at once.")] = 1,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option("--cors-origin", help="Browser origin allowed to call the API; repeatable."),
    ] = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Run the REST API and the dashboard (open http://HOST:PORT/ in a browser)."""
    with _user_errors():
        import uvicorn

        from trendcast.api import ServiceConfig, create_app
        from trendcast.api.keys import create_key
        from trendcast.api.state import open_state
        from trendcast.exceptions import ConfigError

        if max_upload_mb <= 0 or max_jobs < 1:
            raise ConfigError("--max-upload-mb must be above 0 and --max-jobs at least 1.")
        state = open_state(data_dir, database_url)
        if state.count_admins() == 0:
            key_id, key = create_key(state, "admin", "first admin key")
            typer.echo(
                f"No keys yet: created admin key {key_id}. It is shown only now; keep it:\n  {key}"
            )
        config = ServiceConfig(
            data_dir=data_dir,
            max_upload_mb=max_upload_mb,
            max_jobs=max_jobs,
            cors_origins=tuple(cors_origin or ()),
            database_url=database_url,
        )
        typer.echo(f"Dashboard and API on http://{host}:{port}/ (API docs at /docs)")
        uvicorn.run(create_app(config), host=host, port=port, log_level="warning")


keys_app = typer.Typer(help="API keys of the service: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option("--role", help="admin, analyst or viewer.")] = "analyst",
    label: Annotated[str, typer.Option("--label", help="Who or what the key is for.")] = "",
    data_dir: DataDirOpt = Path("trendcast-data"),
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Create a key and print it once (only its hash is kept)."""
    with _user_errors():
        from trendcast.api.keys import create_key
        from trendcast.api.state import open_state

        key_id, key = create_key(open_state(data_dir, database_url), role, label)
        _echo(f"Created {role} key {key_id}. It is shown only now; keep it:")
        typer.echo(key)


@keys_app.command("list")
def keys_list(
    data_dir: DataDirOpt = Path("trendcast-data"), database_url: DatabaseUrlOpt = None
) -> None:
    """List the keys (ids, roles, labels, dates; never the keys themselves)."""
    with _user_errors():
        import pandas as pd

        from trendcast.api.state import open_state

        rows = open_state(data_dir, database_url).keys()
        typer.echo(pd.DataFrame(rows).to_string(index=False) if rows else "No keys yet.")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id shown by `trendcast keys list`.")],
    data_dir: DataDirOpt = Path("trendcast-data"),
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Revoke a key: requests with it get 401."""
    with _user_errors():
        from trendcast.api.keys import revoke_key
        from trendcast.api.state import open_state

        revoke_key(open_state(data_dir, database_url), key_id)
        typer.echo(f"Revoked key {key_id}.")


@app.command()
def runs(store: StoreOpt = "trendcast.duckdb") -> None:
    """List recorded runs, newest first."""
    with _user_errors():
        from trendcast.store import RunStore

        with RunStore(store, read_only=True) as st:
            table = st.list_runs()
        typer.echo(table.drop(columns=["summary"], errors="ignore").to_string(index=False))


@app.command()
def models() -> None:
    """List the registered models with their capabilities."""
    from trendcast.models import models_table

    table = models_table()
    typer.echo(table.to_string(index=False))


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
