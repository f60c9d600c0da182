"""The HTML report: one self-contained page (inline PNG figures, inline script, no network) from published tables."""

from __future__ import annotations

import base64
import html
import inspect
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bench.core import registry
from bench.core.config import MetricConfig, SuiteConfig
from bench.core.errors import InputError
from bench.metrics import get_metric
from bench.models.classifier_metrics import roc_auc, roc_curve
from bench.pipeline.store import RecordStore
from bench.pipeline.units import params_label
from bench.reporting import contrast, figures
from bench.reporting.cells import number
from bench.reporting.compare import compare_cells, rank_changes, read_board, unmatched_rows
from bench.reporting.filter_grids import activation_gain, stored_grids
from bench.reporting.gallery import Gallery, best_median_worst, fixed_positions, load_gallery
from bench.reporting.map_figures import Cell, map_grid
from bench.reporting.publish import implementation_label, metric_tables
from bench.reporting.tables import StoredRun, metric_costs
from bench.utils.atomic_files import write_text_atomic

FIXED_SAMPLES = 4
PER_MAP = "each map from its own minimum (0) to its maximum (1)"
SHARED = "one scale per row: from the smallest to the largest value of the row's maps"

# Sorting by a column's data-value; numbers compare as numbers, a missing value sorts last.
SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach((th, col) => th.addEventListener('click', () => {
  const table = th.closest('table'), body = table.tBodies[0];
  const up = th.dataset.order !== 'asc';
  table.querySelectorAll('th').forEach(h => delete h.dataset.order);
  th.dataset.order = up ? 'asc' : 'desc';
  const key = row => { const v = row.cells[col].dataset.value; const n = parseFloat(v);
                       return v === undefined || v === '' ? null : (isNaN(n) ? v : n); };
  [...body.rows].sort((a, b) => { const x = key(a), y = key(b);
    if (x === null) return 1; if (y === null) return -1;
    return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1); }).forEach(r => body.appendChild(r));
}));
"""

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #f3f3f3; cursor: pointer; } th[data-order=asc]::after { content: ' ▲'; } th[data-order=desc]::after { content: ' ▼'; }
td:first-child, th:first-child { text-align: left; }
tr.baseline td { background: #fafafa; color: #666; font-style: italic; }
td.best { font-weight: bold; }
img { max-width: 100%; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
details { margin: 0.3em 0 1em; } summary { cursor: pointer; color: #245; }
.card { border: 1px solid #ddd; border-radius: 4px; padding: 0.4em 0.8em; margin: 0.4em 0; }
.card p { margin: 0.2em 0; }
"""


def _img(data: bytes, alt: str, mime: str = "image/png") -> str:
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{base64.b64encode(data).decode()}">'


def _cell(value: object, text: str, css: str = "") -> str:
    sort_value = "" if value is None or (isinstance(value, float) and math.isnan(value)) else value
    return f'<td{f" class={css!r}" if css else ""} data-value="{html.escape(str(sort_value))}">{html.escape(text)}</td>'


def leaderboard_html(board: pd.DataFrame, cfg: SuiteConfig) -> list[str]:
    """Per model, one sortable table per metric family: mean [CI] (± between-seed SD), baselines marked and last."""
    out = []
    for model, rows in board.groupby("model", sort=False):
        rows = pd.concat([rows[rows["library"] != "baseline"], rows[rows["library"] == "baseline"]])
        out.append(f"<h3>Model <code>{html.escape(str(model))}</code></h3>")
        for title, group in metric_tables(cfg):
            head = "".join(f"<th>{html.escape(c)} {'↑' if d == 'higher' else '↓'}</th>" for c, d in group)
            body = []
            for _, r in rows.iterrows():
                cells = [_cell(implementation_label(r["implementation"], r["params"]), implementation_label(r["implementation"], r["params"]))]
                for c, _ in group:
                    text = f"{number(r[c])} [{number(r[c + '_ci_low'])}, {number(r[c + '_ci_high'])}]"
                    sd = r.get(c + "_seed_sd")
                    if r.get("seeds", 1) > 1 and sd is not None and not math.isnan(sd):
                        text += f" ±{number(sd)}"
                    cells.append(_cell(r[c], text, "best" if r.get(f"{c}_rank") == 1 else ""))
                css = ' class="baseline"' if r["library"] == "baseline" else ""
                body.append(f"<tr{css}>{''.join(cells)}</tr>")
            out.append(f"<h4>{html.escape(title)}</h4><table class='sortable'><thead><tr><th>implementation</th>{head}</tr></thead>"
                       f"<tbody>{''.join(body)}</tbody></table>")
    return out


