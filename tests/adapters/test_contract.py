"""Every registered adapter through the conformance check, and proof that the check catches violations."""

from __future__ import annotations

import pytest
import torch

from bench.core import registry
from bench.core.conformance import check_adapter
from bench.core.explainer import Explainer

# Small budgets so that perturbation methods exercise their chunking on tiny inputs.
CHEAP = {"inhouse.rise": {"masks": 64, "memory_budget_mib": 0.5}, "inhouse.scorecam": {"memory_budget_mib": 0.1},
         "inhouse.ablationcam": {"memory_budget_mib": 0.01}, "inhouse.occlusion": {"window": 4, "stride": 2, "memory_budget_mib": 0.1},
         "inhouse.integrated_gradients": {"steps": 8, "memory_budget_mib": 0.2}, "inhouse.smoothgrad": {"samples": 4},
         "inhouse.smoothgrad_sq": {"samples": 4}, "inhouse.vargrad": {"samples": 4}, "inhouse.gradient_shap": {"samples": 6},
         "captum.integrated_gradients": {"steps": 8}, "captum.occlusion": {"window": 4, "stride": 2},
         "captum.smoothgrad": {"samples": 4}, "captum.smoothgrad_sq": {"samples": 4}, "captum.vargrad": {"samples": 4},
         "captum.gradient_shap": {"samples": 6}, "captum.feature_ablation": {"cell": 4}}

# Adapters that refuse the probe network outright, and why (their refusal is itself checked to be clean).
REFUSES_PROBE = {"captum.lrp": "Captum's LRP has no rule for nn.Flatten, which the probe and torchvision classifiers use"}


@pytest.mark.parametrize("name", registry.names())
def test_registered_adapter_conforms(name: str) -> None:
    checks = check_adapter(name, params=CHEAP.get(name, {}))
    failures = [f"{c.name}: {c.detail}" for c in checks if c.status == "fail"]
    assert not failures, "\n".join(failures)
    if name not in REFUSES_PROBE:
        assert any(c.status == "pass" for c in checks if "2-D" in c.name), "an image adapter must at least handle 2-D inputs"


class LeavesHooks(Explainer):
    name, method, library = "test.leaves_hooks", "test", "test"

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        self.model[1].register_forward_hook(lambda *a: None)
        return torch.zeros(x.shape[0], *x.shape[2:], device=x.device)


class FillsGradients(Explainer):
    name, method, library = "test.fills_grads", "test", "test"

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        self.model(x).gather(1, target.view(-1, 1)).sum().backward()
        return torch.zeros(x.shape[0], *x.shape[2:], device=x.device)


class DependsOnBatch(Explainer):
    name, method, library = "test.depends_on_batch", "test", "test"

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        return x.sum(1) * x.shape[0]


class Random(Explainer):
    name, method, library = "test.random", "test", "test"

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        return torch.rand(x.shape[0], *x.shape[2:], device=x.device)


class SwitchesToEval(Explainer):
    name, method, library = "test.eval", "test", "test"

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        self.model.eval()
        return x.sum(1)


@pytest.mark.parametrize("cls,failing", [
    (LeavesHooks, "hooks left"), (FillsGradients, ".grad of"), (DependsOnBatch, "batch invariant"),
    (Random, "deterministic"), (SwitchesToEval, "train/eval mode"),
])
def test_the_check_catches_violations(cls, failing: str) -> None:
    checks = check_adapter(cls)
    failed = [c for c in checks if c.status == "fail"]
    assert failed and any(failing in c.name or failing in c.detail for c in failed), [(c.name, c.detail) for c in failed]
