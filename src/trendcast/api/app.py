"""The REST service: datasets, runs as background jobs, and their results.

``create_app(ServiceConfig(data_dir=...))`` builds the FastAPI application that
``trendcast serve`` runs. Its data directory holds everything it keeps::

    DATA_DIR/service.duckdb   API keys (hashed), datasets, jobs
    DATA_DIR/runs.duckdb      the run store the jobs write (as the CLI's --store)
    DATA_DIR/uploads/         uploaded files, under names the server chooses
    DATA_DIR/jobs/<run_id>/   each job's spec, log, progress and output files

Every route but ``/api/health`` and the dashboard's static files needs
``Authorization: Bearer <key>`` (see :mod:`trendcast.api.keys`). Errors are JSON,
``{"error": "what is wrong and what to do"}``, with a 4xx status; a 500 is a bug.
The routes hold no forecasting logic: they call the library, and jobs run it in
worker processes (:mod:`trendcast.api.jobs`).
"""

import gc
import json
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from trendcast.api.jobs import JobManager
from trendcast.api.keys import ApiKey, KeyRing, create_key, revoke_key
from trendcast.api.results import ResponseCache, RunTables
from trendcast.api.state import open_state, utc_now
from trendcast.exceptions import TrendcastError

__all__ = ["ApiError", "ServiceConfig", "create_app"]

STATIC = Path(__file__).parent / "static"
_UPLOAD_CHUNK = 1 << 20
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class ServiceConfig:
    """Settings of one service.

    Attributes
    ----------
    data_dir
        Where the service keeps its state, uploads and results (see the module doc).
    max_upload_mb
        Largest upload accepted; bigger ones get 413 while streaming, before they fill
        the disk.
    max_jobs
        Jobs run at once; more wait in the queue.
    max_horizon
        Largest forecast horizon a run may ask for.
    cors_origins
        Origins allowed to call the API from a browser; none (CORS off) by default.
    database_url
        A ``postgresql://`` URL to keep keys, datasets and jobs in PostgreSQL instead of
        ``data_dir/service.duckdb``.
    """

    data_dir: Path
    max_upload_mb: float = 200.0
    max_jobs: int = 1
    max_horizon: int = 730
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    database_url: str | None = None


#: the route many clients read at once: one product's forecasts
HOT_ROUTE = "/api/runs/{run_id}/forecasts"


class ApiError(StarletteHTTPException):
    """An error the client can fix; becomes ``{"error": message}`` with its status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status_code=status, detail=message)


class _Service:
    """What the routes share: the state, the key ring, the jobs and the results cache."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir
        self.uploads = self.data_dir / "uploads"
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.state = open_state(self.data_dir, config.database_url)
        self.keys = KeyRing(self.state)
        self.jobs = JobManager(self.state, self.data_dir, max_jobs=config.max_jobs)
        self.tables = RunTables(self.data_dir / "runs.duckdb")
        self.responses = ResponseCache()
        self.lifespans = 0
        self.succeeded: dict[str, dict[str, Any]] = {}


# -- request and response models ----------------------------------------------------------------


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["viewer", "analyst", "admin"]
    label: str = Field("", max_length=200)


class RunRequest(BaseModel):
    """A run (the whole pipeline: backtest, forecast, trends, alerts, plan) or a backtest."""

    model_config = ConfigDict(extra="forbid")
    dataset_id: str = Field(min_length=1, max_length=64)
    kind: Literal["run", "backtest"] = "run"
    horizon: int = Field(28, ge=1, description="Periods to forecast (at most the server's limit).")
    windows: int = Field(3, ge=1, le=20, description="Backtest windows.")
    model: str = Field("auto", min_length=1, max_length=64)
    time_budget: float | None = Field(None, gt=0, le=86_400, description="Seconds for auto.")
    lead_time: int | None = Field(
        None, ge=0, le=365, description="Periods; with it the run also makes a replenishment plan."
    )
    review_period: int = Field(1, ge=1, le=365)
    service_level: float = Field(0.95, gt=0, lt=1)


