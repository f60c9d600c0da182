"""Checkpoints in safetensors (never pickle) and the digest that identifies one."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from bench.core.errors import InputError


def save_checkpoint(model: nn.Module, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write the model's state dict to path atomically as safetensors."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(tmp), metadata=metadata or {})
    os.replace(tmp, path)


def load_checkpoint(model: nn.Module, path: Path) -> nn.Module:
    """Load a safetensors checkpoint into model (strict), naming the file on any mismatch."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "checkpoint file not found")
    try:
        state = load_file(str(path))
    except Exception as err:  # safetensors raises its own error types for corrupt headers
        raise InputError(path, None, f"not a readable safetensors checkpoint: {err}") from err
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise InputError(path, None, f"checkpoint does not fit the model: {str(err).splitlines()[0]}") from err
    return model


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

