"""Template for a new method adapter: copy this file, rename the class, fill in the three marked places.

1. Subclass bench.core.explainer.Explainer and set the class attributes below.
2. Take your method's parameters as keyword-only constructor arguments with defaults: suites pass
   them from `[[methods]] params = {...}`, checked against this signature.
3. Implement _attribute. The base class has already checked the inputs: x is (N, C, *spatial) on the
   run's device, target is an int64 tensor (N,) with one class per sample, seeds is an int64 tensor
   (N,) (or None) to draw any randomness from, so that a sample's map does not depend on its batch.
   Return the raw map, keeping its sign: (N, *s) for a CAM-style map at any resolution (upsampled
   bilinearly by the harness) or (N, C, *spatial) with channel_reduction set. Leave the model as you
   found it: no .backward() (use torch.autograd.grad), no mode changes, no hooks left behind.

Register it without editing this repository, in your package's pyproject.toml:

    [project.entry-points."xai_bench.adapters"]
    "mylab.gradient_norm" = "mylab.adapters:GradientNorm"

then `bench ls methods` lists it and `bench check-adapter mylab.gradient_norm` runs the conformance check.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.core.explainer import Explainer


class GradientNorm(Explainer):
    """Example: the L2 norm over channels of the gradient of the target logit with respect to the input."""

    name = "example.gradient_norm"     # (1) registry name: "<library>.<method>"
    method = "gradient_norm"           #     the algorithm; implementations of one method share it
    library = "example"                #     whose implementation this is
    package = None                     #     PyPI name whose version is recorded (None: this repository)
    channel_reduction = None           #     "sum" | "mean" | "abs_sum" when the raw map keeps channels

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, eps: float = 0.0) -> None:  # (2)
        super().__init__(model, target_layer=None)
        self.eps = eps

    def passes(self) -> dict[str, int]:
        """Cost per sample, so the harness can compare runtime with the ideal."""
        return {"forward": 1, "backward": 1}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:  # (3)
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            score = self.model(leaf).gather(1, target.view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(score, leaf)
        return (grad.pow(2).sum(1) + self.eps).sqrt()
