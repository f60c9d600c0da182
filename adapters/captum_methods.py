"""Captum's implementations behind the Explainer interface (`captum.<method>`).

Each call runs inside adapters.model_guard.preserved, so whatever Captum does to the model (hooks,
.grad, modes) is undone. Captum draws noise from torch's global generator: those adapters seed it
from the first sample's seed inside a forked RNG state, so they are deterministic but their maps
depend on the batch (batch_invariant = False).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from adapters.inhouse.occlusion import OUTPUTS
from adapters.model_guard import preserved
from adapters.third_party import ThirdPartyExplainer, check_gap_linear_head
from bench.core.explainer import NotSupported
from bench.metrics.reference_inputs import reference_input
from bench.models.layers import resolve_layer

# Modes of torch.nn.functional.interpolate for images (Captum passes the name on).
INTERPOLATE_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "area")


def captum_attr():  # noqa: ANN201 - the captum.attr module
    """captum.attr, imported on first use: scoring stored maps never pays for importing Captum."""
    import captum.attr

    return captum.attr


class CaptumExplainer(ThirdPartyExplainer):
    """Base of the Captum adapters."""

    library, package = "captum", "captum"

    def passes(self) -> dict[str, int]:
        """One forward and one backward pass."""
        return {"forward": 1, "backward": 1}

    def _run(self, fn):  # noqa: ANN001, ANN202
        with preserved(self.model):
            out = fn()
        return tuple(o.detach() if isinstance(o, torch.Tensor) else o for o in out) if isinstance(out, tuple) else out.detach()


class _LayerMethod(CaptumExplainer):
    def __init__(self, model: nn.Module, *, target_layer: str | None = None) -> None:
        name, self.layer = resolve_layer(model, target_layer)
        super().__init__(model, target_layer=name)


class CaptumGradCAM(_LayerMethod):
    """LayerGradCam, relu'd (relu_attributions=True); upsampled by canonicalize (bilinear), not Captum's nearest default."""

    name, method = "captum.gradcam", "gradcam"

    def passes(self) -> dict[str, int]:
        """One forward pass and a backward pass to the target layer only."""
        return {"forward": 1, "head_backward": 1}

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, relu: bool = True) -> None:
        super().__init__(model, target_layer=target_layer)
        self.relu = relu

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        explainer = captum_attr().LayerGradCam(self.model, self.layer)
        return self._run(lambda: explainer.attribute(x, target=target, relu_attributions=self.relu))[:, 0]


class CaptumCAM(_LayerMethod):
    """CAM through LayerGradCam on a global-pooling + linear head: the signed Grad-CAM map times the layer's area."""

    name, method = "captum.cam", "cam"

    def passes(self) -> dict[str, int]:
        """One forward pass and a backward pass to the target layer only."""
        return {"forward": 1, "head_backward": 1}

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        check_gap_linear_head(self.model, self.layer, x)
        explainer = captum_attr().LayerGradCam(self.model, self.layer)
        cam = self._run(lambda: explainer.attribute(x, target=target, relu_attributions=False))[:, 0]
        return cam * math.prod(cam.shape[1:])


class CaptumIntegratedGradients(CaptumExplainer):
    """IntegratedGradients with internal_batch_size exposed (0: all steps at once); completeness from Captum's delta."""

    name, method, channel_reduction = "captum.integrated_gradients", "integrated_gradients", "sum"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, steps: int = 50, rule: str = "gausslegendre",
                 baseline: str = "zero", internal_batch_size: int = 0) -> None:
        super().__init__(model, target_layer=None)
        if steps < 1 or internal_batch_size < 0:
            raise ValueError(f"need steps >= 1 and internal_batch_size >= 0 (0: all steps at once), got {steps}, {internal_batch_size}")
        self.steps, self.rule, self.baseline, self.internal_batch_size = steps, rule, baseline, internal_batch_size
        self.completeness_error: torch.Tensor | None = None

    def passes(self) -> dict[str, int]:
        """steps forward and backward passes, plus 2 forward passes for Captum's convergence delta."""
        return {"forward": self.steps + 2, "backward": self.steps}

    def diagnostics(self) -> dict[str, torch.Tensor]:
        """Completeness error of the last call, per sample."""
        return {} if self.completeness_error is None else {"completeness_error": self.completeness_error}

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        base = reference_input(x, self.baseline, seeds=seeds, model=self.model)
        explainer = captum_attr().IntegratedGradients(self.model)
        attr, delta = self._run(lambda: explainer.attribute(x, baselines=base, target=target, n_steps=self.steps, method=self.rule,
                                                            internal_batch_size=self.internal_batch_size or None, return_convergence_delta=True))
        with torch.no_grad():
            ends = self.model(torch.cat([x, base])).gather(1, target.repeat(2).view(-1, 1)).squeeze(1)
        self.completeness_error = delta.abs() / (ends[: len(x)] - ends[len(x):]).abs().clamp_min(1e-12)
        return attr


