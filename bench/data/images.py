"""Decoding image files and masks of a split into tensors at the model's input size, and the split in memory."""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from bench.core.errors import DataError
from bench.data.layout import SampleRef, region_names
from bench.utils.progress import progress


@dataclass
class SplitData:
    """One split in memory: raw inputs (N,C,*S) as stored (uint8 images, float signals), labels (N,), boolean masks (N,*S) and which exist.

    regions: further named masks, each as (masks (N,*S), which exist (N,)).
    """

    ids: list[str]
    inputs: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    has_mask: torch.Tensor
    regions: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: torch.Tensor | slice) -> SplitData:
        """The samples at index, in that order."""
        picked = range(len(self.ids))[index] if isinstance(index, slice) else index.tolist()
        return SplitData([self.ids[i] for i in picked], self.inputs[index], self.labels[index], self.masks[index], self.has_mask[index],
                         {name: (masks[index], has[index]) for name, (masks, has) in self.regions.items()})

    def region(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The masks of one region and which samples have one; "" is the main mask."""
        if not name:
            return self.masks, self.has_mask
        if name not in self.regions:
            return torch.zeros_like(self.masks), torch.zeros_like(self.has_mask)
        return self.regions[name]


def _open(data: bytes, path: Path) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(path, None, f"cannot decode image: {err}") from err
    return image


def _to_mode(image: Image.Image, channels: int) -> Image.Image:
    # 16-bit and float grayscale would be clipped by PIL's own conversion: rescale to 8 bits first.
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() if array.max() > 0 else 1.0
        image = Image.fromarray((array / peak * 255).round().astype(np.uint8))
    return image.convert({1: "L", 3: "RGB"}[channels])


def read_image(path: Path, size: int, channels: int = 3) -> np.ndarray:
    """An image file as uint8 (S,S,channels): RGB (grayscale replicated, alpha dropped) or grayscale (colour averaged by luma)."""
    if channels not in (1, 3):
        raise ValueError(f"image files decode to 1 or 3 channels, not {channels}")
    image = _to_mode(_open(_read_bytes(path), path), channels)
    return np.asarray(image.resize((size, size), Image.BILINEAR)).reshape(size, size, channels)


def read_mask(path: Path, size: int) -> np.ndarray:
    """A mask file as boolean (S,S): any non-zero pixel (in any colour channel) is inside; resized nearest-neighbour."""
    image = _open(_read_bytes(path), path)
    if image.mode in ("1", "L", "I", "F") or image.mode.startswith("I;16"):
        array = np.asarray(image) != 0
    else:
        array = np.asarray(image.convert("RGB")).max(axis=-1) > 0
    return np.asarray(Image.fromarray(array.astype(np.uint8) * 255).resize((size, size), Image.NEAREST)) > 0


def _read_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise DataError(path, None, f"cannot read file: {err.strerror}") from err


def _load_one(ref: SampleRef, size: int, channels: int) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    image = read_image(ref.image, size, channels)
    mask = read_mask(ref.mask, size) if ref.mask is not None else None
    return image, mask, {name: read_mask(path, size) for name, path in ref.regions}


def _stacked(found: list[np.ndarray | None], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks (N,S,S), empty where a sample has none, and which samples have one."""
    masks = torch.from_numpy(np.stack([m if m is not None else np.zeros((size, size), bool) for m in found]))
    return masks, torch.tensor([m is not None for m in found])


def load_split(refs: list[SampleRef], size: int, *, channels: int = 3, desc: str = "loading images") -> SplitData:
    """Decode the given samples into a SplitData at size x size with 1 or 3 channels."""
    if not refs:
        raise ValueError("no samples to load")
    with ThreadPoolExecutor() as pool:
        loaded = list(progress(pool.map(lambda r: _load_one(r, size, channels), refs), desc=desc, unit="img", total=len(refs)))
    images = torch.from_numpy(np.stack([image for image, _, _ in loaded])).permute(0, 3, 1, 2).contiguous()
    masks, has_mask = _stacked([m for _, m, _ in loaded], size)
    regions = {name: _stacked([found.get(name) for _, _, found in loaded], size) for name in region_names(refs)}
    labels = torch.tensor([r.label for r in refs], dtype=torch.long)
    return SplitData([r.id for r in refs], images, labels, masks, has_mask, regions)


def dataset_digest(refs: list[SampleRef], root: Path) -> str:
    """SHA-256 over the sorted file list (relative paths, split, label) and every file's contents."""
    root = Path(root).resolve()
    outer = hashlib.sha256()
    for ref in sorted(refs, key=lambda r: r.id):
        outer.update(f"{ref.id}|{ref.split}|{ref.label}\n".encode())
        # Region masks count only where a sample has them, so that data sets without any keep their digest.
        for path in (ref.image, ref.mask, *(p for _, p in ref.regions)):
            if path is None:
                outer.update(b"-\n")
                continue
            rel = Path(path).resolve().relative_to(root).as_posix() if Path(path).resolve().is_relative_to(root) else str(path)
            outer.update(f"{rel}:{hashlib.sha256(_read_bytes(path)).hexdigest()}\n".encode())
    return outer.hexdigest()


@dataclass(frozen=True)
class ImageFiles:
    """Loads samples that are image files (and PNG masks) at one input size and channel count."""

    size: int
    channels: int = 3

    def load(self, refs: list[SampleRef], desc: str) -> SplitData:
        """The samples decoded into memory."""
        return load_split(refs, self.size, channels=self.channels, desc=desc)