def cost_html(board: pd.DataFrame, cfg: SuiteConfig, metric: MetricConfig) -> list[str]:
    """Runtime and peak memory against one metric, with the Pareto front, per model (nothing when no timing was run)."""
    higher = get_metric(metric.name).direction == "higher"
    out = []
    for model, rows in board.groupby("model", sort=False):
        pngs = [(cost, figures.cost_quality_figure(rows, metric.column(), higher, cost)) for cost in figures.COSTS]
        pngs = [(cost, png) for cost, png in pngs if png]
        if pngs:
            out.append(f"<h3>Cost against {html.escape(metric.column())}: <code>{html.escape(str(model))}</code></h3><div class='figures'>"
                       + "".join(_img(png, f"{cost} against {metric.column()}, {model}") for cost, png in pngs) + "</div>")
    return out


def metric_cost_html(board: pd.DataFrame, cfg: SuiteConfig) -> list[str]:
    """Per model, each metric's time against its pass budget (nothing when no metric has one)."""
    costs = metric_costs(board, cfg) if not board.empty else pd.DataFrame()
    if costs.empty or costs["efficiency"].isna().all():
        return []
    out = ["<p>Metric cost: measured ms per image against the metric's pass budget (its passes at the model's calibrated speed, "
           "its explain calls at the row's measured explain cost); × budget is the median over the model's rows [min, max].</p>"]
    for model, rows in costs.groupby("model", sort=False):
        out.append(f"<h3>Metric cost: <code>{html.escape(str(model))}</code></h3>")
        out.append(_table(["metric", "passes per image", "ms/img", "budget ms/img", "× budget", "range"],
                          [[(r["metric"], r["metric"]), (r["passes"], r["passes"]), (r["ms_per_image"], number(r["ms_per_image"], 2)),
                            (r["budget_ms_per_image"], number(r["budget_ms_per_image"], 2)), (r["efficiency"], number(r["efficiency"], 2)),
                            (r["efficiency_max"], f"[{number(r['efficiency_min'], 2)}, {number(r['efficiency_max'], 2)}]")]
                           for _, r in rows.iterrows()]))
    return out


def classifier_html(out_dir: Path) -> list[str]:
    """Each published model's figures on the explained split, with its confusion matrix."""
    out = []
    for card_path in sorted((out_dir / "models").glob("*.json")):
        card = json.loads(card_path.read_text())
        for split, report in card.get("explained_split", {}).items():
            figures_text = ", ".join(f"{k} {number(report[k])}" for k in ("accuracy", "roc_auc", "balanced_accuracy", "macro_f1") if k in report)
            out.append(f"<h4><code>{html.escape(card_path.stem)}</code> on <code>{html.escape(split)}</code></h4><p>{figures_text} "
                       f"(n = {report.get('n')})</p>")
            if report.get("confusion_matrix") and report.get("classes"):
                out.append(_img(figures.confusion_figure(report["confusion_matrix"], report["classes"]), f"confusion matrix of {card_path.stem}"))
            if len(report.get("per_class", [])) > 2:
                out.append(per_class_html(report))
    return out


def study_html(out_dir: Path) -> list[str]:
    """Each metric against each factor with CI bars (from study.csv), when the suite has a grid."""
    path = out_dir / "study.csv"
    if not path.is_file():
        return []
    levels = pd.read_csv(path, dtype={"level": str})
    out = []
    for factor in dict.fromkeys(levels["factor"]):
        out.append(f"<h3>{html.escape(factor)}</h3><div class='figures'>")
        for metric in dict.fromkeys(levels.loc[levels["factor"] == factor, "metric"]):
            out.append(_img(figures.factor_figure(levels, factor, metric), f"{metric} against {factor}"))
        out.append("</div>")
    return out


