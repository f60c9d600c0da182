"""Classifier quality per split for K classes: accuracy, per-class precision/recall/F1/one-vs-rest ROC-AUC, macro figures and
the confusion matrix; for K = 2 also the binary TPR/FPR at a threshold.

Figures that are undefined (a ratio with a zero denominator, an AUC without positives or negatives) are float("nan") rather
than 0, so that a report never claims a value it could not measure; macro figures average over the defined ones only.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def roc_curve(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(FPR, TPR) at every distinct threshold of scores for the positive class (label 1), from (0, 0) to (1, 1); empty with one class only."""
    scores, positive = scores.double(), labels == 1
    pos, neg = int(positive.sum()), int((~positive).sum())
    if pos == 0 or neg == 0:
        return torch.empty(0, dtype=torch.float64), torch.empty(0, dtype=torch.float64)
    order = torch.argsort(scores, descending=True, stable=True)
    ordered, hits = scores[order], positive[order].double()
    # A threshold between two distinct scores: tied scores enter together, so the curve has a diagonal step there.
    last_of_tie = torch.cat([ordered[1:] != ordered[:-1], torch.tensor([True])])
    tp, fp = hits.cumsum(0)[last_of_tie], (1 - hits).cumsum(0)[last_of_tie]
    zero = torch.zeros(1, dtype=torch.float64)
    return torch.cat([zero, fp / neg]), torch.cat([zero, tp / pos])


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def _nanmean(values: torch.Tensor) -> float:
    # torch.nanmean of an all-NaN tensor is NaN, which is what an entirely undefined macro figure should be.
    return float(torch.nanmean(values))


def _confusion_matrix(pred: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    # One bincount over the flattened (true, predicted) cell index keeps this O(N) with no per-sample loop.
    return torch.bincount(labels * k + pred, minlength=k * k).view(k, k)


def classifier_report(probs: torch.Tensor, labels: torch.Tensor, classes: Sequence[str] | None = None, threshold: float = 0.5) -> dict:
    """Accuracy, per-class figures, macro one-vs-rest ROC-AUC/F1, balanced accuracy and the confusion matrix of (N, K) probabilities."""
    probs, labels = probs.detach().cpu().double(), labels.detach().cpu().long()
    if probs.dim() != 2 or probs.shape[1] < 2:
        raise ValueError(f"probs must be (N, K) with K >= 2 classes, got shape {tuple(probs.shape)}")
    n, k = probs.shape
    if labels.shape != (n,):
        raise ValueError(f"labels must be ({n},) to match probs, got shape {tuple(labels.shape)}")
    # bincount would silently fold an out-of-range label into another cell of the matrix.
    if n and (int(labels.min()) < 0 or int(labels.max()) >= k):
        raise ValueError(f"labels must lie in [0, {k}), got [{int(labels.min())}, {int(labels.max())}]")
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise ValueError(f"{len(names)} class names for {k} columns of probabilities")

    # K = 2 keeps the tunable threshold on the positive class that the binary report always had; argmax has no threshold.
    pred = (probs[:, 1] >= threshold).long() if k == 2 else probs.argmax(1)
    matrix = _confusion_matrix(pred, labels, k)
    tp, support, predicted = matrix.diag().double(), matrix.sum(1).double(), matrix.sum(0).double()
    # 0 / 0 gives NaN in torch: precision without predictions and recall without support are undefined, not 0.
    precision, recall = tp / predicted, tp / support
    # 2TP / (support + predicted) is the harmonic mean of precision and recall where both are defined, and 0 where both are 0.
    dice = 2 * tp / (support + predicted)
    f1 = torch.where(precision.isnan() | recall.isnan(), float("nan"), dice)
    aucs = torch.tensor([roc_auc(probs[:, c], (labels == c).long()) for c in range(k)], dtype=torch.float64)
    per_class = [{"class": names[c], "support": int(support[c]), "accuracy": float(recall[c]), "precision": float(precision[c]),
                  "recall": float(recall[c]), "f1": float(f1[c]), "roc_auc": float(aucs[c])} for c in range(k)]
    macro_auc = _nanmean(aucs)
    report = {
        "n": n,
        "num_classes": k,
        "classes": names,
        "accuracy": _ratio(float(tp.sum()), n),
        "roc_auc": roc_auc(probs[:, 1], labels) if k == 2 else macro_auc,
        "macro_roc_auc": macro_auc,
        "balanced_accuracy": _nanmean(recall),
        # Averaging dice rather than the per-class F1 keeps a class that has support but is never predicted in the mean as 0
        # (scikit-learn's macro F1), so a classifier cannot raise its macro F1 by never predicting a hard class.
        "macro_f1": _nanmean(dice),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }
    if k == 2:
        (tn, fp), (fn, tp1) = matrix.tolist()
        report |= {"tpr": _ratio(tp1, tp1 + fn), "fpr": _ratio(fp, fp + tn), "confusion": {"tp": tp1, "fn": fn, "fp": fp, "tn": tn},
                   "threshold": threshold}
    return report
