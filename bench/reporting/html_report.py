"""The HTML report: one self-contained page (inline PNG figures, inline script, no network) from published tables."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import pandas as pd

from bench.core.config import SuiteConfig
from bench.metrics import get_metric
from bench.reporting import figures
from bench.reporting.publish import implementation_label, metric_tables
from bench.utils.atomic_files import write_text_atomic

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
"""


def _fmt(value: float, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _cell(value: object, text: str, css: str = "") -> str:
    number = "" if value is None or (isinstance(value, float) and math.isnan(value)) else value
    return f'<td{f" class={css!r}" if css else ""} data-value="{html.escape(str(number))}">{html.escape(text)}</td>'


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
                    text = f"{_fmt(r[c])} [{_fmt(r[c + '_ci_low'])}, {_fmt(r[c + '_ci_high'])}]"
                    sd = r.get(c + "_seed_sd")
                    if r.get("seeds", 1) > 1 and sd is not None and not math.isnan(sd):
                        text += f" ±{_fmt(sd)}"
                    cells.append(_cell(r[c], text, "best" if r.get(f"{c}_rank") == 1 else ""))
                css = ' class="baseline"' if r["library"] == "baseline" else ""
                body.append(f"<tr{css}>{''.join(cells)}</tr>")
            out.append(f"<h4>{html.escape(title)}</h4><table class='sortable'><thead><tr><th>implementation</th>{head}</tr></thead>"
                       f"<tbody>{''.join(body)}</tbody></table>")
    return out


def cost_html(board: pd.DataFrame, cfg: SuiteConfig) -> list[str]:
    """Runtime against the suite's first metric, with the Pareto front, per model (nothing when no timing was run)."""
    first = cfg.metrics[0]
    out = []
    for model, rows in board.groupby("model", sort=False):
        png = figures.cost_quality_figure(rows, first.column(), get_metric(first.name).direction == "higher")
        if png:
            out.append(f"<h3>Cost against {html.escape(first.column())}: <code>{html.escape(str(model))}</code></h3>"
                       + _img(png, f"runtime against {first.column()}, {model}"))
    return out


def classifier_html(out_dir: Path) -> list[str]:
    """Each published model's figures on the explained split, with its confusion matrix."""
    out = []
    for card_path in sorted((out_dir / "models").glob("*.json")):
        card = json.loads(card_path.read_text())
        for split, report in card.get("explained_split", {}).items():
            figures_text = ", ".join(f"{k} {_fmt(report[k])}" for k in ("accuracy", "roc_auc", "balanced_accuracy", "macro_f1") if k in report)
            out.append(f"<h4><code>{html.escape(card_path.stem)}</code> on <code>{html.escape(split)}</code></h4><p>{figures_text} "
                       f"(n = {report.get('n')})</p>")
            if report.get("confusion_matrix") and report.get("classes"):
                out.append(_img(figures.confusion_figure(report["confusion_matrix"], report["classes"]), f"confusion matrix of {card_path.stem}"))
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


def report_html(out_dir: Path, cfg: SuiteConfig) -> str:
    """The whole page for a suite's published results."""
    board = pd.read_csv(out_dir / "leaderboard.csv")
    sections = [("Leaderboard", leaderboard_html(board, cfg)), ("Cost against quality", cost_html(board, cfg)),
                ("Study: metrics against factors", study_html(out_dir)), ("Classifiers", classifier_html(out_dir))]
    body = [f"<h1>{html.escape(cfg.suite.name)}</h1>", f"<p>{html.escape(cfg.suite.description)}</p>",
            f"<p>Colormap of every heatmap: {figures.COLORMAP} (perceptually uniform). Cells: mean [{cfg.leaderboard.confidence:.0%} CI]; "
            "with several training seeds the mean over seeds, a hierarchical CI over seeds then samples, ± the between-seed SD. "
            "Click a column head to sort.</p>"]
    for title, parts in sections:
        if parts:
            body += [f"<h2>{html.escape(title)}</h2>", *parts]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(cfg.suite.name)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}<script>{SORT_SCRIPT}</script></body></html>")


def write_report(cfg: SuiteConfig) -> Path:
    """Write results/SUITE/report/index.html from the published tables."""
    out_dir = cfg.results_dir()
    path = out_dir / "report" / "index.html"
    write_text_atomic(path, report_html(out_dir, cfg))
    return path
