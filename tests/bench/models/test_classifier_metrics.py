"""Classifier metrics against brute-force definitions, the binary report as it was before K classes, and scikit-learn.

Conventions checked here where scikit-learn differs or is silent:
- a class absent from the labels has no positives, so its one-vs-rest ROC-AUC is NaN and the macro ROC-AUC averages the
  classes that have one (scikit-learn's macro would be NaN as a whole);
- per-class F1 is NaN when precision or recall is NaN (scikit-learn gives 0 for a class with support that is never predicted),
  while macro F1 is scikit-learn's: 2TP / (2TP + FP + FN) averaged over the classes that occur in labels or predictions.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from bench.models.classifier_metrics import classifier_report, roc_auc, roc_curve


def auc_by_pairs(scores: list[float], labels: list[int]) -> float:
    pairs = [(p, n) for p, n in itertools.product(
        [s for s, y in zip(scores, labels) if y == 1], [s for s, y in zip(scores, labels) if y == 0])]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


def binary_report_before(probs: torch.Tensor, labels: torch.Tensor, threshold: float = 0.5) -> dict:
    """The binary report verbatim from before K classes, on positive-class probabilities."""
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


def same(a: object, b: object) -> bool:
    """Equality that counts NaN equal to NaN, through dicts and lists."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def only_json_types(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(key, str) and only_json_types(v) for key, v in value.items())
    if isinstance(value, list):
        return all(only_json_types(v) for v in value)
    return type(value) in (float, int, str)