def _table(head: list[str], rows: list[list[tuple[object, str]]], css: list[str] | None = None) -> str:
    """A sortable table of (value, text) cells."""
    body = "".join(f"<tr{f' class={c!r}' if c else ''}>{''.join(_cell(v, t) for v, t in r)}</tr>"
                   for r, c in zip(rows, css or [""] * len(rows), strict=True))
    return (f"<table class='sortable'><thead><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _short(sample_id: str) -> str:
    return sample_id.rsplit("/", 1)[-1]


def _agreement(g: Gallery, a: str, b: str, sample_id: str) -> float | None:
    return g.agreement.get((a, b, sample_id), g.agreement.get((b, a, sample_id)))


def _sample_cell(g: Gallery, pos: int, title: str) -> Cell:
    return Cell(g.inputs[pos], g.masks[pos] if g.masks is not None else None, title=title)


def _map_cell(g: Gallery, pos: int, label: str, title: str, reference: str | None) -> Cell:
    sid = g.ids[pos]
    notes = []
    if reference is not None:
        rho = _agreement(g, reference, label, sid)
        notes.append(f"ρ vs {reference.split('.')[0]} {number(rho, 2)}")
    value = g.values.get(label, {}).get(sid)
    if value is not None:
        notes.append(f"{g.metric} {number(value, 2)}")
    heat = g.maps[label][pos]
    return Cell(g.inputs[pos], g.masks[pos] if g.masks is not None else None, heat, title, "\n".join(notes), not np.isfinite(heat).any())


def _fixed_rows(g: Gallery, labels: list[str], positions: list[int], compare: bool) -> list[list[Cell]]:
    return [[_sample_cell(g, p, f"{_short(g.ids[p])} ({g.labels[p]})"),
             *(_map_cell(g, p, label, label, labels[0] if compare and k else None) for k, label in enumerate(labels))] for p in positions]


def _ranked_rows(g: Gallery, labels: list[str]) -> list[list[Cell]]:
    rows = []
    for label in labels:
        picks = best_median_worst(g.values.get(label, {}), g.higher_is_better)
        if picks:
            index = {sid: i for i, sid in enumerate(g.ids)}
            rows.append([_map_cell(g, index[sid], label, f"{label}\n{which}: {_short(sid)}", None) for which, sid, _ in picks])
    return rows


def gallery_html(g: Gallery) -> list[str]:
    """Per method: its implementations side by side on fixed samples (per-map and shared scale), then each one's best,
    median and worst sample on the headline metric; methods with one implementation together."""
    positions = fixed_positions(FIXED_SAMPLES, len(g.ids))
    out = [f"<p>Model <code>{html.escape(g.model)}</code>. Each map is drawn over the grey input at 60% opacity with the "
           f"mask's outline in white; colormap {figures.COLORMAP}, {PER_MAP} unless a view says otherwise. Under each map: its "
           f"Spearman ρ with the first implementation of the method on that sample (the agreement units' value) and its "
           f"<code>{html.escape(g.metric)}</code> (the suite's first metric unless `bench report --metric` names another; best, median and worst are ranked by it, "
           f"{'higher' if g.higher_is_better else 'lower'} being better). Fixed samples: {len(positions)} evenly spaced over "
           "the explained split.</p>"]
    singles = [labels[0] for labels in g.families.values() if len(labels) == 1]
    for method, labels in g.families.items():
        if len(labels) == 1:
            continue
        rows = _fixed_rows(g, labels, positions, compare=True)
        out += [f"<h3>{html.escape(method)}: {' | '.join(html.escape(x) for x in labels)}</h3>",
                _img(map_grid(rows, shared=False, note=PER_MAP), f"{method} implementations on fixed samples", "image/jpeg"),
                "<details><summary>Shared scale (differences in magnitude between implementations)</summary>",
                _img(map_grid(rows, shared=True, note=SHARED), f"{method} implementations on fixed samples, shared scale", "image/jpeg"),
                "</details>"]
        ranked = _ranked_rows(g, labels)
        if ranked:
            out += ["<details open><summary>Best, median and worst samples</summary>",
                    _img(map_grid(ranked, shared=False, note=PER_MAP), f"{method}: best, median and worst samples", "image/jpeg"), "</details>"]
    if singles:
        out += [f"<h3>Methods with one implementation here: {', '.join(html.escape(x) for x in singles)}</h3>",
                _img(map_grid(_fixed_rows(g, singles, positions, compare=False), shared=False, note=PER_MAP), "single implementations", "image/jpeg")]
        ranked = _ranked_rows(g, singles)
        if ranked:
            out += ["<details><summary>Best, median and worst samples</summary>",
                    _img(map_grid(ranked, shared=False, note=PER_MAP), "single implementations: best, median and worst", "image/jpeg"),
                    "</details>"]
    return out


def curves_html(out_dir: Path, board: pd.DataFrame) -> list[str]:
    """Perturbation curves (deletion, insertion, ROAD) and metric sweeps (randomisation by block) with CI bands, per model."""
    path = out_dir / "curves.csv"
    if not path.is_file():
        return []
    curves = pd.read_csv(path)
    if "kind" not in curves.columns:
        curves["kind"] = "sweep"
    baselines = set(board.loc[board["library"] == "baseline", "implementation"])
    out = []
    for kind, title in (("perturbation", "Perturbation curves (mean over samples and seeds, CI band)"),
                        ("sweep", "Metric sweeps (e.g. cascading randomisation: blocks re-initialised from the head down)")):
        part = curves[curves["kind"] == kind]
        if part.empty:
            continue
        out += [f"<h3>{html.escape(title)}</h3>", "<div class='figures'>"]
        for (model, curve), rows in part.groupby(["model", "curve"], sort=False):
            direction = get_metric(rows["metric"].iloc[0]).direction
            out.append(_img(figures.curve_figure(rows, f"{curve} on {model} (summary: {direction} is better)", direction, baselines),
                            f"{curve} curve of {model}"))
        out.append("</div>")
    return out


def _text_table(head: list[str], rows: list[list[str]]) -> str:
    return _table(head, [[(cell, cell) for cell in row] for row in rows])


def contrast_html(out_dir: Path, cfg: SuiteConfig) -> list[str]:
    """Accuracy on versions of the test split, and how well each method tells the contrast's two entries apart."""
    out = []
    if (out_dir / "variants.csv").is_file():
        out += ["<h3>Accuracy on versions of the test split</h3>", f"<p>{html.escape(contrast.VARIANT_NOTE)}</p>",
                _text_table(*contrast.variant_rows(pd.read_csv(out_dir / "variants.csv")))]
    if (out_dir / "contrast.csv").is_file() and cfg.contrast.positive:
        out += [f"<h3>Telling {html.escape(cfg.contrast.positive)} from {html.escape(cfg.contrast.negative)}</h3>",
                f"<p>{html.escape(contrast.contrast_note(cfg))}</p>", _text_table(*contrast.contrast_rows(pd.read_csv(out_dir / "contrast.csv")))]
    return out


def filters_html(out_dir: Path, suite: str) -> list[str]:
    """The filter grids `bench visualize-filters` wrote, per model and layer, with what the ascent reached."""
    grids = stored_grids(out_dir)
    if not grids:
        return []
    out = ["<p>Per filter, the input that maximises its mean activation (regularised gradient ascent: jitter, blur, total "
           "variation; seeded), filters in index order, row by row. Written by <code>bench visualize-filters "
           f"suites/{html.escape(suite)}.toml --model NAME</code>.</p>"]
    for model, layer, grid, summary in grids:
        steps = summary.get("settings", {}).get("steps")
        size = "×".join(str(v) for v in summary.get("size", []))
        out.append(f"<h3><code>{html.escape(model)}</code> · <code>{html.escape(layer)}</code></h3>"
                   f"<p>filters {summary['filters'][0]}–{summary['filters'][-1]}; {size + ' px; ' if size else ''}{steps} steps; "
                   f"{activation_gain(summary['activation'], summary['grey_activation'])}</p>")
        if grid.is_file():
            out.append(_img(grid.read_bytes(), f"filters of {model} {layer}"))
    return out


def agreement_html(out_dir: Path) -> list[str]:
    """Heatmaps: Kendall's τ between metrics' rankings of implementations, and Spearman ρ between implementations of one method."""
    out = []
    path = out_dir / "metric_agreement.csv"
    if path.is_file():
        table = pd.read_csv(path)
        out.append("<h3>Metric agreement (Kendall's τ of the rankings two metrics give the implementations)</h3><div class='figures'>")
        for model, rows in table.groupby("model", sort=False):
            names = list(dict.fromkeys([*rows["metric_a"], *rows["metric_b"]]))
            matrix = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
            for _, r in rows.iterrows():
                matrix.loc[r["metric_a"], r["metric_b"]] = matrix.loc[r["metric_b"], r["metric_a"]] = r["kendall_tau"]
            out.append(_img(figures.matrix_figure(matrix, f"Kendall's τ between metrics, {model}"), f"metric agreement {model}"))
        out.append("</div>")
    path = out_dir / "agreement.csv"
    if path.is_file():
        table = pd.read_csv(path)
        out.append("<h3>Implementation agreement (mean Spearman ρ per sample, pairs of one method)</h3><div class='figures'>")
        for model, rows in table.groupby("model", sort=False):
            names = sorted({*rows["a"], *rows["b"]})
            matrix = pd.DataFrame(np.nan, index=names, columns=names)
            for _, r in rows.iterrows():
                matrix.loc[r["a"], r["b"]] = matrix.loc[r["b"], r["a"]] = r["spearman"]
            for name in names:
                matrix.loc[name, name] = 1.0
            out.append(_img(figures.matrix_figure(matrix, f"Spearman ρ between implementations, {model}"), f"implementation agreement {model}"))
        out.append("</div>")
    return out


def roc_html(out_dir: Path) -> list[str]:
    """ROC curves per setting from predictions.csv: each seed's model for two classes, one-vs-rest per class of the first seed for more."""
    path = out_dir / "predictions.csv"
    if not path.is_file():
        return []
    table = pd.read_csv(path)
    classes = [c[2:] for c in table.columns if c.startswith("p.")]
    out = ["<div class='figures'>"]
    for setting, rows in table.groupby("setting", sort=False):
        curves = []
        models = list(dict.fromkeys(rows["model"]))
        if len(classes) == 2:
            for model in models:
                one = rows[rows["model"] == model]
                scores, labels = torch.tensor(one[f"p.{classes[1]}"].to_numpy()), torch.tensor(one["label"].to_numpy())
                fpr, tpr = roc_curve(scores, (labels == 1).long())
                curves.append((f"{model} (AUC {roc_auc(scores, (labels == 1).long()):.3f})", fpr.numpy(), tpr.numpy()))
            title = f"ROC of {setting}: {classes[1]} against {classes[0]}"
        else:
            one = rows[rows["model"] == models[0]]
            labels = torch.tensor(one["label"].to_numpy())
            for k, name in enumerate(classes):
                scores, positive = torch.tensor(one[f"p.{name}"].to_numpy()), (labels == k).long()
                fpr, tpr = roc_curve(scores, positive)
                curves.append((f"{name} (AUC {roc_auc(scores, positive):.3f})", fpr.numpy(), tpr.numpy()))
            title = f"ROC of {models[0]}, each class against the rest"
        out.append(f"<figure>{_img(figures.roc_figure(curves), title)}<figcaption>{html.escape(title)}</figcaption></figure>")
    return [*out, "</div>"]


def per_class_html(report: dict) -> str:
    """The per-class figures of a classifier report as a table."""
    rows = [[(c["class"], c["class"]), *((c.get(k), number(c.get(k))) for k in ("precision", "recall", "f1", "roc_auc")),
             (c.get("support"), str(c.get("support")))] for c in report.get("per_class", [])]
    return _table(["class", "precision", "recall", "F1", "ROC-AUC (one vs rest)", "support"], rows) if rows else ""


def failures_html(board: pd.DataFrame, cfg: SuiteConfig, run: StoredRun | None) -> list[str]:
    """Samples each implementation failed on and values each metric left undefined, with the distinct errors."""
    columns = [m.column() for m in cfg.metrics if f"{m.column()}_undefined" in board.columns]
    rows, css = [], []
    for _, r in board.iterrows():
        counts = [int(r.get(f"{c}_undefined") or 0) for c in columns]
        failed = int(r.get("failures") or 0)
        if failed or any(counts):
            rows.append([(f"{r['model']} / {r['implementation']}", f"{r['model']} / {implementation_label(r['implementation'], r['params'])}"),
                         (failed, str(failed)), *((n, str(n) if n else "") for n in counts)])
            css.append("baseline" if r["library"] == "baseline" else "")
    if not rows:
        out = ["<p>No failure, and every metric is defined on every sample.</p>"]
    else:
        shown = [k for k, c in enumerate(columns) if any(row[2 + k][0] for row in rows)]
        rows = [[*row[:2], *(row[2 + k] for k in shown)] for row in rows]
        out = ["<p>Failed: samples whose map could not be made (explain) or scored. Other columns: samples a metric leaves undefined "
               "(e.g. a constant map has no top pixels to rank), counted over seeds.</p>",
               _table(["model / implementation", "failed", *(f"{columns[k]} undefined" for k in shown)], rows, css)]
    errors: dict[tuple[str, str, str], int] = {}
    for record in (run.all() if run else []):
        for f in getattr(record, "failures", []):
            name = f.implementation or getattr(getattr(record, "implementation", None), "adapter", "")
            key = (f.stage, name, f.error.splitlines()[0][:160] if f.error else "")
            errors[key] = errors.get(key, 0) + len(f.sample_ids)
    if errors:
        out.append(_table(["stage", "implementation", "error", "samples"],
                          [[(s, s), (i, i), (e, e), (n, str(n))] for (s, i, e), n in sorted(errors.items())]))
    return out


def method_cards_html(board: pd.DataFrame, cfg: SuiteConfig) -> list[str]:
    """One card per method entry: what it computes, its family, library and version, parameters and measured cost."""
    out = []
    for m in cfg.methods:
        cls = registry.get(m.name)
        doc = _first_paragraph(inspect.getdoc(cls))
        # A library's adapter documents how it differs; the method itself is defined once, by the in-house one.
        reference = registry.get(f"inhouse.{cls.method}") if f"inhouse.{cls.method}" in registry.names() else None
        if reference is not None and reference is not cls:
            doc = f"{_first_paragraph(inspect.getdoc(reference))} This implementation: {doc}"
        rows = board[(board["implementation"] == m.name) & (board["params"] == json.dumps(m.params, sort_keys=True))]
        cost = ""
        if not rows.empty:
            r = rows.iloc[0]
            parts = [f"{name} {number(r.get(col), digits)}" for name, col, digits in
                     (("runtime ms/image", "runtime_ms_median", 2), ("peak memory MiB", "peak_memory_mib", 1), ("efficiency", "efficiency", 2))
                     if col in r and r.get(col) == r.get(col)]
            cost = f"<p>Cost ({html.escape(str(r['model']))}): {', '.join(parts) or 'not timed'}; version {html.escape(str(r['version']))}</p>"
        params = ", ".join(f"{k} = {v}" for k, v in sorted(m.params.items())) or "defaults"
        out.append(f"<div class='card'><p><b><code>{html.escape(params_label(m.name, m.params))}</code></b> — "
                   f"method <code>{html.escape(cls.method)}</code>, library <code>{html.escape(cls.library)}</code></p>"
                   f"<p>{html.escape(doc)}</p><p>Parameters: {html.escape(params)}</p>{cost}</div>")
    return out


def _first_paragraph(doc: str | None) -> str:
    return (doc or "").strip().split("\n\n")[0].replace("\n", " ")


def compare_html(board: pd.DataFrame, other: Path) -> list[str]:
    """This leaderboard against another's CIs: counts, the cells outside, rank changes, rows only on one side."""
    reference = read_board(other)
    cells, ranks = compare_cells(reference, board), rank_changes(reference, board)
    only_a, only_b = unmatched_rows(reference, board)
    counts = cells["status"].value_counts()
    out = [f"<p>A (reference): <code>{html.escape(str(reference.attrs.get('file')))}</code>; B: this leaderboard. "
           f"{counts.get('inside', 0)} of {len(cells)} cells of B lie inside A's CIs, {counts.get('outside', 0)} outside with overlapping "
           f"CIs, {counts.get('moved', 0)} moved (disjoint CIs); {len(ranks)} ranks changed. Rows only in A: {len(only_a)}, only in B: "
           f"{len(only_b)}.</p>"]
    off = cells[cells["status"] != "inside"]
    if not off.empty:
        out.append(_table(["model", "implementation", "column", "A", "A CI", "B", "B CI", "B − A", "status"],
                          [[(r["model"], r["model"]), (r["implementation"], r["implementation"]), (r["column"], r["column"]),
                            (r["a"], number(r["a"])), (r["a_ci_low"], f"[{number(r['a_ci_low'])}, {number(r['a_ci_high'])}]"),
                            (r["b"], number(r["b"])), (r["b_ci_low"], f"[{number(r['b_ci_low'])}, {number(r['b_ci_high'])}]"),
                            (r["difference"], f"{r['difference']:+.3f}"), (r["status"], r["status"])] for _, r in off.iterrows()]))
    if not ranks.empty:
        out.append(_table(["model", "implementation", "column", "rank in A", "rank in B"],
                          [[(r["model"], r["model"]), (r["implementation"], r["implementation"]), (r["column"], r["column"]),
                            (r["rank_a"], number(r["rank_a"], 0)), (r["rank_b"], number(r["rank_b"], 0))] for _, r in ranks.iterrows()]))
    return out


def report_html(out_dir: Path, cfg: SuiteConfig, *, gallery: Gallery | None = None, run: StoredRun | None = None,
                compare: Path | None = None, metric: MetricConfig | None = None) -> str:
    """The whole page for a suite's published results (the gallery when its maps are given, a comparison when asked); costs are
    plotted against `metric` (default: the suite's first)."""
    board = pd.read_csv(out_dir / "leaderboard.csv")
    board["params"] = board["params"].fillna("{}")
    no_maps = ["<p>No stored maps of this suite on this machine (maps are local sidecars, not published): "
               f"<code>bench run suites/{html.escape(cfg.suite.name)}.toml</code> stores them, then <code>bench report</code> draws them.</p>"]
    classifiers = [*roc_html(out_dir), *classifier_html(out_dir)]
    sections = [("Leaderboard", leaderboard_html(board, cfg)), ("Gallery", gallery_html(gallery) if gallery else no_maps),
                ("Curves", curves_html(out_dir, board)), ("Agreement", agreement_html(out_dir)),
                ("Telling models apart", contrast_html(out_dir, cfg)),
                ("Filters (activation maximisation)", filters_html(out_dir, cfg.suite.name)),
                ("Cost against quality", [*cost_html(board, cfg, metric or cfg.metrics[0]), *metric_cost_html(board, cfg)]),
                ("Study: metrics against factors", study_html(out_dir)), ("Classifiers", classifiers),
                ("Failures and undefined values", failures_html(board, cfg, run)), ("Methods", method_cards_html(board, cfg)),
                ("Comparison with another leaderboard", compare_html(board, compare) if compare else [])]
    body = [f"<h1>{html.escape(cfg.suite.name)}</h1>", f"<p>{html.escape(cfg.suite.description)}</p>",
            f"<p>Colormap of every map: {figures.COLORMAP} (perceptually uniform); of signed agreement matrices: RdBu (diverging, "
            f"0 white). Cells: mean [{cfg.leaderboard.confidence:.0%} CI]; "
            "with several training seeds the mean over seeds, a hierarchical CI over seeds then samples, ± the between-seed SD. "
            "Click a column head to sort.</p>",
            "<nav>" + " · ".join(f"<a href='#{_anchor(t)}'>{html.escape(t)}</a>" for t, parts in sections if parts) + "</nav>"]
    for title, parts in sections:
        if parts:
            body += [f"<h2 id='{_anchor(title)}'>{html.escape(title)}</h2>", *parts]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(cfg.suite.name)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}<script>{SORT_SCRIPT}</script></body></html>")


