"""Aggregation: bootstrap intervals, counts, ranks, comparability."""

from __future__ import annotations

import numpy as np
import pytest

from bench.leaderboard import IncomparableRecords, bootstrap_ci, build_leaderboard
from tests.suites import tiny_suite


def test_bootstrap_ci_matches_normal_theory_for_large_samples() -> None:
    values = np.random.default_rng(0).normal(2.0, 1.0, 400)
    low, high = bootstrap_ci(values, resamples=4000, confidence=0.95, seed=1)
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert low == pytest.approx(values.mean() - 1.96 * se, abs=0.02)
    assert high == pytest.approx(values.mean() + 1.96 * se, abs=0.02)
    assert bootstrap_ci(values, resamples=100, confidence=0.95, seed=1) == bootstrap_ci(values, resamples=100, confidence=0.95, seed=1)


def _unit(adapter: str, values: list[float | None], *, digest: str = "d", kind: str = "quality", failures: int = 0) -> dict:
    ids = [f"s{i}" for i in range(len(values))]
    records = [{"sample_id": s, "metric": "iou_topk", "metric_name": "iou_topk", "metric_params": {}, "value": v,
                "status": "ok" if v is not None else "undefined"} for s, v in zip(ids, values)]
    return {"kind": kind, "suite": "tiny", "suite_version": 1, "dataset_digest": digest, "model": {"name": "m", "digest": "x"},
            "implementation": {"adapter": adapter, "method": adapter, "library": "inhouse", "version": "1"}, "params": {},
            "sample_ids": ids, "records": records, "failures": [{"stage": "explain", "sample_ids": [f"f{i}" for i in range(failures)], "error": "e"}]}


def test_means_counts_and_ranks(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    cfg = tiny_suite(tmp_path)
    cfg = type(cfg)(**{**cfg.__dict__, "metrics": [m for m in cfg.metrics if m.name == "iou_topk"]})
    board = build_leaderboard([_unit("a", [0.2, 0.4, None]), _unit("b", [0.9, 0.7, 0.8], failures=2)], cfg).set_index("implementation")
    assert board.loc["a", "iou_topk"] == pytest.approx(0.3) and board.loc["a", "iou_topk_undefined"] == 1 and board.loc["a", "iou_topk_n"] == 2
    assert board.loc["b", "iou_topk_rank"] == 1 and board.loc["a", "iou_topk_rank"] == 2 and board.loc["b", "failures"] == 2
    assert board.loc["b", "iou_topk_ci_low"] <= 0.8 <= board.loc["b", "iou_topk_ci_high"]


def test_records_of_different_data_are_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    cfg = tiny_suite(tmp_path)
    with pytest.raises(IncomparableRecords, match="dataset_digest"):
        build_leaderboard([_unit("a", [0.1], digest="one"), _unit("b", [0.2], digest="two")], cfg)


def test_kendall_tau_b_matches_scipy() -> None:
    from scipy import stats

    from bench.leaderboard import kendall_tau_b

    rng = np.random.default_rng(3)
    for _ in range(5):
        a, b = rng.integers(0, 4, 9).astype(float), rng.integers(0, 4, 9).astype(float)
        assert kendall_tau_b(a, b) == pytest.approx(stats.kendalltau(a, b).statistic)


def test_metric_rank_agreement_honours_directions(tmp_path, monkeypatch) -> None:
    import pandas as pd

    from bench.config import MetricConfig
    from bench.leaderboard import metric_rank_agreement

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    cfg = tiny_suite(tmp_path)
    cfg = type(cfg)(**{**cfg.__dict__, "metrics": [MetricConfig("iou_topk"), MetricConfig("complexity")]})
    board = pd.DataFrame({"model": ["m"] * 3, "iou_topk": [0.1, 0.5, 0.9], "complexity": [3.0, 2.0, 1.0]})
    table = metric_rank_agreement(board, cfg)
    assert table["kendall_tau"].tolist() == [pytest.approx(1.0)]  # lower complexity is better: same order
