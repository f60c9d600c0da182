"""pytorch-grad-cam's implementations behind the Explainer interface (`gradcam.<method>`).

The library's public call returns maps that are relu'd at layer resolution, then min-max normalised
and resized with OpenCV. Where it allows, these adapters stop before the last two steps: they run the
library's own forward and backward steps, call its get_cam_image and apply its relu (output = 'relu'),
so that the harness upsamples and normalises every implementation the same way. FullGrad has no such
form (output = 'relu+minmax'). The library puts the model in eval mode, fills parameter
gradients and leaves hooks: every call runs inside model_guard.preserved, and close() releases the
hooks. Targets go in as one ClassifierOutputTarget per sample, so a short target list cannot be
truncated silently as the library itself would.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from adapters.model_guard import preserved
from adapters.third_party import ThirdPartyExplainer
from bench.models.layers import resolve_layer


def grad_cam():  # noqa: ANN201 - the pytorch_grad_cam module
    """pytorch_grad_cam, imported on first use: it pulls in scikit-learn and OpenCV, which scoring stored maps never needs."""
    import pytorch_grad_cam

    return pytorch_grad_cam


def _targets(target: torch.Tensor) -> list:
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    return [ClassifierOutputTarget(int(t)) for t in target.tolist()]


class GradCamLibExplainer(ThirdPartyExplainer):
    """A CAM class of pytorch-grad-cam on one target layer."""

    library, package = "grad-cam", "grad-cam"
    cam_class: ClassVar[str]
    spatial_ranks = (2, 3)
    output = "relu"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, **options: object) -> None:
        name, self.layer = resolve_layer(model, target_layer)
        super().__init__(model, target_layer=name)
        with preserved(model, keep_new_hooks=True):
            self.cam = getattr(grad_cam(), self.cam_class)(model=model, target_layers=[self.layer], **options)

    def passes(self) -> dict[str, int]:
        """One forward pass and, for gradient methods, a backward pass through the whole network (the library calls .backward())."""
        return {"forward": 1, "backward": 1 if self.cam.uses_gradients else 0}

    def close(self) -> None:
        """Release the library's hooks."""
        self.cam.activations_and_grads.release()

    def _raw(self, x: torch.Tensor, targets: list) -> np.ndarray:
        outputs = self.cam.activations_and_grads(x)
        if self.cam.uses_gradients:
            loss = sum(t(o) for t, o in zip(targets, outputs))
            loss.backward(retain_graph=True)
        # Under bfloat16 autocast the hooks hold bfloat16 tensors, which numpy cannot take; widening to float32 is exact.
        activations = self.cam.activations_and_grads.activations[0].float().cpu().numpy()
        grads = self.cam.activations_and_grads.gradients[0].float().cpu().numpy() if self.cam.uses_gradients else None
        return np.maximum(self.cam.get_cam_image(x, self.layer, targets, activations, grads, False), 0)

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        targets = _targets(target)
        with preserved(self.model):
            out = self._raw(x, targets) if self.output == "relu" else self.cam(input_tensor=x, targets=targets)
        return torch.as_tensor(np.ascontiguousarray(out), device=x.device).float()


class GradCamGradCAM(GradCamLibExplainer):
    name, method, cam_class = "gradcam.gradcam", "gradcam", "GradCAM"


class GradCamGradCAMPlusPlus(GradCamLibExplainer):
    """Its alpha denominator adds a fixed 1e-6."""

    name, method, cam_class = "gradcam.gradcam++", "gradcam++", "GradCAMPlusPlus"


class GradCamXGradCAM(GradCamLibExplainer):
    name, method, cam_class = "gradcam.xgradcam", "xgradcam", "XGradCAM"


class GradCamLayerCAM(GradCamLibExplainer):
    name, method, cam_class = "gradcam.layercam", "layercam", "LayerCAM"


class GradCamHiResCAM(GradCamLibExplainer):
    name, method, cam_class = "gradcam.hirescam", "hirescam", "HiResCAM"


class GradCamEigenCAM(GradCamLibExplainer):
    """Centres the activations before the SVD and leaves the sign of the projection as the SVD returns it."""

    name, method, cam_class = "gradcam.eigencam", "eigencam", "EigenCAM"


class GradCamScoreCAM(GradCamLibExplainer):
    """Weights are a softmax over channels of the target logit; masks upsampled with align_corners=True."""

    spatial_ranks = (2,)

    name, method, cam_class = "gradcam.scorecam", "scorecam", "ScoreCAM"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, batch_size: int = 16) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(model, target_layer=target_layer)
        self.cam.batch_size = batch_size
        self.channels: int | None = None

    def passes(self) -> dict[str, int]:
        """1 + K forward passes (K channels of the target layer; known after a call), one more for the activations."""
        return {"forward": 2 + (self.channels or 0), "backward": 0}

    def _raw(self, x: torch.Tensor, targets: list) -> np.ndarray:
        out = super()._raw(x, targets)
        self.channels = self.cam.activations_and_grads.activations[0].shape[1]
        return out


class GradCamAblationCAM(GradCamLibExplainer):
    spatial_ranks = (2,)
    name, method, cam_class = "gradcam.ablationcam", "ablationcam", "AblationCAM"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(model, target_layer=target_layer, batch_size=batch_size)
        self.channels: int | None = None

    def passes(self) -> dict[str, int]:
        """2 + K full forward passes per sample (the library reruns the whole network for every ablated channel)."""
        return {"forward": 2 + (self.channels or 0), "backward": 0}

    def _raw(self, x: torch.Tensor, targets: list) -> np.ndarray:
        out = super()._raw(x, targets)
        self.channels = self.cam.activations_and_grads.activations[0].shape[1]
        return out


class GradCamFullGrad(GradCamLibExplainer):
    """FullGrad uses every layer's bias gradients; the library gives only its normalised output."""

    spatial_ranks = (2,)

    name, method, cam_class, output = "gradcam.fullgrad", "fullgrad", "FullGrad", "relu+minmax"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None) -> None:
        ThirdPartyExplainer.__init__(self, model, target_layer=None)
        self.layer = None
        with preserved(model, keep_new_hooks=True):
            self.cam = grad_cam().FullGrad(model=model, target_layers=[])


class GradCamGuidedBackprop(ThirdPartyExplainer):
    """GuidedBackpropReLUModel: it swaps the model's ReLU modules, so it works on a private copy, one image at a time."""

    name, method, library, package, channel_reduction = "gradcam.guided_backprop", "guided_backprop", "grad-cam", "grad-cam", "sum"
    spatial_ranks = (2,)

    def __init__(self, model: nn.Module, *, target_layer: str | None = None) -> None:
        super().__init__(model, target_layer=None)
        self.copy = copy.deepcopy(model)
        self.guided = grad_cam().GuidedBackpropReLUModel(self.copy, device=next(model.parameters()).device)

    def passes(self) -> dict[str, int]:
        """One forward and one backward pass."""
        return {"forward": 1, "backward": 1}

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        maps = [self.guided(x[i:i + 1].clone(), target_category=int(target[i])) for i in range(len(x))]
        return torch.as_tensor(np.stack(maps), device=x.device).float().permute(0, 3, 1, 2).contiguous()