def _frame_response(frame: pd.DataFrame, fmt: str, filename: str, **meta: Any) -> Response:
    """A table as a CSV download, or as ``{**meta, "rows": [...]}``; the rows' JSON comes
    straight from pandas and is spliced in, not parsed and dumped again."""
    if fmt == "csv":
        return _body_response(frame.to_csv(index=False).encode(), fmt, filename)
    rows = frame.to_json(orient="records", date_format="iso", double_precision=6)
    head = json.dumps(meta)[:-1] + (", " if meta else "")
    return _body_response(f'{head}"rows": {rows}}}'.encode(), fmt, filename)


def _body_response(body: bytes, fmt: str, filename: str) -> Response:
    """A finished body as JSON, or as a CSV download named ``filename``."""
    if fmt == "csv":
        return Response(
            body,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return Response(body, media_type="application/json")


def _error_json(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


# -- the application ------------------------------------------------------------------------


def create_app(config: ServiceConfig) -> FastAPI:
    """The FastAPI application of a service over ``config.data_dir``."""
    service = _Service(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # lifespans can nest (test clients inside a running server): the outermost owns the jobs
        service.lifespans += 1
        if service.lifespans == 1:
            service.jobs.start()
            # the libraries loaded by now are long-lived: keep them out of the collector's
            # full passes, which otherwise pause every request in flight
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            service.lifespans -= 1
            if service.lifespans == 0:
                service.jobs.shutdown()
                gc.unfreeze()

    app = FastAPI(
        title="trendcast",
        version=version("trendcast"),
        description="E-commerce sales forecasting as a service: upload sales, run forecasts, "
        "read trends, alerts and replenishment plans. Send `Authorization: Bearer <key>`; "
        "create keys with `trendcast keys create`.",
        lifespan=lifespan,
    )
    app.state.service = service
    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type"],
        )
    _install_error_handlers(app)
    bearer = HTTPBearer(auto_error=False)

    def require(role: str) -> Callable[..., Awaitable[ApiKey]]:
        async def check(
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        ) -> ApiKey:
            challenge = {"WWW-Authenticate": "Bearer"}
            if credentials is None:
                raise StarletteHTTPException(
                    401,
                    "Missing API key: send 'Authorization: Bearer <key>'. An admin creates "
                    "keys with `trendcast keys create --role analyst`.",
                    headers=challenge,
                )
            # a remembered key is answered in memory, on the event loop; a new one is looked
            # up in the state on a thread, and a remembered one re-checked in the background
            key, due = service.keys.lookup(credentials.credentials)
            if key is None and due:
                key = await run_in_threadpool(service.keys.check, credentials.credentials)
            elif due:
                service.keys.refresh_soon(credentials.credentials)
            if key is None:
                raise StarletteHTTPException(
                    401, "The API key is unknown or revoked.", headers=challenge
                )
            if not key.can(role):
                raise ApiError(403, f"This needs the {role} role; the key's role is {key.role}.")
            return key

        return check

    Viewer = Annotated[ApiKey, Depends(require("viewer"))]
    Analyst = Annotated[ApiKey, Depends(require("analyst"))]
    Admin = Annotated[ApiKey, Depends(require("admin"))]
    Format = Annotated[Literal["json", "csv"], Query(description="json or csv")]
    RunId = Annotated[
        str,
        PathParam(
            description="A run id, or latest (the newest succeeded run).", examples=["latest"]
        ),
    ]

    # -- health and identity ---------------------------------------------------------------

    @app.get("/api/health", tags=["service"])
    def health() -> dict[str, Any]:
        """Whether the service and its state are up (no key needed)."""
        queued = len(service.state.jobs(state="queued", limit=1000))
        running = len(service.state.jobs(state="running", limit=1000))
        return {
            "status": "ok",
            "version": version("trendcast"),
            "jobs": {"queued": queued, "running": running},
        }

    @app.get("/api/models", tags=["service"])
    def models(_key: Viewer) -> list[dict[str, Any]]:
        """The models a run can use, with their family and capabilities."""
        from trendcast.models.registry import available_models, make_model

        out = []
        for name in available_models():
            model = make_model(name)
            out.append(
                {
                    "name": name,
                    "family": model.family,
                    "intervals": bool(model.supports_intervals),
                    "future_covariates": bool(model.supports_future_covariates),
                    "global": bool(model.is_global),
                }
            )
        return out

    @app.get("/api/me", tags=["service"])
    def me(key: Viewer) -> dict[str, str]:
        """The role of the key sent."""
        return {"key_id": key.key_id, "role": key.role, "label": key.label}

    # -- keys ------------------------------------------------------------------------------

    @app.get("/api/keys", tags=["keys"])
    def list_keys(_key: Admin) -> list[dict[str, Any]]:
        """Every key: id, role, label and when it was created or revoked (never the secret)."""
        return service.state.keys()

    @app.post("/api/keys", status_code=201, tags=["keys"])
    def new_key(body: KeyRequest, _key: Admin) -> dict[str, str]:
        """Create a key; the response is the only time its secret is shown."""
        key_id, full = create_key(service.state, body.role, body.label)
        return {"key_id": key_id, "role": body.role, "key": full}

    @app.delete("/api/keys/{key_id}", tags=["keys"])
    def delete_key(key_id: str, _key: Admin) -> dict[str, str]:
        """Revoke a key; requests with it get 401 from now on."""
        try:
            revoke_key(service.state, key_id)
        except TrendcastError as exc:
            raise ApiError(404, str(exc)) from None
        service.keys.forget(key_id)
        return {"key_id": key_id, "state": "revoked"}

    # -- datasets --------------------------------------------------------------------------

    @app.post(
        "/api/datasets",
        status_code=201,
        tags=["datasets"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in ("text/csv", "application/octet-stream")
                },
            }
        },
    )
    async def upload_dataset(
        request: Request,
        key: Analyst,
        filename: Annotated[str, Query(min_length=1, max_length=255)],
        name: Annotated[str | None, Query(max_length=200)] = None,
        id_col: Annotated[list[str] | None, Query(max_length=10)] = None,
        time_col: Annotated[str | None, Query(max_length=200)] = None,
        target_col: Annotated[str | None, Query(max_length=200)] = None,
        price_col: Annotated[str | None, Query(max_length=200)] = None,
        order_col: Annotated[str | None, Query(max_length=200)] = None,
        freq: Annotated[Literal["D", "W"] | None, Query()] = None,
        mode: Annotated[Literal["auto", "orders", "sales"], Query()] = "auto",
    ) -> dict[str, Any]:
        """Upload a CSV (optionally gzipped) or Parquet file as the request body.

        The body is streamed to disk and refused with 413 once it passes the size limit.
        The file is then read and cleaned as a run would read it; a file that cannot be
        used gets 422 with the reason. Name columns with the query parameters; the rest
        are detected by name.
        """
        limit = int(config.max_upload_mb * 1024 * 1024)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, _too_big(config.max_upload_mb))
        dataset_id = secrets.token_hex(8)
        partial = service.uploads / f".partial-{dataset_id}"
        size = 0
        head = b""
        try:
            with open(partial, "wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(413, _too_big(config.max_upload_mb))
                    if len(head) < _SNIFF_BYTES:
                        head += chunk[: _SNIFF_BYTES - len(head)]
                    out.write(chunk)
            if size == 0:
                raise ApiError(422, "The upload is empty: send the file's bytes as the body.")
            fmt = _sniff(head, filename)
            stored = service.uploads / f"{dataset_id}.{fmt}"
            os.replace(partial, stored)
        finally:
            partial.unlink(missing_ok=True)
        columns: dict[str, Any] = {
            k: v
            for k, v in {
                "id_cols": id_col,
                "time_col": time_col,
                "target_col": target_col,
                "price_col": price_col,
                "order_col": order_col,
            }.items()
            if v
        }
        options = {"freq": freq, "mode": mode}
        try:
            profile = await run_in_threadpool(_profile, stored, columns, options)
        except TrendcastError as exc:
            stored.unlink(missing_ok=True)
            raise ApiError(422, f"{filename}: {exc}") from None
        except Exception as exc:
            stored.unlink(missing_ok=True)
            raise ApiError(422, f"{filename} could not be read: {type(exc).__name__}") from None
        record = {
            "dataset_id": dataset_id,
            "name": name or Path(filename).name,
            "filename": Path(filename).name,
            "stored_as": str(stored),
            "format": fmt,
            "bytes": size,
            "columns": columns,
            "options": options,
            "profile": profile,
            "created_at": utc_now(),
            "created_by": key.key_id,
        }
        service.state.add_dataset(record)
        return _public_dataset(record)

    @app.get("/api/datasets", tags=["datasets"])
    def list_datasets(_key: Viewer) -> list[dict[str, Any]]:
        """The uploaded datasets, newest first."""
        return [_public_dataset(d) for d in service.state.datasets()]

    @app.get("/api/datasets/{dataset_id}", tags=["datasets"])
    def get_dataset(dataset_id: str, _key: Viewer) -> dict[str, Any]:
        """A dataset with its profile: series, frequency, date range, cleaning summary."""
        return _public_dataset(_dataset(service, dataset_id))

    @app.delete("/api/datasets/{dataset_id}", tags=["datasets"])
    def delete_dataset(dataset_id: str, _key: Analyst) -> dict[str, str]:
        """Delete an uploaded dataset (runs made from it stay)."""
        dataset = _dataset(service, dataset_id)
        busy = service.state.jobs_using(dataset_id)
        if busy:
            raise ApiError(
                409, f"Dataset {dataset_id} is used by job {busy[0]['job_id']}; cancel it first."
            )
        service.state.delete_dataset(dataset_id)
        Path(dataset["stored_as"]).unlink(missing_ok=True)
        return {"dataset_id": dataset_id, "state": "deleted"}

    # -- runs (jobs) -----------------------------------------------------------------------

    @app.post("/api/runs", status_code=202, tags=["runs"])
    def start_run(body: RunRequest, key: Analyst) -> dict[str, Any]:
        """Start a run or a backtest of a dataset as a background job."""
        from trendcast.models.registry import available_models
        from trendcast.store import new_run_id

        dataset = _dataset(service, body.dataset_id)
        if body.horizon > config.max_horizon:
            raise ApiError(
                422, f"horizon {body.horizon} is over this server's limit of {config.max_horizon}."
            )
        models = available_models()
        if body.model not in models:
            raise ApiError(422, f"Unknown model {body.model!r}; available: {', '.join(models)}.")
        if body.lead_time is not None and body.lead_time + body.review_period > body.horizon:
            raise ApiError(
                422,
                f"lead_time + review_period = {body.lead_time + body.review_period} is more than "
                f"the horizon {body.horizon}; the plan needs forecasts that far ahead.",
            )
        periods = int(dataset["profile"].get("periods", 0))
        if periods and periods <= body.horizon * body.windows:
            raise ApiError(
                422,
                f"{body.windows} backtest windows of {body.horizon} periods need more than "
                f"{body.horizon * body.windows} periods of history; the dataset has {periods}. "
                "Use a shorter horizon or fewer windows.",
            )
        run_id = new_run_id()
        params = body.model_dump(exclude={"dataset_id", "kind"}) | {"jobs": os.cpu_count() or 1}
        service.jobs.submit(run_id, body.kind, dataset, params, key.key_id)
        return _job_view(service, _job(service, run_id))

    @app.get("/api/runs", tags=["runs"])
    def list_runs(
        _key: Viewer,
        state: Annotated[
            Literal["queued", "running", "succeeded", "failed", "cancelled"] | None, Query()
        ] = None,
        kind: Annotated[Literal["run", "backtest"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Runs, newest first, with their state, progress and dataset name."""
        names = {d["dataset_id"]: d["name"] for d in service.state.datasets()}
        jobs = service.state.jobs(state=state, limit=limit if kind is None else 1_000_000)
        views = [
            {**_job_view(service, j), "dataset_name": names.get(j["dataset_id"])}
            for j in jobs
            if kind is None or j["kind"] == kind
        ]
        return views[:limit]

    @app.get("/api/runs/{run_id}", tags=["runs"])
    def get_run(run_id: RunId, _key: Viewer) -> dict[str, Any]:
        """A run's state, progress (fraction and current step) and parameters."""
        return _job_view(service, _job(service, _resolve(service, run_id, finished=False)))

    @app.post("/api/runs/{run_id}/cancel", tags=["runs"])
    def cancel_run(run_id: RunId, _key: Analyst) -> dict[str, Any]:
        """Cancel a queued or running job (a finished one is left as it is)."""
        job_id = _resolve(service, run_id, finished=False)
        service.jobs.cancel(job_id)
        return _job_view(service, _job(service, job_id))

    @app.get("/api/runs/{run_id}/logs", tags=["runs"], response_class=PlainTextResponse)
    def run_logs(
        run_id: RunId, _key: Viewer, tail: Annotated[int, Query(ge=1, le=10_000)] = 200
    ) -> str:
        """The job's log, one line per step."""
        return "\n".join(service.jobs.log(_resolve(service, run_id, finished=False), tail))

    @app.get("/api/runs/{run_id}/report", tags=["results"], response_class=FileResponse)
    def run_report(run_id: RunId, _key: Viewer) -> FileResponse:
        """The run's interactive HTML report."""
        path = service.jobs.output_dir(_resolve(service, run_id)) / "report.html"
        if not path.is_file():
            raise ApiError(404, f"Run {run_id} has no report (a backtest makes none).")
        return FileResponse(path, media_type="text/html")

    # -- results ---------------------------------------------------------------------------

    def table_route(name: str, what: str, sort: str | None = None) -> None:
        def read(
            run_id: RunId,
            _key: Viewer,
            format: Format = "json",
            limit: Annotated[int, Query(ge=1, le=1_000_000)] = 100_000,
        ) -> Response:
            rid = _resolve(service, run_id)
            frame = service.tables.table(rid, name)
            if frame is None:
                raise ApiError(404, f"Run {rid} has no {what}. {_hint(name)}")
            if sort and sort in frame.columns:
                frame = frame.sort_values(sort, ascending=False, kind="stable")
            return _frame_response(frame.head(limit), format, f"{name}-{rid}.csv", run_id=rid)

        read.__doc__ = f"The run's {what} (json or csv)."
        app.get(f"/api/runs/{{run_id}}/{name}", tags=["results"], name=name)(read)

    table_route("leaderboard", "model leaderboard")
    table_route("trends", "product trends")
    table_route("alerts", "alerts")
    table_route("plan", "replenishment plan", sort="order_qty")
    table_route("cleaning_report", "cleaning report")

    @app.get(HOT_ROUTE, tags=["results"])
    async def forecasts(
        run_id: RunId,
        _key: Viewer,
        product: Annotated[str | None, Query(max_length=500)] = None,
        start: date | None = None,
        end: date | None = None,
        format: Format = "json",
    ) -> Response:
        """Forecasts with their intervals, for one product or all, between two dates."""
        args = (run_id, product, start, end, format)
        if product is not None and start is None and end is None:
            # the hot path (one whole product of a finished run): bytes made once
            key = (run_id, product, format)
            body = service.responses.get(key)
            if body is None and service.tables.cached(run_id, "forecast"):
                response = read_forecasts(*args)
            elif body is None:
                response = await run_in_threadpool(read_forecasts, *args)
            else:
                return _body_response(body, format, f"forecast-{run_id}.csv")
            if response.status_code == 200 and run_id != "latest":
                service.responses.put(key, bytes(response.body))
            return response
        return await run_in_threadpool(read_forecasts, *args)

    def read_forecasts(
        run_id: str, product: str | None, start: date | None, end: date | None, format: str
    ) -> Response:
        rid = _resolve(service, run_id)
        if product is not None:
            frame = service.tables.rows_of(rid, "forecast", product)
            if frame is not None and frame.empty:
                raise ApiError(404, f"No product {product!r} in run {rid}. {_products_hint(rid)}")
        else:
            frame = service.tables.table(rid, "forecast")
        if frame is None:
            raise ApiError(404, f"Run {rid} has no forecast (a backtest makes none).")
        if start is not None:
            frame = frame[frame["ds"] >= pd.Timestamp(start)]
        if end is not None:
            frame = frame[frame["ds"] <= pd.Timestamp(end)]
        if start and end and start > end:
            raise ApiError(422, f"start {start} is after end {end}.")
        return _frame_response(frame, format, f"forecast-{rid}.csv", run_id=rid, product=product)

    @app.get("/api/runs/{run_id}/products", tags=["results"])
    def products(
        run_id: RunId,
        _key: Viewer,
        search: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 50,
    ) -> Response:
        """Products of a run, best sellers first, with trend and forecast total."""
        rid = _resolve(service, run_id)
        frame = _product_summary(service, rid)
        if search:
            frame = frame[frame["unique_id"].str.contains(search, case=False, regex=False)]
        return _frame_response(frame.head(limit), "json", "", run_id=rid, total=len(frame))

    @app.get("/api/runs/{run_id}/products/{product:path}", tags=["results"])
    def product_detail(
        run_id: RunId,
        product: str,
        _key: Viewer,
        history: Annotated[int, Query(ge=1, le=10_000)] = 180,
    ) -> dict[str, Any]:
        """One product: recent history, forecast with bands, model, trend, drivers, alerts."""
        rid = _resolve(service, run_id)
        panel = service.tables.rows_of(rid, "panel", product)
        if panel is None or panel.empty:
            raise ApiError(404, f"No product {product!r} in run {rid}. {_products_hint(rid)}")
        out: dict[str, Any] = {"run_id": rid, "product": product}
        out["history"] = _records(panel[["ds", "y"]].tail(history))
        for name in ("forecast", "drivers", "alerts", "trends", "plan"):
            rows = service.tables.rows_of(rid, name, product)
            out[name] = _records(rows.drop(columns="unique_id")) if rows is not None else []
        fc = out["forecast"]
        out["model"] = fc[0].get("model") if fc else None
        return out

    @app.get("/api/runs/{run_id}/overview", tags=["results"])
    def overview(run_id: RunId, _key: Viewer) -> dict[str, Any]:
        """Headline figures of a run: products, history, forecast total, best model, trend and
        alert counts, data health, and the daily total of actuals and forecasts."""
        rid = _resolve(service, run_id)
        return _overview(service, rid)

    # -- the dashboard ---------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        import plotly

        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(path, media_type="application/javascript")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Starlette tries the routes in order: the hot read goes first (the schema, made now,
    # keeps the order above)
    app.openapi()
    hot = [r for r in app.router.routes if getattr(r, "path", "") == HOT_ROUTE]
    app.router.routes[:] = hot + [r for r in app.router.routes if r not in hot]
    return app


# -- helpers --------------------------------------------------------------------------------


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request refused."
        if exc.status_code == 404 and message == "Not Found":
            message = "No such endpoint; the API is described at /docs."
        if exc.status_code == 405:
            message = "This endpoint does not take that method; see /docs."
        return _error_json(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return _error_json(422, "Invalid request: " + "; ".join(problems))

    @app.exception_handler(TrendcastError)
    async def user_error(_request: Request, exc: TrendcastError) -> JSONResponse:
        return _error_json(422, str(exc))

    @app.exception_handler(Exception)
    async def bug(_request: Request, exc: Exception) -> JSONResponse:
        return _error_json(500, f"Internal error ({type(exc).__name__}); the server log has more.")


def _too_big(limit_mb: float) -> str:
    return (
        f"The upload is larger than this server's limit of {limit_mb:g} MB; upload a smaller "
        "file (e.g. fewer months or a gzipped CSV) or start the server with a higher "
        "--max-upload-mb."
    )


def _sniff(head: bytes, filename: str) -> str:
    """The stored file's type from its first bytes: parquet, csv.gz or csv."""
    lower = filename.lower()
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\x1f\x8b"):
        return "csv.gz"
    if lower.endswith((".parquet", ".pq")):
        raise ApiError(415, f"{filename} is not a Parquet file (it lacks the PAR1 signature).")
    if lower.endswith((".xlsx", ".xls")) or head.startswith(b"PK\x03\x04"):
        raise ApiError(415, f"{filename} looks like an Excel workbook; save the sheet as CSV.")
    if b"\x00" in head:
        raise ApiError(
            415, f"{filename} is not a text CSV (it holds binary bytes); upload CSV or Parquet."
        )
    return "csv"


def _profile(path: Path, columns: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Read and clean an upload as a run would; what it found."""
    from trendcast.api.worker import column_map
    from trendcast.pipeline import load_sales

    data = load_sales(
        path,
        column_map(columns),
        freq=options.get("freq"),
        mode=options.get("mode", "auto"),
    )
    panel = data.panel
    return {
        "series": data.n_series,
        "rows": int(len(panel)),
        "periods": int(panel["ds"].nunique()),
        "frequency": data.calendar.describe(),
        "start": f"{panel['ds'].min():%Y-%m-%d}",
        "end": f"{panel['ds'].max():%Y-%m-%d}",
        "columns": data.columns.to_dict(),
        "cleaning": data.report.summary_lines(),
    }


def _public_dataset(record: dict[str, Any]) -> dict[str, Any]:
    """A dataset as the API shows it (without the server's file path)."""
    return {k: v for k, v in record.items() if k != "stored_as"}


def _dataset(service: _Service, dataset_id: str) -> dict[str, Any]:
    dataset = service.state.dataset(dataset_id)
    if dataset is None:
        raise ApiError(404, f"No dataset {dataset_id!r}; GET /api/datasets lists them.")
    return dataset


def _job(service: _Service, job_id: str) -> dict[str, Any]:
    # a succeeded job never changes again: remember it rather than open the state each request
    job = service.succeeded.get(job_id) or service.state.job(job_id)
    if job is None:
        raise ApiError(404, f"No run {job_id!r}; GET /api/runs lists them.")
    if job["state"] == "succeeded":
        service.succeeded[job_id] = job
    return job


def _resolve(service: _Service, run_id: str, finished: bool = True) -> str:
    """A job id from an id or ``latest`` (the newest succeeded full run, not a backtest);
    with ``finished``, the run must have succeeded."""
    if run_id == "latest":
        done = [
            j for j in service.state.jobs(state="succeeded", limit=1_000_000) if j["kind"] == "run"
        ]
        if not done:
            raise ApiError(404, "No run has finished yet; start one with POST /api/runs.")
        return str(max(done, key=lambda j: j["finished_at"])["job_id"])
    job = _job(service, run_id)
    if finished and job["state"] != "succeeded":
        raise ApiError(
            409, f"Run {run_id} is {job['state']}; its results exist once it has succeeded."
        )
    return run_id


def _job_view(service: _Service, job: dict[str, Any]) -> dict[str, Any]:
    view = {
        "run_id": job["job_id"],
        "kind": job["kind"],
        "dataset_id": job["dataset_id"],
        "state": job["state"],
        "params": job["params"],
        "created_at": job["created_at"],
        "started_at": job["started_at"],
        "finished_at": job["finished_at"],
        "error": job["error"],
    }
    progress = service.jobs.progress(job["job_id"])
    if job["state"] == "succeeded":
        progress = {**progress, "fraction": 1.0}
    view["progress"] = progress
    return view


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return list(json.loads(frame.to_json(orient="records", date_format="iso")))


def _hint(name: str) -> str:
    if name == "plan":
        return "Start the run with a lead_time to get a replenishment plan."
    return ""


def _products_hint(run_id: str) -> str:
    return f"GET /api/runs/{run_id}/products lists them."


def _product_summary(service: _Service, run_id: str) -> pd.DataFrame:
    fc = service.tables.table(run_id, "forecast")
    if fc is None:
        raise ApiError(404, f"Run {run_id} has no forecast (a backtest makes none).")
    out = (
        fc.groupby("unique_id", observed=True)
        .agg(forecast_total=("forecast", "sum"), model=("model", "first"))
        .reset_index()
    )
    trends = service.tables.table(run_id, "trends")
    if trends is not None:
        out = out.merge(trends[["unique_id", "trend", "growth_pct"]], on="unique_id", how="left")
    panel = service.tables.table(run_id, "panel")
    if panel is not None:
        sold = panel.groupby("unique_id", observed=True)["y"].sum().rename("history_total")
        out = out.merge(sold, left_on="unique_id", right_index=True, how="left")
        out = out.sort_values("history_total", ascending=False, kind="stable")
    out["unique_id"] = out["unique_id"].astype(str)
    return out.round(3).reset_index(drop=True)


def _overview(service: _Service, run_id: str) -> dict[str, Any]:
    tables = service.tables
    panel = tables.table(run_id, "panel")
    fc = tables.table(run_id, "forecast")
    board = tables.table(run_id, "leaderboard")
    trends = tables.table(run_id, "trends")
    alerts = tables.table(run_id, "alerts")
    cleaning = tables.table(run_id, "cleaning_report")
    kpis: dict[str, Any] = {}
    series: dict[str, Any] = {}
    if panel is not None:
        kpis["products"] = int(panel["unique_id"].nunique())
        kpis["history_start"] = f"{panel['ds'].min():%Y-%m-%d}"
        kpis["history_end"] = f"{panel['ds'].max():%Y-%m-%d}"
        total = panel.groupby("ds")["y"].sum()
        series["actual"] = _records(total.reset_index())
    if fc is not None:
        kpis["forecast_total"] = round(float(fc["forecast"].sum()), 1)
        kpis["horizon"] = int(fc.groupby("unique_id", observed=True).size().max())
        if "model" in fc.columns and len(fc):
            kpis["model"] = str(fc["model"].iloc[0])
        series["forecast"] = _records(fc.groupby("ds")["forecast"].sum().reset_index())
    if board is not None and not board.empty:
        best = board.iloc[0]
        kpis["best_model"] = str(best["model"])
        kpis["best_mase"] = round(float(best["mase"]), 3)
    if trends is not None:
        kpis["trends"] = {str(k): int(v) for k, v in trends["trend"].value_counts().items()}
    if alerts is not None:
        kpis["alerts"] = int(len(alerts))
        kpis["alerts_by_kind"] = {str(k): int(v) for k, v in alerts["alert"].value_counts().items()}
    health = _records(cleaning) if cleaning is not None else []
    return {"run_id": run_id, "kpis": kpis, "series": series, "data_health": health}
