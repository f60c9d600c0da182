"""Guided Backpropagation (Springenberg et al. 2015) and Guided Grad-CAM (Selvaraju et al. 2017).

Every ReLU of the forward pass is swapped for a guided ReLU (backward: relu(grad) where the input was
positive) by a torch function mode, so nn.ReLU modules, reused ones like torchvision's, and F.relu /
torch.relu calls are all covered, and the model itself is never modified.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from adapters.inhouse.gradient_cams import GradCAM
from adapters.inhouse.input_gradients import InputGradientMethod
from bench.core.errors import BenchError
from bench.models.fast_path import fast_layout


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        out = x.clamp(min=0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (out,) = ctx.saved_tensors
        return grad.clamp(min=0) * (out > 0).to(grad.dtype)


_RELUS = {torch.relu, torch.relu_, nn.functional.relu, torch.Tensor.relu, torch.Tensor.relu_}


class _GuidedMode(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.replaced = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        if func in _RELUS:
            self.replaced += 1
            return _GuidedReLU.apply(args[0])
        return func(*args, **(kwargs or {}))


def guided_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d logit_target / dx with every ReLU's backward guided; an error for a model without ReLUs."""
    mode = _GuidedMode()
    with torch.enable_grad():
        leaf = fast_layout(x.detach()).requires_grad_(True)
        with mode:
            scores = model(leaf).gather(1, target.view(-1, 1)).sum()
        (grad,) = torch.autograd.grad(scores, leaf)
    if mode.replaced == 0:
        raise BenchError(f"{type(model).__name__} applies no ReLU; guided backpropagation is undefined for it")
    return grad.contiguous()


class GuidedBackprop(InputGradientMethod):
    """The input gradient with guided ReLUs."""

    name, method = "inhouse.guided_backprop", "guided_backprop"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None) -> None:
        super().__init__(model, target_layer=None)

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        return guided_gradient(self.model, x, target)


class GuidedGradCAM(InputGradientMethod):
    """Guided backpropagation times the Grad-CAM map upsampled (bilinear) to the input."""

    name, method = "inhouse.guided_gradcam", "guided_gradcam"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None) -> None:
        super().__init__(model, target_layer=target_layer)
        self.gradcam = GradCAM(model, target_layer=target_layer)
        self.target_layer = self.gradcam.target_layer

    def passes(self) -> dict[str, int]:
        """Grad-CAM's pass plus a guided forward and backward pass."""
        return {"forward": 2, "backward": 1, "head_backward": 1}

    def _attribute(self, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None) -> torch.Tensor:
        cam = self.gradcam.attribute(x, target)
        mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[x.ndim - 2]
        up = nn.functional.interpolate(cam.unsqueeze(1), size=tuple(x.shape[2:]), mode=mode, align_corners=False)
        return guided_gradient(self.model, x, target) * up
