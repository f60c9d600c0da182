"""Data sets held in one .npz file: inputs `x`, labels `y`, optional `masks`, `split` and `classes`, for signals and volumes.

x is (N, C, *S) (a 2-D x is (N, L): one channel); y holds class indices 0..K-1; masks is (N, *S), non-zero inside;
split holds "train", "val" or "test" per row (without it rows are split 60/20/20 by a fixed permutation);
classes names the K classes (else data.classes, else "0".."K-1").
"""

from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.core.errors import DataError
from bench.data.images import SplitData
from bench.data.layout import SPLITS, SampleRef
from bench.utils.atomic_files import unique_suffix

FIELDS = ("x", "y", "masks", "split", "classes")


@dataclass(frozen=True)
class ArrayData:
    """The validated arrays of one file."""

    x: np.ndarray
    y: np.ndarray
    masks: np.ndarray | None
    split: np.ndarray
    classes: tuple[str, ...]


def _fail(path: Path, field: str | None, message: str) -> DataError:
    return DataError(path, field, message)


def _default_split(n: int) -> np.ndarray:
    order = np.random.default_rng(0).permutation(n)
    split = np.empty(n, dtype=object)
    split[order[: int(0.6 * n)]] = "train"
    split[order[int(0.6 * n): int(0.8 * n)]] = "val"
    split[order[int(0.8 * n):]] = "test"
    return split.astype(str)


def read_arrays(path: Path, classes: tuple[str, ...] | list[str] = ()) -> ArrayData:
    """The arrays of an .npz file, checked field by field; every problem names the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, None, "no such .npz file")
    try:
        with np.load(path, allow_pickle=False) as f:
            stored = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise _fail(path, None, f"not a readable .npz file ({type(err).__name__}: {err})") from err
    unknown = sorted(set(stored) - set(FIELDS))
    if unknown:
        raise _fail(path, unknown[0], f"unknown array; an .npz data set holds {list(FIELDS)}")
    for required in ("x", "y"):
        if required not in stored:
            raise _fail(path, required, "required array is missing")
    x, y = stored["x"], stored["y"]
    if x.ndim == 2:
        x = x[:, None]
    if x.ndim < 3 or x.ndim > 5:
        raise _fail(path, "x", f"expected (N, C, *S) with 1 to 3 spatial axes, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or x.dtype == np.uint8):
        raise _fail(path, "x", f"expected float or uint8 values, got {x.dtype}")
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(1) if np.issubdtype(x.dtype, np.floating) else np.zeros(len(x), bool)
    if bad.any():
        raise _fail(path, "x", f"row {int(np.flatnonzero(bad)[0])} holds NaN or infinite values")
    n = len(x)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise _fail(path, "y", f"expected {n} integer class indices, got shape {y.shape} of {y.dtype}")
    names = tuple(str(c) for c in stored["classes"]) if "classes" in stored else tuple(classes)
    k = len(names) if names else int(y.max()) + 1
    out = np.flatnonzero((y < 0) | (y >= k))
    if len(out):
        raise _fail(path, "y", f"row {int(out[0])} has class {int(y[out[0]])}, outside 0..{k - 1}")
    if classes and names != tuple(classes):
        raise _fail(path, "classes", f"{list(names)} differ from data.classes {list(classes)}")
    masks = stored.get("masks")
    if masks is not None:
        if masks.shape != (n, *x.shape[2:]):
            raise _fail(path, "masks", f"expected shape {(n, *x.shape[2:])} (one mask per input, no channel axis), got {masks.shape}")
        masks = masks != 0
    split = stored.get("split")
    if split is None:
        split = _default_split(n)
    else:
        split = split.astype(str)
        wrong = np.flatnonzero(~np.isin(split, SPLITS))
        if split.shape != (n,) or len(wrong):
            where = f"row {int(wrong[0])} is {str(split[wrong[0]])!r}" if len(wrong) else f"shape {split.shape}"
            raise _fail(path, "split", f"expected one of {list(SPLITS)} per row; {where}")
    return ArrayData(x, y.astype(np.int64), masks, split, names or tuple(str(i) for i in range(k)))


def array_refs(path: Path, data: ArrayData) -> list[SampleRef]:
    """One reference per row, grouped by split (train, val, test) in row order."""
    return [SampleRef(f"{s}/{int(data.y[i])}/{i:06d}", str(s), int(data.y[i]), None, None, index=i)
            for s in SPLITS for i in np.flatnonzero(data.split == s).tolist()]


def write_arrays(path: Path, data: ArrayData) -> Path:
    """Write the arrays as an .npz file atomically (readers never see a partial file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f"{path.name}.{unique_suffix()}.partial.npz")
    fields = {"x": data.x, "y": data.y, "split": data.split.astype(str), "classes": np.asarray(data.classes, dtype=str)}
    if data.masks is not None:
        fields["masks"] = data.masks
    np.savez(staging, **fields)
    staging.replace(path)
    return path


@functools.lru_cache(maxsize=2)
def _cached(path: str, mtime_ns: int) -> ArrayData:
    return read_arrays(Path(path))


@dataclass(frozen=True)
class ArrayFile:
    """Loads samples that are rows of an .npz file (read once per process)."""

    path: Path

    def load(self, refs: list[SampleRef], desc: str) -> SplitData:
        """The rows of the refs in memory."""
        if not refs:
            raise ValueError("no samples to load")
        data = _cached(str(self.path), Path(self.path).stat().st_mtime_ns)
        rows = np.asarray([r.index for r in refs])
        x = torch.from_numpy(np.ascontiguousarray(data.x[rows]))
        if data.masks is not None:
            masks, has_mask = torch.from_numpy(data.masks[rows]), torch.ones(len(rows), dtype=torch.bool)
        else:
            masks, has_mask = torch.zeros((len(rows), *x.shape[2:]), dtype=torch.bool), torch.zeros(len(rows), dtype=torch.bool)
        return SplitData([r.id for r in refs], x, torch.from_numpy(data.y[rows]), masks, has_mask)
