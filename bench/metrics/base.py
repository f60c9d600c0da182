"""The Metric interface and the batch context every metric reads from."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn


@dataclass
class MetricContext:
    """One batch: canonical maps (N,*S), inputs (N,C,*S), targets (N,), masks (N,*S) bool, and a seed."""

    maps: torch.Tensor
    x: torch.Tensor
    target: torch.Tensor
    masks: torch.Tensor | None = None
    model: nn.Module | None = None
    seed: int = 0


class Metric(abc.ABC):
    """A score per sample; NaN where the metric is undefined for that sample."""

    name: ClassVar[str]
    direction: ClassVar[str]
    category: ClassVar[str]
    requires_masks: ClassVar[bool] = False

    def params(self) -> dict:
        """The parameters this instance was made with (stored with every record)."""
        return dict(vars(self))

    @abc.abstractmethod
    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        """Scores (N,) for the batch in ctx."""
