"""Leaderboards from unit records alone: mean and bootstrap CI per metric, ranks, cost, counts."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict

import numpy as np
import pandas as pd

from bench.config import SuiteConfig
from bench.errors import BenchError
from bench.metrics import get_metric
from bench.rng import stable_seed

ID_COLUMNS = ["model", "implementation", "method", "library", "version", "params"]


class IncomparableRecords(BenchError):
    """Records that cannot share a leaderboard (different data, suite version or schema)."""


def bootstrap_ci(values: np.ndarray, *, resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    if len(values) == 0:
        return float("nan"), float("nan")
    if len(values) == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def check_comparable(units: list[dict]) -> None:
    """Raise unless all units share suite, suite version and dataset digest."""
    for field in ("suite", "suite_version", "dataset_digest"):
        seen = {json.dumps(u.get(field)) for u in units}
        if len(seen) > 1:
            raise IncomparableRecords(f"records disagree on {field}: {sorted(seen)}")


def long_records(units: list[dict]) -> pd.DataFrame:
    """Every per-sample record, one row each, with the provenance DESIGN.md asks of a record."""
    rows = []
    for u in units:
        if u["kind"] != "quality":
            continue
        impl = u["implementation"]
        base = {"suite": u["suite"], "suite_version": u["suite_version"], "dataset_digest": u["dataset_digest"],
                "model": u["model"]["name"], "model_digest": u["model"]["digest"], "method": impl["method"],
                "implementation": impl["adapter"], "library": impl["library"], "version": impl["version"],
                "params": json.dumps(u["params"], sort_keys=True)}
        for r in u["records"]:
            rows.append({**base, "sample_id": r["sample_id"], "metric": r["metric"],
                         "metric_params": json.dumps(r["metric_params"], sort_keys=True), "value": r["value"], "status": r["status"]})
    return pd.DataFrame(rows)


def _row_key(u: dict) -> tuple:
    impl = u["implementation"]
    return (u["model"]["name"], impl["adapter"], impl["method"], impl["library"], impl["version"], json.dumps(u["params"], sort_keys=True))


def build_leaderboard(units: list[dict], cfg: SuiteConfig) -> pd.DataFrame:
    """One row per (model, implementation): per-metric mean, CI, n, undefined and rank; cost and failures."""
    check_comparable(units)
    columns = [(m.column(), get_metric(m.name).direction) for m in cfg.metrics]
    values: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    undefined: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failures: dict[tuple, set] = defaultdict(set)
    samples: dict[tuple, set] = defaultdict(set)
    timing: dict[tuple, dict] = {}
    diagnostics: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    metric_seconds: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for u in units:
        if u["kind"] == "agreement":
            continue
        key = _row_key(u)
        for f in u.get("failures", []):
            failures[key].update(f["sample_ids"])
        if u["kind"] == "timing":
            timing[key] = u.get("timing") or {}
            continue
        samples[key].update(u["sample_ids"])
        for column, seconds in u.get("metric_seconds_by_metric", {}).items():
            metric_seconds[key][column] += seconds
        for name, vals in u.get("diagnostics", {}).items():
            diagnostics[key][name].extend(v for v in vals if v is not None)
        for r in u["records"]:
            if r["status"] == "ok":
                values[key][r["metric"]].append(r["value"])
            elif r["status"] == "undefined":
                undefined[key][r["metric"]] += 1
    rows = []
    for key in sorted(set(samples) | set(timing)):
        row = dict(zip(ID_COLUMNS, key))
        row["samples"] = len(samples[key])
        row["failures"] = len(failures[key])
        for column, _ in columns:
            v = np.asarray(values[key][column], dtype=np.float64)
            low, high = bootstrap_ci(v, resamples=cfg.leaderboard.bootstrap, confidence=cfg.leaderboard.confidence,
                                     seed=stable_seed(cfg.suite.seed, "bootstrap", *key, column) % 2**32)
            row.update({column: float(v.mean()) if len(v) else float("nan"), f"{column}_ci_low": low, f"{column}_ci_high": high,
                        f"{column}_n": len(v), f"{column}_undefined": undefined[key][column],
                        f"{column}_ms_per_image": 1000 * metric_seconds[key][column] / max(len(samples[key]), 1)})
        row["metrics_ms_per_image"] = 1000 * sum(metric_seconds[key].values()) / max(len(samples[key]), 1)
        t = timing.get(key) or {}
        row.update({"runtime_ms_median": t.get("median_ms", float("nan")), "runtime_ms_iqr": t.get("iqr_ms", float("nan")),
                    "runtime_batch_size": t.get("batch_size", float("nan")), "peak_memory_mib": t.get("peak_memory_mib", float("nan")),
                    "efficiency": t.get("efficiency", float("nan"))})
        for name, vals in diagnostics[key].items():
            row[f"{name}_mean"] = float(np.mean(vals)) if vals else float("nan")
        rows.append(row)
    board = pd.DataFrame(rows)
    if board.empty:
        return board
    for column, direction in columns:
        board[f"{column}_rank"] = board.groupby("model")[column].rank(ascending=direction == "lower", method="min", na_option="keep")
    return board


def build_agreement(units: list[dict], cfg: SuiteConfig) -> pd.DataFrame:
    """One row per (model, method, pair of implementations): each agreement measure's mean and bootstrap CI."""
    from bench.agreement import MEASURES

    values: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    failures: dict[tuple, set] = defaultdict(set)
    for u in units:
        if u["kind"] != "agreement":
            continue
        for f in u.get("failures", []):
            failures[(u["model"]["name"], u["method"])].add(f["implementation"])
        for r in u["records"]:
            if r["value"] is not None:
                values[(u["model"]["name"], u["method"], r["a"], r["b"])][r["measure"]].append(r["value"])
    rows = []
    for key in sorted(values):
        row = dict(zip(["model", "method", "a", "b"], key))
        for measure in MEASURES:
            v = np.asarray(values[key][measure], dtype=np.float64)
            low, high = bootstrap_ci(v, resamples=cfg.leaderboard.bootstrap, confidence=cfg.leaderboard.confidence,
                                     seed=stable_seed(cfg.suite.seed, "agreement", *key, measure) % 2**32)
            row.update({measure: float(v.mean()) if len(v) else float("nan"), f"{measure}_ci_low": low, f"{measure}_ci_high": high})
        row["samples"] = len(values[key]["pearson"])
        row["failed_implementations"] = ", ".join(sorted(failures[key[:2]]))
        rows.append(row)
    return pd.DataFrame(rows)


def kendall_tau_b(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b between two score vectors (ties in either handled as tau-b does); NaN for fewer than 2 pairs."""
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif da == db:
                concordant += 1
            else:
                discordant += 1
    denominator = np.sqrt((concordant + discordant + ties_a) * (concordant + discordant + ties_b))
    return float((concordant - discordant) / denominator) if denominator > 0 else float("nan")


def metric_rank_agreement(board: pd.DataFrame, cfg: SuiteConfig) -> pd.DataFrame:
    """Per model, Kendall's tau-b between every two metrics' rankings of the implementations (directions honoured)."""
    columns = [(m.column(), get_metric(m.name).direction) for m in cfg.metrics]
    rows = []
    for model, group in board.groupby("model", sort=False):
        for (a, da), (b, db) in itertools.combinations(columns, 2):
            both = group[[a, b]].dropna()
            sa = both[a].to_numpy() * (1 if da == "higher" else -1)
            sb = both[b].to_numpy() * (1 if db == "higher" else -1)
            rows.append({"model": model, "metric_a": a, "metric_b": b, "kendall_tau": kendall_tau_b(sa, sb), "implementations": len(both)})
    return pd.DataFrame(rows)
