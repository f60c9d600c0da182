"""Checking a suite before any work: every method built and called once on a small probe model, each model's layer
and weights checked against its architecture, and a folder data set discovered, so that bad values fail in seconds."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import torch
from torch import nn

from bench.core import registry
from bench.core.config import CARD, ModelConfig, SuiteConfig, SuiteProblems, collect_suite, read_suite
from bench.core.errors import DataError
from bench.core.explainer import NotSupported, canonicalize
from bench.core.probe_cache import passed_before, remember_pass
from bench.data.layout import SPLITS, discover
from bench.data.suite_data import Layout, declared_layout
from bench.models.builders import ModelSpec, build_model
from bench.models.layers import LayerError, resolve_layer
from bench.models.surgery import classifier_head

PROBE_LAYER = "features.4"
# The probe's input size when data.image_size is itself in error, so that the methods are still probed.
FALLBACK_SIZE = 224


_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}


class ProbeNet(nn.Module):
    """The smallest CNN every adapter explains: a strided convolution, two more, global average pooling, a linear head.

    Every activation is its own, not in-place nn.ReLU module (guided methods and LRP hook them); the target layer
    (the last convolution) feeds the pooling directly (CAM's condition); the head is named fc.1 like the ResNets'
    (so a CAM `head` parameter resolves); biases are zero (LRP's relevance must add up to the logit). It has the
    suite's channels, spatial rank and classes.
    """

    def __init__(self, image_size: int, width: int = 4, classes: int = 2, *, channels: int = 3, rank: int = 2) -> None:
        super().__init__()
        # A patch-sized first stride keeps one pass cheap at any input size: the probe runs methods, not a model.
        stride = max(1, min(8, image_size // 8))
        conv = _CONV[rank]
        self.features = nn.Sequential(conv(channels, width, stride, stride), nn.ReLU(), conv(width, width, 3, padding=1), nn.ReLU(),
                                      conv(width, width, 3, padding=1))
        self.pool = _POOL[rank](1)
        self.fc = nn.Sequential(nn.Dropout(0.0), nn.Linear(width, classes))
        for module in self.modules():
            if isinstance(module, (conv, nn.Linear)):
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, classes) of inputs (N, C, *S)."""
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def probe_model(image_size: int, seed: int = 0, *, channels: int = 3, rank: int = 2, classes: int = 2) -> ProbeNet:
    """A ProbeNet in eval mode with weights drawn from seed (the global random state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ProbeNet(image_size, classes=classes, channels=channels, rank=rank).eval()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Gradients on, warnings and progress bars off: third-party libraries warn and draw on the probe as on any model."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()), torch.enable_grad():
        warnings.simplefilter("ignore")
        yield


def _describe(err: Exception) -> str:
    return str(err) if isinstance(err, (ValueError, TypeError)) else f"{type(err).__name__}: {err}"


def _probe_method(name: str, params: dict, model: nn.Module, x: torch.Tensor) -> str | None:
    """Why the adapter cannot be built with params on model or cannot explain x, or None."""
    # Whatever an adapter raises here it would raise on every batch of the run, so every exception is a finding.
    with _quiet():
        try:
            explainer = registry.build(name, model, params, target_layer=PROBE_LAYER)
        except Exception as err:
            return f"{name}: {_describe(err)}"
        try:
            with explainer:
                raw = explainer.attribute(x, torch.tensor([0]), seeds=torch.zeros(1, dtype=torch.int64))
                canonicalize(raw, spatial=tuple(x.shape[2:]), channel_reduction=explainer.channel_reduction)
        except NotSupported:
            return None  # a clear refusal (e.g. a library without 1-D support): the run records it as the method's result
        except Exception as err:
            return f"{name} fails on a {'x'.join(map(str, x.shape[2:]))} probe input: {_describe(err)}"
    return None


def _probe_methods(cfg: SuiteConfig, layout: Layout, found: SuiteProblems) -> None:
    shape = (FALLBACK_SIZE, FALLBACK_SIZE) if found.failed("data.image_size") else layout.shape
    model = probe_model(min(shape), channels=layout.channels, rank=len(shape), classes=len(layout.classes))
    x = torch.randn(1, layout.channels, *shape, generator=torch.Generator().manual_seed(0))
    for i, method in enumerate(cfg.methods):
        key = f"methods[{i}]"
        if found.failed(key):
            continue
        # A copy per method: an adapter that changed its model must not make the next one fail.
        problem = _probe_method(method.name, method.params, copy.deepcopy(model), x)
        if problem:
            found.add(f"{key}.params" if method.params else key, problem)


@cache
def _built(spec: ModelSpec) -> nn.Module:
    with torch.device("meta"):
        return build_model(spec)


def _architecture(m: ModelConfig, layout: Layout, *, arch: str | None = None, batchnorm: bool | None = None) -> nn.Module:
    """The untrained architecture on the meta device: its module names and parameter shapes, without memory or init cost."""
    spec = ModelSpec(arch=arch or m.arch, num_classes=len(layout.classes), batchnorm=m.batchnorm if batchnorm is None else batchnorm,
                     params=_Frozen(m.arch_params), channels=layout.channels, input_shape=tuple(layout.shape))
    return _built(spec)


class _Frozen(dict):
    """A hashable dict, so that architectures built for validation are cached by their spec."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(json.dumps(self, sort_keys=True, default=str))


def _fit_problem(expected: dict[str, tuple[int, ...]], given: dict[str, tuple[int, ...]], what: str) -> str | None:
    """How a file's tensor names and shapes differ from the architecture's, or None."""
    missing = sorted(expected.keys() - given.keys())
    unexpected = sorted(given.keys() - expected.keys())
    shapes = sorted(k for k in expected.keys() & given.keys() if tuple(expected[k]) != tuple(given[k]))
    if not (missing or unexpected or shapes):
        return None
    parts = [f"{label} {names[:5]}{' ...' if len(names) > 5 else ''}"
             for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)) if names]
    return f"does not fit {what}: {'; '.join(parts)}"


