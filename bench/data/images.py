"""Decoding images and masks of a split into tensors at the model's input size."""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from bench.core.errors import DataError
from bench.data.layout import SampleRef
from bench.utils.progress import progress


@dataclass
class SplitData:
    """One split in memory: uint8 images (N,3,S,S), labels (N,), boolean masks (N,S,S) and which exist."""

    ids: list[str]
    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    has_mask: torch.Tensor

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: torch.Tensor | slice) -> SplitData:
        """The samples at index, in that order."""
        picked = range(len(self.ids))[index] if isinstance(index, slice) else index.tolist()
        return SplitData([self.ids[i] for i in picked], self.images[index], self.labels[index], self.masks[index], self.has_mask[index])


def _open(data: bytes, path: Path) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(path, None, f"cannot decode image: {err}") from err
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    # 16-bit and float grayscale would be clipped by PIL's own conversion: rescale to 8 bits first.
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() if array.max() > 0 else 1.0
        image = Image.fromarray((array / peak * 255).round().astype(np.uint8))
    return image.convert("RGB")


def read_image(path: Path, size: int) -> np.ndarray:
    """An image file as uint8 RGB (S,S,3); grayscale is replicated, alpha dropped."""
    image = _to_rgb(_open(_read_bytes(path), path))
    return np.asarray(image.resize((size, size), Image.BILINEAR))


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


def _load_one(ref: SampleRef, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    image = read_image(ref.image, size)
    mask = read_mask(ref.mask, size) if ref.mask is not None else None
    return image, mask


def load_split(refs: list[SampleRef], size: int, *, desc: str = "loading images") -> SplitData:
    """Decode the given samples into a SplitData at size x size."""
    if not refs:
        raise ValueError("no samples to load")
    with ThreadPoolExecutor() as pool:
        loaded = list(progress(pool.map(lambda r: _load_one(r, size), refs), desc=desc, unit="img", total=len(refs)))
    images = torch.from_numpy(np.stack([image for image, _ in loaded])).permute(0, 3, 1, 2).contiguous()
    masks = torch.from_numpy(np.stack([m if m is not None else np.zeros((size, size), bool) for _, m in loaded]))
    has_mask = torch.tensor([m is not None for _, m in loaded])
    labels = torch.tensor([r.label for r in refs], dtype=torch.long)
    return SplitData([r.id for r in refs], images, labels, masks, has_mask)


def dataset_digest(refs: list[SampleRef], root: Path) -> str:
    """SHA-256 over the sorted file list (relative paths, split, label) and every file's contents."""
    root = Path(root).resolve()
    outer = hashlib.sha256()
    for ref in sorted(refs, key=lambda r: r.id):
        outer.update(f"{ref.id}|{ref.split}|{ref.label}\n".encode())
        for path in (ref.image, ref.mask):
            if path is None:
                outer.update(b"-\n")
                continue
            rel = Path(path).resolve().relative_to(root).as_posix() if Path(path).resolve().is_relative_to(root) else str(path)
            outer.update(f"{rel}:{hashlib.sha256(_read_bytes(path)).hexdigest()}\n".encode())
    return outer.hexdigest()
