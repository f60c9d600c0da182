"""The comparisons behind the README's pipeline figures, from the results readme_figures.sh wrote (python readme_figures.py OUT)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

KEYS = ["model", "implementation", "sample_id", "metric"]


def records(results: Path) -> pd.DataFrame:
    """Every per-sample value of a run, in a fixed order."""
    return pd.read_csv(results / "records.csv").sort_values(KEYS).reset_index(drop=True)


def phase_seconds(results: Path) -> dict[str, float]:
    """Wall seconds from the first start to the last end of each kind of job, from the execution log."""
    spans: dict[str, list[float]] = {}
    for line in (results / "records" / "executions.jsonl").read_text().splitlines():
        e = json.loads(line)
        span = spans.setdefault(e["kind"], [e["started"], e["started"] + e["seconds"]])
        span[0], span[1] = min(span[0], e["started"]), max(span[1], e["started"] + e["seconds"])
    return {kind: round(end - start, 1) for kind, (start, end) in spans.items()}


def main(out: Path) -> None:
    """Print the comparisons."""
    full, workers, half = (out / "results" / v / "synthetic-fundus" for v in ("full", "workers", "float16"))
    serial, parallel = records(full), records(workers)
    serial = serial[serial["metric"].isin(set(parallel["metric"]))].reset_index(drop=True)  # without the added metric
    print(f"--workers 2 records equal to serial: {parallel.equals(serial)} ({len(parallel)} values)")
    print(f"phases, serial: {phase_seconds(full)}")
    print(f"phases, --workers 2: {phase_seconds(workers)}")
    published = pd.read_csv(out / "clone" / "results" / "synthetic-fundus" / "leaderboard.csv").set_index("implementation")
    board = pd.read_csv(full / "leaderboard.csv").set_index("implementation")
    quality = [c for c in published.columns if published[c].dtype.kind == "f" and not c.startswith(("runtime", "peak", "efficiency"))
               and not c.endswith(("ms_per_image", "_efficiency"))]
    drift = (board.loc[published.index, quality] - published[quality]).abs().max().max()
    print(f"fresh run vs published leaderboard, max |diff| over quality columns: {drift}")
    f16 = pd.read_csv(half / "leaderboard.csv").set_index("implementation").loc[published.index]
    means = [c for c in quality if not c.endswith(("_ci_low", "_ci_high", "_rank")) and not c.startswith("completeness")]
    diff = (f16[means] - board.loc[published.index, means]).abs().max().sort_values(ascending=False)
    print(f"float16 vs float32 maps, max |diff| per metric: {diff.round(6).to_dict()}")
    moved = (f16["pointing_game"] - board.loc[published.index, "pointing_game"]).round(3)
    print(f"pointing_game moved: {moved[moved != 0].to_dict()}")
    ranks = {c: int((f16[c + "_rank"] != board.loc[published.index, c + "_rank"]).sum()) for c in means}
    print(f"float16 rank changes: {dict((k, v) for k, v in ranks.items() if v)}")
    for name, results in (("float32", full), ("float16", half)):
        size = subprocess.run(f"du -cm {results}/records/*.maps.safetensors | tail -1", shell=True, capture_output=True, text=True).stdout
        print(f"maps on disk, {name}: {size.split()[0]} MiB")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
