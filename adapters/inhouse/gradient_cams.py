"""CAMs weighted by the gradient of the class score at the target layer.

All share one pass: a forward with autograd off up to the layer and on after it, then one backward
through the head only (torch.autograd.grad: no parameter .grad is touched). They differ only in how
the activations A (N,K,*s) and gradients G = dS_c/dA combine; S_c is the target's logit.
"""

from __future__ import annotations

import torch
from torch import nn

from adapters.inhouse.activations import capture_layer
from bench.core.explainer import Explainer
from bench.models.fast_path import fast_layout
from bench.models.layers import resolve_layer


def _spatial(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(range(2, t.ndim))


def layer_activation_and_gradient(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, dS_target/dA) at layer for inputs x, both detached."""
    with capture_layer(layer) as cap:
        score = model(fast_layout(x)).gather(1, target.view(-1, 1)).sum()
        activation = cap.activation
        (grad,) = torch.autograd.grad(score, activation)
    return activation.detach(), grad


class GradientCAM(Explainer):
    """Shared machinery: capture A and G at the target layer, combine them, relu the result."""

    library = "inhouse"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, relu: bool = True) -> None:
        layer_name, self.layer = resolve_layer(model, target_layer)
        super().__init__(model, target_layer=layer_name)
        self.relu = relu

    def passes(self) -> dict[str, int]:
        """One forward pass and one backward pass through the layers after the target layer only."""
        return {"forward": 1, "backward": 0, "head_backward": 1}

    def combine(self, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """The method's map (N,*s) from activations and gradients (N,K,*s)."""
        raise NotImplementedError

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        a, g = layer_activation_and_gradient(self.model, self.layer, x, target)
        cam = self.combine(a, g)
        return torch.relu(cam) if self.relu else cam


class GradCAM(GradientCAM):
    """Grad-CAM (Selvaraju et al. 2017): w_k = mean_ij G_kij; map = relu(sum_k w_k A_k)."""

    name, method = "inhouse.gradcam", "gradcam"

    def combine(self, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return (g.mean(_spatial(g), keepdim=True) * a).sum(1)


class GradCAMPlusPlus(GradientCAM):
    """Grad-CAM++ (Chattopadhay et al. 2018), the closed form for an exponential output Y = exp(S_c).

    alpha_kij = G^2 / (2 G^2 + sum_ab A_kab G^3);  w_k = sum_ij alpha_kij relu(G_kij);  map = relu(sum_k w_k A_k).
    The closed form assumes the layers after the target are piecewise linear (higher derivatives of S
    vanish). The per-sample positive factor exp(S_c) of dY/dA is left out: it overflows for confident
    models and does not change the map's shape. Where the denominator vanishes (G = 0) alpha is 0; the
    guard against round-off is relative to each sample's own 2 G^2 scale, not a fixed 1e-6.
    """

    name, method = "inhouse.gradcam++", "gradcam++"

    def combine(self, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        g2 = g.pow(2)
        denominator = 2 * g2 + a.sum(_spatial(a), keepdim=True) * g.pow(3)
        scale = (2 * g2).flatten(1).amax(1).view(-1, *([1] * (g.ndim - 1)))
        floor = torch.finfo(g.dtype).eps * scale
        alpha = torch.where(denominator.abs() > floor, g2 / torch.where(denominator.abs() > floor, denominator, torch.ones_like(denominator)), torch.zeros_like(g2))
        weights = (alpha * torch.relu(g)).sum(_spatial(g), keepdim=True)
        return (weights * a).sum(1)


class XGradCAM(GradientCAM):
    """XGrad-CAM (Fu et al. 2020): w_k = sum_ij (A_kij / sum_ab A_kab) G_kij."""

    name, method = "inhouse.xgradcam", "xgradcam"

    def combine(self, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        total = a.sum(_spatial(a), keepdim=True)
        share = torch.where(total != 0, a / torch.where(total != 0, total, torch.ones_like(total)), torch.zeros_like(a))
        return ((share * g).sum(_spatial(g), keepdim=True) * a).sum(1)


class LayerCAM(GradientCAM):
    """Layer-CAM (Jiang et al. 2021): map = relu(sum_k relu(G_k) * A_k), element-wise weights."""

    name, method = "inhouse.layercam", "layercam"

    def combine(self, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return (torch.relu(g) * a).sum(1)


class HiResCAM(GradientCAM):
    """HiResCAM (Draelos & Carin 2020): map = sum_k G_k * A_k, element-wise, relu'd unless relu=False."""

    name, method = "inhouse.hirescam", "hirescam"

    def combine(self, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return (g * a).sum(1)
