"""The Metric interface and the batch context every metric reads from."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn


@dataclass
class MetricContext:
    """One batch: canonical maps (N,*S), inputs (N,C,*S), targets (N,), masks (N,*S) bool, seeds and helpers.

    seed fixes tie-breaking; seeds (N,) are per-sample seeds for the metrics' random draws; explain re-explains
    other inputs with the same adapter (inputs, targets, explain seeds) -> canonical maps; explain_with(model) gives the same
    for another model (same adapter and parameters); pixel_mean and pixel_std map the
    model's normalised inputs back to pixel space (x * std + mean).
    """

    maps: torch.Tensor
    x: torch.Tensor
    target: torch.Tensor
    masks: torch.Tensor | None = None
    model: nn.Module | None = None
    seed: int = 0
    seeds: torch.Tensor | None = None
    # The seeds the maps were explained with: re-explanations reuse them, so that a stochastic method's
    # map changes only through the perturbed input or model, not through fresh draws of its own.
    explain_seeds: torch.Tensor | None = None
    explain: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    explain_with: Callable[[nn.Module], Callable[..., torch.Tensor]] | None = None
    # The model's input statistics (its Preprocessing); the defaults leave inputs as they are.
    pixel_mean: tuple[float, ...] = (0.0,)
    pixel_std: tuple[float, ...] = (1.0,)
    # Results that several metrics of one batch share (e.g. p(x)), so each is computed once.
    cache: dict = field(default_factory=dict, repr=False)

    def sample_seeds(self) -> torch.Tensor:
        """Per-sample seeds (positions when none were given)."""
        return self.seeds if self.seeds is not None else torch.arange(self.x.shape[0], device=self.x.device)

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Model-space inputs to pixel space."""
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return x * torch.tensor(self.pixel_std, device=x.device, dtype=x.dtype).view(shape) + torch.tensor(self.pixel_mean, device=x.device, dtype=x.dtype).view(shape)

    def from_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixel-space inputs back to model space."""
        shape = (1, -1) + (1,) * (pixels.ndim - 2)
        return (pixels - torch.tensor(self.pixel_mean, device=pixels.device, dtype=pixels.dtype).view(shape)) / torch.tensor(self.pixel_std, device=pixels.device, dtype=pixels.dtype).view(shape)


class Metric(abc.ABC):
    """A score per sample; NaN where the metric is undefined for that sample."""

    name: ClassVar[str]
    direction: ClassVar[str]
    category: ClassVar[str]
    requires_masks: ClassVar[bool] = False

    def params(self) -> dict:
        """The parameters this instance was made with (stored with every record)."""
        return dict(vars(self))

    def passes(self) -> dict[str, int]:
        """Model work per sample of one call when nothing is shared: 'forward' and 'backward' passes, and 'explain' calls
        of the method being scored; none for a metric computed from the map and mask alone."""
        return {}

    @abc.abstractmethod
    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        """Scores (N,) for the batch in ctx."""


class CurveMetric(Metric):
    """A metric that summarises a per-sample curve (the model's score at each step of a perturbation); the curve is stored too."""

    @abc.abstractmethod
    def curve(self, ctx: MetricContext) -> torch.Tensor:
        """(N, len(curve_x())) model scores along the perturbation."""

    @abc.abstractmethod
    def curve_x(self) -> list[float]:
        """Where the curve's points lie: the fraction of pixels perturbed at each."""

    @abc.abstractmethod
    def summarise(self, points: torch.Tensor, ctx: MetricContext) -> torch.Tensor:
        """Scores (N,) from the curves (N, L) of the batch in ctx."""

    def __call__(self, ctx: MetricContext) -> torch.Tensor:
        return self.summarise(self.curve(ctx), ctx)
