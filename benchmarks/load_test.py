"""Load test of the REST service on loopback: many clients reading forecasts at once.

Starts ``trendcast serve`` in its own process, uploads the embedded demo order lines
(UCI Online Retail slice, 300 products) and runs the pipeline on them once through the
API (the run is reused when the data directory already has one). Then ``--clients``
concurrent clients (asyncio + httpx, one connection each) each read the forecasts of
random products, ``--requests`` times, with an API key. Reports latency percentiles,
throughput and errors into ``benchmarks/results/load_test.md`` (the last run) and
``benchmarks/results/load_test.csv`` (every run).

Target (issue 6): with 50 clients, p99 under 100 ms and zero errors on 2 cores. The
clients run on the same 2 cores as the server, so the figures include their cost.

    .venv/bin/python benchmarks/load_test.py --clients 50 --requests 40
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
from online_retail_models import machine

from trendcast.api.keys import create_key
from trendcast.api.state import ServiceState
from trendcast.datasets import demo_orders_path

RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trendcast",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).raise_for_status()
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    sys.exit("the server did not start")


def trained_run(client: httpx.Client) -> str:
    """The id of a finished run, made from the demo data when there is none yet."""
    done = client.get("/api/runs", params={"state": "succeeded", "kind": "run"}).json()
    if done:
        return str(done[0]["run_id"])
    dataset = client.post(
        "/api/datasets",
        params={"filename": "online_retail_demo.csv.gz"},
        content=demo_orders_path().read_bytes(),
    )
    dataset.raise_for_status()
    run = client.post(
        "/api/runs",
        json={"dataset_id": dataset.json()["dataset_id"], "model": "auto", "horizon": 28},
    ).json()
    print(f"training run {run['run_id']} on the demo data...", flush=True)
    while True:
        job = client.get(f"/api/runs/{run['run_id']}").json()
        if job["state"] == "succeeded":
            return str(job["run_id"])
        if job["state"] in ("failed", "cancelled"):
            sys.exit(f"the run {job['state']}: {job['error']}")
        time.sleep(2)


async def client_loop(
    base: str, headers: dict[str, str], run_id: str, products: list[str], n: int, seed: int
) -> tuple[list[float], int]:
    rng = random.Random(seed)
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        for _ in range(n):
            product = rng.choice(products)
            began = time.perf_counter()
            try:
                r = await client.get(f"/api/runs/{run_id}/forecasts", params={"product": product})
                ok = r.status_code == 200 and len(r.json()["rows"]) > 0
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - began)
            errors += not ok
    return latencies, errors


async def load(
    base: str, headers: dict[str, str], run_id: str, products: list[str], clients: int, n: int
) -> tuple[np.ndarray, int, float]:
    began = time.perf_counter()
    results = await asyncio.gather(
        *(client_loop(base, headers, run_id, products, n, seed) for seed in range(clients))
    )
    wall = time.perf_counter() - began
    latencies = np.array([x for lat, _ in results for x in lat])
    return latencies, sum(e for _, e in results), wall


WRK_SCRIPT = """
local products = {%s}
local run = "%s"
wrk.headers["Authorization"] = "Bearer %s"
math.randomseed(7)
request = function()
  local p = products[math.random(#products)]
  return wrk.format("GET", "/api/runs/" .. run .. "/forecasts?product=" .. p)
end
local errors = 0
response = function(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%.3f %%.3f %%.3f %%.3f %%d\\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.duration))
end
"""


def wrk_load(
    base: str, key: str, run_id: str, products: list[str], clients: int, seconds: int
) -> tuple[int, int, list[float], float]:
    """Run ``wrk`` (C, one thread, ``clients`` connections); requests, errors, the p50, p95,
    p99 and max latencies in ms and the duration in s."""
    quoted = ", ".join(f'"{quote(p)}"' for p in products)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % (quoted, run_id, key))
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{clients}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = next(line for line in out.splitlines() if line.startswith("RESULT")).split()[1:]
    requests, errors = int(fields[0]), int(fields[1])
    return requests, errors, [float(x) for x in fields[2:6]], int(fields[6]) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40, help="per client (python driver)")
    parser.add_argument("--seconds", type=int, default=20, help="duration (wrk driver)")
    parser.add_argument(
        "--driver",
        choices=["wrk", "python"],
        default="wrk" if shutil.which("wrk") else "python",
        help="wrk (apt install wrk; C, light on the shared cores) or asyncio+httpx clients",
    )
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/trendcast-load"))
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    port = free_port()
    server = start_server(args.data_dir, port)
    base = f"http://127.0.0.1:{port}"
    try:
        _, key = create_key(ServiceState(args.data_dir / "service.duckdb"), "analyst", "load test")
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            run_id = trained_run(client)
            products = [
                p["unique_id"]
                for p in client.get(
                    f"/api/runs/{run_id}/products", params={"limit": 100_000}
                ).json()["rows"]
            ]
        # one warm-up pass loads the run's forecast into the server's cache
        asyncio.run(load(base, headers, run_id, products, 2, 5))
        if args.driver == "wrk":
            n, errors, (p50, p95, p99, top), wall = wrk_load(
                base, key, run_id, products, args.clients, args.seconds
            )
            how = f"wrk, {args.clients} connections for {args.seconds} s"
        else:
            latencies, errors, wall = asyncio.run(
                load(base, headers, run_id, products, args.clients, args.requests)
            )
            ms = latencies * 1000
            p50, p95, p99 = np.percentile(ms, [50, 95, 99])
            n, top = len(ms), float(ms.max())
            how = f"asyncio + httpx, {args.clients} clients x {args.requests} requests"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    verdict = "met" if p99 < 100 and errors == 0 else "missed"
    lines = [
        "# Load test: concurrent clients reading forecasts",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}; load average "
        f"before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f} (other jobs running "
        "inflate the figures)",
        f"- `trendcast serve` (one process) on loopback; {how}, each request "
        f"`GET /api/runs/ID/forecasts?product=...` for a random product of a "
        f"{len(products)}-product run, with an API key; the clients share the server's cores",
        "",
        "| requests | errors | p50 ms | p95 ms | p99 ms | max ms | requests/s |",
        "|---|---|---|---|---|---|---|",
        f"| {n} | {errors} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {top:.1f} | {n / wall:.0f} |",
        "",
        f"Target p99 < 100 ms with zero errors: {verdict}.",
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load_test.md").write_text("\n".join(lines), encoding="utf-8")
    # every run is kept, so the spread between runs can be read, not only the last one
    history = RESULTS / "load_test.csv"
    row = pd.DataFrame(
        [
            {
                "utc": f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
                "driver": args.driver,
                "clients": args.clients,
                "load_before": round(load_before, 1),
                "requests": n,
                "errors": errors,
                "p50_ms": round(p50, 1),
                "p95_ms": round(p95, 1),
                "p99_ms": round(p99, 1),
                "max_ms": round(top, 1),
                "requests_per_s": round(n / wall),
            }
        ]
    )
    row.to_csv(history, mode="a", header=not history.exists(), index=False)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
