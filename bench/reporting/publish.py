"""Writing a suite's results: leaderboard CSV and Markdown, the long record CSV and model cards."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from bench.core.config import SuiteConfig
from bench.metrics import get_metric
from bench.pipeline.units import params_label
from bench.reporting.cells import number
from bench.reporting.contrast import contrast_markdown
from bench.reporting.study import Study
from bench.reporting.tables import metric_costs
from bench.utils.atomic_files import write_text_atomic


def markdown(board: pd.DataFrame, cfg: SuiteConfig, context: dict) -> str:
    """The leaderboard as Markdown: one table per model, metric cells 'mean [CI]'."""
    columns = [(m.column(), get_metric(m.name).direction) for m in cfg.metrics]
    lines = [f"# Leaderboard: {cfg.suite.name} (suite version {cfg.suite.version})", ""]
    if context.get("missing"):
        lines += [f"**Incomplete:** {context['missing']} of {context['planned']} planned units are not stored yet (an interrupted or "
                  "partial run); the tables show what is stored. `bench merge` lists the missing units.", ""]
    if cfg.suite.description:
        lines += [cfg.suite.description, ""]
    lines += [f"Split `{cfg.data.split}`, {context['samples']} samples, explained class: {cfg.run.target}; dataset digest "
              f"`{context['dataset_digest'][:16]}`; device {context['device']}. Metric cells: mean [{cfg.leaderboard.confidence:.0%} "
              f"bootstrap CI] over samples where the metric is defined (for a setting trained with several seeds: the mean over seeds, "
              f"the CI of a hierarchical bootstrap over seeds then samples, and ±the between-seed SD); arrows give the better direction. Runtime: median ms per image "
              f"(IQR) at batch size {cfg.measure.batch_size}; × ideal: runtime over the cost of the method's forward/backward passes "
              f"at the model's measured speed; memory: peak MiB above the baseline (see bench/utils/measure.py).", ""]
    for model, rows in (board.groupby("model", sort=False) if not board.empty else []):
        clf = context.get("classifiers", {}).get(model, {})
        lines += [f"## Model `{model}`", ""]
        if clf:
            lines += classifier_markdown(clf, cfg.data.split)
        # Baselines last: they are what the methods above them are read against.
        rows = pd.concat([rows[rows["library"] != "baseline"], rows[rows["library"] == "baseline"]])
        labels = [f"`{implementation_label(r['implementation'], r['params'])}`" for _, r in rows.iterrows()]
        for title, group in metric_tables(cfg):
            head = ["implementation"] + [f"{c} {'↑' if d == 'higher' else '↓'}" for c, d in group]
            lines += [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for label, (_, r) in zip(labels, rows.iterrows()):
                cells = [label]
                for c, _ in group:
                    cell = f"{number(r[c])} [{number(r[c + '_ci_low'])}, {number(r[c + '_ci_high'])}]"
                    sd = r.get(c + "_seed_sd")
                    if r.get("seeds", 1) > 1 and sd is not None and not math.isnan(sd):
                        cell += f" ±{number(sd)}"
                    cells.append(f"**{cell}**" if r.get(f"{c}_rank") == 1 else cell)
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
        head = ["implementation", "library", "ms/img (IQR)", "× ideal", "peak MiB", "metrics ms/img", "n", "undefined", "failures"]
        lines += ["### Cost and counts", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for label, (_, r) in zip(labels, rows.iterrows()):
            cells = [label, f"{r['library']} {r['version']}", f"{number(r['runtime_ms_median'], 2)} ({number(r['runtime_ms_iqr'], 2)})",
                     number(r.get("efficiency"), 2), number(r["peak_memory_mib"], 1), number(r.get("metrics_ms_per_image"), 2),
                     str(int(r["samples"])), str(sum(int(r[f"{c}_undefined"]) for c, _ in columns)), str(int(r["failures"]))]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines += metric_cost_markdown(metric_costs(rows, cfg))
        lines += precision_markdown(rows, labels, cfg.run.precision)
    return "\n".join(lines)


def precision_markdown(rows: pd.DataFrame, labels: list[str], precision: str) -> list[str]:
    """A reduced-precision run's maps against float32's, per implementation (nothing for a float32 run)."""
    if precision == "float32" or "float32_spearman_mean" not in rows:
        return []
    lines = [f"### {precision} against float32", "",
             f"Every model pass ran under {precision} autocast; each shard's first batch was explained again in float32. "
             "Spearman: rank correlation of the two maps; relative error: ||map - float32 map|| / ||float32 map||; means over those samples.", "",
             "| implementation | Spearman | relative error |", "|---|---|---|"]
    for label, (_, r) in zip(labels, rows.iterrows()):
        lines.append(f"| {label} | {number(r['float32_spearman_mean'], 4)} | {number(r.get('float32_relative_error_mean'), 4)} |")
    return lines + [""]


def metric_cost_markdown(costs: pd.DataFrame) -> list[str]:
    """One model's metric costs against their pass budgets, as a Markdown table (nothing when no metric has a budget)."""
    if costs.empty or costs["efficiency"].isna().all():
        return []
    lines = ["### Metric cost against its pass budget", "",
             "Budget: the metric's passes per image at the model's calibrated pass speed, its explain calls at the row's measured "
             "explain cost; × budget: measured time over that budget, median [min, max] over the rows. Metrics of one batch share "
             "p(x), so the second one reading it shows below 1.", "",
             "| metric | passes per image | ms/img | budget ms/img | × budget |", "|---|---|---|---|---|"]
    for _, r in costs.iterrows():
        spread = f" [{number(r['efficiency_min'], 2)}, {number(r['efficiency_max'], 2)}]" if r["efficiency"] == r["efficiency"] else ""
        lines.append(f"| {r['metric']} | {r['passes']} | {number(r['ms_per_image'], 2)} | {number(r['budget_ms_per_image'], 2)} | "
                     f"{number(r['efficiency'], 2)}{spread} |")
    return lines + [""]