class CaptumOcclusion(CaptumExplainer):
    """Occlusion over all channels with a window and stride per spatial axis; perturbations_per_eval exposed."""

    name, method, channel_reduction = "captum.occlusion", "occlusion", "mean"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, window: int = 16, stride: int = 8, baseline: str = "zero",
                 output: str = "logit", perturbations_per_eval: int = 32) -> None:
        super().__init__(model, target_layer=None)
        if window < 1 or stride < 1:
            raise ValueError(f"window and stride must be >= 1, got {window}, {stride}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.window, self.stride, self.baseline, self.output, self.per_eval = window, stride, baseline, output, perturbations_per_eval
        self.positions: int | None = None

    def passes(self) -> dict[str, int]:
        """1 + P forward passes (P window positions, known after a call)."""
        return {"forward": 1 + (self.positions or 0), "backward": 0}

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        rank = x.ndim - 2
        if any(self.window > size for size in x.shape[2:]):
            raise ValueError(f"window {self.window} is larger than the input ({'x'.join(map(str, x.shape[2:]))})")
        self.positions = math.prod((size - self.window) // self.stride + 1 for size in x.shape[2:])
        forward = self.model if self.output == "logit" else (lambda t: torch.softmax(self.model(t), 1))
        explainer = captum_attr().Occlusion(forward)
        base = reference_input(x, self.baseline, seeds=seeds, model=self.model)
        return self._run(lambda: explainer.attribute(x, sliding_window_shapes=(x.shape[1],) + (self.window,) * rank,
                                                     strides=(x.shape[1],) + (self.stride,) * rank, baselines=base, target=target,
                                                     perturbations_per_eval=self.per_eval))


class CaptumSaliency(CaptumExplainer):
    """Saliency (abs=True by default, Captum's default)."""

    name, method, channel_reduction = "captum.saliency", "saliency", "sum"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, abs: bool = True) -> None:
        super().__init__(model, target_layer=None)
        self.abs = abs

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        return self._run(lambda: captum_attr().Saliency(self.model).attribute(x, target=target, abs=self.abs))


class CaptumInputXGradient(CaptumExplainer):
    """InputXGradient."""

    name, method, channel_reduction = "captum.gradient_x_input", "gradient_x_input", "sum"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None) -> None:
        super().__init__(model, target_layer=None)

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        return self._run(lambda: captum_attr().InputXGradient(self.model).attribute(x, target=target))


class CaptumGuidedBackprop(CaptumExplainer):
    """GuidedBackprop: hooks on nn.ReLU modules, so a model using F.relu gets the plain gradient."""

    name, method, channel_reduction = "captum.guided_backprop", "guided_backprop", "sum"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None) -> None:
        super().__init__(model, target_layer=None)

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        return self._run(lambda: captum_attr().GuidedBackprop(self.model).attribute(x, target=target))


class CaptumGuidedGradCAM(_LayerMethod):
    """GuidedGradCam; interpolate_mode is Captum's ('nearest' by default), recorded with the parameters."""

    name, method, channel_reduction = "captum.guided_gradcam", "guided_gradcam", "sum"

    def passes(self) -> dict[str, int]:
        """LayerGradCam's passes plus a guided forward and backward pass."""
        return {"forward": 2, "backward": 1, "head_backward": 1}

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, interpolate_mode: str = "nearest") -> None:
        super().__init__(model, target_layer=target_layer)
        if interpolate_mode not in INTERPOLATE_MODES:
            raise ValueError(f"interpolate_mode must be one of {INTERPOLATE_MODES}, got {interpolate_mode!r}")
        self.interpolate_mode = interpolate_mode

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        explainer = captum_attr().GuidedGradCam(self.model, self.layer)
        return self._run(lambda: explainer.attribute(x, target=target, interpolate_mode=self.interpolate_mode))


