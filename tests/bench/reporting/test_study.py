"""Studies on planted effects: a factor that changes a metric is detected, a null factor is not, designs keep factors apart."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from bench.reporting.study import StudySettings, correlation_table, factor_levels, grid_models, level_table, ranking_table, run_study

SETTINGS = StudySettings(resamples=2000, confidence=0.95, seed=0)


def _model(name: str, setting: str, design: str, varied: str, factors: dict) -> dict:
    return {"name": name, "entry": "m", "design": design, "setting": setting, "varied": varied, "factors": factors}


def _records(models: list[dict], value, implementations=("x",), samples: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for m in models:
        offset = rng.normal(0, 0.02)  # what a training seed does to every sample of its model
        for impl in implementations:
            for i in range(samples):
                rows.append({"model": m["name"], "implementation": impl, "metric": "iou", "sample_id": f"s{i}", "status": "ok",
                             "value": value(m["factors"], impl) + offset + rng.normal(0, 0.05)})
    return pd.DataFrame(rows)


def _grid(seeds: int = 5) -> list[dict]:
    models = []
    for f, g, s in itertools.product([0.0, 1.0], ["a", "b"], range(seeds)):
        models.append(_model(f"m[f={f},g={g},seed={s}]", f"m[f={f},g={g}]", "grid", "", {"f": f, "g": g, "seed": s}))
    return models


def test_a_planted_effect_is_detected_and_a_null_factor_is_not() -> None:
    models = _grid()
    records = _records(models, lambda factors, impl: 0.5 + 0.2 * factors["f"])
    table = level_table(records, grid_models({"models": models}), SETTINGS).set_index(["factor", "level"])
    planted, null = table.loc[("f", "1.0")], table.loc[("g", "b")]
    assert bool(planted["effect"]) and planted["difference_ci_low"] <= 0.2 <= planted["difference_ci_high"]
    assert planted["difference"] == pytest.approx(0.2, abs=0.03) and planted["seeds"] == 10 and planted["settings"] == 2
    assert not bool(null["effect"]) and null["difference_ci_low"] < 0 < null["difference_ci_high"]
    assert bool(table.loc[("f", "0.0"), "reference"]) and np.isnan(table.loc[("f", "0.0"), "difference"])


def test_correlation_with_a_numeric_factor_and_with_classifier_performance() -> None:
    models = _grid()
    records = _records(models, lambda factors, impl: 0.5 + 0.2 * factors["f"])
    means = records.groupby("model")["value"].mean()
    classifiers = {name: {"roc_auc": float(v) + 0.3, "accuracy": 0.5} for name, v in means.items()}
    table = correlation_table(records, grid_models({"models": models}), classifiers, SETTINGS).set_index("with")
    assert table.loc["f", "spearman_ci_low"] > 0.5 and bool(table.loc["f", "effect"])
    assert table.loc["classifier.roc_auc", "spearman"] == pytest.approx(1.0) and bool(table.loc["classifier.roc_auc", "effect"])
    assert not bool(table.loc["classifier.accuracy", "effect"])  # constant accuracy: no correlation is defined
    assert "g" not in table.index  # categorical factors have levels, not a correlation


def test_one_at_a_time_levels_hold_only_the_base_and_the_varied_factor() -> None:
    models = []
    for s in range(4):
        models += [_model(f"m[base,seed={s}]", "m[base]", "one_at_a_time", "", {"f": 0.0, "g": "a", "seed": s}),
                   _model(f"m[f=1.0,seed={s}]", "m[f=1.0]", "one_at_a_time", "f", {"f": 1.0, "g": "a", "seed": s}),
                   _model(f"m[g=b,seed={s}]", "m[g=b]", "one_at_a_time", "g", {"f": 0.0, "g": "b", "seed": s})]
    levels = factor_levels(grid_models({"models": models}))
    assert [(level, sorted({m.setting for m in ms})) for level, ms in levels[("m", "f")]] == [("0.0", ["m[base]"]), ("1.0", ["m[f=1.0]"])]
    # g = b shifts the metric a lot; in a one-at-a-time design it must not leak into f's comparison.
    records = _records(models, lambda factors, impl: 0.5 + 0.1 * factors["f"] + (1.0 if factors["g"] == "b" else 0.0))
    table = level_table(records, grid_models({"models": models}), SETTINGS).set_index(["factor", "level"])
    assert table.loc[("f", "1.0"), "difference"] == pytest.approx(0.1, abs=0.03)
    assert table.loc[("g", "b"), "difference"] == pytest.approx(1.0, abs=0.03)


def test_ranking_and_its_stability_across_models() -> None:
    models = _grid(seeds=3)
    records = _records(models, lambda factors, impl: {"x": 0.8, "y": 0.5, "z": 0.2}[impl], implementations=("x", "y", "z"))
    ranking = ranking_table(records, grid_models({"models": models}), {"iou": "higher"}).set_index("implementation")
    assert ranking.loc["x", "mean_rank"] == 1 and ranking.loc["z", "mean_rank"] == 3
    assert ranking.loc["x", "kendall_w_models"] == pytest.approx(1.0) and ranking.loc["x", "kendall_w_seeds"] == pytest.approx(1.0)


def test_study_answers_in_plain_words() -> None:
    models = _grid()
    records = _records(models, lambda factors, impl: 0.5 + 0.2 * factors["f"], implementations=("x", "baseline.random"))
    study = run_study("demo", records, {"models": models}, {}, {"iou": "higher"}, {"baseline.random"}, SETTINGS)
    assert "**f** (1.0 against 0.0): 1 of 1 method × metric differences exclude zero" in study.markdown
    assert "**g** (b against a): no effect detectable at this size" in study.markdown
    assert run_study("demo", records, {"models": [{"name": "n"}]}, {}, {}, set(), SETTINGS) is None