def _anchor(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower())


def metric_entry(cfg: SuiteConfig, column: str | None) -> MetricConfig:
    """The suite's metric entry whose leaderboard column is `column` (the first entry when None); an unknown one is an error."""
    if column is None:
        return cfg.metrics[0]
    for m in cfg.metrics:
        if m.column() == column:
            return m
    raise InputError(cfg.path or cfg.suite.name, "--metric", f"no metric column {column!r} (columns: {', '.join(m.column() for m in cfg.metrics)})")


def write_report(cfg: SuiteConfig, *, model: str | None = None, compare: Path | None = None, metric: str | None = None) -> Path:
    """Write results/SUITE/report/index.html from the published tables, the stored records and the maps stored here; `metric`
    (a leaderboard column) ranks the gallery's samples and is the quality axis of the cost figures."""
    from bench.pipeline.stages import load_plan, stored_run

    out_dir = cfg.results_dir()
    store = RecordStore(out_dir / "records")
    run, _ = stored_run(load_plan(cfg), store, cfg)
    chosen = metric_entry(cfg, metric)
    gallery = load_gallery(cfg, run, store, model, chosen)
    path = out_dir / "report" / "index.html"
    write_text_atomic(path, report_html(out_dir, cfg, gallery=gallery, run=run, compare=compare, metric=chosen))
    return path
