"""Speed (and peak memory) of in-house metrics next to Quantus and Captum on the demo model, one metric per group.

Run with `make benchmarks`; the default test run skips these (--benchmark-skip in pyproject's addopts).
Model: the demo suite's trained ResNet-18 (suites/synthetic-fundus.toml, cached by `make demo`) when its
checkpoint is present, else the seeded resnet18(num_classes=2) of conftest's `model` fixture; extra_info
and the report say which. Inputs: 4 images of the synthetic fundus test split (rendered in memory, the
same images `make demo` writes), explained for their label; maps are in-house Grad-CAM on layer4,
upsampled to 224x224. Within a group every implementation gets the same model, inputs, targets, map,
re-explanation function and parameters; where a library cannot take a parameter exactly, the group's
setup line says what it runs instead. Objects are built once per benchmark, outside the timed call.

The rows go to results/benchmarks/metrics-cpu.md (metrics-gpu.md on CUDA), this module's REPORT, with
each row's mean score (tests/benchmarks/report.py); the file is written when every case of this module ran. Each row reports its mean score on the benchmark's own parameters and noise draws;
they agree up to the differences the setup lines state (where the definitions coincide exactly, with
a tie-free map and shared noise, the values are identical to float precision).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bench.models.preprocessing import PRESETS, Preprocessing
from tests.benchmarks.report import Report, timed

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

INHOUSE, QUANTUS, CAPTUM = "in-house", "quantus", "captum"
SUITE = "suites/synthetic-fundus.toml"
# The demo model's preprocessing: ImageNet statistics on 8-bit RGB.
IMAGENET = Preprocessing(channels=3, rank=2, scale=255.0, mean=PRESETS["imagenet"][0], std=PRESETS["imagenet"][1], name="imagenet")
BATCH, SIDE = 4, 224
STEPS = 100  # deletion / insertion steps (the published default)
RADIUS, SAMPLES = 0.02, 10  # max_sensitivity (the published default)
# Quantus asserts H*W % features_in_step == 0 (features are channel x pixel, 3*224*224 of them); 100 steps would need
# 1505.28 features per step and no divisor of 224*224 gives exactly 100 steps. 1568 = 224*224/32 gives 96 steps.
QUANTUS_FEATURES = 1568
QUANTUS_STEPS = math.ceil(3 * SIDE * SIDE / QUANTUS_FEATURES)
CURVE_ROUNDS, SENSITIVITY_ROUNDS, POINTING_ROUNDS = 3, 5, 20
TOLERANCE = 15  # pointing game: pixels around the mask that still count as a hit (the glaucoma thesis's 15 px)


@dataclass
class Demo:
    """Everything a group shares: model, inputs (N,3,224,224), targets, Grad-CAM maps (N,224,224), the re-explainer."""

    model: nn.Module
    model_note: str
    x: torch.Tensor
    target: torch.Tensor
    maps: torch.Tensor
    explain: Callable[..., torch.Tensor]
    seeds: torch.Tensor
    masks: torch.Tensor

    def context(self, *, explain: bool = False):
        """A fresh MetricContext (no cached scores carried over between rounds)."""
        from bench.metrics import MetricContext

        return MetricContext(maps=self.maps, x=self.x, target=self.target, model=self.model, seed=0, seeds=self.seeds, masks=self.masks,
                             explain=self.explain if explain else None, pixel_mean=IMAGENET.mean, pixel_std=IMAGENET.std)

    def numpy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, y, a) as Quantus takes them: float32 (N,3,H,W), int (N,), float32 (N,1,H,W)."""
        return self.x.cpu().numpy(), self.target.cpu().numpy(), self.maps.unsqueeze(1).cpu().numpy()

    def base_scores(self) -> np.ndarray:
        """p_c(x) per sample."""
        with torch.no_grad():
            return torch.softmax(self.model(self.x), 1).gather(1, self.target.view(-1, 1)).squeeze(1).double().cpu().numpy()


Build = Callable[[Demo], contextlib.AbstractContextManager[Callable[[], object]]]
Score = Callable[[object, Demo], np.ndarray]