# With the implementation column a metric table stays within 9 columns, readable without scrolling sideways.
MAX_METRIC_COLUMNS = 8


def metric_tables(cfg: SuiteConfig) -> list[tuple[str, list[tuple[str, str]]]]:
    """The suite's metric columns grouped by family (localisation, faithfulness, ...) in suite order, in tables of at
    most MAX_METRIC_COLUMNS, each with its title."""
    families: dict[str, list[tuple[str, str]]] = {}
    for m in cfg.metrics:
        cls = get_metric(m.name)
        families.setdefault(cls.category, []).append((m.column(), cls.direction))
    tables = []
    for family, group in families.items():
        # Split evenly (11 columns as 6 + 5, not 8 + 3).
        size = math.ceil(len(group) / math.ceil(len(group) / MAX_METRIC_COLUMNS))
        chunks = [group[i:i + size] for i in range(0, len(group), size)]
        for k, chunk in enumerate(chunks):
            tables.append((family.capitalize() + (f" ({k + 1} of {len(chunks)})" if len(chunks) > 1 else ""), chunk))
    return tables


def implementation_label(adapter: str, params: str) -> str:
    """An adapter with the parameters its suite entry set (JSON in the tables), as the plan names it."""
    return params_label(adapter, json.loads(params) if isinstance(params, str) and params else {})


