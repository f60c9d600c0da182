"""Tables from stored records alone: the tidy score and cost tables, the wide leaderboard view of them, agreement."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.core.config import MetricConfig, SuiteConfig
from bench.core.errors import BenchError
from bench.metrics import get_metric
from bench.pipeline.records import (
    AgreementRecord,
    CalibrationRecord,
    EvaluateRecord,
    ExplainRecord,
    ModelInfo,
    Record,
    ScoreRecord,
    TimingRecord,
)
from bench.reporting.bootstrap import bootstrap_ci, curve_band, seed_estimate
from bench.reporting.correlation import kendall
from bench.utils.rng import stable_seed

# "model" is the setting: a model's name, or for models of a grid the name without the seed, whose seeds it aggregates.
ID_COLUMNS = ["model", "implementation", "method", "library", "version", "params"]


class IncomparableRecords(BenchError):
    """Records that cannot share a leaderboard (different data, suite version or schema)."""


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


def setting_of(model: ModelInfo) -> str:
    """The leaderboard's model: the setting of a grid's model (its seeds pooled), else the model's name."""
    return model.setting or model.name


def row_key(record: ExplainRecord | ScoreRecord | TimingRecord) -> tuple:
    """The leaderboard row a record belongs to: (setting, adapter, method, library, version, params)."""
    impl = record.implementation
    return (setting_of(record.model), impl.adapter, impl.method, impl.library, impl.version, _params(record.params))


def seed_row_key(record: ExplainRecord | ScoreRecord | TimingRecord) -> tuple:
    """The per-seed row of a record: its row with the model's own name."""
    return (record.model.name, *row_key(record)[1:])


@dataclass(frozen=True)
class StoredRun:
    """The stored records of a plan by kind; each score with the column the plan gives it."""

    explains: list[ExplainRecord]
    scores: list[tuple[MetricConfig, ScoreRecord]]
    timings: list[TimingRecord]
    agreements: list[AgreementRecord]
    evaluations: list[EvaluateRecord]
    calibrations: list[CalibrationRecord] = field(default_factory=list)

    def samples_by_row(self) -> dict[tuple, set[tuple[str, str]]]:
        """The (model, sample id) pairs each leaderboard row explained, over its seeds (what per-image costs are divided by)."""
        samples: dict[tuple, set[tuple[str, str]]] = defaultdict(set)
        for e in self.explains:
            samples[row_key(e)].update((e.model.name, sid) for sid in e.sample_ids)
        return samples

    def all(self) -> list[Record]:
        """Every record."""
        return [*self.explains, *(s for _, s in self.scores), *self.timings, *self.agreements, *self.evaluations, *self.calibrations]


def long_records(run: StoredRun) -> pd.DataFrame:
    """Every per-sample value, one row each, with the provenance DESIGN.md asks of a record."""
    rows = []
    for metric, s in run.scores:
        base = dict(zip(ID_COLUMNS, seed_row_key(s)))
        base = {
            "suite": s.suite,
            "suite_version": s.suite_version,
            "dataset_digest": s.dataset_digest,
            "model_digest": s.model.digest,
            **base,
            **factor_columns(s.model),
            "metric": metric.column(),
            "metric_params": _params(s.metric_params),
        }
        rows += [{**base, "sample_id": sid, "value": v, "status": st} for sid, v, st in zip(s.sample_ids, s.values, s.statuses)]
    return pd.DataFrame(rows)


def factor_columns(model: ModelInfo) -> dict:
    """A grid model's setting and factor values as record columns (none for a model outside a grid)."""
    if not model.factors:
        return {}
    return {"setting": setting_of(model), **{f"factor.{k}": v for k, v in model.factors.items()}}


def _cells(run: StoredRun, key_of) -> dict[tuple, dict]:  # noqa: ANN001
    """Score values by (row, column), kept apart per model (seed), with undefined counts and metric seconds."""
    cells: dict[tuple, dict] = {}
    for metric, s in run.scores:
        cell = cells.setdefault(
            (key_of(s), metric.column()),
            {"metric": metric, "params": s.metric_params, "by_model": defaultdict(list), "undefined": 0, "seconds": 0.0, "factors": {}},
        )
        cell["by_model"][s.model.name] += [v for v, st in zip(s.values, s.statuses) if st == "ok"]
        cell["undefined"] += sum(st == "undefined" for st in s.statuses)
        cell["seconds"] += s.seconds
        cell["factors"] = factor_columns(s.model)
    return cells


