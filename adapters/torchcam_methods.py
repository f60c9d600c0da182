"""TorchCAM's implementations behind the Explainer interface (`torchcam.<method>`).

TorchCAM's extractors hook the target layer when they are made and compute a map from the last forward
pass; `normalized=False` returns the map at layer resolution before the library's min-max step, so the
harness upsamples and normalises every implementation the same way. The gradient CAMs and the Score-CAM
family relu the map (output = 'relu'); CAM does not ('raw'). Hooks live as long as the extractor (close()
removes them); every call runs inside model_guard.preserved, which undoes what the library does to
modes, gradients and requires_grad. SS-CAM and SmoothGrad-CAM++ draw their noise from torch's global
generator: they are seeded from the first sample's seed in a forked RNG state, so they are
deterministic, but a sample's map depends on its batch (batch_invariant = False).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from adapters.model_guard import preserved
from adapters.third_party import ThirdPartyExplainer, check_gap_linear_head
from bench.models.layers import resolve_layer


def torchcam_methods():  # noqa: ANN201 - the torchcam.methods module
    """torchcam.methods, imported on first use."""
    from torchcam import methods

    return methods


class TorchCamExplainer(ThirdPartyExplainer):
    """A TorchCAM extractor on one target layer."""

    library, package = "torchcam", "torchcam"
    extractor: ClassVar[str]
    spatial_ranks = (2,)
    output = "relu"
    # Whether the extractor needs the model's scores with the autograd graph of the forward pass.
    uses_gradients: ClassVar[bool] = True

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, **options: object) -> None:
        name, self.layer = resolve_layer(model, target_layer)
        super().__init__(model, target_layer=name)
        with preserved(model, keep_new_hooks=True):
            self.cam = getattr(torchcam_methods(), self.extractor)(model, target_layer=name, **options)
        self.channels: int | None = None

    def passes(self) -> dict[str, int]:
        """One forward pass and, for gradient methods, a backward pass to the target layer (torch.autograd.grad)."""
        return {"forward": 1, "head_backward": 1} if self.uses_gradients else {"forward": 1}

    def close(self) -> None:
        """Remove the extractor's hooks."""
        self.cam.remove_hooks()

    def _maps(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(self.uses_gradients):
            scores = self.model(x)
        maps = self.cam(class_idx=target.tolist(), scores=scores, normalized=False)[0]
        self.channels = self.cam.hook_a[0].shape[1]
        self.cam.reset_hooks()
        return maps.detach().float()

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        with preserved(self.model):
            return self._maps(x, target)


class _Seeded(TorchCamExplainer):
    batch_invariant = False

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with preserved(self.model), torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seeds[0]) % 2**63 if seeds is not None else 0)
            return self._maps(x, target)


class TorchCamCAM(TorchCamExplainer):
    """CAM from the last linear layer's weights, without relu; the head is checked as for the other CAMs."""

    name, method, extractor, output, uses_gradients = "torchcam.cam", "cam", "CAM", "raw", False

    def __init__(self, model: nn.Module, *, target_layer: str | None = None) -> None:
        head = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        super().__init__(model, target_layer=target_layer, fc_layer=head[-1] if head else None)

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        check_gap_linear_head(self.model, self.layer, x)
        return super()._attribute(x, target, seeds)


class TorchCamGradCAM(TorchCamExplainer):
    name, method, extractor = "torchcam.gradcam", "gradcam", "GradCAM"


class TorchCamGradCAMPlusPlus(TorchCamExplainer):
    """TorchCAM 0.5 leaves alpha at G^2: its in-place division acts on a boolean-indexed copy (pinned in test_known_differences)."""

    name, method, extractor = "torchcam.gradcam++", "gradcam++", "GradCAMpp"


class TorchCamXGradCAM(TorchCamExplainer):
    name, method, extractor = "torchcam.xgradcam", "xgradcam", "XGradCAM"


class TorchCamLayerCAM(TorchCamExplainer):
    name, method, extractor = "torchcam.layercam", "layercam", "LayerCAM"


class TorchCamSmoothGradCAMPlusPlus(_Seeded):
    """Grad-CAM++ averaged over noisy copies of the input (std in input units)."""

    name, method, extractor = "torchcam.smoothgradcam++", "smoothgradcam++", "SmoothGradCAMpp"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, num_samples: int = 4, std: float = 0.3) -> None:
        if num_samples < 1 or std < 0:
            raise ValueError(f"need num_samples >= 1 and std >= 0, got {num_samples}, {std}")
        super().__init__(model, target_layer=target_layer, num_samples=num_samples, std=std)
        self.num_samples = num_samples

    def passes(self) -> dict[str, int]:
        """num_samples forward passes and backward passes to the target layer, after the library's own first forward."""
        return {"forward": 1 + self.num_samples, "head_backward": self.num_samples}


class _ScoreFamily(TorchCamExplainer):
    uses_gradients = False
    # Masked forwards per channel.
    draws = 1

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, batch_size: int = 32, **options: object) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(model, target_layer=target_layer, batch_size=batch_size, **options)

    def passes(self) -> dict[str, int]:
        """2 + draws x K forward passes (K channels of the target layer, known after a call): the hooked forward, the
        library's unmasked one, and the masked inputs."""
        return {"forward": 2 + self.draws * (self.channels or 0)}


class TorchCamScoreCAM(_ScoreFamily):
    """Weights: a softmax over channels of the target logit of x times each min-max normalised, bilinearly upsampled channel."""

    name, method, extractor = "torchcam.scorecam", "scorecam", "ScoreCAM"


class TorchCamSSCAM(_ScoreFamily, _Seeded):
    """SS-CAM (Wang et al. 2020): Score-CAM weights averaged over Gaussian noise added to the normalised channel masks."""

    name, method, extractor = "torchcam.sscam", "sscam", "SSCAM"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, batch_size: int = 32, num_samples: int = 35,
                 std: float = 2.0) -> None:
        if num_samples < 1 or std < 0:
            raise ValueError(f"need num_samples >= 1 and std >= 0, got {num_samples}, {std}")
        super().__init__(model, target_layer=target_layer, batch_size=batch_size, num_samples=num_samples, std=std)
        self.draws = num_samples


class TorchCamISCAM(_ScoreFamily):
    """IS-CAM (Naidu et al. 2020): Score-CAM weights integrated over masks scaled from 1/num_samples to 1."""

    name, method, extractor = "torchcam.iscam", "iscam", "ISCAM"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, batch_size: int = 32, num_samples: int = 10) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        super().__init__(model, target_layer=target_layer, batch_size=batch_size, num_samples=num_samples)
        self.draws = num_samples