def sample(n: int, k: int, seed: int, never_predicted: int | None = None, absent: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded (N, K) float32 softmax probabilities drawn from few distinct rows, so every column and the argmax are full of ties."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randint(-2, 3, (3 * k, k), generator=gen).double()  # integer logits: equal probabilities, 0.5 exactly for K = 2
    if never_predicted is not None:
        logits[:, never_predicted] -= 10.0  # below every other column (below 0.5 for K = 2): never the prediction
    rows = torch.randint(0, len(logits), (n,), generator=gen)
    probs = torch.softmax(logits, 1)[rows].float()
    # Half the labels follow the argmax so that the scores carry signal; the rest are uniform.
    labels = torch.where(torch.rand(n, generator=gen) < 0.5, logits[rows].argmax(1), torch.randint(0, k, (n,), generator=gen))
    if absent is not None:
        labels[labels == absent] = (absent + 1) % k
    return probs, labels


def sklearn_report(p: np.ndarray, y: np.ndarray, k: int, threshold: float = 0.5) -> dict:
    """The report's figures from scikit-learn, with the NaN conventions of the module docstring applied on top."""
    pred = (p[:, 1] >= threshold).astype(int) if k == 2 else p.argmax(1)
    labels = list(range(k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns for every undefined figure the cases below provoke on purpose
        precision, recall, f1, support = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=np.nan)
        if k > 2:
            ovr = skm.roc_auc_score(y, p, multi_class="ovr", average=None, labels=labels)
        else:
            ovr = np.array([skm.roc_auc_score(y == c, p[:, c]) for c in labels])
        if len(np.unique(y)) == k:
            macro = skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels) if k > 2 else skm.roc_auc_score(y, p[:, 1])
            assert macro == pytest.approx(np.nanmean(ovr))
        else:
            macro = np.nanmean(ovr) if not np.isnan(ovr).all() else np.nan
        return {
            "accuracy": skm.accuracy_score(y, pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
            "macro_f1": skm.f1_score(y, pred, labels=labels, average="macro", zero_division=np.nan),
            "confusion_matrix": skm.confusion_matrix(y, pred, labels=labels),
            "precision": precision, "recall": recall, "support": support, "roc_auc": ovr, "macro_roc_auc": macro,
            "f1": np.where(np.isnan(precision) | np.isnan(recall), np.nan, f1),
        }


def column(report: dict, key: str) -> list[float]:
    return [c[key] for c in report["per_class"]]


def test_roc_auc_equals_pairwise_probability_with_ties() -> None:
    gen = torch.Generator().manual_seed(0)
    scores = (torch.rand(60, generator=gen) * 5).round() / 5  # many ties
    labels = (torch.rand(60, generator=gen) > 0.4).long()
    assert roc_auc(scores, labels) == pytest.approx(auc_by_pairs(scores.tolist(), labels.tolist()))


def test_roc_auc_one_class_is_nan() -> None:
    assert math.isnan(roc_auc(torch.tensor([0.1, 0.9]), torch.tensor([1, 1])))


def test_binary_report_counts_by_hand() -> None:
    probs = torch.tensor([0.9, 0.8, 0.3, 0.6, 0.1, 0.2])
    labels = torch.tensor([1, 1, 1, 0, 0, 0])
    r = classifier_report(torch.stack([1 - probs, probs], 1), labels)
    assert r["confusion"] == {"tp": 2, "fn": 1, "fp": 1, "tn": 2} and r["confusion_matrix"] == [[2, 1], [1, 2]]
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["tpr"] == pytest.approx(2 / 3) and r["fpr"] == pytest.approx(1 / 3)
    assert r["roc_auc"] == pytest.approx(auc_by_pairs(probs.tolist(), labels.tolist())) == r["macro_roc_auc"]


CASES = [pytest.param(k, seed, never, absent, id=f"K{k}-{name}") for k, seed in [(2, 0), (3, 1), (10, 2)] for name, never, absent in [
    ("plain", None, None), ("never-predicted", k - 1, None), ("absent", None, 0), ("never-predicted-and-absent", k - 1, 0),
    ("absent-never-predicted-same-class", k - 1, k - 1)]]


@pytest.mark.parametrize(("k", "seed", "never", "absent"), CASES)
def test_k_class_report_equals_scikit_learn(k: int, seed: int, never: int | None, absent: int | None) -> None:
    probs, labels = sample(300, k, seed, never, absent)
    names = [f"c{i}" for i in range(k)]
    r = classifier_report(probs, labels, names)
    want = sklearn_report(probs.numpy(), labels.numpy(), k)
    pred = torch.tensor(want["confusion_matrix"]).sum(0)
    if never is not None:
        assert pred[never] == 0  # the case really has a class that is never predicted
    if absent is not None:
        assert (labels == absent).sum() == 0

    assert r["n"] == 300 and r["num_classes"] == k and r["classes"] == names and column(r, "class") == names
    assert r["accuracy"] == pytest.approx(want["accuracy"])
    assert r["balanced_accuracy"] == pytest.approx(want["balanced_accuracy"])
    assert r["macro_f1"] == pytest.approx(want["macro_f1"], nan_ok=True)
    np.testing.assert_array_equal(r["confusion_matrix"], want["confusion_matrix"])
    assert column(r, "support") == want["support"].tolist()
    for key in ("precision", "recall", "f1", "roc_auc"):
        np.testing.assert_allclose(column(r, key), want[key], rtol=1e-12, err_msg=key)  # NaN only where scikit-learn's is NaN
    np.testing.assert_allclose(column(r, "accuracy"), want["recall"], rtol=1e-12)  # per-class accuracy is the recall
    assert r["macro_roc_auc"] == pytest.approx(want["macro_roc_auc"], nan_ok=True)
    assert r["roc_auc"] == pytest.approx(r["macro_roc_auc"], nan_ok=True)  # K = 2: mean of both OvR AUCs is the class-1 AUC
    if absent is not None:
        assert math.isnan(r["per_class"][absent]["roc_auc"])
        defined = [a for c, a in enumerate(column(r, "roc_auc")) if c != absent]
        assert r["macro_roc_auc"] == pytest.approx(sum(defined) / len(defined), nan_ok=True)  # the absent class is skipped
    assert (r.keys() >= {"tpr", "fpr", "confusion", "threshold"}) == (k == 2)
    assert only_json_types(r) and same(json.loads(json.dumps(r)), r)


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.8])
@pytest.mark.parametrize(("never", "absent"), [(None, None), (1, None), (None, 0)])
def test_binary_keys_equal_the_report_before_k_classes(threshold: float, never: int | None, absent: int | None) -> None:
    probs, labels = sample(200, 2, 3, never, absent)
    if never is None:
        assert (probs[:, 1] == 0.5).any()  # the threshold 0.5 itself occurs: >= must count it positive as before
    r = classifier_report(probs, labels, threshold=threshold)
    before = binary_report_before(probs[:, 1], labels, threshold)
    assert same({key: r[key] for key in before}, before)
    (tn, fp), (fn, tp) = r["confusion_matrix"]
    assert r["confusion"] == {"tp": tp, "fn": fn, "fp": fp, "tn": tn}
    assert same(r["tpr"], r["per_class"][1]["recall"])
    want = sklearn_report(probs.numpy(), labels.numpy(), 2, threshold)
    assert r["accuracy"] == pytest.approx(want["accuracy"])
    np.testing.assert_array_equal(r["confusion_matrix"], want["confusion_matrix"])


