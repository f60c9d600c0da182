"""Study report: what each factor of a suite's model grids does to each method's metrics, with training-seed variance.

Input is tidy: one row per (model, implementation, metric, sample) with the model's setting and factor values
(records.csv), the grid's design per model (plan.json) and each model's classifier figures. Levels of a factor are
compared with its reference level (the base of a one-at-a-time design, the first value of a grid) by a hierarchical
bootstrap of the difference: settings are strata, their seeds are resampled, then each seed's samples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.reporting.bootstrap import hierarchical_means, point_estimate
from bench.reporting.correlation import bootstrap_correlation, kendall_w
from bench.utils.rng import stable_seed

SEED, EPOCH = "seed", "epoch"
SELECTED = "selected"
CLASSIFIER_FIGURES = ("roc_auc", "accuracy")
QUESTIONS = {
    "regularisation": ("How does regularisation (dropout, batch norm, weight decay) influence the explanations?", ("dropout", "batchnorm", "weight_decay")),
    "depth": ("What depth is best?", ("arch",)),
    "progress": ("How do explanations change along training?", (EPOCH,)),
}


@dataclass(frozen=True)
class GridModel:
    """A model of a grid as the study sees it: its entry, design, setting, the factor it varies and its factor values."""

    name: str
    entry: str
    design: str
    setting: str
    varied: str
    factors: dict


@dataclass(frozen=True)
class StudySettings:
    """Bootstrap resamples, confidence level and the seed of the study's intervals."""

    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0


def grid_models(described: dict) -> list[GridModel]:
    """The models of a plan (plan.json) that come from a grid."""
    return [GridModel(m["name"], m["entry"], m["design"], m["setting"], m["varied"], m["factors"])
            for m in described["models"] if m.get("factors")]


def level_label(value: object) -> str:
    """A factor level as tables show it (the checkpoint selected on validation for epoch None)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return SELECTED
    return value if isinstance(value, str) else json.dumps(value)


def factor_levels(models: list[GridModel]) -> dict[tuple[str, str], list[tuple[str, list[GridModel]]]]:
    """Per (entry, factor): its levels in order, each with the models that study it; the reference level first.

    In a grid every model of the entry counts at its level (the other factors averaged over); in a one-at-a-time
    design only the base setting and the settings that vary this factor do, so no other factor is mixed in.
    """
    out: dict[tuple[str, str], list[tuple[str, list[GridModel]]]] = {}
    for entry in dict.fromkeys(m.entry for m in models):
        members = [m for m in models if m.entry == entry]
        for factor in [f for f in members[0].factors if f != SEED]:
            studied = members if members[0].design == "grid" else [m for m in members if m.varied in ("", factor)]
            levels: dict[str, list[GridModel]] = {}
            reference = [m for m in studied if m.varied == ""] if members[0].design != "grid" else []
            for m in reference + [m for m in studied if m not in reference]:
                levels.setdefault(level_label(m.factors.get(factor)), []).append(m)
            if len(levels) > 1:
                out[(entry, factor)] = list(levels.items())
    return out


def _strata(values: dict[str, np.ndarray], members: list[GridModel]) -> list[list[np.ndarray]]:
    """The per-seed sample values of a level's models, grouped by setting."""
    by_setting: dict[str, list[np.ndarray]] = {}
    for m in members:
        if m.name in values:
            by_setting.setdefault(m.setting, []).append(values[m.name])
    return list(by_setting.values())


