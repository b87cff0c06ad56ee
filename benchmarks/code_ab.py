"""Benchmark: the streamed forecast with an earlier commit's code against this tree's, on
the same install, catalogues and machine, so a change in its time can be put down to the
code or to everything else (the libraries, the host).

For each size, ``trendcast forecast --chunk-size 10000 --model auto`` with the fast
candidates (``scaling.py``'s ``cli`` engine, through ``scaling.cli_forecast``) runs in a
fresh process once with ``PYTHONPATH`` on a git worktree of ``--commit`` and once on this
tree's ``src``, the two in turn, ``--repeats`` times. The catalogues are ``scaling.py``'s
(``catalogue_to_parquet(n, periods=730, seed=0)``, written once under ``--data``). Each
pair's forecast CSVs are compared cell for cell: "identical" means equal to the bit.

Writes ``benchmarks/results/code_ab.md`` with the machine, the stack and the date.

Run: ``.venv/bin/python benchmarks/code_ab.py --commit 4431693 --products 10000 100000
[--repeats 1] [--data /tmp/scaling] [--jobs 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from online_retail_models import machine, stack
from scaling import catalogue

from trendcast.pipeline import write_atomic

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
RESULTS = BENCHMARKS / "results" / "code_ab.md"

#: run in the child: this tree's benchmark harness, the tree under test's trendcast
CHILD = """
import json, sys
from pathlib import Path
sys.path.insert(0, {bench!r})
import trendcast, scaling
result = scaling.cli_forecast(Path({sales!r}), {jobs}, keep=Path({keep!r}))
result["trendcast"] = trendcast.__file__
print("RESULT " + json.dumps(result))
"""


def run(src: Path, sales: Path, jobs: int, keep: Path) -> float:
    """Seconds of one streamed forecast with the trendcast under ``src``, in a fresh process."""
    code = CHILD.format(bench=str(BENCHMARKS), sales=str(sales), jobs=jobs, keep=str(keep))
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    found = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode or not found:
        raise SystemExit(f"the forecast with {src} failed:\n{done.stderr[-3000:]}")
    result = json.loads(found[-1][len("RESULT ") :])
    if not str(result["trendcast"]).startswith(str(src)):  # the editable install won
        raise SystemExit(f"{src} was not the trendcast imported: {result['trendcast']}")
    return float(result["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commit", required=True, help="the earlier code, e.g. 4431693")
    parser.add_argument("--products", type=int, nargs="+", default=[10_000])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--data", type=Path, default=Path("/tmp/scaling"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tree), args.commit],
            check=True,
        )
        try:
            for products in args.products:
                sales = catalogue(args.data, products)
                for k in range(args.repeats):
                    earlier, now = Path(tmp) / "earlier.csv", Path(tmp) / "now.csv"
                    t_earlier = run(tree / "src", sales, args.jobs, earlier)
                    t_now = run(REPO / "src", sales, args.jobs, now)
                    same = pd.read_csv(earlier).equals(pd.read_csv(now))
                    print(
                        f"{products:,} products, run {k + 1}: {args.commit} {t_earlier:.1f}s, "
                        f"this tree {t_now:.1f}s, identical: {same}",
                        flush=True,
                    )
                    rows.append(
                        f"| {products:,} | {k + 1} | {t_earlier:.1f} | {t_now:.1f} | "
                        f"{'yes' if same else 'NO'} | {os.getloadavg()[0]:.1f} |"
                    )
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False
            )
    text = [
        "# The streamed forecast: an earlier commit's code against this tree's",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}; {stack()}",
        f"- Code: `{args.commit}` against this tree (HEAD `{head}`, with its uncommitted "
        "changes), each in a fresh process on the same install",
        "- Command: `trendcast forecast --input sales.parquet --chunk-size 10000 --model auto` "
        "(the fast candidates), as `benchmarks/scaling.py --engines cli` runs it, on its "
        "catalogues; identical: the two forecast CSVs are equal cell for cell",
        "",
        f"| products | run | {args.commit} s | this tree s | identical | load avg at the end |",
        "| ---: | ---: | ---: | ---: | --- | ---: |",
        *rows,
        "",
    ]
    write_atomic(RESULTS, lambda tmp: tmp.write_text("\n".join(text)))
    print("\n".join(text))


if __name__ == "__main__":
    main()