class _Seeded(CaptumExplainer):
    batch_invariant = False

    def _seeded(self, seeds: torch.Tensor | None, fn):  # noqa: ANN001, ANN202
        # Captum draws from torch's and numpy's global generators: seed both, then put them back.
        seed = int(seeds[0]) % 2**32 if seeds is not None else 0
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        numpy_state = np.random.get_state()
        try:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(seed)
                np.random.seed(seed)
                return self._run(fn)
        finally:
            np.random.set_state(numpy_state)


class CaptumNoiseTunnel(_Seeded):
    """NoiseTunnel over Saliency (or another Captum gradient method); stdev is absolute, as Captum takes it."""

    channel_reduction = "sum"
    nt_type = "smoothgrad"
    BASES = {"saliency": "Saliency", "gradient_x_input": "InputXGradient", "guided_backprop": "GuidedBackprop"}

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, base: str = "saliency", samples: int = 25,
                 stdev: float = 0.5, samples_batch_size: int = 0) -> None:
        super().__init__(model, target_layer=None)
        if base not in self.BASES:
            raise ValueError(f"base must be one of {sorted(self.BASES)}, got {base!r}")
        if samples < 1 or stdev < 0 or samples_batch_size < 0:
            raise ValueError(f"need samples >= 1, stdev >= 0 and samples_batch_size >= 0, got {samples}, {stdev}, {samples_batch_size}")
        self.base, self.samples, self.stdev, self.samples_batch_size = base, samples, stdev, samples_batch_size

    def passes(self) -> dict[str, int]:
        """samples forward and backward passes."""
        return {"forward": self.samples, "backward": self.samples}

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        method = getattr(captum_attr(), self.BASES[self.base])(self.model)
        extra = {"abs": False} if self.base == "saliency" else {}
        tunnel = captum_attr().NoiseTunnel(method)
        return self._seeded(seeds, lambda: tunnel.attribute(x, nt_type=self.nt_type, nt_samples=self.samples, stdevs=self.stdev, target=target,
                                                            nt_samples_batch_size=self.samples_batch_size or None, **extra))


class CaptumSmoothGrad(CaptumNoiseTunnel):
    name, method, nt_type = "captum.smoothgrad", "smoothgrad", "smoothgrad"


class CaptumSmoothGradSquared(CaptumNoiseTunnel):
    name, method, nt_type = "captum.smoothgrad_sq", "smoothgrad_sq", "smoothgrad_sq"


class CaptumVarGrad(CaptumNoiseTunnel):
    name, method, nt_type = "captum.vargrad", "vargrad", "vargrad"


class CaptumGradientShap(_Seeded):
    """GradientShap with references drawn from input-independent kinds (zero, black)."""

    name, method, channel_reduction = "captum.gradient_shap", "gradient_shap", "sum"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, samples: int = 25, stdev: float = 0.0, references: str = "zero") -> None:
        super().__init__(model, target_layer=None)
        self.references = [r.strip() for r in references.split(",") if r.strip()]
        if not self.references or any(r not in ("zero", "black") for r in self.references):
            raise ValueError(f"Captum's GradientShap draws references independently of the input: use 'zero' and/or 'black', got {references!r}")
        if samples < 1 or stdev < 0:
            raise ValueError(f"need samples >= 1 and stdev >= 0, got {samples}, {stdev}")
        self.samples, self.stdev = samples, stdev

    def passes(self) -> dict[str, int]:
        """samples forward and backward passes."""
        return {"forward": self.samples, "backward": self.samples}

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        refs = torch.cat([reference_input(x[:1], kind, model=self.model) for kind in self.references])
        return self._seeded(seeds, lambda: captum_attr().GradientShap(self.model).attribute(x, baselines=refs, n_samples=self.samples, stdevs=self.stdev, target=target))