@dataclass(frozen=True)
class Case:
    metric: str
    impl: str
    build: Build
    score: Score
    rounds: int
    setup: str = ""

    @property
    def id(self) -> str:
        return f"{self.metric}-{self.impl}".replace(" ", "_").replace("(", "").replace(")", "").replace("=", "")


# --- the model and the inputs --------------------------------------------------------------------------


def demo_checkpoint(root: Path) -> tuple[nn.Module | None, str]:
    """The demo suite's trained model when `make demo` has cached it (data set and checkpoint), else (None, why not)."""
    from bench.core.config import load_suite
    from bench.data.suite_data import prepare_data, synthetic_spec
    from bench.data.synthetic import STAMP
    from bench.models.model_store import cache_dir, training_fingerprint
    from bench.models.training import CARD, load_trained

    with contextlib.chdir(root):  # the suite's paths and the model cache are relative to the repository root
        cfg = load_suite(SUITE)
        stamp = Path(cfg.data.root) / STAMP
        # prepare_data generates the set when it is missing: only call it when the stamped set is already there.
        if not stamp.is_file() or f'"{synthetic_spec(cfg).fingerprint()}"' not in stamp.read_text():
            return None, f"no demo data set at {cfg.data.root}"
        spec = cfg.models[0]
        directory = cache_dir() / "models" / f"{spec.entry or spec.name}-{training_fingerprint(spec, prepare_data(cfg))}"
        if not (directory / CARD).is_file():
            return None, f"no demo checkpoint in {directory}"
        model, card = load_trained(directory)
    test = card.get("splits", {}).get("test", {})
    accuracy = f", test accuracy {test['accuracy']:.3f}" if "accuracy" in test else ""
    return model.eval(), f"demo checkpoint {directory / card['checkpoint']} (ResNet-18, 2 classes{accuracy})"


