"""Grad-CAM (Selvaraju et al. 2017): channel weights are the spatial mean of the class score's gradient."""

from __future__ import annotations

import torch
from torch import nn

from adapters.inhouse.activations import capture_layer
from bench.explainer import Explainer
from bench.layers import resolve_layer


class GradCAM(Explainer):
    """relu(sum_k mean(dy_c/dA_k) * A_k) at the target layer; any spatial rank, batched."""

    name = "inhouse.gradcam"
    method = "gradcam"
    library = "inhouse"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, relu: bool = True) -> None:
        layer_name, self.layer = resolve_layer(model, target_layer)
        super().__init__(model, target_layer=layer_name)
        self.relu = relu

    def passes(self) -> dict[str, int]:
        """One forward pass and one backward pass through the head only."""
        return {"forward": 1, "backward": 1}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        with capture_layer(self.layer) as cap:
            logits = self.model(x)
            score = logits.gather(1, target.view(-1, 1)).sum()
            activation = cap.activation
            (grad,) = torch.autograd.grad(score, activation)
        weights = grad.mean(dim=tuple(range(2, grad.ndim)), keepdim=True)
        cam = (weights * activation.detach()).sum(1)
        return torch.relu(cam) if self.relu else cam
