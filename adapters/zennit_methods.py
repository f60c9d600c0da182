"""Zennit's layer-wise relevance propagation behind the Explainer interface (`zennit.lrp`).

Captum's LRP refuses torchvision ResNets (its rules cannot pass relevance through the residual additions), yet a
user's study reports LRP's max-sensitivity on ResNet-18. Zennit's ResNet canonizer turns each block's addition into
a module that relevance can be propagated through and merges batch norm into the preceding convolutions, for the
duration of one call; its composites attach the rules as hooks and remove them after. The model guard undoes
anything left over. The relevance at the output is the target logit (one-hot times f_c(x)), so the input
relevance is comparable with the logit: after each call the conservation error |sum R - f_c(x)| / |f_c(x)| per
sample is recorded, as IG's completeness error is.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from adapters.model_guard import preserved
from adapters.third_party import ThirdPartyExplainer

COMPOSITES = ("epsilon", "gamma", "alpha1beta0", "epsilon_plus_flat")


def _composite(name: str, model: nn.Module, epsilon: float, gamma: float):  # noqa: ANN202 - a zennit Composite
    from zennit import canonizers, composites, rules, torchvision

    names = {type(m).__name__ for m in model.modules()}
    if {"BasicBlock", "Bottleneck"} & names:
        canonizer = [torchvision.ResNetCanonizer()]
    elif "VGG" in names:
        canonizer = [torchvision.VGGCanonizer()]
    else:
        canonizer = [canonizers.SequentialMergeBatchNorm()]
    if name == "epsilon_plus_flat":
        return composites.EpsilonPlusFlat(epsilon=epsilon, canonizers=canonizer)
    conv = {"epsilon": lambda: rules.Epsilon(epsilon=epsilon), "gamma": lambda: rules.Gamma(gamma=gamma),
            "alpha1beta0": lambda: rules.AlphaBeta(alpha=1.0, beta=0.0)}[name]
    layer_map = composites.layer_map_base() + [(composites.Convolution, conv()), (nn.Linear, rules.Epsilon(epsilon=epsilon))]
    return composites.LayerMapComposite(layer_map=layer_map, canonizers=canonizer)


class ZennitLRP(ThirdPartyExplainer):
    """LRP with one rule for every convolution (epsilon, gamma or alpha1-beta0 = z+) and epsilon for linear layers, or
    Zennit's EpsilonPlusFlat composite; the architecture's canonizer (ResNet, VGG, else merged batch norm) applied."""

    name, method, library, package, channel_reduction = "zennit.lrp", "lrp", "zennit", "zennit", "sum"
    spatial_ranks: ClassVar[tuple[int, ...]] = (1, 2, 3)

    def __init__(self, model: nn.Module, *, target_layer: str | None = None, composite: str = "epsilon_plus_flat",
                 epsilon: float = 1e-6, gamma: float = 0.25) -> None:
        super().__init__(model, target_layer=None)
        if composite not in COMPOSITES:
            raise ValueError(f"composite must be one of {COMPOSITES}, got {composite!r}")
        if epsilon <= 0 or gamma < 0:
            raise ValueError(f"need epsilon > 0 and gamma >= 0, got {epsilon}, {gamma}")
        self.composite, self.epsilon, self.gamma = composite, epsilon, gamma
        self.conservation_error: torch.Tensor | None = None

    def passes(self) -> dict[str, int]:
        """One forward pass and one (modified) backward pass."""
        return {"forward": 1, "backward": 1}

    def diagnostics(self) -> dict[str, torch.Tensor]:
        """The conservation error of the last call, per sample."""
        return {} if self.conservation_error is None else {"conservation_error": self.conservation_error}

    def _attribute(self, x, target, seeds):  # noqa: ANN001, ANN202
        from zennit.attribution import Gradient

        with preserved(self.model):
            with torch.no_grad():
                logits = self.model(x).gather(1, target.view(-1, 1)).squeeze(1)

            def output_relevance(out: torch.Tensor) -> torch.Tensor:
                return torch.zeros_like(out).scatter_(1, target.view(-1, 1), logits.view(-1, 1).to(out))

            composite = _composite(self.composite, self.model, self.epsilon, self.gamma)
            with torch.enable_grad(), Gradient(model=self.model, composite=composite) as attributor:
                _, relevance = attributor(x.detach(), output_relevance)
        relevance = relevance.detach()
        total = relevance.flatten(1).sum(1)
        self.conservation_error = ((total - logits).abs() / logits.abs().clamp_min(1e-12)).detach()
        return relevance
