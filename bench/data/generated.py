"""What the harness's data generators share: the stamp that says a folder holds a given set, staging, and PNG files."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from bench.utils.atomic_files import unique_suffix


def already_generated(root: Path, stamp: str, fingerprint: str, what: str) -> bool:
    """Whether root holds the set whose stamp has this fingerprint; a non-empty root without a stamp is never overwritten."""
    path = Path(root) / stamp
    if path.exists():
        return json.loads(path.read_text()).get("fingerprint") == fingerprint
    if Path(root).exists() and any(Path(root).iterdir()):
        raise FileExistsError(f"{root}: not empty and not a {what} made by bench (no {stamp}); refusing to overwrite it")
    return False


@contextmanager
def staged(root: Path) -> Iterator[Path]:
    """A new staging folder beside root that replaces root when the block succeeds; removed if it fails."""
    root = Path(root)
    # Unique per host and process, so that no generator deletes another's staging directory.
    staging = root.with_name(f"{root.name}.{unique_suffix()}.partial")
    staging.mkdir(parents=True)
    try:
        yield staging
        if root.exists():
            shutil.rmtree(root)
        os.replace(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_png(array: np.ndarray, path: Path) -> None:
    """Write a uint8 array as a PNG file, making its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
