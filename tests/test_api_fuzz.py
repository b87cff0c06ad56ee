"""The API fuzzed from its own OpenAPI schema: whatever a client sends, never a 500."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from test_api import RUN, sales_csv, wait_for
from trendcast.api import ServiceConfig, create_app
from trendcast.api.keys import create_key
from trendcast.api.state import ServiceState

pytestmark = pytest.mark.slow

DATA_DIR = Path(tempfile.mkdtemp(prefix="trendcast-fuzz-"))
APP = create_app(ServiceConfig(data_dir=DATA_DIR, max_upload_mb=0.5))
ADMIN = create_key(ServiceState(DATA_DIR / "service.duckdb"), "admin")[1]
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def service_with_a_finished_run() -> Iterator[None]:
    """The service holds a dataset and a finished run ("latest") while it is fuzzed."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(APP) as client:
        dataset = client.post(
            "/api/datasets", params={"filename": "s.csv"}, content=sales_csv(), headers=headers
        ).json()
        run = client.post(
            "/api/runs", json={"dataset_id": dataset["dataset_id"], **RUN}, headers=headers
        ).json()
        job = wait_for(client, run["run_id"], headers)
        log = client.get(f"/api/runs/{run['run_id']}/logs", headers=headers).text
        assert job["state"] == "succeeded", f"{job}\n{log}"
        # runs the fuzzer starts are queued, not run: the point is the API, not the models
        APP.state.service.jobs.max_jobs = 0
        yield
    shutil.rmtree(DATA_DIR, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
    if response.status_code >= 400:
        assert "error" in response.json()


@schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_without_a_key_gets_past_authentication(case: schemathesis.Case) -> None:
    response = case.call()
    if case.path == "/api/health":
        assert response.status_code in (200, 405)
    else:
        # refused: for the missing key (401), or earlier for a body that cannot be parsed
        assert 400 <= response.status_code < 500, response.text
        assert response.status_code != 403, response.text
