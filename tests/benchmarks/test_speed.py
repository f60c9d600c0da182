"""Speed (and peak memory) of in-house explainers next to Captum, pytorch-grad-cam and TorchCAM, one method per group.

Run with `make benchmarks`; the default test run skips these (--benchmark-skip in pyproject's addopts).
Within a group every implementation gets the same model, inputs, targets and method parameters. Batch-size
knobs of the libraries are set to what the in-house code processes per chunk under its memory budget,
unless a row says it runs the library's default. Objects are built once per benchmark, outside the timed
call, and released after it (pytorch-grad-cam's hooks included). Cheap methods run a batch of 4 at
224x224; methods that need many forward passes run smaller inputs so that one call takes seconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from bench.utils.chunking import AUTO_BUDGET_MIB, chunk_size
from tests.benchmarks.report import Report, timed

pytestmark = [
    pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients:UserWarning"),
    pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations:UserWarning"),
]

INHOUSE, CAPTUM, GRAD_CAM, TORCHCAM = "in-house", "captum", "pytorch-grad-cam", "torchcam"
# The in-house automatic memory budget on the benchmark's device, passed explicitly; library batch sizes derive from it.
BUDGET_MIB = AUTO_BUDGET_MIB["cuda" if torch.cuda.is_available() else "cpu"]
LARGE, SMALL = (4, 224), (2, 112)  # (batch, side) for one-pass methods and for many-pass methods
IG_STEPS, SHAP_SAMPLES, SMOOTH_SAMPLES, NOISE_LEVEL = 32, 16, 8, 0.15
OCC_WINDOW, OCC_STRIDE = 32, 16

Build = Callable[[nn.Module, torch.Tensor, torch.Tensor], contextlib.AbstractContextManager[Callable[[], object]]]


def _items_per_chunk(batch: int, side: int, *, backward: bool = False) -> int:
    """How many perturbed or interpolated inputs the in-house code sends through the model at once."""
    return chunk_size(torch.empty(batch, 3, side, side), BUDGET_MIB, backward=backward)


@dataclass(frozen=True)
class Case:
    method: str
    impl: str
    build: Build
    size: tuple[int, int]
    rounds: int
    setup: str = ""

    @property
    def id(self) -> str:
        return f"{self.method}-{self.impl}".replace(" ", "_").replace("(", "").replace(")", "").replace("=", "")


def inputs(batch: int, side: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded standard-normal images and alternating targets 0, 1, 0, ... (a LongTensor)."""
    x = torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(1))
    return x.to(device), (torch.arange(batch) % 2).to(device)


# --- how each library is called -------------------------------------------------------------------------


def inhouse(name: str, **params: object) -> Build:
    @contextlib.contextmanager
    def build(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> Iterator[Callable[[], object]]:
        from bench.core import registry

        with registry.get(name)(model, **params) as explainer:
            yield lambda: explainer.attribute(x, target)

    return build


def grad_cam(cls_name: str, **attributes: object) -> Build:
    """A pytorch-grad-cam CAM on model.layer4; its hooks are released when the benchmark ends."""

    @contextlib.contextmanager
    def build(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> Iterator[Callable[[], object]]:
        import pytorch_grad_cam
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        cam = getattr(pytorch_grad_cam, cls_name)(model=model, target_layers=[model.layer4])
        for key, value in attributes.items():
            setattr(cam, key, value)
        try:
            yield lambda: cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in target])
        finally:
            cam.activations_and_grads.release()

    return build


