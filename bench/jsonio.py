"""Strict JSON (NaN and infinities become null) written atomically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def strict(value: Any) -> Any:
    """A copy of value with every non-finite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def write_json(path: Path, value: Any) -> None:
    """Write value as strict JSON to path via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(strict(value), indent=1, allow_nan=False, sort_keys=False))
    os.replace(tmp, path)
