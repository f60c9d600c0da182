"""Filter visualisations on disk: each filter's optimised input, the layer's grid of them, and what the ascent reached."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from bench.data.generated import write_png
from bench.models.filter_visualization import AscentSettings, FilterImages, image_grid
from bench.utils.atomic_files import write_text_atomic

FILTERS_DIR = "filters"
GRID = "grid.png"
SUMMARY = "filters.json"


def _png(image: torch.Tensor) -> np.ndarray:
    """A (C, H, W) image in [0, 1] as uint8 (H, W) or (H, W, 3)."""
    array = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[-1] == 1 else array


def activation_gain(activation: list[float], grey: list[float]) -> str:
    """What the ascent reached against a grey input, in words: a ratio of summed mean activations when grey's is positive."""
    total, base = sum(activation), sum(grey)
    if base > 0:
        return f"mean activation {total / base:.1f}× that of a uniform grey input"
    return f"summed mean activation {total:.3g} (grey input: {base:.3g})"


def layer_dir(results: Path, model: str, layer: str) -> Path:
    """Where one model layer's filter images go under a suite's results folder."""
    return Path(results) / FILTERS_DIR / model / layer


def write_filter_images(directory: Path, found: FilterImages, settings: AscentSettings, extra: dict | None = None) -> Path:
    """Write filter-NNN.png per filter, grid.png (all of them, in filter order) and filters.json; the grid's path."""
    directory = Path(directory)
    if found.images.ndim != 4:
        raise ValueError(f"filter images are drawn for 2-D inputs, got shape {tuple(found.images.shape)}")
    for f, image in zip(found.filters, found.images, strict=True):
        write_png(_png(image), directory / f"filter-{f:03d}.png")
    write_png(_png(image_grid(found.images)), directory / GRID)
    summary = {"layer": found.layer, "filters": found.filters, "activation": found.activation, "grey_activation": found.grey_activation,
               "settings": asdict(settings), **(extra or {})}
    write_text_atomic(directory / SUMMARY, json.dumps(summary, indent=2) + "\n")
    return directory / GRID


def stored_grids(results: Path) -> list[tuple[str, str, Path, dict]]:
    """(model, layer, grid file, summary) of every filter grid written under a suite's results folder."""
    found = []
    for summary in sorted((Path(results) / FILTERS_DIR).glob(f"*/*/{SUMMARY}")):
        found.append((summary.parent.parent.name, summary.parent.name, summary.parent / GRID, json.loads(summary.read_text())))
    return found
