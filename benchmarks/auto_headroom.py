"""Benchmark: how much better could ``auto`` choose? Its candidates, auto itself, and a
per-series oracle, scored as ``peers.py`` scores them.

``peers.py --cache DIR`` keeps, beside each method's backtest, the backtest of every
candidate auto ran (``<dataset>-<series>-<h>-<windows>-auto-candidates.pkl``). This
script reads those, no model is run, and scores on the evaluated windows (the last
``--windows`` cutoffs, the rows every peer was scored on):

- every candidate alone and the median of all candidates;
- ``trendcast auto`` and the best peer (``NHITS`` by default), from the cache;
- the **oracle**: per series, the candidate with the lowest MASE on these very windows,
  chosen in hindsight. No method that chooses among the same candidates can beat it on
  MASE, so its gap to the best peer bounds what better choosing or weighting can gain.

Results go to ``results/auto_headroom.md`` with the date and machine.
Run: ``.venv/bin/python benchmarks/auto_headroom.py --cache /path/to/peers-cache``
(seconds; needs ``../shared/data`` for the actuals).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from online_retail_models import machine  # noqa: E402
from peers import KEY, LEVELS, RESULTS, load, long_frame  # noqa: E402

from trendcast.evaluation.metrics import evaluate  # noqa: E402

SERIES = {"online_retail": 1000, "store_item": 500}


def score(name: str, cache: Path, h: int, windows: int, peer: str) -> tuple[pd.DataFrame, str]:
    panel, cal = load(name, SERIES[name])
    key = f"{name}-{panel['unique_id'].nunique()}-{h}-{windows}"
    kept = pd.read_pickle(cache / f"{key}-auto-candidates.pkl")
    cand, names = kept["candidate_cv"], list(kept["candidates"])
    cutoffs = sorted(cand["cutoff"].unique())[-windows:]
    cand = cand[cand["cutoff"].isin(cutoffs)].reset_index(drop=True)
    cand["median of all candidates"] = cand[names].median(axis=1)
    frames = [long_frame(cand, n, n) for n in [*names, "median of all candidates"]]
    for label in ("trendcast auto", peer):
        frame, _seconds = pd.read_pickle(cache / f"{key}-{label.replace(' ', '_')}.pkl")
        frames.append(frame)
    stacked = pd.concat(frames, ignore_index=True)
    stacked["ds"] = pd.to_datetime(stacked["ds"])
    stacked["cutoff"] = pd.to_datetime(stacked["cutoff"])
    stacked = stacked.merge(panel, on=["unique_id", "ds"], how="inner")
    methods = stacked["model"].nunique()
    stacked = stacked[stacked.groupby(KEY)["model"].transform("nunique") == methods]
    stacked = stacked[["unique_id", "ds", "cutoff", "y", "model", *stacked.columns[4:-1]]]
    per_series = evaluate(stacked.reset_index(drop=True), panel, cal.season_length, LEVELS)
    mase = per_series.pivot_table(index="unique_id", columns="model", values="mase")
    board = mase.mean().rename("mase").to_frame()
    board.loc["oracle: best candidate per series, in hindsight", "mase"] = (
        mase[names].min(axis=1).mean()
    )
    best_peer = board.loc[peer, "mase"]
    board["vs best peer"] = (100 * (1 - board["mase"] / best_peer)).map(lambda v: f"{v:+.1f}%")
    board = board.sort_values("mase")
    board["mase"] = board["mase"].map(lambda v: f"{v:.3f}")
    note = (
        f"{len(mase):,} series, {len(stacked) // methods:,} scored rows, {len(names)} "
        f"candidates ({', '.join(names)})"
    )
    return board.reset_index(names="method"), note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", type=Path, required=True, help="peers.py --cache folder")
    parser.add_argument("--datasets", nargs="+", default=list(SERIES), choices=list(SERIES))
    parser.add_argument("--horizon", type=int, default=28)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--peer", default="NHITS", help="the peer to compare with")
    args = parser.parse_args()
    lines = [
        "# How much better could auto choose? Candidates, auto and a per-series oracle",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}",
        f"- from the `peers.py` cache ({args.cache}); daily, horizon {args.horizon}, the last "
        f"{args.windows} windows; MASE per series, then the mean, as `peers.py` scores",
        "- oracle: per series, the candidate with the lowest MASE on these same windows, "
        "chosen in hindsight (a bound, not a method)",
        f"- command: `.venv/bin/python benchmarks/auto_headroom.py --cache {args.cache}`",
        "",
    ]
    for name in args.datasets:
        board, note = score(name, args.cache, args.horizon, args.windows, args.peer)
        lines += [f"## {name}: {note}", "", board.to_markdown(index=False), ""]
        print(f"{name}: {note}\n{board.to_string(index=False)}\n", flush=True)
    out = RESULTS / "auto_headroom.md"
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