def classifier_markdown(clf: dict, split: str) -> list[str]:
    """The classifier's report: the binary figures, or for K classes the macro figures, per-class table and confusion matrix."""
    if "seeds" in clf:
        figures = [k for k in ("accuracy", "roc_auc", "balanced_accuracy", "macro_roc_auc", "tpr", "fpr") if k in clf]
        return [f"Classifier on `{split}`, mean ± SD over {clf['seeds']} training seeds: "
                + ", ".join(f"{k} {number(clf[k])} ± {number(clf.get(k + '_sd'))}" for k in figures) + f" (n = {clf.get('n')} per seed).", ""]
    if "tpr" in clf:
        return [f"Classifier on `{split}`: accuracy {number(clf.get('accuracy'))}, ROC-AUC {number(clf.get('roc_auc'))}, "
                f"TPR {number(clf.get('tpr'))}, FPR {number(clf.get('fpr'))} (n = {clf.get('n')}).", ""]
    lines = [f"Classifier on `{split}` ({clf.get('num_classes')} classes, n = {clf.get('n')}): accuracy {number(clf.get('accuracy'))}, "
             f"balanced accuracy {number(clf.get('balanced_accuracy'))}, macro one-vs-rest ROC-AUC {number(clf.get('macro_roc_auc'))}, "
             f"macro F1 {number(clf.get('macro_f1'))}.", ""]
    per_class = clf.get("per_class") or []
    if per_class:
        lines += ["| class | support | accuracy (recall) | precision | F1 | ROC-AUC (one vs rest) |", "|---|---|---|---|---|---|"]
        lines += [f"| {c['class']} | {c['support']} | {number(c['recall'])} | {number(c['precision'])} | {number(c['f1'])} | {number(c['roc_auc'])} |"
                  for c in per_class]
        lines.append("")
    matrix, names = clf.get("confusion_matrix"), clf.get("classes") or []
    if matrix:
        lines += ["Confusion matrix (rows: true class, columns: predicted):", "",
                  "| true class | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        lines += [f"| {name} | " + " | ".join(str(v) for v in row) + " |" for name, row in zip(names, matrix)]
        lines.append("")
    return lines


def agreement_markdown(agreement: pd.DataFrame, cfg: SuiteConfig) -> str:
    """The agreement section: one row per pair of implementations of one method."""
    lines = ["## Agreement between implementations", "",
             f"Same model, layer, inputs and targets; maps relu'd and min-max normalised first. Pearson and Spearman correlation, "
             f"overlap of the top {cfg.agreement.top_fraction:.0%} pixels, largest absolute difference; mean [CI] over samples. "
             "Known causes of disagreement are listed in the README (\"Known differences\").", "",
             "| model | method | implementation A | implementation B | Pearson | Spearman | top overlap | max abs diff | n |", "|---|---|---|---|---|---|---|---|---|"]
    for _, r in agreement.iterrows():
        cells = [f"`{r['model']}`", r["method"], f"`{r['a']}`", f"`{r['b']}`"]
        cells += [f"{number(r[m])} [{number(r[m + '_ci_low'])}, {number(r[m + '_ci_high'])}]" for m in ("pearson", "spearman", "top_overlap", "max_abs_diff")]
        cells.append(str(int(r["samples"])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def metric_agreement_markdown(table: pd.DataFrame) -> str:
    """Kendall's tau between metrics, one matrix per model: metrics that rank the implementations differently."""
    lines = ["## Do the metrics agree?", "",
             "Kendall's tau-b between the rankings of the implementations by each pair of metrics (each metric's better "
             "direction first). Near 1: same order; near 0 or negative: the metrics disagree about which method is best.", ""]
    for model, group in table.groupby("model", sort=False):
        metrics = list(dict.fromkeys(list(group["metric_a"]) + list(group["metric_b"])))
        tau = {(r.metric_a, r.metric_b): r.kendall_tau for r in group.itertuples()}
        lines += [f"Model `{model}`:", "", "| | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
        for a in metrics:
            cells = ["1" if a == b else number(tau.get((a, b), tau.get((b, a))), 2) for b in metrics]
            lines.append(f"| {a} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def curve_table(board: pd.DataFrame, cfg: SuiteConfig) -> pd.DataFrame:
    """Long table of every metric sweep: one row per (model, implementation, curve, swept value) with mean and CI."""
    rows = []
    for m in (m for m in cfg.metrics if m.sweep_param):
        c = m.column()
        for _, r in board.iterrows():
            rows.append({"model": r["model"], "implementation": r["implementation"], "kind": "sweep", "curve": m.curve, "metric": m.name,
                         "parameter": m.sweep_param, "value": m.sweep_value, "mean": r[c], "ci_low": r[f"{c}_ci_low"], "ci_high": r[f"{c}_ci_high"]})
    return pd.DataFrame(rows)


def curves_markdown(curves: pd.DataFrame) -> str:
    """One table per metric sweep and model: implementations down, the swept parameter's values across."""
    lines = ["## Curves", "", ("Metrics swept over one parameter (a `sweep` in the suite), e.g. the cascading randomisation "
                              "from the head down (blocks = 1, 2, …; 0 = every block). Cells: mean over samples."), ""]
    for (curve, model), group in curves[curves["kind"] == "sweep"].groupby(["curve", "model"], sort=False):
        direction = get_metric(group["metric"].iloc[0]).direction
        values = list(dict.fromkeys(group["value"]))
        param = group["parameter"].iloc[0]
        lines += [f"`{curve}` over `{param}` on model `{model}` ({direction} is better):", "",
                  "| implementation | " + " | ".join(f"{param}={v}" for v in values) + " |", "|---|" + "---|" * len(values)]
        for implementation, rows in group.groupby("implementation", sort=False):
            means = dict(zip(rows["value"], rows["mean"], strict=True))
            lines.append(f"| `{implementation}` | " + " | ".join(number(means.get(v)) for v in values) + " |")
        lines.append("")
    return "\n".join(lines)


def write_results(out_dir: Path, board: pd.DataFrame, records: pd.DataFrame, cfg: SuiteConfig, context: dict,
                  agreement: pd.DataFrame | None = None, metric_agreement: pd.DataFrame | None = None, *,
                  scores: pd.DataFrame | None = None, costs: pd.DataFrame | None = None, seeds: pd.DataFrame | None = None,
                  perturbation: pd.DataFrame | None = None, predictions: pd.DataFrame | None = None,
                  variants: pd.DataFrame | None = None, contrast: pd.DataFrame | None = None) -> list[Path]:
    """Write scores.csv and costs.csv (tidy), their views leaderboard.csv and leaderboard.md, records.csv and the other tables
    (seeds.csv: the per-seed breakdown of a suite with grids; curves.csv: metric sweeps and the perturbation curves;
    predictions.csv: the classifiers' probabilities per sample; variants.csv: accuracy on versions of the test split;
    contrast.csv: how well each method's scores tell two model entries apart)."""
    out_dir = Path(out_dir)
    paths = [out_dir / "leaderboard.csv", out_dir / "leaderboard.md", out_dir / "records.csv"]
    text = markdown(board, cfg, context)
    tables = {"scores.csv": scores, "seeds.csv": seeds, "costs.csv": costs, "metric_agreement.csv": metric_agreement, "agreement.csv": agreement,
              "predictions.csv": predictions, "variants.csv": variants, "contrast.csv": contrast}
    sweeps = curve_table(board, cfg) if not board.empty else pd.DataFrame()
    parts = [t for t in (sweeps, perturbation) if t is not None and not t.empty]
    curves = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    tables["curves.csv"] = curves
    for name, table in tables.items():
        if table is not None and not table.empty:
            paths.append(out_dir / name)
            write_text_atomic(paths[-1], table.to_csv(index=False, float_format="%.6g"))
        elif name in ("variants.csv", "contrast.csv"):
            # A suite that no longer has them must not show the tables of an earlier run.
            (out_dir / name).unlink(missing_ok=True)
    if metric_agreement is not None and not metric_agreement.empty:
        text += "\n" + metric_agreement_markdown(metric_agreement)
    if not sweeps.empty:
        text += "\n" + curves_markdown(curves)
    if agreement is not None and not agreement.empty:
        text += "\n" + agreement_markdown(agreement, cfg)
    if (told := contrast_markdown(variants, contrast, cfg)):
        text += "\n" + told
    write_text_atomic(paths[0], board.to_csv(index=False, float_format="%.6g"))
    write_text_atomic(paths[1], text)
    write_text_atomic(paths[2], records.to_csv(index=False, float_format="%.6g"))
    return paths


def write_study(out_dir: Path, study: Study) -> list[Path]:
    """Write study.md and its tables: study.csv (factor x level x method x metric), correlations.csv, ranking.csv, metric_quality.csv."""
    out_dir = Path(out_dir)
    tables = {"study.csv": study.levels, "correlations.csv": study.correlations, "ranking.csv": study.ranking, "metric_quality.csv": study.quality}
    paths = []
    for name, table in tables.items():
        if table.empty:
            # A grid over seeds alone has no factor levels: leave no stale table of an earlier grid behind.
            (out_dir / name).unlink(missing_ok=True)
            continue
        paths.append(out_dir / name)
        write_text_atomic(paths[-1], table.to_csv(index=False, float_format="%.6g"))
    paths.append(out_dir / "study.md")
    write_text_atomic(paths[-1], study.markdown)
    return paths
