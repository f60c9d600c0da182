"""Classifier metrics against brute-force definitions."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from bench.models.classifier_metrics import classifier_report, roc_auc


def auc_by_pairs(scores: list[float], labels: list[int]) -> float:
    pairs = [(p, n) for p, n in itertools.product(
        [s for s, y in zip(scores, labels) if y == 1], [s for s, y in zip(scores, labels) if y == 0])]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


def test_roc_auc_equals_pairwise_probability_with_ties() -> None:
    gen = torch.Generator().manual_seed(0)
    scores = (torch.rand(60, generator=gen) * 5).round() / 5  # many ties
    labels = (torch.rand(60, generator=gen) > 0.4).long()
    assert roc_auc(scores, labels) == pytest.approx(auc_by_pairs(scores.tolist(), labels.tolist()))


def test_roc_auc_one_class_is_nan() -> None:
    assert math.isnan(roc_auc(torch.tensor([0.1, 0.9]), torch.tensor([1, 1])))


def test_report_counts() -> None:
    probs = torch.tensor([0.9, 0.8, 0.3, 0.6, 0.1, 0.2])
    labels = torch.tensor([1, 1, 1, 0, 0, 0])
    r = classifier_report(probs, labels)
    assert r["confusion"] == {"tp": 2, "fn": 1, "fp": 1, "tn": 2}
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["tpr"] == pytest.approx(2 / 3) and r["fpr"] == pytest.approx(1 / 3)
    assert r["roc_auc"] == pytest.approx(auc_by_pairs(probs.tolist(), labels.tolist()))
