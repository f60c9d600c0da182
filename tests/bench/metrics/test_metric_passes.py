"""Every registered metric's declared pass budget against the model forwards and explain calls it actually makes.

The leaderboard's metric efficiency divides a metric's measured time by this budget, so a budget that undercounts
(or overcounts) would show a metric as slower (or faster) than its passes allow.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.metrics import METRICS, MetricContext
from tests.nets import gap_net

N, SIZE = 3, 16


class Counting(nn.Module):
    """The wrapped model, counting the samples that go through forward and backward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.forward_samples, self.backward_samples = model, 0, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.forward_samples += x.shape[0]
        if x.requires_grad:
            x.register_hook(lambda g: setattr(self, "backward_samples", self.backward_samples + g.shape[0]))
        return self.model(x)


def _context(model: nn.Module, explained: list[int]) -> MetricContext:
    x = torch.randn(N, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    masks = torch.zeros(N, SIZE, SIZE, dtype=torch.bool)
    masks[:, 4:10, 3:12] = True

    def explain(inputs: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        explained.append(inputs.shape[0])
        return (inputs * inputs).sum(1)

    def explain_with(other: nn.Module):
        return explain

    return MetricContext(maps=torch.rand(N, SIZE, SIZE, generator=torch.Generator().manual_seed(2)), x=x, target=torch.tensor([0, 1, 0]),
                         masks=masks, model=model, seed=3, seeds=torch.tensor([5, 6, 7]), explain=explain, explain_with=explain_with)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_declared_passes_are_the_passes_made(name: str) -> None:
    model, explained = Counting(gap_net(2).eval()), []
    metric = METRICS[name]()
    metric(_context(model, explained))
    made = {"forward": model.forward_samples / N, "backward": model.backward_samples / N, "explain": sum(explained) / N}
    declared = metric.passes()
    if name.startswith("randomisation"):
        # The randomised copy's forwards go through explain_with, not the counted model.
        made["forward"] = 0
    assert made == {k: float(declared.get(k, 0)) for k in made}, f"{name} declares {declared}, makes {made} per sample"
