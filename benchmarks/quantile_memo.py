"""Benchmark: what remembering statsforecast's normal quantiles saves, and that it changes nothing.

statsforecast builds a frozen scipy distribution for every series' intervals to read
the same two quantiles; ``trendcast.models.statistical.remember_normal_quantiles``
keeps them. This script forecasts a synthetic catalogue with ``auto`` choosing among
the fast model set (the 100k-product scaling run's settings: 730 days, 28 ahead,
``--jobs`` processes), alternately with statsforecast's own function and with the
remembering one, ``--repeats`` times each after one warm-up run, and checks the two
forecasts are equal to the bit. Writes ``benchmarks/results/quantile_memo_jobs<N>.md`` with
the machine, the date and the load average.

Run: ``.venv/bin/python benchmarks/quantile_memo.py [--products 1000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from online_retail_models import machine

RESULTS = Path(__file__).resolve().parent / "results"


def _set(function: object) -> None:
    """Put ``function`` in place of every statsforecast module's ``_quantiles``."""
    import statsforecast.utils as sf_utils

    current = sf_utils._quantiles
    for name, module in list(sys.modules.items()):
        if name.startswith("statsforecast") and getattr(module, "_quantiles", None) is current:
            module._quantiles = function  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    import statsforecast.models  # noqa: F401  (its copy of the function is swapped too)
    import statsforecast.utils as sf_utils

    import trendcast as tc
    import trendcast.models.statistical as st
    from trendcast.datasets.synthetic import generate_catalogue
    from trendcast.decisions.plan import FAST_CANDIDATES
    from trendcast.pipeline import forecast

    plain = sf_utils._quantiles
    st.remember_normal_quantiles()
    remembering = sf_utils._quantiles
    assert remembering is not plain
    # from here on the forecasts themselves must not swap it back in
    st.remember_normal_quantiles = lambda: None  # type: ignore[assignment]

    sales = generate_catalogue(args.products, "2024-01-01", 730, seed=0, behaviour=False).sales
    data = tc.load_sales(sales, mode="sales")

    def run() -> tuple[float, pd.DataFrame]:
        began = time.perf_counter()
        fc = forecast(
            data,
            horizon=28,
            model="auto",
            params={"candidates": list(FAST_CANDIDATES)},
            n_jobs=args.jobs,
        )
        return time.perf_counter() - began, fc

    load_before = os.getloadavg()[0]
    run()  # warm-up: imports and first compilations
    times: dict[str, list[float]] = {"statsforecast's own": [], "remembered": []}
    outputs: dict[str, pd.DataFrame] = {}
    for _ in range(args.repeats):
        for label, function in (("statsforecast's own", plain), ("remembered", remembering)):
            _set(function)
            seconds, outputs[label] = run()
            times[label].append(seconds)
    pd.testing.assert_frame_equal(outputs["statsforecast's own"], outputs["remembered"])
    best = {k: min(v) for k, v in times.items()}
    saved = 100 * (1 - best["remembered"] / best["statsforecast's own"])
    lines = [
        "# Remembered normal quantiles: time of the fast model set",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after",
        f"- `auto` among {', '.join(FAST_CANDIDATES)}; {args.products:,} synthetic products x "
        f"730 days, 28 ahead, {args.jobs} processes; best of {args.repeats} runs each, "
        "alternating, after a warm-up run",
        "- the forecasts with and without are equal to the bit (`assert_frame_equal`)",
        "",
        "| quantiles | best s | all runs s |",
        "| --- | ---: | --- |",
        *(
            f"| {k} | {best[k]:.1f} | {', '.join(f'{t:.1f}' for t in v)} |"
            for k, v in times.items()
        ),
        "",
        f"Remembering them saves {saved:.0f}% of the time.",
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"quantile_memo_jobs{args.jobs}.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
