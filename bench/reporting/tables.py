"""Tables from stored records alone: the tidy score and cost tables, the wide leaderboard view of them, agreement."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.core.config import MetricConfig, SuiteConfig
from bench.core.errors import BenchError
from bench.metrics import get_metric
from bench.pipeline.records import AgreementRecord, EvaluateRecord, ExplainRecord, Record, ScoreRecord, TimingRecord
from bench.utils.rng import stable_seed

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


def check_comparable(records: list[Record]) -> None:
    """Raise unless all records share suite, suite version and dataset digest."""
    for name in ("suite", "suite_version", "dataset_digest"):
        seen = {json.dumps(getattr(r, name)) for r in records}
        if len(seen) > 1:
            raise IncomparableRecords(f"records disagree on {name}: {sorted(seen)}")
    digests: dict[str, set[str]] = defaultdict(set)
    for r in records:
        digests[r.model.name].add(r.model.digest)
    for model, seen in digests.items():
        if len(seen) > 1:
            raise IncomparableRecords(
                f"records of model {model!r} come from different weights {sorted(d[:12] for d in seen)}: "
                "run the suite to recompute those of other weights"
            )


def _params(params: dict) -> str:
    return json.dumps(params, sort_keys=True)


def row_key(record: ExplainRecord | ScoreRecord | TimingRecord) -> tuple:
    """The leaderboard row a record belongs to: (model, adapter, method, library, version, params)."""
    impl = record.implementation
    return (record.model.name, impl.adapter, impl.method, impl.library, impl.version, _params(record.params))


@dataclass(frozen=True)
class StoredRun:
    """The stored records of a plan by kind; each score with the column the plan gives it."""

    explains: list[ExplainRecord]
    scores: list[tuple[MetricConfig, ScoreRecord]]
    timings: list[TimingRecord]
    agreements: list[AgreementRecord]
    evaluations: list[EvaluateRecord]

    def samples_by_row(self) -> dict[tuple, set[str]]:
        """The sample ids each leaderboard row explained (what per-image costs are divided by)."""
        samples: dict[tuple, set[str]] = defaultdict(set)
        for e in self.explains:
            samples[row_key(e)].update(e.sample_ids)
        return samples

    def all(self) -> list[Record]:
        """Every record."""
        return [*self.explains, *(s for _, s in self.scores), *self.timings, *self.agreements, *self.evaluations]


def long_records(run: StoredRun) -> pd.DataFrame:
    """Every per-sample value, one row each, with the provenance DESIGN.md asks of a record."""
    rows = []
    for metric, s in run.scores:
        base = dict(zip(ID_COLUMNS, row_key(s)))
        base = {
            "suite": s.suite,
            "suite_version": s.suite_version,
            "dataset_digest": s.dataset_digest,
            "model_digest": s.model.digest,
            **base,
            "metric": metric.column(),
            "metric_params": _params(s.metric_params),
        }
        rows += [{**base, "sample_id": sid, "value": v, "status": st} for sid, v, st in zip(s.sample_ids, s.values, s.statuses)]
    return pd.DataFrame(rows)


def score_table(run: StoredRun, cfg: SuiteConfig) -> pd.DataFrame:
    """The tidy table: one row per (model, implementation, metric): mean, bootstrap CI, n, undefined, rank, cost."""
    samples = run.samples_by_row()
    cells: dict[tuple, dict] = {}
    for metric, s in run.scores:
        cell = cells.setdefault(
            (row_key(s), metric.column()), {"metric": metric, "params": s.metric_params, "values": [], "undefined": 0, "seconds": 0.0}
        )
        cell["values"] += [v for v, st in zip(s.values, s.statuses) if st == "ok"]
        cell["undefined"] += sum(st == "undefined" for st in s.statuses)
        cell["seconds"] += s.seconds
    order = {m.column(): i for i, m in enumerate(cfg.metrics)}
    rows = []
    for (key, column), cell in sorted(cells.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], len(order)))):
        v = np.asarray(cell["values"], dtype=np.float64)
        low, high = bootstrap_ci(
            v,
            resamples=cfg.leaderboard.bootstrap,
            confidence=cfg.leaderboard.confidence,
            seed=stable_seed(cfg.suite.seed, "bootstrap", *key, column) % 2**32,
        )
        m: MetricConfig = cell["metric"]
        rows.append(
            {
                **dict(zip(ID_COLUMNS, key)),
                "metric": m.name,
                "metric_params": _params(cell["params"]),
                "column": column,
                "direction": get_metric(m.name).direction,
                "curve": m.curve,
                "sweep_param": m.sweep_param,
                "sweep_value": json.dumps(m.sweep_value) if m.sweep_param else "",
                "mean": float(v.mean()) if len(v) else float("nan"),
                "ci_low": low,
                "ci_high": high,
                "n": len(v),
                "undefined": cell["undefined"],
                "ms_per_image": 1000 * cell["seconds"] / max(len(samples[key]), 1),
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    ascending = table["direction"] == "lower"
    signed = table["mean"].where(ascending, -table["mean"])
    table["rank"] = signed.groupby([table["model"], table["column"]]).rank(method="min", na_option="keep")
    return table


def cost_table(run: StoredRun) -> pd.DataFrame:
    """The tidy cost table: one row per (model, implementation, cost): runtime, memory, efficiency, explain and metric time."""
    rows = []
    samples = run.samples_by_row()
    explain_s: dict[tuple, float] = defaultdict(float)
    for e in run.explains:
        explain_s[row_key(e)] += e.explain_seconds
    for key, ids in samples.items():
        rows.append(
            {**dict(zip(ID_COLUMNS, key)), "cost": "explain_ms_per_image", "metric": "", "value": 1000 * explain_s[key] / max(len(ids), 1)}
        )
    metric_s: dict[tuple, float] = defaultdict(float)
    for metric, s in run.scores:
        metric_s[(row_key(s), metric.column())] += s.seconds
    for (key, column), seconds in metric_s.items():
        rows.append(
            {
                **dict(zip(ID_COLUMNS, key)),
                "cost": "metric_ms_per_image",
                "metric": column,
                "value": 1000 * seconds / max(len(samples[key]), 1),
            }
        )
    for t in run.timings:
        if t.timing is None:
            continue
        for cost in ("median_ms", "iqr_ms", "batch_size", "peak_memory_mib", "efficiency", "ideal_ms"):
            rows.append({**dict(zip(ID_COLUMNS, row_key(t))), "cost": TIMING_COSTS[cost], "metric": "", "value": getattr(t.timing, cost)})
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, "cost", "metric", "value"])


TIMING_COSTS = {
    "median_ms": "runtime_ms_median",
    "iqr_ms": "runtime_ms_iqr",
    "batch_size": "runtime_batch_size",
    "peak_memory_mib": "peak_memory_mib",
    "efficiency": "efficiency",
    "ideal_ms": "ideal_ms",
}


def build_leaderboard(
    run: StoredRun, cfg: SuiteConfig, scores: pd.DataFrame | None = None, costs: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The wide view: one row per (model, implementation) with every metric's columns, costs, counts and diagnostics."""
    check_comparable(run.all())
    scores = score_table(run, cfg) if scores is None else scores
    costs = cost_table(run) if costs is None else costs
    samples = run.samples_by_row()
    failures: dict[tuple, set] = defaultdict(set)
    diagnostics: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for e in run.explains:
        for f in e.failures:
            failures[row_key(e)].update(f.sample_ids)
        for name, vals in e.diagnostics.items():
            diagnostics[row_key(e)][name].extend(v for v in vals if v is not None)
    for _, s in run.scores:
        for f in s.failures:
            failures[row_key(s)].update(f.sample_ids)
    for t in run.timings:
        samples.setdefault(row_key(t), set())
        for f in t.failures:
            failures[row_key(t)].update(f.sample_ids)
    cells = {(tuple(r[c] for c in ID_COLUMNS), r["column"]): r for r in scores.to_dict("records")} if not scores.empty else {}
    cost_cells = {(tuple(r[c] for c in ID_COLUMNS), r["cost"], r["metric"]): r["value"] for r in costs.to_dict("records")}
    rows = []
    for key in sorted(samples):
        row = {**dict(zip(ID_COLUMNS, key)), "samples": len(samples[key]), "failures": len(failures[key])}
        for m in cfg.metrics:
            c = m.column()
            cell = cells.get((key, c), {})
            row.update(
                {
                    c: cell.get("mean", float("nan")),
                    f"{c}_ci_low": cell.get("ci_low", float("nan")),
                    f"{c}_ci_high": cell.get("ci_high", float("nan")),
                    f"{c}_n": cell.get("n", 0),
                    f"{c}_undefined": cell.get("undefined", 0),
                    f"{c}_ms_per_image": cost_cells.get((key, "metric_ms_per_image", c), 0.0),
                    f"{c}_rank": cell.get("rank", float("nan")),
                }
            )
        row["metrics_ms_per_image"] = sum(cost_cells.get((key, "metric_ms_per_image", m.column()), 0.0) for m in cfg.metrics)
        for name in TIMING_COSTS.values():
            if name != "ideal_ms":
                row[name] = cost_cells.get((key, name, ""), float("nan"))
        for name, vals in diagnostics[key].items():
            row[f"{name}_mean"] = float(np.mean(vals)) if vals else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def build_agreement(run: StoredRun, cfg: SuiteConfig) -> pd.DataFrame:
    """One row per (model, method, pair of implementations): each agreement measure's mean and bootstrap CI."""
    from bench.metrics.agreement import MEASURES

    values: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    failures: dict[tuple, set] = defaultdict(set)
    for u in run.agreements:
        for f in u.failures:
            failures[(u.model.name, u.method)].add(f.implementation)
        for r in u.values:
            if r.value is not None:
                values[(u.model.name, u.method, r.a, r.b)][r.measure].append(r.value)
    rows = []
    for key in sorted(values):
        row = dict(zip(["model", "method", "a", "b"], key))
        for measure in MEASURES:
            v = np.asarray(values[key][measure], dtype=np.float64)
            low, high = bootstrap_ci(
                v,
                resamples=cfg.leaderboard.bootstrap,
                confidence=cfg.leaderboard.confidence,
                seed=stable_seed(cfg.suite.seed, "agreement", *key, measure) % 2**32,
            )
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
