"""How raw inputs become model inputs: channels, spatial rank, value scale and per-channel mean and std.

A Preprocessing travels with the model (in its card, and attached to the module while it is explained), so that
training, the runner, metrics and reference inputs all read the same one instead of assuming ImageNet RGB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

# Named normalisations a suite may ask for; "dataset" (statistics of the train split) and "none" need no table.
PRESETS = {"imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}
NORMALISATIONS = ("auto", "imagenet", "dataset", "none")
_ATTRIBUTE = "_bench_preprocessing"


@dataclass(frozen=True)
class Preprocessing:
    """Raw inputs (N,C,*S) are divided by `scale` into pixel space, then standardised per channel by mean and std.

    value_range is the range of pixel-space values the data can take (clamping augmentations and noise).
    """

    channels: int
    rank: int
    scale: float = 255.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    value_range: tuple[float, float] = (0.0, 1.0)
    name: str = "none"

    def __post_init__(self) -> None:
        for field_name in ("mean", "std"):
            value = tuple(float(v) for v in getattr(self, field_name))
            if len(value) == 1 and self.channels > 1:
                value = value * self.channels
            if len(value) != self.channels:
                raise ValueError(f"{field_name} has {len(value)} values for {self.channels} channels")
            object.__setattr__(self, field_name, value)
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be > 0, got {self.std}")
        object.__setattr__(self, "value_range", (float(self.value_range[0]), float(self.value_range[1])))

    def _view(self, values: tuple[float, ...], like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(values, device=like.device, dtype=like.dtype).view(1, -1, *([1] * self.rank))

    def check(self, raw: torch.Tensor) -> None:
        """Raise ValueError unless raw is (N, channels, *S) with `rank` spatial axes."""
        if raw.ndim != self.rank + 2 or raw.shape[1] != self.channels:
            raise ValueError(f"inputs of shape {tuple(raw.shape)} do not fit the model's preprocessing "
                             f"(N, {self.channels} channels, {self.rank} spatial axes)")

    def pixels(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw inputs in pixel space (float)."""
        return raw.float() / self.scale

    def normalise(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw inputs (N,C,*S) to model inputs."""
        self.check(raw)
        x = self.pixels(raw)
        return (x - self._view(self.mean, x)) / self._view(self.std, x)

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Model inputs back to pixel space."""
        return x * self._view(self.std, x) + self._view(self.mean, x)

    def from_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixel-space inputs to model inputs."""
        return (pixels - self._view(self.mean, pixels)) / self._view(self.std, pixels)

    def to_dict(self) -> dict:
        """JSON form for model cards and records."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessing:
        """Inverse of to_dict."""
        return cls(**{**data, "mean": tuple(data["mean"]), "std": tuple(data["std"]), "value_range": tuple(data["value_range"])})


def channel_statistics(pixels: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of pixel-space inputs (N,C,*S) over samples and positions, in float64."""
    flat = pixels.transpose(0, 1).reshape(pixels.shape[1], -1).double()
    std = flat.std(1, unbiased=False).clamp_min(1e-6)
    return tuple(flat.mean(1).tolist()), tuple(std.tolist())


def resolve(normalise: str, *, channels: int, rank: int, scale: float, value_range: tuple[float, float],
            train_pixels: torch.Tensor | None = None, mean: tuple[float, ...] = (), std: tuple[float, ...] = ()) -> Preprocessing:
    """The preprocessing for a normalisation choice; explicit mean and std win; "dataset" needs the train split's pixels."""
    common = {"channels": channels, "rank": rank, "scale": scale, "value_range": value_range}
    if mean and std:
        return Preprocessing(**common, mean=tuple(mean), std=tuple(std), name="explicit")
    if normalise in PRESETS:
        preset_mean, preset_std = PRESETS[normalise]
        if channels != len(preset_mean):
            raise ValueError(f"normalise = {normalise!r} is for {len(preset_mean)}-channel inputs; the data has {channels}")
        return Preprocessing(**common, mean=preset_mean, std=preset_std, name=normalise)
    if normalise == "dataset":
        if train_pixels is None:
            raise ValueError('normalise = "dataset" needs the train split to compute its statistics')
        data_mean, data_std = channel_statistics(train_pixels)
        return Preprocessing(**common, mean=data_mean, std=data_std, name="dataset")
    if normalise == "none":
        return Preprocessing(**common, name="none")
    raise ValueError(f"unknown normalisation {normalise!r}; choose one of {NORMALISATIONS}")


def attach(model: nn.Module, preprocessing: Preprocessing) -> nn.Module:
    """Attach the preprocessing to the model, so that explainers and metrics given only the model find it."""
    object.__setattr__(model, _ATTRIBUTE, preprocessing)
    return model


def preprocessing_of(model: nn.Module | None) -> Preprocessing | None:
    """The preprocessing attached to the model, or None."""
    return getattr(model, _ATTRIBUTE, None) if model is not None else None