def _safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def _checkpoint_fit(m: ModelConfig, layout: Layout) -> str | None:
    """Whether a .safetensors checkpoint holds exactly the parameters of the entry's architecture (it loads strictly)."""
    path = Path(m.checkpoint)
    if path.is_dir():
        return None  # a `bench train` directory carries its own architecture in its card
    expected = {k: tuple(v.shape) for k, v in _architecture(m, layout).state_dict().items()}
    return _fit_problem(expected, _safetensors_shapes(path), f"{m.arch} (batchnorm = {str(m.batchnorm).lower()}, {len(layout.classes)} classes)")


def _pretrained_fit(m: ModelConfig, layout: Layout) -> str | None:
    """Whether an ImageNet weights file fits the architecture as bench.models.builders loads it (all but the head)."""
    path = Path(m.pretrained)
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    model = _architecture(m, layout, batchnorm=True)
    head = classifier_head(model).split(".")[0]
    # The head is replaced and older files lack the batch-norm counters, which loading fills in.
    keep = lambda k: not k.startswith(head + ".") and not k.endswith("num_batches_tracked")  # noqa: E731
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if keep(k)}
    given = {k: tuple(v.shape) for k, v in state.items() if keep(k)}
    return _fit_problem(expected, given, f"torchvision's {m.arch}")


def _layer_model(m: ModelConfig, layout: Layout) -> nn.Module:
    """The architecture whose layers target_layer names: the card's for a `bench train` directory, else the entry's."""
    if m.checkpoint and Path(m.checkpoint).is_dir():
        spec = json.loads((Path(m.checkpoint) / CARD).read_text(encoding="utf-8")).get("model", {})
        return _architecture(m, layout, arch=spec.get("arch", m.arch), batchnorm=spec.get("batchnorm", m.batchnorm))
    return _architecture(m, layout)


