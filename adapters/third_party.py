"""What the Captum and pytorch-grad-cam adapters share: the base class and head checks."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from adapters.inhouse.activations import forward_capture
from bench.core.explainer import Explainer, NotSupported


class ThirdPartyExplainer(Explainer):
    """An adapter over another library's implementation."""

    # How the library's output relates to the raw map: 'raw', or what it already applied (e.g. 'relu+minmax').
    output: ClassVar[str] = "raw"
    # Whether a sample's map is independent of the rest of its batch (false for library-drawn noise).
    batch_invariant: ClassVar[bool] = True


def check_gap_linear_head(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> nn.Linear:
    """The model's last linear layer, after checking it is applied to the global average of layer's output."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise NotSupported(f"CAM needs a global-average-pooling + linear head; {type(model).__name__} has no nn.Linear")
    head = linears[-1]
    _, seen = forward_capture(model, {"layer": layer}, x, inputs={"head": head})
    a, z = seen["layer"], seen["head"]
    pooled = a.mean(tuple(range(2, a.ndim)))
    if z.shape != pooled.shape or not torch.allclose(z, pooled, rtol=1e-4, atol=1e-5 * max(1.0, float(pooled.abs().max()))):
        raise NotSupported("CAM needs the last linear layer to be applied to the global average of the target layer")
    return head
