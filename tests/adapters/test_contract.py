"""The Explainer contract, checked for every registered adapter."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench import registry
from bench.explainer import NotSupported, canonicalize
from bench.rng import sample_seeds
from tests.nets import gap_net, spatial_shape

ADAPTERS = registry.names()
# Small budgets so that perturbation methods exercise their chunking on tiny inputs.
CHEAP = {"inhouse.rise": {"masks": 64, "memory_budget_mib": 0.5}, "inhouse.scorecam": {"memory_budget_mib": 0.1},
         "inhouse.ablationcam": {"memory_budget_mib": 0.01}, "inhouse.occlusion": {"window": 4, "stride": 2, "memory_budget_mib": 0.1},
         "inhouse.integrated_gradients": {"steps": 8, "memory_budget_mib": 0.2}, "inhouse.smoothgrad": {"samples": 4},
         "inhouse.smoothgrad_sq": {"samples": 4}, "inhouse.vargrad": {"samples": 4}, "inhouse.gradient_shap": {"samples": 6}}


def _state(model: nn.Module) -> dict:
    return {
        "params": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "grads": {k: None if p.grad is None else p.grad.clone() for k, p in model.named_parameters()},
        "requires_grad": {k: p.requires_grad for k, p in model.named_parameters()},
        "training": {k: m.training for k, m in model.named_modules()},
        "hooks": {k: (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for k, m in model.named_modules()},
    }


def _assert_same_state(before: dict, after: dict) -> None:
    for key in before["params"]:
        assert torch.equal(before["params"][key], after["params"][key]), f"parameter {key} changed"
    for key, grad in before["grads"].items():
        other = after["grads"][key]
        assert (grad is None and other is None) or (grad is not None and other is not None and torch.equal(grad, other)), f"gradient of {key} changed"
    assert before["requires_grad"] == after["requires_grad"]
    assert before["training"] == after["training"]
    assert before["hooks"] == after["hooks"], "hooks left on the model"


def _explain(name: str, model: nn.Module, x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    with registry.get(name)(model, target_layer="3", **CHEAP.get(name, {})) as explainer:
        try:
            raw = explainer.attribute(x, target, seeds=seeds)
        except NotSupported as err:  # a clear refusal is allowed; a crash or a wrong map is not
            pytest.skip(f"{name}: {err}")
    return canonicalize(raw, spatial=tuple(x.shape[2:]), channel_reduction=explainer.channel_reduction)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("name", ADAPTERS)
def test_shape_finite_deterministic_batch_invariant(name: str, rank: int) -> None:
    model = gap_net(rank)
    x = torch.randn(5, 3, *spatial_shape(rank), generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 1, 2, 0, 1])
    seeds = sample_seeds(7, [f"s{i}" for i in range(5)])
    maps = _explain(name, model, x, target, seeds)
    assert maps.shape == (5, *spatial_shape(rank)) and maps.dtype == torch.float32
    assert torch.isfinite(maps).all()
    torch.testing.assert_close(_explain(name, model, x, target, seeds), maps, rtol=0, atol=0)
    if getattr(registry.get(name), "batch_invariant", True):
        alone = torch.cat([_explain(name, model, x[i:i + 1], target[i:i + 1], seeds[i:i + 1]) for i in range(5)])
        torch.testing.assert_close(alone, maps, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("train_mode", [False, True])
@pytest.mark.parametrize("name", ADAPTERS)
def test_model_unchanged(name: str, train_mode: bool) -> None:
    model = gap_net(2).train(train_mode)
    before = _state(model)
    _explain(name, model, torch.randn(3, 3, 16, 16), torch.tensor([0, 1, 2]), sample_seeds(0, ["a", "b", "c"]))
    _assert_same_state(before, _state(model))
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("name", ADAPTERS)
def test_frozen_model_and_existing_gradients_untouched(name: str) -> None:
    model = gap_net(2)
    for i, p in enumerate(model.parameters()):
        p.requires_grad_(i % 2 == 0)
        p.grad = torch.full_like(p, 0.5) if i % 3 == 0 else None
    before = _state(model)
    _explain(name, model, torch.randn(2, 3, 16, 16), torch.tensor([0, 1]), sample_seeds(0, ["a", "b"]))
    _assert_same_state(before, _state(model))


@pytest.mark.parametrize("name", ADAPTERS)
def test_one_target_per_sample(name: str) -> None:
    model = gap_net(2)
    cls = registry.get(name)
    with cls(model, target_layer="3") as explainer:
        with pytest.raises(ValueError, match="one target per sample"):
            explainer.attribute(torch.randn(4, 3, 16, 16), torch.tensor([0, 1]))
        with pytest.raises(ValueError, match="shape"):
            explainer.attribute(torch.randn(2, 3, 16, 16), torch.tensor([[0], [1]]))
        with pytest.raises(ValueError, match="integer"):
            explainer.attribute(torch.randn(2, 3, 16, 16), torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize("name", ADAPTERS)
def test_model_unchanged_after_an_exception(name: str) -> None:
    model = gap_net(2).train(True)
    before = _state(model)
    with registry.get(name)(model, target_layer="3", **CHEAP.get(name, {})) as explainer:
        try:
            explainer.attribute(torch.randn(2, 3, 16, 16), torch.tensor([0, 9]))  # class 9 does not exist
        except Exception:  # noqa: BLE001 - any failure will do: the point is what it leaves behind
            pass
    _assert_same_state(before, _state(model))
    assert torch.is_grad_enabled()