def torchcam(cls_name: str, **options: object) -> Build:
    """A TorchCAM extractor on model.layer4, its map taken before the library's min-max step; hooks removed at the end."""

    @contextlib.contextmanager
    def build(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> Iterator[Callable[[], object]]:
        import torchcam.methods

        cam = getattr(torchcam.methods, cls_name)(model, target_layer="layer4", **options)
        gradients = cls_name not in ("CAM", "ScoreCAM", "SSCAM", "ISCAM")

        def call() -> torch.Tensor:
            with torch.set_grad_enabled(gradients):
                scores = model(x)
            maps = cam(class_idx=target.tolist(), scores=scores, normalized=False)[0].detach()
            cam.reset_hooks()
            return maps

        try:
            yield call
        finally:
            cam.remove_hooks()

    return build


def captum(make: Callable[[nn.Module, torch.Tensor, torch.Tensor], Callable[[], torch.Tensor]]) -> Build:
    """A Captum call; make builds the attribution object and returns the call, whose result is detached."""

    @contextlib.contextmanager
    def build(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> Iterator[Callable[[], object]]:
        call = make(model, x, target)
        yield lambda: call().detach()

    return build


def _captum_gradcam(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> Callable[[], torch.Tensor]:
    from captum.attr import LayerGradCam

    explainer = LayerGradCam(model, model.layer4)
    return lambda: explainer.attribute(x, target=target, relu_attributions=True)


def _captum_plain(cls_name: str) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], Callable[[], torch.Tensor]]:
    def make(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> Callable[[], torch.Tensor]:
        import captum.attr

        explainer = getattr(captum.attr, cls_name)(model)
        return lambda: explainer.attribute(x, target=target)

    return make


def _captum_ig(rule: str) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], Callable[[], torch.Tensor]]:
    def make(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> Callable[[], torch.Tensor]:
        from captum.attr import IntegratedGradients

        explainer = IntegratedGradients(model)
        per_chunk = min(chunk_size(x, BUDGET_MIB, backward=True), x.shape[0] * IG_STEPS)
        baselines = torch.zeros_like(x)
        return lambda: explainer.attribute(x, baselines=baselines, target=target, n_steps=IG_STEPS, method=rule, internal_batch_size=per_chunk)

    return make


def _occlusion_positions(side: int) -> int:
    return ((side - OCC_WINDOW) // OCC_STRIDE + 1) ** 2


def _captum_occlusion(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> Callable[[], torch.Tensor]:
    from captum.attr import Occlusion

    explainer = Occlusion(model)
    n, positions = x.shape[0], _occlusion_positions(x.shape[-1])
    # Captum's forward batch is n * perturbations_per_eval; match the in-house chunk (n * positions at most).
    per_eval = max(1, min(chunk_size(x, BUDGET_MIB), n * positions) // n)
    return lambda: explainer.attribute(x, sliding_window_shapes=(3, OCC_WINDOW, OCC_WINDOW), strides=(3, OCC_STRIDE, OCC_STRIDE),
                                       baselines=0, target=target, perturbations_per_eval=per_eval)


def _captum_gradient_shap(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> Callable[[], torch.Tensor]:
    from captum.attr import GradientShap

    explainer = GradientShap(model)
    baselines = torch.zeros_like(x[:1])
    return lambda: explainer.attribute(x, baselines=baselines, n_samples=SHAP_SAMPLES, stdevs=0.0, target=target)


def _captum_smoothgrad(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> Callable[[], torch.Tensor]:
    from captum.attr import NoiseTunnel, Saliency

    explainer = NoiseTunnel(Saliency(model))
    # In-house sigma is noise_level * (max - min) per sample; Captum takes one stdev (same cost either way).
    sigma = float(NOISE_LEVEL * (x.flatten(1).amax(1) - x.flatten(1).amin(1)).mean())
    per_batch = max(1, min(chunk_size(x, BUDGET_MIB, backward=True), x.shape[0] * SMOOTH_SAMPLES) // x.shape[0])
    return lambda: explainer.attribute(x, nt_type="smoothgrad", nt_samples=SMOOTH_SAMPLES, stdevs=sigma,
                                       nt_samples_batch_size=per_batch, target=target)


# --- the cases --------------------------------------------------------------------------------------------

_SCORE_CHUNK = _items_per_chunk(1, 224)
_LAYER_CAMS = [
    ("gradcam++", "inhouse.gradcam++", "GradCAMPlusPlus", {}),
    ("xgradcam", "inhouse.xgradcam", "XGradCAM", {}),
    ("layercam", "inhouse.layercam", "LayerCAM", {}),
    ("hirescam", "inhouse.hirescam", "HiResCAM", {}),
    ("eigencam", "inhouse.eigencam", "EigenCAM", {"center": True}),
]
# The CAMs TorchCAM shares with the in-house ones, by its class name (Grad-CAM is in the first group of cases).
_TORCHCAM = {"gradcam": "GradCAM", "gradcam++": "GradCAMpp", "xgradcam": "XGradCAM", "layercam": "LayerCAM"}
_CAM_NOTE = ("target layer layer4. pytorch-grad-cam always returns the map upsampled to the input and min-max scaled "
             "(numpy) and back-propagates through the whole network; the in-house map stays at layer resolution. TorchCAM: "
             "normalized=False (the map at layer resolution), gradients by torch.autograd.grad to the layer.")


def _cases() -> list[Case]:
    cases = [
        Case("gradcam", INHOUSE, inhouse("inhouse.gradcam", target_layer="layer4"), LARGE, 5, _CAM_NOTE + " Captum: LayerGradCam, relu_attributions=True."),
        Case("gradcam", CAPTUM, captum(_captum_gradcam), LARGE, 5),
        Case("gradcam", GRAD_CAM, grad_cam("GradCAM"), LARGE, 5),
        Case("gradcam", TORCHCAM, torchcam("GradCAM"), LARGE, 5),
    ]
    for method, name, cls_name, params in _LAYER_CAMS:
        note = _CAM_NOTE + (" In-house center=True (pytorch-grad-cam centres the activations)." if method == "eigencam" else "")
        cases += [Case(method, INHOUSE, inhouse(name, target_layer="layer4", **params), LARGE, 5, note),
                  Case(method, GRAD_CAM, grad_cam(cls_name), LARGE, 5)]
        if method in _TORCHCAM:
            cases.append(Case(method, TORCHCAM, torchcam(_TORCHCAM[method]), LARGE, 5))
    cases += [
        Case("scorecam", INHOUSE, inhouse("inhouse.scorecam", target_layer="layer4", weights="channel_softmax", memory_budget_mib=BUDGET_MIB),
             (1, 224), 2,
             f"target layer layer4, in-house weights='channel_softmax' (pytorch-grad-cam's variant). In-house skips constant channels and "
             f"runs {_SCORE_CHUNK} masked inputs per forward (memory_budget_mib={BUDGET_MIB:g}); pytorch-grad-cam runs every channel, "
             f"once at its default batch_size 16 and once at batch_size={_SCORE_CHUNK}."),
        Case("scorecam", f"{GRAD_CAM} (batch_size=16)", grad_cam("ScoreCAM", batch_size=16), (1, 224), 2),
        Case("scorecam", f"{GRAD_CAM} (batch_size={_SCORE_CHUNK})", grad_cam("ScoreCAM", batch_size=_SCORE_CHUNK), (1, 224), 2),
        Case("scorecam", f"{TORCHCAM} (batch_size={_SCORE_CHUNK})", torchcam("ScoreCAM", batch_size=_SCORE_CHUNK), (1, 224), 2),
        Case("ablationcam", INHOUSE, inhouse("inhouse.ablationcam", target_layer="layer4", memory_budget_mib=BUDGET_MIB), (1, 112), 2,
             "target layer layer4. In-house feeds the ablated activations to the layers after layer4 only; pytorch-grad-cam "
             "(default batch_size 32) reruns layers 1-3 for every batch of ablated channels."),
        Case("ablationcam", f"{GRAD_CAM} (batch_size=32)", grad_cam("AblationCAM"), (1, 112), 2),
    ]
    ig_items = min(_items_per_chunk(*SMALL, backward=True), SMALL[0] * IG_STEPS)
    for rule in ("riemann_trapezoid", "gausslegendre"):
        method = f"integrated_gradients ({rule})"
        cases += [
            Case(method, INHOUSE, inhouse("inhouse.integrated_gradients", steps=IG_STEPS, rule=rule, baseline="zero", memory_budget_mib=BUDGET_MIB),
                 SMALL, 3, f"steps={IG_STEPS}, rule={rule}, zero baseline; Captum internal_batch_size={ig_items} = in-house items per chunk. "
                 "In-house also runs 2 forward passes for its completeness check."),
            Case(method, CAPTUM, captum(_captum_ig(rule)), SMALL, 3),
        ]
    positions = _occlusion_positions(SMALL[1])
    occ_per_eval = max(1, min(_items_per_chunk(*SMALL), SMALL[0] * positions) // SMALL[0])
    cases += [
        Case("occlusion", INHOUSE, inhouse("inhouse.occlusion", window=OCC_WINDOW, stride=OCC_STRIDE, baseline="zero", memory_budget_mib=BUDGET_MIB),
             SMALL, 3, f"window {OCC_WINDOW}, stride {OCC_STRIDE}, zero baseline, {positions} window positions per image; "
             f"Captum sliding_window_shapes=(3,{OCC_WINDOW},{OCC_WINDOW}), strides=(3,{OCC_STRIDE},{OCC_STRIDE}), "
             f"perturbations_per_eval={occ_per_eval} (forward batch {SMALL[0] * occ_per_eval}, as the in-house chunk)."),
        Case("occlusion", CAPTUM, captum(_captum_occlusion), SMALL, 3),
        Case("saliency", INHOUSE, inhouse("inhouse.saliency"), LARGE, 5, "absolute input gradient (Captum's default abs=True)."),
        Case("saliency", CAPTUM, captum(_captum_plain("Saliency")), LARGE, 5),
        Case("gradient_x_input", INHOUSE, inhouse("inhouse.gradient_x_input"), LARGE, 5, "Captum: InputXGradient."),
        Case("gradient_x_input", CAPTUM, captum(_captum_plain("InputXGradient")), LARGE, 5),
        Case("guided_backprop", INHOUSE, inhouse("inhouse.guided_backprop"), LARGE, 5,
             "in-house swaps every ReLU call through a torch function mode; Captum hooks the nn.ReLU modules."),
        Case("guided_backprop", CAPTUM, captum(_captum_plain("GuidedBackprop")), LARGE, 5),
        Case("gradient_shap", INHOUSE, inhouse("inhouse.gradient_shap", samples=SHAP_SAMPLES, stdev=0.0, references="zero", memory_budget_mib=BUDGET_MIB),
             SMALL, 3, f"{SHAP_SAMPLES} samples per image, stdev 0, zero reference only (Captum baselines = one zero image); "
             f"all {SMALL[0] * SHAP_SAMPLES} interpolated inputs in one pass in both."),
        Case("gradient_shap", CAPTUM, captum(_captum_gradient_shap), SMALL, 3),
        Case("smoothgrad", INHOUSE, inhouse("inhouse.smoothgrad", base="inhouse.saliency", samples=SMOOTH_SAMPLES, noise_level=NOISE_LEVEL,
                                             memory_budget_mib=BUDGET_MIB),
             SMALL, 3, f"Saliency under a noise tunnel, {SMOOTH_SAMPLES} samples, noise level {NOISE_LEVEL} of the value range "
             "(Captum: NoiseTunnel(Saliency), nt_type='smoothgrad', one stdev for the batch)."),
        Case("smoothgrad", CAPTUM, captum(_captum_smoothgrad), SMALL, 3),
    ]
    return cases


CASES = _cases()


def _notes(rows: list[dict]) -> list[str]:
    return [
        ("- Model: torchvision resnet18(num_classes=2), torch.manual_seed(0), eval mode; same inputs, targets and parameters for every "
         "implementation of a method."),
        ("- median ms: median wall time of one attribute call over the timed rounds (after 1 warm-up round). peak MiB: "
         "bench.utils.measure.peak_memory_mib of one further call (CPU: rise of VmHWM over the resident size before the call; "
         "CUDA: max_memory_allocated above the allocation before it)."),
        ("- Ratios are third-party / in-house: above 1 the in-house implementation is faster (time) or smaller (peak), "
         "below 1 it is slower or larger. The time ratio is the ratio of medians; the ratio of minimums is given too, as "
         "it is less sensitive to other processes competing for the CPU."),
        ("- load: the 1-minute load average when the benchmark finished. The benchmark itself contributes about "
         f"{torch.get_num_threads()} (torch threads); clearly more than that means other processes shared the cores and "
         "the timings of that row are inflated (OpenMP threads suffer badly from oversubscription)."),
    ]


REPORT = Report(stem="", group="method", title="Speed benchmarks: in-house vs Captum, pytorch-grad-cam and TorchCAM",
                source="tests/benchmarks/test_speed.py", packages=("torchvision", "captum", "grad-cam", "torchcam", "pytest-benchmark"),
                notes=_notes)


@pytest.fixture(autouse=True)
def _no_progress_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytorch-grad-cam's Score-CAM and Ablation-CAM wrap their batch loops in tqdm bars; time the loops alone."""
    import pytorch_grad_cam.ablation_cam
    import pytorch_grad_cam.score_cam

    quiet = SimpleNamespace(tqdm=lambda iterable, *args, **kwargs: iterable)
    for module in (pytorch_grad_cam.score_cam, pytorch_grad_cam.ablation_cam):
        monkeypatch.setattr(module, "tqdm", quiet)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_speed(case: Case, benchmark, model: nn.Module, device: torch.device, device_name: str) -> None:
    batch, side = case.size
    x, target = inputs(batch, side, device)
    benchmark.group = case.method
    benchmark.extra_info.update(method=case.method, implementation=case.impl, reference=case.impl == INHOUSE, input=f"{batch}x3x{side}x{side}",
                                setup=case.setup, device=device_name, device_type=device.type)
    with case.build(model, x, target) as fn:
        result = timed(benchmark, fn, device=device, rounds=case.rounds, model=model)
    assert len(result) == batch
