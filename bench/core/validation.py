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
from bench.core.explainer import canonicalize
from bench.core.probe_cache import passed_before, remember_pass
from bench.data.layout import SPLITS, discover
from bench.models.layers import LayerError, resolve_layer
from bench.models.resnet import ModelSpec, build_model

PROBE_LAYER = "features.4"
# The probe's input size when data.image_size is itself in error, so that the methods are still probed.
FALLBACK_SIZE = 224


class ProbeNet(nn.Module):
    """The smallest CNN every adapter explains: a strided convolution, two more, global average pooling, a linear head.

    Every activation is its own, not in-place nn.ReLU module (guided methods and LRP hook them); the target layer
    (the last convolution) feeds the pooling directly (CAM's condition); the head is named fc.1 like the ResNets'
    (so a CAM `head` parameter resolves); biases are zero (LRP's relevance must add up to the logit).
    """

    def __init__(self, image_size: int, width: int = 4, classes: int = 2) -> None:
        super().__init__()
        # A patch-sized first stride keeps one pass cheap at any input size: the probe runs methods, not a model.
        stride = max(1, min(8, image_size // 8))
        self.features = nn.Sequential(nn.Conv2d(3, width, stride, stride), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(width, width, 3, padding=1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Dropout(0.0), nn.Linear(width, classes))
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, classes) of inputs (N, 3, S, S)."""
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def probe_model(image_size: int, seed: int = 0) -> ProbeNet:
    """A ProbeNet in eval mode with weights drawn from seed (the global random state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ProbeNet(image_size).eval()


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
            explainer = registry.get(name)(model, target_layer=PROBE_LAYER, **params)
        except Exception as err:
            return f"{name}: {_describe(err)}"
        try:
            with explainer:
                raw = explainer.attribute(x, torch.tensor([0]), seeds=torch.zeros(1, dtype=torch.int64))
                canonicalize(raw, spatial=tuple(x.shape[2:]), channel_reduction=explainer.channel_reduction)
        except Exception as err:
            return f"{name} fails on a {'x'.join(map(str, x.shape[2:]))} probe input: {_describe(err)}"
    return None


def _probe_methods(cfg: SuiteConfig, found: SuiteProblems) -> None:
    size = FALLBACK_SIZE if found.failed("data.image_size") else cfg.data.image_size
    model = probe_model(size)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    for i, method in enumerate(cfg.methods):
        key = f"methods[{i}]"
        if found.failed(key):
            continue
        # A copy per method: an adapter that changed its model must not make the next one fail.
        problem = _probe_method(method.name, method.params, copy.deepcopy(model), x)
        if problem:
            found.add(f"{key}.params" if method.params else key, problem)


@cache
def _architecture(arch: str, batchnorm: bool) -> nn.Module:
    """The untrained architecture on the meta device: its module names and parameter shapes, without memory or init cost."""
    with torch.device("meta"):
        return build_model(ModelSpec(arch=arch, batchnorm=batchnorm))


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


def _checkpoint_fit(m: ModelConfig) -> str | None:
    """Whether a .safetensors checkpoint holds exactly the parameters of the entry's architecture (it loads strictly)."""
    path = Path(m.checkpoint)
    if path.is_dir():
        return None  # a `bench train` directory carries its own architecture in its card
    expected = {k: tuple(v.shape) for k, v in _architecture(m.arch, m.batchnorm).state_dict().items()}
    return _fit_problem(expected, _safetensors_shapes(path), f"{m.arch} (batchnorm = {str(m.batchnorm).lower()})")


def _pretrained_fit(m: ModelConfig) -> str | None:
    """Whether an ImageNet weights file fits the architecture as bench.models.resnet loads it (all but the head)."""
    path = Path(m.pretrained)
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    # The head is replaced and older files lack the batch-norm counters, which loading fills in.
    expected = {k: tuple(v.shape) for k, v in _architecture(m.arch, True).state_dict().items()
                if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    given = {k: tuple(v.shape) for k, v in state.items() if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    return _fit_problem(expected, given, f"torchvision's {m.arch}")


def _layer_model(m: ModelConfig) -> nn.Module:
    """The architecture whose layers target_layer names: the card's for a `bench train` directory, else the entry's."""
    if m.checkpoint and Path(m.checkpoint).is_dir():
        spec = json.loads((Path(m.checkpoint) / CARD).read_text(encoding="utf-8")).get("model", {})
        return _architecture(spec.get("arch", m.arch), spec.get("batchnorm", m.batchnorm))
    return _architecture(m.arch, m.batchnorm)


def _check_models(cfg: SuiteConfig, found: SuiteProblems) -> None:
    for i, m in enumerate(cfg.models):
        key = f"models[{i}]"
        if found.failed(f"{key}.arch") or found.failed(f"{key}.batchnorm") or found.failed(f"{key}.checkpoint"):
            continue
        if m.target_layer:
            try:
                resolve_layer(_layer_model(m), m.target_layer)
            except LayerError as err:
                found.add(f"{key}.target_layer", str(err))
        if m.checkpoint and (problem := _checkpoint_fit(m)):
            found.add(f"{key}.checkpoint", f"{m.checkpoint!r} {problem}")
        if m.pretrained and not found.failed(f"{key}.pretrained") and (problem := _pretrained_fit(m)):
            found.add(f"{key}.pretrained", f"{m.pretrained!r} {problem}")


def _check_data(cfg: SuiteConfig, found: SuiteProblems) -> None:
    """Discover a folder data set (listing files, decoding none) and check it has the splits the suite uses."""
    data = cfg.data
    if data.source != "folder" or any(found.failed(k) for k in ("data.source", "data.root", "data.manifest")):
        return
    root = Path(data.root)
    try:
        refs = discover(root, root / data.manifest if data.manifest else None)
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
    _check_models(cfg, found)
    _probe_methods(cfg, found)


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