def _check_models(cfg: SuiteConfig, layout: Layout, found: SuiteProblems) -> None:
    for i, m in enumerate(cfg.models):
        key = f"models[{i}]"
        if found.failed(f"{key}.arch") or found.failed(f"{key}.batchnorm") or found.failed(f"{key}.checkpoint"):
            continue
        try:
            _architecture(m, layout)
        except (ValueError, TypeError) as err:
            # An error that names one of the entry's arch_params is about that parameter, else about the architecture.
            about_params = any(name in str(err) for name in m.arch_params) or "arch_params" in str(err)
            found.add(f"{key}.arch_params" if about_params else f"{key}.arch", str(err))
            continue
        if m.target_layer:
            try:
                resolve_layer(_layer_model(m, layout), m.target_layer)
            except LayerError as err:
                found.add(f"{key}.target_layer", str(err))
        if m.checkpoint and (problem := _checkpoint_fit(m, layout)):
            found.add(f"{key}.checkpoint", f"{m.checkpoint!r} {problem}")
        if m.pretrained and not found.failed(f"{key}.pretrained") and (problem := _pretrained_fit(m, layout)):
            found.add(f"{key}.pretrained", f"{m.pretrained!r} {problem}")


def _check_data(cfg: SuiteConfig, found: SuiteProblems) -> None:
    """Discover a folder data set (listing files, decoding none) and check it has the splits the suite uses."""
    data = cfg.data
    if data.source not in ("folder", "csv") or any(found.failed(k) for k in ("data.source", "data.root", "data.manifest")):
        return
    root = Path(data.root)
    try:
        refs, _ = discover(root, root / data.manifest if data.manifest else None, tuple(data.classes))
    except DataError as err:
        found.add("data.manifest" if data.manifest else "data.root", str(err))
        return
    present = [s for s in SPLITS if any(r.split == s for r in refs)]
    if data.split not in present:
        found.add("data.split", f"the data set in {data.root} has no {data.split!r} split (it has {present})")
    lacking = [s for s in ("train", "val") if s not in present]
    for i, m in enumerate(cfg.models):
        if not m.checkpoint and lacking:
            found.add(f"models[{i}].train", f"the model has no checkpoint, so it is trained, which needs the {lacking} split(s); "
                                            f"the data set in {data.root} has {present}")


def _probe(cfg: SuiteConfig, found: SuiteProblems) -> None:
    """Add to found what the probe finds wrong with cfg, skipping what already has an error."""
    _check_data(cfg, found)
    if any(found.failed(k) for k in ("data.source", "data.root", "data.manifest", "data.classes")):
        return
    try:
        layout = declared_layout(cfg)
    except DataError as err:
        found.add("data.root", str(err))
        return
    _check_target(cfg, layout, found)
    _check_models(cfg, layout, found)
    _probe_methods(cfg, layout, found)


def _check_target(cfg: SuiteConfig, layout: Layout, found: SuiteProblems) -> None:
    target = cfg.run.target
    if isinstance(target, int) and not isinstance(target, bool) and not 0 <= target < len(layout.classes):
        found.add("run.target", f"class index {target} is outside 0..{len(layout.classes) - 1} ({len(layout.classes)} classes)")


def probe_suite(cfg: SuiteConfig) -> None:
    """Check what loading cannot: methods on a probe model, layers and weights against architectures, the data set's splits.

    Raises SuiteErrors with every problem found, each naming the suite file and the key. Nothing is trained or written.
    """
    found = SuiteProblems(cfg.path)
    _probe(cfg, found)
    found.raise_if_any()


def validate_suite(path: str | Path) -> SuiteConfig:
    """Load and probe a suite file; the errors of both are raised together as one SuiteErrors.

    A suite that loads cleanly and passed the probe before, unchanged (see bench.core.probe_cache), is not probed again.
    """
    cfg, found = collect_suite(read_suite(path), str(path))
    if found.errors or not passed_before(cfg):
        _probe(cfg, found)
        found.raise_if_any()
        remember_pass(cfg)
    return cfg
