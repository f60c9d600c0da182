"""Telling two models apart: accuracy on other versions of the test split, and how well each method's scores separate two entries."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import torch

from bench.core.config import SuiteConfig
from bench.models.classifier_metrics import roc_auc
from bench.pipeline.records import EvaluateRecord, ScoreRecord
from bench.pipeline.units import params_label
from bench.reporting.cells import markdown_table, mean_sd
from bench.reporting.tables import StoredRun, setting_of

VARIANT_FIGURES = ("accuracy", "roc_auc")


def variant_table(evaluations: list[EvaluateRecord]) -> pd.DataFrame:
    """One row per (setting, test-split version): accuracy and ROC-AUC, the mean and between-seed SD over the setting's seeds."""
    by: dict[tuple[str, str], list[dict]] = defaultdict(list)
    order: dict[str, int] = {}
    for e in evaluations:
        for variant, report in e.variants.items():
            order.setdefault(variant, len(order))
            by[(setting_of(e.model), variant)].append(report)
    rows = []
    for (setting, variant), reports in sorted(by.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])):
        row = {"model": setting, "variant": variant, "seeds": len(reports), "n": reports[0].get("n")}
        for figure in VARIANT_FIGURES:
            values = np.asarray([r.get(figure, np.nan) for r in reports], dtype=np.float64)
            row[figure] = float(np.mean(values))
            row[f"{figure}_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def _seed(record: ScoreRecord) -> object:
    return record.model.factors.get("seed", record.model.factors.get("train.seed", 0))


def _per_sample(run: StoredRun, setting: str, columns: set[str]) -> dict[tuple[str, str, object], dict[str, float]]:
    """(implementation, column, seed) -> {sample id: value} of the setting's ok values."""
    found: dict[tuple[str, str, object], dict[str, float]] = defaultdict(dict)
    for _, s in run.scores:
        if setting_of(s.model) != setting or s.column not in columns:
            continue
        values = found[(params_label(s.implementation.adapter, s.params), s.column, _seed(s))]
        values.update({sid: v for sid, v, status in zip(s.sample_ids, s.values, s.statuses, strict=True) if status == "ok"})
    return found


def contrast_table(run: StoredRun, cfg: SuiteConfig) -> pd.DataFrame:
    """One row per (implementation, column): ROC-AUC of the per-sample scores telling the positive entry's models from the
    negative's, for each pair with the same seed (over the samples both scored), with its mean and between-seed SD, and each
    side's mean score."""
    c = cfg.contrast
    if not c.positive or not c.columns:
        return pd.DataFrame()
    columns = set(c.columns)
    positive, negative = _per_sample(run, c.positive, columns), _per_sample(run, c.negative, columns)
    pairs: dict[tuple[str, str], list[tuple[float, float, float, int]]] = defaultdict(list)
    for (impl, column, seed), pos in sorted(positive.items(), key=lambda kv: str(kv[0])):
        neg = negative.get((impl, column, seed))
        shared = sorted(set(pos) & set(neg or {}))
        if not shared:
            continue
        a = torch.tensor([pos[sid] for sid in shared], dtype=torch.float64)
        b = torch.tensor([neg[sid] for sid in shared], dtype=torch.float64)
        labels = torch.cat([torch.ones(len(a), dtype=torch.long), torch.zeros(len(b), dtype=torch.long)])
        pairs[(impl, column)].append((roc_auc(torch.cat([a, b]), labels), float(a.mean()), float(b.mean()), len(shared)))
    order = {col: i for i, col in enumerate(c.columns)}
    rows = []
    for (impl, column), found in sorted(pairs.items(), key=lambda kv: (order[kv[0][1]], kv[0][0])):
        auc = np.asarray([f[0] for f in found])
        rows.append({
            "implementation": impl, "column": column, "positive": c.positive, "negative": c.negative, "seeds": len(found),
            "n": int(np.mean([f[3] for f in found])), "roc_auc": float(np.mean(auc)),
            "roc_auc_sd": float(np.std(auc, ddof=1)) if len(auc) > 1 else float("nan"),
            "roc_auc_min": float(auc.min()), "positive_mean": float(np.mean([f[1] for f in found])),
            "negative_mean": float(np.mean([f[2] for f in found])),
        })
    return pd.DataFrame(rows)


VARIANT_NOTE = ("test: the whole test split as the data set holds it; the others are versions of it the data set provides, "
                "each image differing only in one feature (for the synthetic shortcut set, whose test images all carry the "
                "marker: correlated = the marker with the label as in training, removed = no marker, moved = label-correlated "
                "in the opposite corner). Mean ± SD over seeds.")


def variant_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The variant table as a header and text rows: one row per setting, one accuracy (and ROC-AUC) cell per version."""
    variants = list(dict.fromkeys(table["variant"]))
    head = ["model", *(f"{v} accuracy" for v in variants), *(f"{v} ROC-AUC" for v in variants)]
    rows = []
    for model, group in table.groupby("model", sort=False):
        cell = {r["variant"]: r for _, r in group.iterrows()}
        rows.append([model, *(mean_sd(cell[v]["accuracy"], cell[v]["accuracy_sd"]) if v in cell else "–" for v in variants),
                     *(mean_sd(cell[v]["roc_auc"], cell[v]["roc_auc_sd"]) if v in cell else "–" for v in variants)])
    return head, rows


def contrast_note(cfg: SuiteConfig) -> str:
    """What the contrast table measures, in one paragraph."""
    c = cfg.contrast
    return (f"ROC-AUC of each method's per-sample score telling {c.positive}'s models (positive) from {c.negative}'s, "
            "for each pair of models with the same training seed, over the samples both scored: 1 when every score of the "
            "positive model exceeds the other's, 0.5 when they do not differ. Mean ± SD over seed pairs; the side means are "
            "the mean scores.")


def contrast_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The contrast table as a header and text rows."""
    head = ["implementation", "column", "ROC-AUC", "min over seeds", "positive mean", "negative mean", "seeds", "n"]
    rows = [[r["implementation"], r["column"], mean_sd(r["roc_auc"], r["roc_auc_sd"]), f"{r['roc_auc_min']:.3f}", f"{r['positive_mean']:.3f}",
             f"{r['negative_mean']:.3f}", str(int(r["seeds"])), str(int(r["n"]))] for _, r in table.iterrows()]
    return head, rows


def contrast_markdown(variants: pd.DataFrame | None, contrast: pd.DataFrame | None, cfg: SuiteConfig) -> str:
    """The Markdown sections of both tables (empty when the suite has neither)."""
    lines = []
    if variants is not None and not variants.empty:
        lines += ["## Accuracy on versions of the test split", "", VARIANT_NOTE, "", *markdown_table(*variant_rows(variants)), ""]
    if contrast is not None and not contrast.empty:
        lines += [f"## Telling {cfg.contrast.positive} from {cfg.contrast.negative}", "", contrast_note(cfg), "",
                  *markdown_table(*contrast_rows(contrast)), ""]
    return "\n".join(lines)
