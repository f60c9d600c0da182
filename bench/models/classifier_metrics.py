"""Classifier quality per split: accuracy, ROC-AUC, TPR, FPR and the confusion matrix."""

from __future__ import annotations

import torch


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """ROC-AUC of scores for the positive class (label 1), ties counted half; NaN with one class only."""
    pos, neg = scores[labels == 1].double(), scores[labels == 0].double()
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    # Mann-Whitney U from mid-ranks: equal to the probability a positive outranks a negative.
    both = torch.cat([pos, neg])
    order = torch.argsort(both)
    ranks = torch.empty_like(both)
    ranks[order] = torch.arange(1, len(both) + 1, dtype=both.dtype)
    uniq, inverse = torch.unique(both, return_inverse=True)
    sums = torch.zeros(len(uniq), dtype=both.dtype).index_add_(0, inverse, ranks)
    counts = torch.zeros(len(uniq), dtype=both.dtype).index_add_(0, inverse, torch.ones_like(ranks))
    mid = (sums / counts)[inverse]
    u = mid[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def classifier_report(probs: torch.Tensor, labels: torch.Tensor, threshold: float = 0.5) -> dict:
    """Accuracy, ROC-AUC, TPR, FPR at threshold and the confusion matrix for positive-class probabilities."""
    probs, labels = probs.detach().cpu().double(), labels.detach().cpu().long()
    pred = (probs >= threshold).long()
    tp = int(((pred == 1) & (labels == 1)).sum())
    fn = int(((pred == 0) & (labels == 1)).sum())
    fp = int(((pred == 1) & (labels == 0)).sum())
    tn = int(((pred == 0) & (labels == 0)).sum())
    nan = float("nan")
    return {
        "n": len(labels),
        "accuracy": (tp + tn) / len(labels) if len(labels) else nan,
        "roc_auc": roc_auc(probs, labels),
        "tpr": tp / (tp + fn) if tp + fn else nan,
        "fpr": fp / (fp + tn) if fp + tn else nan,
        "confusion": {"tp": tp, "fn": fn, "fp": fp, "tn": tn},
        "threshold": threshold,
    }
