"""CAMs computed from the target layer's activations alone, without gradients: CAM and Eigen-CAM."""

from __future__ import annotations

import torch
from torch import nn

from adapters.inhouse.activations import forward_capture
from bench.core.errors import BenchError
from bench.core.explainer import Explainer
from bench.models.layers import resolve_layer


class HeadError(BenchError):
    """A model whose head is not what a method requires."""


def _last_linear(model: nn.Module, name: str | None) -> tuple[str, nn.Linear]:
    if name:
        module = model.get_submodule(name)
        if not isinstance(module, nn.Linear):
            raise HeadError(f"head {name!r} is {type(module).__name__}, not nn.Linear")
        return name, module
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise HeadError(f"CAM needs a global-average-pooling + linear head; {type(model).__name__} has no nn.Linear")
    return linears[-1]


class CAM(Explainer):
    """CAM (Zhou et al. 2016): map_c = sum_k W_ck A_k with W the linear head after global average pooling.

    The head is checked on every call: the linear layer's input must equal the spatial mean of the
    target layer's output, else the model is not a GAP + linear model and CAM is undefined for it.
    """

    name, method, library = "inhouse.cam", "cam", "inhouse"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, head: str = "") -> None:
        layer_name, self.layer = resolve_layer(model, target_layer)
        super().__init__(model, target_layer=layer_name)
        self.head_name, self.head = _last_linear(model, head or None)

    def passes(self) -> dict[str, int]:
        """One forward pass, no backward pass."""
        return {"forward": 1, "backward": 0}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        _, seen = forward_capture(self.model, {"layer": self.layer}, x, inputs={"head": self.head})
        a, z = seen["layer"], seen["head"]
        pooled = a.mean(tuple(range(2, a.ndim)))
        if z.shape != pooled.shape or not torch.allclose(z, pooled, rtol=1e-4, atol=1e-5 * max(1.0, float(pooled.abs().max()))):
            raise HeadError(f"CAM needs the head {self.head_name!r} to be a linear layer applied to the global average of "
                            f"{self.target_layer!r}; this model does something else in between")
        weights = self.head.weight.detach()[target]
        return torch.einsum("nk,nk...->n...", weights, a)


class EigenCAM(Explainer):
    """Eigen-CAM (Muhammad & Yeasin 2020): activations projected on their first principal direction.

    Per sample, the (positions x channels) matrix of activations is decomposed by SVD and projected on
    the first right singular vector. The sign of a singular vector is arbitrary: it is fixed so that
    the map correlates positively with the mean activation. center=True subtracts each channel's mean
    first (what pytorch-grad-cam does); the paper does not. relu at layer resolution, as for the other
    CAMs (relu=False keeps the sign). Class-agnostic: the target is ignored.
    """

    name, method, library = "inhouse.eigencam", "eigencam", "inhouse"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, center: bool = False, relu: bool = True) -> None:
        layer_name, self.layer = resolve_layer(model, target_layer)
        super().__init__(model, target_layer=layer_name)
        self.center, self.relu = center, relu

    def passes(self) -> dict[str, int]:
        """One forward pass, no backward pass."""
        return {"forward": 1, "backward": 0}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        a = forward_capture(self.model, {"layer": self.layer}, x)[1]["layer"]
        m = a.flatten(2).transpose(1, 2).double()  # (N, P, K)
        if self.center:
            m = m - m.mean(1, keepdim=True)
        _, _, vh = torch.linalg.svd(m, full_matrices=False)
        projection = torch.einsum("npk,nk->np", m, vh[:, 0])
        sign = torch.sign((projection * a.flatten(2).mean(1).double()).sum(1, keepdim=True))
        projection = projection * torch.where(sign == 0, torch.ones_like(sign), sign)
        cam = projection.float().view(a.shape[0], *a.shape[2:])
        return torch.relu(cam) if self.relu else cam
