"""The conformance check every adapter must pass: run by `bench check-adapter NAME` and by the test suite."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from bench.core import registry
from bench.core.explainer import Explainer, NotSupported, canonicalize

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
_SHAPES = {1: (32,), 2: (16, 16), 3: (8, 8, 8)}


@dataclass(frozen=True)
class Check:
    """One line of a conformance report: what was checked, 'pass' / 'fail' / 'skip', and why."""

    name: str
    status: str
    detail: str = ""


def probe_model(rank: int = 2, seed: int = 0) -> nn.Sequential:
    """A small conv-relu-conv-relu-GAP-linear network of the given spatial rank; layer '3' is its last conv block."""
    torch.manual_seed(seed)
    return nn.Sequential(_CONV[rank](3, 8, 3, padding=1), nn.ReLU(), _CONV[rank](8, 6, 3, padding=1, stride=2), nn.ReLU(),
                         _POOL[rank](1), nn.Flatten(), nn.Linear(6, 3)).eval()


def model_state(model: nn.Module) -> dict:
    """Everything explaining must leave unchanged: parameters, .grad, requires_grad, modes and hooks."""
    return {
        "params": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "grads": {k: None if p.grad is None else p.grad.detach().clone() for k, p in model.named_parameters()},
        "requires_grad": {k: p.requires_grad for k, p in model.named_parameters()},
        "training": {k: m.training for k, m in model.named_modules()},
        "hooks": {k: (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks), len(m._backward_pre_hooks))
                  for k, m in model.named_modules()},
    }


def state_differences(before: dict, after: dict) -> list[str]:
    """What changed between two model_state snapshots."""
    problems = [f"parameter {k} changed" for k in before["params"] if not torch.equal(before["params"][k], after["params"][k])]
    for k, g in before["grads"].items():
        h = after["grads"][k]
        if (g is None) != (h is None) or (g is not None and not torch.equal(g, h)):
            problems.append(f".grad of {k} changed")
    problems += [f"requires_grad of {k} changed" for k in before["requires_grad"] if before["requires_grad"][k] != after["requires_grad"][k]]
    problems += [f"train/eval mode of {k or 'model'} changed" for k in before["training"] if before["training"][k] != after["training"][k]]
    problems += [f"hooks left on {k or 'model'}" for k in before["hooks"] if before["hooks"][k] != after["hooks"][k]]
    return problems


def _explain(cls: type[Explainer], params: dict, model: nn.Module, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    with cls(model, target_layer="3", **params) as explainer:
        raw = explainer.attribute(x, target, seeds=seeds)
        return canonicalize(raw, spatial=tuple(x.shape[2:]), channel_reduction=explainer.channel_reduction)


def _guard(name: str, fn: Callable[[], str]) -> Check:
    try:
        detail = fn()
    except NotSupported as err:
        return Check(name, "skip", f"not supported: {err}")
    except AssertionError as err:
        return Check(name, "fail", str(err))
    except Exception as err:  # an adapter that crashes fails the check, with the reason
        return Check(name, "fail", f"{type(err).__name__}: {err}")
    return Check(name, "pass", detail)


def check_adapter(adapter: str | type[Explainer], *, params: dict | None = None, devices: list[str] | None = None) -> list[Check]:
    """Run every conformance check on an adapter (by registry name or class); one Check per item."""
    cls = registry.get(adapter) if isinstance(adapter, str) else adapter
    params = params or {}
    devices = devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    checks = []
    for device in devices:
        for rank in (2, 1, 3):
            checks.extend(_checks_on(cls, params, torch.device(device), rank))
    if "cuda" not in devices:
        checks.append(Check("cuda", "skip", "no CUDA device here"))
    return checks


def _checks_on(cls: type[Explainer], params: dict, device: torch.device, rank: int) -> list[Check]:
    where = f"[{device.type}, {rank}-D]"
    model = probe_model(rank).to(device)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, *_SHAPES[rank], generator=gen).to(device)
    target = torch.tensor([0, 1, 2, 1], device=device)
    seeds = torch.tensor([11, 12, 13, 14], device=device)
    first: dict[str, torch.Tensor] = {}

    def shape() -> str:
        maps = _explain(cls, params, model, x, target, seeds)
        first["maps"] = maps
        assert maps.shape == (4, *_SHAPES[rank]), f"canonical map has shape {tuple(maps.shape)}, expected {(4, *_SHAPES[rank])}"
        assert maps.dtype == torch.float32, f"canonical map is {maps.dtype}"
        assert torch.isfinite(maps).all(), "map has NaN or infinite values"
        return ""

    result = [_guard(f"shape, dtype, finite {where}", shape)]
    if result[0].status != "pass":
        return result

    def deterministic() -> str:
        again = _explain(cls, params, model, x, target, seeds)
        assert torch.equal(again, first["maps"]), f"two calls with the same seeds differ by {float((again - first['maps']).abs().max()):.3g}"
        return ""

    def batch_invariant() -> str:
        if not getattr(cls, "batch_invariant", True):
            raise NotSupported("declares batch_invariant = False (library-drawn noise)")
        alone = torch.cat([_explain(cls, params, model, x[i:i + 1], target[i:i + 1], seeds[i:i + 1]) for i in range(4)])
        diff = float((alone - first["maps"]).abs().max())
        scale = float(first["maps"].abs().max()) or 1.0
        assert diff <= 1e-5 * scale + 1e-6, f"sample alone differs from sample in batch by {diff:.3g}"
        return ""

    def one_target_per_sample() -> str:
        with cls(model, target_layer="3", **params) as explainer:
            try:
                explainer.attribute(x, target[:2], seeds=seeds)
            except ValueError:
                return ""
        raise AssertionError("a target list shorter than the batch was accepted")

    def unchanged(train_mode: bool) -> Callable[[], str]:
        def check() -> str:
            m = probe_model(rank).to(device).train(train_mode)
            for i, p in enumerate(m.parameters()):
                p.requires_grad_(i % 2 == 0)
                p.grad = torch.full_like(p, 0.5) if i % 3 == 0 else None
            before = model_state(m)
            _explain(cls, params, m, x, target, seeds)
            problems = state_differences(before, model_state(m))
            assert not problems, "; ".join(problems)
            assert torch.is_grad_enabled(), "autograd left disabled"
            return ""
        return check

    def unchanged_after_error() -> str:
        m = probe_model(rank).to(device).train(True)
        before = model_state(m)
        try:
            _explain(cls, params, m, x, torch.tensor([0, 1, 2, 9], device=device), seeds)
        except Exception:  # noqa: BLE001 - any failure will do: the point is what it leaves behind
            pass
        problems = state_differences(before, model_state(m))
        assert not problems, "; ".join(problems)
        assert torch.is_grad_enabled(), "autograd left disabled"
        return ""

    result += [
        _guard(f"deterministic under seeds {where}", deterministic),
        _guard(f"batch invariant {where}", batch_invariant),
        _guard(f"one target per sample {where}", one_target_per_sample),
        _guard(f"model unchanged, eval mode {where}", unchanged(False)),
        _guard(f"model unchanged, train mode {where}", unchanged(True)),
        _guard(f"model unchanged after an exception {where}", unchanged_after_error),
    ]
    return result


# Model families every adapter is checked on (`bench check-adapter NAME --families`), each with an input it takes.
# Torchvision's families at 32 px: the smallest input all of them take (five stride-2 stages), which keeps Score-CAM's
# one pass per channel affordable.
FAMILIES = {"resnet18": (3, (32, 32)), "vgg11_bn": (3, (32, 32)), "densenet121": (3, (32, 32)), "mobilenet_v3_small": (3, (32, 32)),
            "efficientnet_b0": (3, (32, 32)), "convnext_tiny": (3, (32, 32)), "zoo:vgg7": (3, (48, 48)), "zoo:mnist_2conv": (1, (28, 28)),
            "zoo:mnist1d_cnn": (1, (40,))}


def check_on_architecture(adapter: str, arch: str, *, params: dict | None = None, classes: int = 3) -> Check:
    """Explain two inputs on the untrained architecture at its default layer: a finite map of the input's shape that leaves the model
    as it was passes; a clear refusal (NotSupported, or a head or layer the method cannot use) is a skip with its reason."""
    from bench.core.errors import BenchError
    from bench.models.builders import ModelSpec, build_model
    from bench.models.layers import default_layer

    channels, shape = FAMILIES.get(arch, (3, (32, 32)))
    name = f"{arch} [{'x'.join(map(str, shape))}, {channels} ch]"
    torch.manual_seed(0)
    model = build_model(ModelSpec(arch=arch, num_classes=classes, channels=channels, input_shape=shape))
    x = torch.randn(2, channels, *shape, generator=torch.Generator().manual_seed(0))
    before = model_state(model)
    try:
        with registry.build(adapter, model, params or {}, target_layer=default_layer(model)) as explainer:
            raw = explainer.attribute(x, torch.tensor([0, 2]), seeds=torch.tensor([1, 2]))
            maps = canonicalize(raw, spatial=shape, channel_reduction=explainer.channel_reduction)
    except (NotSupported, BenchError) as err:
        return Check(name, "skip", f"refused: {type(err).__name__}: {err}")
    except Exception as err:  # an adapter that crashes on a family fails, with the reason
        return Check(name, "fail", f"{type(err).__name__}: {err}")
    problems = state_differences(before, model_state(model))
    if maps.shape != (2, *shape) or not torch.isfinite(maps).all() or problems:
        return Check(name, "fail", f"map {tuple(maps.shape)}, finite {bool(torch.isfinite(maps).all())}; {'; '.join(problems)}")
    return Check(name, "pass", f"layer {default_layer(model)}")