def _quantiles(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return float(low), float(high)


def level_table(records: pd.DataFrame, models: list[GridModel], settings: StudySettings) -> pd.DataFrame:
    """One row per factor x level x implementation x metric: mean over seeds, CI, seeds, settings, n, and the
    difference to the reference level with its CI and whether it excludes zero."""
    levels = factor_levels(models)
    ok = records[records["status"] == "ok"]
    rows = []
    for (implementation, metric), group in ok.groupby(["implementation", "metric"], sort=False):
        values = {name: g["value"].to_numpy(np.float64) for name, g in group.groupby("model")}
        for (entry, factor), ordered in levels.items():
            reference_draws = None
            for position, (level, members) in enumerate(ordered):
                strata = _strata(values, members)
                seed = stable_seed(settings.seed, "study", entry, factor, level, implementation, metric) % 2**32
                draws = hierarchical_means(strata, resamples=settings.resamples, rng=np.random.default_rng(seed))
                low, high = _quantiles(draws, settings.confidence) if strata else (np.nan, np.nan)
                row = {"entry": entry, "factor": factor, "level": level, "reference": position == 0, "implementation": implementation,
                       "metric": metric, "mean": point_estimate(strata), "ci_low": low, "ci_high": high,
                       "seeds": sum(len(s) for s in strata), "settings": len(strata), "n": sum(len(v) for s in strata for v in s)}
                if position == 0:
                    reference_draws, reference_mean = (draws, row["mean"]) if strata else (None, np.nan)
                elif reference_draws is not None and strata:
                    d_low, d_high = _quantiles(draws - reference_draws, settings.confidence)
                    row |= {"difference": row["mean"] - reference_mean, "difference_ci_low": d_low, "difference_ci_high": d_high,
                            "effect": bool(d_low > 0 or d_high < 0)}
                rows.append(row)
    return pd.DataFrame(rows)


def model_means(records: pd.DataFrame) -> pd.DataFrame:
    """Each model's mean of each implementation's metric over the samples where it is defined."""
    ok = records[records["status"] == "ok"]
    return ok.groupby(["model", "implementation", "metric"], sort=False)["value"].mean().rename("mean").reset_index()


def _numeric(values: list) -> np.ndarray | None:
    """The values as numbers when every one is a number (not a boolean), else None."""
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        return None
    return np.asarray(values, dtype=np.float64)


def correlation_table(records: pd.DataFrame, models: list[GridModel], classifiers: dict[str, dict], settings: StudySettings) -> pd.DataFrame:
    """Spearman and Kendall, with bootstrap CIs over models, of each implementation's metric with each numeric factor
    (over the models that study it) and with the classifier's ROC-AUC and accuracy (over every model)."""
    means = model_means(records)
    axes: list[tuple[str, str, dict[str, float]]] = []
    for (entry, factor), ordered in factor_levels(models).items():
        # Levels that are no number (the selected checkpoint among epochs) stay out of a numeric factor's correlation.
        members = [m for _, group in ordered for m in group if _numeric([m.factors.get(factor)]) is not None]
        if len({m.factors[factor] for m in members}) > 1:
            axes.append((entry, factor, {m.name: float(m.factors[factor]) for m in members}))
    for figure in CLASSIFIER_FIGURES:
        scored = {name: r[figure] for name, r in classifiers.items() if isinstance(r.get(figure), (int, float))}
        if scored:
            axes.append(("", f"classifier.{figure}", scored))
    rows = []
    for (implementation, metric), group in means.groupby(["implementation", "metric"], sort=False):
        by_model = dict(zip(group["model"], group["mean"]))
        for entry, axis, x in axes:
            names = [n for n in x if n in by_model]
            seed = stable_seed(settings.seed, "correlation", entry, axis, implementation, metric) % 2**32
            stats = bootstrap_correlation([x[n] for n in names], [by_model[n] for n in names], resamples=settings.resamples,
                                          confidence=settings.confidence, seed=seed)
            effect = bool(stats["spearman_ci_low"] > 0 or stats["spearman_ci_high"] < 0) if stats["pairs"] >= 3 else False
            rows.append({"entry": entry, "with": axis, "implementation": implementation, "metric": metric, **stats, "effect": effect})
    return pd.DataFrame(rows)


def ranking_table(records: pd.DataFrame, models: list[GridModel], directions: dict[str, str]) -> pd.DataFrame:
    """Per metric: each implementation's mean rank over models (1 = best) and its SD; Kendall's W of the ranking across
    all models, and the mean over settings of W across one setting's seeds."""
    means = model_means(records)
    setting_of = {m.name: m.setting for m in models}
    rows = []
    for metric, group in means.groupby("metric", sort=False):
        wide = group.pivot(index="model", columns="implementation", values="mean").dropna()
        if wide.empty:
            continue
        signed = wide if directions.get(metric, "higher") == "lower" else -wide
        ranks = signed.rank(axis=1, method="average")
        across_models = kendall_w(wide.to_numpy())
        per_setting = [kendall_w(g.to_numpy()) for _, g in wide.groupby(wide.index.map(lambda n: setting_of.get(n, n))) if len(g) > 1]
        across_seeds = float(np.nanmean(per_setting)) if per_setting and not np.all(np.isnan(per_setting)) else float("nan")
        for implementation in wide.columns:
            rows.append({"metric": metric, "implementation": implementation, "mean_rank": float(ranks[implementation].mean()),
                         "rank_sd": float(ranks[implementation].std(ddof=1)) if len(ranks) > 1 else float("nan"),
                         "models": len(wide), "kendall_w_models": across_models, "kendall_w_seeds": across_seeds})
    return pd.DataFrame(rows)


def metric_quality_table(records: pd.DataFrame, models: list[GridModel], directions: dict[str, str], ranking: pd.DataFrame,
                         baselines: set[str]) -> pd.DataFrame:
    """Per metric, what makes it usable for comparing methods: the spread between methods against the spread between
    training seeds of one setting, the stability of its ranking (Kendall's W) and where the random baseline ranks."""
    means = model_means(records)
    setting_of = {m.name: m.setting for m in models}
    means["setting"] = means["model"].map(lambda n: setting_of.get(n, n))
    rows = []
    for metric, group in means.groupby("metric", sort=False):
        methods = group[~group["implementation"].isin(baselines)]
        seed_sd = methods.groupby(["setting", "implementation"])["mean"].std(ddof=1).mean()
        spread = methods.groupby("implementation")["mean"].mean().std(ddof=1)
        ranks = ranking[ranking["metric"] == metric]
        random_rank = ranks.loc[ranks["implementation"] == "baseline.random", "mean_rank"]
        rows.append({"metric": metric, "direction": directions.get(metric, "higher"), "method_spread": float(spread),
                     "seed_sd": float(seed_sd), "spread_over_seed_sd": float(spread / seed_sd) if seed_sd and seed_sd > 0 else float("nan"),
                     "kendall_w_models": float(ranks["kendall_w_models"].iloc[0]) if len(ranks) else float("nan"),
                     "kendall_w_seeds": float(ranks["kendall_w_seeds"].iloc[0]) if len(ranks) else float("nan"),
                     "random_mean_rank": float(random_rank.iloc[0]) if len(random_rank) else float("nan"),
                     "implementations": int(ranks["implementation"].nunique())})
    return pd.DataFrame(rows)


def _f(value: float, digits: int = 3, sign: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _better(difference: float, direction: str) -> str:
    return "better" if (difference > 0) == (direction == "higher") else "worse"


def _factor_answer(factor: str, rows: pd.DataFrame, correlations: pd.DataFrame, directions: dict[str, str], confidence: float) -> list[str]:
    compared = rows[~rows["reference"]]
    detected = compared[compared["effect"].fillna(False).astype(bool)]
    reference = rows.loc[rows["reference"], "level"].iloc[0]
    levels = ", ".join(dict.fromkeys(compared["level"]))
    seeds = int(rows["seeds"].min()) if len(rows) else 0
    samples = int((rows["n"] / rows["seeds"].clip(lower=1)).min()) if len(rows) else 0
    if detected.empty:
        lines = [(f"- **{factor}** ({levels} against {reference}): no effect detectable at this size: none of the {len(compared)} "
                  f"method × metric differences has a {confidence:.0%} CI that excludes zero (≥ {seeds} seeds per level, "
                  f"{samples} test samples per seed).")]
    else:
        # Largest relative to the reference level's value, so metrics of different scales compare.
        relative = (detected["difference"] / (detected["mean"] - detected["difference"]).abs().clip(lower=1e-12)).abs()
        order = detected.assign(size=relative).sort_values("size", ascending=False)
        lines = [(f"- **{factor}** ({levels} against {reference}): {len(detected)} of {len(compared)} method × metric differences "
                  "exclude zero; the largest (relative to the reference):")]
        for _, r in order.head(6).iterrows():
            lines.append(f"  - {r['metric']} of `{r['implementation']}` at {factor} = {r['level']}: {_f(r['difference'], sign=True)} "
                         f"[{_f(r['difference_ci_low'], sign=True)}, {_f(r['difference_ci_high'], sign=True)}] "
                         f"({_better(r['difference'], directions.get(r['metric'], 'higher'))}: {_f(r['mean'])} against {_f(r['mean'] - r['difference'])}).")
    trend = correlations[(correlations["with"] == factor) & correlations["effect"]]
    if not trend.empty:
        lines.append(f"  - monotone with {factor} (Spearman CI excludes 0): " + "; ".join(
            f"{r['metric']} of `{r['implementation']}` ρ = {_f(r['spearman'], 2)} [{_f(r['spearman_ci_low'], 2)}, {_f(r['spearman_ci_high'], 2)}]"
            for _, r in trend.head(6).iterrows()) + ".")
    return lines


def study_markdown(suite: str, levels: pd.DataFrame, correlations: pd.DataFrame, ranking: pd.DataFrame, quality: pd.DataFrame,
                   directions: dict[str, str], baselines: set[str], settings: StudySettings) -> str:
    """The study as Markdown: a plain-words answer per research question, then the tables behind them."""
    lines = [f"# Study: {suite}", "",
             (f"Every number is a mean over training seeds with a {settings.confidence:.0%} hierarchical bootstrap CI (seeds, then "
              "test samples; settings pooled in a level are strata). A level is compared with the factor's reference level "
              "(the base of a one-at-a-time design, the first value of a grid); an effect is reported only when the CI of the "
              "difference excludes zero. Correlations are over models (every setting and seed), with bootstrap CIs over models. "
              "With few seeds a percentile bootstrap over seeds is too narrow rather than too wide (it cannot see more "
              "between-seed spread than the seeds drawn show): read an effect whose CI only just excludes zero as tentative."), ""]
    methods = levels[~levels["implementation"].isin(baselines)] if not levels.empty else levels
    # A baseline's faithfulness figures move with the model's calibration, not with any explanation: answers leave them out.
    correlations = correlations[~correlations["implementation"].isin(baselines)] if not correlations.empty else correlations
    used = set()
    for question, factors in QUESTIONS.values():
        present = [f for f in factors if not methods.empty and f in set(methods["factor"])]
        used |= set(present)
        if present:
            lines += [f"## {question}", ""]
            for factor in present:
                lines += _factor_answer(factor, methods[methods["factor"] == factor], correlations, directions, settings.confidence)
            lines.append("")
    for factor in [f for f in dict.fromkeys(methods["factor"]) if f not in used] if not methods.empty else []:
        lines += [f"## How does the hyper-parameter {factor} matter?", ""]
        lines += _factor_answer(factor, methods[methods["factor"] == factor], correlations, directions, settings.confidence) + [""]
    lines += ["## Does classifier performance go with explainability?", ""]
    for figure in CLASSIFIER_FIGURES:
        rows = correlations[(correlations["with"] == f"classifier.{figure}") & ~correlations["implementation"].isin(baselines)]
        if rows.empty:
            continue
        found = rows[rows["effect"]]
        if rows["spearman"].isna().all():
            lines.append(f"- {figure}: not defined here: every model has the same {figure}, or fewer than 3 models have one.")
        elif found.empty:
            lines.append(f"- {figure}: no correlation detectable: none of the {len(rows)} method × metric Spearman CIs over "
                         f"{int(rows['pairs'].max())} models excludes zero.")
        else:
            lines.append(f"- {figure}: {len(found)} of {len(rows)} method × metric correlations exclude zero: " + "; ".join(
                f"{r['metric']} of `{r['implementation']}` ρ = {_f(r['spearman'], 2)} [{_f(r['spearman_ci_low'], 2)}, "
                f"{_f(r['spearman_ci_high'], 2)}]" for _, r in found.iterrows()) + ".")
    lines += ["", "## Which method performs best, and how stable is the ranking?", ""]
    for metric, group in ranking.groupby("metric", sort=False):
        group = group[~group["implementation"].isin(baselines)].sort_values("mean_rank")
        if group.empty:
            continue
        best = group.iloc[0]
        lines.append(f"- {metric} ({directions.get(metric, 'higher')} is better): `{best['implementation']}` ranks first on average "
                     f"(mean rank {_f(best['mean_rank'], 2)} ± {_f(best['rank_sd'], 2)} over {int(best['models'])} models); Kendall's W "
                     f"{_f(best['kendall_w_models'], 2)} across models, {_f(best['kendall_w_seeds'], 2)} across one setting's seeds.")
    lines += ["", "## Which metrics suit measuring explainability?", "",
              ("A metric that separates methods has a spread between methods well above the spread between training seeds of "
               "one setting, a stable ranking (W near 1) and the random baseline ranked last."), "",
              "| metric | method spread (SD) | between-seed SD | ratio | W across models | W across seeds | random's mean rank |",
              "|---|---|---|---|---|---|---|"]
    for _, r in quality.iterrows():
        lines.append(f"| {r['metric']} | {_f(r['method_spread'])} | {_f(r['seed_sd'])} | {_f(r['spread_over_seed_sd'], 2)} | "
                     f"{_f(r['kendall_w_models'], 2)} | {_f(r['kendall_w_seeds'], 2)} | {_f(r['random_mean_rank'], 1)} of {r['implementations']} |")
    lines += ["", "## Levels", "", "| factor | level | implementation | metric | mean [CI] | seeds | difference to reference [CI] |",
              "|---|---|---|---|---|---|---|"]
    for _, r in levels.iterrows():
        diff = "reference" if r["reference"] else (f"{_f(r.get('difference'), sign=True)} [{_f(r.get('difference_ci_low'), sign=True)}, "
                                                   f"{_f(r.get('difference_ci_high'), sign=True)}]" + (" *" if r.get("effect") is True else ""))
        lines.append(f"| {r['factor']} | {r['level']} | `{r['implementation']}` | {r['metric']} | {_f(r['mean'])} "
                     f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}] | {int(r['seeds'])} | {diff} |")
    lines += ["", "\\* the CI of the difference excludes zero.", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class Study:
    """A study's tables and its Markdown."""

    levels: pd.DataFrame
    correlations: pd.DataFrame
    ranking: pd.DataFrame
    quality: pd.DataFrame
    markdown: str


def run_study(suite: str, records: pd.DataFrame, described: dict, classifiers: dict[str, dict], directions: dict[str, str],
              baselines: set[str], settings: StudySettings) -> Study | None:
    """The study of a suite's grids from its records (None when the suite has no grid)."""
    models = grid_models(described)
    if not models or records.empty:
        return None
    records = records[records["model"].isin({m.name for m in models})]
    levels = level_table(records, models, settings)
    correlations = correlation_table(records, models, classifiers, settings)
    ranking = ranking_table(records, models, directions)
    quality = metric_quality_table(records, models, directions, ranking, baselines)
    return Study(levels, correlations, ranking, quality,
                 study_markdown(suite, levels, correlations, ranking, quality, directions, baselines, settings))