class _Conservative(CaptumExplainer):
    """Methods whose relevance must add up (DeepLift, LRP): a call that breaks that is 'not supported', not a map."""

    channel_reduction = "sum"
    tolerance = 0.05

    def _checked(self, x: torch.Tensor, target: torch.Tensor, attr: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
        total = attr.flatten(1).sum(1)
        error = (total - expected).abs() / expected.abs().clamp_min(1e-6)
        if not torch.isfinite(attr).all() or float(error.max()) > self.tolerance:
            raise NotSupported(f"{self.name} is not supported for {type(self.model).__name__}: relevance does not add up "
                               f"(relative error {float(error.max()):.3g} > {self.tolerance}); residual additions or reused modules break its rules")
        return attr


class CaptumDeepLift(_Conservative):
    """DeepLift (rescale rule) with a reference input; checked by its summation-to-delta property."""

    name, method = "captum.deeplift", "deeplift"

    def passes(self) -> dict[str, int]:
        """One forward and backward pass, plus 2 forward passes for the summation check."""
        return {"forward": 3, "backward": 1}

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, baseline: str = "zero") -> None:
        super().__init__(model, target_layer=None)
        self.baseline = baseline

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        base = reference_input(x, self.baseline, seeds=seeds, model=self.model)
        try:
            attr = self._run(lambda: captum_attr().DeepLift(self.model).attribute(x, baselines=base, target=target))
        except Exception as err:
            raise NotSupported(f"captum.deeplift is not supported for {type(self.model).__name__}: {type(err).__name__}: {err}") from err
        with torch.no_grad():
            ends = self.model(torch.cat([x, base])).gather(1, target.repeat(2).view(-1, 1)).squeeze(1)
        return self._checked(x, target, attr, ends[: len(x)] - ends[len(x):])


class CaptumLRP(_Conservative):
    """LRP with Captum's default rules; checked by conservation (relevance sums to the target logit)."""

    name, method = "captum.lrp", "lrp"

    def passes(self) -> dict[str, int]:
        """One forward and backward pass, plus 1 forward pass for the conservation check."""
        return {"forward": 2, "backward": 1}

    def __init__(self, model: nn.Module, *, target_layer: str | None = None) -> None:
        super().__init__(model, target_layer=None)

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        try:
            attr = self._run(lambda: captum_attr().LRP(self.model).attribute(x, target=target))
        except Exception as err:
            raise NotSupported(f"captum.lrp is not supported for {type(self.model).__name__}: {type(err).__name__}: {err}") from err
        with torch.no_grad():
            logits = self.model(x).gather(1, target.view(-1, 1)).squeeze(1)
        return self._checked(x, target, attr, logits)


class CaptumFeatureAblation(CaptumExplainer):
    """FeatureAblation over a grid of square cells (all channels of a cell together); perturbations_per_eval exposed."""

    name, method, channel_reduction = "captum.feature_ablation", "feature_ablation", "mean"

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, cell: int = 16, baseline: str = "zero", perturbations_per_eval: int = 32) -> None:
        super().__init__(model, target_layer=None)
        if cell < 1:
            raise ValueError(f"cell must be >= 1, got {cell}")
        self.cell, self.baseline, self.per_eval = cell, baseline, perturbations_per_eval
        self.cells: int | None = None

    def passes(self) -> dict[str, int]:
        """1 + (number of cells) forward passes (known after a call)."""
        return {"forward": 1 + (self.cells or 0), "backward": 0}

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        spatial = x.shape[2:]
        if any(self.cell > size for size in spatial):
            raise ValueError(f"cell {self.cell} is larger than the input ({'x'.join(map(str, spatial))})")
        self.cells = math.prod(math.ceil(size / self.cell) for size in spatial)
        ids = torch.zeros(spatial, dtype=torch.long, device=x.device)
        stride = 1
        for axis, size in reversed(list(enumerate(spatial))):
            index = torch.arange(size, device=x.device) // self.cell
            shape = [1] * len(spatial)
            shape[axis] = size
            ids = ids + index.view(shape) * stride
            stride *= math.ceil(size / self.cell)
        mask = ids.expand(x.shape[0], 1, *spatial)
        base = reference_input(x, self.baseline, seeds=seeds, model=self.model)
        return self._run(lambda: captum_attr().FeatureAblation(self.model).attribute(x, baselines=base, target=target, feature_mask=mask,
                                                                          perturbations_per_eval=self.per_eval))
