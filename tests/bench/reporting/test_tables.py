"""Aggregation: bootstrap intervals, counts, ranks, comparability."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.core.config import MetricConfig
from bench.pipeline.records import CalibrationRecord, ExplainRecord, Failure, Implementation, ModelInfo, ScoreRecord
from bench.reporting.bootstrap import bootstrap_ci
from bench.reporting.tables import IncomparableRecords, StoredRun, build_leaderboard, cost_table, score_table
from tests.suites import tiny_suite


def test_bootstrap_ci_matches_normal_theory_for_large_samples() -> None:
    values = np.random.default_rng(0).normal(2.0, 1.0, 400)
    low, high = bootstrap_ci(values, resamples=4000, confidence=0.95, seed=1)
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert low == pytest.approx(values.mean() - 1.96 * se, abs=0.02)
    assert high == pytest.approx(values.mean() + 1.96 * se, abs=0.02)
    assert bootstrap_ci(values, resamples=100, confidence=0.95, seed=1) == bootstrap_ci(values, resamples=100, confidence=0.95, seed=1)


def _run(*rows: tuple[str, list[float | None], str, int], metric: MetricConfig) -> StoredRun:
    """A stored run with one explain and one score record per (adapter, values, dataset digest, failed samples)."""
    explains, scores = [], []
    for adapter, values, digest, failed in rows:
        ids = [f"s{i}" for i in range(len(values))]
        header = {"suite": "tiny", "suite_version": 1, "dataset_digest": digest, "device": "cpu"}
        model = ModelInfo("m", "fp", "x", "layer4")
        impl = Implementation(adapter, adapter, "baseline" if adapter.startswith("baseline.") else "inhouse", "1")
        failures = [Failure("explain", [f"f{i}" for i in range(failed)], "e")] if failed else []
        explains.append(ExplainRecord(**header, key=f"e-{adapter}", model=model, implementation=impl, params={}, shard=0,
                                      sample_ids=ids + [f"f{i}" for i in range(failed)], failures=failures))
        scores.append((metric, ScoreRecord(**header, key=f"s-{adapter}", explain_key=f"e-{adapter}", model=model, implementation=impl, params={},
                                           shard=0, metric=metric.name, metric_params={}, column=metric.column(), sample_ids=ids,
                                           values=values, statuses=["ok" if v is not None else "undefined" for v in values])))
    return StoredRun(explains, scores, [], [], [])


def test_means_counts_and_ranks(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    cfg = tiny_suite(tmp_path)
    cfg = type(cfg)(**{**cfg.__dict__, "metrics": [m for m in cfg.metrics if m.name == "iou_topk"]})
    run = _run(("a", [0.2, 0.4, None], "d", 0), ("b", [0.9, 0.7, 0.8], "d", 2), metric=cfg.metrics[0])
    board = build_leaderboard(run, cfg).set_index("implementation")
    assert board.loc["a", "iou_topk"] == pytest.approx(0.3) and board.loc["a", "iou_topk_undefined"] == 1 and board.loc["a", "iou_topk_n"] == 2
    assert board.loc["b", "iou_topk_rank"] == 1 and board.loc["a", "iou_topk_rank"] == 2 and board.loc["b", "failures"] == 2
    assert board.loc["b", "iou_topk_ci_low"] <= 0.8 <= board.loc["b", "iou_topk_ci_high"]
    assert board.loc["b", "samples"] == 5


def test_lower_is_better_metrics_rank_the_smallest_first(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    cfg = tiny_suite(tmp_path)
    cfg = type(cfg)(**{**cfg.__dict__, "metrics": [MetricConfig("complexity")]})
    scores = score_table(_run(("a", [1.0, 2.0], "d", 0), ("b", [3.0, 4.0], "d", 0), metric=cfg.metrics[0]), cfg).set_index("implementation")
    assert scores.loc["a", "rank"] == 1 and scores.loc["b", "rank"] == 2


def test_records_of_different_data_are_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    cfg = tiny_suite(tmp_path)
    with pytest.raises(IncomparableRecords, match="dataset_digest"):
        build_leaderboard(_run(("a", [0.1], "one", 0), ("b", [0.2], "two", 0), metric=cfg.metrics[0]), cfg)


def test_records_of_one_model_from_different_weights_are_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    cfg = tiny_suite(tmp_path)
    run = _run(("a", [0.1], "d", 0), ("b", [0.2], "d", 0), metric=cfg.metrics[0])
    other = dataclasses.replace(run.explains[1], model=dataclasses.replace(run.explains[1].model, digest="y"))
    with pytest.raises(IncomparableRecords, match="different weights"):
        build_leaderboard(dataclasses.replace(run, explains=[run.explains[0], other]), cfg)


def test_metric_rank_agreement_honours_directions(tmp_path, monkeypatch) -> None:
    import pandas as pd

    from bench.reporting.tables import metric_rank_agreement

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    cfg = tiny_suite(tmp_path)
    cfg = type(cfg)(**{**cfg.__dict__, "metrics": [MetricConfig("iou_topk"), MetricConfig("complexity")]})
    board = pd.DataFrame({"model": ["m"] * 3, "iou_topk": [0.1, 0.5, 0.9], "complexity": [3.0, 2.0, 1.0]})
    table = metric_rank_agreement(board, cfg)
    assert table["kendall_tau"].tolist() == [pytest.approx(1.0)]  # lower complexity is better: same order


def test_markdown_splits_metrics_by_family_into_narrow_tables_with_baselines_last(tmp_path, monkeypatch) -> None:
    from bench.reporting.publish import markdown

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    cfg = tiny_suite(tmp_path)
    metrics = [MetricConfig("iou_threshold", {"threshold": t / 10}, label=f"iou@{t / 10}") for t in range(1, 10)]
    metrics += [MetricConfig("iou_topk"), MetricConfig("pointing_game"), MetricConfig("complexity")]
    cfg = dataclasses.replace(cfg, metrics=metrics)
    runs = [_run(("baseline.random", [0.1, 0.2], "d", 0), ("a", [0.3, 0.4], "d", 0), ("z", [0.5, 0.6], "d", 0), metric=m) for m in metrics]
    run = StoredRun(runs[0].explains, [s for r in runs for s in r.scores], [], [], [])
    text = markdown(build_leaderboard(run, cfg), cfg, {"samples": 2, "dataset_digest": "d" * 16, "device": "cpu"})
    titles = [line for line in text.splitlines() if line.startswith("### ")]
    assert titles == ["### Localisation (1 of 2)", "### Localisation (2 of 2)", "### Complexity", "### Cost and counts"]
    tables = [block.splitlines() for block in text.split("### ")[1:]]
    for table in tables:
        rows = [line for line in table if line.startswith("| ")]
        assert all(line.count(" | ") + 1 <= 10 for line in rows)
        assert [r.split(" | ")[0] for r in rows[1:]] == ["| `a`", "| `z`", "| `baseline.random`"]
    assert tables[0][2].count("↑") == 6 and tables[1][2].count("↑") == 5  # 11 localisation columns split evenly


@pytest.mark.parametrize("metric, passes_ms", [
    (MetricConfig("deletion_auc", {"steps": 9}), 10 * 2.0),  # 10 forwards at 2 ms
    (MetricConfig("max_sensitivity", {"samples": 4}), 4 * 30.0),  # 4 explains at the row's 30 ms per image
    (MetricConfig("iou_topk"), 0.0),
])
def test_metric_efficiency_is_its_time_over_its_passes_at_the_calibrated_speed(metric: MetricConfig, passes_ms: float) -> None:
    run = _run(("a", [0.1, 0.2, 0.3, 0.4], "d", 0), metric=metric)
    explain, (_, score) = run.explains[0], run.scores[0]
    run = dataclasses.replace(
        run,
        explains=[dataclasses.replace(explain, explain_seconds=4 * 0.030)],
        scores=[(metric, dataclasses.replace(score, seconds=4 * 0.050))],
        calibrations=[CalibrationRecord(suite="tiny", suite_version=1, dataset_digest="d", device="cpu", key="c", model=explain.model,
                                        forward_ms=2.0, backward_ms=3.0, batch_size=4)],
    )
    costs = cost_table(run).set_index("cost")["value"]
    assert costs["metric_ms_per_image"] == pytest.approx(50.0)
    assert costs["metric_budget_ms_per_image"] == pytest.approx(passes_ms)
    efficiency = costs["metric_efficiency"]
    assert efficiency is None or np.isnan(efficiency) if passes_ms == 0 else efficiency == pytest.approx(50.0 / passes_ms)


def test_no_metric_efficiency_without_a_calibration() -> None:
    costs = cost_table(_run(("a", [0.1, 0.2], "d", 0), metric=MetricConfig("deletion_auc")))
    assert set(costs["cost"]) == {"explain_ms_per_image", "metric_ms_per_image"}


def test_seeds_of_a_setting_share_the_calibration_of_the_one_seed_timed() -> None:
    metric = MetricConfig("deletion_auc", {"steps": 9})
    base = _run(("a", [0.1, 0.2], "d", 0), metric=metric)
    explains, scores = [], []
    for seed in (0, 1):
        model = ModelInfo(f"m[seed={seed}]", f"fp{seed}", f"x{seed}", "layer4", setting="m")
        explain = dataclasses.replace(base.explains[0], key=f"e{seed}", model=model, explain_seconds=0.01)
        explains.append(explain)
        scores.append((metric, dataclasses.replace(base.scores[0][1], key=f"s{seed}", explain_key=f"e{seed}", model=model, seconds=2 * 0.04)))
    calibration = CalibrationRecord(suite="tiny", suite_version=1, dataset_digest="d", device="cpu", key="c", model=explains[0].model,
                                    forward_ms=2.0, backward_ms=3.0, batch_size=2)
    costs = cost_table(StoredRun(explains, scores, [], [], [], [calibration])).set_index("cost")["value"]
    assert costs["metric_budget_ms_per_image"] == pytest.approx(20.0)
    assert costs["metric_efficiency"] == pytest.approx(40.0 / 20.0)