def test_class_absent_and_never_predicted_is_nan_where_undefined() -> None:
    probs = torch.tensor([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1]])
    labels = torch.tensor([0, 0, 1, 0])  # class 2: no support and never predicted
    r = classifier_report(probs, labels)
    absent = r["per_class"][2]
    assert r["classes"] == ["0", "1", "2"] and absent["class"] == "2"
    assert absent["support"] == 0 and all(math.isnan(absent[key]) for key in ("precision", "recall", "accuracy", "f1", "roc_auc"))
    assert r["macro_roc_auc"] == pytest.approx((r["per_class"][0]["roc_auc"] + r["per_class"][1]["roc_auc"]) / 2)
    assert r["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert r["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)  # class 0: P 1, R 2/3; class 1: P 1/2, R 1
    assert r["confusion_matrix"] == [[2, 1, 0], [0, 1, 0], [0, 0, 0]]


def test_never_predicted_class_with_support() -> None:
    probs = torch.tensor([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.7, 0.1], [0.4, 0.3, 0.3]])
    labels = torch.tensor([0, 2, 1, 2])  # class 2 has support 2 and is never predicted
    r = classifier_report(probs, labels)
    c2 = r["per_class"][2]
    assert c2["recall"] == 0.0 and math.isnan(c2["precision"]) and math.isnan(c2["f1"])
    # Yet it counts 0 in the macro F1 (class 0: P 1/3, R 1, F1 1/2; class 1: F1 1): never predicting a class is not rewarded.
    assert r["macro_f1"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    both_zero = classifier_report(torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.1, 0.9, 0.0]]), torch.tensor([1, 0, 1]))
    assert both_zero["per_class"][0]["f1"] == 0.0  # precision 0 and recall 0: F1 is 0, not NaN
    # Class 1: P = R = 1/2; class 2 neither occurs nor is predicted, so it stays out of the macro F1.
    assert both_zero["accuracy"] == pytest.approx(1 / 3) and both_zero["macro_f1"] == pytest.approx((0 + 1 / 2) / 2)


def test_one_class_only_every_auc_is_nan() -> None:
    r = classifier_report(torch.softmax(torch.randn(8, 4, generator=torch.Generator().manual_seed(5)), 1), torch.full((8,), 2))
    assert math.isnan(r["roc_auc"]) and math.isnan(r["macro_roc_auc"]) and all(math.isnan(a) for a in column(r, "roc_auc"))


@pytest.mark.parametrize(("probs", "labels", "classes"), [
    (torch.full((3,), 0.5), torch.tensor([0, 1, 0]), None),  # positive-class probabilities only: the old call
    (torch.ones(3, 1), torch.tensor([0, 0, 0]), None),
    (torch.full((3, 3), 1 / 3), torch.tensor([0, 1, 3]), None),
    (torch.full((3, 3), 1 / 3), torch.tensor([0, -1, 2]), None),
    (torch.full((3, 3), 1 / 3), torch.tensor([0, 1]), None),
    (torch.full((3, 3), 1 / 3), torch.tensor([0, 1, 2]), ["a", "b"]),
])
def test_bad_input_is_refused(probs: torch.Tensor, labels: torch.Tensor, classes: list[str] | None) -> None:
    with pytest.raises(ValueError):
        classifier_report(probs, labels, classes)


@pytest.mark.parametrize("seed", range(5))
def test_roc_curve_is_scikit_learns_with_every_threshold_kept(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=40)
    scores = np.round(rng.random(40), 1)  # rounded, so that ties between classes occur
    fpr, tpr = roc_curve(torch.tensor(scores), torch.tensor(labels))
    ref_fpr, ref_tpr, _ = skm.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr.numpy(), ref_fpr)
    np.testing.assert_allclose(tpr.numpy(), ref_tpr)
    assert np.trapezoid(tpr.numpy(), fpr.numpy()) == pytest.approx(roc_auc(torch.tensor(scores), torch.tensor(labels)))


def test_roc_curve_of_one_class_is_empty() -> None:
    fpr, tpr = roc_curve(torch.tensor([0.2, 0.7]), torch.tensor([1, 1]))
    assert fpr.numel() == 0 and tpr.numel() == 0