def score_table(run: StoredRun, cfg: SuiteConfig, *, per_seed: bool = False) -> pd.DataFrame:
    """The tidy table: one row per (setting, implementation, metric): the mean over seeds with a hierarchical bootstrap CI
    (seeds, then samples), between-seed SD, seeds, n, undefined, rank, cost. per_seed: one row per model (seed) instead."""
    samples: dict[tuple, set] = defaultdict(set)
    for e in run.explains:
        samples[seed_row_key(e) if per_seed else row_key(e)].update((e.model.name, sid) for sid in e.sample_ids)
    cells = _cells(run, seed_row_key if per_seed else row_key)
    order = {m.column(): i for i, m in enumerate(cfg.metrics)}
    rows = []
    for (key, column), cell in sorted(cells.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], len(order)))):
        groups = [np.asarray(cell["by_model"][name], dtype=np.float64) for name in sorted(cell["by_model"])]
        est = seed_estimate(
            [groups],
            resamples=cfg.leaderboard.bootstrap,
            confidence=cfg.leaderboard.confidence,
            seed=stable_seed(cfg.suite.seed, "bootstrap", *key, column) % 2**32,
        )
        m: MetricConfig = cell["metric"]
        rows.append(
            {
                **dict(zip(ID_COLUMNS, key)),
                **({k: v for k, v in cell["factors"].items() if k != "setting"} if per_seed else {}),
                "metric": m.name,
                "metric_params": _params(cell["params"]),
                "column": column,
                "direction": get_metric(m.name).direction,
                "curve": m.curve,
                "sweep_param": m.sweep_param,
                "sweep_value": json.dumps(m.sweep_value) if m.sweep_param else "",
                "mean": est.mean,
                "ci_low": est.ci_low,
                "ci_high": est.ci_high,
                "seeds": est.seeds,
                "seed_sd": est.seed_sd,
                "n": est.n,
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


def perturbation_curves(run: StoredRun, cfg: SuiteConfig) -> pd.DataFrame:
    """Long table of every stored curve metric (deletion, insertion, ROAD): per (setting, implementation, metric) and
    fraction perturbed, the mean curve over seeds with a pointwise hierarchical bootstrap CI."""
    cells: dict[tuple, dict] = {}
    for metric, s in run.scores:
        if not s.curve_x:
            continue
        cell = cells.setdefault((row_key(s), metric.column()), {"metric": metric, "x": s.curve_x, "by_model": defaultdict(list)})
        cell["by_model"][s.model.name] += [p for p, st in zip(s.curve_points, s.statuses) if st == "ok" and p is not None]
    rows = []
    for (key, column), cell in cells.items():
        groups = [np.asarray(cell["by_model"][name], dtype=np.float64) for name in sorted(cell["by_model"]) if cell["by_model"][name]]
        if not groups:
            continue
        mean, low, high = curve_band([groups], resamples=cfg.leaderboard.bootstrap, confidence=cfg.leaderboard.confidence,
                                     seed=stable_seed(cfg.suite.seed, "curve", *key, column) % 2**32)
        base = {"model": key[0], "implementation": key[1], "kind": "perturbation", "curve": column, "metric": cell["metric"].name,
                "parameter": "fraction", "seeds": len(groups), "n": sum(len(g) for g in groups)}
        rows += [{**base, "value": x, "mean": m, "ci_low": lo, "ci_high": hi} for x, m, lo, hi in zip(cell["x"], mean, low, high)]
    return pd.DataFrame(rows)


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
    budgets = metric_budgets(run)
    for (key, column), seconds in metric_s.items():
        base = {**dict(zip(ID_COLUMNS, key)), "metric": column}
        rows.append({**base, "cost": "metric_ms_per_image", "value": 1000 * seconds / max(len(samples[key]), 1)})
        if (key, column) in budgets:
            budget, measured, images = budgets[(key, column)]
            rows.append({**base, "cost": "metric_budget_ms_per_image", "value": 1000 * budget / max(images, 1)})
            rows.append({**base, "cost": "metric_efficiency", "value": measured / budget if budget > 0 else None})
    # A setting's seeds are timed apart: its cost is their mean.
    timed: dict[tuple, list[float]] = defaultdict(list)
    for t in run.timings:
        if t.timing is None:
            continue
        for cost in ("median_ms", "iqr_ms", "batch_size", "peak_memory_mib", "efficiency", "ideal_ms"):
            timed[(row_key(t), TIMING_COSTS[cost])].append(getattr(t.timing, cost))
    for (key, cost), values in timed.items():
        known = [v for v in values if v is not None]
        rows.append({**dict(zip(ID_COLUMNS, key)), "cost": cost, "metric": "", "value": float(np.mean(known)) if known else None})
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, "cost", "metric", "value"])


