"""The REST service: keys and roles, uploads, jobs, results and clean errors."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from trendcast.api import ServiceConfig, create_app
from trendcast.api.keys import create_key
from trendcast.api.state import ServiceState

RUN = {"model": "seasonal_naive", "horizon": 14, "windows": 2, "lead_time": 3}


def sales_csv(products: int = 6, days: int = 150, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days)
    frame = pd.DataFrame(
        [(f"SKU{i}", d, rng.poisson(3 + i)) for i in range(products) for d in dates],
        columns=["sku", "date", "qty"],
    )
    return frame.to_csv(index=False).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wait_for(
    client: TestClient, run_id: str, headers: dict[str, str], timeout: float = 300
) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/runs/{run_id}", headers=headers).json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} still {job['state']} after {timeout}s")


class Service:
    def __init__(self, data_dir: Path, client: TestClient) -> None:
        self.data_dir = data_dir
        self.client = client
        state = ServiceState(data_dir / "service.duckdb")
        self.keys = {role: create_key(state, role)[1] for role in ("viewer", "analyst", "admin")}

    def h(self, role: str) -> dict[str, str]:
        return bearer(self.keys[role])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data_dir = tmp_path_factory.mktemp("service")
    app = create_app(ServiceConfig(data_dir=data_dir, max_upload_mb=1.0))
    with TestClient(app) as client:
        yield Service(data_dir, client)


@pytest.fixture(scope="module")
def finished(service: Service) -> dict:
    """A dataset and a run of it that succeeded."""
    c = service.client
    up = c.post(
        "/api/datasets",
        params={"filename": "sales.csv"},
        content=sales_csv(),
        headers=service.h("analyst"),
    )
    assert up.status_code == 201, up.text
    dataset_id = up.json()["dataset_id"]
    started = c.post(
        "/api/runs", json={"dataset_id": dataset_id, **RUN}, headers=service.h("analyst")
    )
    assert started.status_code == 202, started.text
    job = wait_for(c, started.json()["run_id"], service.h("viewer"))
    assert job["state"] == "succeeded", c.get(
        f"/api/runs/{job['run_id']}/logs", headers=service.h("viewer")
    ).text
    return {"dataset_id": dataset_id, "run_id": job["run_id"], "job": job}


# -- keys and roles ---------------------------------------------------------------------------


def test_health_needs_no_key_but_everything_else_does(service: Service) -> None:
    c = service.client
    assert c.get("/api/health").json()["status"] == "ok"
    r = c.get("/api/datasets")
    assert r.status_code == 401
    assert "Authorization: Bearer" in r.json()["error"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_wrong_or_malformed_key_gets_401(service: Service) -> None:
    c = service.client
    real = service.keys["viewer"]
    for bad in ("nonsense", "tc_x_y", real[:-2] + "zz", "tc__", "Bearer"):
        r = c.get("/api/datasets", headers=bearer(bad))
        assert r.status_code == 401, bad
        assert r.json()["error"] == "The API key is unknown or revoked."


def test_roles_are_ordered_viewer_analyst_admin(service: Service) -> None:
    c = service.client
    assert c.get("/api/me", headers=service.h("viewer")).json()["role"] == "viewer"
    r = c.post(
        "/api/datasets",
        params={"filename": "a.csv"},
        content=sales_csv(),
        headers=service.h("viewer"),
    )
    assert r.status_code == 403
    assert "analyst" in r.json()["error"]
    assert c.get("/api/keys", headers=service.h("analyst")).status_code == 403
    assert c.get("/api/keys", headers=service.h("admin")).status_code == 200


def test_keys_are_shown_once_stored_hashed_and_revocable(service: Service) -> None:
    c = service.client
    made = c.post("/api/keys", json={"role": "viewer", "label": "ci"}, headers=service.h("admin"))
    assert made.status_code == 201
    key, key_id = made.json()["key"], made.json()["key_id"]
    assert c.get("/api/me", headers=bearer(key)).status_code == 200
    listed = c.get("/api/keys", headers=service.h("admin")).json()
    assert key_id in {k["key_id"] for k in listed}
    assert key not in str(listed)
    raw = (service.data_dir / "service.duckdb").read_bytes()
    assert key.split("_", 2)[2].encode() not in raw
    assert c.delete(f"/api/keys/{key_id}", headers=service.h("admin")).status_code == 200
    assert c.get("/api/me", headers=bearer(key)).status_code == 401
    again = c.delete(f"/api/keys/{key_id}", headers=service.h("admin"))
    assert again.status_code == 404
    assert "already revoked" in again.json()["error"]


def test_a_key_revoked_from_the_cli_stops_working(service: Service, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from trendcast.cli.main import app as cli

    made = CliRunner().invoke(
        cli, ["keys", "create", "--role", "viewer", "--data-dir", str(service.data_dir)]
    )
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    assert service.client.get("/api/me", headers=bearer(key)).status_code == 200
    key_id = key.split("_")[1]
    revoked = CliRunner().invoke(
        cli, ["keys", "revoke", key_id, "--data-dir", str(service.data_dir)]
    )
    assert revoked.exit_code == 0, revoked.output
    # the key ring re-checks a remembered key in the background after two seconds
    deadline = time.monotonic() + 10
    while service.client.get("/api/me", headers=bearer(key)).status_code != 401:
        assert time.monotonic() < deadline, "a revoked key still works after 10 s"
        time.sleep(0.2)


# -- uploads -----------------------------------------------------------------------------------


def test_an_upload_is_profiled_and_stored_under_a_server_chosen_name(service: Service) -> None:
    r = service.client.post(
        "/api/datasets",
        params={"filename": "../../etc/passwd.csv", "name": "shop"},
        content=sales_csv(products=3),
        headers=service.h("analyst"),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["profile"]["series"] == 3
    assert body["profile"]["columns"]["id_cols"] == ["sku"]
    assert "stored_as" not in body
    stored = list((service.data_dir / "uploads").glob(f"{body['dataset_id']}.*"))
    assert [p.name for p in stored] == [f"{body['dataset_id']}.csv"]
    assert not (service.data_dir.parent / "etc").exists()
    assert body["filename"] == "passwd.csv"


def test_an_upload_over_the_limit_gets_413_and_leaves_nothing(service: Service) -> None:
    before = set((service.data_dir / "uploads").iterdir())
    big = b"sku,date,qty\n" + b"A,2024-01-01,1\n" * 80_000  # about 1.2 MB
    r = service.client.post(
        "/api/datasets", params={"filename": "big.csv"}, content=big, headers=service.h("analyst")
    )
    assert r.status_code == 413
    assert "--max-upload-mb" in r.json()["error"]
    assert set((service.data_dir / "uploads").iterdir()) == before


@pytest.mark.parametrize(
    ("body", "filename", "status", "message"),
    [
        (b"", "a.csv", 422, "empty"),
        (b"\x00\x01\x02binary", "a.csv", 415, "not a text CSV"),
        (b"hello", "a.parquet", 415, "not a Parquet file"),
        (b"PK\x03\x04rest", "a.xlsx", 415, "Excel"),
        (b"colour,size\nred,1\n", "a.csv", 422, "a.csv"),
        (b"sku,date,qty\nA,not a date,1\nB,also bad,2\n", "a.csv", 422, "a.csv"),
    ],
)
def test_bad_uploads_get_a_4xx_that_says_what_is_wrong(
    service: Service, body: bytes, filename: str, status: int, message: str
) -> None:
    r = service.client.post(
        "/api/datasets", params={"filename": filename}, content=body, headers=service.h("analyst")
    )
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_a_dataset_can_be_listed_inspected_and_deleted(service: Service) -> None:
    c = service.client
    made = c.post(
        "/api/datasets",
        params={"filename": "x.csv"},
        content=sales_csv(products=2),
        headers=service.h("analyst"),
    ).json()
    dataset_id = made["dataset_id"]
    assert dataset_id in {
        d["dataset_id"] for d in c.get("/api/datasets", headers=service.h("viewer")).json()
    }
    assert (
        c.get(f"/api/datasets/{dataset_id}", headers=service.h("viewer")).json()["profile"][
            "series"
        ]
        == 2
    )
    assert c.delete(f"/api/datasets/{dataset_id}", headers=service.h("analyst")).status_code == 200
    assert c.get(f"/api/datasets/{dataset_id}", headers=service.h("viewer")).status_code == 404
    assert not list((service.data_dir / "uploads").glob(f"{dataset_id}.*"))


# -- runs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"horizon": 100_000}, "limit"),
        ({"horizon": 0}, "horizon"),
        ({"model": "no_such_model"}, "Unknown model"),
        ({"lead_time": 30}, "lead_time + review_period"),
        ({"horizon": 60, "windows": 3}, "periods of history"),
        ({"dataset_id": "missing"}, "No dataset"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_run_request_gets_422_or_404_with_the_reason(
    service: Service, finished: dict, change: dict, message: str
) -> None:
    body = {"dataset_id": finished["dataset_id"], **RUN, **change}
    r = service.client.post("/api/runs", json=body, headers=service.h("analyst"))
    assert r.status_code in (404, 422), r.text
    assert message in r.json()["error"]


def test_unparseable_json_gets_422_not_500(service: Service) -> None:
    r = service.client.post(
        "/api/runs",
        content=b"{not json",
        headers={**service.h("analyst"), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["error"].startswith("Invalid request")


def test_a_run_reports_progress_and_its_log(service: Service, finished: dict) -> None:
    job = finished["job"]
    assert job["progress"]["fraction"] == 1.0
    assert job["started_at"] is not None and job["finished_at"] is not None
    log = service.client.get(
        f"/api/runs/{finished['run_id']}/logs", headers=service.h("viewer")
    ).text
    assert "forecasting 14 periods with seasonal_naive" in log


def test_forecasts_are_queried_by_product_and_dates_as_json_or_csv(
    service: Service, finished: dict
) -> None:
    c, rid = service.client, finished["run_id"]
    one = c.get(
        f"/api/runs/{rid}/forecasts", params={"product": "SKU1"}, headers=service.h("viewer")
    ).json()
    assert len(one["rows"]) == 14
    assert {r["model"] for r in one["rows"]} == {"seasonal_naive"}
    first = one["rows"][0]
    assert (
        first["forecast-lo-95"]
        <= first["forecast-lo-80"]
        <= first["forecast"]
        <= first["forecast-hi-80"]
    )
    some = c.get(
        f"/api/runs/{rid}/forecasts",
        params={"product": "SKU1", "start": "2024-05-31", "end": "2024-06-02"},
        headers=service.h("viewer"),
    ).json()
    assert [r["ds"][:10] for r in some["rows"]] == ["2024-05-31", "2024-06-01", "2024-06-02"]
    csv = c.get(f"/api/runs/{rid}/forecasts", params={"format": "csv"}, headers=service.h("viewer"))
    assert csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == 1 + 6 * 14
    latest = c.get(
        "/api/runs/latest/forecasts", params={"product": "SKU1"}, headers=service.h("viewer")
    )
    assert latest.status_code == 200


def test_repeated_product_reads_answer_the_same_and_still_need_a_key(
    service: Service, finished: dict
) -> None:
    c, rid = service.client, finished["run_id"]
    path = f"/api/runs/{rid}/forecasts"
    for fmt in ("json", "csv"):
        params = {"product": "SKU2", "format": fmt}
        first = c.get(path, params=params, headers=service.h("viewer"))
        again = c.get(path, params=params, headers=service.h("viewer"))
        assert first.status_code == again.status_code == 200
        assert first.content == again.content
        assert first.headers["content-type"] == again.headers["content-type"]
        assert again.headers.get("content-disposition") == first.headers.get("content-disposition")
        assert c.get(path, params=params).status_code == 401
    assert (
        c.get(path, params={"product": "SKU2"}, headers=service.h("viewer")).json()["product"]
        == "SKU2"
    )
    # another product is not answered from the first one's entry
    other = c.get(path, params={"product": "SKU3"}, headers=service.h("viewer")).json()
    assert other["product"] == "SKU3" and other["rows"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("forecasts?product=NOPE", 404, "No product 'NOPE'"),
        ("products/NOPE", 404, "No product 'NOPE'"),
        ("forecasts?start=2024-13-01", 422, "start"),
        ("forecasts?start=2024-06-05&end=2024-06-01", 422, "after"),
    ],
)
def test_bad_result_queries_get_a_clear_4xx(
    service: Service, finished: dict, path: str, status: int, message: str
) -> None:
    r = service.client.get(f"/api/runs/{finished['run_id']}/{path}", headers=service.h("viewer"))
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_results_of_a_run_cover_trends_alerts_plan_and_the_product_view(
    service: Service, finished: dict
) -> None:
    c, rid, h = service.client, finished["run_id"], service.h("viewer")
    board = c.get(f"/api/runs/{rid}/leaderboard", headers=h).json()["rows"]
    assert {"seasonal_naive", "auto"} <= {r["model"] for r in board}
    trends = c.get(f"/api/runs/{rid}/trends", headers=h).json()["rows"]
    assert len(trends) == 6 and {"trend", "growth_pct", "p_value"} <= set(trends[0])
    plan = c.get(f"/api/runs/{rid}/plan", headers=h).json()["rows"]
    assert len(plan) == 6 and all(r["order_qty"] >= 0 for r in plan)
    assert [r["order_qty"] for r in plan] == sorted((r["order_qty"] for r in plan), reverse=True)
    assert c.get(f"/api/runs/{rid}/alerts", headers=h).status_code == 200
    detail = c.get(f"/api/runs/{rid}/products/SKU3", headers=h).json()
    assert detail["model"] == "seasonal_naive" and len(detail["forecast"]) == 14
    assert detail["plan"] and detail["trends"]
    listing = c.get(f"/api/runs/{rid}/products", params={"search": "sku"}, headers=h).json()
    assert listing["total"] == 6 and listing["rows"][0]["unique_id"] == "SKU5"  # best seller first
    overview = c.get(f"/api/runs/{rid}/overview", headers=h).json()
    assert overview["kpis"]["products"] == 6 and overview["kpis"]["horizon"] == 14
    report = c.get(f"/api/runs/{rid}/report", headers=h)
    assert report.status_code == 200 and "<html" in report.text[:500].lower()


def test_a_cancelled_run_stops_its_worker(service: Service, finished: dict) -> None:
    c = service.client
    started = c.post(
        "/api/runs",
        json={"dataset_id": finished["dataset_id"], **RUN, "model": "auto"},
        headers=service.h("analyst"),
    ).json()
    run_id = started["run_id"]
    deadline = time.monotonic() + 60
    while c.get(f"/api/runs/{run_id}", headers=service.h("viewer")).json()["state"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    job = service.client.app.state.service.state.job(run_id)  # type: ignore[attr-defined]
    pid = job["pid"]
    cancelled = c.post(f"/api/runs/{run_id}/cancel", headers=service.h("analyst"))
    assert cancelled.json()["state"] == "cancelled"
    time.sleep(0.5)
    assert (
        not Path(f"/proc/{pid}").exists()
        or b"zombie" in Path(f"/proc/{pid}/status").read_bytes().lower()
    )
    results = c.get(f"/api/runs/{run_id}/forecasts", headers=service.h("viewer"))
    assert results.status_code == 409
    assert "cancelled" in results.json()["error"]


def test_a_dataset_in_use_cannot_be_deleted(service: Service, finished: dict) -> None:
    c = service.client
    app_state = c.app.state.service  # type: ignore[attr-defined]
    app_state.jobs.max_jobs = 0  # keep the next job queued
    try:
        run_id = c.post(
            "/api/runs",
            json={"dataset_id": finished["dataset_id"], **RUN},
            headers=service.h("analyst"),
        ).json()["run_id"]
        r = c.delete(f"/api/datasets/{finished['dataset_id']}", headers=service.h("analyst"))
        assert r.status_code == 409 and run_id in r.json()["error"]
        c.post(f"/api/runs/{run_id}/cancel", headers=service.h("analyst"))
    finally:
        app_state.jobs.max_jobs = 1


def test_the_dashboard_and_plotly_are_served_locally(service: Service) -> None:
    c = service.client
    assert c.get("/").status_code == 200
    js = c.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert c.get("/static/../service.duckdb").status_code == 404


def test_cors_is_off_unless_origins_are_configured(service: Service, tmp_path: Path) -> None:
    origin = {"Origin": "https://planner.example"}
    plain = service.client.get("/api/health", headers=origin)
    assert "access-control-allow-origin" not in plain.headers
    app = create_app(ServiceConfig(data_dir=tmp_path, cors_origins=("https://planner.example",)))
    with TestClient(app) as client:
        allowed = client.get("/api/health", headers=origin)
        assert allowed.headers["access-control-allow-origin"] == "https://planner.example"
        other = client.get("/api/health", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
