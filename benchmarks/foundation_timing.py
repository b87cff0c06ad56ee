"""Benchmark: what the foundation models cost on this CPU, with random weights of the real sizes.

No pretrained weights can be downloaded here, so the models are built locally
with random weights at the published dimensions (Chronos-Bolt tiny and small,
Chronos-2 small; TimesFM 3 with ``--timesfm``) and loaded through trendcast's
own loader. Measured: load time, and series per second through
``make_model(...).fit(panel).predict(28)`` with 80% and 95% intervals, for
1,000 synthetic daily series of 365 days. The load average is printed with the
results: other work on the machine slows every row.

These are plumbing costs only: random weights forecast noise, and accuracy
needs the real weights (``hf download amazon/chronos-2 --local-dir DIR``).

Results go to ``benchmarks/results/foundation_timing.md`` with the machine and date.
Run: ``.venv/bin/python benchmarks/foundation_timing.py [--timesfm]`` (about a minute on 2
cores; ``--timesfm`` adds about three).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from online_retail_models import machine

from trendcast.data.calendar import TradingCalendar
from trendcast.models import foundation, make_model

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CONFIGS = [("chronos_bolt", "tiny"), ("chronos_bolt", "small"), ("chronos2", "small")]
TIMESFM = ("timesfm", "base")
LOADERS = {
    "chronos_bolt": foundation.load_chronos_pipeline,
    "chronos2": foundation.load_chronos_pipeline,
    "timesfm": foundation.load_timesfm,
}


def synthetic_panel(n_series: int, n_days: int, seed: int = 0) -> pd.DataFrame:
    """Weekly-seasonal Poisson demand with a level per series."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n_days, freq="D")
    level = rng.gamma(2.0, 10.0, size=(n_series, 1))
    weekly = 1 + 0.4 * np.sin(2 * np.pi * np.arange(n_days) / 7)
    y = rng.poisson(level * weekly).astype(float)
    return pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i:04d}" for i in range(n_series)], n_days),
            "ds": np.tile(dates, n_series),
            "y": y.ravel(),
        }
    )


def n_parameters(pipeline: object) -> float:
    model = pipeline.model  # type: ignore[attr-defined]
    return sum(p.numel() for p in model.parameters()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--jobs", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--timesfm", action="store_true", help="add TimesFM 3 at its published size (slow)"
    )
    args = parser.parse_args()
    configs = [*CONFIGS, TIMESFM] if args.timesfm else CONFIGS
    load_before = os.getloadavg()[0]

    panel = synthetic_panel(args.series, args.days)
    started = time.perf_counter()
    import chronos  # noqa: F401  (timed apart: the first import is a one-off cost)

    import_s = time.perf_counter() - started
    rows = []
    with tempfile.TemporaryDirectory(prefix="trendcast-chronos-bench-") as tmp:
        for kind, size in configs:
            path = foundation.save_random_model(Path(tmp) / f"{kind}-{size}", kind, size)  # type: ignore[arg-type]
            foundation.clear_model_cache()
            model = make_model(
                kind, model_path=path, calendar=TradingCalendar("D"), n_jobs=args.jobs
            )
            started = time.perf_counter()
            pipeline = LOADERS[kind](path)
            load_s = time.perf_counter() - started
            # warm-up on a few series: the first call of a process pays one-off costs
            warm = panel[panel["unique_id"].isin(panel["unique_id"].unique()[:8])]
            model.fit(warm).predict(args.horizon, levels=(80, 95))
            started = time.perf_counter()
            fc = model.fit(panel).predict(args.horizon, levels=(80, 95))
            predict_s = time.perf_counter() - started
            assert len(fc) == args.series * args.horizon
            dims = foundation.RANDOM_SIZES[(kind, size)]
            rows.append(
                {
                    "model": kind,
                    "size": size,
                    "d_model / layers / heads": f"{dims['d_model']} / {dims['num_layers']} / "
                    f"{dims['num_heads']}",
                    "params (M)": round(n_parameters(pipeline), 1),
                    "load (s)": round(load_s, 2),
                    f"fit + predict {args.series} series (s)": round(predict_s, 1),
                    "series / s": round(args.series / predict_s, 1),
                }
            )
            print(rows[-1], flush=True)

    load_after = os.getloadavg()[0]
    table = pd.DataFrame(rows).to_markdown(index=False)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            "# Foundation models: CPU cost with random weights",
            "",
            f"- Machine: {machine()}; torch threads: {args.jobs}; fp32 on CPU; load average "
            f"{load_before:.1f} before, {load_after:.1f} after",
            f"- Date: {when}",
            f"- Data: {args.series} synthetic daily series x {args.days} days, horizon "
            f"{args.horizon}, intervals 80% and 95%",
            f"- `import chronos` (once per process): {import_s:.1f} s",
            "",
            table,
            "",
            "Random weights at the published dimensions, so these are plumbing costs "
            "(loading, batching, the forward passes): the forecasts are noise, and accuracy "
            "needs the real weights (`hf download amazon/chronos-2 --local-dir DIR`, then "
            "`model_path=DIR`). The files loaded are as large as the real checkpoints but were "
            "just written, so they are read from the page cache: a cold disk adds its read "
            "time, and a Hub id the download, once. A load average above the core count "
            "means other work shared the CPU and every time above is inflated.",
            "",
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "foundation_timing.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
