"""Metrics by name: each takes a batch and returns one score per sample (NaN where undefined)."""

from __future__ import annotations

from bench.core.registry import Registry
from bench.metrics.base import CurveMetric, Metric, MetricContext
from bench.metrics.complexity import Complexity, Sparseness
from bench.metrics.faithfulness import (
    AverageDrop,
    AverageDropTop50,
    DeletionAUC,
    DropRate,
    FaithfulnessCorrelation,
    IncreaseInConfidence,
    IncreaseRate,
    InsertionAUC,
    RemoveTopDrop,
)
from bench.metrics.localisation import (
    BoxIoUTop,
    DiceOtsu,
    DiceThreshold,
    DiceTopK,
    EnergyInMask,
    IoUOtsu,
    IoUThreshold,
    IoUTopK,
    PixelAUROC,
    PointingGame,
    RelevanceRank,
)
from bench.metrics.road import RoadLeRF, RoadMoRF
from bench.metrics.robustness import AvgSensitivity, Infidelity, MaxSensitivity
from bench.metrics.sanity import RandomisationSpearman, RandomisationSSIM

METRICS: Registry[type[Metric]] = Registry("metric", lambda: {cls.name: cls for cls in (
    IoUTopK, IoUThreshold, IoUOtsu, DiceTopK, DiceThreshold, DiceOtsu, BoxIoUTop, PointingGame, EnergyInMask, RelevanceRank, PixelAUROC,
    Sparseness, Complexity,
    AverageDrop, AverageDropTop50, IncreaseInConfidence, DropRate, IncreaseRate, RemoveTopDrop, DeletionAUC, InsertionAUC,
    RoadMoRF, RoadLeRF, FaithfulnessCorrelation, MaxSensitivity, AvgSensitivity, Infidelity, RandomisationSpearman, RandomisationSSIM,
)})


def get_metric(name: str) -> type[Metric]:
    """The Metric class registered as name."""
    return METRICS.get(name)


__all__ = ["METRICS", "CurveMetric", "Metric", "MetricContext", "get_metric"]