def fundus_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first two health and glaucoma images of the synthetic test split (seed 0, 224 px), normalised, their labels and disc masks."""
    from bench.data.synthetic import LABELS, SyntheticSpec, _image_rng, render_fundus

    spec = SyntheticSpec(image_size=SIDE, seed=0)
    images, labels, masks = [], [], []
    for i in range(BATCH):
        label = LABELS[i % 2]
        image, disc, _, _ = render_fundus(_image_rng(spec.seed, "test", label, i // 2), label, spec)
        images.append(torch.from_numpy(np.array(image)).permute(2, 0, 1))
        labels.append(LABELS.index(label))
        masks.append(torch.from_numpy(disc))
    return IMAGENET.normalise(torch.stack(images)), torch.tensor(labels), torch.stack(masks)


@pytest.fixture(scope="module")
def checkpoint(request: pytest.FixtureRequest) -> tuple[nn.Module | None, str]:
    return demo_checkpoint(Path(request.config.rootpath))


@pytest.fixture
def demo(checkpoint: tuple[nn.Module | None, str], request: pytest.FixtureRequest, device: torch.device) -> Iterator[Demo]:
    """The demo model (or conftest's seeded fallback), the fundus batch, its Grad-CAM maps and the re-explainer."""
    from bench.core import registry
    from bench.core.explainer import canonicalize

    trained, why = checkpoint
    if trained is not None:
        model, note = trained.to(device).eval(), why
    else:
        model = request.getfixturevalue("model")
        note = f"seeded torchvision resnet18(num_classes=2), torch.manual_seed(0) ({why}; `make demo` caches the trained one)"
    x, target, masks = (t.to(device) for t in fundus_batch())
    with registry.get("inhouse.gradcam")(model, target_layer="layer4") as explainer:

        def explain(inputs: torch.Tensor, targets: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
            """What the runner passes as MetricContext.explain: the adapter's map, canonical (N,224,224)."""
            raw = explainer.attribute(inputs, targets, seeds=seeds)
            return canonicalize(raw, spatial=tuple(inputs.shape[2:]), channel_reduction=explainer.channel_reduction).to(inputs.device)

        yield Demo(model, note, x, target, explain(x, target), explain, torch.arange(BATCH, device=device) + 100, masks)
    model.zero_grad(set_to_none=True)


# --- how each implementation is called --------------------------------------------------------------------


def inhouse(metric: str) -> Build:
    @contextlib.contextmanager
    def build(demo: Demo) -> Iterator[Callable[[], object]]:
        from bench.metrics.faithfulness import DeletionAUC, InsertionAUC
        from bench.metrics.localisation import PointingGame
        from bench.metrics.robustness import MaxSensitivity

        if metric == "pointing_game":
            instance = PointingGame(tolerance=TOLERANCE)
            yield lambda: instance(demo.context())
        elif metric == "max_sensitivity":
            instance = MaxSensitivity(radius=RADIUS, samples=SAMPLES)
            yield lambda: instance(demo.context(explain=True))
        else:
            instance = {"deletion_auc": DeletionAUC, "insertion_auc": InsertionAUC}[metric](steps=STEPS)
            yield lambda: instance(demo.context())

    return build


@contextlib.contextmanager
def quantus_pixel_flipping(demo: Demo) -> Iterator[Callable[[], object]]:
    """Pixel-flipping in order of the map towards 0 (= our zero baseline), QUANTUS_FEATURES features per step; returns the curves.

    return_auc_per_sample=True would crash here: Quantus 0.6 integrates with np.trapz, which NumPy 2.4 removed.
    """
    import quantus

    metric = quantus.PixelFlipping(features_in_step=QUANTUS_FEATURES, perturb_baseline=0.0, normalise=False, abs=False,
                                   return_auc_per_sample=False, disable_warnings=True, display_progressbar=False)
    x, y, a = demo.numpy()
    yield lambda: metric(model=demo.model, x_batch=x, y_batch=y, a_batch=a, device=str(demo.x.device))


def quantus_explain(demo: Demo) -> Callable[..., np.ndarray]:
    """Quantus's explain_func signature around the shared re-explainer: numpy in (float64 after its noise), numpy (N,1,H,W) out."""

    def explain_func(model: nn.Module, inputs: np.ndarray, targets: np.ndarray, **kwargs: object) -> np.ndarray:
        x = torch.as_tensor(inputs, dtype=torch.float32, device=demo.x.device)
        return demo.explain(x, torch.as_tensor(targets, device=demo.x.device)).unsqueeze(1).cpu().numpy()

    return explain_func


@contextlib.contextmanager
def quantus_max_sensitivity(demo: Demo) -> Iterator[Callable[[], object]]:
    import quantus

    metric = quantus.MaxSensitivity(nr_samples=SAMPLES, lower_bound=RADIUS, upper_bound=None, normalise=False, abs=False,
                                    return_nan_when_prediction_changes=False, disable_warnings=True, display_progressbar=False)
    x, y, a = demo.numpy()
    explain_func = quantus_explain(demo)
    yield lambda: metric(model=demo.model, x_batch=x, y_batch=y, a_batch=a, device=str(demo.x.device), explain_func=explain_func)


def captum_sensitivity(max_examples_per_batch: int | None) -> Build:
    @contextlib.contextmanager
    def build(demo: Demo) -> Iterator[Callable[[], object]]:
        from captum.metrics import sensitivity_max

        def explanation_func(inputs: torch.Tensor | tuple[torch.Tensor, ...], target: torch.Tensor) -> tuple[torch.Tensor]:
            # Captum passes a tuple for the original inputs and a bare tensor for the perturbed ones, calls this
            # under no_grad, and expects a tuple back.
            x = inputs[0] if isinstance(inputs, tuple) else inputs
            with torch.enable_grad():
                return (demo.explain(x, target),)

        yield lambda: sensitivity_max(explanation_func, demo.x, perturb_radius=RADIUS, n_perturb_samples=SAMPLES, norm_ord="fro",
                                      max_examples_per_batch=max_examples_per_batch, target=demo.target)

    return build


@contextlib.contextmanager
def dilation_pointing_game(demo: Demo) -> Iterator[Callable[[], object]]:
    """The pointing game as bench computed it before: dilate the mask by a disc (a 31x31 convolution), look up the top pixel."""
    from bench.metrics.maps import flat, rank_order

    axis = torch.arange(-TOLERANCE, TOLERANCE + 1, device=demo.x.device, dtype=torch.float32)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    disc = ((yy**2 + xx**2) <= TOLERANCE**2).float()[None, None]

    def call() -> torch.Tensor:
        dilated = nn.functional.conv2d(demo.masks.float().unsqueeze(1), disc, padding=TOLERANCE).squeeze(1) > 0
        top = rank_order(demo.maps, 0)[:, 0]
        return flat(dilated).gather(1, top.view(-1, 1)).squeeze(1).double()

    yield call


# --- scores per sample, in the in-house definition, for the report's value column ------------------------


def _tensor_scores(result: object, demo: Demo) -> np.ndarray:
    return torch.as_tensor(result).double().cpu().numpy()


def _quantus_curve_auc(result: object, demo: Demo) -> np.ndarray:
    """Quantus's curves (without p(x)) completed with p(x) and integrated as ours: trapezoid over x in [0, 1]."""
    curves = np.asarray(result, dtype=np.float64)
    full = np.concatenate([demo.base_scores()[:, None], curves], axis=1)
    return np.trapezoid(full, axis=1) / curves.shape[1]


def _array_scores(result: object, demo: Demo) -> np.ndarray:
    return np.asarray(result, dtype=np.float64).reshape(-1)


# --- the cases --------------------------------------------------------------------------------------------


def _cases() -> list[Case]:
    from bench.utils.chunking import chunk_size

    example = torch.empty(BATCH, 3, SIDE, SIDE)
    forward_chunk = chunk_size(example, 0.0)
    backward_chunk = max(BATCH, chunk_size(example, 0.0, backward=True))
    deletion_note = (
        f"steps={STEPS}, zero baseline (0 in the model's normalised space), softmax probability of the label class. In-house: "
        f"{BATCH}x{STEPS + 1} perturbed inputs (the curve starts at p(x)) in forward chunks of {forward_chunk} (CPU auto budget). "
        f"Quantus PixelFlipping: perturb_baseline=0.0, normalise=False, abs=False, features_in_step={QUANTUS_FEATURES} "
        f"({QUANTUS_STEPS} steps: Quantus requires features_in_step to divide {SIDE}*{SIDE}, so 100 steps are impossible; its "
        f"features are channel x pixel, so a step may cut a pixel's channels), {QUANTUS_STEPS} forwards of the batch of {BATCH}; "
        "it returns the curves (return_auc_per_sample=True calls np.trapz, removed in NumPy 2.4). Value column: Quantus's "
        "curve completed with p(x) and integrated like ours. With a tie-free map and 1568 pixels per step the curves are identical.")
    insertion_note = (
        f"steps={STEPS}, start from the blurred image (Gaussian k=11, sigma=5), put pixels back in order of the map. No counterpart "
        "in Quantus or Captum (Quantus's PixelFlipping is deletion only); its cost equals deletion's (same forward passes plus one blur).")
    sensitivity_note = (
        f"radius {RADIUS}, {SAMPLES} draws of uniform noise in [-{RADIUS}, {RADIUS}] per image, max over draws of "
        "||map(x+d) - map(x)||_F / ||map(x)||_F, the same in-house Grad-CAM re-explainer (canonical 224x224 maps) for all. "
        f"In-house: re-explains in chunks of {backward_chunk} image(s) (at least the batch size, else the auto budget with backward). Quantus MaxSensitivity: "
        f"nr_samples={SAMPLES}, lower_bound={RADIUS}, upper_bound=None (uniform in [-{RADIUS}, {RADIUS}]), Frobenius norms "
        "(its defaults), normalise=False, abs=False, return_nan_when_prediction_changes=False; re-explains the batch of "
        f"{BATCH} once per draw, numpy in between (float64 after its noise, cast back to float32). Captum sensitivity_max: "
        f"n_perturb_samples={SAMPLES}, perturb_radius={RADIUS}, norm_ord='fro'; it also re-explains the unperturbed batch "
        f"itself ({BATCH * (SAMPLES + 1)} explanations against {BATCH * SAMPLES}); once at its default (all "
        f"{BATCH * SAMPLES} perturbed images in one call) and once with max_examples_per_batch={BATCH} (its smallest: one "
        "draw of the batch per call). Noise differs between implementations (each its own RNG); on shared noise the "
        "three agree to float precision.")
    pointing_note = (
        f"tolerance {TOLERANCE} px: a hit when the map's maximum lies within {TOLERANCE} px (Euclidean) of the disc mask. In-house: "
        "squared distances from the top pixel to every pixel, O(pixels) per image. Reference row: the mask dilated by a disc of "
        f"radius {TOLERANCE} (a {2 * TOLERANCE + 1}x{2 * TOLERANCE + 1} convolution, as bench did before), then looked up at the top "
        "pixel; the values are identical.")
    return [
        Case("pointing_game", INHOUSE, inhouse("pointing_game"), _tensor_scores, POINTING_ROUNDS, pointing_note),
        Case("pointing_game", "disc dilation by convolution (bench before)", dilation_pointing_game, _tensor_scores, POINTING_ROUNDS),
        Case("deletion_auc", INHOUSE, inhouse("deletion_auc"), _tensor_scores, CURVE_ROUNDS, deletion_note),
        Case("deletion_auc", f"{QUANTUS} PixelFlipping", quantus_pixel_flipping, _quantus_curve_auc, CURVE_ROUNDS),
        Case("insertion_auc", INHOUSE, inhouse("insertion_auc"), _tensor_scores, CURVE_ROUNDS, insertion_note),
        Case("max_sensitivity", INHOUSE, inhouse("max_sensitivity"), _tensor_scores, SENSITIVITY_ROUNDS, sensitivity_note),
        Case("max_sensitivity", f"{QUANTUS} MaxSensitivity", quantus_max_sensitivity, _array_scores, SENSITIVITY_ROUNDS),
        Case("max_sensitivity", f"{CAPTUM} sensitivity_max (default batch)", captum_sensitivity(None), _tensor_scores, SENSITIVITY_ROUNDS),
        Case("max_sensitivity", f"{CAPTUM} sensitivity_max (max_examples_per_batch={BATCH})", captum_sensitivity(BATCH), _tensor_scores,
             SENSITIVITY_ROUNDS),
    ]


CASES = _cases()


def _notes(rows: list[dict]) -> list[str]:
    return [
        f"- Model: {'; '.join(sorted({r['model'] for r in rows}))}; eval mode.",
        (f"- Inputs: {BATCH} synthetic fundus images of the test split (2 health, 2 glaucoma), {SIDE}x{SIDE}, ImageNet-normalised, "
         "explained for their label; maps: in-house Grad-CAM on layer4, bilinearly upsampled to the input. Same model, inputs, "
         "targets, maps and re-explainer for every implementation of a metric."),
        ("- median ms: median wall time of one metric call on the batch over the timed rounds (after 1 warm-up round). peak MiB: "
         "bench.utils.measure.peak_memory_mib of one further call. mean value: the metric's mean over the batch in the in-house "
         "definition (for a sanity check of what was timed; random noise differs between implementations)."),
        ("- Ratios are third-party / in-house: above 1 the in-house implementation is faster (time) or smaller (peak). The time "
         "ratio of minimums is less sensitive to other processes competing for the CPU."),
        (f"- load: the 1-minute load average when the benchmark finished; the benchmark itself contributes about "
         f"{torch.get_num_threads()} (torch threads), clearly more means other processes shared the cores."),
    ]


REPORT = Report(stem="metrics-", group="metric", title="Speed benchmarks: in-house metrics vs Quantus and Captum",
                source="tests/benchmarks/test_metric_speed.py", packages=("quantus", "captum", "numpy", "pytest-benchmark"), notes=_notes,
                value_column=True)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_metric_speed(case: Case, benchmark, demo: Demo, device: torch.device, device_name: str) -> None:
    benchmark.group = case.metric
    benchmark.extra_info.update(metric=case.metric, implementation=case.impl, reference=case.impl == INHOUSE, input=f"{BATCH}x3x{SIDE}x{SIDE}",
                                setup=case.setup, device=device_name, device_type=device.type, model=demo.model_note)
    with case.build(demo) as fn:
        result = timed(benchmark, fn, device=device, rounds=case.rounds, model=demo.model)
    values = case.score(result, demo)
    benchmark.extra_info["value"] = float(values.mean())
    benchmark.extra_info["values"] = [round(float(v), 6) for v in values]
    assert values.shape == (BATCH,) and np.isfinite(values).all()