def metric_budgets(run: StoredRun) -> dict[tuple, tuple[float, float, int]]:
    """Per (row, metric column): (seconds at its pass budget, seconds measured, images) over the score records that have a
    budget. The budget is the metric's passes per sample at its model's calibrated pass speed (a model of the same setting
    stands in when only one seed was timed) and its explain calls at the explain unit's measured cost."""
    calibration = {setting_of(c.model): c for c in run.calibrations} | {c.model.name: c for c in run.calibrations}
    explain_ms = {e.key: 1000 * e.explain_seconds / max(len(e.sample_ids), 1) for e in run.explains}
    passes_of = {m.column(): get_metric(m.name)(**m.params).passes() for m, _ in run.scores}
    budgets: dict[tuple, tuple[float, float, int]] = {}
    for metric, s in run.scores:
        c = calibration.get(s.model.name) or calibration.get(setting_of(s.model))
        passes = passes_of[metric.column()]
        explain = explain_ms.get(s.explain_key)
        if c is None or (passes.get("explain") and explain is None):
            continue
        ms = passes.get("forward", 0) * c.forward_ms + passes.get("backward", 0) * c.backward_ms + passes.get("explain", 0) * (explain or 0.0)
        key = (row_key(s), metric.column())
        budget, seconds, images = budgets.get(key, (0.0, 0.0, 0))
        budgets[key] = (budget + ms * len(s.sample_ids) / 1000, seconds + s.seconds, images + len(s.sample_ids))
    return budgets


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
            failures[row_key(e)].update((e.model.name, sid) for sid in f.sample_ids)
        for name, vals in e.diagnostics.items():
            diagnostics[row_key(e)][name].extend(v for v in vals if v is not None)
    for _, s in run.scores:
        for f in s.failures:
            failures[row_key(s)].update((s.model.name, sid) for sid in f.sample_ids)
    for t in run.timings:
        samples.setdefault(row_key(t), set())
        for f in t.failures:
            failures[row_key(t)].update((t.model.name, sid) for sid in f.sample_ids)
    cells = {(tuple(r[c] for c in ID_COLUMNS), r["column"]): r for r in scores.to_dict("records")} if not scores.empty else {}
    cost_cells = {(tuple(r[c] for c in ID_COLUMNS), r["cost"], r["metric"]): r["value"] for r in costs.to_dict("records")}
    rows = []
    for key in sorted(samples):
        row = {**dict(zip(ID_COLUMNS, key)), "samples": len(samples[key]), "failures": len(failures[key]),
               "seeds": len({name for name, _ in samples[key]})}
        for m in cfg.metrics:
            c = m.column()
            cell = cells.get((key, c), {})
            row.update(
                {
                    c: cell.get("mean", float("nan")),
                    f"{c}_ci_low": cell.get("ci_low", float("nan")),
                    f"{c}_ci_high": cell.get("ci_high", float("nan")),
                    f"{c}_seed_sd": cell.get("seed_sd", float("nan")),
                    f"{c}_n": cell.get("n", 0),
                    f"{c}_undefined": cell.get("undefined", 0),
                    f"{c}_ms_per_image": cost_cells.get((key, "metric_ms_per_image", c), 0.0),
                    f"{c}_efficiency": cost_cells.get((key, "metric_efficiency", c), float("nan")),
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


def passes_text(passes: dict[str, int]) -> str:
    """A pass budget in words: '21 forward', '3 explain', 'none' for a metric of the map alone."""
    return " + ".join(f"{n} {kind}" for kind, n in passes.items() if n) or "none"


def metric_costs(board: pd.DataFrame, cfg: SuiteConfig) -> pd.DataFrame:
    """Per (model, metric): its passes per image, the median over the model's rows of its ms per image, of its pass budget
    and of its time over that budget (efficiency), and the efficiency's range over the rows."""
    rows = []
    for model, group in board.groupby("model", sort=False):
        for m in cfg.metrics:
            c = m.column()
            ms = group.get(f"{c}_ms_per_image", pd.Series(dtype=float)).astype(float)
            efficiency = group.get(f"{c}_efficiency", pd.Series(dtype=float)).astype(float)
            known = efficiency.dropna()
            rows.append({"model": model, "metric": c, "passes": passes_text(get_metric(m.name)(**m.params).passes()),
                         "ms_per_image": float(ms.median()) if len(ms) else float("nan"),
                         "budget_ms_per_image": float((ms[known.index] / known).median()) if len(known) else float("nan"),
                         "efficiency": float(known.median()) if len(known) else float("nan"),
                         "efficiency_min": float(known.min()) if len(known) else float("nan"),
                         "efficiency_max": float(known.max()) if len(known) else float("nan")})
    return pd.DataFrame(rows)


def build_agreement(run: StoredRun, cfg: SuiteConfig) -> pd.DataFrame:
    """One row per (model, method, pair of implementations): each agreement measure's mean and bootstrap CI."""
    from bench.metrics.agreement import MEASURES

    values: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    failures: dict[tuple, set] = defaultdict(set)
    for u in run.agreements:
        for f in u.failures:
            failures[(setting_of(u.model), u.method)].add(f.implementation)
        for r in u.values:
            if r.value is not None:
                values[(setting_of(u.model), u.method, r.a, r.b)][r.measure].append(r.value)
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


def prediction_table(evaluations: list[EvaluateRecord]) -> pd.DataFrame:
    """One row per (model, sample) of the explained split: setting, true class, explained class and every class probability."""
    rows = []
    for e in evaluations:
        if not e.probabilities:
            continue
        classes = e.report.get("classes") or [str(c) for c in range(len(e.probabilities[0]))]
        base = {"model": e.model.name, "setting": setting_of(e.model)}
        rows += [{**base, "sample_id": sid, "label": label, "target": target, **{f"p.{c}": p for c, p in zip(classes, probs, strict=True)}}
                 for sid, label, target, probs in zip(e.sample_ids, e.labels, e.targets, e.probabilities, strict=True)]
    return pd.DataFrame(rows)


def classifier_by_setting(evaluations: list[EvaluateRecord]) -> dict[str, dict]:
    """Each setting's classifier report: a model's own, or over a setting's seeds the mean (and SD) of every figure and the summed confusion matrix."""
    reports: dict[str, list[dict]] = defaultdict(list)
    for e in evaluations:
        reports[setting_of(e.model)].append(e.report)
    out = {}
    for setting, group in reports.items():
        if len(group) == 1:
            out[setting] = group[0]
            continue
        pooled: dict = {"seeds": len(group), "n": group[0].get("n")}
        for k, v in group[0].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "n":
                values = np.asarray([r.get(k, np.nan) for r in group], dtype=np.float64)
                pooled[k], pooled[f"{k}_sd"] = float(np.mean(values)), float(np.std(values, ddof=1))
        if all(r.get("confusion_matrix") for r in group):
            pooled["confusion_matrix"] = np.sum([r["confusion_matrix"] for r in group], axis=0).tolist()
            pooled["classes"] = group[0].get("classes")
        out[setting] = pooled
    return out


def metric_rank_agreement(board: pd.DataFrame, cfg: SuiteConfig) -> pd.DataFrame:
    """Per model, Kendall's tau-b between every two metrics' rankings of the implementations (directions honoured)."""
    columns = [(m.column(), get_metric(m.name).direction) for m in cfg.metrics]
    rows = []
    for model, group in board.groupby("model", sort=False):
        for (a, da), (b, db) in itertools.combinations(columns, 2):
            both = group[[a, b]].dropna()
            sa = both[a].to_numpy() * (1 if da == "higher" else -1)
            sb = both[b].to_numpy() * (1 if db == "higher" else -1)
            rows.append({"model": model, "metric_a": a, "metric_b": b, "kendall_tau": float(kendall(sa, sb)), "implementations": len(both)})
    return pd.DataFrame(rows)
